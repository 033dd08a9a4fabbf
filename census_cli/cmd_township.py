"""`census township …`: the township laptop's store — init, add, export, feedback, list, status, verify.

Thin shells over :class:`geodb.township.TownshipStore`; the package builder comes from ``sync``.
"""

from __future__ import annotations

from pathlib import Path

import click

from .common import EXIT_INVALID, CommandFailed, callback_progress, emit_json, handle_errors, progress

DB_OPTION = click.option("--db", "db", required=True, type=click.Path(dir_okay=False),
                         help="乡镇数据库文件 / the township store (TOWN.db).")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="输出 JSON / machine-readable output.")


def _open(db: str):
    from geodb.township import TownshipStore

    return TownshipStore.open(db)


@click.group()
def township() -> None:
    """乡镇普查数据库 / The township laptop's census store.

    \b
    Example:
      census township init --db town.db --enrolment enrol.json --workmap sample
      census township add --db town.db rural_house houses.csv
      census township export --db town.db --out usb/
      census township feedback --db town.db feedback.json
    """


@township.command("init")
@DB_OPTION
@click.option("--enrolment", required=True, type=click.Path(dir_okay=False),
              help="县普查办签发的设备注册文件 / the enrolment file from the county office.")
@click.option("--workmap", "workmap", type=click.Path(), default=None,
              help="调查底图目录（含 sample.gpkg）/ work-map folder holding sample.gpkg.")
@JSON_OPTION
@handle_errors
def init_cmd(db: str, enrolment: str, workmap: str | None, as_json: bool) -> None:
    """创建乡镇数据库 / Create the township store for an enrolment.

    The device key is written beside the database as DB.key (owner-only). Run again with the same
    enrolment on an existing database to put back a lost key file.

    \b
    Example:
      census township init --db town.db --enrolment 211481100_zhang.json --workmap sample
    """
    from geodb.township import TownshipStore

    if not Path(enrolment).is_file():
        raise FileNotFoundError(2, "not found", enrolment)
    if workmap is not None and not Path(workmap).exists():
        raise FileNotFoundError(2, "not found", workmap)
    if Path(db).exists():
        key = TownshipStore.restore_key(db, enrolment)
        click.echo(f"数据库已存在，设备密钥文件已就位：{key} / store exists; device key file in place: {key}", err=True)
        return
    store = TownshipStore.init(db, enrolment, workmap_dir=workmap)
    with store:
        s = store.summary()
    if as_json:
        emit_json(s)
        return
    click.echo(f"{db}: {s['county']} {s['township']} {s.get('township_name') or ''} · {s['enumerator']} · "
               f"设备/device {s['device_id'][:8]} · 底图图斑/work-map footprints {s['workmap']['assigned']}")


@township.command("add")
@DB_OPTION
@click.argument("form_id")
@click.argument("file", type=click.Path(dir_okay=False))
@JSON_OPTION
@handle_errors
def add_cmd(db: str, form_id: str, file: str, as_json: bool) -> None:
    """导入记录文件 / Add records from a .json, .csv or .xlsx file.

    Valid rows are saved as final. Invalid rows are reported by row and field and kept as drafts with
    their problems (fix them in the app or in the file and add it again); drafts are never exported.
    A row whose key (e.g. building_id) matches a record becomes a new revision of it; adding the
    same file twice changes nothing. Exit 0 when every row is valid, 1 when some are not.

    \b
    Example:
      census township add --db town.db rural_house houses.xlsx
      census township add --db town.db geohazard_site sites.json --json
    """
    from schemas.errors import Code

    with _open(db) as store:
        with progress(f"导入 {Path(file).name}") as advance:
            report = store.add_file(form_id, file, progress=callback_progress(advance))
    if as_json:
        emit_json(report.as_dict())
    else:
        for col in report.unknown_columns:
            click.echo(f"警告/warning: {file}: 表单 {form_id} 没有字段“{col}”，该列已忽略 / "
                       f"form {form_id} has no field '{col}'; column ignored [{Code.UNKNOWN_FIELD.value}]", err=True)
        for p in report.problems:
            click.echo(p.line(file))
        click.echo(f"{file}: 共 {report.rows} 行，有效 {report.valid} 行，无效 {report.invalid} 行（已存为草稿）；"
                   f"新建 {report.created}，更新 {report.updated}，未变 {report.unchanged} / "
                   f"{report.rows} rows, {report.valid} valid, {report.invalid} invalid (kept as drafts); "
                   f"{report.created} new, {report.updated} updated, {report.unchanged} unchanged", err=True)
    if not report.ok:
        raise SystemExit(EXIT_INVALID)


@township.command("export")
@DB_OPTION
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="输出目录（U 盘或共享文件夹）/ output folder (USB stick or shared folder).")
@JSON_OPTION
@handle_errors
def export_cmd(db: str, out_dir: str, as_json: bool) -> None:
    """导出回传数据包 / Export the next signed return package; prints its path.

    Incremental: the package holds every final revision the county has not acknowledged yet (apply
    the county's feedback file to record what it received). Nothing to export is not an error.

    \b
    Example:
      census township export --db town.db --out /media/usb
    """
    from geodb.township import NothingToExport
    from sync.package import build_package

    with _open(db) as store:
        try:
            res = store.export(out_dir, build_package=build_package)
        except NothingToExport as e:
            if as_json:
                emit_json({"path": None, "sequence": None, "revisions": 0, "message_en": e.message_en})
            else:
                click.echo(f"{e.message_zh} / {e.message_en}", err=True)
            return
    if as_json:
        emit_json({"path": str(res.path), "sequence": res.sequence, "revisions": res.revisions, "counts": res.counts,
                   "acknowledged_through": res.acknowledged_through, "sha256": res.sha256})
        return
    click.echo(str(res.path))
    click.echo(f"第 {res.sequence} 号数据包：{res.revisions} 条修订 / package {res.sequence}: {res.revisions} revisions "
               f"({', '.join(f'{k} {v}' for k, v in res.counts.items())})", err=True)


@township.command("feedback")
@DB_OPTION
@click.argument("file", type=click.Path(dir_okay=False))
@JSON_OPTION
@handle_errors
def feedback_cmd(db: str, file: str, as_json: bool) -> None:
    """应用县级反馈文件 / Apply a county feedback file and list what to fix.

    Checks the county's signature, records which packages the county received (their revisions are
    not exported again), and marks each listed record with the county's state and message.

    \b
    Example:
      census township feedback --db town.db 211481100_feedback.json
    """
    with _open(db) as store:
        report = store.apply_feedback(file)
    if as_json:
        emit_json(report.as_dict())
        return
    for item in report.items:
        click.echo(item.line())
    note = "（此前已应用 / applied before）" if report.already_applied else ""
    click.echo(f"{file}: 县级已确认收到第 {report.acknowledged_through} 号及以前的数据包，需处理 {len(report.items)} 条{note} / "
               f"county acknowledged packages up to {report.acknowledged_through}; {len(report.items)} records to "
               "look at", err=True)


@township.command("list")
@DB_OPTION
@click.option("--form", "form_id", default=None, help="只列出该表单 / only this form.")
@click.option("--status", type=click.Choice(["draft", "final", "has_issues", "conflict", "rejected"]), default=None,
              help="只列出该状态 / only this status.")
@click.option("--limit", type=int, default=50, show_default=True, help="最多列出条数 / at most this many.")
@JSON_OPTION
@handle_errors
def list_cmd(db: str, form_id: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """列出记录 / List records, newest first, with their problems and the county's messages.

    \b
    Example:
      census township list --db town.db --status draft
      census township list --db town.db --form rural_house --status has_issues --json
    """
    with _open(db) as store:
        rows = store.records(form_id, status, limit=limit, include_data=True)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(f"{r['record_uuid']}  {r['form_id']:<20} {r['key'] or '':<24} {r['status']:<10} {r['updated_at']}")
        for p in r["problems"]:
            if p.get("severity", "error") == "error":
                click.echo(f"    {p.get('path')}: {p.get('message_zh')} / {p.get('message_en')}")
        if r.get("county_state"):
            click.echo(f"    县级/county [{r['county_state']}]: {r.get('county_message_zh')} / {r.get('county_message_en')}")


@township.command("status")
@DB_OPTION
@JSON_OPTION
@handle_errors
def status_cmd(db: str, as_json: bool) -> None:
    """数据库概况 / Counts per form and status, work-map completeness, what is waiting for export.

    \b
    Example:
      census township status --db town.db
    """
    with _open(db) as store:
        s = store.summary()
    if as_json:
        emit_json(s)
        return
    click.echo(f"{s['county']} {s['township']} {s.get('township_name') or ''} · {s['enumerator']} · "
               f"设备/device {s['device_id'][:8]}")
    wm = s["workmap"]
    if wm["assigned"]:
        click.echo(f"  底图图斑/work-map footprints: {wm['filled']}/{wm['assigned']} "
                   f"({100.0 * wm['filled'] / wm['assigned']:.1f}%)")
    for form_id, states in s["records"].items():
        click.echo(f"  {form_id:<24} " + "  ".join(f"{k} {v}" for k, v in sorted(states.items())))
    last = s["last_package"]
    click.echo(f"  待导出修订/pending revisions: {s['pending_revisions']} · 县级已确认/acknowledged through: "
               f"{s['acknowledged_through']} · 最近数据包/last package: "
               + (f"{last['sequence']} {last['created_at']}" if last else "—"))


@township.command("verify")
@DB_OPTION
@handle_errors
def verify_cmd(db: str) -> None:
    """核验审计日志 / Recompute the audit chain and check every revision against it; exit 0/1.

    \b
    Example:
      census township verify --db town.db
    """
    with _open(db) as store:
        report = store.verify()
    if report.ok:
        click.echo(f"{db}: 审计日志完整（{report.chain.rows} 条）/ audit log intact ({report.chain.rows} rows)")
        return
    for line in report.lines():
        click.echo(line)
    raise CommandFailed(f"{db}: 发现 {len(report.lines())} 处篡改或损坏", f"{db}: {len(report.lines())} sign(s) of tampering",
                        EXIT_INVALID)
