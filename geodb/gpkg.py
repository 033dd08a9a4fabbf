"""GeoPackage plumbing: a sqlite3 connection GDAL's triggers can live with, geometry blobs, layers.

GDAL creates every feature table (so its structure, R-tree and triggers are exactly what GDAL and QGIS
expect); rows are then written through plain sqlite3 so that bookkeeping and features share one
transaction. GDAL's R-tree triggers call ``ST_IsEmpty``/``ST_MinX``/``ST_MaxX``/``ST_MinY``/``ST_MaxY``;
:func:`connect` registers those (reading the envelope from the GeoPackage geometry header) so the
triggers work on our connection. Geometries are encoded here (header + ISO WKB, little endian,
with an XY envelope for everything but points), in one vectorised shapely call per batch.
"""

from __future__ import annotations

import re
import sqlite3
import struct
from pathlib import Path
from typing import Any, Iterable, Sequence

SRS_ID = 4490                # CGCS2000 geographic
GPKG_VERSION = "1.2"         # what county PCs' QGIS/GDAL read without warnings (DESIGN §8)

_HDR_ENV = struct.Struct("<2sBBi4d")   # magic, version, flags, srs_id, minx, maxx, miny, maxy
_HDR_PT = struct.Struct("<2sBBi")
_ENV = struct.Struct("<4d")
_FLAGS_ENV = 0b0000_0011     # little endian, XY envelope
_FLAGS_NOENV = 0b0000_0001   # little endian, no envelope
_FLAG_EMPTY = 0b0001_0000
_ENV_SIZES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def qid(name: str) -> str:
    """A quoted SQL identifier; names are checked, never spliced raw."""
    if not _IDENT.match(name):
        raise ValueError(f"not a safe identifier: {name!r}")
    return '"' + name + '"'


# ---------------------------------------------------------------------------------------------------
# Geometry blobs

def envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a GeoPackage geometry blob, None when empty."""
    if blob is None or len(blob) < 8:
        return None
    flags = blob[3]
    if flags & _FLAG_EMPTY:
        return None
    env = (flags >> 1) & 0b111
    if env:
        return _ENV.unpack_from(blob, 8)
    import shapely
    g = shapely.from_wkb(bytes(blob[8 + _ENV_SIZES.get(env, 0):]))
    if g is None or g.is_empty:
        return None
    minx, miny, maxx, maxy = g.bounds
    return minx, maxx, miny, maxy


def _st(index: int):
    def f(blob):
        e = envelope(blob)
        return None if e is None else e[index]
    return f


def _st_is_empty(blob) -> int | None:
    if blob is None:
        return None
    if len(blob) < 8:
        return 1
    return 1 if (blob[3] & _FLAG_EMPTY) else 0


def register_functions(conn: sqlite3.Connection) -> None:
    """The spatial functions GDAL's GeoPackage triggers call."""
    conn.create_function("ST_IsEmpty", 1, _st_is_empty, deterministic=True)
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        conn.create_function(name, 1, _st(i), deterministic=True)


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the spatial functions registered."""
    if readonly:
        conn = sqlite3.connect(f"file:{Path(path).as_posix()}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA cache_size = -1048576")  # up to 1 GiB: index pages stay hot through a batch of packages
    conn.execute("PRAGMA temp_store = MEMORY")
    # pages are read through a memory map (no copy into the page cache, no read() per page); writes
    # still go through the journal as usual, so this changes nothing about durability
    conn.execute("PRAGMA mmap_size = 2147418112")
    register_functions(conn)
    return conn


def encode(geoms: Sequence[Any], srs_id: int = SRS_ID, *, bounds: Any = None) -> list[bytes | None]:
    """GeoPackage blobs for shapely geometries (None stays None), in a few vectorised calls.
    ``bounds``: ``shapely.bounds(geoms)`` when the caller has it already."""
    import numpy as np
    import shapely

    arr = np.asarray(geoms, dtype=object)
    out: list[bytes | None] = [None] * len(arr)
    if not len(arr):
        return out
    present = np.array([g is not None for g in arr], dtype=bool)
    idx = np.flatnonzero(present)
    if not len(idx):
        return out
    sub = arr[idx]
    wkb = shapely.to_wkb(sub, flavor="iso", byte_order=1, output_dimension=2)
    bounds = (shapely.bounds(sub) if bounds is None else np.asarray(bounds, dtype="float64")[idx]).tolist()
    empty = shapely.is_empty(sub).tolist()
    points = (shapely.get_type_id(sub) == 0).tolist()
    for k, i in enumerate(idx.tolist()):
        if empty[k]:
            out[i] = _HDR_PT.pack(b"GP", 0, _FLAGS_NOENV | _FLAG_EMPTY, srs_id) + wkb[k]
        elif points[k]:
            out[i] = _HDR_PT.pack(b"GP", 0, _FLAGS_NOENV, srs_id) + wkb[k]
        else:
            b = bounds[k]
            out[i] = _HDR_ENV.pack(b"GP", 0, _FLAGS_ENV, srs_id, b[0], b[2], b[1], b[3]) + wkb[k]
    return out


def _spread16(v):
    """Bits of 16-bit integers spread to the even positions (for Morton codes)."""
    import numpy as np

    v = v.astype(np.uint64) & np.uint64(0xFFFF)
    for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def spatial_order(entries: Sequence[tuple]) -> list[tuple]:
    """R-tree entries (id, minx, maxx, miny, maxy) sorted along a Z-order curve of their centres: an
    R-tree takes a batch much faster when neighbours arrive together (any order gives the same tree
    contents)."""
    import numpy as np

    if len(entries) < 2:
        return list(entries)
    a = np.asarray([e[1:5] for e in entries], dtype="float64")
    cx, cy = (a[:, 0] + a[:, 1]) / 2, (a[:, 2] + a[:, 3]) / 2
    span_x, span_y = float(np.ptp(cx)) or 1.0, float(np.ptp(cy)) or 1.0
    qx = ((cx - cx.min()) / span_x * 65535).astype(np.uint64)
    qy = ((cy - cy.min()) / span_y * 65535).astype(np.uint64)
    order = np.argsort(_spread16(qx) | (_spread16(qy) << np.uint64(1)), kind="stable")
    return [entries[k] for k in order.tolist()]


def decode(blob: bytes | None):
    """A shapely geometry from a GeoPackage blob (None for NULL)."""
    import shapely

    if blob is None:
        return None
    if len(blob) < 8 or blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob")
    env = (blob[3] >> 1) & 0b111
    return shapely.from_wkb(bytes(blob[8 + _ENV_SIZES.get(env, 0):]))


# ---------------------------------------------------------------------------------------------------
# Layers

def write_layer(path: str | Path, gdf, layer: str, *, geometry_type: str | None = None, append: bool = False,
                description: str | None = None, promote_to_multi: bool | None = None) -> None:
    """Write a GeoDataFrame (or a plain DataFrame → attribute table) through pyogrio/GDAL.

    New files are GeoPackage 1.2; empty frames get the explicit ``geometry_type`` (DESIGN §8).
    """
    import pyogrio

    path = Path(path)
    kwargs: dict[str, Any] = {}
    if not path.exists():
        kwargs["VERSION"] = GPKG_VERSION
    if geometry_type and getattr(gdf, "geometry", None) is not None and "geometry" in getattr(gdf, "columns", []):
        kwargs["geometry_type"] = geometry_type
    if description:
        kwargs["DESCRIPTION"] = description
    if promote_to_multi is not None:
        kwargs["promote_to_multi"] = promote_to_multi
    pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", append=append, **kwargs)


def create_feature_layer(path: str | Path, layer: str, columns: Sequence[tuple[str, str]], geometry_type: str,
                         *, description: str | None = None) -> None:
    """An empty feature table through GDAL (R-tree, triggers, contents), columns given as (name, SQL type)."""
    import geopandas as gpd
    import pandas as pd

    dtypes = {"TEXT": object, "INTEGER": "int64", "REAL": "float64"}
    df = pd.DataFrame({name: pd.Series([], dtype=dtypes[typ]) for name, typ in columns})
    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([], crs=f"EPSG:{SRS_ID}"), crs=f"EPSG:{SRS_ID}")
    write_layer(path, gdf, layer, geometry_type=geometry_type, description=description)


def create_attribute_table(path: str | Path, layer: str, columns: Sequence[tuple[str, str]],
                           *, description: str | None = None) -> None:
    import pandas as pd

    dtypes = {"TEXT": object, "INTEGER": "int64", "REAL": "float64"}
    df = pd.DataFrame({name: pd.Series([], dtype=dtypes[typ]) for name, typ in columns})
    write_layer(path, df, layer, description=description)


def register_attributes(conn: sqlite3.Connection, table: str, description: str = "") -> None:
    """Register a table created by SQL as a GeoPackage attribute table (so QGIS lists it)."""
    conn.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                 "VALUES (?, 'attributes', ?, ?, 0)", (table, table, description))


def layers(conn: sqlite3.Connection) -> dict[str, str]:
    """table name → data_type from gpkg_contents."""
    return dict(conn.execute("SELECT table_name, data_type FROM gpkg_contents"))


def refresh_extent(conn: sqlite3.Connection, table: str, geom_column: str = "geom") -> None:
    """Set gpkg_contents' extent of a feature table from its R-tree (cheap), and its last_change."""
    rtree = qid(f"rtree_{table}_{geom_column}")
    row = conn.execute(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {rtree}").fetchone()
    conn.execute("UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=?, "
                 "last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name=?", (*row, table))


def touch(conn: sqlite3.Connection, tables: Iterable[str]) -> None:
    for t in tables:
        conn.execute("UPDATE gpkg_contents SET last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name=?",
                     (t,))


# ---------------------------------------------------------------------------------------------------
# R-tree: adding many entries at once
#
# SQLite's R-tree takes one entry at a time, walking and rewriting a path of nodes for each (~10-20 µs
# per entry once the tree holds a million). A large batch is cheaper to pack into a new tree together
# with the entries already there: the node, parent and rowid shadow tables are rewritten directly, in
# the format SQLite's rtree module reads (rtree.c; GDAL's sqlite_rtree_bulk_load writes the same):
# a node is a blob of the root's length: 2 bytes tree depth (root only, else 0), 2 bytes cell count,
# then per cell an 8-byte id (leaf: the feature id; inner node: the child's node number) and the box
# minx, maxx, miny, maxy as 4-byte floats, all big-endian. Coordinates are stored as 32-bit floats
# rounded outwards exactly as SQLite rounds them (rtreeValueDown/Up), so a rebuilt tree holds the same
# values SQLite's own inserts would have stored. Everything happens inside the caller's transaction.

RTREE_REBUILD_SHARE = 0.05   # a batch at least this share of the tree after it is packed, not inserted
RTREE_COVERAGE = 5.0         # leaves may overlap this much (their areas / the root's) before a full repack
_RND_TOWARDS = 1.0 - 1.0 / 8388608.0
_RND_AWAY = 1.0 + 1.0 / 8388608.0
_RTREE_SQL = re.compile(r"using\s+rtree\s*\(\s*\w+\s*,\s*\w+\s*,\s*\w+\s*,\s*\w+\s*,\s*\w+\s*\)\s*$", re.I)


def rtree_values(env):
    """float64 boxes (n, 4: minx, maxx, miny, maxy) as the float32 values SQLite's R-tree stores:
    minima rounded down, maxima up (never a box smaller than the geometry)."""
    import numpy as np

    d = np.asarray(env, dtype="float64").reshape(-1, 4)
    f = d.astype("float32")
    back = f.astype("float64")
    for c, down in ((0, True), (1, False), (2, True), (3, False)):
        dc = d[:, c]
        wrong = back[:, c] > dc if down else back[:, c] < dc
        if wrong.any():
            x = dc[wrong]
            if down:
                f[wrong, c] = (x * np.where(x < 0, _RND_AWAY, _RND_TOWARDS)).astype("float32")
            else:
                f[wrong, c] = (x * np.where(x < 0, _RND_TOWARDS, _RND_AWAY)).astype("float32")
    return f


def _rtree_layout(conn: sqlite3.Connection, rtree: str) -> int | None:
    """Node size in bytes of a 2-D R-tree whose shadow tables have the standard layout, else None."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (rtree,)).fetchone()
    if not row or not row[0] or not _RTREE_SQL.search(row[0]):
        return None
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({qid(rtree + '_rowid')})")]
    if cols != ["rowid", "nodeno"]:
        return None
    size = conn.execute(f"SELECT length(data) FROM {qid(rtree + '_node')} WHERE nodeno=1").fetchone()
    if not size or size[0] is None or size[0] < 4 + 24:
        return None
    return int(size[0])


def _cell_dtype():
    import numpy as np

    return np.dtype([("id", ">i8"), ("box", ">f4", (4,))])


class _Tree:
    """An R-tree's nodes as read from its node table: rows in node-number order."""

    def __init__(self, conn: sqlite3.Connection, rtree: str, size: int):
        import numpy as np

        nodenos, blobs = [], []
        for n, data in conn.execute(f"SELECT nodeno, data FROM {qid(rtree + '_node')} ORDER BY nodeno"):
            nodenos.append(n)
            blobs.append(data)
        if not blobs or nodenos[0] != 1:
            raise sqlite3.DatabaseError(f"R-tree {rtree}: no root node")
        if any(len(b) != size for b in blobs):
            raise sqlite3.DatabaseError(f"R-tree {rtree}: node blobs of different sizes")
        self.size, self.cap = size, (size - 4) // 24
        nodes = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), size)
        self.numbers = np.asarray(nodenos, dtype=np.int64)
        self.counts = nodes[:, 2].astype(np.int64) * 256 + nodes[:, 3]
        self.cells = nodes[:, 4:4 + self.cap * 24].copy().view(_cell_dtype()).reshape(len(blobs), self.cap)
        self.depth = int(nodes[0, 0]) * 256 + int(nodes[0, 1])
        if self.depth > 40 or (self.counts > self.cap).any():
            raise sqlite3.DatabaseError(f"R-tree {rtree}: damaged node")
        # rows of each level, from the root (level 0) down to the leaves (level depth)
        self.levels = [np.array([0])]
        for _ in range(self.depth):
            child = self.live(self.levels[-1])["id"]
            pos = np.minimum(np.searchsorted(self.numbers, child), len(self.numbers) - 1)
            if (self.numbers[pos] != child).any():
                raise sqlite3.DatabaseError(f"R-tree {rtree}: a child node is missing")
            self.levels.append(pos)

    def live(self, rows):
        """The used cells of node rows ``rows``, in order."""
        import numpy as np

        return self.cells[rows][np.arange(self.cap)[None, :] < self.counts[rows][:, None]]


def rtree_entries(conn: sqlite3.Connection, rtree: str):
    """Every leaf entry of an R-tree, read from its node blobs: (ids int64, boxes float32 (n, 4))."""
    import numpy as np

    size = _rtree_layout(conn, rtree)
    if size is None:
        raise ValueError(f"not a 2-D R-tree with the standard layout: {rtree}")
    tree = _Tree(conn, rtree, size)
    leaf = tree.live(tree.levels[-1])
    return leaf["id"].astype(np.int64), leaf["box"].astype(np.float32)


def _pack_level(cx, cy, cap: int):
    """Sort-Tile-Recursive packing of n boxes (their centres) into ceil(n / cap) nodes of nearly equal
    size: vertical slabs by x, each sorted by y. Returns (order of the boxes, node start offsets)."""
    import math

    import numpy as np

    n = len(cx)
    k = -(-n // cap)
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    starts = np.concatenate([[0], np.cumsum(sizes)])
    per_slab = -(-k // max(1, math.ceil(math.sqrt(k))))     # nodes per slab
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(cx, kind="stable")] = np.arange(n)
    slab = np.searchsorted(starts[:-1:per_slab], rank, side="right") - 1
    order = np.lexsort((cy, slab))
    return order, starts


def _pack(ids, boxes, cap: int, *, top: bool):
    """Pack entries into nodes level by level. Returns [(child ids in node order, their boxes, node
    starts)] from the bottom up; with ``top`` up to a single root, else just the bottom level."""
    import numpy as np

    levels = []
    while True:
        n = len(ids)
        if top and n <= cap:
            levels.append((ids, boxes, np.array([0, n], dtype=np.int64)))
            return levels
        b = boxes.astype(np.float64)
        order, starts = _pack_level((b[:, 0] + b[:, 1]) / 2, (b[:, 2] + b[:, 3]) / 2, cap)
        ids, boxes = ids[order], boxes[order]
        levels.append((ids, boxes, starts))
        if not top:
            return levels
        ids, boxes = np.arange(len(starts) - 1, dtype=np.int64), _node_boxes(boxes, starts)


def _node_boxes(boxes, starts):
    import numpy as np

    first = starts[:-1]
    return np.stack([np.minimum.reduceat(boxes[:, 0], first), np.maximum.reduceat(boxes[:, 1], first),
                     np.minimum.reduceat(boxes[:, 2], first), np.maximum.reduceat(boxes[:, 3], first)], axis=1)


def _blobs(size: int, cap: int, child_ids, boxes, starts, depth: int | None = None) -> list[bytes]:
    """Node blobs for nodes holding ``child_ids``/``boxes`` split at ``starts`` (``depth``: the root's)."""
    import numpy as np

    k = len(starts) - 1
    counts = np.diff(starts)
    node_t = np.dtype([("depth", ">u2"), ("n", ">u2"), ("cells", _cell_dtype(), (cap,)),
                       ("pad", "u1", (size - 4 - 24 * cap,))])
    arr = np.zeros(k, dtype=node_t)
    arr["n"] = counts
    if depth is not None:
        arr["depth"][0] = depth
    node_of = np.repeat(np.arange(k), counts)
    slot = np.arange(len(child_ids)) - starts[node_of]
    arr["cells"]["id"][node_of, slot] = child_ids
    arr["cells"]["box"][node_of, slot] = boxes
    raw = arr.tobytes()
    return [raw[j * size:(j + 1) * size] for j in range(k)]


def _int_pairs(a, b) -> str:
    """Two integer columns as one JSON array of pairs packed in 64-bit values (SQLite's json_each
    then reads them without a Python object per row)."""
    import numpy as np

    return "[" + ",".join(map(str, ((np.asarray(a, dtype=np.int64) << 32) | np.asarray(b, dtype=np.int64)).tolist())) + "]"


def _insert_pairs(conn: sqlite3.Connection, table: str, cols: tuple[str, str], a, b) -> None:
    import numpy as np

    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if not len(a):
        return
    if a.min() >= 0 and a.max() < 2 ** 31 and b.min() >= 0 and b.max() < 2 ** 32:
        conn.execute(f"INSERT INTO {qid(table)} ({cols[0]}, {cols[1]}) SELECT value >> 32, value & 4294967295 "
                     "FROM json_each(?)", (_int_pairs(a, b),))
    else:
        conn.executemany(f"INSERT INTO {qid(table)} ({cols[0]}, {cols[1]}) VALUES (?, ?)", zip(a.tolist(), b.tolist()))


def rtree_write(conn: sqlite3.Connection, rtree: str, ids, boxes) -> None:
    """Replace the R-tree's contents by a packed tree of ``ids`` with float32 ``boxes`` (n, 4)."""
    import numpy as np

    size = _rtree_layout(conn, rtree)
    if size is None:
        raise ValueError(f"not a 2-D R-tree with the standard layout: {rtree}")
    cap = (size - 4) // 24
    ids = np.asarray(ids, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    levels = _pack(ids, boxes, cap, top=True)
    # node numbers: the root is 1, then each level from the top down
    depth = len(levels) - 1
    base = [0] * len(levels)
    nxt = 1
    for lv in range(depth, -1, -1):
        base[lv] = nxt
        nxt += len(levels[lv][2]) - 1
    node_rows: list[tuple[int, bytes]] = []
    parents = []
    for lv in range(depth, -1, -1):
        c_ids, c_boxes, starts = levels[lv]
        child = c_ids if lv == 0 else c_ids + base[lv - 1]
        blobs = _blobs(size, cap, child, c_boxes, starts, depth if lv == depth else None)
        node_rows.extend(zip(range(base[lv], base[lv] + len(blobs)), blobs))
        holder = np.repeat(base[lv] + np.arange(len(blobs)), np.diff(starts))
        if lv > 0:
            parents.append((child, holder))
        else:
            leaf_of = holder
    t = qid(rtree + "_node"), qid(rtree + "_parent"), qid(rtree + "_rowid")
    for name in t:
        conn.execute(f"DELETE FROM {name}")
    conn.executemany(f"INSERT INTO {t[0]} (nodeno, data) VALUES (?, ?)", node_rows)
    if parents:
        child = np.concatenate([c for c, _ in parents])
        holder = np.concatenate([h for _, h in parents])
        o = np.argsort(child)
        _insert_pairs(conn, rtree + "_parent", ("nodeno", "parentnode"), child[o], holder[o])
    if len(ids):
        leaf_ids = levels[0][0]
        o = np.argsort(leaf_ids, kind="stable")
        _insert_pairs(conn, rtree + "_rowid", ("rowid", "nodeno"), leaf_ids[o], leaf_of[o])


def _append_leaves(conn: sqlite3.Connection, rtree: str, tree: _Tree, ids, boxes) -> None:
    """Add entries as new packed leaves beside the tree's leaves, which stay as they are (their rowid
    entries too); the inner nodes above all leaves are packed anew."""
    import numpy as np

    size, cap = tree.size, tree.cap
    (n_ids, n_boxes, n_starts), = _pack(ids, boxes, cap, top=False)
    old_rows = tree.levels[-1]
    old_leaf_no = tree.numbers[old_rows]
    parent_cells = tree.live(tree.levels[-2])          # the cells pointing at the old leaves, in the same order
    old_leaf_box = parent_cells["box"].astype(np.float32)
    inner_old = tree.numbers[np.concatenate(tree.levels[:-1])]
    top_no = int(tree.numbers.max())
    k_new = len(n_starts) - 1
    new_leaf_no = top_no + 1 + np.arange(k_new, dtype=np.int64)
    leaf_no = np.concatenate([old_leaf_no, new_leaf_no])
    leaf_box = np.concatenate([old_leaf_box, _node_boxes(n_boxes, n_starts)])
    upper = _pack(leaf_no, leaf_box, cap, top=True)     # levels above the leaves, bottom up
    depth = len(upper)
    # inner node numbers: the root is 1; the others reuse the old inner numbers, then new ones
    sizes = [len(lv[2]) - 1 for lv in upper]
    reuse = [int(x) for x in np.sort(inner_old) if x != 1]
    need = sum(sizes) - 1                                # inner nodes besides the root
    fresh = top_no + k_new + 1
    pool = reuse[:need] + list(range(fresh, fresh + max(0, need - len(reuse))))
    numbers: list[np.ndarray] = []
    at = 0
    for lv in range(len(upper)):
        if lv == len(upper) - 1:
            numbers.append(np.array([1], dtype=np.int64))
        else:
            numbers.append(np.asarray(pool[at:at + sizes[lv]], dtype=np.int64))
            at += sizes[lv]
    node_rows: list[tuple[int, bytes]] = list(zip(new_leaf_no.tolist(),
                                                   _blobs(size, cap, n_ids, n_boxes, n_starts)))
    child_all, holder_all = [], []
    for lv, (c_ids, c_boxes, starts) in enumerate(upper):
        child = c_ids if lv == 0 else numbers[lv - 1][c_ids]
        blobs = _blobs(size, cap, child, c_boxes, starts, depth if lv == len(upper) - 1 else None)
        node_rows.extend(zip(numbers[lv].tolist(), blobs))
        child_all.append(child)
        holder_all.append(np.repeat(numbers[lv], np.diff(starts)))
    t = qid(rtree + "_node"), qid(rtree + "_parent")
    conn.execute(f"DELETE FROM {t[0]} WHERE nodeno IN (SELECT value FROM json_each(?))",
                 ("[" + ",".join(map(str, inner_old.tolist())) + "]",))
    conn.execute(f"DELETE FROM {t[1]}")
    conn.executemany(f"INSERT INTO {t[0]} (nodeno, data) VALUES (?, ?)", sorted(node_rows))
    child = np.concatenate(child_all)
    holder = np.concatenate(holder_all)
    o = np.argsort(child)
    _insert_pairs(conn, rtree + "_parent", ("nodeno", "parentnode"), child[o], holder[o])
    leaf_of = np.repeat(new_leaf_no, np.diff(n_starts))
    o = np.argsort(n_ids, kind="stable")
    _insert_pairs(conn, rtree + "_rowid", ("rowid", "nodeno"), n_ids[o], leaf_of[o])


def rtree_add(conn: sqlite3.Connection, rtree: str, ids, env, *, rebuild_share: float | None = None) -> str:
    """Add entries (``ids``, float64 boxes ``env`` (n, 4): minx, maxx, miny, maxy) to an R-tree; an id
    already there is replaced (as GDAL's triggers do, INSERT OR REPLACE).

    A small batch goes in through SQLite, in spatial order. A large one (``rebuild_share`` of the tree
    after it, or more) is packed: into new leaves beside the existing ones while the leaves overlap
    little (:data:`RTREE_COVERAGE`), else into a new tree of every entry. Returns "inserted",
    "appended" or "packed"."""
    import numpy as np

    ids = np.asarray(ids, dtype=np.int64)
    env = np.asarray(env, dtype=np.float64).reshape(-1, 4)
    if not len(ids):
        return "inserted"
    if not (np.diff(ids) > 0).all() and len(np.unique(ids)) != len(ids):
        # the last box of an id wins, as with one insert after another
        _, last = np.unique(ids[::-1], return_index=True)
        keep = np.sort(len(ids) - 1 - last)
        ids, env = ids[keep], env[keep]
    have = conn.execute(f"SELECT count(*) FROM {qid(rtree + '_rowid')}").fetchone()[0]
    if rebuild_share is None:
        rebuild_share = RTREE_REBUILD_SHARE
    size = _rtree_layout(conn, rtree) if len(ids) >= rebuild_share * (have + len(ids)) else None
    if size is None:
        entries = list(zip(ids.tolist(), *env.T.tolist()))
        conn.executemany(f"INSERT OR REPLACE INTO {qid(rtree)} VALUES (?, ?, ?, ?, ?)", spatial_order(entries))
        return "inserted"
    boxes = rtree_values(env)
    tree = _Tree(conn, rtree, size)
    if tree.depth >= 1 and have:
        clash = conn.execute(f"SELECT count(*) FROM {qid(rtree + '_rowid')} WHERE rowid BETWEEN ? AND ?",
                             (int(ids.min()), int(ids.max()))).fetchone()[0]
        if not clash:
            cells = tree.live(tree.levels[-2])["box"].astype(np.float64)
            root = tree.live(np.array([0]))["box"].astype(np.float64)
            b = boxes.astype(np.float64)
            lo_x, hi_x = min(root[:, 0].min(), b[:, 0].min()), max(root[:, 1].max(), b[:, 1].max())
            lo_y, hi_y = min(root[:, 2].min(), b[:, 2].min()), max(root[:, 3].max(), b[:, 3].max())
            area = (hi_x - lo_x) * (hi_y - lo_y)
            # the new leaves cover about what their entries' bounds cover (they are packed)
            new_cover = (b[:, 1].max() - b[:, 0].min()) * (b[:, 3].max() - b[:, 2].min())
            old_cover = float(((cells[:, 1] - cells[:, 0]) * (cells[:, 3] - cells[:, 2])).sum())
            if area > 0 and (old_cover + new_cover) / area <= RTREE_COVERAGE:
                _append_leaves(conn, rtree, tree, ids, boxes)
                return "appended"
    leaf = tree.live(tree.levels[-1])
    old_ids = leaf["id"].astype(np.int64)
    if len(old_ids) != have:
        raise sqlite3.DatabaseError(f"R-tree {rtree}: {len(old_ids)} entries in its nodes, {have} in its rowid table")
    stay = ~np.isin(old_ids, ids)
    rtree_write(conn, rtree, np.concatenate([old_ids[stay], ids]),
                np.concatenate([leaf["box"].astype(np.float32)[stay], boxes]))
    return "packed"
