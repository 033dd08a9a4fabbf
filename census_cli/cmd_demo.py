"""`census demo`: the whole census on the embedded sample county, step by step.

Each step is a plain function over the library; the demo says plainly what it made and what is not
built yet, so a newcomer sees the real state of the toolkit.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .common import EXIT_OK, callback_progress, handle_errors, progress

# Steps of the full census that later capabilities add; the demo lists them as not yet available.
NOT_YET = [
]


def _resolve_conflicts_keep_latest(gpkg: Path) -> int:
    """The demo reviewer's rule: keep the most recently made version of each conflicting record."""
    from geodb.target import open_county
    from sync.county import resolve_conflict

    with open_county(gpkg) as db:
        decisions = []
        for c in db.conflicts(status="open"):
            tips = json.loads(c["revision_ids"])
            latest = max(tips, key=lambda rid: (db.revision(rid)["created_at"], rid))
            decisions.append((c["record_uuid"], latest))
    for record_uuid, keep in decisions:
        resolve_conflict(gpkg, record_uuid, keep=keep, note="演示：保留最近一次修改 / demo: keep the latest edit",
                         actor="演示审核员 demo reviewer")
    return len(decisions)


@click.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="输出目录 / output folder.")
@click.option("--buildings", default=30000, show_default=True, type=click.IntRange(min=100),
              help="样例县房屋图斑数量 / building footprints in the sample county.")
@click.option("--seed", default=2020, show_default=True, type=int, help="随机种子 / random seed.")
@click.option("--db", "db_url", default=None, metavar="postgresql://…",
              help="县级库放在 PostGIS 服务器上（空数据库的连接地址）；默认为 GeoPackage 文件 / keep the county "
                   "geodatabase on a PostGIS server (URL of an empty database); default: a GeoPackage file.")
@handle_errors
def demo(out_dir: str, buildings: int, seed: int, db_url: str | None) -> None:
    """在内置样例县（兴城市）上运行整个普查流程 / Run the census end to end on the sample county.

    \b
    Example:
      census demo --out demo_out
      census demo --out demo_small --buildings 2000
      census demo --out demo_pg --db postgresql://census@localhost/xingcheng
    """
    from schemas.catalogue import all_forms
    from schemas.xlsform import export_xlsform

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, str]] = []
    t0 = time.perf_counter()

    # 1. the form catalogue, as XLSForms an ODK/Kobo server can take
    forms = all_forms()
    xdir = out / "xlsforms"
    xdir.mkdir(exist_ok=True)
    with progress("导出表单 / exporting forms", total=len(forms)) as advance:
        for form in forms.values():
            export_xlsform(form, xdir / f"{form.id}.xlsx")
            advance()
    blocks = sorted({f.block.title_zh for f in forms.values()})
    made.append((str(xdir), f"{len(forms)} 张普查表单的 XLSForm（覆盖 {len(blocks)} 个普查内容分块）/ "
                            f"XLSForms of {len(forms)} census forms"))

    # 2. the sample county: real boundaries, generated townships, terrain, buildings, hazard layers
    from sample_data.build import build_sample

    with progress("生成样例县 / building the sample county", total=None) as advance:
        cb = callback_progress(advance)
        result = build_sample(out / "sample", county="211481", buildings=buildings, seed=seed, quicklook=True,
                              progress=lambda step, done, total: cb(done, total))
    made.append((str(out / "sample"), f"样例县：{result.summary_zh()} / sample county: {result.summary_en()}"))

    # 3. the county office: geodatabase and keys; the townships' fieldwork and signed return packages
    from sample_data.fieldwork import simulate_fieldwork
    from sync.county import county_status, init_county, issue_feedback
    from sync.county_import import import_packages

    (out / "county").mkdir(exist_ok=True)
    if db_url:   # on a server: an empty database is asked for; one holding a county is never wiped
        from geodb.target import display_name, is_server
        if not is_server(db_url):
            raise click.BadParameter("应为 postgresql:// 连接地址 / expected a postgresql:// URL", param_hint="--db")
        gpkg, shown = db_url, display_name(db_url)
    else:
        gpkg = out / "county" / "211481.gpkg"
        shown = str(gpkg)
        if gpkg.exists():  # a rerun into the same folder starts the county afresh
            for old in gpkg.parent.iterdir():
                if old.is_file():
                    old.unlink()
    init_county(gpkg, county="211481", sample=out / "sample")
    with progress("模拟外业调查 / simulating fieldwork", total=None) as advance:
        cb = callback_progress(advance)
        fw = simulate_fieldwork(out / "sample", out / "fieldwork", seed=seed, county_gpkg=gpkg,
                                progress=lambda step, done, total: cb(done, total))
    made.append((str(out / "fieldwork" / "packages"),
                 f"{len(fw.packages)} 个签名回传包，{sum(fw.records.values())} 条记录（含 {fw.conflicts} 处两台设备的编辑冲突）/ "
                 f"{len(fw.packages)} signed return packages, {sum(fw.records.values())} records, {fw.conflicts} conflicts"))

    # 4. county import: verify, validate, merge; then status and one feedback file per township
    with progress("导入回传包 / importing packages", total=len(fw.packages)) as advance:
        results = import_packages(gpkg, fw.packages, progress=callback_progress(advance))
    accepted = sum(r.outcome in ("accepted", "duplicate") for r in results)
    status = county_status(gpkg)
    invalid = sum(r.invalid for r in results)
    conflicts = sum(r.conflicts for r in results)
    made.append((shown, f"县级普查数据库：接收 {accepted}/{len(results)} 个回传包，{invalid} 条记录有问题，"
                            f"{conflicts} 处冲突已保留待审核 / county geodatabase: {accepted}/{len(results)} packages "
                            f"accepted, {invalid} records with issues, {conflicts} conflicts kept for review"))
    fb_dir = out / "county" / "feedback"
    for row in status.townships:
        issue_feedback(gpkg, township=row["township"], out_dir=fb_dir)
    made.append((str(fb_dir), f"{len(status.townships)} 个乡镇的反馈文件 / feedback files for "
                              f"{len(status.townships)} townships"))
    (out / "county" / "status.json").write_text(json.dumps(status.as_dict(), ensure_ascii=False, indent=2),
                                                 encoding="utf-8")

    # 5. one feedback round: townships apply the feedback, fix what it flags, re-export; the county
    #    imports the fixes, and its reviewer settles each conflict (both versions stay in the ledger)
    from sample_data.feedback_round import simulate_feedback_round

    with progress("乡镇按反馈修改 / townships fixing flagged records", total=None) as advance:
        cb = callback_progress(advance)
        rnd = simulate_feedback_round(out / "fieldwork", fb_dir, out / "fieldwork" / "packages",
                                      progress=lambda step, done, total: cb(done, total))
    with progress("导入修改后的回传包 / importing the fixes", total=len(rnd.packages)) as advance:
        results2 = import_packages(gpkg, rnd.packages, progress=callback_progress(advance))
    resolved = _resolve_conflicts_keep_latest(gpkg)
    status2 = county_status(gpkg)
    left = sum(int(r.get("has_issues") or 0) for r in status2.townships)
    accepted2 = sum(r.outcome in ("accepted", "duplicate") for r in results2)
    made.append((str(out / "fieldwork" / "packages"),
                 f"反馈整改：乡镇修改 {rnd.fixed}/{rnd.flagged} 条有问题记录并再次回传 {len(rnd.packages)} 个包"
                 f"（县级接收 {accepted2}），审核员裁决冲突 {resolved} 处，剩余有问题记录 {left} 条 / "
                 f"feedback round: townships fixed {rnd.fixed}/{rnd.flagged} flagged records and sent "
                 f"{len(rnd.packages)} more packages ({accepted2} accepted); the reviewer settled {resolved} "
                 f"conflicts; {left} records still with issues"))
    (out / "county" / "status.json").write_text(json.dumps(status2.as_dict(), ensure_ascii=False, indent=2),
                                                 encoding="utf-8")

    # 6. the emergency-management bureau: risk per building, 1 km cell and township; five-level zoning
    from risk.assess import assess_county

    with progress("风险评估与区划 / assessing risk and zoning", total=None) as advance:
        assessed = assess_county(gpkg, out / "sample" / "hazards", progress=callback_progress(advance))
    made.append((shown, f"风险评估：{assessed.summary_zh} / risk: {assessed.summary_en}"))

    # 7. key hidden dangers (threat zones, ranked remediation list) and historical disasters
    from risk.hidden_dangers import run_dangers
    from risk.history import run_history

    with progress("重点隐患评估 / assessing danger sites", total=None) as advance:
        dangers = run_dangers(gpkg, out / "sample" / "hazards", out / "county" / "remediation_list.xlsx",
                              progress=callback_progress(advance))
    ds = dangers.summary(top=1)
    top = ds["top"][0] if ds["top"] else None
    made.append((str(out / "county" / "remediation_list.xlsx"),
                 f"重点隐患整治清单：{ds['sites']} 处，威胁约 {ds['threatened_people_distinct']:,.0f} 人"
                 + (f"；第 1 位：{top['township']} {top['name']}（{top['reason_zh']}）" if top else "")
                 + f" / remediation list: {ds['sites']} danger sites, about "
                   f"{ds['threatened_people_distinct']:,.0f} people threatened"))
    hist = run_history(gpkg, out / "county" / "history")
    hs = hist.summary()
    made.append((str(out / "county" / "history"),
                 f"历史灾害评估：{len(hs['hazard_types'])} 个灾种的趋势与损失占比权重，模型与记录相差一个数量级的乡镇 "
                 f"{len(hs.get('townships_flagged') or [])} 个 / history: trends and loss-share weights of "
                 f"{len(hs['hazard_types'])} hazard types; {len(hs.get('townships_flagged') or [])} townships where "
                 f"model and records differ tenfold"))

    # 8. maps and the county report, from the geodatabase alone
    from mapping.fonts import use_cjk_font
    from mapping.layout import save_figure
    from mapping.report import make_report
    from mapping.source import MapSource
    from mapping.zoning import zoning_map

    import matplotlib.pyplot as plt

    use_cjk_font()
    maps_dir = out / "maps"
    src = MapSource(gpkg, hazards_dir=out / "sample" / "hazards")
    kinds = ["comprehensive", "prevention", *assessed.hazards]
    with progress("绘制区划图 / drawing zoning maps", total=len(kinds)) as advance:
        for kind in kinds:
            fig = zoning_map(src, kind)
            save_figure(fig, maps_dir / f"zoning_{kind}.png", dpi=300)
            if kind in ("comprehensive", "prevention"):
                save_figure(fig, maps_dir / f"zoning_{kind}.pdf")
            plt.close(fig)
            advance()
    from mapping.dangers import danger_map
    from mapping.history_maps import history_map

    for name, draw in (("dangers", danger_map), ("history", history_map)):
        fig = draw(src)
        save_figure(fig, maps_dir / f"{name}.png", dpi=300)
        plt.close(fig)
    made.append((str(maps_dir), f"{len(kinds)} 幅区划图（300 dpi PNG，综合风险与综合防治区划另有矢量 PDF），"
                                f"重点隐患图与历史灾害图 / {len(kinds)} zoning maps (300 dpi PNG; comprehensive and "
                                f"prevention also as vector PDF), the hidden-danger and historical-events maps"))
    with progress("生成县级报告 / writing the county report", total=None) as advance:
        rep = make_report(src, out / "report.pdf", progress=callback_progress(advance))
    made.append((str(rep.path), f"县级风险普查报告：{rep.pages} 页，{rep.maps} 幅图，{rep.tables} 张表 / county report: "
                                f"{rep.pages} pages, {rep.maps} maps, {rep.tables} tables"))

    summary = {"out": str(out), "seconds": round(time.perf_counter() - t0, 1),
               "made": [{"path": p, "what": w} for p, w in made],
               "not_yet": [f"{zh} / {en}" for zh, en in NOT_YET]}
    (out / "demo_summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    click.echo(f"演示完成，用时 {summary['seconds']} 秒 / demo finished in {summary['seconds']} s")
    for p, w in made:
        click.echo(f"  ✔ {p}: {w}")
    if NOT_YET:
        click.echo("尚未实现（后续版本）/ not built yet:")
        for zh, en in NOT_YET:
            click.echo(f"  … {zh} / {en}")
    raise SystemExit(EXIT_OK)
