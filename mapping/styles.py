"""Typed registry of everything a map's look depends on: level colours, zone colours, palettes, lines, pages.

Risk and hazard level names and colours come from :mod:`hazards.registry` (one source for maps, tables
and the desktop app); the prevention-zone names from the ``prevention_zone`` code list. Only what is a
cartographic choice lives here, each with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from hazards.registry import NODATA_COLOUR, NODATA_LEVEL, RISK_LEVELS
from schemas.model import REFERENCE_DATE

REFERENCE_DATE_TEXT = REFERENCE_DATE.isoformat()  # 2020-12-31, the census reference point (普查标准时点)
MAP_CRS_LABEL_ZH = "坐标系：2000 国家大地坐标系（CGCS2000，EPSG:4490）"
MAP_CRS_LABEL_EN = "CRS: CGCS2000 geographic (EPSG:4490)"


@dataclass(frozen=True)
class ClassStyle:
    """One legend entry: a stored value (level or code), its names and its fill colour."""

    value: int | str
    name_zh: str
    name_en: str
    colour: str


def risk_level_styles() -> tuple[ClassStyle, ...]:
    """The five levels 高 较高 中 较低 低, in that order, with the registry's colours."""
    return tuple(ClassStyle(level, zh, en, colour) for level, zh, en, colour in RISK_LEVELS)


NODATA_STYLE = ClassStyle(NODATA_LEVEL, "无数据", "no data", NODATA_COLOUR)

# Prevention zones (综合防治区划): one red hue, darker = more urgent, so the map reads as a priority
# order and is not confused with the five-level red→green risk ramp.
_PREVENTION_COLOURS = {"key": "#cb181d", "secondary": "#fc9272", "general": "#fee5d9"}
PREVENTION_ORDER: tuple[str, ...] = ("key", "secondary", "general")


@lru_cache(maxsize=1)
def prevention_zone_styles() -> tuple[ClassStyle, ...]:
    """key 重点防治区, secondary 次重点防治区, general 一般防治区 — names from the code list."""
    from schemas.catalogue import shared_codelists

    codes = shared_codelists()["prevention_zone"]
    out = []
    for code in PREVENTION_ORDER:
        label = codes.label_of(code)
        out.append(ClassStyle(code, label.zh, label.en, _PREVENTION_COLOURS[code]))
    return tuple(out)


@dataclass(frozen=True)
class Palette:
    """A five-class sequential palette (lowest class first) for maps that are not risk levels."""

    name: str
    colours: tuple[str, str, str, str, str]
    source: str


# ColorBrewer (Brewer 2003) sequential schemes: print- and colour-blind-safe.
EXPOSURE_PALETTE = Palette("YlOrBr", ("#ffffd4", "#fed98e", "#fe9929", "#d95f0e", "#993404"),
                           "ColorBrewer YlOrBr-5: more exposure = darker brown")
CAPACITY_PALETTE = Palette("GnBu", ("#f0f9e8", "#bae4bc", "#7bccc4", "#43a2ca", "#0868ac"),
                           "ColorBrewer GnBu-5: more capacity = darker blue (better)")


@dataclass(frozen=True)
class LineStyle:
    colour: str
    width: float                 # points
    dashes: tuple[float, ...] = ()


COUNTY_LINE = LineStyle("#1a1a1a", 1.3)
TOWNSHIP_LINE = LineStyle("#2b2b2b", 0.7, (4.0, 1.5, 1.0, 1.5))   # 乡镇界: dash-dot, as on Chinese base maps
CELL_EDGE = LineStyle("#ffffff", 0.0)
NEIGHBOUR_FILL = "#f2f2f0"
NEIGHBOUR_EDGE = LineStyle("#a8a8a8", 0.5)
SEA_FILL = "#d4e9f5"
SEA_TEXT = "#4a7fa8"
GRATICULE = LineStyle("#7f7f7f", 0.3, (2.0, 2.0))
LABEL_COLOUR = "#111111"
LABEL_HALO = "#ffffff"


@dataclass(frozen=True)
class PageSize:
    name: str
    width_in: float
    height_in: float


A4_LANDSCAPE = PageSize("A4 landscape", 11.69, 8.27)
A4_PORTRAIT = PageSize("A4 portrait", 8.27, 11.69)
PNG_DPI = 300
