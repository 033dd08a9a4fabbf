"""`census forms …`: the form catalogue, XLSForm in and out, and validating record files."""

from __future__ import annotations

from pathlib import Path

import click

from schemas.catalogue import all_forms, get_form
from schemas.errors import Code

from .common import EXIT_INVALID, EXIT_USAGE, CommandFailed, emit_json, handle_errors


@click.group()
def forms() -> None:
    """普查表单目录 / The census form catalogue.

    \b
    Example:
      census forms list
      census forms validate rural_house houses.csv
    """


@forms.command("list")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / machine-readable output.")
@handle_errors
def list_forms(as_json: bool) -> None:
    """列出全部表单 / List every form: id, version, block, titles, field count.

    \b
    Example:
      census forms list --json
    """
    rows = [{"id": f.id, "version": f.version, "block": f.block.value, "block_zh": f.block.title_zh,
             "title_zh": f.title_zh, "title_en": f.title_en, "fields": f.field_count(),
             "confidential": f.confidential} for f in all_forms().values()]
    if as_json:
        emit_json(rows)
        return
    block = None
    for r in rows:
        if r["block"] != block:
            block = r["block"]
            click.echo(f"\n[{r['block_zh']} / {block}]")
        secret = " 🔒" if r["confidential"] else ""
        click.echo(f"  {r['id']:<32} v{r['version']:<8} {r['fields']:>3} 项  {r['title_zh']} / {r['title_en']}{secret}")


@forms.command("show")
@click.argument("form_id")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / machine-readable output.")
@handle_errors
def show_form(form_id: str, as_json: bool) -> None:
    """显示一张表单的字段与规则 / Show one form's fields and rules.

    \b
    Example:
      census forms show rural_house
    """
    from schemas.xlsform import form_to_dict

    form = get_form(form_id)
    if as_json:
        emit_json(form_to_dict(form))
        return
    click.echo(f"{form.title_zh} / {form.title_en}  [{form.id} v{form.version}, {form.block.title_zh}]")
    if form.description:
        click.echo(form.description.zh)

    def show(fields, depth=0):
        for f in fields:
            marks = []
            if f.required:
                marks.append("必填")
            if f.required_if:
                marks.append(f"条件必填: {f.required_if}")
            if f.relevant:
                marks.append(f"显示条件: {f.relevant}")
            if f.constraint:
                marks.append(f"约束: {f.constraint.expression}")
            if f.choices:
                marks.append(f"代码表: {f.choices}")
            if f.unit:
                marks.append(f"单位: {f.unit}")
            pad = "  " * depth
            click.echo(f"{pad}- {f.name} ({f.type.value}) {f.label.zh} / {f.label.en}"
                       + (f"  [{'; '.join(marks)}]" if marks else ""))
            show(f.children, depth + 1)

    show(form.fields)


@forms.command("export-xlsform")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="输出目录 / output folder.")
@click.argument("form_ids", nargs=-1)
@handle_errors
def export_xlsform_cmd(out_dir: str, form_ids: tuple[str, ...]) -> None:
    """导出 XLSForm（每表一个 .xlsx）/ Write one FORM_ID.xlsx per form (ODK, Kobo).

    \b
    Example:
      census forms export-xlsform --out xlsforms
      census forms export-xlsform --out xlsforms rural_house urban_house
    """
    from schemas.xlsform import export_xlsform

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [get_form(i) for i in form_ids] if form_ids else list(all_forms().values())
    for form in chosen:
        path = export_xlsform(form, out / f"{form.id}.xlsx")
        click.echo(str(path))


@forms.command("import-xlsform")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="输出目录 / output folder.")
@click.option("--block", default=None, help="普查内容分块（XLSForm 未注明时）/ census block when the XLSForm has none.")
@handle_errors
def import_xlsform_cmd(file: str, out_dir: str, block: str | None) -> None:
    """把县里新增的 XLSForm 转为表单文件 / Turn a county-added XLSForm into a schema file.

    Put the folder in CENSUS_FORMS_PATH to use the form everywhere.

    \b
    Example:
      census forms import-xlsform county_extra.xlsx --out county_forms
      CENSUS_FORMS_PATH=county_forms census forms list
    """
    from schemas.catalogue import shared_codelists
    from schemas.xlsform import import_xlsform, write_form_yaml

    if not Path(file).is_file():
        raise FileNotFoundError(2, "not found", file)
    result = import_xlsform(file, shared_codelists(), block=block)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = write_form_yaml(result.form, out / f"{result.form.id}.yaml")
    for w in result.warnings:
        click.echo(f"警告/warning: {getattr(w, 'message_zh', w)}", err=True)
    click.echo(str(path))


@forms.command("validate")
@click.argument("form_id")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--county", default=None, help="本县 6 位代码，区划代码须以此开头 / county code that division codes must start with.")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / machine-readable output.")
@handle_errors
def validate_cmd(form_id: str, file: str, county: str | None, as_json: bool) -> None:
    """校验记录文件 / Validate a record file (.json one record or a list, .csv, .xlsx).

    Exit 0 when every record is valid, 1 when some are not; each problem names the row and field.

    \b
    Example:
      census forms validate rural_house houses.csv
      census forms validate disaster_event events.json --json
    """
    from schemas.records_io import read_records
    from schemas.validator import ValidationContext, Validator

    from schemas.divisions import Division, level_of

    if county is not None and level_of(county) is not Division.COUNTY:
        raise CommandFailed(f"--county 应为 6 位县级行政区划代码，而不是“{county}”",
                            f"--county must be a 6-digit county code, not '{county}'", EXIT_USAGE)
    form = get_form(form_id)
    validator = Validator(form, ValidationContext(county_code=county, report_unknown_fields=False))
    rows = list(read_records(file, sheet=form.id))
    results = []
    for start in range(0, len(rows), 5000):
        batch = rows[start:start + 5000]
        checked = validator.validate_many([r.record for r in batch], rows=[r.row for r in batch])
        results.extend((rr.row, res) for rr, res in zip(batch, checked))
    known = {f.name for f in form.walk()}
    columns = {k for r in rows if isinstance(r.record, dict) for k in r.record}
    unknown = sorted(c for c in columns if c not in known and not str(c).startswith(("_", "meta")))
    invalid = [(row, res) for row, res in results if not res.ok]
    summary = {"form": form.id, "file": file, "records": len(results), "valid": len(results) - len(invalid),
               "invalid": len(invalid), "unknown_columns": unknown}
    if as_json:
        emit_json({**summary, "problems": [p.as_dict() for _, res in invalid for p in res.errors]})
    else:
        for col in unknown:
            click.echo(f"警告/warning: {file}: 表单 {form.id} 没有字段“{col}”，该列已忽略 / "
                       f"form {form.id} has no field '{col}'; column ignored [{Code.UNKNOWN_FIELD.value}]", err=True)
        for _, res in invalid:
            for p in res.errors:
                click.echo(p.line(file))
        click.echo(f"{file}: 共 {summary['records']} 条，有效 {summary['valid']} 条，无效 {summary['invalid']} 条 / "
                   f"{summary['records']} records, {summary['valid']} valid, {summary['invalid']} invalid", err=True)
    if invalid:
        raise SystemExit(EXIT_INVALID)
