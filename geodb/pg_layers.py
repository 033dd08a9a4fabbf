"""Whole layers of a PostGIS geodatabase as (Geo)DataFrames, with pyogrio's semantics on a GeoPackage.

The GDAL in pyogrio's wheels has no PostgreSQL driver, so layers go through psycopg directly: reads are
one binary-format query (geometries as WKB, decoded in one vectorised shapely call), writes one binary
``COPY`` (geometries as EWKB from one vectorised ``shapely.to_wkb``).

What is mirrored from pyogrio + GDAL's GeoPackage driver, so callers need not care which backend they hold:

* a feature table has ``fid bigserial`` (primary key) and ``geom geometry(<type>, <srid>)`` with a GiST
  index; a plain DataFrame becomes an attribute table (``fid`` too). A frame column named ``fid`` gives
  the feature ids, as GDAL takes it.
* the layer geometry type is inferred as pyogrio does (one type → that type, Polygon + MultiPolygon →
  MultiPolygon, anything else mixed → ``Geometry``), an explicit ``geometry_type`` wins;
  ``promote_to_multi`` turns single rows into multi ones (and is implied when the column is Multi*).
* read dtypes: integers int16/int32/int64 by column width, but float64 when the result holds a NULL;
  booleans bool, float64 (1.0/0.0/NaN) when a NULL is present; text object (pandas infers ``str``);
  timestamps and dates ``datetime64[ms]``; a RangeIndex (fid order); ``columns`` naming unknown fields
  ignores them; ``where`` is an SQL boolean expression evaluated by the server (inside a read-only
  transaction, so it can filter but never write).
* replacing a layer is one transaction: the new table is built under a temporary name and swapped in
  at commit, so readers see the old layer or the new one, never a half-written one.
* ``census_layer_info(table_name, geometry_type, description)`` keeps descriptions as GeoPackage's
  ``gpkg_contents`` does (reset when a layer is replaced, like GDAL's overwrite).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from schemas.errors import CensusError

from .gpkg import qid
from .target import display_name

REGISTRY = "census_layer_info"
GEOM_COLUMN = "geom"
FID_COLUMN = "fid"
MAX_IDENT = 63                      # PostgreSQL truncates longer names (NAMEDATALEN - 1)

# PostGIS' (and PostgreSQL's) own tables and views are never layers; extension-owned relations are
# excluded by the catalog query too, this covers PostGIS installed without CREATE EXTENSION
_NOT_LAYERS = {REGISTRY, "spatial_ref_sys", "geometry_columns", "geography_columns", "raster_columns",
               "raster_overviews"}

# layer geometry types, pyogrio spelling ↔ PostGIS typmod spelling
_PG_GEOM = {"point": "Point", "linestring": "LineString", "polygon": "Polygon", "multipoint": "MultiPoint",
            "multilinestring": "MultiLineString", "multipolygon": "MultiPolygon",
            "geometrycollection": "GeometryCollection", "unknown": "Geometry", "geometry": "Geometry"}
_SINGLE_TO_MULTI = {"Point": "MultiPoint", "LineString": "MultiLineString", "Polygon": "MultiPolygon"}
_SHAPELY_TYPE = {0: "Point", 1: "LineString", 2: "LineString", 3: "Polygon", 4: "MultiPoint",
                 5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}

_INT_TYPES = {"int2": "int16", "int4": "int32", "int8": "int64"}
_FLOAT_TYPES = {"float4": "float32", "float8": "float64", "numeric": "float64"}
_TEXT_TYPES = {"text", "varchar", "bpchar", "name"}
# column types sent and received in binary as they are; anything else travels as text
_BINARY_TYPES = set(_INT_TYPES) | {"float4", "float8", "bool", "timestamp", "timestamptz", "date", "bytea"} | _TEXT_TYPES
_SQL_TYPE = {"int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "float4": "REAL", "float8": "DOUBLE PRECISION",
             "bool": "BOOLEAN", "text": "TEXT", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMPTZ",
             "bytea": "BYTEA"}


# ---------------------------------------------------------------------------------------------------
# Connections and catalog

def _connect(url: str, *, read_only: bool = False):
    import psycopg

    try:
        conn = psycopg.connect(url)
    except psycopg.OperationalError as e:
        raise CensusError(f"无法连接数据库 {display_name(url)}：{e}",
                          f"cannot connect to database {display_name(url)}: {e}") from e
    if read_only:
        conn.read_only = True
    return conn


def _check_name(name: Any, what_zh: str, what_en: str) -> str:
    """``name`` quoted (geodb.gpkg.qid), or a bilingual error naming it."""
    if isinstance(name, str) and len(name.encode("utf-8")) <= MAX_IDENT:
        try:
            return qid(name)
        except ValueError:
            pass
    raise CensusError(f"{what_zh}名称“{name}”不可用：只能由字母、数字和下划线组成，不以数字开头，最长 {MAX_IDENT} 个字符",
                      f"{what_en} name {name!r} is not usable: letters, digits and underscores only, not starting "
                      f"with a digit, at most {MAX_IDENT} characters")


def _schema(conn) -> str:
    return conn.execute("SELECT current_schema()").fetchone()[0]


def _qschema(schema: str) -> str:
    return '"' + schema.replace('"', '""') + '"'


def _registry(conn) -> str:
    return f"{_qschema(_schema(conn))}.{REGISTRY}"


def _relation(conn, layer: str) -> tuple[int, str] | None:
    """(oid, relkind) of ``layer`` in the current schema, None when it is not there (or is not a layer)."""
    if layer in _NOT_LAYERS:
        return None
    return conn.execute(
        "SELECT c.oid, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm')",
        (layer,)).fetchone()


def _layer_names(conn) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
        "                AND d.objid = c.oid AND d.deptype = 'e') "
        "ORDER BY c.relname").fetchall()
    return [r[0] for r in rows if r[0] not in _NOT_LAYERS]


def _missing(url: str, conn, layer: str) -> CensusError:
    names = _layer_names(conn)
    have_zh = "、".join(names[:20]) if names else "（无）"
    have_en = ", ".join(names[:20]) if names else "(none)"
    return CensusError(f"数据库 {display_name(url)} 中没有图层“{layer}”；现有图层：{have_zh}",
                       f"database {display_name(url)} has no layer '{layer}'; its layers: {have_en}")


class _Column:
    __slots__ = ("has_default", "name", "notnull", "typname")

    def __init__(self, name: str, typname: str, notnull: bool, has_default: bool):
        self.name, self.typname, self.notnull, self.has_default = name, typname, notnull, has_default


class _Layer:
    """What the catalog says about one layer."""

    def __init__(self, conn, layer: str, oid: int):
        self.name = layer
        cols = conn.execute(
            "SELECT a.attname, t.typname, a.attnotnull, a.atthasdef FROM pg_attribute a "
            "JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (oid,)).fetchall()
        self.columns = [_Column(*c) for c in cols]
        geoms = conn.execute(
            "SELECT f_geometry_column, srid, type, coord_dimension FROM geometry_columns "
            "WHERE f_table_schema = current_schema() AND f_table_name = %s", (layer,)).fetchall()
        order = {c.name: i for i, c in enumerate(self.columns)}
        geoms.sort(key=lambda g: order.get(g[0], 0))
        # the first geometry column is the layer's, as GDAL reads it; other geometry (and geography)
        # columns are left out of the fields
        self.geom_column: str | None = geoms[0][0] if geoms else None
        self.srid: int = int(geoms[0][1] or 0) if geoms else 0
        self.pg_geom_type: str | None = _PG_GEOM.get(geoms[0][2].lower().rstrip("m"), "Geometry") if geoms else None
        self.has_z = bool(geoms and (geoms[0][3] or 2) >= 3 and not geoms[0][2].upper().endswith("M"))
        pk = conn.execute(
            "SELECT a.attname, t.typname FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
            "JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE i.indrelid = %s AND i.indisprimary", (oid,)).fetchall()
        # GDAL's rule: a one-column integer primary key is the FID, not a field
        self.fid: str | None = pk[0][0] if len(pk) == 1 and pk[0][1] in _INT_TYPES else None
        if self.fid is None and any(c.name == FID_COLUMN and c.typname in _INT_TYPES for c in self.columns):
            self.fid = FID_COLUMN
        skip = {self.fid} | {c.name for c in self.columns if c.typname in ("geometry", "geography")}
        self.fields = [c for c in self.columns if c.name not in skip]

    @property
    def geometry_type(self) -> str | None:
        """pyogrio's name for the layer type ("Polygon", "MultiPolygon Z", "Unknown"), None without geometry."""
        if self.pg_geom_type is None:
            return None
        t = "Unknown" if self.pg_geom_type == "Geometry" else self.pg_geom_type
        return f"{t} Z" if self.has_z and t != "Unknown" else t


def _open_layer(url: str, conn, layer: str) -> _Layer:
    if not isinstance(layer, str):
        raise _missing(url, conn, str(layer))
    rel = _relation(conn, layer)
    if rel is None:
        raise _missing(url, conn, layer)
    return _Layer(conn, layer, rel[0])


def _crs(conn, srid: int):
    """pyogrio's crs value for a SRID: "EPSG:n", a WKT for other authorities, None for 0."""
    if not srid:
        return None
    row = conn.execute("SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = %s", (srid,)).fetchone()
    if row is None or (row[0] or "").upper() == "EPSG":
        return f"EPSG:{row[1] if row else srid}"
    return row[2]


# ---------------------------------------------------------------------------------------------------
# Listing

def list_layers(url: str) -> list[str]:
    """Feature and attribute tables (and views) of the current schema, by name; PostGIS' own excluded."""
    with _connect(url, read_only=True) as conn:
        return _layer_names(conn)


def field_names(url: str, layer: str) -> list[str]:
    """The layer's fields as ``pyogrio.read_info(...)["fields"]``: no FID, no geometry."""
    with _connect(url, read_only=True) as conn:
        return [c.name for c in _open_layer(url, conn, layer).fields]


def read_info(url: str, layer: str) -> dict[str, Any]:
    """The keys of ``pyogrio.read_info`` this backend can answer, plus ``description``.

    ``layer_metadata`` is ``{"DESCRIPTION": …}`` when the layer has one, as GDAL reports a GeoPackage's.
    """
    import numpy as np

    with _connect(url, read_only=True) as conn:
        info = _open_layer(url, conn, layer)
        table = f"{_qschema(_schema(conn))}.{qid(layer)}"
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        desc = _description(conn, layer)
        return {
            "layer_name": layer,
            "crs": _crs(conn, info.srid) if info.geom_column else None,
            "fields": np.array([c.name for c in info.fields], dtype=object),
            "dtypes": np.array([_info_dtype(c.typname) for c in info.fields], dtype=object),
            "fid_column": info.fid or "",
            "geometry_name": info.geom_column or "",
            "geometry_type": info.geometry_type,
            "features": int(count),
            "description": desc,
            "layer_metadata": {"DESCRIPTION": desc} if desc else None,
        }


def _info_dtype(typname: str) -> str:
    if typname in _INT_TYPES:
        return _INT_TYPES[typname]
    if typname in _FLOAT_TYPES:
        return _FLOAT_TYPES[typname]
    if typname == "bool":
        return "bool"
    if typname in ("timestamp", "timestamptz", "date"):
        return "datetime64[ms]"
    return "object"


def _description(conn, layer: str) -> str | None:
    reg = _registry(conn)
    if not conn.execute("SELECT to_regclass(%s)", (reg,)).fetchone()[0]:
        return None
    row = conn.execute(f"SELECT description FROM {reg} WHERE table_name = %s", (layer,)).fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------------------------------------------
# Reading

def read_dataframe(url: str, layer: str, *, where: str | None = None, columns: Sequence[str] | None = None,
                   read_geometry: bool = True):
    """The layer as a GeoDataFrame (geometry column "geometry", the layer's CRS) or, for an attribute
    table or ``read_geometry=False``, a DataFrame — pyogrio.read_dataframe's result for the same GeoPackage
    layer (see the module notes for dtypes). ``where`` is SQL evaluated by the server."""
    import psycopg

    with _connect(url, read_only=True) as conn:
        info = _open_layer(url, conn, layer)
        fields = info.fields
        if columns is not None:
            wanted = set(columns)          # pyogrio keeps the layer's order and ignores unknown names
            fields = [c for c in fields if c.name in wanted]
        with_geom = bool(read_geometry and info.geom_column)
        select = [_select_expr(c) for c in fields]
        if with_geom:
            select.append(f"ST_AsBinary({_q(info.geom_column)})")
        table = f"{_qschema(_schema(conn))}.{qid(layer)}"
        sql = f"SELECT {', '.join(select) if select else 'NULL'} FROM {table}"
        if where is not None and str(where).strip():
            sql += f" WHERE ({where})"
        if info.fid:
            sql += f" ORDER BY {_q(info.fid)}"
        try:
            cur = conn.cursor(binary=True)
            cur.execute(sql)
            rows = cur.fetchall()
        except psycopg.Error as e:
            conn.rollback()
            if where is not None:
                raise CensusError(f"读取图层“{layer}”失败，筛选条件“{where}”有误：{_pg_message(e)}",
                                  f"reading layer '{layer}' failed, bad filter '{where}': {_pg_message(e)}") from e
            raise CensusError(f"读取图层“{layer}”失败：{_pg_message(e)}",
                              f"reading layer '{layer}' failed: {_pg_message(e)}") from e
        crs = _crs(conn, info.srid) if with_geom else None
    return _frame(rows, fields, with_geom, crs)


def _select_expr(col: _Column) -> str:
    q = _q(col.name)
    if col.typname == "numeric":
        return f"{q}::float8"
    if col.typname in _BINARY_TYPES:
        return q
    return f"{q}::text"          # json, uuid, enums… arrive as text, as GDAL reads them


def _q(name: str) -> str:
    """A name read from the catalog, quoted (tables made by others may have names qid would refuse)."""
    return '"' + name.replace('"', '""') + '"'


def _frame(rows: list[tuple], fields: list[_Column], with_geom: bool, crs):
    import numpy as np
    import pandas as pd

    cols = list(zip(*rows)) if rows else [()] * (len(fields) + with_geom)
    data = {c.name: _column_array(c.typname, list(cols[i])) for i, c in enumerate(fields)}
    if not fields and not with_geom:
        return pd.DataFrame()       # pyogrio: neither fields nor geometry asked → an empty frame
    df = pd.DataFrame(data, columns=[c.name for c in fields])
    if not with_geom:
        return df
    import geopandas as gpd
    import shapely

    df["geometry"] = shapely.from_wkb(np.array(cols[-1], dtype=object))
    return gpd.GeoDataFrame(df, geometry="geometry", crs=crs)


def _column_array(typname: str, values: list):
    """A numpy array for one column's values, with pyogrio's dtypes (NULL in ints/bools → float64)."""
    import numpy as np
    import pandas as pd

    has_null = None in values
    if typname in _INT_TYPES:
        return np.array(values, dtype="float64" if has_null else _INT_TYPES[typname])
    if typname == "bool":
        return np.array(values, dtype="float64" if has_null else "bool")
    if typname in _FLOAT_TYPES:
        return np.array(values, dtype=_FLOAT_TYPES[typname])
    if typname in ("timestamp", "date"):
        return np.array(values, dtype="datetime64[ms]")
    if typname == "timestamptz":
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True).astype("datetime64[ms, UTC]").array
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _pg_message(e: Exception) -> str:
    diag = getattr(e, "diag", None)
    msg = getattr(diag, "message_primary", None) if diag is not None else None
    if msg:
        return msg
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# ---------------------------------------------------------------------------------------------------
# Writing

def write_layer(url: str, df, layer: str, *, geometry_type: str | None = None, append: bool = False,
                description: str | None = None, promote_to_multi: bool | None = None) -> None:
    """Write a GeoDataFrame (feature table) or DataFrame (attribute table): geodb.gpkg.write_layer's
    contract on PostGIS. ``append=False`` replaces the layer atomically; ``append=True`` adds rows (and
    creates the layer when missing); frame columns the layer lacks are an error, as in GDAL."""
    import pandas as pd
    import psycopg

    if not isinstance(df, pd.DataFrame):
        raise TypeError("df must be a DataFrame or GeoDataFrame")
    qlayer = _check_name(layer, "图层", "layer")
    if layer in _NOT_LAYERS:
        raise CensusError(f"“{layer}”是数据库自用的表名，不能用作图层名",
                          f"'{layer}' is a table the database keeps for itself; it cannot be a layer name")
    gcols = [c for c in df.columns if str(df[c].dtype) == "geometry"]
    if len(gcols) > 1:
        raise CensusError(f"图层“{layer}”的数据有多个几何列（{', '.join(map(str, gcols))}），只能有一个",
                          f"the data for layer '{layer}' has several geometry columns "
                          f"({', '.join(map(str, gcols))}); only one is allowed")
    gcol = gcols[0] if gcols else None
    names = [c for c in df.columns if c != gcol]
    for n in names:
        _check_name(n, "字段", "field")
    if len(set(names)) != len(names):
        raise CensusError(f"图层“{layer}”的数据有重名字段", f"the data for layer '{layer}' has duplicate field names")
    if gcol is not None and GEOM_COLUMN in names:
        raise CensusError(f"图层“{layer}”的数据中有名为“{GEOM_COLUMN}”的普通字段，与几何列重名，请改名",
                          f"the data for layer '{layer}' has a field named '{GEOM_COLUMN}', the geometry column's "
                          f"name; rename it")

    _ensure_registry(url)
    with _connect(url) as conn:
        schema = _qschema(_schema(conn))
        rel = _relation(conn, layer) if append else None
        try:
            if rel is not None:
                _append(conn, url, df, layer, _Layer(conn, layer, rel[0]), gcol, names, schema,
                        promote_to_multi, description)
            else:
                _create(conn, url, df, layer, qlayer, gcol, names, schema, geometry_type, promote_to_multi,
                        description, replace=not append)
        except psycopg.Error as e:
            conn.rollback()
            raise CensusError(f"写入图层“{layer}”失败：{_pg_message(e)}",
                              f"writing layer '{layer}' failed: {_pg_message(e)}") from e


def _ensure_registry(url: str) -> None:
    import psycopg

    with _connect(url) as conn:
        try:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {_registry(conn)} "
                         "(table_name TEXT PRIMARY KEY, geometry_type TEXT, description TEXT)")
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable):
            conn.rollback()         # another writer created it at the same moment


def _register(conn, layer: str, geometry_type: str | None, description: str | None, *, keep: bool) -> None:
    """Upsert the registry row (delete + insert: whoever created the table may not have made a key)."""
    reg = _registry(conn)
    if keep:
        old = conn.execute(f"SELECT description FROM {reg} WHERE table_name = %s", (layer,)).fetchone()
        if description is None and old is not None:
            description = old[0]
    conn.execute(f"DELETE FROM {reg} WHERE table_name = %s", (layer,))
    conn.execute(f"INSERT INTO {reg} (table_name, geometry_type, description) VALUES (%s, %s, %s)",
                 (layer, geometry_type, description))


def _create(conn, url, df, layer, qlayer, gcol, names, schema, geometry_type, promote_to_multi, description,
            *, replace: bool) -> None:
    types = {n: _pg_type(df[n]) for n in names}
    geom = None
    pyogrio_type = None
    if gcol is not None:
        geom = _Geometry(df[gcol], layer, geometry_type, promote_to_multi, target_type=None, target_srid=None,
                         target_z=None)
        pyogrio_type = geom.pyogrio_type
    # built under a temporary name and renamed at commit: readers keep the old layer until then
    tmp = f"_census_new_{uuid.uuid4().hex[:16]}"
    defs = [f"{qid(FID_COLUMN)} BIGSERIAL PRIMARY KEY"]
    defs += [f"{qid(n)} {_SQL_TYPE[types[n]]}" for n in names if n != FID_COLUMN]
    if geom is not None:
        defs.append(f"{qid(GEOM_COLUMN)} geometry({geom.typmod}, {geom.srid})")
    conn.execute(f"CREATE TABLE {schema}.{qid(tmp)} ({', '.join(defs)})")
    if FID_COLUMN in names:
        types[FID_COLUMN] = "int8"
    _copy(conn, f"{schema}.{qid(tmp)}", df, names, types, geom, layer)
    if FID_COLUMN in names:
        conn.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'fid'), GREATEST(COALESCE(max(fid), 0), 1), "
                     f"max(fid) IS NOT NULL) FROM {schema}.{qid(tmp)}", (f"{schema}.{qid(tmp)}",))
    if geom is not None:
        conn.execute(f"CREATE INDEX {qid(tmp + '_g')} ON {schema}.{qid(tmp)} USING GIST ({qid(GEOM_COLUMN)})")
    if replace:
        kind = _relation(conn, layer)
        if kind is not None:
            drop = {"v": "VIEW", "m": "MATERIALIZED VIEW"}.get(kind[1], "TABLE")
            conn.execute(f"DROP {drop} {schema}.{qlayer}")
    conn.execute(f"ALTER TABLE {schema}.{qid(tmp)} RENAME TO {qlayer}")
    # the names GDAL/QGIS users expect to see; derived names are cut to PostgreSQL's limit
    seq = conn.execute("SELECT pg_get_serial_sequence(%s, 'fid')", (f"{schema}.{qlayer}",)).fetchone()[0]
    conn.execute(f"ALTER SEQUENCE {seq} RENAME TO {qid(_derived(layer, '_fid_seq'))}")
    conn.execute(f"ALTER TABLE {schema}.{qlayer} RENAME CONSTRAINT {qid(tmp + '_pkey')} "
                 f"TO {qid(_derived(layer, '_pkey'))}")
    if geom is not None:
        conn.execute(f"ALTER INDEX {schema}.{qid(tmp + '_g')} RENAME TO {qid(_derived(layer, '_geom_idx'))}")
    _register(conn, layer, pyogrio_type, description, keep=False)
    conn.commit()


def _derived(layer: str, suffix: str) -> str:
    return layer[:MAX_IDENT - len(suffix)] + suffix


def _append(conn, url, df, layer, info: _Layer, gcol, names, schema, promote_to_multi, description) -> None:
    have = {c.name: c for c in info.columns}
    extra = [n for n in names if n not in have or (n != info.fid and have[n].typname in ("geometry", "geography"))]
    if extra:
        raise CensusError(f"图层“{layer}”没有字段：{'、'.join(map(str, extra))}，不能追加这些列",
                          f"layer '{layer}' has no field(s) {', '.join(map(str, extra))}; cannot append them")
    if gcol is not None and info.geom_column is None:
        raise CensusError(f"“{layer}”是属性表，不能追加带几何的数据",
                          f"'{layer}' is an attribute table; cannot append data with geometries")
    types = {n: have[n].typname for n in names}
    geom = None
    if gcol is not None:
        geom = _Geometry(df[gcol], layer, None, promote_to_multi, target_type=info.pg_geom_type,
                         target_srid=info.srid, target_z=info.has_z, column=info.geom_column)
    _copy(conn, f"{schema}.{qid(layer)}", df, names, types, geom, layer)
    if info.fid and info.fid in names:
        # ids given by the frame: move the sequence past them so later default ids do not collide
        seq = conn.execute("SELECT pg_get_serial_sequence(%s, %s)", (f"{schema}.{qid(layer)}", info.fid)).fetchone()[0]
        if seq:
            conn.execute(f"SELECT setval(%s, GREATEST(max({_q(info.fid)}), 1)) FROM {schema}.{qid(layer)}", (seq,))
    if description is not None or conn.execute(f"SELECT 1 FROM {_registry(conn)} WHERE table_name = %s",
                                               (layer,)).fetchone() is None:
        _register(conn, layer, info.geometry_type, description, keep=True)
    conn.commit()


def _pg_type(s) -> str:
    """The column type a new table gets for a frame column (pyogrio's field types, in PostgreSQL)."""
    import pandas as pd
    from pandas.api import types as pt

    dt = s.dtype
    if pt.is_bool_dtype(dt):
        return "bool"
    if pt.is_integer_dtype(dt):
        size = dt.itemsize
        signed = pt.is_signed_integer_dtype(dt)
        if size == 1 or (size == 2 and signed):
            return "int2"
        if size == 2 or (size == 4 and signed):
            return "int4"
        return "int8"
    if pt.is_float_dtype(dt):
        return "float4" if dt.itemsize <= 4 else "float8"
    if isinstance(dt, pd.DatetimeTZDtype):
        return "timestamptz"
    if pt.is_datetime64_dtype(dt):
        return "timestamp"
    if dt == object and pd.api.types.infer_dtype(s, skipna=True) == "datetime":
        # datetime objects make a datetime field, as pyogrio writes them; any other object column is
        # text (str() of each value), as pyogrio's OFTString
        aware = any(getattr(v, "tzinfo", None) is not None for v in s.dropna())
        return "timestamptz" if aware else "timestamp"
    return "text"


class _Geometry:
    """One frame's geometries ready for COPY: the layer type, SRID and EWKB values."""

    def __init__(self, series, layer: str, geometry_type: str | None, promote_to_multi: bool | None, *,
                 target_type: str | None, target_srid: int | None, target_z: bool | None, column: str = GEOM_COLUMN):
        import numpy as np
        import shapely

        self.column = column
        arr = np.asarray(series.values, dtype=object)
        present = np.array([g is not None for g in arr], dtype=bool)
        ids = np.full(len(arr), -1, dtype=np.int64)
        if present.any():
            ids[present] = shapely.get_type_id(arr[present])
        nonempty = present.copy()
        if present.any():
            nonempty[present] = ~shapely.is_empty(arr[present])
        zs = shapely.has_z(arr[nonempty]) if nonempty.any() else np.array([], dtype=bool)
        has_z = bool(zs.any())
        if has_z and not zs.all():
            raise CensusError(f"图层“{layer}”的几何中二维、三维混杂，请统一",
                              f"layer '{layer}' mixes 2D and 3D geometries; make them uniform")
        present_types = {_SHAPELY_TYPE[int(t)] for t in np.unique(ids[present])}

        crs = getattr(series, "crs", None)
        srid = 0
        if crs is not None:
            srid = crs.to_epsg() or 0
            if not srid:
                raise CensusError(f"图层“{layer}”的坐标系没有 EPSG 代码，PostGIS 图层需要 EPSG 坐标系",
                                  f"layer '{layer}': its CRS has no EPSG code; PostGIS layers need an EPSG CRS")
        if target_srid:        # appending to a column with a SRID: the column decides
            if crs is not None and srid != target_srid:
                raise CensusError(f"图层“{layer}”的坐标系为 EPSG:{target_srid}，追加的数据为 EPSG:{srid}，请先转换",
                                  f"layer '{layer}' is in EPSG:{target_srid} but the data is in EPSG:{srid}; "
                                  f"reproject it first")
            srid = target_srid
        self.srid = srid

        if target_type is not None:
            layer_type = target_type
            if promote_to_multi is None:
                promote_to_multi = layer_type.startswith("Multi")
            has_z = bool(target_z)
        else:
            layer_type, promote_to_multi = _infer_type(present_types, geometry_type, promote_to_multi)
            if geometry_type:
                has_z = has_z or _explicit_z(geometry_type)
        self.typmod = layer_type + ("Z" if has_z else "")
        self.pyogrio_type = ("Unknown" if layer_type == "Geometry" else layer_type) + \
            (" Z" if has_z and layer_type != "Geometry" else "")

        if promote_to_multi:
            arr = _promote(arr, ids)
        self.values = _ewkb(arr, present, srid, 3 if has_z else 2)


def _explicit_z(geometry_type: str) -> bool:
    t = geometry_type.strip().lower()
    return t.endswith(" z") or t.endswith("z") and t[:-1] in _PG_GEOM or t.startswith(("3d ", "2.5d ", "25d "))


def _parse_type(geometry_type: str) -> str:
    t = geometry_type.strip().lower()
    for prefix in ("3d ", "2.5d ", "25d "):
        t = t.removeprefix(prefix)
    if t.endswith(" z"):
        t = t[:-2]
    elif t.endswith("z") and t[:-1] in _PG_GEOM:
        t = t[:-1]
    if t not in _PG_GEOM:
        raise CensusError(f"不认识的几何类型“{geometry_type}”",
                          f"unknown geometry type '{geometry_type}' (use Point, LineString, Polygon, MultiPoint, "
                          f"MultiLineString, MultiPolygon, GeometryCollection or Unknown)")
    return _PG_GEOM[t]


def _infer_type(present: set[str], geometry_type: str | None, promote: bool | None) -> tuple[str, bool]:
    """(PostGIS layer type, promote?) as pyogrio decides them for GeoPackage (which cannot mix single and
    multi types, so a Polygon + MultiPolygon mixture is promoted unless told not to)."""
    inferred = "Geometry"
    if len(present) == 1:
        inferred = next(iter(present))
        if promote and inferred in _SINGLE_TO_MULTI:
            inferred = _SINGLE_TO_MULTI[inferred]
    elif len(present) == 2:
        for single, multi in _SINGLE_TO_MULTI.items():
            if present == {single, multi}:
                if promote is None:
                    promote = True
                if promote:
                    inferred = multi
    if geometry_type:
        layer_type = _parse_type(geometry_type)
        if promote is None and layer_type.startswith("Multi"):
            promote = True     # single rows into a Multi* layer: PostGIS would refuse them otherwise
        return layer_type, bool(promote)
    return inferred, bool(promote)


def _promote(arr, ids):
    """Single geometries as one-part multi geometries (vectorised per type), empties as empty multis."""
    import numpy as np
    import shapely

    arr = arr.copy()
    for tid, make, empty in ((0, shapely.multipoints, "MULTIPOINT EMPTY"),
                             (1, shapely.multilinestrings, "MULTILINESTRING EMPTY"),
                             (3, shapely.multipolygons, "MULTIPOLYGON EMPTY")):
        idx = np.flatnonzero(ids == tid)
        if not len(idx):
            continue
        sub = arr[idx]
        is_empty = shapely.is_empty(sub)
        full = idx[~is_empty]
        if len(full):
            arr[full] = make(np.atleast_2d(arr[full]), axis=0)
        if is_empty.any():
            arr[idx[is_empty]] = shapely.from_wkt(empty)
    return arr


def _ewkb(arr, present, srid: int, dim: int) -> list[bytes | None]:
    """EWKB (little endian, SRID set) per geometry, None for missing ones.

    shapely.set_srid copies every geometry, so the SRID is spliced into plain WKB headers instead:
    byte order, type | 0x20000000, SRID, then the WKB body.
    """
    import numpy as np
    import shapely

    out: list[bytes | None] = [None] * len(arr)
    idx = np.flatnonzero(present)
    if not len(idx):
        return out
    wkb = shapely.to_wkb(arr[idx], flavor="extended", byte_order=1, output_dimension=dim).tolist()
    heads: dict[bytes, bytes] = {}
    srid_b = struct.pack("<I", srid)
    for k, i in enumerate(idx.tolist()):
        b = wkb[k]
        code = b[1:5]
        h = heads.get(code)
        if h is None:
            h = heads[code] = b"\x01" + struct.pack("<I", struct.unpack("<I", code)[0] | 0x20000000) + srid_b
        out[i] = h + b[5:]
    return out


# ---------------------------------------------------------------------------------------------------
# COPY

def _copy(conn, table: str, df, names: list[str], types: dict[str, str], geom: _Geometry | None,
          layer: str) -> None:
    """Rows of ``df`` into ``table`` in one COPY: binary when every column type has a binary form here,
    text otherwise (the server then parses each value by its column type)."""
    cols = [_values(df[n], types[n], layer, n) for n in names]
    targets = [qid(n) for n in names]
    binary = all(types[n] in _BINARY_TYPES for n in names)
    if geom is not None:
        targets.append(_q(geom.column))
        if binary:
            cols.append(geom.values)
        else:
            cols.append([None if v is None else v.hex() for v in geom.values])
    if not targets or not len(df):
        return
    fmt = "(FORMAT BINARY)" if binary else ""
    if binary:
        # by OID psycopg picks its DB-API ``Binary`` dumper for bytea, a Python-level call per value;
        # the plain bytes dumper (C) does the same for bytes
        from psycopg.types.string import BytesBinaryDumper
        conn.adapters.register_dumper(bytes, BytesBinaryDumper)
    with conn.cursor().copy(f"COPY {table} ({', '.join(targets)}) FROM STDIN {fmt}") as cp:
        if binary:
            cp.set_types([_copy_type(types[n]) for n in names] + (["bytea"] if geom is not None else []))
        for row in zip(*cols):
            cp.write_row(row)


def _copy_type(typname: str) -> str:
    return "text" if typname in _TEXT_TYPES else typname


def _values(s, typname: str, layer: str, name: str) -> list:
    """A frame column as Python values of the column's type, None for missing values. Appending a
    column read back as float64 (integers or booleans with NULLs, as pyogrio reads them) into its
    integer/boolean column works; a fractional value there is an error, not a silent truncation."""
    import numpy as np
    import pandas as pd
    from pandas.api import types as pt

    mask = np.asarray(s.isna(), dtype=bool)
    try:
        if typname in _INT_TYPES:
            if pt.is_integer_dtype(s.dtype) or pt.is_bool_dtype(s.dtype):
                vals = s.to_numpy(dtype="int64", na_value=0).tolist()
            else:
                f = pd.to_numeric(s).to_numpy(dtype="float64", na_value=np.nan)
                bad = ~mask & (f != np.round(f))
                if bad.any():
                    raise ValueError(f"{f[bad][0]} is not a whole number")
                vals = np.where(mask, 0, f).astype("int64").tolist()
        elif typname in _FLOAT_TYPES:
            vals = pd.to_numeric(s).to_numpy(dtype="float64", na_value=np.nan).tolist()
        elif typname == "bool":
            if pt.is_bool_dtype(s.dtype):
                vals = s.to_numpy(dtype=bool, na_value=False).tolist()
            else:
                f = pd.to_numeric(s).to_numpy(dtype="float64", na_value=np.nan)
                if (~mask & (f != 0) & (f != 1)).any():
                    raise ValueError("booleans must be true/false or 1/0")
                vals = (f == 1).tolist()
        elif typname in ("timestamp", "timestamptz", "date"):
            t = pd.to_datetime(s, utc=typname == "timestamptz")
            if typname == "timestamp" and getattr(t.dtype, "tz", None) is not None:
                t = t.dt.tz_convert("UTC").dt.tz_localize(None)
            conv = (lambda v: v.date()) if typname == "date" else (lambda v: v.to_pydatetime())
            return [None if pd.isna(v) else conv(v) for v in t.tolist()]
        elif typname == "bytea":
            vals = [v if v is None or isinstance(v, bytes) else bytes(v) if not mask[i] else None
                    for i, v in enumerate(s.astype(object).tolist())]
        else:
            vals = s.astype(object).tolist()
            for i, v in enumerate(vals):
                if not isinstance(v, str) and not mask[i]:
                    vals[i] = _text(v)
    except (ValueError, TypeError, OverflowError) as e:
        raise CensusError(f"图层“{layer}”的字段“{name}”有值不能存为 {typname}：{e}",
                          f"layer '{layer}', field '{name}': a value cannot be stored as {typname}: {e}") from e
    if mask.any():
        for i in np.flatnonzero(mask).tolist():
            vals[i] = None
    return vals


def _text(v) -> str:
    if isinstance(v, (dict, list)):
        import json
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def drop_layer(url: str, layers: Iterable[str] | str) -> None:
    """Drop layers (and their registry rows) if they exist."""
    if isinstance(layers, str):
        layers = [layers]
    with _connect(url) as conn:
        schema = _qschema(_schema(conn))
        has_registry = conn.execute("SELECT to_regclass(%s)", (_registry(conn),)).fetchone()[0]
        for layer in layers:
            q = _check_name(layer, "图层", "layer")
            rel = _relation(conn, layer)
            if rel is not None:
                drop = {"v": "VIEW", "m": "MATERIALIZED VIEW"}.get(rel[1], "TABLE")
                conn.execute(f"DROP {drop} {schema}.{q}")
            if has_registry:
                conn.execute(f"DELETE FROM {_registry(conn)} WHERE table_name = %s", (layer,))
        conn.commit()
