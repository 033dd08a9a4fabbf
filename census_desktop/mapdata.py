"""What the map panel draws, without Qt: footprints on a local plane, their states, hit-testing.

* :class:`LocalProjection` — lon/lat (CGCS2000) ↔ metres on a plane tangent at the township's centre
  (x east, y **south**, so scene coordinates grow downwards like the screen's).  Across a township
  (≲ 30 km) a cos(latitude)-scaled plane is off by well under a metre, and it inverts exactly, so a
  point clicked on the map comes back as the lon/lat that was drawn there.
* :func:`build_map_data` — parse every footprint once (vectorised shapely), keep flat coordinate arrays
  (for drawing), an STRtree (for clicks), a tile number per footprint (so a status change redraws one
  tile, and a zoomed-in view skips the tiles off screen).
* :func:`footprint_states` — the state a footprint shows (same states as the records table).
* :func:`read_outlines` — the township and village outlines from the work map GeoPackage; when it is
  not at hand, :func:`derived_village_outlines` draws each village round its footprints.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .logic import HOUSE_FORMS, STATUS_ORDER, STATUS_TODO, display_status

M_PER_DEG = 6_371_008.8 * math.pi / 180   # mean Earth radius: metres per degree of latitude
TILE_TARGET = 800                          # footprints per drawing tile, about
VILLAGE_HULL_RATIO = 0.35                  # concave hull tightness for derived village outlines
VILLAGE_HULL_PAD_M = 40.0


@dataclass(frozen=True)
class LocalProjection:
    lon0: float
    lat0: float

    @property
    def kx(self) -> float:
        return M_PER_DEG * math.cos(math.radians(self.lat0))

    def to_scene(self, lon, lat):
        """lon/lat (scalars or arrays) → scene x, y in metres (y grows southwards)."""
        return (np.asarray(lon) - self.lon0) * self.kx, -(np.asarray(lat) - self.lat0) * M_PER_DEG

    def to_lonlat(self, x, y) -> tuple[float, float]:
        return self.lon0 + float(x) / self.kx, self.lat0 - float(y) / M_PER_DEG

    def geometry_to_scene(self, geoms):
        """Shapely geometries (lon/lat) → the same geometries in scene coordinates."""
        import shapely

        kx = self.kx
        return shapely.transform(geoms, lambda c: np.column_stack(((c[:, 0] - self.lon0) * kx,
                                                                   -(c[:, 1] - self.lat0) * M_PER_DEG)))


@dataclass
class Outline:
    """A township or village outline, in scene coordinates, with where to put its name."""

    code: str
    name: str
    rings: list[np.ndarray]
    label_at: tuple[float, float]
    derived: bool = False      # drawn round the footprints: the work map's outline was not at hand
    geom: Any = None           # the shapely geometry (scene), for point-in-village


@dataclass
class FootprintState:
    status: str
    record_uuid: str | None = None
    form_id: str | None = None


@dataclass
class MapData:
    proj: LocalProjection
    ids: list[str]
    index: dict[str, int]
    urban: np.ndarray            # bool per footprint
    village: list[str | None]
    coords: np.ndarray           # (M, 2) every ring's vertices, footprint after footprint (scene)
    offsets: np.ndarray          # (n + 1,) footprint i's vertices are coords[offsets[i]:offsets[i + 1]]
    ring_start: np.ndarray       # (M,) bool: the vertex starts a ring
    anchors: np.ndarray          # (n, 2) a point inside each footprint (scene)
    sizes: np.ndarray            # (n,) the larger side of each footprint's box, metres
    geoms: np.ndarray            # shapely polygons (scene), for hit-testing
    tree: Any                    # shapely.STRtree over ``geoms``
    tiles: np.ndarray            # (n,) tile number per footprint
    tile_count: int
    bounds: tuple[float, float, float, float]
    states: dict[str, FootprintState] = field(default_factory=dict)
    township: Outline | None = None
    villages: list[Outline] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def status_of(self, building_id: str) -> str:
        st = self.states.get(building_id)
        return st.status if st else STATUS_TODO

    def statuses(self) -> np.ndarray:
        """The state of every footprint, in footprint order (object array of status keys)."""
        out = np.full(len(self.ids), STATUS_TODO, dtype=object)
        for bid, st in self.states.items():
            i = self.index.get(bid)
            if i is not None:
                out[i] = st.status
        return out

    def footprint_at(self, x: float, y: float, tolerance: float = 0.0) -> int | None:
        """The footprint under scene point (x, y) — the smallest when they overlap — or, failing that,
        the nearest within ``tolerance`` metres (a click a few pixels off a small house still hits it)."""
        import shapely

        pt = shapely.Point(x, y)
        hits = self.tree.query(pt, predicate="intersects")
        if len(hits):
            return int(min(hits, key=lambda i: shapely.area(self.geoms[i])))
        if tolerance > 0:
            near = self.tree.query_nearest(pt, max_distance=tolerance)
            if len(near):
                return int(near[0])
        return None

    def village_at(self, x: float, y: float) -> str | None:
        """The code of the village whose work-map outline holds scene point (x, y); None when outside
        every one, or when the outlines were only drawn round the footprints (too rough to say)."""
        import shapely

        pt = shapely.Point(x, y)
        for v in self.villages:
            if not v.derived and v.geom is not None and v.geom.contains(pt):
                return v.code
        return None

    def vertex_rows(self, idx: np.ndarray) -> np.ndarray:
        """Row numbers into ``coords`` of the footprints ``idx`` (for drawing a subset)."""
        idx = np.asarray(idx, dtype=np.int64)
        if not len(idx):
            return np.empty(0, dtype=np.int64)
        starts = self.offsets[idx]
        lens = self.offsets[idx + 1] - starts
        total = int(lens.sum())
        shift = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
        return shift + np.arange(total)


# ---------------------------------------------------------------------------------------------------
# Footprint states

_RANK = {s: i for i, s in enumerate(STATUS_ORDER)}


def footprint_states(records: Iterable[Mapping[str, Any]]) -> dict[str, FootprintState]:
    """Building id → the state its house record shows (``TownshipStore.records`` dicts of the house
    forms).  A footprint with several records shows the most urgent one and opens it."""
    out: dict[str, FootprintState] = {}
    for r in records:
        key = r.get("key")
        if not key or r.get("form_id") not in HOUSE_FORMS:
            continue
        status = display_status(r)
        cur = out.get(key)
        if cur is None or _RANK.get(status, 99) < _RANK.get(cur.status, 99):
            out[key] = FootprintState(status, r["record_uuid"], r["form_id"])
    return out


# ---------------------------------------------------------------------------------------------------
# Building

Progress = Callable[[int, int, str], None]


def _noop(_done: int, _total: int, _text: str = "") -> None:
    pass


def build_map_data(rows: Sequence[Mapping[str, Any]], *, boundary=None, township_geom=None,
                   villages: Sequence[tuple[str, str, Any]] | None = None, village_names: Mapping[str, str] | None = None,
                   township_code: str = "", township_name: str = "", states: Mapping[str, FootprintState] | None = None,
                   progress: Progress | None = None) -> MapData:
    """Everything the map draws, from ``TownshipStore.workmap()`` rows.

    ``township_geom``: the township's outline (lon/lat) from the work map; else ``boundary``, the store's
    township boundary (widened by ≈1 km), is shrunk back and drawn.  Either centres the projection.  ``villages``: (code, name,
    shapely geometry in lon/lat) from :func:`read_outlines`; None → outlines drawn round each village's
    footprints.  ``progress(done, total, text)`` is called between steps (it may raise to cancel).
    """
    import shapely

    report = progress or _noop
    n = len(rows)
    report(0, 5, "parse")
    geoms_ll = shapely.from_geojson([r["geometry"] for r in rows]) if n else np.empty(0, dtype=object)
    # the projection centre: the township's centre (or the footprints')
    centre_geom = township_geom if township_geom is not None else boundary
    if centre_geom is not None and not centre_geom.is_empty:
        c = centre_geom.centroid
        proj = LocalProjection(round(c.x, 6), round(c.y, 6))
    elif n:
        b = shapely.total_bounds(geoms_ll)
        proj = LocalProjection(round((b[0] + b[2]) / 2, 6), round((b[1] + b[3]) / 2, 6))
    else:
        proj = LocalProjection(120.0, 40.0)
    report(1, 5, "project")
    geoms = proj.geometry_to_scene(geoms_ll) if n else geoms_ll
    # flat vertex arrays: parts → rings → coordinates, footprint after footprint
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of_part = shapely.get_rings(parts, return_index=True)
    coords, vert_ring = shapely.get_coordinates(rings, return_index=True)
    fp_of_ring = part_of[ring_of_part] if len(rings) else np.empty(0, dtype=np.int64)
    fp_of_vert = fp_of_ring[vert_ring] if len(coords) else np.empty(0, dtype=np.int64)
    offsets = np.searchsorted(fp_of_vert, np.arange(n + 1)).astype(np.int64)
    ring_start = np.ones(len(coords), dtype=bool)
    if len(coords):
        ring_start[1:] = vert_ring[1:] != vert_ring[:-1]
    report(2, 5, "index")
    anchors = shapely.get_coordinates(shapely.point_on_surface(geoms)) if n else np.empty((0, 2))
    box = shapely.bounds(geoms) if n else np.empty((0, 4))
    sizes = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]) if n else np.empty(0)
    tree = shapely.STRtree(geoms)
    # tiles: a grid over the footprints' extent, about TILE_TARGET footprints each
    if n:
        minx, miny = box[:, 0].min(), box[:, 1].min()
        maxx, maxy = box[:, 2].max(), box[:, 3].max()
        g = max(1, math.ceil(math.sqrt(n / TILE_TARGET)))
        tx = np.minimum(((anchors[:, 0] - minx) / max(maxx - minx, 1e-9) * g).astype(np.int64), g - 1)
        ty = np.minimum(((anchors[:, 1] - miny) / max(maxy - miny, 1e-9) * g).astype(np.int64), g - 1)
        tiles, tile_count = tx * g + ty, g * g
        bounds = (float(minx), float(miny), float(maxx), float(maxy))
    else:
        tiles, tile_count, bounds = np.empty(0, dtype=np.int64), 0, (-500.0, -500.0, 500.0, 500.0)
    report(3, 5, "outlines")
    names = village_names or {}
    township = None
    if township_geom is not None and not township_geom.is_empty:
        township = outline(proj, township_code, township_name, township_geom)
    elif boundary is not None and not boundary.is_empty:
        # the store keeps the boundary widened by ≈1 km (see geodb.township); shrink it back to draw it
        from geodb.township import BOUNDARY_BUFFER_DEG

        shrunk = boundary.buffer(-BOUNDARY_BUFFER_DEG)
        township = outline(proj, township_code, township_name, shrunk if not shrunk.is_empty else boundary,
                           derived=True)
    village_village = [r.get("village_code") for r in rows]
    if villages is None:
        outlines = derived_village_outlines(geoms, village_village, names)
    else:
        outlines = [outline(proj, code, name or names.get(code, code), geom) for code, name, geom in villages]
    if township is not None and township.rings:
        allc = np.concatenate(township.rings)
        bounds = (min(bounds[0], allc[:, 0].min()), min(bounds[1], allc[:, 1].min()),
                  max(bounds[2], allc[:, 0].max()), max(bounds[3], allc[:, 1].max()))
    report(4, 5, "done")
    ids = [str(r["building_id"]) for r in rows]
    return MapData(proj, ids, {b: i for i, b in enumerate(ids)}, np.array([bool(r.get("urban")) for r in rows]),
                   village_village, coords, offsets, ring_start, anchors, sizes, geoms, tree, tiles, tile_count,
                   bounds, dict(states or {}), township, outlines)


def _rings_of(geom) -> list[np.ndarray]:
    import shapely

    parts = shapely.get_parts(geom)
    rings = shapely.get_rings(parts)
    return [shapely.get_coordinates(r) for r in rings]


def outline(proj: LocalProjection, code: str, name: str, geom_ll, *, derived: bool = False) -> Outline:
    """An outline from a lon/lat geometry."""
    import shapely

    g = proj.geometry_to_scene(geom_ll)
    p = shapely.point_on_surface(g)
    return Outline(code, name, _rings_of(g), (p.x, p.y), derived, g)


def derived_village_outlines(geoms: np.ndarray, village_codes: Sequence[str | None],
                             names: Mapping[str, str]) -> list[Outline]:
    """Each village drawn round its footprints (a padded concave hull), when the work map's village
    polygons are not at hand; marked ``derived`` so the legend can say so."""
    import shapely

    by: dict[str, list[int]] = {}
    for i, v in enumerate(village_codes):
        if v:
            by.setdefault(v, []).append(i)
    out = []
    anchors = shapely.get_coordinates(shapely.point_on_surface(geoms)) if len(geoms) else np.empty((0, 2))
    for code, idx in sorted(by.items()):
        pts = shapely.multipoints(anchors[idx])   # one point a house: 5× fewer than its vertices, same shape
        hull = shapely.concave_hull(pts, ratio=VILLAGE_HULL_RATIO).buffer(VILLAGE_HULL_PAD_M)
        p = shapely.point_on_surface(hull)
        out.append(Outline(code, names.get(code, code), _rings_of(hull), (p.x, p.y), True, hull))
    return out


# ---------------------------------------------------------------------------------------------------
# The work map's outlines

def workmap_gpkg(source: str | Path | None) -> Path | None:
    """The GeoPackage of a work-map folder (``sample.gpkg`` or the first ``*.gpkg``), or None."""
    if not source:
        return None
    p = Path(source)
    if p.is_file() and p.suffix.lower() == ".gpkg":
        return p
    if p.is_dir():
        if (p / "sample.gpkg").is_file():
            return p / "sample.gpkg"
        found = sorted(p.glob("*.gpkg"))
        return found[0] if found else None
    return None


def read_outlines(gpkg: str | Path, township: str) -> tuple[Any, list[tuple[str, str, Any]]] | None:
    """(township geometry or None, [(village code, name, geometry)]) in lon/lat from a work-map
    GeoPackage's ``townships`` and ``villages`` layers; None when it has no villages layer."""
    import pyogrio

    if not (len(township) == 9 and township.isdigit()):
        return None
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    if "villages" not in layers:
        return None
    v = pyogrio.read_dataframe(gpkg, layer="villages", where=f"township_code = '{township}'")
    if v.crs is not None and v.crs.to_epsg() not in (4490, 4326, None):
        v = v.to_crs(4490)
    villages = [(str(c), str(nm), g) for c, nm, g in zip(v["code"], v["name"], v.geometry, strict=True) if g is not None]
    tgeom = None
    if "townships" in layers:
        t = pyogrio.read_dataframe(gpkg, layer="townships", where=f"code = '{township}'")
        if len(t):
            if t.crs is not None and t.crs.to_epsg() not in (4490, 4326, None):
                t = t.to_crs(4490)
            tgeom = t.geometry.iloc[0]
    return tgeom, villages


def point_records(records: Iterable[Mapping[str, Any]], geometry_field: str) -> list[tuple[str, str, float, float, str]]:
    """(record uuid, key, lon, lat, display status) of records whose geometry is a point."""
    out = []
    for r in records:
        g = (r.get("data") or {}).get(geometry_field)
        if isinstance(g, str) and g.startswith("{"):
            g = json.loads(g)
        if isinstance(g, Mapping) and g.get("type") == "Point":
            lon, lat = g["coordinates"][:2]
            out.append((r["record_uuid"], r.get("key") or "", float(lon), float(lat), display_status(r)))
    return out


def load_map(store_path: str | Path, *, rows: Sequence[Mapping[str, Any]] | None = None,
             workmap: str | Path | None = None, progress: Progress | None = None) -> MapData:
    """Everything the map needs, read through a store opened here (a worker thread has its own SQLite
    connection): footprints (``rows`` when the caller already holds them), record states, outlines from
    the work map (``workmap``, else the folder the store was made from) or drawn round the footprints."""
    from geodb.township import TownshipStore

    from .logic import village_names as _village_names

    report = progress or _noop
    report(0, 1, "read")
    with TownshipStore.open(store_path) as store:
        rows = list(rows) if rows is not None else store.workmap()
        records: list[dict] = []
        for form_id in HOUSE_FORMS:
            records.extend(store.records(form_id))
        states = footprint_states(records)
        boundary = store.boundary()
        names = _village_names(store.enrolment)
        township, township_name = store.township, store.enrolment.get("township_name") or ""
        source = workmap or store.meta.get("workmap_source") or None
    report(0, 1, "outlines")
    township_geom, villages = None, None
    gpkg = workmap_gpkg(source)
    if gpkg is not None:
        try:
            found = read_outlines(gpkg, township)
        except (OSError, ValueError, KeyError):   # an unreadable work map: draw round the footprints
            found = None
        if found is not None:
            township_geom, villages = found
    return build_map_data(rows, boundary=boundary, township_geom=township_geom, villages=villages,
                          village_names=names, township_code=township, township_name=township_name,
                          states=states, progress=progress)
