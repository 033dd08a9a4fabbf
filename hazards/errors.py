"""Errors raised by :mod:`hazards`.

All are :class:`schemas.errors.CensusError` (hence ``ValueError``) so shells can show their zh/en text;
each also subclasses the built-in a caller would naturally catch (``KeyError`` for an unknown id,
``FileNotFoundError`` for a missing raster), following rasterio's habit.
"""

from __future__ import annotations

from schemas.errors import CensusError, Code


class HazardError(CensusError):
    """Base class for hazard-layer problems a user can fix."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return f"{self.message_zh} / {self.message_en}"


class UnknownHazard(HazardError, KeyError):
    """A hazard layer or family id that is not in the registry."""

    def __init__(self, kind: str, given: object, valid: tuple[str, ...]):
        listed = ", ".join(valid)
        kind_zh = {"layer": "致灾因子图层", "family": "灾害类别"}.get(kind, kind)
        super().__init__(
            f"未知的{kind_zh}“{given}”；可用的有：{listed}",
            f"unknown hazard {kind} '{given}'; valid ids: {listed}",
        )
        self.given = given
        self.valid = valid


class CRSMismatchError(HazardError):
    """Data are not in the CRS they must be in. We never reproject silently: the caller must decide."""

    def __init__(self, what: str, actual: object, expected: object):
        actual_txt = str(actual) if actual else "无坐标系 / none"
        super().__init__(
            f"{what} 的坐标系为 {actual_txt}，与要求的 {expected} 不一致；请先将数据转换到 {expected} 再使用",
            f"{what} is in CRS {actual_txt}, not the required {expected}; reproject it to {expected} first",
        )
        self.what = what
        self.actual = actual
        self.expected = expected


class RasterNotFoundError(HazardError, FileNotFoundError):
    """A raster or NetCDF file that does not exist."""

    def __init__(self, path: object):
        super().__init__(
            f"找不到栅格文件：{path}；请检查路径或先生成该致灾因子图层",
            f"raster file not found: {path}; check the path or generate the hazard layer first",
            code=Code.FILE_UNREADABLE,
        )
        self.filename = str(path)


class RasterFormatError(HazardError):
    """A raster whose structure we cannot use (rotated grid, mismatched stack, missing variable…)."""

    def __init__(self, message_zh: str, message_en: str):
        super().__init__(message_zh, message_en, code=Code.FILE_UNREADABLE)
