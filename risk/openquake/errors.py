"""Errors for OpenQuake-format inputs: one line, Chinese first, naming the file, line and field."""

from __future__ import annotations

from pathlib import Path

from schemas.errors import CensusError, Code


class OQInputError(CensusError):
    """An OpenQuake input file (exposure, fragility NRML, GMF, sites, taxonomy mapping) that cannot be used.

    ``path``, ``line`` (1-based, None when the problem is not on one line) and ``field`` locate it.
    """

    def __init__(self, path: object, line: int | None, field: str | None, zh: str, en: str):
        name = Path(str(path)).name if path is not None else "?"
        where_zh = f"{name}" + (f" 第 {line} 行" if line else "") + (f" 字段“{field}”" if field else "")
        where_en = f"{name}" + (f" line {line}" if line else "") + (f", field '{field}'" if field else "")
        super().__init__(f"{where_zh}：{zh}", f"{where_en}: {en}", code=Code.FILE_UNREADABLE)
        self.path = str(path)
        self.line = line
        self.field = field

    def __str__(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


class OQFileNotFound(OQInputError, FileNotFoundError):
    """A named input file that does not exist."""

    def __init__(self, path: object, what_zh: str, what_en: str):
        super().__init__(path, None, None, f"找不到{what_zh}文件 {path}；请检查路径",
                         f"{what_en} file not found: {path}; check the path")
        self.filename = str(path)


def check_file(path: object, what_zh: str, what_en: str, max_bytes: int) -> Path:
    """The path as a Path, after checking it exists, is a file and is not absurdly large."""
    p = Path(str(path))
    if not p.is_file():
        raise OQFileNotFound(p, what_zh, what_en)
    size = p.stat().st_size
    if size > max_bytes:
        raise OQInputError(p, None, None, f"文件过大（{size} 字节，上限 {max_bytes}）；请拆分后再试",
                           f"file too large ({size} bytes, limit {max_bytes}); split it and retry")
    return p
