"""Key hidden dangers (重点隐患) assessed: who each one threatens, and a ranked remediation list (整治清单).

For every danger site of the county GeoPackage — ``geohazard_site``, ``key_hidden_danger``, the weak
sections of ``dyke``, ``hazardous_chemical_enterprise`` and ``chemical_danger_site`` — a threat zone
whose size and shape follow the danger's type and scale (rules: :mod:`risk.threat_zones`):

- landslide / rockfall / debris flow: run-out DOWNSLOPE on the DEM within the reach angle
  (:func:`runout_mask`, in the county's Gauss-Krüger CRS, metres);
- weak dyke sections and unsafe reservoirs: the flooded land (flood depth > 0) connected to the site;
- chemical sites and the rest: circles by major-hazard level, grade or size.

Inside each zone: buildings and their occupants (exposure helpers: village population shared by
residential floor area, non-residential occupants by use), schools, hospitals/clinics and welfare
homes (public_facility). The risk level where the danger lies comes from the ``risk_grid`` layer of
``census risk assess`` when it exists; otherwise the hazard level of the relevant hazard layer at the
site (``level_kind = "hazard"``), never presented as a risk level. Scoring and reasons: §1.4 of
docs/HIDDEN_DANGERS_HISTORY.md. Reading the sites: :mod:`risk.danger_sites`; layers and the XLSX:
:mod:`risk.danger_outputs`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from exposure.footprints import STORAGE_CRS, gk_crs_for
from hazards.registry import classify
from risk import threat_zones as tz
from risk.danger_outputs import LIST_LAYER, ZONES_LAYER, write_dangers, write_spreadsheet
from risk.danger_sites import SITE_COLUMNS, _f, _layers, read_danger_sites
from risk.errors import RiskError
from geodb import layers as L

Progress = Callable[[int, int], None]


# which risk_grid level column (and, without a risk run, which hazard layer) describes each kind
KIND_RISK_COLUMN = {**{k: "geological_level" for k in (*tz.RUNOUT_KINDS, "subsidence")},
                    **{k: "flood_level" for k in tz.FLOOD_KINDS}, "forest_fire": "fire_level"}
KIND_HAZARD_LAYER = {**{k: "geo_susceptibility" for k in (*tz.RUNOUT_KINDS, "subsidence")},
                     **{k: "flood_depth_rp100" for k in tz.FLOOD_KINDS}, "forest_fire": "fire_danger"}

__all__ = ["LIST_LAYER", "SITE_COLUMNS", "ZONES_LAYER", "DangerAssessment", "assess_dangers", "assess_sites",
           "read_danger_sites", "run_dangers", "runout_mask", "threat_zone", "write_dangers", "write_spreadsheet"]

# --------------------------------------------------------------------------------------------------
# Rasters in metres: the DEM and the flood depth, resampled around a site in the Gauss-Krüger CRS

@dataclass
class Raster:
    """A single-band raster in memory: array (NaN for nodata), affine transform and CRS."""

    array: np.ndarray
    transform: Any
    crs: str

    @classmethod
    def open(cls, path: str | Path) -> "Raster":
        import rasterio

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(2, "找不到栅格文件 / raster not found", str(path))
        with rasterio.open(path) as src:
            a = src.read(1).astype("float64")
            if src.nodata is not None and not (isinstance(src.nodata, float) and math.isnan(src.nodata)):
                a[a == src.nodata] = np.nan
            if src.crs is None:
                raise RiskError(f"{path} 没有坐标系信息；请先为其指定坐标系（如 EPSG:4490）",
                                f"{path} has no CRS; assign one first (e.g. EPSG:4490)")
            return cls(a, src.transform, src.crs.to_string())

    @classmethod
    def from_dataarray(cls, da) -> "Raster":
        from hazards.io import get_crs, get_transform

        a = np.asarray(da.values, dtype="float64").copy()
        nd = da.attrs.get("nodata")
        if nd is not None and not (isinstance(nd, float) and math.isnan(nd)):
            a[a == nd] = np.nan
        return cls(a, get_transform(da), get_crs(da) or STORAGE_CRS)

    def window(self, crs: str, cx: float, cy: float, radius: float, cell: float, resampling: str = "bilinear"):
        """(array, transform) of a square window of ``radius`` metres around (cx, cy) in ``crs``."""
        import rasterio.warp
        from affine import Affine
        from rasterio.enums import Resampling

        n = max(3, int(math.ceil(2 * radius / cell)) | 1)       # odd: the site is a cell centre
        half = n * cell / 2.0
        dst_tr = Affine(cell, 0.0, cx - half, 0.0, -cell, cy + half)
        dst = np.full((n, n), np.nan)
        rasterio.warp.reproject(self.array, dst, src_transform=self.transform, src_crs=self.crs,
                                dst_transform=dst_tr, dst_crs=crs, src_nodata=np.nan, dst_nodata=np.nan,
                                resampling=getattr(Resampling, resampling))
        return dst, dst_tr


# --------------------------------------------------------------------------------------------------
# Threat zones

_NEIGHBOURS = tuple((dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0))


def _shift(a: np.ndarray, dr: int, dc: int, fill: float) -> np.ndarray:
    """``out[r, c] = a[r - dr, c - dc]`` (the neighbour at offset (−dr, −dc)), ``fill`` off the edge."""
    out = np.full_like(a, fill)
    h, w = a.shape
    rs, re = max(dr, 0), h + min(dr, 0)
    cs, ce = max(dc, 0), w + min(dc, 0)
    out[rs:re, cs:ce] = a[rs - dr:re - dr, cs - dc:ce - dc]
    return out


def _grow(seed: np.ndarray, allowed: np.ndarray, step_ok) -> np.ndarray:
    """Cells of ``allowed`` reachable from ``seed`` by 8-neighbour steps with ``step_ok(z_from, z_to)``."""
    reach = seed & allowed
    while True:
        new = reach.copy()
        for dr, dc in _NEIGHBOURS:
            new |= _shift(reach, dr, dc, False) & allowed & step_ok(dr, dc)
        if np.array_equal(new, reach):
            return reach
        reach = new


def runout_mask(z: np.ndarray, cell: float, site: tuple[int, int], source: np.ndarray, tan_reach: float, *,
                uphill_tolerance: float = tz.UPHILL_TOLERANCE_M, max_iter: int | None = None) -> np.ndarray:
    """Cells a mass released at ``site`` (row, col) reaches over the DEM ``z`` (metres, NaN = none).

    - The body: cells of ``source`` (a disc of the source radius) reached from the site by steps that
      never go down (beyond the tolerance) — the slope above the site up to its crest, never over it.
    - The run-out: the energy line starts at the body's highest cell (the crown) and drops by
      ``tan_reach`` per metre of path (Fahrböschung / angle of reach, Heim 1932; Corominas 1996). From
      the site the mass moves to one of the 8 neighbours only DOWNHILL (a rise of at most
      ``uphill_tolerance``) and only while the energy line stays at or above the ground:
      E(c) = max over neighbours n with z(c) ≤ z(n)+tol of E(n) − tan·d(n, c), kept where E(c) ≥ z(c),
      solved by vectorised relaxation (Bellman–Ford on the grid). A ridge between the site and a
      valley is never crossed: that path would go uphill.
    """
    z = np.asarray(z, dtype="float64")
    finite = np.isfinite(z)
    r0, c0 = site
    if not (0 <= r0 < z.shape[0] and 0 <= c0 < z.shape[1]) or not finite[r0, c0]:
        return np.zeros(z.shape, dtype=bool)
    zf = np.where(finite, z, np.inf)
    seed = np.zeros(z.shape, dtype=bool)
    seed[r0, c0] = True
    zlow = np.where(finite, z, -np.inf)

    def not_down(dr, dc):   # step from the neighbour at (−dr, −dc) to here does not descend
        return zlow >= _shift(zlow, dr, dc, np.inf) - uphill_tolerance

    body = _grow(seed, np.asarray(source, dtype=bool) & finite, not_down) | seed
    zs = np.where(body, z, -np.inf)
    crown = np.unravel_index(int(np.argmax(zs)), z.shape)
    d_crown = math.hypot(crown[0] - r0, crown[1] - c0) * cell
    energy = np.full(z.shape, -np.inf)
    energy[r0, c0] = max(z[crown] - tan_reach * d_crown, z[r0, c0])
    limit = max_iter or (2 * sum(z.shape) + 10)
    for _ in range(limit):
        best = energy.copy()
        for dr, dc in _NEIGHBOURS:
            en = _shift(energy, dr, dc, -np.inf)
            zn = _shift(zf, dr, dc, np.inf)
            cand = en - tan_reach * cell * math.hypot(dr, dc)
            ok = (cand >= zf) & (zf <= zn + uphill_tolerance) & (cand > best)
            best = np.where(ok, cand, best)
        if np.array_equal(best, energy):
            break
        energy = best
    return body | np.isfinite(energy)


def _mask_to_geometry(mask: np.ndarray, transform, crs: str):
    """Polygons of a boolean mask (cell outlines, merged) reprojected to EPSG:4490."""
    import shapely
    from rasterio import features
    from shapely.geometry import shape

    if not mask.any():
        return None
    polys = [shape(g) for g, v in features.shapes(mask.astype("uint8"), mask=mask, transform=transform,
                                                 connectivity=8) if v == 1]
    geom = shapely.union_all(polys)
    return _to_storage(geom, crs)


def _to_storage(geom, crs: str):
    import geopandas as gpd

    return gpd.GeoSeries([geom], crs=crs).to_crs(STORAGE_CRS).iloc[0]


def _disc(shape, transform, cx, cy, r) -> np.ndarray:
    rows, cols = np.indices(shape)
    x = transform.c + (cols + 0.5) * transform.a
    y = transform.f + (rows + 0.5) * transform.e
    return np.hypot(x - cx, y - cy) <= r


@dataclass
class ZoneContext:
    """What every threat zone may need: the DEM, a flood-depth layer, the metric CRS."""

    crs: str                                   # Gauss-Krüger CRS of the county
    dem: Raster | None = None
    flood: Raster | None = None
    flood_layer: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_metric(self, lon: float, lat: float) -> tuple[float, float]:
        from pyproj import Transformer

        tr = Transformer.from_crs(STORAGE_CRS, self.crs, always_xy=True)
        x, y = tr.transform(lon, lat)
        return float(x), float(y)


@dataclass
class Zone:
    geometry: Any                  # EPSG:4490 (Multi)Polygon
    method: str                    # runout | buffer | flood_strip | buffer (fallback …)
    radius_m: float | None = None
    reach_angle_deg: float | None = None
    volume_m3: float | None = None
    hazard_value: float | None = None   # max flood depth in a flood strip
    rule_source: str = ""


def _buffer_zone(ctx: ZoneContext, lon: float, lat: float, radius: float, method: str, source: str) -> Zone:
    import shapely

    x, y = ctx.to_metric(lon, lat)
    geom = shapely.Point(x, y).buffer(radius, quad_segs=16)
    return Zone(_to_storage(geom, ctx.crs), method, radius_m=radius, rule_source=source)


def runout_zone(ctx: ZoneContext, lon: float, lat: float, kind: str, volume_m3: float) -> Zone | None:
    """Run-out zone of a landslide/rockfall/debris flow at (lon, lat) on the DEM; None without a DEM
    or when the site is off the DEM."""
    from affine import Affine

    if ctx.dem is None:
        return None
    rule = tz.reach_rule(kind)
    tan_a = rule.tan_reach(volume_m3)
    r0 = rule.source_radius_m(volume_m3)
    x, y = ctx.to_metric(lon, lat)
    cell = tz.RUNOUT_CELL_M
    z, tr = ctx.dem.window(ctx.crs, x, y, rule.max_runout_m + r0, cell)
    n = z.shape[0]
    src = _disc(z.shape, tr, x, y, r0) & np.isfinite(z)
    if not np.isfinite(z[n // 2, n // 2]):
        return None
    # the mass cannot travel further than the drop to the lowest ground allows: crop the window
    drop = float(np.nanmax(np.where(src, z, np.nan)) - np.nanmin(z))
    reach = min(rule.max_runout_m, max(drop, 0.0) / tan_a) + r0 + 2 * cell
    k = max(0, n // 2 - int(math.ceil(reach / cell)))
    if k > 0:
        z, src = z[k:n - k, k:n - k], src[k:n - k, k:n - k]
        tr = tr @ Affine.translation(k, k)
    mask = runout_mask(z, cell, (n // 2 - k, n // 2 - k), src, tan_a)
    mask &= _disc(z.shape, tr, x, y, rule.max_runout_m + r0)
    geom = _mask_to_geometry(mask, tr, ctx.crs)
    if geom is None:
        return None
    return Zone(geom, "runout", reach_angle_deg=round(rule.angle_deg(volume_m3), 2), volume_m3=volume_m3,
                radius_m=round(r0, 1), rule_source=rule.source)


def flood_strip_zone(ctx: ZoneContext, lon: float, lat: float, distance_m: float, section_m: float = 200.0
                     ) -> Zone | None:
    """Flooded cells (depth > 0) connected to the section (a disc of ``section_m``/2, at least 100 m,
    around the point) within ``distance_m``; None without a flood layer or when nothing floods there."""
    from scipy import ndimage

    if ctx.flood is None:
        return None
    x, y = ctx.to_metric(lon, lat)
    cell = tz.FLOOD_CELL_M
    d, tr = ctx.flood.window(ctx.crs, x, y, distance_m, cell, resampling="nearest")
    wet = np.nan_to_num(d, nan=0.0) > 0
    wet &= _disc(d.shape, tr, x, y, distance_m)
    section = _disc(d.shape, tr, x, y, max(section_m / 2.0, 100.0))
    labels, n = ndimage.label(wet, structure=np.ones((3, 3)))
    hit = np.unique(labels[section & wet])
    hit = hit[hit > 0]
    if not hit.size:
        return None
    mask = np.isin(labels, hit)
    geom = _mask_to_geometry(mask, tr, ctx.crs)
    return Zone(geom, "flood_strip", radius_m=distance_m, hazard_value=float(np.nanmax(np.where(mask, d, np.nan))),
                rule_source=tz.FLOOD_STRIP_SOURCE + f" (layer {ctx.flood_layer})")


def threat_zone(site: Mapping[str, Any], ctx: ZoneContext) -> Zone:
    """The threat zone of one danger site (a row of :func:`read_danger_sites`), by its kind (module doc)."""
    kind = site["kind"]
    lon, lat = float(site["geometry"].x), float(site["geometry"].y)
    scale = site.get("scale")
    if kind in tz.RUNOUT_KINDS:
        vol = _f(site.get("volume_m3"))
        geo_scale = tz.DANGER_SCALE_AS_GEO.get(scale, scale)
        vol = vol if vol and vol > 0 else tz.representative_volume(kind, geo_scale)
        z = runout_zone(ctx, lon, lat, kind, vol)
        if z is not None:
            return z
        fallback_scale = {"giant": "major", "large": "major", "medium": "large", "small": "general"}.get(scale, scale)
        return _buffer_zone(ctx, lon, lat, tz.scale_buffer(kind, fallback_scale),
                            "buffer (no DEM)", tz.SCALE_BUFFER_SOURCE)
    if kind == "subsidence":
        area = _f(site.get("area_km2"))
        if area and area > 0:
            r = math.sqrt(area * 1e6 / math.pi) + tz.SUBSIDENCE_MARGIN_M
            return _buffer_zone(ctx, lon, lat, r, "buffer", "reported collapse area as a circle + "
                                f"{tz.SUBSIDENCE_MARGIN_M:g} m margin (assumption)")
        fallback_scale = {"giant": "major", "large": "major", "medium": "large", "small": "general"}.get(scale, scale)
        return _buffer_zone(ctx, lon, lat, tz.scale_buffer(kind, fallback_scale), "buffer", tz.SCALE_BUFFER_SOURCE)
    if kind == "chemical":
        rule = tz.CHEMICAL_BUFFERS.get(scale or "", tz.CHEMICAL_BUFFERS["no_major"])
        return _buffer_zone(ctx, lon, lat, rule.radius_m, "buffer", rule.source)
    if kind in tz.FLOOD_KINDS:
        dist = tz.FLOOD_STRIP_M.get(scale or "", tz.FLOOD_STRIP_M["general"])
        z = flood_strip_zone(ctx, lon, lat, dist, section_m=_f(site.get("volume_m3")) or 200.0)
        if z is not None:
            return z
        key = {"1": "major", "2": "major", "3": "large"}.get(scale or "", scale if scale in ("major", "large") else "general")
        return _buffer_zone(ctx, lon, lat, tz.scale_buffer(kind, key),
                            "buffer (no flooded land nearby)" if ctx.flood is not None else "buffer (no flood layer)",
                            tz.SCALE_BUFFER_SOURCE)
    return _buffer_zone(ctx, lon, lat, tz.scale_buffer(kind, scale), "buffer", tz.SCALE_BUFFER_SOURCE)


# --------------------------------------------------------------------------------------------------
# What each zone holds

def count_exposure(zones, buildings, facilities) -> list[dict]:
    """Per zone: buildings (representative point inside), people (Σ max(day, night) occupants),
    residents, and the schools, hospitals/clinics and welfare homes inside with their people."""
    import shapely

    bx = buildings["lon"].to_numpy(dtype="float64") if len(buildings) else np.zeros(0)
    by = buildings["lat"].to_numpy(dtype="float64") if len(buildings) else np.zeros(0)
    people = (np.maximum(np.nan_to_num(buildings["occupants_day"].to_numpy(dtype="float64")),
                         np.nan_to_num(buildings["occupants_night"].to_numpy(dtype="float64")))
              if len(buildings) else np.zeros(0))
    residents = np.nan_to_num(buildings["residents"].to_numpy(dtype="float64")) if len(buildings) else np.zeros(0)
    fx = shapely.get_x(facilities.geometry.values) if len(facilities) else np.zeros(0)
    fy = shapely.get_y(facilities.geometry.values) if len(facilities) else np.zeros(0)
    ftype = facilities["facility_type"].astype(str).to_numpy() if len(facilities) else np.zeros(0, dtype=object)
    fpeople = (np.maximum(np.nan_to_num(np.asarray(facilities["people_day"], dtype="float64")),
                          np.nan_to_num(np.asarray(facilities["people_night"], dtype="float64")))
               if len(facilities) else np.zeros(0))
    fnames = (facilities["facility_name"].astype(str).to_numpy() if "facility_name" in getattr(facilities, "columns", [])
              else np.full(len(fx), "", dtype=object))
    out = []
    for geom in zones:
        rec = {"buildings": 0, "people": 0.0, "residents": 0.0, "schools": 0, "hospitals": 0, "welfare_homes": 0,
               "facility_people": 0.0, "facility_types": {}, "facility_names": []}
        if geom is None or geom.is_empty:
            out.append(rec)
            continue
        shapely.prepare(geom)
        x0, y0, x1, y1 = geom.bounds
        sel = np.flatnonzero((bx >= x0) & (bx <= x1) & (by >= y0) & (by <= y1))
        if sel.size:
            inside = sel[shapely.contains_xy(geom, bx[sel], by[sel])]
            rec["buildings"] = int(inside.size)
            rec["people"] = float(people[inside].sum())
            rec["residents"] = float(residents[inside].sum())
        fsel = np.flatnonzero((fx >= x0) & (fx <= x1) & (fy >= y0) & (fy <= y1))
        if fsel.size:
            fin = fsel[shapely.contains_xy(geom, fx[fsel], fy[fsel])]
            for i in fin:
                t = str(ftype[i])
                rec["facility_types"][t] = rec["facility_types"].get(t, 0) + 1
                if t in tz.FACILITY_GROUPS["school"]:
                    rec["schools"] += 1
                elif t in tz.FACILITY_GROUPS["hospital"]:
                    rec["hospitals"] += 1
                elif t in tz.FACILITY_GROUPS["welfare"]:
                    rec["welfare_homes"] += 1
                else:
                    continue
                rec["facility_people"] += float(fpeople[i])
                rec["facility_names"].append(str(fnames[i]))
        out.append(rec)
    return out


# --------------------------------------------------------------------------------------------------
# Level where the danger lies

def risk_levels_at(sites, zones, risk_grid) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(level at the site, most severe level over the zone, column used) from ``risk_grid`` per site."""
    import shapely

    n = len(sites)
    at_site = np.zeros(n, dtype=int)
    in_zone = np.zeros(n, dtype=int)
    used = [""] * n
    if risk_grid is None or not len(risk_grid):
        return at_site, in_zone, used
    cells = risk_grid.geometry.values
    tree = shapely.STRtree(cells)
    for i, (kind, pt, zone) in enumerate(zip(sites["kind"], sites.geometry.values, zones)):
        col = KIND_RISK_COLUMN.get(kind, "comprehensive_level")
        if col not in risk_grid.columns:
            col = "comprehensive_level"
        if col not in risk_grid.columns:
            continue
        levels = risk_grid[col].to_numpy()
        used[i] = col
        hit = tree.query(pt, predicate="intersects")
        if hit.size:
            at_site[i] = int(levels[hit[0]])
        if zone is not None:
            zh = tree.query(zone, predicate="intersects")
            lv = [int(v) for v in levels[zh] if int(v) > 0]
            in_zone[i] = min(lv) if lv else 0
    return at_site, in_zone, used


def hazard_levels_at(sites, zones, arrays: Mapping[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Hazard level (hazards.registry.classify) of each site's relevant layer at the site — the most
    severe over the zone's flood depth for dykes and reservoirs; 0 where no layer applies."""
    from hazards.sampling import sample_points

    n = len(sites)
    out = np.zeros(n, dtype=int)
    used = [""] * n
    for i, (kind, pt) in enumerate(zip(sites["kind"], sites.geometry.values)):
        layer = KIND_HAZARD_LAYER.get(kind)
        if layer is None or layer not in arrays:
            continue
        if kind in tz.FLOOD_KINDS and zones[i] is not None and zones[i].hazard_value is not None:
            val = np.array([zones[i].hazard_value])
        else:
            val = np.asarray(sample_points(arrays[layer], np.array([pt.x]), np.array([pt.y])), dtype="float64")
        out[i] = int(classify(val, layer)[0])
        used[i] = layer
    return out, used


# --------------------------------------------------------------------------------------------------
# Scoring and reasons

def score_rows(df, weights: tz.ScoreWeights = tz.SCORE_WEIGHTS):
    """Add score parts and ``score`` (0–100) to the assessed frame (docs §1.4)."""
    people = df["people"].to_numpy(dtype="float64")
    s_people = np.clip(np.log10(1.0 + people) / math.log10(1.0 + tz.PEOPLE_FULL), 0.0, 1.0)
    fac = (df["schools"].to_numpy() * tz.FACILITY_POINTS["school"]
           + df["hospitals"].to_numpy() * tz.FACILITY_POINTS["hospital"]
           + df["welfare_homes"].to_numpy() * tz.FACILITY_POINTS["welfare"])
    s_fac = np.clip(fac, 0.0, 1.0)
    s_sev = np.clip(df["severity"].to_numpy(dtype="float64"), 0.0, 1.0)
    lvl = df["level"].to_numpy(dtype=int)
    s_risk = np.array([tz.LEVEL_SCORE.get(int(v), tz.LEVEL_SCORE[0]) for v in lvl]) if len(df) else np.zeros(0)
    s_rem = np.array([tz.REMEDIATION_SCORE.get(r, 1.0) for r in df["remediation"]]) if len(df) else np.zeros(0)
    df["score_people"] = np.round(weights.people * s_people, 2)
    df["score_facilities"] = np.round(weights.facilities * s_fac, 2)
    df["score_severity"] = np.round(weights.severity * s_sev, 2)
    df["score_risk"] = np.round(weights.risk * s_risk, 2)
    df["score_remediation"] = np.round(weights.remediation * s_rem, 2)
    df["score"] = np.round(df[["score_people", "score_facilities", "score_severity", "score_risk",
                               "score_remediation"]].sum(axis=1), 1)
    # nobody and nothing in the zone: nothing to protect, keep it off the top of the list
    empty = (people < 0.5) & (fac == 0)
    df.loc[empty, "score"] = np.round(df.loc[empty, "score"] * 0.5, 1)
    pr = []
    for s in df["score"]:
        for lo, p, _zh, _en in tz.PRIORITY_BREAKS:
            if s >= lo:
                pr.append(p)
                break
    df["priority"] = pr
    df["priority_zh"] = [next(zh for _lo, p2, zh, _en in tz.PRIORITY_BREAKS if p2 == p) for p in pr]
    return df


def _level_phrase(level: int, kind: str) -> str:
    from hazards.registry import RISK_LEVELS

    names = {lvl: zh for lvl, zh, _en, _c in RISK_LEVELS}
    if level <= 0:
        return ""
    word = "风险" if kind == "risk" else "危险性"
    return f"位于{names[level]}{word}区" + ("" if kind == "risk" else "（致灾危险性等级，尚未做风险评估）")


def reason_zh(row: Mapping[str, Any]) -> str:
    """e.g. "威胁 312 人（房屋 104 栋）、学校 1 所；不稳定、小型滑坡；位于高风险区；未治理"."""
    parts = []
    threat = f"威胁 {int(round(row['people']))} 人（房屋 {int(row['buildings'])} 栋）" if row["buildings"] else "威胁范围内无房屋"
    fac = [f"{tz.FACILITY_ZH.get(t, t)} {n} 所" for t, n in sorted(row["facility_types"].items())
           if any(t in g for g in tz.FACILITY_GROUPS.values())]
    parts.append("、".join([threat, *fac]))
    if row.get("severity_zh"):
        parts.append(str(row["severity_zh"]))
    lvl = _level_phrase(int(row["level"]), str(row["level_kind"]))
    if lvl:
        zone_lvl = int(row.get("zone_level") or 0)
        if row["level_kind"] == "risk" and 0 < zone_lvl < int(row["level"]) and zone_lvl <= 2:
            lvl += f"，威胁范围涉及{_level_phrase(zone_lvl, 'risk')[2:]}"
        parts.append(lvl)
    elif row["level_kind"] == "risk" and int(row.get("zone_level") or 0) > 0:
        parts.append("威胁范围涉及" + _level_phrase(int(row["zone_level"]), "risk")[2:])
    parts.append(tz.REMEDIATION_ZH.get(row["remediation"], str(row["remediation"])))
    rep = row.get("reported_people")
    if rep is not None and not (isinstance(rep, float) and math.isnan(rep)):
        a, b = float(rep), float(row["people"])
        if max(a, b) >= 10 and (min(a, b) == 0 or max(a, b) / max(min(a, b), 1e-9) > tz.REPORTED_MISMATCH_FACTOR):
            parts.append(f"上报威胁 {int(a)} 人与估算 {int(round(b))} 人相差较大，需现场核实")
    return "；".join(parts)


# --------------------------------------------------------------------------------------------------
# The whole assessment

@dataclass
class DangerAssessment:
    sites: Any                     # GeoDataFrame of points, ranked (LIST_LAYER)
    zones: Any                     # GeoDataFrame of threat zones (ZONES_LAYER)
    level_kind: str                # "risk" when risk_grid was used, else "hazard"
    townships: dict[str, str]
    notes: list[str] = field(default_factory=list)
    distinct_people: float = 0.0   # people in the union of all zones (no double counting)

    def summary(self, top: int = 10) -> dict:
        s = self.sites
        by_kind = {str(k): int(v) for k, v in s["kind"].value_counts().items()} if len(s) else {}
        by_priority = {str(k): int(v) for k, v in s["priority"].value_counts().sort_index().items()} if len(s) else {}
        head = s.sort_values("rank_county").head(top)
        return {
            "sites": int(len(s)), "by_kind": by_kind, "by_priority": by_priority,
            "level_kind": self.level_kind,
            "threatened_people_distinct": round(self.distinct_people, 1),
            "schools": int(s["schools"].sum()) if len(s) else 0,
            "hospitals": int(s["hospitals"].sum()) if len(s) else 0,
            "top": [{"rank": int(r.rank_county), "danger_uid": r.danger_uid, "name": r.name, "kind": r.kind,
                     "township": r.township_name, "score": float(r.score), "people": round(float(r.people), 1),
                     "reason_zh": r.reason_zh} for r in head.itertuples()],
            "notes": list(self.notes),
        }


def _township_names(gpkg: Path, names: set[str]) -> dict[str, str]:

    if "townships" not in names:
        return {}
    t = L.read_dataframe(gpkg, "townships", read_geometry=False)
    return {str(c): str(n) for c, n in zip(t["code"], t["name"])}


def _read_risk_grid(gpkg: Path, names: set[str]):

    if "risk_grid" not in names:
        return None
    g = L.read_dataframe(gpkg, "risk_grid")
    return g if len(g) else None


def default_dem(hazards_dir: str | Path | None) -> Path | None:
    """``HAZARDS_DIR/../terrain/dem.tif`` (the sample county's layout)."""
    if hazards_dir is None:
        return None
    return Path(hazards_dir).resolve().parent / "terrain" / "dem.tif"


def load_zone_context(county_lon: float, hazards_dir: str | Path | None, dem: str | Path | None
                      ) -> tuple[ZoneContext, dict[str, Any]]:
    """The metric context (DEM, flood layer) and the hazard arrays for the hazard-level fallback."""
    ctx = ZoneContext(gk_crs_for(county_lon))
    arrays: dict[str, Any] = {}
    if hazards_dir is not None:
        from risk.hazard_layers import load_hazard_layers

        hdir = Path(hazards_dir)
        if not hdir.is_dir():
            raise FileNotFoundError(2, "找不到致灾因子目录 / hazards folder not found", str(hdir))
        try:
            arrays = dict(load_hazard_layers(hdir).arrays)
        except RiskError as e:
            ctx.notes.append(str(e))
        for layer in ("flood_depth_rp100", "flood_depth_rp50", "flood_depth_rp20", "flood_depth_rp10"):
            if layer in arrays:
                ctx.flood, ctx.flood_layer = Raster.from_dataarray(arrays[layer]), layer
                break
        if ctx.flood is None:
            ctx.notes.append("没有洪水淹没水深图层：堤防险段按规模缓冲区计 / no flood-depth layer: dyke sections use buffers")
    dem_path = Path(dem) if dem is not None else default_dem(hazards_dir)
    if dem_path is not None and dem_path.exists():
        ctx.dem = Raster.open(dem_path)
    elif dem is not None:
        raise FileNotFoundError(2, "找不到数字高程模型 / DEM not found", str(dem))
    else:
        ctx.notes.append("没有数字高程模型：滑坡、崩塌、泥石流按规模缓冲区计（请用 --dem 指定） / "
                         "no DEM: landslides, rockfalls and debris flows use buffers by size (give --dem)")
    return ctx, arrays


def assess_sites(sites, buildings, facilities, ctx: ZoneContext, *, arrays: Mapping[str, Any] | None = None,
                 risk_grid=None, township_names: Mapping[str, str] | None = None,
                 progress: Progress | None = None) -> DangerAssessment:
    """Threat zones, exposure inside, level where each lies, score and ranks for ``sites``."""
    import geopandas as gpd
    import shapely

    progress = progress or (lambda done, total: None)
    n = len(sites)
    zones: list[Zone] = []
    for i, row in enumerate(sites.to_dict("records")):
        zones.append(threat_zone(row, ctx))
        progress(i + 1, n)
    geoms = [z.geometry for z in zones]
    counts = count_exposure(geoms, buildings, facilities)
    df = sites.copy()
    for key in ("buildings", "people", "residents", "schools", "hospitals", "welfare_homes", "facility_people"):
        df[key] = [c[key] for c in counts]
    df["facility_types"] = [c["facility_types"] for c in counts]
    df["facility_names"] = ["、".join(c["facility_names"]) or None for c in counts]
    df["zone_method"] = [z.method for z in zones]
    df["zone_radius_m"] = [z.radius_m for z in zones]
    df["reach_angle_deg"] = [z.reach_angle_deg for z in zones]
    df["zone_area_km2"] = [round(float(gpd.GeoSeries([g], crs=STORAGE_CRS).to_crs(ctx.crs).area.iloc[0]) / 1e6, 4)
                           if g is not None else 0.0 for g in geoms]
    df["rule_source"] = [z.rule_source for z in zones]
    risk_site, risk_zone, risk_col = risk_levels_at(df, geoms, risk_grid)
    hz_level, hz_layer = hazard_levels_at(df, zones, arrays or {})
    if risk_grid is not None:
        level_kind = "risk"
        df["level"] = risk_site
        df["zone_level"] = risk_zone
        df["level_source"] = [f"risk_grid.{c}" if c else "" for c in risk_col]
    else:
        level_kind = "hazard"
        df["level"] = hz_level
        df["zone_level"] = 0
        df["level_source"] = [f"hazard:{c}" if c else "" for c in hz_layer]
    df["level_kind"] = level_kind
    df["hazard_level"] = hz_level
    df["risk_level"] = risk_site if risk_grid is not None else 0
    # the worse of site and zone risk drives the score (a slope above a high-risk village)
    score_level = np.where((df["zone_level"] > 0) & ((df["level"] == 0) | (df["zone_level"] < df["level"])),
                           df["zone_level"], df["level"])
    df_score = df.assign(level=score_level)
    df_score = score_rows(df_score)
    for c in ("score_people", "score_facilities", "score_severity", "score_risk", "score_remediation", "score",
              "priority", "priority_zh"):
        df[c] = df_score[c].to_numpy()
    names = dict(township_names or {})
    df["township_name"] = [names.get(str(t), str(t) if t else "") for t in df["township_code"]]
    df["reason_zh"] = [reason_zh(r) for r in df.to_dict("records")]
    df = df.sort_values(["score", "people", "danger_uid"], ascending=[False, False, True]).reset_index(drop=True)
    df["rank_county"] = np.arange(1, len(df) + 1)
    df["rank_township"] = df.groupby("township_code", dropna=False).cumcount() + 1
    df["facility_types"] = [json.dumps(v, ensure_ascii=False) for v in df["facility_types"]]
    order = [g for g in df["danger_uid"]]
    zone_by_uid = dict(zip(sites["danger_uid"], geoms))
    zdf = gpd.GeoDataFrame(
        df[["danger_uid", "rank_county", "rank_township", "name", "kind", "township_code", "township_name",
            "zone_method", "zone_radius_m", "reach_angle_deg", "zone_area_km2", "buildings", "people", "schools",
            "hospitals", "welfare_homes", "score", "priority", "level", "level_kind"]].copy(),
        geometry=[_multi(zone_by_uid[u]) for u in order], crs=STORAGE_CRS)
    valid = [g for g in geoms if g is not None and not g.is_empty]
    distinct = 0.0
    if valid:
        union = shapely.union_all(valid)
        distinct = count_exposure([union], buildings, facilities)[0]["people"]
    out = gpd.GeoDataFrame(df, geometry="geometry", crs=STORAGE_CRS)
    return DangerAssessment(out, zdf, level_kind, names, list(ctx.notes), float(distinct))


def _multi(g):
    import shapely

    if g is None or g.is_empty:
        return None
    if g.geom_type == "Polygon":
        return shapely.MultiPolygon([g])
    if g.geom_type == "GeometryCollection":
        polys = [p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")]
        return _multi(shapely.union_all(polys)) if polys else None
    return g


def assess_dangers(gpkg: str | Path, hazards_dir: str | Path | None = None, dem: str | Path | None = None, *,
                   progress: Progress | None = None) -> DangerAssessment:
    """Read the danger sites, exposure and (when there) ``risk_grid`` of ``gpkg``; assess them all."""
    from exposure.buildings import load_exposure

    gpkg = L.as_target(gpkg)
    names = _layers(gpkg)
    sites = read_danger_sites(gpkg)
    lon0 = float(np.mean(sites.geometry.x)) if len(sites) else 120.0
    if not len(sites) and "townships" in names:

        t = L.read_dataframe(gpkg, "townships")
        lon0 = float(t.geometry.union_all().centroid.x)
    ctx, arrays = load_zone_context(lon0, hazards_dir, dem)
    exp = load_exposure(gpkg)
    risk_grid = _read_risk_grid(gpkg, names)
    if risk_grid is None:
        ctx.notes.append("县级数据库中没有 risk_grid 图层（尚未运行 census risk assess）：所在位置等级为致灾危险性等级，"
                         "不是风险等级 / no risk_grid layer (census risk assess not run): the level shown is the "
                         "hazard level, not the risk level")
    if exp.notes:
        ctx.notes.extend(exp.notes)
    ctx.notes.append("受威胁人数 = 威胁范围内房屋的昼夜最大在室人数（常住人口按住宅面积分配，exposure.occupancy）/ "
                     "threatened people = Σ max(day, night) occupants of the buildings inside the zone")
    return assess_sites(sites, exp.buildings, exp.facilities, ctx, arrays=arrays, risk_grid=risk_grid,
                        township_names=_township_names(gpkg, names), progress=progress)


def run_dangers(gpkg: str | Path, hazards_dir: str | Path | None, out_xlsx: str | Path, *, dem: str | Path | None = None,
                progress: Progress | None = None) -> DangerAssessment:
    """Assess, write the two layers into ``gpkg`` and the spreadsheet to ``out_xlsx``."""
    a = assess_dangers(gpkg, hazards_dir, dem, progress=progress)
    write_dangers(a, gpkg)
    write_spreadsheet(a, out_xlsx)
    return a
