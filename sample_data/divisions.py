"""Townships (乡镇/街道) and villages (村/社区) that tile the county exactly.

How:

1. Seats. The county seat sits on low, flat land — a few km inland on a coastal county, in the widest
   valley near the middle otherwise. 街道 seats ring the county seat; 镇/乡 seats are spread over the
   rest by weighted Poisson-disc sampling that favours valley floors (low slope, low height above the
   drainage). The highest-lying seats become 乡, the rest 镇. Counts scale with area (about one
   township per 105 km² for a county-level city, 120 km² for a county, 80 km² for a district, 20 km²
   for a small urban district under 400 km², which is then all 街道 but one 镇).
2. Territories. A multi-source Dijkstra on the 8-connected grid, where climbing and crossing a big river
   cost extra, gives every cell to its "nearest" seat: boundaries follow ridges and rivers, and every
   territory is connected. Villages are grown the same way inside each township (edges between
   townships are cut), so villages nest in townships by construction.
3. Polygons. The village label grid is polygonised, simplified as a *coverage* (shared edges stay
   shared, ``shapely.coverage_simplify``), and clipped to the county polygon. A piece cut off from its
   village by the clip is handed to the neighbour it shares the longest edge with (islands stay with
   their village). A township is the union of its villages.

Codes follow the statistical division code pattern: township = county code + 3 digits (街道 001–099,
镇 100–199, 乡 200–299); village = township code + 3 digits (社区居委会 001–199, 村委会 200–399).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from .boundaries import County
from .grid import Grid, rasterize
from .hydrology import grid_edges
from .names import NameMaker
from .terrain import Terrain

KM2_PER_TOWNSHIP = {"city": 105.0, "county": 120.0, "district": 80.0}


@dataclass
class Divisions:
    townships: "object"  # GeoDataFrame: code, name, kind, population, households, seat_lon, seat_lat
    villages: "object"  # GeoDataFrame: code, township_code, name, kind, population, households, seat_*
    village_label: np.ndarray  # grid cells → row index into ``villages`` (before clipping), -1 = none
    in_county: np.ndarray  # grid cells whose centre lies in the county
    county_seat: tuple[float, float]


def _seat_weight(t: Terrain) -> np.ndarray:
    """How attractive a cell is for a settlement: flat valley floors, not too high, not in a channel."""
    w = np.exp(-t.slope / 0.05) * np.exp(-t.hand / 12.0) * np.exp(-np.maximum(t.dem, 0) / 350.0)
    w *= 1.0 + 0.6 * np.exp(-t.river_dist_m / 600.0)  # villages like water nearby…
    w[t.river | t.sea] = 0.0  # …but not in it
    return w


def _xy(grid: Grid, flat: np.ndarray) -> np.ndarray:
    dx, dy = grid.cell_m
    r, c = np.divmod(flat, grid.width)
    return np.stack([c * dx, r * dy], axis=-1).astype("float64")


def poisson_pick(cands: np.ndarray, weights: np.ndarray, n: int, min_dist: float, grid: Grid,
                 rng: np.random.Generator, fixed: np.ndarray | None = None) -> list[int]:
    """Up to ``n`` cells from ``cands`` (flat indices), favouring ``weights``, at least ``min_dist``
    metres from each other and from ``fixed`` cells; the spacing relaxes if too few fit."""
    if n <= 0 or cands.size == 0:
        return []
    w = np.maximum(weights, 1e-12)
    keys = np.log(rng.random(cands.size)) / w  # Efraimidis–Spirakis weighted order
    order = cands[np.argsort(-keys)][: max(60 * n, 200)]
    pts = _xy(grid, order)
    fixed_xy = _xy(grid, np.asarray(fixed, dtype=np.int64)) if fixed is not None and len(fixed) else np.zeros((0, 2))
    chosen: list[int] = []
    chosen_xy = fixed_xy
    d = min_dist
    for _ in range(6):
        for i in range(order.size):
            if len(chosen) >= n:
                break
            if chosen_xy.shape[0] and np.min(np.hypot(*(chosen_xy - pts[i]).T)) < d:
                continue
            if order[i] in chosen:
                continue
            chosen.append(int(order[i]))
            chosen_xy = np.vstack([chosen_xy, pts[i]])
        if len(chosen) >= n:
            break
        d *= 0.7
    return chosen


def _cost_graph(t: Terrain, connectivity: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, cost) of grid edges: metres, plus climbing, big-river crossing and sea penalties."""
    grid = t.grid
    dx, dy = grid.cell_m
    u, v, steps = grid_edges(grid.shape, connectivity)
    horiz = (v - u) == 1
    length = np.where(horiz, dx, np.where(steps > 1.0, np.hypot(dx, dy), dy))
    z = t.dem.ravel().astype("float64")
    climb = np.abs(z[u] - z[v])
    cost = length + 25.0 * climb
    big = (t.acc_km2 >= 60.0).ravel() & t.river.ravel()
    cost = cost + np.where(big[u] != big[v], 600.0, 0.0)
    sea = t.sea.ravel()
    cost = np.where(sea[u] | sea[v], cost * 4.0, cost)
    return u, v, cost


def _territories(n_nodes: int, u, v, cost, seeds: list[int]) -> np.ndarray:
    """Index into ``seeds`` of the cheapest seat for every node (-1 where unreachable)."""
    g = sp.coo_matrix((cost, (u, v)), shape=(n_nodes, n_nodes)).tocsr()
    _, _, src = dijkstra(g, directed=False, indices=np.asarray(seeds), min_only=True, return_predecessors=True)
    lookup = np.full(n_nodes, -1, dtype=np.int64)
    lookup[np.asarray(seeds)] = np.arange(len(seeds))
    out = np.where(src >= 0, lookup[np.clip(src, 0, None)], -1)
    return out


def _fill_unreached(labels: np.ndarray, shape) -> np.ndarray:
    """Cells no seat reached (cut off by the graph) take the nearest labelled cell's label."""
    if (labels >= 0).all():
        return labels
    from scipy import ndimage

    lab = labels.reshape(shape)
    _, (iy, ix) = ndimage.distance_transform_edt(lab < 0, return_indices=True)
    return lab[iy, ix].ravel()


def _polygonise(labels: np.ndarray, grid: Grid, n: int) -> list:
    from rasterio import features

    geoms: list[list] = [[] for _ in range(n)]
    for geom, val in features.shapes(labels.astype("int32"), connectivity=4, transform=grid.transform):
        k = int(val)
        if k >= 0:
            geoms[k].append(shapely.geometry.shape(geom))
    return [shapely.union_all(g) if len(g) > 1 else (g[0] if g else shapely.Polygon()) for g in geoms]


def _clip_and_mend(polys: list, county_geom, seeds_xy: list[tuple[float, float]]) -> list:
    """Clip coverage pieces to the county; give cut-off fragments to the neighbour sharing most edge."""
    clipped = list(shapely.intersection(np.asarray(polys, dtype=object), county_geom))
    main: list = []
    extras: list[tuple[int, object]] = []
    for k, g in enumerate(clipped):
        parts = [p for p in getattr(g, "geoms", [g]) if p.geom_type == "Polygon" and not p.is_empty]
        if not parts:
            main.append(shapely.Polygon())
            continue
        seed = shapely.Point(seeds_xy[k])
        hit = [i for i, p in enumerate(parts) if p.intersects(seed)]
        keep = hit[0] if hit else int(np.argmax([p.area for p in parts]))
        main.append(parts[keep])
        extras.extend((k, p) for i, p in enumerate(parts) if i != keep)
    result = list(main)
    if extras:
        tree = shapely.STRtree(main)
        for k, part in sorted(extras, key=lambda e: -e[1].area):
            best, best_len = k, 0.0
            for j in tree.query(part, predicate="intersects"):
                if j == k:
                    continue
                shared = shapely.intersection(part.boundary, main[j].boundary).length
                if shared > best_len:
                    best, best_len = int(j), shared
            result[best] = shapely.union_all([result[best], part])
    return result


def _population(kind: str, dem: float, rng: np.random.Generator) -> tuple[int, int]:
    if kind == "community_jd":
        pop = rng.uniform(3500, 9000)
        hh = pop / rng.uniform(2.4, 2.7)
    elif kind == "community_town":
        pop = rng.uniform(2200, 5000)
        hh = pop / rng.uniform(2.5, 2.8)
    else:
        pop = rng.lognormal(np.log(1300), 0.4) * np.exp(-max(dem, 0.0) / 900.0)
        pop = max(pop, 180.0)
        hh = pop / rng.uniform(2.7, 3.1)
    return int(round(pop)), max(1, int(round(hh)))


def build_divisions(county: County, t: Terrain, rng: np.random.Generator, names: NameMaker) -> Divisions:
    import geopandas as gpd

    grid = t.grid
    h, w = grid.shape
    n_nodes = h * w
    in_county = rasterize([county.geometry], grid).astype(bool)
    eligible = in_county & ~t.sea & ~t.river & (t.slope < 0.15)
    if not eligible.any():
        eligible = in_county & ~t.sea
    if not eligible.any():  # a county smaller than one cell: take the cell under its representative point
        p = county.geometry.representative_point()
        r, c, _ = grid.rowcol(np.array([p.x]), np.array([p.y]))
        eligible = np.zeros(grid.shape, bool)
        eligible[r[0], c[0]] = True
        in_county = in_county | eligible
    weight = _seat_weight(t)
    cand = np.flatnonzero(eligible)
    cw = weight.ravel()[cand] + 1e-6
    xy = _xy(grid, cand)
    cen = county.geometry.representative_point()
    cr, cc, _ = grid.rowcol(np.array([cen.x]), np.array([cen.y]))
    cxy = _xy(grid, np.array([cr[0] * w + cc[0]]))[0]
    dcen_km = np.hypot(*(xy - cxy).T) / 1000.0

    # 1. county seat
    coast = t.coast_km.ravel()[cand]
    score = np.log(cw) - dcen_km / 12.0
    if county.coastal:
        score -= np.abs(coast - 4.0) / 2.5
    else:
        score += 0.5 * np.log10(np.maximum(t.river_near_acc.ravel()[cand], 1.0)) - dcen_km / 15.0
    score += 0.3 * rng.gumbel(size=score.size)
    seat = int(cand[int(np.argmax(score))])

    area = county.area_km2
    per = KM2_PER_TOWNSHIP[county.kind] if not (county.kind == "district" and area < 400) else 20.0
    n_town = int(np.clip(round(area / per), 3, 40))  # a small urban district is mostly 街道
    if county.kind == "district":
        n_jd = n_town - 1 if area < 400 else max(2, round(0.4 * n_town))
    elif county.kind == "city":
        n_jd = int(np.clip(round(0.25 * n_town), 2, 8))
    else:
        n_jd = 0

    # 2. 街道 seats ring the county seat; 镇/乡 seats spread over the rest
    jd_seats = [seat] if n_jd else []
    if n_jd > 1:
        dseat = np.hypot(*(xy - _xy(grid, np.array([seat]))[0]).T)
        ring = (dseat > 1200) & (dseat < 4000)
        jd_seats += poisson_pick(cand[ring], cw[ring], n_jd - 1, 1800.0, grid, rng, fixed=np.array([seat]))
    n_rest = n_town - len(jd_seats)
    spacing = 0.75 * np.sqrt(area / max(n_town, 1)) * 1000.0
    if n_jd:
        dseat = np.hypot(*(xy - _xy(grid, np.array([seat]))[0]).T)
        far = dseat > max(spacing, 6000.0)
        others = poisson_pick(cand[far], cw[far], n_rest, spacing, grid, rng, fixed=np.array(jd_seats))
    else:  # a county's seat is a 镇 named after the county
        others = [seat] + poisson_pick(cand, cw, n_rest - 1, spacing, grid, rng, fixed=np.array([seat]))
    others = [s for s in others if s not in jd_seats]
    seats = jd_seats + others
    dem = t.dem.ravel()
    # the highest-lying seats are 乡 (never the county seat)
    xiang_share = {"city": 0.3, "county": 0.4, "district": 0.2}[county.kind]
    n_xiang = int(round(xiang_share * len(others)))
    by_height = sorted((s for s in others if s != seat), key=lambda s: -dem[s])
    xiang = set(by_height[:n_xiang])
    kinds = ["jiedao"] * len(jd_seats) + ["xiang" if s in xiang else "zhen" for s in others]

    # 3. township territories
    u, v, cost = _cost_graph(t)
    t_lab = _fill_unreached(_territories(n_nodes, u, v, cost, seats), grid.shape)

    # 4. village seeds inside each township
    stem = county.name[:-1] if len(county.name) > 2 else county.name
    seat_xy = _xy(grid, np.asarray(seats))
    dist_cs = np.hypot(*(seat_xy - seat_xy[0 if n_jd else 0]).T)
    # code order: 街道 / 镇 / 乡 each numbered outward from the county seat
    order = sorted(range(len(seats)), key=lambda i: ({"jiedao": 0, "zhen": 1, "xiang": 2}[kinds[i]], dist_cs[i]))
    counters = {"jiedao": 1, "zhen": 100, "xiang": 200}
    t_rows = []
    v_seeds: list[int] = []
    v_info: list[dict] = []
    elig_flat = eligible.ravel()
    wflat = weight.ravel()
    for i in order:
        kind = kinds[i]
        tcode = f"{county.adcode}{counters[kind]:03d}"
        counters[kind] += 1
        if kind == "zhen" and seats[i] == seat and not n_jd:
            tname = names.claim(f"{stem}镇") if f"{stem}镇" not in names.taken else names.township("zhen")
        else:
            tname = names.township(kind)
        region = np.flatnonzero((t_lab == i) & elig_flat)
        region_km2 = float(np.count_nonzero(t_lab.reshape(grid.shape)[in_county] == i)) * grid.cell_area_km2
        s_xy = _xy(grid, np.array([seats[i]]))[0]
        rxy = _xy(grid, region)
        dseat = np.hypot(*(rxy - s_xy).T) if region.size else np.zeros(0)
        if kind == "jiedao":
            n_comm = int(rng.integers(4, 9)) + (3 if seats[i] == seat else 0)
            n_cun = int(round(max(0.0, region_km2 - 8.0) / 8.0))
        elif kind == "zhen":
            n_comm = int(rng.integers(1, 3)) + (4 if seats[i] == seat else 0)
            n_cun = int(np.clip(round(region_km2 / 7.5), 3, 60))
        else:
            n_comm = 0
            n_cun = int(np.clip(round(region_km2 / 9.0), 2, 50))
        n_cun = min(n_cun, 199)
        # communities: the seat first, then close around it
        comm = [seats[i]] if n_comm else []
        if n_comm > 1 and region.size:
            near = dseat < (2500.0 if kind == "jiedao" else 1500.0)
            comm += poisson_pick(region[near], wflat[region[near]], n_comm - 1, 450.0 if kind != "jiedao" else 550.0,
                                 grid, rng, fixed=np.array(comm))
        cun = [] if n_comm else [seats[i]]
        if region.size:
            away = dseat > (1500.0 if n_comm else 900.0)
            vsp = 0.7 * np.sqrt(max(region_km2, 1.0) / max(n_cun, 1)) * 1000.0
            cun += poisson_pick(region[away], wflat[region[away]], n_cun - len(cun), vsp, grid, rng,
                                fixed=np.array(comm + cun))
        comm_kind = "community_jd" if kind == "jiedao" else "community_town"
        members = sorted(comm, key=lambda s: np.hypot(*(_xy(grid, np.array([s]))[0] - s_xy)))
        vcodes = []
        for k, s in enumerate(members):
            vcodes.append((f"{tcode}{k + 1:03d}", s, comm_kind))
        members = sorted(cun, key=lambda s: np.hypot(*(_xy(grid, np.array([s]))[0] - s_xy)))
        for k, s in enumerate(members):
            vcodes.append((f"{tcode}{k + 200:03d}", s, "village"))
        for vcode, s, vkind in vcodes:
            pop, hh = _population(vkind, float(dem[s]), rng)
            vname = names.community() if vkind != "village" else names.village()
            lon, lat = grid.cell_centre(*np.divmod(s, w))
            v_seeds.append(s)
            v_info.append(dict(code=vcode, township_code=tcode, name=vname,
                               kind="community" if vkind != "village" else "village",
                               population=pop, households=hh, seat_lon=float(lon), seat_lat=float(lat),
                               _township=i))
        lon, lat = grid.cell_centre(*np.divmod(seats[i], w))
        t_rows.append(dict(code=tcode, name=tname, kind={"jiedao": "街道", "zhen": "镇", "xiang": "乡"}[kind],
                           seat_lon=float(lon), seat_lat=float(lat), _index=i))

    # 5. village territories nested in township territories
    same = t_lab[u] == t_lab[v]
    v_lab = _territories(n_nodes, u[same], v[same], cost[same], v_seeds)
    v_lab = _fill_unreached(v_lab, grid.shape)
    # 6. polygons: polygonise, simplify as a coverage, clip, mend
    polys = _polygonise(v_lab.reshape(grid.shape), grid, len(v_seeds))
    polys = list(shapely.coverage_simplify(np.asarray(polys, dtype=object), 0.6 * grid.res,
                                           simplify_boundary=False))
    seeds_xy = [(d["seat_lon"], d["seat_lat"]) for d in v_info]
    vgeoms = _clip_and_mend(polys, county.geometry, seeds_xy)

    villages = gpd.GeoDataFrame(v_info, geometry=vgeoms, crs="EPSG:4490")
    villages = villages[~villages.geometry.is_empty].reset_index(drop=True)
    tgeoms, tpop, thh = [], [], []
    for row in t_rows:
        mine = villages[villages["township_code"] == row["code"]]
        tgeoms.append(shapely.union_all(mine.geometry.values) if len(mine) else shapely.Polygon())
        tpop.append(int(mine["population"].sum()))
        thh.append(int(mine["households"].sum()))
    townships = gpd.GeoDataFrame(t_rows, geometry=tgeoms, crs="EPSG:4490")
    townships["population"] = tpop
    townships["households"] = thh
    townships = townships[~townships.geometry.is_empty]
    townships = townships.sort_values("code").drop(columns=["_index"]).reset_index(drop=True)
    townships = townships[["code", "name", "kind", "population", "households", "seat_lon", "seat_lat", "geometry"]]
    # grid labels → final village rows
    code_to_row = {c: k for k, c in enumerate(villages["code"])}
    remap = np.array([code_to_row.get(d["code"], -1) for d in v_info] + [-1])
    label = remap[np.where(v_lab >= 0, v_lab, len(v_info))].reshape(grid.shape)
    villages = villages.drop(columns=["_township"]).sort_values("code")
    order_rows = villages.index.to_numpy()
    inverse = np.full(len(order_rows) + 1, -1)
    inverse[order_rows] = np.arange(len(order_rows))
    label = np.where(label >= 0, inverse[np.clip(label, 0, None)], -1)
    villages = villages.reset_index(drop=True)
    villages = villages[["code", "township_code", "name", "kind", "population", "households",
                         "seat_lon", "seat_lat", "geometry"]]
    lon, lat = grid.cell_centre(*np.divmod(seat, w))
    return Divisions(townships, villages, label, in_county, (float(lon), float(lat)))
