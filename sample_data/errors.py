"""Errors raised while building a sample county.

All are :class:`schemas.errors.CensusError` (hence ``ValueError``) so the CLI can print their zh/en line;
a missing file is also a ``FileNotFoundError`` (exit code 2 in the CLI).
"""

from __future__ import annotations

from schemas.errors import CensusError, Code


class SampleDataError(CensusError):
    """Base class for problems with the inputs of a sample build."""

    def __str__(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


class UnknownCountyError(SampleDataError, KeyError):
    """A county code that is not in the shipped boundaries."""

    def __init__(self, code: object, valid: dict[str, str]):
        listed = "、".join(f"{c} {n}" for c, n in valid.items())
        listed_en = ", ".join(f"{c} {n}" for c, n in valid.items())
        super().__init__(
            f"内置边界中没有县级区划代码“{code}”；可用的有：{listed}；其他县请用 --boundary 提供边界文件",
            f"county code '{code}' is not in the shipped boundaries; valid codes: {listed_en}; "
            f"for another county pass --boundary FILE.geojson",
        )
        self.given = code
        self.valid = valid


class BoundaryFileError(SampleDataError):
    """A --boundary (or --sea) file that cannot be used, with what to fix."""

    def __init__(self, path: object, problem_zh: str, problem_en: str):
        super().__init__(f"{path}: {problem_zh}", f"{path}: {problem_en}", code=Code.FILE_UNREADABLE)
        self.filename = str(path)


class BoundaryFileNotFound(SampleDataError, FileNotFoundError):
    """A --boundary or --sea file that does not exist."""

    def __init__(self, path: object, what_zh: str = "边界文件", what_en: str = "boundary file"):
        super().__init__(
            f"找不到{what_zh}：{path}；请检查路径",
            f"{what_en} not found: {path}; check the path",
            code=Code.FILE_UNREADABLE,
        )
        self.filename = str(path)


class SampleBuildError(SampleDataError):
    """The requested sample cannot be built (e.g. far too many buildings for the county)."""
