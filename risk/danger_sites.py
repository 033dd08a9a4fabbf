"""Danger sites of the county GeoPackage as one point frame: what ``census risk dangers`` assesses.

Layers ``geohazard_site``, ``key_hidden_danger``, the weak sections of ``dyke``,
``hazardous_chemical_enterprise`` and ``chemical_danger_site`` (records not rejected), each mapped to a
threat-zone kind of :mod:`risk.threat_zones` with its size, severity (0–1), remediation status and the
people the enumerator reported (docs/HIDDEN_DANGERS_HISTORY.md §1.1).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from exposure.footprints import STORAGE_CRS, gk_crs_for
from risk import threat_zones as tz
from risk.errors import RiskError
from geodb import layers as L

NOT_REJECTED = "census_state IS NULL OR census_state <> 'rejected'"
KEY_DANGER_KIND = {"geohazard": "landslide", "dyke_weak_section": "dyke_weak_section",
                   "chemical_vicinity": "chemical", "risky_reservoir": "reservoir",
                   "dangerous_house": "dangerous_house", "crowded_place": "crowded_place",
                   "forest_fire": "forest_fire", "other": "other"}
SAME_SITE_M = 150.0   # a key_hidden_danger geohazard this close to a geohazard_site is the same place

SITE_COLUMNS = ("danger_uid", "source_layer", "source_id", "census_uuid", "name", "kind", "township_code",
                "village_code", "scale", "volume_m3", "area_km2", "stability", "severity", "severity_zh",
                "remediation", "reported_people", "reported_level", "also_reported_as")


def _layers(gpkg: Path) -> set[str]:
    if not L.exists(gpkg):
        raise FileNotFoundError(2, "找不到县级数据库 / county GeoPackage not found", str(gpkg))
    return set(L.list_layers(gpkg))


def _read(gpkg: Path, layer: str):
    df = L.read_dataframe(gpkg, layer, where=NOT_REJECTED)
    if df.crs is not None and df.crs.to_epsg() != 4490:
        raise RiskError(f"{gpkg}:{layer} 的坐标系为 {df.crs.to_string()}，应为 EPSG:4490",
                        f"{gpkg}:{layer} is in {df.crs.to_string()}, not EPSG:4490")
    return df


def _s(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def _f(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _geohazard_rows(df) -> list[dict]:
    rows = []
    for r in df.itertuples(index=False):
        if r.geometry is None or r.geometry.is_empty:
            continue
        kind = _s(getattr(r, "hazard_type", None)) or "landslide"
        if kind not in (*tz.RUNOUT_KINDS, "subsidence"):
            kind = "landslide"
        scale = _s(getattr(r, "scale", None)) or "small"
        vol = _f(getattr(r, "volume", None))
        stab = _s(getattr(r, "stability", None))
        monitoring = set((_s(getattr(r, "monitoring", None)) or "").split())
        if monitoring & {"engineering", "relocation"}:
            rem = "treated"
        elif monitoring - {"none", ""}:
            rem = "monitored"
        else:
            rem = "untreated"
        stab_s = {"unstable": 1.0, "fairly_stable": 0.6, "stable": 0.2}.get(stab or "", 0.6)
        scale_s = {"giant": 1.0, "large": 0.85, "medium": 0.6, "small": 0.35}.get(scale, 0.35)
        rows.append(dict(
            source_layer="geohazard_site", source_id=_s(r.site_id), census_uuid=_s(r.census_uuid),
            name=_s(getattr(r, "site_name", None)) or _s(r.site_id), kind=kind,
            township_code=_s(r.township_code), village_code=_s(getattr(r, "village_code", None)), scale=scale,
            volume_m3=vol * 1e4 if vol else None,                     # the form records 万 m³
            area_km2=_f(getattr(r, "subsidence_area", None)), stability=stab,
            severity=round(0.6 * stab_s + 0.4 * scale_s, 3),
            severity_zh="、".join(x for x in (tz.STABILITY_ZH.get(stab or ""),
                                             tz.SCALE_ZH.get(scale, "") + tz.KIND_ZH[kind]) if x),
            remediation=rem, reported_people=_f(getattr(r, "threatened_people", None)),
            reported_level=_s(getattr(r, "danger_level", None)), geometry=r.geometry))
    return rows


def _key_danger_rows(df) -> list[dict]:
    rows = []
    for r in df.itertuples(index=False):
        if r.geometry is None or r.geometry.is_empty:
            continue
        dtype = _s(r.danger_type) or "other"
        kind = KEY_DANGER_KIND.get(dtype, "other")
        scale = _s(r.scale) or "general"
        rem = _s(getattr(r, "remediation_status", None)) or "untreated"
        measures = set((_s(getattr(r, "measures", None)) or "").split())
        if rem == "untreated" and measures & {"monitoring", "warning_sign", "emergency_plan", "drill"}:
            rem = "monitored"
        label = tz.KIND_ZH[kind] if kind != "other" else (_s(getattr(r, "danger_type_other", None)) or "其他隐患")
        rows.append(dict(
            source_layer="key_hidden_danger", source_id=_s(r.danger_id), census_uuid=_s(r.census_uuid),
            name=_s(r.danger_name) or _s(r.danger_id), kind=kind, township_code=_s(r.township_code),
            village_code=_s(r.village_code), scale=scale, volume_m3=None, area_km2=None, stability=None,
            severity={"major": 1.0, "large": 0.7, "general": 0.4}.get(scale, 0.4),
            severity_zh=f"{tz.DANGER_SCALE_ZH.get(scale, '')}{label}" + ("" if label.endswith("隐患") else "隐患"),
            remediation=rem,
            reported_people=_f(r.threatened_people), reported_level=_s(getattr(r, "risk_level", None)),
            geometry=r.geometry))
    return rows


def _dyke_rows(df) -> list[dict]:
    import shapely

    rows = []
    for r in df.itertuples(index=False):
        if _s(getattr(r, "has_weak_sections", None)) != "1":
            continue
        try:
            sections = json.loads(r.weak_sections) if isinstance(r.weak_sections, str) else (r.weak_sections or [])
        except json.JSONDecodeError:
            sections = []
        line = r.geometry
        grade = _s(getattr(r, "grade", None)) or "4"
        up_to_std = _s(getattr(r, "up_to_standard", None))
        for k, sec in enumerate(sections or [{}], start=1):
            pt = None
            wp = sec.get("weak_point") if isinstance(sec, Mapping) else None
            if isinstance(wp, Mapping) and wp.get("coordinates"):
                pt = shapely.Point(wp["coordinates"][:2])
            elif line is not None and not line.is_empty:
                pt = line.interpolate(0.5, normalized=True)
            if pt is None:
                continue
            problem = sec.get("weak_problem") if isinstance(sec, Mapping) else None
            sev = {"1": 1.0, "2": 0.85, "3": 0.7, "4": 0.55, "5": 0.4}.get(grade, 0.55)
            if up_to_std == "0":
                sev = min(1.0, sev + 0.15)
            rows.append(dict(
                source_layer="dyke", source_id=f"{_s(r.dyke_code)}#{k}", census_uuid=_s(r.census_uuid),
                name=f"{_s(getattr(r, 'dyke_name', None)) or _s(r.dyke_code)} 险段{k}"
                     + (f"（{sec.get('weak_location')}）" if isinstance(sec, Mapping) and sec.get("weak_location") else ""),
                kind="dyke_weak_section", township_code=_s(r.township_code), village_code=None, scale=grade,
                volume_m3=_f(sec.get("weak_length_m")) if isinstance(sec, Mapping) else None, area_km2=None,
                stability=_s(problem), severity=round(sev, 3),
                severity_zh=f"{grade}级堤防险工险段" + ("，未达标" if up_to_std == "0" else ""),
                remediation="untreated", reported_people=_f(getattr(r, "protected_population", None)),
                reported_level=None, geometry=pt))
    return rows


def _chemical_rows(df, layer: str) -> list[dict]:
    rows = []
    for r in df.itertuples(index=False):
        if r.geometry is None or r.geometry.is_empty:
            continue
        if layer == "hazardous_chemical_enterprise":
            major = _s(getattr(r, "major_hazard", None)) == "1"
            level = _s(getattr(r, "major_hazard_level", None))
            store = _f(getattr(r, "max_storage_t", None)) or 0.0
            if major and level in ("1", "2", "3", "4"):
                key, sev, zh = f"major_{level}", {"1": 1.0, "2": 0.85, "3": 0.7, "4": 0.55}[level], f"{level}级重大危险源"
            elif store >= tz.CHEMICAL_LARGE_STORE_T:
                key, sev, zh = "no_major_large_store", 0.4, f"储量 {store:,.0f} 吨"
            else:
                key, sev, zh = "no_major", 0.25, "一般危险化学品企业"
            rem = "monitored" if _s(getattr(r, "emergency_plan", None)) == "1" else "untreated"
            sid, name = _s(getattr(r, "credit_code", None)), _s(getattr(r, "enterprise_name", None))
            reported = _f(getattr(r, "people_within_1km", None))
        else:
            grade = _s(getattr(r, "safety_grade", None))
            key = f"grade_{grade}" if grade in ("A", "B", "C", "D") else "grade_C"
            sev = {"A": 1.0, "B": 0.75, "C": 0.5, "D": 0.25}.get(grade or "", 0.5)
            if (_f(getattr(r, "major_danger_count", None)) or 0) > 0:
                sev = min(1.0, sev + 0.2)
            zh = f"安全风险{grade}类" if grade in ("A", "B", "C", "D") else "安全风险未评估"
            prog = _s(getattr(r, "rectification_progress", None))
            rem = {"not_started": "untreated", "in_progress": "in_progress", "completed": "treated",
                   "not_needed": "treated"}.get(prog or "", "untreated")
            sid, name = _s(r.site_id), _s(getattr(r, "site_name", None))
            reported = _f(getattr(r, "people_within_1km", None))
        rows.append(dict(
            source_layer=layer, source_id=sid or _s(r.census_uuid), census_uuid=_s(r.census_uuid),
            name=name or sid, kind="chemical", township_code=_s(r.township_code),
            village_code=_s(getattr(r, "village_code", None)), scale=key, volume_m3=None, area_km2=None,
            stability=None, severity=round(sev, 3), severity_zh=zh, remediation=rem, reported_people=reported,
            reported_level=None, geometry=r.geometry))
    return rows


def read_danger_sites(gpkg: str | Path):
    """Every danger site of the county GeoPackage as one point frame (columns :data:`SITE_COLUMNS`).

    Empty or missing layers contribute nothing. A ``key_hidden_danger`` geohazard within
    :data:`SAME_SITE_M` of a ``geohazard_site`` is the same place: it is folded into that site (its id in
    ``also_reported_as``, its remediation status kept when it says more) instead of listed twice.
    """
    import geopandas as gpd

    gpkg = L.as_target(gpkg)
    names = _layers(gpkg)
    rows: list[dict] = []
    if "geohazard_site" in names:
        rows += _geohazard_rows(_read(gpkg, "geohazard_site"))
    key_rows = _key_danger_rows(_read(gpkg, "key_hidden_danger")) if "key_hidden_danger" in names else []
    if "dyke" in names:
        rows += _dyke_rows(_read(gpkg, "dyke"))
    for layer in ("hazardous_chemical_enterprise", "chemical_danger_site"):
        if layer in names:
            rows += _chemical_rows(_read(gpkg, layer), layer)
    rows += _fold_duplicates(rows, key_rows)
    for r in rows:
        r.setdefault("also_reported_as", None)
        r["danger_uid"] = f"{r['source_layer']}:{r['source_id']}"
    cols = list(SITE_COLUMNS)
    gdf = gpd.GeoDataFrame(rows, columns=[*cols, "geometry"], geometry="geometry", crs=STORAGE_CRS) if rows else \
        gpd.GeoDataFrame({c: [] for c in cols}, geometry=gpd.GeoSeries([], crs=STORAGE_CRS), crs=STORAGE_CRS)
    return gdf.reset_index(drop=True)


def _fold_duplicates(rows: list[dict], key_rows: list[dict]) -> list[dict]:
    """key_hidden_danger rows that are not already a geohazard_site (see read_danger_sites)."""
    geo = [r for r in rows if r["source_layer"] == "geohazard_site"]
    if not geo or not key_rows:
        return key_rows
    from pyproj import Transformer

    tr = Transformer.from_crs(STORAGE_CRS, gk_crs_for(geo[0]["geometry"].x), always_xy=True)
    gxy = np.array([tr.transform(r["geometry"].x, r["geometry"].y) for r in geo])
    keep = []
    order = {"untreated": 0, "monitored": 1, "in_progress": 2, "treated": 3}
    for k in key_rows:
        if k["kind"] not in tz.RUNOUT_KINDS:
            keep.append(k)
            continue
        x, y = tr.transform(k["geometry"].x, k["geometry"].y)
        d = np.hypot(gxy[:, 0] - x, gxy[:, 1] - y)
        i = int(np.argmin(d))
        if d[i] > SAME_SITE_M:
            keep.append(k)
            continue
        g = geo[i]
        g["also_reported_as"] = ", ".join(x for x in (g.get("also_reported_as"), k["source_id"]) if x)
        if order.get(k["remediation"], 0) > order.get(g["remediation"], 0):
            g["remediation"] = k["remediation"]     # the danger register knows about works done
    return keep
