"""The work map (调查底图): building footprints clustered in settlements.

How:

1. Each village gets a share of the requested number of buildings (largest-remainder rounding, so the
   total is exact): a rural village about one house per household, a town community one building per
   three or four households, a 街道 community one block or shop per dozen households.
2. Settlements. A community is one compact settlement at its seat; a village has its main hamlet at the
   seat and, when large enough, up to three satellite hamlets (自然村) on gentle land inside its territory.
3. Lots. A settlement lays out a regular grid of lots turned to its own angle — rural houses face
   south in western Liaoning, so rural grids turn only a little from east–west, town and city grids
   more — and keeps the lots nearest its centre, the distance stretched by a seeded aspect ratio and
   lobes so settlements are not discs. Lots on sea, river, steep (> ~14° rural) or out-of-county cells are
   dropped.
4. Footprints. A rural house is 8–15 m × 6–12 m; town buildings 10–28 m × 8–14 m; a city community has
   apartment blocks 40–80 m × 12–18 m (行列式 rows) and some low-rise 12–30 m × 10–20 m. Each footprint
   sits in its own lot with a small offset and a ±1.5–3° twist, and is sized so that it always fits
   inside its lot: footprints of one settlement never overlap by construction.
5. Settlements are filled in priority order (city, then towns, then villages, larger first); a lot whose
   footprint could touch an already accepted footprint of another settlement (circumscribed circles
   overlap) is skipped, so no two footprints overlap anywhere. Shortfalls roll over to later settlements,
   and whatever is still missing at the end is topped up from the spare lots of all settlements.
6. Every footprint gets its township and village from the exact village polygon containing its centre,
   and a stable id ``B`` + village code + 5-digit serial.

All of it is vectorised with numpy and shapely 2 array functions; a million footprints take well under
a minute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy import ndimage
from scipy.spatial import cKDTree

from .errors import SampleBuildError
from .grid import Grid, metres_per_degree

# settlement forms: lot size (along, across), footprint length/width ranges, twist (deg), slope limit
FORMS = {
    "rural": dict(lot=((19.0, 24.0), (22.0, 30.0)), grid_sd=10.0, twist=3.0, slope=0.25),
    "town": dict(lot=((31.0, 33.0), (25.0, 28.0)), grid_sd=25.0, twist=2.0, slope=0.15),
    "urban": dict(lot=((88.0, 92.0), (40.0, 44.0)), grid_sd=35.0, twist=1.5, slope=0.12),
}
MAX_PER_VILLAGE = 99_999


@dataclass
class Cluster:
    village: int  # row index in the villages table
    form: str
    lon: float
    lat: float
    quota: int
    priority: float


def allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """Integers proportional to ``weights`` summing exactly to ``total`` (largest remainder)."""
    w = np.asarray(weights, dtype="float64")
    if total <= 0 or w.sum() <= 0:
        return np.zeros(w.size, dtype=np.int64)
    raw = w / w.sum() * total
    base = np.floor(raw).astype(np.int64)
    rest = total - int(base.sum())
    if rest:
        order = np.argsort(-(raw - base), kind="stable")
        base[order[:rest]] += 1
    return base


def _village_forms(villages, townships) -> list[str]:
    tkind = dict(zip(townships["code"], townships["kind"]))
    forms = []
    for code, tcode, kind in zip(villages["code"], villages["township_code"], villages["kind"]):
        if kind == "community":
            forms.append("urban" if tkind.get(tcode) == "街道" else "town")
        else:
            forms.append("rural")
    return forms


def plan_settlements(villages, townships, village_label: np.ndarray, ok: np.ndarray, grid: Grid,
                     n_buildings: int, rng: np.random.Generator) -> list[Cluster]:
    """Settlements (clusters) with their building quotas."""
    forms = _village_forms(villages, townships)
    hh = villages["households"].to_numpy(dtype="float64")
    per = np.array([{"rural": 1.1, "town": 1 / 3.5, "urban": 1 / 12.0}[f] for f in forms])
    counts = allocate(hh * per, n_buildings)
    if counts.max(initial=0) > MAX_PER_VILLAGE * 0.9:
        raise SampleBuildError(
            f"请求的房屋数量过多：单个村（社区）将超过 {MAX_PER_VILLAGE} 栋；请减少 --buildings",
            f"too many buildings: one village would get more than {MAX_PER_VILLAGE}; lower --buildings")
    # cells of each village that can hold a hamlet
    lab = np.where(ok, village_label, -1).ravel()
    cells = np.flatnonzero(lab >= 0)
    by_village = cells[np.argsort(lab[cells], kind="stable")]
    bounds = np.searchsorted(lab[by_village], np.arange(len(villages) + 1))
    dx, dy = grid.cell_m
    clusters: list[Cluster] = []
    for k in range(len(villages)):
        n = int(counts[k])
        if n == 0:
            continue
        form = forms[k]
        lon0, lat0 = float(villages["seat_lon"].iat[k]), float(villages["seat_lat"].iat[k])
        prio = {"urban": 3e9, "town": 2e9, "rural": 1e9}[form] + n
        if form != "rural" or n < 40:
            clusters.append(Cluster(k, form, lon0, lat0, n, prio))
            continue
        n_sat = min(3, int(rng.poisson(1.0)), max(0, n // 40 - 1))
        mine = by_village[bounds[k]:bounds[k + 1]]
        centres = [(lon0, lat0)]
        if n_sat and mine.size:
            r, c = np.divmod(mine, grid.width)
            lon, lat = grid.cell_centre(r, c)
            for _ in range(n_sat):
                d = np.min([np.hypot((lon - x) * dx / grid.res, (lat - y) * dy / grid.res) for x, y in centres], axis=0)
                far = np.flatnonzero(d > 600.0)
                if far.size == 0:
                    break
                j = far[int(rng.integers(far.size))]
                centres.append((float(lon[j]), float(lat[j])))
        shares = np.r_[rng.uniform(1.2, 2.0), rng.uniform(0.4, 1.0, len(centres) - 1)]
        q = allocate(shares, n)
        for (x, y), m in zip(centres, q):
            if m:
                clusters.append(Cluster(k, form, x, y, int(m), prio - 0.5 + m * 1e-9))
    clusters.sort(key=lambda c: (-c.priority, c.village))
    return clusters


def _candidates(cl: Cluster, n_cand: int, rng: np.random.Generator, mx: float, my: float):
    """Candidate footprints of one settlement, best first: centres (lon, lat), size, angle, radius."""
    spec = FORMS[cl.form]
    lx = rng.uniform(*spec["lot"][0])
    ly = rng.uniform(*spec["lot"][1])
    angle = np.radians(rng.normal(0.0, spec["grid_sd"]))
    aspect = rng.uniform(1.0, 1.8)
    ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
    s = int(np.ceil(np.sqrt(n_cand * aspect * lx / ly) * 0.75)) + 3
    i, j = np.meshgrid(np.arange(-s, s + 1), np.arange(-s, s + 1), indexing="xy")
    x = i.ravel() * lx
    y = j.ravel() * ly
    theta = np.arctan2(y, x)
    r = np.hypot(x / np.sqrt(aspect), y * np.sqrt(aspect))
    r = r / (1.0 + 0.22 * np.cos(2 * (theta - ph1)) + 0.12 * np.cos(3 * (theta - ph2)))
    r = r + rng.uniform(0.0, 0.8, r.size) * lx
    keep = np.argsort(r, kind="stable")[:n_cand]
    x, y = x[keep], y[keep]
    n = x.size
    twist = np.radians(rng.uniform(-spec["twist"], spec["twist"], n))
    if cl.form == "rural":
        length = rng.uniform(8.0, 15.0, n)
        width = np.minimum(rng.uniform(6.0, 12.0, n), length)
        shape = np.full(n, "rural_house", dtype=object)
    elif cl.form == "town":
        length = rng.uniform(10.0, 28.0, n)
        width = np.minimum(rng.uniform(8.0, 14.0, n), length)
        shape = np.full(n, "town_building", dtype=object)
    else:
        block = rng.random(n) < 0.75
        length = np.where(block, rng.uniform(40.0, 80.0, n), rng.uniform(12.0, 30.0, n))
        width = np.where(block, rng.uniform(12.0, 18.0, n), rng.uniform(10.0, 20.0, n))
        width = np.minimum(width, length)
        shape = np.where(block, "apartment_block", "urban_lowrise").astype(object)
    length, width = np.round(length, 1), np.round(width, 1)
    c, si = np.abs(np.cos(twist)), np.abs(np.sin(twist))
    ex = (length * c + width * si) / 2
    ey = (length * si + width * c) / 2
    ox = rng.uniform(-1, 1, n) * np.maximum(lx / 2 - ex - 0.5, 0.0)
    oy = rng.uniform(-1, 1, n) * np.maximum(ly / 2 - ey - 0.5, 0.0)
    bx, by = x + ox, y + oy
    ca, sa = np.cos(angle), np.sin(angle)
    east = bx * ca - by * sa
    north = bx * sa + by * ca
    lon = cl.lon + east / mx
    lat = cl.lat + north / my
    return dict(lon=lon, lat=lat, east=east, north=north, length=length, width=width,
                angle=angle + twist, radius=np.hypot(length, width) / 2, shape=shape)


def footprints(lon, lat, length, width, angle, mx: float, my: float) -> np.ndarray:
    """Rectangles (shapely Polygons) centred at lon/lat with sides in metres, long side at ``angle``
    (radians anticlockwise from east)."""
    hx = np.array([-0.5, 0.5, 0.5, -0.5, -0.5])
    hy = np.array([-0.5, -0.5, 0.5, 0.5, -0.5])
    lx = length[:, None] * hx[None, :]
    ly = width[:, None] * hy[None, :]
    ca, sa = np.cos(angle)[:, None], np.sin(angle)[:, None]
    ex = lx * ca - ly * sa
    ny = lx * sa + ly * ca
    coords = np.stack([lon[:, None] + ex / mx, lat[:, None] + ny / my], axis=-1)
    return shapely.polygons(coords)


def keepout_points(lines, widths, mx: float, my: float, step_m: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``step_m`` along lines (metric x, y) and the half-width kept free around each."""
    if lines is None or len(lines) == 0:
        return np.zeros((0, 2)), np.zeros(0)
    geoms = np.asarray(lines, dtype=object)
    scaled = shapely.transform(geoms, lambda c: c * np.array([mx, my]))
    dense = shapely.segmentize(scaled, step_m)
    coords, index = shapely.get_coordinates(dense, return_index=True)
    return coords, np.asarray(widths, dtype="float64")[index]


def build_buildings(villages, townships, village_label: np.ndarray, terrain, county_geom, in_county: np.ndarray,
                    n_buildings: int, rng: np.random.Generator, progress=None, keepout=None):
    """The work map: GeoDataFrame building_id, township_code, village_code, urban, form, geometry.

    ``keepout``: (points in metric x/y, half-widths) from :func:`keepout_points` — roads and rivers no
    footprint may touch.
    """
    import geopandas as gpd

    grid: Grid = terrain.grid
    mx, my = metres_per_degree(grid.centre_lat)
    interior = ndimage.binary_erosion(in_county, structure=np.ones((3, 3), bool))
    big_river = terrain.river & (terrain.acc_km2 >= 50.0)
    ok_base = in_county & ~terrain.sea & ~big_river & (terrain.dem < 900)
    keep_tree = keep_w = None
    if keepout is not None and len(keepout[0]):
        keep_tree = cKDTree(keepout[0])
        keep_w = keepout[1]
    clusters = plan_settlements(villages, townships, village_label, ok_base & (terrain.slope < 0.2), grid,
                                n_buildings, rng)
    slope = terrain.slope
    accepted: list[dict] = []  # per cluster: arrays of accepted footprints
    centres = np.array([[c.lon * mx, c.lat * my] for c in clusters]) if clusters else np.zeros((0, 2))
    extents = np.zeros(len(clusters))
    trees: dict[int, cKDTree] = {}
    max_rad = np.zeros(len(clusters))
    carry = 0
    total_done = 0
    spare: list[tuple[dict, np.ndarray, np.ndarray]] = []  # per cluster: candidates, points, unused valid
    # generous candidate sets, so most shortfalls are filled from the settlement's own ring
    for ci, cl in enumerate(clusters):
        want = cl.quota + carry
        cand = _candidates(cl, int(want * 2.2) + 24, rng, mx, my)
        r, c, inside = grid.rowcol(cand["lon"], cand["lat"])
        valid = inside & ok_base[r, c] & (slope[r, c] < FORMS[cl.form]["slope"])
        edge = valid & ~interior[r, c]
        if edge.any():  # near the county line: the exact test
            idx = np.flatnonzero(edge)
            polys = footprints(cand["lon"][idx], cand["lat"][idx], cand["length"][idx], cand["width"][idx],
                               cand["angle"][idx], mx, my)
            valid[idx] = shapely.within(polys, county_geom)
        pts = np.stack([cand["lon"] * mx, cand["lat"] * my], axis=-1)
        if keep_tree is not None:
            d, j = keep_tree.query(pts, k=1, distance_upper_bound=float(cand["radius"].max() + keep_w.max()))
            near = np.isfinite(d)
            valid[near] &= d[near] >= cand["radius"][near] + keep_w[j[near]]
        extents[ci] = float(np.max(np.hypot(cand["east"], cand["north"]) + cand["radius"])) if pts.size else 0.0
        # footprints of settlements already filled that could touch these
        if ci:
            dcen = np.hypot(*(centres[:ci] - centres[ci]).T)
            for cj in np.flatnonzero(dcen < extents[:ci] + extents[ci]).tolist():
                if cj not in trees:
                    continue
                d, _ = trees[cj].query(pts, k=1, distance_upper_bound=float(max_rad[cj] + cand["radius"].max()))
                hit = np.isfinite(d) & (d < cand["radius"] + max_rad[cj] + 0.5)
                valid &= ~hit
        take = np.flatnonzero(valid)[:want]
        carry = want - take.size
        sel = {k: v[take] for k, v in cand.items()}
        sel["cluster"] = np.full(take.size, ci)
        sel["rank"] = np.arange(take.size)
        accepted.append(sel)
        spare.append((cand, pts, np.flatnonzero(valid)[want:]))
        if take.size:
            trees[ci] = cKDTree(pts[take])
            max_rad[ci] = float(cand["radius"][take].max())
        total_done += take.size
        if progress and ci % 50 == 0:
            progress(total_done, n_buildings)
    # a shortfall left at the end: top up from the spare lots of every settlement, in priority order,
    # now checking against the footprints of all neighbouring settlements
    for ci in range(len(clusters)):
        if carry <= 0:
            break
        cand, pts, rest = spare[ci]
        if rest.size == 0:
            continue
        ok = np.ones(rest.size, bool)
        dcen = np.hypot(*(centres - centres[ci]).T)
        for cj in np.flatnonzero(dcen < extents + extents[ci]).tolist():
            if cj == ci or cj not in trees:
                continue
            d, _ = trees[cj].query(pts[rest], k=1,
                                   distance_upper_bound=float(max_rad[cj] + cand["radius"][rest].max()))
            ok &= ~(np.isfinite(d) & (d < cand["radius"][rest] + max_rad[cj] + 0.5))
        extra = rest[ok][:carry]
        if extra.size == 0:
            continue
        carry -= extra.size
        sel = accepted[ci]
        for k, v in cand.items():
            sel[k] = np.concatenate([sel[k], v[extra]])
        sel["cluster"] = np.full(sel["lon"].size, ci)
        sel["rank"] = np.arange(sel["lon"].size)
        taken_pts = np.stack([sel["lon"] * mx, sel["lat"] * my], axis=-1)
        trees[ci] = cKDTree(taken_pts)
        max_rad[ci] = float(sel["radius"].max())
    if carry > 0:
        raise SampleBuildError(
            f"县内可建房的土地不足以容纳 {n_buildings} 栋房屋（还差 {carry} 栋）；请减少 --buildings",
            f"not enough buildable land in the county for {n_buildings} buildings ({carry} short); "
            f"lower --buildings")
    b = {k: np.concatenate([a[k] for a in accepted]) for k in accepted[0]} if accepted else None
    if b is None or b["lon"].size == 0:
        raise SampleBuildError("没有生成任何房屋", "no buildings were generated")
    polys = footprints(b["lon"], b["lat"], b["length"], b["width"], b["angle"], mx, my)
    # township / village from the exact polygon containing each footprint's centre
    pts = shapely.points(b["lon"], b["lat"])
    vgeoms = villages.geometry.values
    tree = shapely.STRtree(vgeoms)
    pi, vi = tree.query(pts, predicate="within")
    village_of = np.full(pts.size, -1, dtype=np.int64)
    village_of[pi] = vi
    if (village_of < 0).any():  # a centre exactly on a shared edge or a hair outside: nearest village
        miss = np.flatnonzero(village_of < 0)
        village_of[miss] = tree.nearest(pts[miss])
    vcode = villages["code"].to_numpy()[village_of]
    tcode = villages["township_code"].to_numpy()[village_of]
    order = np.lexsort((b["rank"], b["cluster"], vcode))
    vcode, tcode, polys = vcode[order], tcode[order], polys[order]
    shape = b["shape"][order]
    # serial within village
    first = np.r_[True, vcode[1:] != vcode[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(vcode.size), 0))
    serial = np.arange(vcode.size) - start + 1
    ids = np.char.add(np.char.add("B", vcode.astype(str)), np.char.zfill(serial.astype(str), 5))
    urban = np.array([c[9:12] < "200" for c in vcode.tolist()], dtype=np.int8)
    if progress:
        progress(n_buildings, n_buildings)
    return gpd.GeoDataFrame(
        {"building_id": ids.astype(object), "township_code": tcode.astype(object),
         "village_code": vcode.astype(object), "urban": urban, "form": shape},
        geometry=polys, crs="EPSG:4490")
