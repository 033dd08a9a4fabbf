"""XLSForm out and in: the census forms in ODK Collect / KoboToolbox, and counties' own XLSForms back in.

Export writes one ``.xlsx`` with the three sheets pyxform reads (``survey``, ``choices``, ``settings``)
and one it ignores (``census_lists``).  Import reads any XLSForm — ours, or one a county made in Excel
or Kobo — into the YAML-format dict that :func:`schemas.compiler.compile_form` compiles, so
``import_xlsform(export_xlsform(form)).form == form``.

Layout of an exported workbook
------------------------------
``survey``
    ``type`` (``select_one LIST``, ``begin_group``/``end_group``, ``begin_repeat``/``end_repeat``, …),
    ``name``, ``label::中文 (zh)``, ``label::English (en)``, the same two for ``hint``,
    ``constraint_message`` and ``required_message``, and ``required`` (``yes`` or an expression),
    ``relevant``, ``constraint``, ``calculation``, ``choice_filter``, ``default``, ``read_only``,
    ``appearance``.  Expressions are written through :func:`schemas.expressions.to_odk`, so ODK Collect
    means what our validator means (``today()`` becomes the census reference date); when that changes
    the text, the original goes in ``census::<column>`` so that import gives the model back.
    What XLSForm has no column for goes in columns pyxform ignores: ``census::constraint_code``,
    ``census::unit``, ``census::division``, ``census::max_length``, ``census::repeat_min``,
    ``census::repeat_max``.
``choices``
    ``list_name``, ``name``, ``label::中文 (zh)``, ``label::English (en)`` and one column per choice
    filter (e.g. ``family``), as ``choice_filter`` expects.
``settings``
    ``form_title`` (Chinese), ``form_id``, ``version``, ``default_language`` = ``中文 (zh)``, and the form
    metadata pyxform has no setting for (it ignores unknown settings columns): ``census::block``,
    ``census::title::English (en)``, ``census::description::中文 (zh)`` / ``::English (en)``,
    ``census::source``, ``census::confidential``, ``census::geometry_field``, ``census::key_field``,
    ``census::hazard_family``.
``census_lists``
    ``list_name``, ``label::中文 (zh)``, ``label::English (en)``: the code lists' own titles.

Import is lenient in the ways Kobo and hand-made forms differ: label columns may be plain ``label``,
``label::Chinese (zh)``, ``label::English``, ``label::zh``, ``label::en`` …; one language only gives the
same text in zh and en; ``select one LIST``, ``begin group``, ``int``, ``string``, ``gps`` … are read;
ODK metadata rows (``start``, ``end``, ``today``, ``deviceid`` …) are skipped with a warning; a numeric
``repeat_count`` becomes ``min``/``max``.  The census block comes from the ``block`` argument, else the
workbook's ``census::block`` setting, else ``exposure``.  A workbook that cannot be read raises
:class:`XLSFormError` naming the sheet, row and column (Chinese first).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Mapping

import openpyxl
import yaml
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from .compiler import compile_form
from .errors import CensusError, Code, FormDefinitionError, Problem
from .model import Block, ChoiceList, CompileResult, Field, FieldType, Form, Text

__all__ = [
    "LANG_ZH", "LANG_EN", "XLSFormError", "ODKCheck", "form_to_dict", "write_form_yaml", "export_xlsform",
    "xlsform_bytes", "xlsform_to_dict", "import_xlsform", "check_xlsforms",
]

LANG_ZH = "中文 (zh)"
LANG_EN = "English (en)"
DEFAULT_BLOCK = Block.EXPOSURE.value
CENSUS_PREFIX = "census::"
LISTS_SHEET = "census_lists"

# Columns holding expressions, written through to_odk (original kept in census::<column> if changed).
_EXPR_COLUMNS = ("required", "relevant", "constraint", "calculation", "choice_filter")
_CENSUS_FIELD_COLUMNS = ("constraint_code", "unit", "division", "max_length", "repeat_min", "repeat_max")

_YES = {"yes", "true", "true()", "1", "y"}
_NO = {"no", "false", "false()", "0", "n", ""}

# XLSForm type spellings (pyxform's aliases included) → our field types.
_TYPE_ALIASES: dict[str, FieldType] = {}
for _ft, _names in {
    FieldType.TEXT: ("text", "string", "q string", "add text prompt"),
    FieldType.INTEGER: ("integer", "int", "q int", "add integer prompt"),
    FieldType.DECIMAL: ("decimal", "q decimal", "add decimal prompt"),
    FieldType.DATE: ("date", "q date", "add date prompt"),
    FieldType.GEOPOINT: ("geopoint", "gps", "location", "q geopoint", "q location", "add location prompt"),
    FieldType.GEOTRACE: ("geotrace", "q geotrace"),
    FieldType.GEOSHAPE: ("geoshape", "q geoshape"),
    FieldType.NOTE: ("note", "q note", "add note prompt"),
    FieldType.CALCULATE: ("calculate", "q calculate", "add calculate prompt"),
}.items():
    for _n in _names:
        _TYPE_ALIASES[_n] = _ft
_SELECT_ALIASES = {
    "select_one": FieldType.SELECT_ONE, "select one": FieldType.SELECT_ONE, "select1": FieldType.SELECT_ONE,
    "select one from": FieldType.SELECT_ONE, "select one using": FieldType.SELECT_ONE,
    "add select one prompt using": FieldType.SELECT_ONE,
    "select_multiple": FieldType.SELECT_MULTIPLE, "select multiple": FieldType.SELECT_MULTIPLE,
    "select all that apply": FieldType.SELECT_MULTIPLE, "select all that apply from": FieldType.SELECT_MULTIPLE,
    "select multiple from": FieldType.SELECT_MULTIPLE, "select multiple using": FieldType.SELECT_MULTIPLE,
    "add select multiple prompt using": FieldType.SELECT_MULTIPLE,
}
_BEGIN = {"begin_group": FieldType.GROUP, "begin group": FieldType.GROUP,
          "begin_repeat": FieldType.REPEAT, "begin repeat": FieldType.REPEAT}
_END = {"end_group": FieldType.GROUP, "end group": FieldType.GROUP,
        "end_repeat": FieldType.REPEAT, "end repeat": FieldType.REPEAT}
# ODK metadata: filled in by the device, not asked; a census record has no place for them.
_METADATA_TYPES = {
    "start", "end", "today", "deviceid", "imei", "subscriberid", "simserial", "phonenumber", "username",
    "email", "audit", "start-geopoint", "background-audio", "background-geopoint", "start time", "end time",
    "get start time", "get end time", "get today", "device id", "get device id", "subscriber id",
    "get subscriber id", "sim id", "get sim id", "get phone number", "uri:deviceid", "uri:subscriberid",
    "uri:simserial", "uri:phonenumber", "uri:username", "uri:email",
}
_SUPPORTED_TYPES = ("text integer decimal date select_one select_multiple geopoint geotrace geoshape note "
                    "calculate begin_group end_group begin_repeat end_repeat")
# Header spellings of the survey and choices columns we read (lower case) → canonical name.
_SURVEY_ALIASES = {
    "type": "type", "command": "type", "name": "name", "tag": "name", "value": "name",
    "label": "label", "caption": "label", "hint": "hint",
    "constraint_message": "constraint_message", "constraint message": "constraint_message",
    "constraining_message": "constraint_message", "jr:constraintmsg": "constraint_message",
    "required_message": "required_message", "required message": "required_message",
    "jr:requiredmsg": "required_message", "requiredmsg": "required_message",
    "required": "required", "relevant": "relevant", "relevance": "relevant", "constraint": "constraint",
    "calculation": "calculation", "calculate": "calculation", "choice_filter": "choice_filter",
    "choice filter": "choice_filter", "default": "default", "read_only": "read_only", "readonly": "read_only",
    "read only": "read_only", "appearance": "appearance", "repeat_count": "repeat_count",
    "jr:count": "repeat_count", "count": "repeat_count",
}
_TRANSLATABLE = {"label", "hint", "constraint_message", "required_message"}
_CHOICE_ALIASES = {"list_name": "list_name", "list name": "list_name", "name": "name", "value": "name",
                   "label": "label", "caption": "label"}
_CHOICE_IGNORED = {"image", "big-image", "audio", "video", "media", "order"}


# ---------------------------------------------------------------------------------------------------
# Errors

def _col_letter(column: int | None) -> str:
    return get_column_letter(column) if column else ""


def _where(sheet: str | None, row: int | None, column: str | None, col_index: int | None) -> tuple[str, str]:
    zh, en = [], []
    if sheet:
        zh.append(f"工作表“{sheet}”")
        en.append(f"sheet '{sheet}'")
    if row:
        zh.append(f"第{row}行")
        en.append(f"row {row}")
    if column:
        letter = _col_letter(col_index)
        zh.append(f"“{column}”列" + (f"（{letter}列）" if letter else ""))
        en.append(f"column '{column}'" + (f" ({letter})" if letter else ""))
    return "".join(zh), ", ".join(en)


class XLSFormError(FormDefinitionError):
    """An XLSForm that cannot be read or does not make a form; names the sheet, row and column.

    A :class:`FormDefinitionError` (so a :class:`~schemas.errors.CensusError`): callers that catch
    form-definition errors catch these too.  ``sheet``, ``row`` (1-based, as Excel numbers rows) and
    ``column`` (the header text) say where; ``problems`` lists every problem found.
    """

    def __init__(self, message_zh: str, message_en: str, *, sheet: str | None = None, row: int | None = None,
                 column: str | None = None, col_index: int | None = None, code: Code = Code.FORM_INVALID,
                 problems: list[Problem] | None = None, path: str = ""):
        where_zh, where_en = _where(sheet, row, column, col_index)
        full_zh = f"{where_zh}：{message_zh}" if where_zh else message_zh
        full_en = f"{where_en}: {message_en}" if where_en else message_en
        if problems is None:
            problems = [Problem(code, path, full_zh, full_en, row=row)]
        super().__init__(full_zh, full_en, code=code, problems=problems)
        self.sheet = sheet
        self.row = row
        self.column = column


# ---------------------------------------------------------------------------------------------------
# Model → YAML-format dict

def _text_dict(t: Text | None) -> dict | None:
    return None if t is None else {"zh": t.zh, "en": t.en}


def _field_dict(f: Field) -> dict:
    d: dict[str, Any] = {"name": f.name, "type": f.type.value}
    if f.choices is not None:
        d["choices"] = f.choices
    d["label"] = _text_dict(f.label)
    if f.hint is not None:
        d["hint"] = _text_dict(f.hint)
    if f.required:
        d["required"] = True
    elif f.required_if:
        d["required"] = f.required_if
    if f.required_message is not None:
        d["required_message"] = _text_dict(f.required_message)
    if f.relevant is not None:
        d["relevant"] = f.relevant
    if f.constraint is not None:
        c: dict[str, Any] = {"expr": f.constraint.expression}
        if f.constraint.message is not None:
            c["message"] = _text_dict(f.constraint.message)
        c["code"] = f.constraint.code
        d["constraint"] = c
    for key in ("calculation", "choice_filter", "default"):
        value = getattr(f, key)
        if value is not None:
            d[key] = value
    if f.read_only:
        d["read_only"] = True
    for key in ("appearance", "unit"):
        value = getattr(f, key)
        if value is not None:
            d[key] = value
    if f.division is not None:
        d["division"] = f.division.value
    if f.max_length is not None:
        d["max_length"] = f.max_length
    if f.repeat_min is not None:
        d["min"] = f.repeat_min
    if f.repeat_max is not None:
        d["max"] = f.repeat_max
    if f.children:
        d["fields"] = [_field_dict(c) for c in f.children]
    return d


def _choice_list_dict(cl: ChoiceList) -> dict:
    items = []
    for c in cl.choices:
        item: dict[str, Any] = {"name": c.name, "zh": c.label.zh, "en": c.label.en}
        item.update(dict(c.filters))
        items.append(item)
    return {"name": cl.name, "label": _text_dict(cl.label), "choices": items}


def form_to_dict(form: Form) -> dict:
    """The form as the YAML-format dict the compiler reads: canonical and explicit.

    No shorthands (``reference:`` and the division regex are written out as constraints with their
    codes), and every code list the form uses is inline under ``choice_lists``, so the dict compiles on
    its own: ``compile_form(form_to_dict(form)).form == form``.
    """
    d: dict[str, Any] = {"id": form.id, "version": form.version, "block": form.block.value,
                         "title": _text_dict(form.title)}
    if form.description is not None:
        d["description"] = _text_dict(form.description)
    if form.source is not None:
        d["source"] = form.source
    if form.confidential:
        d["confidential"] = True
    for key in ("geometry_field", "key_field", "hazard_family"):
        value = getattr(form, key)
        if value is not None:
            d[key] = value
    if form.choice_lists:
        d["choice_lists"] = [_choice_list_dict(cl) for cl in form.choice_lists]
    d["fields"] = [_field_dict(f) for f in form.fields]
    return d


class _Flow(dict):
    """A mapping written on one line ({zh: …, en: …}), as the hand-written form files do."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data.items(), flow_style=True))


def _flowify(obj: Any) -> Any:
    if isinstance(obj, dict):
        short = sum(len(str(v)) for v in obj.values()) <= 80
        if short and (set(obj) <= {"zh", "en"} or {"name", "zh", "en"} <= set(obj)):  # texts, choices
            return _Flow({k: _flowify(v) for k, v in obj.items()})
        return {k: _flowify(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_flowify(v) for v in obj]
    return obj


def write_form_yaml(form: Form, path: str | Path) -> Path:
    """Write :func:`form_to_dict` as a form file (UTF-8, Chinese as is, readable key order)."""
    path = Path(path)
    text = yaml.dump(_flowify(form_to_dict(form)), Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                     width=120, default_flow_style=False)
    header = f"# {form.title.zh} / {form.title.en}\n"
    path.write_text(header + text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------
# Model → XLSForm workbook

def _odk(text: str) -> str:
    """``text`` as ODK should see it; text our parser does not take (a choice_filter naming choice
    columns, ``family = ${x}``) goes to ODK unchanged."""
    from .expressions import ExpressionError, to_odk

    try:
        return to_odk(text)
    except ExpressionError:
        return text


def _put(row: dict[str, str], key: str, text: Text | None) -> None:
    if text is not None:
        row[f"{key}::{LANG_ZH}"] = text.zh
        row[f"{key}::{LANG_EN}"] = text.en


def _put_expr(row: dict[str, str], column: str, expression: str | None) -> None:
    if expression is None:
        return
    odk = _odk(expression)
    row[column] = odk
    if odk != expression:
        row[CENSUS_PREFIX + column] = expression


def _survey_rows(fields: Iterable[Field], out: list[dict[str, str]]) -> None:
    for f in fields:
        row: dict[str, str] = {"name": f.name}
        if f.type.is_select:
            row["type"] = f"{f.type.value} {f.choices}"
        elif f.type.is_container:
            row["type"] = f"begin_{f.type.value}"
        else:
            row["type"] = f.type.value
        _put(row, "label", f.label)
        _put(row, "hint", f.hint)
        if f.required:
            row["required"] = "yes"
        else:
            _put_expr(row, "required", f.required_if)
        _put(row, "required_message", f.required_message)
        _put_expr(row, "relevant", f.relevant)
        if f.constraint is not None:
            _put_expr(row, "constraint", f.constraint.expression)
            _put(row, "constraint_message", f.constraint.message)
            row[CENSUS_PREFIX + "constraint_code"] = f.constraint.code
        _put_expr(row, "calculation", f.calculation)
        _put_expr(row, "choice_filter", f.choice_filter)
        if f.default is not None:
            row["default"] = f.default
        if f.read_only:
            row["read_only"] = "yes"
        if f.appearance is not None:
            row["appearance"] = f.appearance
        if f.unit is not None:
            row[CENSUS_PREFIX + "unit"] = f.unit
        if f.division is not None:
            row[CENSUS_PREFIX + "division"] = f.division.value
        for attr in ("max_length", "repeat_min", "repeat_max"):
            value = getattr(f, attr)
            if value is not None:
                row[CENSUS_PREFIX + attr] = str(value)
        out.append(row)
        if f.type.is_container:
            _survey_rows(f.children, out)
            out.append({"type": f"end_{f.type.value}", "name": f.name})


def _columns(rows: list[dict[str, str]], leading: list[str]) -> list[str]:
    """``leading`` columns (those any row uses, in that order), then the other used columns as met."""
    used: dict[str, None] = {}
    for r in rows:
        for k in r:
            used.setdefault(k, None)
    cols = [c for c in leading if c in used]
    cols += [c for c in used if c not in cols]
    return cols


def _survey_columns(rows: list[dict[str, str]]) -> list[str]:
    leading = ["type", "name"]
    for key in ("label", "hint"):
        leading += [f"{key}::{LANG_ZH}", f"{key}::{LANG_EN}"]
    leading += ["required", f"required_message::{LANG_ZH}", f"required_message::{LANG_EN}", "relevant",
                "constraint", f"constraint_message::{LANG_ZH}", f"constraint_message::{LANG_EN}", "calculation",
                "choice_filter", "default", "read_only", "appearance"]
    leading += [CENSUS_PREFIX + c for c in _CENSUS_FIELD_COLUMNS]
    leading += [CENSUS_PREFIX + c for c in _EXPR_COLUMNS]
    cols = _columns(rows, leading)
    return ["type", "name", f"label::{LANG_ZH}", f"label::{LANG_EN}"] + [
        c for c in cols if c not in ("type", "name", f"label::{LANG_ZH}", f"label::{LANG_EN}")]


def _write_sheet(ws, columns: list[str], rows: list[dict[str, str]], widths: Mapping[str, int] | None = None) -> None:
    ws.append(columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append([r.get(c) for c in columns])
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text, never a formula
    ws.freeze_panes = "C2" if ws.title == "survey" else "A2"
    for i, c in enumerate(columns, start=1):
        width = (widths or {}).get(c)
        if width is None:
            longest = max([len(str(r.get(c) or "")) for r in rows] + [len(c)])
            width = min(max(10, longest + 2), 60)
        ws.column_dimensions[get_column_letter(i)].width = width


def _workbook(form: Form) -> openpyxl.Workbook:
    wb = openpyxl.Workbook()
    survey = wb.active
    survey.title = "survey"
    rows: list[dict[str, str]] = []
    _survey_rows(form.fields, rows)
    _write_sheet(survey, _survey_columns(rows), rows)

    choice_rows: list[dict[str, str]] = []
    filter_keys: dict[str, None] = {}
    for cl in form.choice_lists:
        for c in cl.choices:
            r = {"list_name": cl.name, "name": c.name, f"label::{LANG_ZH}": c.label.zh,
                 f"label::{LANG_EN}": c.label.en}
            for k, v in c.filters:
                r[k] = v
                filter_keys.setdefault(k, None)
            choice_rows.append(r)
    _write_sheet(wb.create_sheet("choices"),
                 ["list_name", "name", f"label::{LANG_ZH}", f"label::{LANG_EN}", *sorted(filter_keys)], choice_rows)

    settings: dict[str, str] = {"form_title": form.title.zh, "form_id": form.id, "version": form.version,
                                "default_language": LANG_ZH, CENSUS_PREFIX + "block": form.block.value,
                                f"{CENSUS_PREFIX}title::{LANG_EN}": form.title.en}
    if form.description is not None:
        settings[f"{CENSUS_PREFIX}description::{LANG_ZH}"] = form.description.zh
        settings[f"{CENSUS_PREFIX}description::{LANG_EN}"] = form.description.en
    for key in ("source", "geometry_field", "key_field", "hazard_family"):
        value = getattr(form, key)
        if value is not None:
            settings[CENSUS_PREFIX + key] = value
    settings[CENSUS_PREFIX + "confidential"] = "yes" if form.confidential else "no"
    _write_sheet(wb.create_sheet("settings"), list(settings), [settings])

    list_rows = [{"list_name": cl.name, f"label::{LANG_ZH}": cl.label.zh, f"label::{LANG_EN}": cl.label.en}
                 for cl in form.choice_lists]
    _write_sheet(wb.create_sheet(LISTS_SHEET), ["list_name", f"label::{LANG_ZH}", f"label::{LANG_EN}"], list_rows)
    return wb


def export_xlsform(form: Form, path: str | Path) -> Path:
    """Write the form as one XLSForm ``.xlsx`` (survey, choices, settings, census_lists); returns the path."""
    path = Path(path)
    _workbook(form).save(path)
    return path


def xlsform_bytes(form: Form) -> bytes:
    """The XLSForm of :func:`export_xlsform` as bytes (for downloads and tests)."""
    buf = io.BytesIO()
    _workbook(form).save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------
# XLSForm workbook → YAML-format dict

def _cell(value: Any) -> str:
    """A cell as text: numbers without a spurious ``.0``, booleans as yes/no, dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _lang(tag: str, default: str | None) -> str | None:
    """A language column suffix (``中文 (zh)``, ``English``, ``zh``, …) → ``"zh"``, ``"en"`` or None."""
    tag = tag.strip()
    if not tag:
        return _lang(default, None) if default else ""
    m = re.search(r"\(([^()]*)\)\s*$", tag)
    for t in ([m.group(1)] if m else []) + [tag]:
        low = t.strip().lower()
        if re.match(r"^(zh|zho|chi|cn|chs|cht)([-_].*)?$", low) or "chinese" in low or "中文" in low \
                or "汉语" in low or "简体" in low:
            return "zh"
        if re.match(r"^(en|eng)([-_].*)?$", low) or "english" in low or "英文" in low or "英语" in low:
            return "en"
    return None


@dataclass
class _Sheet:
    name: str
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (Excel row number, cell texts)

    def index(self, column: str) -> int | None:
        for i, h in enumerate(self.header):
            if h == column:
                return i + 1
        return None


def _read_sheet(ws) -> _Sheet:
    rows = list(ws.iter_rows(values_only=True))
    if not rows:
        return _Sheet(ws.title, [], [])
    header = [_cell(v) for v in rows[0]]
    body = []
    for n, r in enumerate(rows[1:], start=2):
        cells = [_cell(v) for v in r]
        cells += [""] * (len(header) - len(cells))
        if any(cells):
            body.append((n, cells))
    return _Sheet(ws.title, header, body)


def _open_workbook(source: str | Path | bytes | IO[bytes]) -> tuple[dict[str, _Sheet], str | None]:
    """Every sheet by lower-case name, and the file stem (None for bytes)."""
    stem = None
    if isinstance(source, (bytes, bytearray)):
        handle: Any = io.BytesIO(bytes(source))
        shown = "<bytes>"
    elif hasattr(source, "read"):
        handle = source
        shown = str(getattr(source, "name", "<stream>"))
    else:
        path = Path(source)
        stem, shown = path.stem, str(path)
        if not path.is_file():
            raise XLSFormError(f"找不到文件 {path}", f"no such file: {path}", code=Code.FILE_UNREADABLE)
        handle = path
    try:
        wb = openpyxl.load_workbook(handle, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError, OSError, EOFError) as e:
        raise XLSFormError(f"{shown} 不是可读取的 Excel 工作簿（.xlsx）：{e}。请在 Excel 中另存为 .xlsx 后再导入",
                           f"{shown} is not a readable Excel workbook (.xlsx): {e}; save it as .xlsx and retry",
                           code=Code.FILE_UNREADABLE) from e
    try:
        sheets = {ws.title.strip().lower(): _read_sheet(ws) for ws in wb.worksheets}
    finally:
        wb.close()
    return sheets, stem


@dataclass
class _Columns:
    """Where each column we read is, on one sheet: plain columns and translated ones by language."""

    plain: dict[str, int] = field(default_factory=dict)                    # canonical name → index
    texts: dict[str, dict[str, list[int]]] = field(default_factory=dict)   # base → zh/en/""/None → indexes
    census: dict[str, int] = field(default_factory=dict)                   # census::x → index
    census_texts: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    other: dict[str, int] = field(default_factory=dict)                    # unknown columns (choice filters)
    names: dict[int, str] = field(default_factory=dict)                    # index → header as written


def _classify(sheet: _Sheet, aliases: Mapping[str, str], default_lang: str | None) -> _Columns:
    cols = _Columns()
    for i, raw in enumerate(sheet.header):
        if not raw:
            continue
        cols.names[i] = raw
        low = raw.lower()
        if low.startswith(CENSUS_PREFIX):
            rest = raw[len(CENSUS_PREFIX):]
            base, sep, tag = rest.partition("::")
            if sep:
                cols.census_texts.setdefault(base.lower(), {}).setdefault(_lang(tag, default_lang), []).append(i)
            else:
                cols.census.setdefault(rest.lower(), i)
            continue
        base, sep, tag = raw.partition("::")
        canon = aliases.get(base.strip().lower())
        if canon in _TRANSLATABLE:
            cols.texts.setdefault(canon, {}).setdefault(_lang(tag, default_lang), []).append(i)
        elif canon and not sep:
            cols.plain.setdefault(canon, i)
        else:
            cols.other.setdefault(raw, i)
    return cols


def _pick_text(langs: Mapping[str | None, list[int]] | None, cells: list[str]) -> dict | None:
    """The zh/en text of one row from its language columns; one language only → the same in both."""
    if not langs:
        return None

    def first(key: str | None) -> str:
        for i in langs.get(key, []):
            if cells[i]:
                return cells[i]
        return ""

    zh, en, plain, other = first("zh"), first("en"), first(""), first(None)
    zh_text = zh or plain or en or other
    en_text = en or plain or zh or other
    if not zh_text:
        return None
    return {"zh": zh_text, "en": en_text}


def _is_yes(text: str) -> bool | None:
    low = text.strip().lower()
    if low in _YES:
        return True
    if low in _NO:
        return False
    return None


def _int_cell(sheet: _Sheet, cols: _Columns, key: str, n: int, cells: list[str]) -> int | None:
    """A ``census::KEY`` cell holding a whole number ≥ 0, or None when empty."""
    idx = cols.census.get(key)
    if idx is None or not cells[idx]:
        return None
    try:
        value = int(cells[idx])
    except ValueError:
        raise XLSFormError(f"应为整数，而不是“{cells[idx]}”", f"must be a whole number, not '{cells[idx]}'",
                           sheet=sheet.name, row=n, column=cols.names[idx], col_index=idx + 1) from None
    if value < 0:
        raise XLSFormError(f"不能为负数（{value}）", f"must not be negative ({value})",
                           sheet=sheet.name, row=n, column=cols.names[idx], col_index=idx + 1)
    return value


def _expression(cols: _Columns, key: str, cells: list[str]) -> str | None:
    """An expression cell; the census:: original wins when it still means what the ODK cell says."""
    idx = cols.plain.get(key)
    shown = cells[idx] if idx is not None else ""
    orig_idx = cols.census.get(key)
    original = cells[orig_idx] if orig_idx is not None else ""
    if original and _odk(original) == shown:
        return original
    return shown or None


@dataclass
class _Parsed:
    data: dict
    warnings: list[Problem]
    rows: dict[str, tuple[str, int]]  # field name or "list:NAME" → (sheet, row)


def _read_settings(sheets: Mapping[str, _Sheet]) -> tuple[dict[str, str], dict[str, dict | None], str | None]:
    sheet = sheets.get("settings")
    if sheet is None or not sheet.rows:
        return {}, {}, None
    cells = sheet.rows[0][1]
    values: dict[str, str] = {}
    raw_default = ""
    for i, h in enumerate(sheet.header):
        if h.strip().lower() == "default_language":
            raw_default = cells[i]
    cols = _classify(sheet, {}, raw_default or None)
    for raw, i in cols.other.items():
        key = raw.strip().lower()
        key = {"set_form_title": "form_title", "set_form_id": "form_id", "id_string": "form_id",
               "title": "form_title"}.get(key, key)
        if cells[i]:
            values.setdefault(key, cells[i])
    for key, i in cols.census.items():
        if cells[i]:
            values[CENSUS_PREFIX + key] = cells[i]
    texts = {base: _pick_text(langs, cells) for base, langs in cols.census_texts.items()}
    return values, texts, raw_default or None


def _read_choices(sheets: Mapping[str, _Sheet], default_lang: str | None,
                  rows_at: dict[str, tuple[str, int]]) -> dict[str, dict]:
    sheet = sheets.get("choices")
    lists: dict[str, dict] = {}
    if sheet is None:
        return lists
    cols = _classify(sheet, _CHOICE_ALIASES, default_lang)
    for needed in ("list_name", "name"):
        if needed not in cols.plain:
            raise XLSFormError(f"缺少“{needed}”列", f"the '{needed}' column is missing", sheet=sheet.name, row=1,
                               column=needed)
    li, ni = cols.plain["list_name"], cols.plain["name"]
    filters = {raw: i for raw, i in cols.other.items()  # Kobo's bookkeeping ($kuid, $autovalue) is no filter
               if "::" not in raw and raw.strip().lower() not in _CHOICE_IGNORED and not raw.startswith(("$", "_"))}
    for n, cells in sheet.rows:
        list_name = cells[li]
        if not list_name:
            raise XLSFormError("选项缺少代码表名", "the choice has no list name", sheet=sheet.name, row=n,
                               column=cols.names[li], col_index=li + 1)
        name = cells[ni]
        if not name or " " in name:
            raise XLSFormError(f"选项代码“{name}”为空或含空格，请改为不含空格的代码",
                               f"choice name '{name}' is empty or has spaces; use a code without spaces",
                               sheet=sheet.name, row=n, column=cols.names[ni], col_index=ni + 1)
        label = _pick_text(cols.texts.get("label"), cells)
        if label is None:
            idx = next(iter(v[0] for v in (cols.texts.get("label") or {}).values()), None)
            raise XLSFormError(f"选项“{list_name}: {name}”缺少标签", f"choice '{list_name}: {name}' has no label",
                               sheet=sheet.name, row=n, column=cols.names.get(idx, "label") if idx is not None
                               else "label", col_index=idx + 1 if idx is not None else None)
        item: dict[str, Any] = {"name": name, **label}
        for raw, i in filters.items():
            if cells[i]:
                item[raw] = cells[i]
        if list_name not in lists:
            lists[list_name] = {"name": list_name, "label": None, "choices": []}
            rows_at[f"list:{list_name}"] = (sheet.name, n)
        lists[list_name]["choices"].append(item)

    titles = sheets.get(LISTS_SHEET)
    if titles is not None:
        tcols = _classify(titles, _CHOICE_ALIASES, default_lang)
        ti = tcols.plain.get("list_name")
        if ti is not None:
            for n, cells in titles.rows:
                if cells[ti] in lists:
                    lists[cells[ti]]["label"] = _pick_text(tcols.texts.get("label"), cells)
    for cl in lists.values():
        if cl["label"] is None:
            cl["label"] = {"zh": cl["name"], "en": cl["name"]}
    return lists


class _SurveyReader:
    """Reads the survey sheet row by row into nested field dicts, naming the row of every problem."""

    def __init__(self, sheet: _Sheet, default_lang: str | None, available_lists: set[str],
                 rows_at: dict[str, tuple[str, int]], warnings: list[Problem]):
        self.sheet = sheet
        self.cols = _classify(sheet, _SURVEY_ALIASES, default_lang)
        for needed in ("type", "name"):
            if needed not in self.cols.plain:
                raise XLSFormError(f"缺少“{needed}”列", f"the '{needed}' column is missing", sheet=sheet.name, row=1,
                                   column=needed)
        self.ti, self.ni = self.cols.plain["type"], self.cols.plain["name"]
        self.available = available_lists
        self.rows_at = rows_at
        self.warnings = warnings

    def fail(self, zh: str, en: str, n: int, idx: int, code: Code = Code.FORM_INVALID,
             path: str = "") -> XLSFormError:
        return XLSFormError(zh, en, sheet=self.sheet.name, row=n, column=self.cols.names[idx], col_index=idx + 1,
                            code=code, path=path)

    def warn(self, code: Code, path: str, n: int, zh: str, en: str) -> None:
        self.warnings.append(Problem(code, path, f"工作表“{self.sheet.name}”第{n}行：{zh}",
                                     f"sheet '{self.sheet.name}', row {n}: {en}", row=n, severity="warning"))

    def read(self) -> list[dict]:
        root: list[dict] = []
        stack: list[tuple[dict, int]] = []  # open groups/repeats and their begin rows
        for n, cells in self.sheet.rows:
            raw_type = " ".join(cells[self.ti].split())
            low = raw_type.lower()
            name = cells[self.ni]
            if not raw_type:
                raise self.fail(f"“{name or '（无名）'}”缺少题型（type），请填写，例如 text、integer、select_one 代码表名",
                                f"'{name or '(no name)'}' has no type; fill it in, e.g. text, integer, "
                                "select_one LIST", n, self.ti)
            if low in _END:
                self.close(stack, _END[low], raw_type, n)
                continue
            if low in _METADATA_TYPES:
                self.warn(Code.FORM_UNKNOWN_TYPE, name, n, f"元数据题型“{raw_type}”（{name}）已忽略，普查记录不保存设备元数据",
                          f"metadata type '{raw_type}' ({name}) skipped; census records keep no device metadata")
                continue
            if not name:
                raise self.fail("题目缺少字段名（name），请填写以字母开头、只含字母数字下划线的名称",
                                "the question has no name; give one starting with a letter (letters, digits, _)",
                                n, self.ni)
            if name in self.rows_at:
                first = self.rows_at[name][1]
                raise self.fail(f"字段名“{name}”与第{first}行重复，字段名在整张表单中必须唯一",
                                f"field name '{name}' repeats row {first}; names must be unique in the form",
                                n, self.ni, Code.FORM_DUPLICATE_NAME, name)
            ftype, choices = self.type_of(raw_type, name, n)
            d = self.field(name, ftype, choices, n, cells)
            self.rows_at[name] = (self.sheet.name, n)
            (stack[-1][0]["fields"] if stack else root).append(d)
            if ftype.is_container:
                stack.append((d, n))
        if stack:
            container, n = stack[-1]
            kind = container["type"]
            raise self.fail(f"“{container['name']}”的 begin_{kind} 没有对应的 end_{kind}",
                            f"begin_{kind} '{container['name']}' is never closed with end_{kind}", n, self.ti)
        if not root:
            raise XLSFormError("“survey”工作表中没有题目", "the 'survey' sheet has no questions", sheet=self.sheet.name)
        return root

    def close(self, stack: list[tuple[dict, int]], kind: FieldType, raw_type: str, n: int) -> None:
        if not stack or stack[-1][0]["type"] != kind.value:
            open_kind = f"begin_{stack[-1][0]['type']}" if stack else "无/none"
            raise self.fail(f"“{raw_type}”没有对应的 begin_{kind.value}（当前打开的是 {open_kind}）",
                            f"'{raw_type}' has no matching begin_{kind.value} (open: {open_kind})", n, self.ti)
        container, _ = stack.pop()
        if not container["fields"]:
            raise self.fail(f"“{container['name']}”中没有题目", f"'{container['name']}' holds no questions", n, self.ti)

    def type_of(self, raw_type: str, name: str, n: int) -> tuple[FieldType, str | None]:
        low = raw_type.lower()
        if low in _BEGIN:
            return _BEGIN[low], None
        if low in _TYPE_ALIASES:
            return _TYPE_ALIASES[low], None
        if low in _SELECT_ALIASES:
            kind = _SELECT_ALIASES[low].value
            raise self.fail(f"选择题“{raw_type}”缺少代码表名，应写作“{kind} 代码表名”",
                            f"select '{raw_type}' names no list; write '{kind} LIST'",
                            n, self.ti, Code.FORM_UNKNOWN_CHOICES, name)
        parts = raw_type.split()
        for k in range(len(parts) - 1, 0, -1):  # the longest select spelling first: "select one from x"
            head = " ".join(parts[:k]).lower()
            if head not in _SELECT_ALIASES:
                continue
            ftype, tail = _SELECT_ALIASES[head], parts[k:]
            if len(tail) != 1:
                raise self.fail(f"选择题“{raw_type}”应写作“{ftype.value} 代码表名”（不支持 or_other）",
                                f"select '{raw_type}' must read '{ftype.value} LIST' (or_other is not supported)",
                                n, self.ti, Code.FORM_UNKNOWN_TYPE, name)
            if tail[0] not in self.available:
                raise self.fail(f"字段“{name}”引用的代码表“{tail[0]}”在“choices”工作表中不存在，请添加该代码表或更正名称",
                                f"field '{name}' uses list '{tail[0]}', which is not on the 'choices' sheet; add it "
                                "or fix the name", n, self.ti, Code.FORM_UNKNOWN_CHOICES, name)
            return ftype, tail[0]
        raise self.fail(f"题型“{raw_type}”无法识别（字段 {name}）。支持的题型：{_SUPPORTED_TYPES}",
                        f"unknown type '{raw_type}' (field {name}); supported: {_SUPPORTED_TYPES}",
                        n, self.ti, Code.FORM_UNKNOWN_TYPE, name)

    def field(self, name: str, ftype: FieldType, choices: str | None, n: int, cells: list[str]) -> dict:
        cols = self.cols
        d: dict[str, Any] = {"name": name, "type": ftype.value}
        if choices:
            d["choices"] = choices
        label = _pick_text(cols.texts.get("label"), cells)
        if label is None and ftype.is_container:  # XLSForm groups may go unlabelled; ours may not
            label = {"zh": name, "en": name}
        if label is not None:
            d["label"] = label
        for key in ("hint", "required_message"):
            text = _pick_text(cols.texts.get(key), cells)
            if text is not None:
                d[key] = text
        required = _expression(cols, "required", cells)
        if required:
            yes = _is_yes(required)
            d["required"] = yes if yes is not None else required
        relevant = _expression(cols, "relevant", cells)
        if relevant:
            d["relevant"] = relevant
        constraint = _expression(cols, "constraint", cells)
        if constraint:
            c: dict[str, Any] = {"expr": constraint}
            msg = _pick_text(cols.texts.get("constraint_message"), cells)
            if msg is not None:
                c["message"] = msg
            ci = cols.census.get("constraint_code")
            c["code"] = cells[ci] if ci is not None and cells[ci] else Code.CONSTRAINT.value
            d["constraint"] = c
        for key in ("calculation", "choice_filter"):
            value = _expression(cols, key, cells)
            if value:
                d[key] = value
        for key in ("default", "appearance"):
            idx = cols.plain.get(key)
            if idx is not None and cells[idx]:
                d[key] = cells[idx]
        ri = cols.plain.get("read_only")
        if ri is not None and cells[ri]:
            yes = _is_yes(cells[ri])
            if yes is None:
                self.warn(Code.FORM_INVALID, name, n, f"read_only 表达式“{cells[ri]}”不受支持，按“否”处理",
                          f"read_only expression '{cells[ri]}' is not supported; taken as no")
            elif yes:
                d["read_only"] = True
        for key in ("unit", "division"):
            idx = cols.census.get(key)
            if idx is not None and cells[idx]:
                d[key] = cells[idx]
        max_length = _int_cell(self.sheet, cols, "max_length", n, cells)
        if max_length is not None:
            d["max_length"] = max_length
        if ftype is FieldType.REPEAT:
            d.update(self.repeat_bounds(name, n, cells))
        if ftype.is_container:
            d["fields"] = []
        return d

    def repeat_bounds(self, name: str, n: int, cells: list[str]) -> dict[str, int]:
        rmin = _int_cell(self.sheet, self.cols, "repeat_min", n, cells)
        rmax = _int_cell(self.sheet, self.cols, "repeat_max", n, cells)
        ci = self.cols.plain.get("repeat_count")
        if rmin is None and rmax is None and ci is not None and cells[ci]:
            if cells[ci].isdigit():  # ODK's fixed count: exactly that many
                rmin = rmax = int(cells[ci])
            else:
                self.warn(Code.FORM_INVALID, name, n, f"repeat_count 表达式“{cells[ci]}”不受支持，已忽略",
                          f"repeat_count expression '{cells[ci]}' is not supported; ignored")
        out = {}
        if rmin is not None:
            out["min"] = rmin
        if rmax is not None:
            out["max"] = rmax
        return out


def _parse(source: str | Path | bytes | IO[bytes], block: str | None, known_lists: Iterable[str] = ()) -> _Parsed:
    sheets, stem = _open_workbook(source)
    survey = sheets.get("survey")
    if survey is None:
        names = [s.name for s in sheets.values()]
        raise XLSFormError(f"工作簿中没有“survey”工作表（现有：{'、'.join(names) or '无'}）。XLSForm 的题目须写在名为 "
                           "survey 的工作表中",
                           f"the workbook has no 'survey' sheet (found: {', '.join(names) or 'none'}); an XLSForm "
                           "keeps its questions on a sheet named survey", sheet="survey")
    warnings: list[Problem] = []
    rows_at: dict[str, tuple[str, int]] = {}
    settings, setting_texts, default_lang = _read_settings(sheets)
    lists = _read_choices(sheets, default_lang, rows_at)
    fields = _SurveyReader(survey, default_lang, set(lists) | set(known_lists), rows_at, warnings).read()

    form_id = settings.get("form_id") or stem or ""
    if not form_id or not form_id.replace("_", "a").isalnum() or not form_id[0].isalpha():
        raise XLSFormError(f"表单编号“{form_id}”无效或缺失：请在 settings 工作表的 form_id 列填写以字母开头、"
                           "只含字母数字下划线的编号",
                           f"form id '{form_id}' is missing or invalid: put one starting with a letter (letters, "
                           "digits, _) in the form_id column of the settings sheet",
                           sheet="settings", row=2, column="form_id")
    title_zh = settings.get("form_title") or form_id
    title_en = (setting_texts.get("title") or {}).get("en") or title_zh
    data: dict[str, Any] = {
        "id": form_id, "version": settings.get("version") or "1",
        "block": block or settings.get(CENSUS_PREFIX + "block") or DEFAULT_BLOCK,
        "title": {"zh": title_zh, "en": title_en},
    }
    if setting_texts.get("description"):
        data["description"] = setting_texts["description"]
    for key in ("source", "geometry_field", "key_field", "hazard_family"):
        if settings.get(CENSUS_PREFIX + key):
            data[key] = settings[CENSUS_PREFIX + key]
    if _is_yes(settings.get(CENSUS_PREFIX + "confidential", "")):
        data["confidential"] = True
    if lists:
        data["choice_lists"] = list(lists.values())
    data["fields"] = fields
    return _Parsed(data, warnings, rows_at)


def xlsform_to_dict(source: str | Path | bytes | IO[bytes], *, block: str | None = None,
                    codelists: Iterable[str] = ()) -> dict:
    """Read an XLSForm (a path, the file's bytes or a binary stream) into the YAML-format form dict.

    ``block`` is the census block of the form: when given it wins, else the workbook's
    ``census::block`` setting, else ``exposure``.  ``codelists`` are names of shared code lists a select
    may use without their being on the choices sheet.  Raises :class:`XLSFormError`.
    """
    return _parse(source, block, codelists).data


def import_xlsform(source: str | Path | bytes | IO[bytes], codelists: Mapping[str, ChoiceList] | None = None,
                   *, block: str | None = None) -> CompileResult:
    """:func:`xlsform_to_dict` then :func:`~schemas.compiler.compile_form`.

    Code lists on the workbook's choices sheet win over ``codelists`` of the same name.  Warnings (ODK
    metadata rows skipped, unsupported read_only expressions …) come back in ``CompileResult.warnings``.
    A form that does not compile raises :class:`XLSFormError` whose problems name the survey rows.
    """
    parsed = _parse(source, block, (codelists or {}).keys())
    try:
        result = compile_form(parsed.data, codelists)
    except FormDefinitionError as e:
        located: list[tuple[tuple, Problem]] = []
        for p in e.problems:
            key = p.path.rsplit(".", 1)[-1]
            if key.startswith("choices:"):
                key = "list:" + key[len("choices:"):].split("[")[0].split(":")[0]
            sheet, row = parsed.rows.get(key, (None, None))
            if sheet is not None and row is not None:
                where_zh, where_en = _where(sheet, row, None, None)
                p = Problem(p.code, p.path, f"{where_zh}：{p.message_zh}", f"{where_en}: {p.message_en}", row=row,
                            severity=p.severity)
            # sheet order: survey rows, then choices rows, then what has no row
            located.append(((sheet is None, sheet != "survey", row or 0, sheet or ""), p))
        located.sort(key=lambda item: item[0])
        problems = [p for _, p in located]
        error = XLSFormError(
            f"表单有 {len(problems)} 处错误：" + "；".join(p.message_zh for p in problems[:5]),
            f"the form has {len(problems)} problem(s): " + "; ".join(p.message_en for p in problems[:5]),
            code=e.code or Code.FORM_INVALID, problems=problems)
        first_key = located[0][0] if located else (True,)
        if not first_key[0]:  # where the first problem is; each message names its own row
            error.sheet, error.row = first_key[3], first_key[2]
        raise error from e
    return CompileResult(result.form, tuple(parsed.warnings) + tuple(result.warnings))


# ---------------------------------------------------------------------------------------------------
# pyxform + ODK Validate, many forms in one JVM

@dataclass(frozen=True)
class ODKCheck:
    """The outcome of converting one XLSForm with pyxform and checking it with ODK Validate."""

    source: Path
    ok: bool
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    xform: str | None = None


_ODK_NOISE = {">> Xform parsing completed!", ">> Xform is valid!", "Result: Valid", "Result: Invalid"}


def _run_validate(jar: str, files: list[Path], cwd: Path, timeout: float) -> tuple[int, str]:
    try:
        proc = subprocess.run(["java", "-Djava.awt.headless=true", "-jar", jar, *[f.name for f in files]],
                              cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError as e:
        raise CensusError("ODK Validate 需要 Java（8 及以上），请安装（Debian：apt-get install default-jre-headless）后重试",
                          "ODK Validate needs Java (8+); install it (Debian: apt-get install default-jre-headless) "
                          "and retry") from e
    return proc.returncode, proc.stdout


def _sections(output: str) -> dict[str, list[str]]:
    """ODK Validate's output split by its 'Validating: FILE' lines."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("Validating: "):
            current = out.setdefault(line[len("Validating: "):].strip(), [])
        elif line.startswith("The following files failed validation"):
            current = None
        elif current is not None and line.strip() and line.strip() not in _ODK_NOISE \
                and not line.startswith(("\tat ", "\t...")):  # Java stack frames say nothing to a user
            current.append(line.rstrip())
    return out


def _failed(output: str) -> set[str]:
    failed: set[str] = set()
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("The following files failed validation"):
            for nxt in lines[i + 1:]:
                if not nxt.strip() or nxt.startswith("Result:"):
                    break
                failed.add(nxt.strip())
    return failed


def check_xlsforms(paths: Iterable[str | Path], *, validate: bool = True, timeout: float = 300) -> list[ODKCheck]:
    """Convert each XLSForm with pyxform and check all of them with ODK Validate in one Java run.

    ODK Validate starts a JVM per call (~0.5 s); it accepts many files, so a catalogue of 30 forms costs
    one start.  A form that fails is re-checked alone for a clean error text.  Warnings are pyxform's and
    ODK Validate's; ``ok`` is False when pyxform or ODK Validate rejects the form.
    """
    from pyxform.errors import PyXFormError
    from pyxform.validators.odk_validate import ODK_VALIDATE_PATH
    from pyxform.xls2xform import convert

    paths = [Path(p) for p in paths]
    results: dict[int, ODKCheck] = {}
    with tempfile.TemporaryDirectory(prefix="census-odk-") as tmp:
        tmpdir = Path(tmp)
        pending: dict[int, tuple[Path, list[str], str]] = {}
        for i, p in enumerate(paths):
            warnings: list[str] = []
            try:
                xform = convert(xlsform=str(p), warnings=warnings, validate=False).xform
            except PyXFormError as e:
                results[i] = ODKCheck(p, False, tuple(warnings), (f"pyxform: {e}",))
                continue
            xml = tmpdir / f"f{i:04d}.xml"
            xml.write_text(xform, encoding="utf-8")
            pending[i] = (xml, warnings, xform)
        if validate and pending:
            code, output = _run_validate(ODK_VALIDATE_PATH, [v[0] for v in pending.values()], tmpdir, timeout)
            sections, failed = _sections(output), _failed(output)
            if code != 0 and not failed:  # the run itself broke: every form is suspect
                failed = {v[0].name for v in pending.values()}
            for i, (xml, warnings, xform) in pending.items():
                if xml.name in failed:
                    _, alone = _run_validate(ODK_VALIDATE_PATH, [xml], tmpdir, timeout)
                    errors = tuple(_sections(alone).get(xml.name, [alone.strip()])) or (alone.strip(),)
                    results[i] = ODKCheck(paths[i], False, tuple(warnings), errors, xform)
                else:
                    extra = tuple(sections.get(xml.name, []))
                    results[i] = ODKCheck(paths[i], True, tuple(warnings) + extra, (), xform)
        else:
            for i, (xml, warnings, xform) in pending.items():
                results[i] = ODKCheck(paths[i], True, tuple(warnings), (), xform)
    return [results[i] for i in range(len(paths))]
