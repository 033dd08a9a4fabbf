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


def encode(geoms: Sequence[Any], srs_id: int = SRS_ID) -> list[bytes | None]:
    """GeoPackage blobs for shapely geometries (None stays None), in a few vectorised calls."""
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
    bounds = shapely.bounds(sub).tolist()
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
