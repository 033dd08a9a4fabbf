"""`census risk dangers` and `census risk history`: key hidden dangers and historical disasters assessed.

The `risk` group (census_cli/cmd_risk.py) adds the command objects :data:`dangers` and :data:`history`.
"""

from __future__ import annotations

from pathlib import Path

import click

from .common import EXIT_USAGE, CommandFailed, callback_progress, emit_json, handle_errors, progress


def _need_file(opt: str, path: str | None) -> None:
    if path is not None and not Path(path).is_file():
        raise CommandFailed(f"{opt} 文件不存在：{path}；请检查路径", f"{opt} file not found: {path}; check the path",
                            EXIT_USAGE)


@click.command("dangers")
@click.option("--gpkg", "gpkg", required=True, type=click.Path(dir_okay=False), metavar="COUNTY.gpkg",
              help="县级数据库 / county GeoPackage.")
@click.option("--hazards", "hazards_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="致灾因子图层目录（geo_susceptibility.tif、flood_depth_rp100.tif …）/ hazard layers folder.")
@click.option("--dem", "dem", type=click.Path(dir_okay=False), default=None, metavar="DEM.tif",
              help="数字高程模型，默认 HAZARDS/../terrain/dem.tif / DEM for landslide run-out "
                   "(default HAZARDS/../terrain/dem.tif).")
@click.option("--out", "out_xlsx", required=True, type=click.Path(dir_okay=False), metavar="LIST.xlsx",
              help="整治清单电子表格 / remediation list spreadsheet (one sheet for the county, one per township).")
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True,
              help="屏幕上列出的前几名 / how many top-ranked sites to print.")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON 摘要 / print a JSON summary only.")
@handle_errors
def dangers(gpkg: str, hazards_dir: str, dem: str | None, out_xlsx: str, top: int, as_json: bool) -> None:
    """重点隐患评估与整治清单 / Assess key hidden dangers and rank them for remediation.

    为每处隐患（地质灾害隐患点、重点隐患、堤防险工险段、危险化学品企业和排查对象）划定威胁范围：
    滑坡、崩塌、泥石流沿数字高程模型向坡下按到达角推算；危化品按重大危险源等级缓冲；堤防险段取后方
    连通淹没区；统计范围内人口、房屋、学校、医院，取所在位置风险等级（未做风险评估时为致灾危险性
    等级并注明），按得分排序写入 danger_threat_zones、danger_remediation 图层和电子表格。

    Threat zones by type and size (DEM run-out for landslides, buffers for chemical sites, the flooded
    strip behind weak dyke sections), the people, buildings, schools and hospitals inside, the risk
    level where each lies (hazard level, labelled so, before `census risk assess`), a score and a reason
    per rank. Writes layers danger_threat_zones and danger_remediation into the GeoPackage and the XLSX.
    Exit 0 done; 1 unreadable input; 2 missing file.

    \b
    Example:
      census risk dangers --gpkg county/211481.gpkg --hazards sample/hazards --out 整治清单.xlsx
      census risk dangers --gpkg county/211481.gpkg --hazards sample/hazards \\
          --dem sample/terrain/dem.tif --out dangers.xlsx --json
    """
    from risk.hidden_dangers import default_dem, run_dangers

    _need_file("--gpkg", gpkg)
    if not Path(hazards_dir).is_dir():
        raise CommandFailed(f"--hazards 目录不存在：{hazards_dir}", f"--hazards folder not found: {hazards_dir}",
                            EXIT_USAGE)
    _need_file("--dem", dem)
    with progress("划定威胁范围 / threat zones", total=None) as advance:
        a = run_dangers(gpkg, hazards_dir, out_xlsx, dem=dem, progress=callback_progress(advance))
    summary = a.summary(top=top)
    summary["spreadsheet"] = str(out_xlsx)
    summary["dem"] = str(dem or default_dem(hazards_dir))
    if as_json:
        emit_json(summary)
        return
    word = "风险等级" if a.level_kind == "risk" else "致灾危险性等级（尚未运行 census risk assess）"
    click.echo(f"重点隐患 {summary['sites']} 处 / {summary['sites']} danger sites; 威胁人数（去重）"
               f" {summary['threatened_people_distinct']:,.0f}; 所在位置等级 = {word}")
    pri = ", ".join(f"{k}级 {v}" for k, v in summary["by_priority"].items())
    click.echo(f"  优先级 / priority: {pri}")
    for r in summary["top"]:
        click.echo(f"  {r['rank']:>3}. [{r['score']:.0f}] {r['township']} {r['name']}：{r['reason_zh']}")
    click.echo(f"  整治清单 / list: {out_xlsx}; 图层 / layers: danger_threat_zones, danger_remediation")
    for n in a.notes:
        click.echo(f"  注 / note: {n}", err=True)


@click.command("history")
@click.option("--gpkg", "gpkg", required=True, type=click.Path(dir_okay=False), metavar="COUNTY.gpkg",
              help="县级数据库 / county GeoPackage.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="CSV 输出目录，默认 <gpkg 所在目录>/history / folder for the CSVs (default <gpkg dir>/history).")
@click.option("--events", "n_events", type=click.IntRange(min=1), default=10, show_default=True,
              help="列出的最大事件数 / how many of the largest events to keep.")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON 摘要 / print a JSON summary only.")
@handle_errors
def history(gpkg: str, out_dir: str | None, n_events: int, as_json: bool) -> None:
    """历史灾害评估 / Assess historical disasters (1978–2020 statistics, 1949–2020 events).

    各灾种逐年损失、受灾人口、死亡失踪的趋势（Mann–Kendall 检验与 Theil–Sen 斜率），各灾种损失占比
    （可作综合风险权重），最大历史事件，以及各乡镇模型期望年损失与历史年均损失的对比（相差一个数量级
    及以上者标记）。写入 history_trends、history_weights、history_comparison、history_events 和 CSV。

    Trends per hazard type (Mann–Kendall, Theil–Sen), loss shares offered as weights, the largest events,
    and modelled expected annual loss per township (after `census risk assess`) against recorded annual
    means, flagging an order-of-magnitude disagreement. Exit 0 done; 1 unreadable input; 2 missing file.

    \b
    Example:
      census risk history --gpkg county/211481.gpkg
      census risk history --gpkg county/211481.gpkg --out history_out --json
    """
    from risk.history import run_history

    _need_file("--gpkg", gpkg)
    from geodb.target import side_dir

    out = Path(out_dir) if out_dir else side_dir(gpkg).resolve() / "history"
    r = run_history(gpkg, out, n_events=n_events)
    s = r.summary()
    if as_json:
        emit_json(s)
        return
    click.echo(f"历史灾害评估完成 / history assessed: {len(s['hazard_types'])} 个灾种 hazard types")
    for row in r.trends[(r.trends["metric"] == "direct_loss_2020")].itertuples():
        click.echo(f"  {row.text_zh}")
    w = ", ".join(f"{k} {v:.2f}" for k, v in s["weights"].items() if v > 0)
    click.echo(f"  损失占比权重 / loss-share weights: {w}")
    for e in s["largest_events"][:5]:
        click.echo(f"  最大事件 {e['rank']}: {e['event_name']}（{e['direct_loss_2020_wan']:,.0f} 万元，2020年价）")
    if not s["model_available"]:
        click.echo("  未找到 risk_townships（请先运行 census risk assess），未做模型对比 / no model results to compare")
    else:
        for a in s["agreement"]:
            click.echo(f"  {a['text_zh']}")
        flagged = s["townships_flagged"]
        click.echo(f"  模型与记录（合计）相差≥1个数量级的乡镇 / townships flagged: {len(flagged)}")
        for f in flagged:
            click.echo(f"    {f['township_name']}（{f['township_code']}）：{f['verdict_zh']}")
    click.echo(f"  CSV: {out}")
