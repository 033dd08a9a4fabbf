"""Reading record files (.json, .csv, .xlsx) into dicts for the validator.

Row numbers follow what a person sees: for CSV and XLSX the spreadsheet row (the header is row 1, so
the first record is row 2); for JSON the record's position in the list (1-based).
A cell holding JSON (``[...]`` or ``{...}``) is decoded, so repeats and GeoJSON fit in a spreadsheet.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .errors import CensusError, Code
from .unicode_text import has_lone_surrogate, lone_surrogate_at

MAX_FILE_BYTES = 512 * 1024 * 1024


class RecordFileError(CensusError, OSError):
    pass


@dataclass(frozen=True)
class RecordRow:
    row: int          # what the user sees: spreadsheet row, or position in a JSON list
    record: Any


def _cell(v: Any) -> Any:
    if isinstance(v, str):
        s = v.strip()
        if s[:1] in "[{" and s[-1:] in "]}":
            try:
                value = json.loads(s)
            except ValueError:
                return s
            # a lone surrogate escape cannot be stored: the cell stays the text it is (the validator then
            # says what is wrong with it for its field)
            return s if has_lone_surrogate(s, value) else value
        return s
    return v


def _json_rows(path: Path) -> Iterator[RecordRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = json.loads(text)
    except UnicodeDecodeError as e:
        raise RecordFileError(f"{path}: 不是 UTF-8 编码的文本", f"{path}: not UTF-8 text",
                              code=Code.FILE_UNREADABLE) from e
    except json.JSONDecodeError as e:
        raise RecordFileError(f"{path}: JSON 格式错误（第{e.lineno}行第{e.colno}列：{e.msg}）",
                              f"{path}: malformed JSON (line {e.lineno}, column {e.colno}: {e.msg})",
                              code=Code.FILE_UNREADABLE) from e
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    items = data if isinstance(data, list) else [data]
    if has_lone_surrogate(text, items):
        for i, rec in enumerate(items, start=1):
            at = lone_surrogate_at(rec)
            if at is not None:
                where = "/".join(map(str, at)) or "（整条记录）"
                raise RecordFileError(
                    f"{path}: 第 {i} 条记录的“{where}”含无法保存的字符（孤立的 \\ud800–\\udfff 转义，多为错误转码），"
                    "请修正后重新导入；本文件未导入任何记录",
                    f"{path}: record {i}, '{where}' holds a character that cannot be stored (a lone \\ud800-\\udfff "
                    "escape, usually from a bad conversion); fix it and import again. Nothing from this file was added",
                    code=Code.FILE_UNREADABLE)
    for i, rec in enumerate(items, start=1):
        yield RecordRow(i, rec)


def _csv_rows(path: Path) -> Iterator[RecordRow]:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves CSV as GBK
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RecordFileError(f"{path}: 无法识别的文本编码，请另存为 UTF-8 CSV",
                              f"{path}: unknown text encoding; save it as UTF-8 CSV", code=Code.FILE_UNREADABLE)
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise RecordFileError(f"{path}: 文件为空或缺少表头", f"{path}: empty or no header row", code=Code.FILE_UNREADABLE)
    header = [h.strip() for h in header]
    for n, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        yield RecordRow(n, {h: _cell(c) for h, c in zip(header, cells) if h})


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[RecordRow]:
    import zipfile

    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as e:
        raise RecordFileError(f"{path}: 不是有效的 Excel (.xlsx) 文件", f"{path}: not a valid .xlsx workbook",
                              code=Code.FILE_UNREADABLE) from e
    try:
        ws = wb[sheet] if sheet and sheet in wb.sheetnames else wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if not header:
            raise RecordFileError(f"{path}: 工作表为空或缺少表头", f"{path}: empty sheet or no header row",
                                  code=Code.FILE_UNREADABLE)
        names = [str(h).strip() if h is not None else "" for h in header]
        for n, cells in enumerate(rows, start=2):
            if not any(c not in (None, "") for c in cells):
                continue
            yield RecordRow(n, {h: _cell(c) for h, c in zip(names, cells) if h and c is not None})
    finally:
        wb.close()


def read_records(path: str | Path, *, sheet: str | None = None) -> Iterator[RecordRow]:
    """Records of a .json, .csv or .xlsx file, each with the row number a person would look for."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "找不到文件 / file not found", str(path))
    if path.stat().st_size > MAX_FILE_BYTES:
        raise RecordFileError(f"{path}: 文件超过 512 MB，请拆分后导入", f"{path}: larger than 512 MB; split it",
                              code=Code.FILE_UNREADABLE)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _json_rows(path)
    if suffix == ".csv":
        return _csv_rows(path)
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path, sheet)
    raise RecordFileError(f"{path}: 不支持的文件类型 {suffix}，请使用 .json、.csv 或 .xlsx",
                          f"{path}: unsupported file type {suffix}; use .json, .csv or .xlsx", code=Code.FILE_UNREADABLE)
