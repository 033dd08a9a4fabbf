"""The numbers in the report, computed from the county GeoPackage (plain DataFrames, no drawing).

Areas are measured in the county's Gauss-Krüger zone after clipping grid cells to the county, so
"share of the county's area" adds up to the county. Historical losses use county-level rows of
``disaster_annual`` when a year has them, and otherwise the sum of its township rows, so a year reported
at both levels is not counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from mapping.source import MapSource

LEVELS = (1, 2, 3, 4, 5)
HIST_FIRST_YEAR, HIST_LAST_YEAR = 1978, 2020


def _gk_area_km2(src: MapSource, geoms) -> np.ndarray:
    from pyproj import Transformer

    from exposure.footprints import gk_crs_for

    fwd = Transformer.from_crs("EPSG:4490", gk_crs_for(src.county.centroid.x), always_xy=True)
    g = shapely.transform(np.asarray(geoms, dtype=object), lambda xy: np.column_stack(fwd.transform(*xy.T)))
    return shapely.area(g) / 1e6


@lru_cache(maxsize=4)
def _cell_area(src: MapSource) -> np.ndarray:
    clipped = shapely.intersection(src.risk_grid.geometry.values, src.county)
    return _gk_area_km2(src, clipped)


def cell_area_km2(src: MapSource) -> np.ndarray:
    """Area of each risk-grid cell inside the county (km²)."""
    return _cell_area(src)


def county_area_km2(src: MapSource) -> float:
    return float(_gk_area_km2(src, [src.county])[0])


def hazard_names() -> dict[str, str]:
    from risk.registry import RISK_HAZARDS

    return {h.id: h.name_zh for h in RISK_HAZARDS}


def subjects(src: MapSource) -> list[tuple[str, str]]:
    """(id, zh name) of every assessed hazard, then comprehensive."""
    names = hazard_names()
    return [(h, names[h]) for h in src.assessed_hazards()] + [("comprehensive", "综合风险")]


def level_column(subject: str) -> str:
    return "comprehensive_level" if subject == "comprehensive" else f"{subject}_level"


def exposure_by_level(src: MapSource, measure: str = "population") -> pd.DataFrame:
    """Rows: subjects; columns: levels 1–5 (and 0); values: sum of ``measure`` (or area for 'area_km2')."""
    grid = src.risk_grid
    vals = cell_area_km2(src) if measure == "area_km2" else pd.to_numeric(grid[measure], errors="coerce").fillna(0).to_numpy()
    rows = {}
    for sid, name in subjects(src):
        col = level_column(sid)
        if col not in grid.columns:
            continue
        lv = grid[col].fillna(0).astype(int).to_numpy()
        rows[name] = {lvl: float(vals[lv == lvl].sum()) for lvl in (*LEVELS, 0)}
    return pd.DataFrame.from_dict(rows, orient="index")


def township_table(src: MapSource) -> pd.DataFrame:
    """One row per township from ``risk_townships`` with the name from the division layer."""
    rt = src.risk_townships.copy()
    names = src.township_names
    rt["name"] = [names.get(c) or n for c, n in zip(rt["township_code"], rt.get("township_name", rt["township_code"]))]
    rt["area_km2"] = _gk_area_km2(src, rt.geometry.values)
    return pd.DataFrame(rt.drop(columns="geometry"))


@dataclass(frozen=True)
class Summary:
    townships: int
    villages: int
    area_km2: float
    buildings: int
    floor_area: float
    value_cny: float
    population: float
    eal_cny: float                      # expected annual loss, all loss hazards
    level_area_share: dict[int, float]  # comprehensive level → share of county area
    level_pop_share: dict[int, float]
    prevention_area_share: dict[str, float]
    top_townships: list[tuple[str, int, str]]   # (name, comprehensive level, dominant hazard zh)
    completeness_pct: float | None
    records_received: int
    records_with_issues: int
    hist_years: tuple[int, int] | None
    hist_loss_wan: float


def summary(src: MapSource, status_rows: list[dict] | None = None) -> Summary:
    from risk.registry import RISK_HAZARDS

    tt = township_table(src)
    area = cell_area_km2(src)
    grid = src.risk_grid
    total_area = float(area.sum()) or 1.0
    comp = grid["comprehensive_level"].fillna(0).astype(int).to_numpy()
    pop = pd.to_numeric(grid["population"], errors="coerce").fillna(0).to_numpy()
    total_pop = float(pop.sum()) or 1.0
    zones = grid["prevention_zone"].astype("string").fillna("")
    loss_cols = [f"{h.id}_loss" for h in RISK_HAZARDS if h.is_loss and f"{h.id}_loss" in tt.columns]
    eal = float(np.nansum(tt[loss_cols].to_numpy(dtype=float))) if loss_cols else float("nan")
    names = hazard_names()
    top = tt.sort_values(["comprehensive_level", "comprehensive_index"], ascending=[True, False]).head(5)
    top_list = [(str(r["name"]), int(r["comprehensive_level"]), names.get(str(r.get("dominant_hazard")), "—"))
                for _, r in top.iterrows()]
    rows = status_rows or []
    exp = sum(int(r.get("expected") or 0) for r in rows)
    got = sum(int(r.get("received_expected") or 0) for r in rows)
    hist = historical_by_year(src)
    villages = len(src.read("villages", columns=["code"])) if src.has("villages") else 0
    return Summary(
        townships=len(src.townships), villages=villages, area_km2=county_area_km2(src),
        buildings=int(tt["buildings"].sum()), floor_area=float(tt["floor_area"].sum()),
        value_cny=float(tt["value_cny"].sum()), population=float(tt["population"].sum()), eal_cny=eal,
        level_area_share={lvl: float(area[comp == lvl].sum()) / total_area for lvl in LEVELS},
        level_pop_share={lvl: float(pop[comp == lvl].sum()) / total_pop for lvl in LEVELS},
        prevention_area_share={z: float(area[(zones == z).to_numpy()].sum()) / total_area
                               for z in ("key", "secondary", "general")},
        top_townships=top_list,
        completeness_pct=(100.0 * got / exp) if exp else None,
        records_received=sum(int(r.get("received") or 0) for r in rows),
        records_with_issues=sum(int(r.get("has_issues") or 0) for r in rows),
        hist_years=(int(hist.index.min()), int(hist.index.max())) if len(hist) else None,
        hist_loss_wan=float(hist.sum().sum()) if len(hist) else 0.0,
    )


def _annual_rows(src: MapSource) -> pd.DataFrame:
    df = src.disaster_annual.copy()
    if not len(df):
        return df
    df["year"] = pd.to_numeric(df["year"], errors="coerce")
    df = df[(df["year"] >= HIST_FIRST_YEAR) & (df["year"] <= HIST_LAST_YEAR)]
    level = df.get("division_level", pd.Series("township", index=df.index)).astype(str)
    county_years = set(df.loc[level == "county", "year"])
    keep = (level == "county") | ~df["year"].isin(county_years)
    return df[keep]


def historical_by_year(src: MapSource, value: str = "direct_loss") -> pd.DataFrame:
    """Years 1978–2020 (rows, only years with records) × hazard type zh (columns): sum of ``value``."""
    df = _annual_rows(src)
    if not len(df):
        return pd.DataFrame()
    labels = hazard_type_labels()
    df = df.assign(hazard=df["hazard_type"].map(lambda c: labels.get(str(c), str(c))),
                   v=pd.to_numeric(df[value], errors="coerce").fillna(0))
    out = df.pivot_table(index="year", columns="hazard", values="v", aggfunc="sum", fill_value=0)
    out.index = out.index.astype(int)
    return out.sort_index()


def historical_totals(src: MapSource) -> pd.DataFrame:
    """Per hazard type: records, affected people, deaths, missing, collapsed houses, direct loss (万元)."""
    df = _annual_rows(src)
    if not len(df):
        return pd.DataFrame()
    labels = hazard_type_labels()
    cols = ["affected_people", "deaths", "missing", "collapsed_houses", "direct_loss"]
    df = df.assign(hazard=df["hazard_type"].map(lambda c: labels.get(str(c), str(c))))
    for c in cols:
        df[c] = pd.to_numeric(df.get(c), errors="coerce").fillna(0)
    g = df.groupby("hazard")
    out = g[cols].sum()
    out.insert(0, "years", g["year"].nunique())
    return out.sort_values("direct_loss", ascending=False)


@lru_cache(maxsize=1)
def hazard_type_labels() -> dict[str, str]:
    from schemas.catalogue import shared_codelists

    cl = shared_codelists().get("hazard_type")
    return {c.name: c.label.zh for c in cl.choices} if cl else {}
