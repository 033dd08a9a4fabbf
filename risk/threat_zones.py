"""Typed registry of threat-zone rules for key hidden dangers (重点隐患威胁范围) and of the ranking scores.

Every number is data here, with its source or, where no published value fits a county census, the
stated assumption (docs/HIDDEN_DANGERS_HISTORY.md §1). Kinds:

- ``landslide``, ``collapse`` (rockfall), ``debris_flow`` → run-out downslope on the DEM within a reach
  angle (Fahrböschung) from the volume: tan α = H/L = 10^(a + b·log10 V), V in m³ (Corominas 1996);
- ``subsidence`` → the reported collapse area as a circle plus a margin;
- ``chemical`` → a circle by major-hazard level / safety grade;
- ``dyke_weak_section``, ``reservoir`` → the flooded strip (flood depth > 0) connected to the section
  within a distance by grade or scale;
- everything else → a circle by scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from risk.errors import RiskError

RUNOUT_KINDS = ("landslide", "collapse", "debris_flow")
FLOOD_KINDS = ("dyke_weak_section", "reservoir")


@dataclass(frozen=True)
class ReachAngleRule:
    """Fahrböschung run-out: cells downhill of the source whose drop from the source top over the path
    length is at least tan α, with log10(tan α) = a + b·log10(V m³), α clamped to [min, max] degrees."""

    kind: str
    a: float
    b: float
    min_angle_deg: float
    max_angle_deg: float
    max_runout_m: float
    source_thickness_m: float      # source area = V / thickness → radius of the source disc
    source: str

    def tan_reach(self, volume_m3: float) -> float:
        v = max(float(volume_m3), 1.0)
        t = 10.0 ** (self.a + self.b * math.log10(v))
        lo, hi = (math.tan(math.radians(x)) for x in (self.min_angle_deg, self.max_angle_deg))
        return min(max(t, lo), hi)

    def angle_deg(self, volume_m3: float) -> float:
        return math.degrees(math.atan(self.tan_reach(volume_m3)))

    def source_radius_m(self, volume_m3: float) -> float:
        r = math.sqrt(max(float(volume_m3), 1.0) / (math.pi * self.source_thickness_m))
        return min(max(r, MIN_SOURCE_RADIUS_M), MAX_SOURCE_RADIUS_M)


_COROMINAS = ("Corominas J. (1996) The angle of reach as a mobility index for small and large landslides. "
              "Can. Geotech. J. 33:260–271, regression of log(H/L) on log(V) per type (coefficients as "
              "quoted in the literature; check against the paper's table before official use)")

REACH_RULES: dict[str, ReachAngleRule] = {
    # all landslides: log(H/L) = 0.047 − 0.085 log V
    "landslide": ReachAngleRule("landslide", 0.047, -0.085, 11.0, 35.0, 2500.0, 8.0, _COROMINAS),
    # rockfalls: log(H/L) = 0.210 − 0.109 log V; not below the 27.5° minimum shadow angle of Evans &
    # Hungr (1993, Can. Geotech. J. 30:620) — a rockfall's travel angle from the crown is steeper than that
    "collapse": ReachAngleRule("collapse", 0.210, -0.109, 27.5, 45.0, 1000.0, 5.0,
                               _COROMINAS + "; floor: Evans & Hungr 1993 minimum shadow angle 27.5°"),
    # debris flows (unobstructed paths): log(H/L) = −0.012 − 0.105 log V; they follow channels far
    "debris_flow": ReachAngleRule("debris_flow", -0.012, -0.105, 6.0, 30.0, 5000.0, 3.0, _COROMINAS),
}
MIN_SOURCE_RADIUS_M = 30.0     # assumption: a reported site stands for at least a 60 m wide source
MAX_SOURCE_RADIUS_M = 250.0
UPHILL_TOLERANCE_M = 0.5       # flats and DEM noise; any real rise stops the run-out
RUNOUT_CELL_M = 25.0           # run-out grid in the Gauss-Krüger CRS (the DEM is resampled bilinearly)

# Representative volumes (m³) when a site reports only its size class: the geometric middle of the
# DZ/T 0286-2015 (地质灾害危险性评估规范) size classes as the geohazard_site form checks them
# (landslide small < 10×10⁴ m³ … giant ≥ 1000×10⁴; rockfall small < 1×10⁴ …; debris flow small < 2×10⁴ …).
SCALE_VOLUME_M3: dict[str, dict[str, float]] = {
    "landslide": {"small": 3e4, "medium": 3e5, "large": 3e6, "giant": 1.5e7},
    "collapse": {"small": 3e3, "medium": 3e4, "large": 3e5, "giant": 1.5e6},
    "debris_flow": {"small": 6e3, "medium": 6e4, "large": 3e5, "giant": 8e5},
}
# key_hidden_danger sizes (重大/较大/一般) read as geohazard size classes
DANGER_SCALE_AS_GEO = {"major": "large", "large": "medium", "general": "small"}


@dataclass(frozen=True)
class BufferRule:
    key: str
    radius_m: float
    source: str


_CHEM_SRC = ("assumption: order of the external safety distances of GB/T 37243-2019 and GB 36894-2018 "
             "individual-risk contours for major hazard installations (hundreds of metres to about 1.5 km) "
             "and of the 1 km ring the census form asks about (people_within_1km)")
# hazardous-chemical sites: by major-hazard level (GB 18218-2018: 一级 highest … 四级), else by safety grade
CHEMICAL_BUFFERS: dict[str, BufferRule] = {
    "major_1": BufferRule("major_1", 1500.0, _CHEM_SRC),
    "major_2": BufferRule("major_2", 1200.0, _CHEM_SRC),
    "major_3": BufferRule("major_3", 1000.0, _CHEM_SRC),
    "major_4": BufferRule("major_4", 800.0, _CHEM_SRC),
    "grade_A": BufferRule("grade_A", 1500.0, _CHEM_SRC),
    "grade_B": BufferRule("grade_B", 1000.0, _CHEM_SRC),
    "grade_C": BufferRule("grade_C", 800.0, _CHEM_SRC),
    "grade_D": BufferRule("grade_D", 500.0, _CHEM_SRC),
    "no_major_large_store": BufferRule("no_major_large_store", 500.0, _CHEM_SRC + "; ≥100 t stored"),
    "no_major": BufferRule("no_major", 300.0, _CHEM_SRC),
    # key_hidden_danger 'chemical_vicinity' by its size class
    "major": BufferRule("major", 1500.0, _CHEM_SRC),
    "large": BufferRule("large", 1000.0, _CHEM_SRC),
    "general": BufferRule("general", 500.0, _CHEM_SRC),
}
CHEMICAL_LARGE_STORE_T = 100.0

_ASSUMED = "assumption (no national rule for this census item): order of the zone a township would evacuate"
# other kinds by key_hidden_danger size class (major / large / general)
SCALE_BUFFERS: dict[str, dict[str, float]] = {
    "dangerous_house": {"major": 60.0, "large": 40.0, "general": 25.0},    # collapse onto neighbours
    "crowded_place": {"major": 300.0, "large": 200.0, "general": 100.0},
    "forest_fire": {"major": 1000.0, "large": 600.0, "general": 300.0},     # wildland–settlement interface
    "landslide": {"major": 400.0, "large": 250.0, "general": 150.0},        # run-out without a DEM
    "collapse": {"major": 200.0, "large": 120.0, "general": 60.0},
    "debris_flow": {"major": 800.0, "large": 500.0, "general": 300.0},
    "subsidence": {"major": 300.0, "large": 150.0, "general": 80.0},
    "dyke_weak_section": {"major": 1500.0, "large": 1000.0, "general": 600.0},  # without a flood layer
    "reservoir": {"major": 3000.0, "large": 2000.0, "general": 1000.0},
    "other": {"major": 500.0, "large": 300.0, "general": 150.0},
}
SCALE_BUFFER_SOURCE = _ASSUMED
SUBSIDENCE_MARGIN_M = 50.0     # assumption: cracks and settlement beyond the mapped collapse area

# dyke weak sections: the flooded land behind them (flood depth > 0) within this distance, by dyke
# grade (GB 50286-2013: grade 1 protects ≥ 100-yr … grade 5 < 20-yr); reservoirs downstream by scale
FLOOD_STRIP_M: dict[str, float] = {"1": 3000.0, "2": 2500.0, "3": 2000.0, "4": 1500.0, "5": 1000.0,
                                   "major": 3000.0, "large": 2000.0, "general": 1000.0}
FLOOD_STRIP_SOURCE = ("assumption: an overtopping or breach floods the land it protects, taken as the flooded "
                      "cells (flood_depth layer > 0) connected to the section within 1–3 km by dyke grade "
                      "(GB 50286-2013 grades) or danger size")
FLOOD_CELL_M = 50.0


def scale_buffer(kind: str, scale: str | None) -> float:
    table = SCALE_BUFFERS.get(kind, SCALE_BUFFERS["other"])
    return table.get(scale or "general", table["general"])


def reach_rule(kind: str) -> ReachAngleRule:
    try:
        return REACH_RULES[kind]
    except KeyError:
        raise RiskError(f"未知的滑动类隐患类型“{kind}”；可用：{', '.join(REACH_RULES)}",
                        f"unknown run-out danger kind '{kind}'; valid: {', '.join(REACH_RULES)}") from None


def representative_volume(kind: str, scale: str | None) -> float:
    table = SCALE_VOLUME_M3.get(kind, SCALE_VOLUME_M3["landslide"])
    return table.get(scale or "small", table["small"])


# --------------------------------------------------------------------------------------------------
# Ranking (整治清单) — score out of 100, parts documented in docs/HIDDEN_DANGERS_HISTORY.md §1.4

@dataclass(frozen=True)
class ScoreWeights:
    people: float = 30.0             # log-scaled threatened people, full at PEOPLE_FULL
    facilities: float = 15.0         # schools, hospitals/clinics, welfare homes in the zone
    severity: float = 15.0           # size, stability, danger/major-hazard level
    risk: float = 20.0               # risk level (hazard level when no risk assessment) where it lies
    remediation: float = 20.0        # not treated scores highest: a treated site needs patrols, not a team

    @property
    def total(self) -> float:
        return self.people + self.facilities + self.severity + self.risk + self.remediation


SCORE_WEIGHTS = ScoreWeights()
PEOPLE_FULL = 1000.0                 # ≥ 1000 threatened people = full people score (特大型险情 threshold)
FACILITY_POINTS = {"school": 0.5, "hospital": 0.35, "welfare": 0.35}   # per facility, capped at 1
LEVEL_SCORE = {1: 1.0, 2: 0.75, 3: 0.5, 4: 0.25, 5: 0.0, 0: 0.5}   # 0: no level applies → counted as medium
REMEDIATION_SCORE = {"untreated": 1.0, "monitored": 0.7, "in_progress": 0.5, "treated": 0.1}
REMEDIATION_ZH = {"untreated": "未治理", "monitored": "仅监测/有预案，未工程治理", "in_progress": "治理中",
                  "treated": "已治理"}
# priority classes on the score
PRIORITY_BREAKS = ((60.0, 1, "一级（优先排查治理）", "priority 1 (inspect and remediate first)"),
                   (40.0, 2, "二级（限期排查）", "priority 2 (inspect within the season)"),
                   (-1.0, 3, "三级（常规巡查）", "priority 3 (routine patrols)"))
REPORTED_MISMATCH_FACTOR = 3.0       # reported vs. computed threatened people: ask to verify beyond ×3

KIND_ZH = {"landslide": "滑坡", "collapse": "崩塌", "debris_flow": "泥石流", "subsidence": "地面塌陷",
           "chemical": "危险化学品", "dyke_weak_section": "堤防险工险段", "reservoir": "病险水库",
           "dangerous_house": "危房", "crowded_place": "人员密集场所", "forest_fire": "森林火灾隐患",
           "other": "其他隐患"}
SCALE_ZH = {"small": "小型", "medium": "中型", "large": "大型", "giant": "巨型"}          # geohazard_scale
DANGER_SCALE_ZH = {"major": "重大", "large": "较大", "general": "一般"}                  # danger_scale
STABILITY_ZH = {"unstable": "不稳定", "fairly_stable": "较稳定", "stable": "稳定"}
FACILITY_GROUPS = {"school": ("school", "kindergarten"), "hospital": ("hospital", "clinic"),
                   "welfare": ("welfare_home",)}
FACILITY_ZH = {"school": "学校", "kindergarten": "幼儿园", "hospital": "医院", "clinic": "卫生院（室）",
               "welfare_home": "养老院/福利院"}
