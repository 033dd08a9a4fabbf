"""Rivers and roads as vector lines.

Rivers: the river cells of the drainage tree (upstream area ≥ 8 km²), split into reaches at confluences,
drawn through cell centres and smoothed (Chaikin corner cutting keeps the reach ends fixed, so reaches still
join), with Strahler order and upstream area; the largest river systems get names.

Roads: least-cost paths on a 3× coarser copy of the grid, where steep grades, bridges over big rivers
and leaving the county cost extra and the sea is impassable. The network is

* a national road (国道) from one side of the county to the other through the county seat, roughly along
  the coast on a coastal county;
* an expressway (高速公路) parallel to the coast about 8 km inland (coastal counties only);
* provincial (省道) roads from the county seat to the nearest township seats and county roads (县道)
  along the minimum spanning tree of all township seats;
* village roads (村道) from every village seat to the nearest road (one multi-source search).

Lower classes are cut where they run along a road already drawn, so no stretch is stored twice.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra, minimum_spanning_tree

from .grid import Grid
from .hydrology import grid_edges, river_reaches, strahler
from .names import NameMaker
from .terrain import Terrain

ROAD_CLASSES = {"expressway": "高速公路", "national": "国道", "provincial": "省道", "county": "县道",
                "village": "村道"}


def chaikin(coords: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Corner-cutting smoothing that keeps both end points."""
    c = np.asarray(coords, dtype="float64")
    for _ in range(iterations):
        if len(c) < 3:
            return c
        q = 0.75 * c[:-1] + 0.25 * c[1:]
        r = 0.25 * c[:-1] + 0.75 * c[1:]
        mid = np.empty((2 * (len(c) - 1), 2))
        mid[0::2], mid[1::2] = q, r
        c = np.vstack([c[:1], mid[1:-1], c[-1:]])
    return c


def _cells_to_coords(grid: Grid, flat: np.ndarray) -> np.ndarray:
    r, c = np.divmod(np.asarray(flat), grid.width)
    lon, lat = grid.cell_centre(r, c)
    return np.stack([lon, lat], axis=-1)


def build_rivers(t: Terrain, county_geom, names: NameMaker):
    """River reaches inside the county (GeoDataFrame: river_id, name, order, upstream_km2, geometry)."""
    import geopandas as gpd

    grid = t.grid
    order = strahler(t.tree, t.river)
    reaches = river_reaches(t.tree, t.river)
    # name the biggest systems: follow each outlet upstream along the larger tributary
    acc = t.acc_km2.ravel()
    rows = []
    outlet_of = {}
    for path in reaches:
        end = int(path[-1])
        rows.append((path, end))
    # system id = the outlet cell reached by following receivers from the reach end
    rec = t.tree.receiver
    river = t.river.ravel()

    def outlet(cell: int) -> int:
        seen = []
        c = cell
        while True:
            if c in outlet_of:
                o = outlet_of[c]
                break
            r = int(rec[c])
            if r < 0 or not river[r]:
                o = c
                break
            seen.append(c)
            c = r
        for s in seen:
            outlet_of[s] = o
        outlet_of[cell] = o
        return o

    systems: dict[int, float] = {}
    for path, end in rows:
        o = outlet(end)
        systems[o] = max(systems.get(o, 0.0), float(acc[o]))
    named = {o: _river_name(names) for o in sorted(systems, key=lambda k: -systems[k])[:6] if systems[o] >= 40.0}
    geoms, attrs = [], []
    for k, (path, end) in enumerate(rows):
        coords = chaikin(_cells_to_coords(grid, path), 2)
        line = shapely.LineString(coords)
        o = outlet(end)
        main_stem = named.get(o) if acc[end] >= 0.25 * systems[o] or acc[end] >= 150 else None
        geoms.append(line)
        attrs.append(dict(river_id=k + 1, name=main_stem or "", order=int(order.ravel()[path].max()),
                          upstream_km2=round(float(acc[end]), 2)))
    if not geoms:
        return gpd.GeoDataFrame({"river_id": [], "name": [], "order": [], "upstream_km2": []},
                                geometry=[], crs="EPSG:4490")
    gdf = gpd.GeoDataFrame(attrs, geometry=geoms, crs="EPSG:4490")
    gdf["geometry"] = shapely.intersection(gdf.geometry.values, county_geom)
    gdf = gdf[~gdf.geometry.is_empty & gdf.geom_type.isin(["LineString", "MultiLineString"])]
    return gdf.reset_index(drop=True)


def _river_name(names: NameMaker) -> str:
    stem = names.village_stem()
    for suffix in ("屯", "沟", "堡", "营", "店", "庄", "窝铺", "杖子", "甸子", "房身"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.replace("家", "")[:2]
    name = stem + "河"
    k = 2
    while name in names.taken:
        name = f"{stem}{'二三四五六七八九'[min(k - 2, 7)]}河"
        k += 1
    return names.claim(name)


class _RoadGrid:
    """A coarse copy of the terrain for least-cost routing."""

    def __init__(self, t: Terrain, in_county: np.ndarray, factor: int = 3):
        self.t = t
        self.f = factor
        g = t.grid
        self.grid = g.coarsen(factor)
        h, w = self.grid.shape
        pad = lambda a, fill: np.pad(a, ((0, h * factor - a.shape[0]), (0, w * factor - a.shape[1])),  # noqa: E731
                                     mode="constant", constant_values=fill)
        blocks = lambda a: a.reshape(h, factor, w, factor)  # noqa: E731
        self.dem = blocks(pad(t.dem.astype("float64"), 0.0)).mean(axis=(1, 3))
        self.sea = blocks(pad(t.sea, True)).mean(axis=(1, 3)) > 0.5
        self.river = blocks(pad(t.river & (t.acc_km2 >= 60), False)).any(axis=(1, 3))
        self.inside = blocks(pad(in_county, False)).mean(axis=(1, 3)) > 0.3
        self.coast = blocks(pad(t.coast_km, 0.0)).mean(axis=(1, 3))

    def graph(self, extra=None):
        dx, dy = self.grid.cell_m
        u, v, steps = grid_edges(self.grid.shape, 8)
        horiz = (v - u) == 1
        length = np.where(horiz, dx, np.where(steps > 1.0, np.hypot(dx, dy), dy))
        z = self.dem.ravel()
        grade = np.abs(z[u] - z[v]) / length
        cost = length * (1.0 + (grade / 0.05) ** 2)
        riv = self.river.ravel()
        cost += np.where(riv[u] | riv[v], 400.0, 0.0)
        inside = self.inside.ravel()
        cost *= np.where(inside[u] & inside[v], 1.0, 2.5)
        if extra is not None:
            e = extra.ravel()
            cost *= 0.5 * (e[u] + e[v])
        sea = self.sea.ravel()
        keep = ~(sea[u] | sea[v])
        n = self.grid.width * self.grid.height
        return sp.coo_matrix((cost[keep], (u[keep], v[keep])), shape=(n, n)).tocsr()

    def cell_of(self, lon: float, lat: float) -> int:
        r, c, _ = self.grid.rowcol(np.array([lon]), np.array([lat]))
        cell = int(r[0] * self.grid.width + c[0])
        if self.sea.ravel()[cell]:  # nudge onto land
            land = np.flatnonzero(~self.sea.ravel())
            rr, cc = np.divmod(land, self.grid.width)
            k = np.argmin((rr - r[0]) ** 2 + (cc - c[0]) ** 2)
            cell = int(land[k])
        return cell


def _path(pred_row: np.ndarray, target: int) -> list[int]:
    out = [target]
    c = target
    while True:
        p = int(pred_row[c])
        if p < 0:
            break
        out.append(p)
        c = p
    return out[::-1]


def build_roads(t: Terrain, county, township_seats: list[tuple[float, float]],
                village_seats: list[tuple[float, float]], in_county: np.ndarray, coastal: bool):
    """Road lines inside the county (GeoDataFrame: road_id, class, class_zh, geometry)."""
    import geopandas as gpd

    rg = _RoadGrid(t, in_county)
    g = rg.graph()
    used = np.zeros(rg.grid.width * rg.grid.height, bool)
    lines: list[tuple[str, list[int]]] = []

    def add(cls: str, cells: list[int]) -> None:
        """Keep only stretches not already on a road, each with one joining cell at either end."""
        run: list[int] = []
        prev: int | None = None
        for c in cells:
            if used[c]:
                if run:
                    run.append(c)
                    lines.append((cls, run))
                    run = []
            else:
                if not run and prev is not None:
                    run = [prev]
                run.append(c)
            prev = c
        if len(run) >= 2:
            lines.append((cls, run))
        used[np.asarray(cells)] = True

    seats = [rg.cell_of(*s) for s in township_seats]
    seat0 = seats[0]
    # rim cells on land, for roads that cross the county
    h, w = rg.grid.shape
    rim = np.zeros((h, w), bool)
    rim[0, :] = rim[-1, :] = rim[:, 0] = rim[:, -1] = True
    rim &= ~rg.sea
    rim_cells = np.flatnonzero(rim)
    if rim_cells.size >= 2:
        rr, cc = np.divmod(rim_cells, w)
        coast = rg.coast.ravel()[rim_cells]
        pick = rim_cells
        if coastal:
            band = (coast > 2) & (coast < 15)
            if band.sum() >= 2:
                pick = rim_cells[band]
        pr, pc = np.divmod(pick, w)
        d2 = (pr[:, None] - pr[None, :]) ** 2 + (pc[:, None] - pc[None, :]) ** 2
        a, b = np.unravel_index(int(np.argmax(d2)), d2.shape)
        ends = [int(pick[a]), int(pick[b])]
        dist, pred = dijkstra(g, directed=False, indices=[seat0], return_predecessors=True)
        for e in ends:
            if np.isfinite(dist[0, e]):
                add("national", _path(pred[0], e)[::-1])
        if coastal:
            pref = 1.0 + ((rg.coast - 8.0) / 5.0) ** 2
            g2 = rg.graph(extra=pref)
            cx = rim_cells[np.argsort(np.abs(coast - 8.0))]
            # the two rim cells near 8 km from the coast that lie farthest apart
            cand = cx[: max(2, min(40, cx.size))]
            cr, ccol = np.divmod(cand, w)
            d2 = (cr[:, None] - cr[None, :]) ** 2 + (ccol[:, None] - ccol[None, :]) ** 2
            a, b = np.unravel_index(int(np.argmax(d2)), d2.shape)
            dist2, pred2 = dijkstra(g2, directed=False, indices=[int(cand[a])], return_predecessors=True)
            if np.isfinite(dist2[0, int(cand[b])]):
                lines.append(("expressway", _path(pred2[0], int(cand[b]))))
    # township network: county seat to its nearest seats, then the minimum spanning tree of all seats
    if len(seats) > 1:
        pts = np.array(township_seats)
        dxy = (pts[:, None, :] - pts[None, :, :]) * np.array([np.cos(np.radians(pts[0, 1])), 1.0])
        dmat = np.hypot(dxy[..., 0], dxy[..., 1])
        mst = minimum_spanning_tree(sp.csr_matrix(np.triu(dmat + 1e-9, 1))).tocoo()
        edges = {(min(i, j), max(i, j)) for i, j in zip(mst.row.tolist(), mst.col.tolist())}
        near0 = [int(k) for k in np.argsort(dmat[0])[1:4]]
        prov = {(0, k) for k in near0}
        edges |= prov
        srcs = sorted({i for i, _ in edges})
        dist, pred = dijkstra(g, directed=False, indices=[seats[i] for i in srcs], return_predecessors=True)
        row_of = {s: k for k, s in enumerate(srcs)}
        for i, j in sorted(edges, key=lambda e: (e not in prov, e)):
            if np.isfinite(dist[row_of[i], seats[j]]):
                add("provincial" if (i, j) in prov else "county", _path(pred[row_of[i]], seats[j]))
    # village roads: one search from the whole network back to every village seat
    net = np.flatnonzero(used)
    if net.size and village_seats:
        dist, pred, _ = dijkstra(g, directed=False, indices=net, min_only=True, return_predecessors=True)
        for s in village_seats:
            c = rg.cell_of(*s)
            if used[c] or not np.isfinite(dist[c]):
                continue
            add("village", _path(pred, c))
    geoms, attrs = [], []
    for k, (cls, cells) in enumerate(lines):
        coords = chaikin(_cells_to_coords(rg.grid, cells), 3)
        geoms.append(shapely.LineString(coords))
        attrs.append({"road_id": k + 1, "class": cls, "class_zh": ROAD_CLASSES[cls]})
    if not geoms:
        return gpd.GeoDataFrame({"road_id": [], "class": [], "class_zh": []}, geometry=[], crs="EPSG:4490")
    gdf = gpd.GeoDataFrame(attrs, geometry=geoms, crs="EPSG:4490")
    gdf["geometry"] = shapely.intersection(gdf.geometry.values, county.geometry)
    gdf = gdf[~gdf.geometry.is_empty & gdf.geom_type.isin(["LineString", "MultiLineString"])]
    return gdf.reset_index(drop=True)
