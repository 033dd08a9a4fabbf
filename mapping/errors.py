"""Errors raised by :mod:`mapping`: :class:`schemas.errors.CensusError` (a ValueError) with zh/en text."""

from __future__ import annotations

from schemas.errors import CensusError


class MappingError(CensusError):
    """A map or report that cannot be made from the given inputs, saying what to fix."""

    def __str__(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


class FontNotFound(MappingError):
    """No CJK font: refuse rather than draw boxes (tofu) where the Chinese text should be."""

    def __init__(self, tried: tuple[str, ...]):
        listed = "、".join(tried)
        super().__init__(
            "未找到中文字体，无法制作中文地图和报告（否则汉字会显示为方框）。请安装中文字体后重试："
            "Debian/Ubuntu 运行 `apt install fonts-wqy-microhei`（或 fonts-noto-cjk），Windows 自带微软雅黑/黑体；"
            f"也可设置环境变量 CENSUS_CJK_FONT=字体文件路径。已查找：{listed}",
            "no CJK font found, so Chinese maps and reports cannot be drawn (the text would show as boxes). "
            "Install one and retry: on Debian/Ubuntu `apt install fonts-wqy-microhei` (or fonts-noto-cjk); "
            "Windows ships Microsoft YaHei/SimHei; or set CENSUS_CJK_FONT=/path/to/font. "
            f"Looked for: {', '.join(tried)}")
        self.tried = tried


class RiskOutputsMissing(MappingError, LookupError):
    """The county GeoPackage has no (or incomplete) ``risk_*`` layers."""

    def __init__(self, gpkg: object, missing: tuple[str, ...]):
        listed = ", ".join(missing)
        super().__init__(
            f"{gpkg} 中没有风险评估结果（缺少图层 {listed}）；请先运行 "
            f"`census risk assess --gpkg {gpkg} --hazards 致灾因子目录`，再制作区划图或报告",
            f"{gpkg} has no risk-assessment outputs (missing layers {listed}); run "
            f"`census risk assess --gpkg {gpkg} --hazards HAZARD_DIR` first, then make the maps or the report")
        self.missing = missing


class RiskColumnMissing(MappingError, LookupError):
    """A risk layer exists but lacks a column the map needs (an older or partial assessment)."""

    def __init__(self, gpkg: object, layer: str, column: str, hint_zh: str = "", hint_en: str = ""):
        super().__init__(
            f"{gpkg} 的图层 {layer} 缺少字段 {column}{hint_zh}；请重新运行 `census risk assess`",
            f"layer {layer} of {gpkg} has no column {column}{hint_en}; re-run `census risk assess`")


class NotACountyGpkg(MappingError, FileNotFoundError):
    """The file is missing or is not a county GeoPackage made by `census county init`."""

    def __init__(self, path: object, why_zh: str, why_en: str):
        super().__init__(f"{path}：{why_zh}", f"{path}: {why_en}")
        self.filename = str(path)


class AssessmentMissing(MappingError, LookupError):
    """The hidden-danger or historical-disaster layers (``census risk dangers`` / ``census risk history``)
    are not in the county GeoPackage."""

    def __init__(self, gpkg: object, missing: tuple[str, ...], what_zh: str, what_en: str, command: str):
        listed = ", ".join(missing)
        super().__init__(
            f"{gpkg} 中没有{what_zh}结果（缺少图层 {listed}）；请先运行 `{command}`，再制图",
            f"{gpkg} has no {what_en} (missing layers {listed}); run `{command}` first, then make the map")
        self.missing = missing
