"""`census county …`: the county office — init, enrol, import, status, feedback, verify.

Thin shells over :mod:`sync.county` and :mod:`sync.county_import`.
"""

from __future__ import annotations


import click

from .common import (EXIT_PARTIAL, CommandFailed, callback_progress, echo_err, emit_json, need,
                     handle_errors, progress, report_verification)

GPKG_OPTION = click.option("--gpkg", "gpkg", required=True, type=click.Path(dir_okay=False),
                           help="县级地理数据库：GeoPackage 文件，或 PostGIS 连接地址 / the county geodatabase: a "
                                "GeoPackage file (COUNTY.gpkg) or a PostGIS URL (postgresql://user@host/db).")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="输出 JSON / machine-readable output.")


_need = need


@click.group()
def county() -> None:
    """县级普查地理数据库 / The county office's census geodatabase.

    \b
    Example:
      census county init --gpkg county.gpkg --county 211481 --sample sample
      census county enrol --gpkg county.gpkg --township 211481100 --enumerator 张三 --out zhang.json
      census county import --gpkg county.gpkg usb/*.censuspkg
      census county status --gpkg county.gpkg
    """


@county.command("init")
@GPKG_OPTION
@click.option("--county", "county_code", required=True, help="6 位县级代码 / 6-digit county code, e.g. 211481.")
@click.option("--sample", type=click.Path(file_okay=False), default=None,
              help="样例县目录（含 sample.gpkg：区划与调查底图）/ sample folder with sample.gpkg.")
@click.option("--boundaries", type=click.Path(dir_okay=False), default=None,
              help="区划边界 GeoJSON（code、name 字段）/ division boundaries GeoJSON with code and name.")
@click.option("--deadline", default=None, help="报送截止时间 / return deadline, e.g. 2021-06-30.")
@click.option("--name", "county_name", default=None, help="县名（覆盖数据中的名称）/ county name override.")
@JSON_OPTION
@handle_errors
def init_cmd(gpkg: str, county_code: str, sample: str | None, boundaries: str | None, deadline: str | None,
             county_name: str | None, as_json: bool) -> None:
    """创建县级地理数据库与县级密钥 / Create the county GeoPackage and the county's keys.

    The private keys are written beside the GeoPackage as COUNTY.gpkg.keys.json (owner-only);
    keep that file on the county PC and back it up offline.

    \b
    Example:
      census county init --gpkg county.gpkg --county 211481 --sample sample --deadline 2021-06-30
      census county init --gpkg county.gpkg --county 211481 --boundaries divisions.geojson
    """
    from sync.county import init_county

    if sample is not None:
        _need(sample)
    if boundaries is not None:
        _need(boundaries)
    if (sample is None) == (boundaries is None):
        raise CommandFailed("请给出 --sample 或 --boundaries 之一", "give exactly one of --sample or --boundaries", 2)
    r = init_county(gpkg, county=county_code, sample=sample, boundaries=boundaries, deadline=deadline,
                    county_name=county_name)
    from geodb.target import display_name, is_server

    shown = display_name(gpkg) if is_server(gpkg) else str(r.gpkg)   # a server database by its URL
    info = {"gpkg": shown, "keys": str(r.keys_path), "county": r.county, "county_name": r.county_name,
            "townships": r.townships, "villages": r.villages, "workmap_buildings": r.workmap_buildings,
            "forms": r.forms}
    if as_json:
        emit_json(info)
        return
    click.echo(f"已创建 {shown}：{r.county} {r.county_name}，乡镇 {r.townships} 个，村 {r.villages} 个，"
               f"底图房屋 {r.workmap_buildings} 栋，表单 {r.forms} 张 / created {shown}")
    click.echo(f"县级私钥 / county private keys: {r.keys_path}")


@county.command("enrol")
@GPKG_OPTION
@click.option("--township", required=True, help="9 位乡镇代码 / 9-digit township code.")
@click.option("--enumerator", required=True, help="普查员姓名 / the enumerator's name.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="登记文件 / enrolment file to write.")
@JSON_OPTION
@handle_errors
def enrol_cmd(gpkg: str, township: str, enumerator: str, out: str, as_json: bool) -> None:
    """登记一台乡镇设备 / Enrol one township device: a new device key bound to a township and enumerator.

    The file holds the device's private key: hand it over on a USB stick, not by e-mail.

    \b
    Example:
      census county enrol --gpkg county.gpkg --township 211481100 --enumerator 张三 --out zhang.json
    """
    from sync.county import enrol_device

    _need(gpkg)
    enr, path = enrol_device(gpkg, township=township, enumerator=enumerator, out=out)
    if as_json:
        emit_json({"device_id": enr.device_id, "township": enr.township, "enumerator": enr.enumerator,
                   "file": str(path)})
        return
    click.echo(f"已登记设备 {enr.device_id}（{enr.township} {enr.township_name}，{enr.enumerator}）→ {path} / "
               f"device enrolled")


@county.command("import")
@GPKG_OPTION
@click.argument("packages", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--workers", type=int, default=None,
              help="并行校验进程数（默认按 CPU）/ processes that check packages in parallel (default: CPUs).")
@JSON_OPTION
@handle_errors
def import_cmd(gpkg: str, packages: tuple[str, ...], workers: int | None, as_json: bool) -> None:
    """导入回传包 / Import return packages; each applies atomically or not at all.

    One line per package. Exit 0 when all were accepted (a duplicate counts as accepted), 3 when some
    were rejected: those are copied to quarantine/ beside the GeoPackage with a .reason.txt.

    \b
    Example:
      census county import --gpkg county.gpkg usb/*.censuspkg
    """
    from sync.county_import import import_packages
    from sync.keys import keys_path_for

    _need(gpkg)
    from geodb.target import anchor_path

    if not keys_path_for(anchor_path(gpkg)).is_file():
        echo_err(f"警告/warning: 找不到县级私钥 {keys_path_for(anchor_path(gpkg))}，含加密表单的包将被拒收 / "
                 "the county private key file is missing; packages with encrypted forms will be rejected")
    with progress("导入回传包 / importing", total=len(packages)) as advance:
        results = import_packages(gpkg, list(packages), workers=workers, progress=callback_progress(advance),
                                  on_result=None if as_json else (lambda r: click.echo(r.line())))
    rejected = [r for r in results if r.outcome == "rejected"]
    if as_json:
        emit_json({"packages": [r.as_dict() for r in results], "accepted": sum(r.outcome == "accepted" for r in results),
                   "duplicates": sum(r.outcome == "duplicate" for r in results), "rejected": len(rejected)})
    else:
        echo_err(f"共 {len(results)} 个包：接收 {sum(r.outcome == 'accepted' for r in results)}，"
                 f"重复 {sum(r.outcome == 'duplicate' for r in results)}，拒收 {len(rejected)} / "
                 f"{len(results)} packages: {sum(r.outcome == 'accepted' for r in results)} accepted, "
                 f"{sum(r.outcome == 'duplicate' for r in results)} duplicates, {len(rejected)} rejected")
    if rejected:
        raise SystemExit(EXIT_PARTIAL)


@county.command("status")
@GPKG_OPTION
@click.option("--deadline", default=None, help="按此截止时间判断是否逾期 / judge lateness against this deadline.")
@click.option("--set-deadline", "set_deadline_", default=None, help="保存新的截止时间 / store a new deadline.")
@JSON_OPTION
@handle_errors
def status_cmd(gpkg: str, deadline: str | None, set_deadline_: str | None, as_json: bool) -> None:
    """各乡镇报送进度 / Per township: expected, received, valid, with issues, conflicts, last package, late.

    \b
    Example:
      census county status --gpkg county.gpkg
      census county status --gpkg county.gpkg --set-deadline 2021-06-30 --json
    """
    from sync.county import county_status, set_deadline

    _need(gpkg)
    if set_deadline_:
        set_deadline(gpkg, set_deadline_)
    rep = county_status(gpkg, deadline=deadline)
    if as_json:
        emit_json(rep.as_dict())
        return
    click.echo(f"{rep.county} {rep.county_name}  截止/deadline: {rep.deadline or '未设置/none'}  "
               f"包/packages: {rep.ledger}")
    click.echo(f"{'乡镇/township':<24}{'应报':>8}{'已收':>8}{'完成':>8}{'有效':>8}{'有问题':>8}{'冲突':>6}  "
               f"{'最后收包/last package':<27}逾期/late")
    for r in rep.townships:
        late = "逾期/LATE" if r["late"] else "-"
        pct = f"{r['percent']}%" if r["percent"] is not None else "-"
        click.echo(f"{r['township']} {r['name'][:8]:<14}{r['expected']:>8}{r['received']:>8}{pct:>8}{r['valid']:>8}"
                   f"{r['has_issues']:>8}{r['conflicts']:>6}  {(r['last_package'] or '-'):<27}{late}")


@county.command("feedback")
@GPKG_OPTION
@click.option("--township", required=True, help="9 位乡镇代码 / 9-digit township code.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="输出目录 / output folder.")
@JSON_OPTION
@handle_errors
def feedback_cmd(gpkg: str, township: str, out_dir: str, as_json: bool) -> None:
    """生成给乡镇的反馈文件（县级签名）/ Write the signed feedback file for one township.

    It lists records with issues or conflicts and their messages, and which packages the county
    holds; the township applies it with `census township feedback`.

    \b
    Example:
      census county feedback --gpkg county.gpkg --township 211481100 --out usb/
    """
    from sync.county import issue_feedback

    _need(gpkg)
    path, fb = issue_feedback(gpkg, township=township, out_dir=out_dir)
    counts: dict[str, int] = {}
    for i in fb.items:
        counts[i.state] = counts.get(i.state, 0) + 1
    if as_json:
        emit_json({"file": str(path), "township": township, "items": len(fb.items), "by_state": counts,
                   "acknowledged_through": fb.acknowledged_through})
        return
    click.echo(str(path))
    names = {"has_issues": ("有问题", "with issues"), "rejected": ("退回", "rejected"), "conflict": ("冲突", "conflicts")}
    zh = "，".join(f"{names.get(k, (k, k))[0]} {v}" for k, v in sorted(counts.items()))
    en = ", ".join(f"{v} {names.get(k, (k, k))[1]}" for k, v in sorted(counts.items()))
    echo_err(f"反馈 {len(fb.items)} 条（{zh or '无'}）/ {len(fb.items)} items ({en or 'none'})")


@county.command("verify")
@GPKG_OPTION
@JSON_OPTION
@handle_errors
def verify_cmd(gpkg: str, as_json: bool) -> None:
    """核验审计链与回传包台账 / Recompute the audit chain and check the ledger against the revisions.

    Exit 0 when everything is intact, 1 with each finding named.

    \b
    Example:
      census county verify --gpkg county.gpkg
    """
    from sync.county import verify_county

    _need(gpkg)
    report_verification(verify_county(gpkg), as_json, packages_zh="回传包")


@county.command("review")
@GPKG_OPTION
@click.argument("record_uuid")
@click.option("--approve", "state", flag_value="approved", help="审核通过 / approve.")
@click.option("--reject", "state", flag_value="rejected", help="退回乡镇 / send back to the township.")
@click.option("--reset", "state", flag_value="received", help="恢复为待审 / back to received.")
@click.option("--note", default=None, help="审核意见 / reviewer's note (shown to the township when rejected).")
@JSON_OPTION
@handle_errors
def review_cmd(gpkg: str, record_uuid: str, state: str | None, note: str | None, as_json: bool) -> None:
    """审核一条记录 / Approve or reject one record (recorded in the audit log).

    \b
    Example:
      census county review --gpkg county.gpkg 1b4e28ba-2fa1-41d2-883f-0016d3cca427 --approve
      census county review --gpkg county.gpkg 1b4e28ba-2fa1-41d2-883f-0016d3cca427 --reject --note "面积有误"
    """
    from sync.county import review_record

    _need(gpkg)
    if state is None:
        raise CommandFailed("请给出 --approve、--reject 或 --reset", "give --approve, --reject or --reset", 2)
    rec = review_record(gpkg, record_uuid, state=state, note=note)
    if as_json:
        emit_json(rec)
    else:
        click.echo(f"{record_uuid}: {rec['review_state']}")


@county.command("resolve")
@GPKG_OPTION
@click.argument("record_uuid")
@click.option("--keep", required=True, help="保留为当前版本的修订编号 / the revision id to keep as current.")
@click.option("--note", default=None, help="说明 / note for the audit log.")
@JSON_OPTION
@handle_errors
def resolve_cmd(gpkg: str, record_uuid: str, keep: str, note: str | None, as_json: bool) -> None:
    """解决冲突：选定一个版本 / Settle a conflict: one version becomes current, the others are kept aside.

    \b
    Example:
      census county resolve --gpkg county.gpkg 1b4e28ba-2fa1-41d2-883f-0016d3cca427 --keep 6f1c…
    """
    from sync.county import resolve_conflict

    _need(gpkg)
    rec = resolve_conflict(gpkg, record_uuid, keep=keep, note=note)
    if as_json:
        emit_json(rec)
    else:
        click.echo(f"{record_uuid}: current {rec['current_revision_id']} ({rec['review_state']})")


# upward reporting (county → city) lives with the city commands; the county runs these two
from census_cli.cmd_city import approve, export_approved  # noqa: E402

county.add_command(approve)
county.add_command(export_approved)
