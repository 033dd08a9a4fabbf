"""Typed registry of the hazards the risk assessment covers, how each is assessed, and its constants.

Ids are stable: they are column prefixes in every risk layer (``flood_loss``, ``flood_level`` …) and the
values of ``census map zoning --hazard``. Two methods (docs/RISK_METHODS.md §2–§4):

- ``loss``: hazard intensity × vulnerability curve × replacement value → expected annual loss (CNY/yr),
  integrated over annual exceedance probability from the layers in :attr:`RiskHazard.curve`;
- ``index``: hazard class score × exposure × vulnerability score (a 0–1 index, no money).

Every number here that is a choice rather than a published value says so in its ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass

from risk.errors import UnknownRiskHazard


@dataclass(frozen=True)
class CurvePoint:
    """One point of a hazard curve: the intensity of ``layer`` × ``factor`` is the ``return_period`` event."""

    return_period: float
    layer: str
    factor: float = 1.0


@dataclass(frozen=True)
class RiskHazard:
    id: str
    name_zh: str
    name_en: str
    family: str                     # hazards.registry family id
    method: str                     # "loss" | "index"
    layers: tuple[str, ...]         # hazard layer ids (hazards.registry) the assessment reads
    weight: float                   # default weight in the comprehensive index
    source: str
    intensity_layer: str = ""       # layer whose value is H_intensity and whose classes give the hazard level
    curve: tuple[CurvePoint, ...] = ()          # loss hazards: points of the hazard curve
    zero_loss_return_period: float | None = None  # loss is 0 for events this frequent (EAL anchor)
    curve_source: str = ""

    @property
    def is_loss(self) -> bool:
        return self.method == "loss"


# GB 18306-2015 §6.2: 多遇 (63 % in 50 yr ≈ 50-yr) ≥ 1/3 × basic PGA; 罕遇 (2 % in 50 yr ≈ 2475-yr)
# 1.6–2.3 ×; 极罕遇 (annual 1e-4 ≈ 10 000-yr) 2.7–3.2 ×. We take 1/3 and the midpoints 1.95 and 2.95.
_EQ_CURVE = (
    CurvePoint(50, "eq_pga_475", 1.0 / 3.0),
    CurvePoint(475, "eq_pga_475", 1.0),
    CurvePoint(2475, "eq_pga_475", 1.95),
    CurvePoint(10000, "eq_pga_475", 2.95),
)

RISK_HAZARDS: tuple[RiskHazard, ...] = (
    RiskHazard(
        id="earthquake", name_zh="地震", name_en="earthquake", family="earthquake", method="loss",
        layers=("eq_pga_475", "eq_pga_scenario"), weight=0.25, intensity_layer="eq_pga_475",
        curve=_EQ_CURVE,
        source="HAZUS-MH equivalent-PGA fragility (Technical Manual Tables 5.16a–d, β = 0.64) and repair-cost "
               "ratios (Tables 15.2–15.4); census structure type + design level → HAZUS classes by a weighted "
               "taxonomy mapping (risk/data/eq_taxonomy_mapping.csv)",
        curve_source="GB 18306-2015 §6.2 ratios of frequent (1/3), rare (1.6–2.3, midpoint 1.95) and very rare "
                     "(2.7–3.2, midpoint 2.95) to basic PGA; events rarer than 10 000 yr held at the 10 000-yr loss",
    ),
    RiskHazard(
        id="flood", name_zh="洪水", name_en="flood", family="flood", method="loss",
        layers=tuple(f"flood_depth_rp{rp}" for rp in (10, 20, 50, 100)), weight=0.25,
        intensity_layer="flood_depth_rp100",
        curve=tuple(CurvePoint(rp, f"flood_depth_rp{rp}") for rp in (10, 20, 50, 100)),
        zero_loss_return_period=2.0,
        source="Huizinga et al. 2017 (JRC, EUR 28552 EN, doi:10.2760/16510) Asia depth–damage curves by "
               "sector; only storeys below the water surface are damaged (3 m storeys, assumption)",
        curve_source="trapezoidal over annual exceedance probability through the 10/20/50/100-yr depths; the "
                     "2-yr flood does no damage (bankfull discharge recurs every 1.5–2 yr — assumption); events "
                     "rarer than 100 yr held at the 100-yr loss",
    ),
    RiskHazard(
        id="storm_surge", name_zh="风暴潮", name_en="storm surge", family="marine", method="loss",
        layers=("storm_surge_depth",), weight=0.10, intensity_layer="storm_surge_depth",
        curve=(CurvePoint(100, "storm_surge_depth"),),
        source="Huizinga et al. 2017 Asia depth–damage curves (coastal inundation treated as flood depth)",
        curve_source="the layer carries no return period: assumed the 100-yr surge (assumption); one point → "
                     "annual loss = loss × 1/100 (probability × consequence, a lower bound)",
    ),
    RiskHazard(
        id="wind", name_zh="大风（台风）", name_en="strong wind / typhoon", family="meteorological",
        method="loss", layers=("wind_gust",), weight=0.10, intensity_layer="wind_gust",
        curve=(CurvePoint(50, "wind_gust"),),
        source="Emanuel (2011) wind damage function f = v_n³/(1+v_n³), v_n = max(v−25.7,0)/(v_half−25.7), "
               "v_half = 80.2 m/s for China mainland (Eberenz et al. 2021, NHESS 21:393, region WP3, RMSF)",
        curve_source="one point, the 50-yr gust → annual loss = loss × 1/50 (probability × consequence, a "
                     "lower bound); the gust is used as is (conservative: the curve was fitted to 1-min winds)",
    ),
    RiskHazard(
        id="geological", name_zh="地质灾害", name_en="geological hazards", family="geological",
        method="index", layers=("geo_susceptibility",), weight=0.10, intensity_layer="geo_susceptibility",
        source="index: susceptibility class score × exposure × structure vulnerability score "
               "(risk/data/index_vulnerability.yaml)",
    ),
    RiskHazard(
        id="rainstorm", name_zh="暴雨", name_en="rainstorm", family="meteorological", method="index",
        layers=("rainstorm",), weight=0.10, intensity_layer="rainstorm",
        source="index: GB/T 28592 rain-grade class score × exposure × vulnerability score",
    ),
    RiskHazard(
        id="drought", name_zh="干旱", name_en="drought", family="flood", method="index",
        layers=("drought",), weight=0.05, intensity_layer="drought",
        source="index: drought hazard class score × exposure × vulnerability score (rural > urban)",
    ),
    RiskHazard(
        id="fire", name_zh="森林草原火灾", name_en="forest and grassland fire", family="fire", method="index",
        layers=("fire_danger",), weight=0.05, intensity_layer="fire_danger",
        source="index: fire-danger class score × exposure × vulnerability score (timber and earth-timber "
               "houses most vulnerable)",
    ),
)

RISK_HAZARD_IDS: tuple[str, ...] = tuple(h.id for h in RISK_HAZARDS)
_BY_ID = {h.id: h for h in RISK_HAZARDS}


def get_risk_hazard(hazard_id: str) -> RiskHazard:
    """The hazard ``hazard_id``; an unknown id raises :class:`UnknownRiskHazard` listing the valid ones."""
    try:
        return _BY_ID[hazard_id]
    except (KeyError, TypeError):
        raise UnknownRiskHazard(hazard_id, RISK_HAZARD_IDS) from None


# --------------------------------------------------------------------------------------------------
# Scores and goalposts (docs/RISK_METHODS.md §5). Log-scaled with fixed goalposts, as INFORM does, so a
# county's index does not depend on which other counties are assessed with it.

@dataclass(frozen=True)
class Goalpost:
    """``score = clip((log10(x) − log10(lo)) / (log10(hi) − log10(lo)), 0, 1)``; x ≤ 0 scores 0."""

    name: str
    lo: float
    hi: float
    unit: str
    source: str


BUILDING_LOSS_RATIO = Goalpost("building_loss_ratio", 1e-5, 1e-1, "1/yr",
                               "annual loss / replacement value: 0.001 % a year scores 0, 10 % a year scores 1, "
                               "0.1 % a year (a typical masonry house in a 0.10 g zone) 0.5 — choice")
AREA_LOSS_DENSITY = Goalpost("area_loss_density", 1e2, 1e6, "CNY/yr/km²",
                             "annual loss per km²: 100 CNY scores 0, 1 million CNY scores 1 — choice")
VALUE_DENSITY = Goalpost("value_density", 1e5, 1e9, "CNY/km²",
                         "replacement value per km² (exposure score, half of it) — choice")
PEOPLE_DENSITY = Goalpost("people_density", 1.0, 1e4, "persons/km²",
                          "residents per km² (exposure score, other half) — choice")

# Lack of coping capacity enters the geometric mean as LCC = LCC_FLOOR + (1 − LCC_FLOOR)(1 − C): the
# best-equipped place keeps a floor, since min–max capacity 1 means "best in the county", not "no risk".
LCC_FLOOR = 0.1

# Fixed zoning thresholds on every 0–1 index: ≥0.8 level 1 高 … <0.2 level 5 低 (equal intervals).
FIXED_INDEX_BREAKS: tuple[float, float, float, float] = (0.2, 0.4, 0.6, 0.8)

# Hazard levels counted as "people exposed" (H_people): 1 高 and 2 较高.
PEOPLE_EXPOSED_MAX_LEVEL = 2


def comprehensive_weights() -> dict[str, float]:
    """Default weights normalised to sum 1 (docs/RISK_METHODS.md §6)."""
    total = sum(h.weight for h in RISK_HAZARDS)
    return {h.id: h.weight / total for h in RISK_HAZARDS}
