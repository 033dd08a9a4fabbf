"""Moving a geodatabase (county or city) from its GeoPackage into an empty PostgreSQL + PostGIS database, whole.

A county office that outgrows one file moves to a server once; nothing may be lost or altered on the way.
:func:`open_source` reads the GeoPackage, :func:`migrating` writes the server database:

- the GeoPackage is read through a read-only SQLite connection inside ONE read transaction (a consistent
  snapshot: an import that starts meanwhile waits, none is half seen) and is never written — a file with
  an interrupted import's journal is refused rather than rolled back here;
- everything goes to the server in ONE transaction under the unit's write lock: a failure (or an
  exception raised by the caller inside the ``with``) leaves the database as it was. A database that
  already holds a census geodatabase, or any table of its own, is refused;
- bookkeeping tables get the server layout a ``census county init`` would make (the same DDL, translated
  by :func:`geodb.pg_county.create_census_tables`, append-only audit guard included); their rows go in
  verbatim with their ids by binary COPY, the secondary indexes are built once after the rows, and each
  serial sequence is set past the highest id the GeoPackage holds or ever handed out (``sqlite_sequence``);
- form layers are made as an init makes them (:func:`geodb.pg_county.create_form_table`) and filled with
  the same fids, every column and the geometries (the WKB inside each GeoPackage blob, as is);
- every other table — division layers, the work map, risk/danger/history results, anything a GIS added —
  becomes a PostGIS table of the same name with the same fids and columns, types mapped as pyogrio reads
  them (INTEGER → bigint, MEDIUMINT → integer, REAL → double precision, DATE, DATETIME, BOOLEAN, BLOB…),
  a geometry column of the type the rows actually have, and a GIST index. Layer descriptions go where the
  server backend keeps them (``COMMENT`` for divisions, :data:`geodb.pg_layers.REGISTRY` for results).

PostgreSQL text cannot hold U+0000: a table whose text carries one is copied again with those characters
dropped (as the server backend stores derived columns) and the count is reported — never silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sqlite3
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

import psycopg

from schemas.errors import CensusError

from . import gpkg, pg
from .city import CITY_DDL, CITY_DIVISION_LAYERS, CITY_FORMAT
from .county import BOOKKEEPING_DDL, COUNTY_FORMAT, DIVISION_LAYERS, WORKMAP_LAYER, LayerSpec, _statements
from .county_upward import UPWARD_DDL
from .pg_city import PgCityDB
from .pg_county import PgCountyDB, create_census_tables, create_form_index, create_form_table, qname, wkb_of
from .pg_layers import REGISTRY
from .target import display_name, is_server

Progress = Callable[[int, int], None]
BATCH = 10_000                 # rows fetched from SQLite per step (and progress reported per step)
MAX_IDENT = 63                 # PostgreSQL cuts longer names (NAMEDATALEN - 1): refused rather than renamed


class MigrateError(CensusError):
    """The geodatabase cannot be moved as asked; the message says why and what to do."""


class SourceMissing(MigrateError, FileNotFoundError):
    pass


class TargetNotEmpty(MigrateError):
    """The server database already holds a census geodatabase or other tables."""


# ---------------------------------------------------------------------------------------------------
# What is moved: a county or a city

@dataclass(frozen=True)
class Kind:
    name: str                                  # county | city: also the settings key of the unit's code
    zh: str
    fmt: str
    ddl: tuple[str, ...]                       # the bookkeeping DDL (SQLite), as the init runs it
    optional: Mapping[str, tuple[str, ...]]    # a table made on first use → the DDL that makes it
    divisions: tuple[str, ...]                 # layers an init writes (described by COMMENT, as there)
    store: type


COUNTY = Kind("county", "县级", COUNTY_FORMAT, tuple(_statements(BOOKKEEPING_DDL)),
              {"census_upward_exports": UPWARD_DDL}, (*DIVISION_LAYERS, WORKMAP_LAYER), PgCountyDB)
CITY = Kind("city", "市级", CITY_FORMAT, tuple(CITY_DDL), {}, CITY_DIVISION_LAYERS, PgCityDB)
KINDS = {"county": COUNTY, "city": CITY}

_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)\"?", re.IGNORECASE)


def _ddl_tables(ddl: Iterable[str]) -> list[str]:
    return [m.group(1) for s in ddl if (m := _CREATE_TABLE.match(s))]


# ---------------------------------------------------------------------------------------------------
# The source GeoPackage

@dataclass
class Column:
    name: str
    decl: str          # declared SQLite type, upper case ("" when none)
    pk: int            # position in the primary key, 0 when not part of it


@dataclass
class GeomColumn:
    column: str
    type_name: str     # the GeoPackage's geometry_type_name (POLYGON, MULTIPOLYGON, GEOMETRY, …)
    srid: int          # EPSG code (0: undefined)
    z: int
    m: int


@dataclass
class Table:
    name: str
    role: str                        # census | form | division | layer
    columns: list[Column]
    rows: int
    geometry: GeomColumn | None = None
    description: str | None = None
    spec: LayerSpec | None = None
    high_id: int = 0                 # the highest id AUTOINCREMENT ever handed out (sqlite_sequence)

    @property
    def pk(self) -> list[str]:
        return [c.name for c in sorted((c for c in self.columns if c.pk), key=lambda c: c.pk)]


@dataclass
class Source:
    path: Path
    kind: Kind
    conn: sqlite3.Connection
    code: str
    sha256: str
    size: int
    tables: list[Table]
    missing_forms: list[LayerSpec] = field(default_factory=list)   # in census_layers, no table in the file

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


def _ro_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{pathname2url(str(path.resolve()))}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA mmap_size = 2147418112")
    return conn


@contextmanager
def open_source(path: str | Path, kind: Kind) -> Iterator[Source]:
    """The GeoPackage read-only, inside one read transaction held until the ``with`` ends (the file cannot
    change meanwhile: its SHA-256, row counts and rows all belong to one state)."""
    path = Path(path)
    shown = str(path)
    if is_server(str(path)) or not path.is_file():
        raise SourceMissing(f"找不到{kind.zh}地理数据库文件 {shown}", f"{kind.name} GeoPackage {shown} not found")
    journal = Path(str(path) + "-journal")
    if journal.is_file() and journal.stat().st_size > 0:
        raise MigrateError(
            f"{shown} 旁有未完成的事务日志（{journal.name}，上次导入被中断）；迁移不会改动原文件，请先运行一次 "
            f"census {kind.name} verify --gpkg {shown} 让它恢复，再迁移",
            f"{shown} has the journal of an interrupted transaction ({journal.name}); migrate never writes the "
            f"file: run census {kind.name} verify --gpkg {shown} once to let it recover, then migrate again")
    try:
        conn = _ro_connect(path)
    except sqlite3.Error as e:
        raise MigrateError(f"无法读取 {shown}：{e}", f"cannot read {shown}: {e}") from e
    try:
        try:
            conn.execute("BEGIN")
            row = conn.execute("SELECT value FROM census_settings WHERE key='format'").fetchone()   # takes the lock
        except sqlite3.DatabaseError as e:
            raise MigrateError(f"{shown} 不是{kind.zh}普查地理数据库（{e}）",
                               f"{shown} is not a {kind.name} census geodatabase ({e})") from e
        if not row or row[0] != kind.fmt:
            raise MigrateError(f"{shown} 不是{kind.zh}普查地理数据库" + (f"（格式 {row[0]}）" if row else ""),
                               f"{shown} is not a {kind.name} census geodatabase" + (f" (format {row[0]})" if row else ""))
        code = conn.execute("SELECT value FROM census_settings WHERE key=?", (kind.name,)).fetchone()
        sha, size = _file_digest(path)
        tables, missing = _inventory(conn, kind, shown)
        yield Source(path, kind, conn, str(code[0] if code else ""), sha, size, tables, missing)
    finally:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        conn.close()


def _file_digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def _check_ident(name: str, table: str | None, shown: str) -> None:
    if len(name.encode("utf-8")) > MAX_IDENT or "\x00" in name:
        what_zh = f"表 {table} 的字段" if table else "表"
        what_en = f"table {table}: column" if table else "table"
        raise MigrateError(f"{shown} 的{what_zh}名“{name}”超过 PostgreSQL 的 {MAX_IDENT} 字节限制，迁移会改变它；请先在 QGIS 中改短",
                           f"{shown}: {what_en} name '{name}' is longer than PostgreSQL's {MAX_IDENT} bytes and would "
                           "be cut; shorten it (e.g. in QGIS) first")


def _inventory(conn: sqlite3.Connection, kind: Kind, shown: str) -> tuple[list[Table], list[LayerSpec]]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    have = set(names)
    contents = {t: (d, desc) for t, d, desc in conn.execute(
        "SELECT table_name, data_type, description FROM gpkg_contents")} if "gpkg_contents" in have else {}
    srs = {int(i): (str(org or "").upper(), org_id) for i, org, org_id in conn.execute(
        "SELECT srs_id, organization, organization_coordsys_id FROM gpkg_spatial_ref_sys")} \
        if "gpkg_spatial_ref_sys" in have else {}
    geoms: dict[str, GeomColumn] = {}
    if "gpkg_geometry_columns" in have:
        for t, col, typ, srs_id, z, m in conn.execute(
                "SELECT table_name, column_name, geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns"):
            geoms[t] = GeomColumn(col, str(typ).upper(), _epsg(int(srs_id), srs, t, shown), int(z or 0), int(m or 0))
    seqs = dict(conn.execute("SELECT name, seq FROM sqlite_sequence")) if "sqlite_sequence" in have else {}
    census = set(_ddl_tables(kind.ddl))
    for first, ddl in kind.optional.items():
        if first in have:
            census |= set(_ddl_tables(ddl))
    specs = {r[2]: LayerSpec.from_row(dict(zip(("form_id", "form_version", "table_name", "geometry_type",
                                                 "geometry_field", "columns"), r)))
             for r in conn.execute("SELECT form_id, form_version, table_name, geometry_type, geometry_field, columns "
                                   "FROM census_layers ORDER BY id")}
    tables = []
    for name in names:
        if name.startswith(("sqlite_", "gpkg_", "rtree_")):
            continue   # SQLite's and the GeoPackage's own machinery: PostGIS has its own
        _check_ident(name, None, shown)
        cols = [Column(str(n), str(t or "").upper(), int(pk)) for _, n, t, _, _, pk in
                conn.execute(f"PRAGMA table_info({qname(name)})")]
        for c in cols:
            _check_ident(c.name, name, shown)
        role = "census" if name in census else "form" if name in specs else \
            "division" if name in kind.divisions else "layer"
        rows = int(conn.execute(f"SELECT count(*) FROM {qname(name)}").fetchone()[0])
        tables.append(Table(name, role, cols, rows, geoms.get(name) if role != "census" else None,
                            (contents.get(name) or (None, None))[1], specs.get(name), int(seqs.get(name) or 0)))
    missing_core = [t for t in _ddl_tables(kind.ddl) if t not in have]
    if missing_core:
        raise MigrateError(f"{shown} 缺少{kind.zh}地理数据库的表 {', '.join(sorted(missing_core))}：文件不完整或已损坏",
                           f"{shown} lacks the {kind.name} geodatabase tables {', '.join(sorted(missing_core))}: "
                           "the file is incomplete or damaged")
    missing_forms = [s for t, s in specs.items() if t not in have]
    return tables, missing_forms


def _epsg(srs_id: int, srs: Mapping[int, tuple[str, Any]], table: str, shown: str) -> int:
    if srs_id in (0, -1):
        return 0
    org, org_id = srs.get(srs_id, ("", None))
    if org == "EPSG" and org_id is not None:
        return int(org_id)
    raise MigrateError(f"{shown} 的图层 {table} 使用非 EPSG 坐标系（srs_id {srs_id}），PostGIS 图层需要 EPSG 坐标系；请先转换",
                       f"{shown}: layer {table} uses a non-EPSG CRS (srs_id {srs_id}); PostGIS layers need an EPSG "
                       "CRS — reproject it first")


# ---------------------------------------------------------------------------------------------------
# Geometry: what the rows hold decides the PostGIS column type

_BASE = {0: "Geometry", 1: "Point", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
         6: "MultiPolygon", 7: "GeometryCollection"}
_GPKG_TYPES = {v.upper(): v for v in _BASE.values()}


def wkb_kind(blob) -> str | None:
    """``"<base type>:<z><m>"`` of a GeoPackage geometry blob (ISO or extended WKB), ``"bad"`` when it is
    not one; None for NULL. Registered as an SQLite function so the scan is one query per layer."""
    if blob is None:
        return None
    try:
        mv = memoryview(blob)
        if mv[0] != 0x47 or mv[1] != 0x50:
            return "bad"
        off = 8 + gpkg._ENV_SIZES.get((mv[3] >> 1) & 0b111, 0)
        code = struct.unpack_from("<I" if mv[off] == 1 else ">I", mv, off + 1)[0]
    except (IndexError, struct.error, TypeError):
        return "bad"
    z, m = bool(code & 0x80000000), bool(code & 0x40000000)
    dim, base = divmod(code & 0x0FFFFFFF, 1000)
    z |= dim in (1, 3)
    m |= dim in (2, 3)
    return f"{base}:{int(z)}{int(m)}"


@dataclass
class GeomPlan:
    typmod: str        # PostGIS type with dimensions: Polygon, MultiPolygonZ, Geometry, …
    base: str          # without dimensions
    z: bool
    srid: int

    @property
    def pyogrio_type(self) -> str:
        return ("Unknown" if self.base == "Geometry" else self.base) + (" Z" if self.z and self.base != "Geometry" else "")


def _geom_plan(conn: sqlite3.Connection, t: Table, declared: str, shown: str) -> GeomPlan:
    g = t.geometry
    assert g is not None
    kinds = Counter(dict(conn.execute(
        f"SELECT census_wkb_kind({qname(g.column)}) k, count(*) FROM {qname(t.name)} "
        f"WHERE {qname(g.column)} IS NOT NULL GROUP BY k")))
    if "bad" in kinds:
        raise MigrateError(f"{shown} 的图层 {t.name} 有 {kinds['bad']} 个几何不是有效的 GeoPackage 几何，无法原样迁移",
                           f"{shown}: layer {t.name} has {kinds['bad']} geometries that are not valid GeoPackage "
                           "geometry blobs and cannot be moved as they are")
    bases = {_BASE.get(int(k.split(":")[0]), "Geometry") for k in kinds}
    dims = {k.split(":")[1] for k in kinds}
    if len(dims) > 1:
        raise MigrateError(f"{shown} 的图层 {t.name} 中二维、三维（或带 M 值）的几何混杂，PostGIS 列只能取一种；请先统一",
                           f"{shown}: layer {t.name} mixes 2D and 3D (or measured) geometries; a PostGIS column "
                           "takes one kind — make them uniform first")
    base = declared if not bases or bases == {declared} or declared == "Geometry" else "Geometry"
    if dims:
        z, m = (d == "1" for d in next(iter(dims)))
    else:
        z, m = g.z == 1, g.m == 1
    return GeomPlan(base + ("Z" if z else "") + ("M" if m else ""), base, z, g.srid)


# ---------------------------------------------------------------------------------------------------
# Column types of tables the server backend has no layout of its own for

def _to_float(v):
    return float(v) if v.__class__ is int else v


def _to_bool(v):
    if v in (0, 1):
        return bool(v)
    raise ValueError(f"{v!r} is not a boolean (0/1)")


def _to_date(v):
    return dt.date.fromisoformat(v) if isinstance(v, str) else v


def _to_naive(v):
    t = dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None) if t.tzinfo is not None else t


def _to_aware(v):
    t = dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)


def _column_type(conn: sqlite3.Connection, t: Table, c: Column) -> tuple[str, str, Callable | None]:
    """(SQL type, COPY type, converter or None) of a GeoPackage column, as pyogrio reads the type."""
    base = c.decl.split("(")[0].strip()
    if base in ("INTEGER", "INT", "BIGINT", "INT8", "UNSIGNED BIG INT"):
        return "BIGINT", "int8", None
    if base in ("MEDIUMINT", "INT4"):
        return "INTEGER", "int4", None
    if base in ("SMALLINT", "TINYINT", "INT2"):
        return "SMALLINT", "int2", None
    if base in ("BOOLEAN", "BOOL"):
        return "BOOLEAN", "bool", _to_bool
    if base in ("REAL", "DOUBLE", "DOUBLE PRECISION", "FLOAT8", "NUMERIC", "DECIMAL"):
        return "DOUBLE PRECISION", "float8", _to_float
    if base in ("FLOAT", "FLOAT4"):
        return "REAL", "float4", _to_float
    if base == "DATE":
        return "DATE", "date", _to_date
    if base in ("DATETIME", "TIMESTAMP"):
        # GDAL writes an instant with its zone ("…Z" / "+08:00") and a local time without one
        first = conn.execute(f"SELECT {qname(c.name)} FROM {qname(t.name)} WHERE {qname(c.name)} IS NOT NULL "
                             "LIMIT 1").fetchone()
        aware = bool(first and isinstance(first[0], str) and re.search(r"(Z|[+-]\d\d:?\d\d)$", first[0]))
        return ("TIMESTAMPTZ", "timestamptz", _to_aware) if aware else ("TIMESTAMP", "timestamp", _to_naive)
    if base == "BLOB":
        return "BYTEA", "bytea", None
    return "TEXT", "text", None


# ---------------------------------------------------------------------------------------------------
# The target database

def _user_relations(raw: psycopg.Connection) -> list[str]:
    """Tables, views and foreign tables of the current schema that are not an extension's (PostGIS' own)."""
    return [r[0] for r in raw.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
        "AND d.deptype = 'e') ORDER BY c.relname").fetchall()]


def refuse_unless_empty(raw: psycopg.Connection, url: str) -> None:
    """A census geodatabase, or any table of the database's own, stops the migration (nothing is merged
    into or written over existing data)."""
    shown = display_name(url)
    if raw.execute("SELECT to_regclass('census_settings')").fetchone()[0] is not None:
        fmt = raw.execute("SELECT value FROM census_settings WHERE key = 'format'").fetchone()
        what = fmt[0] if fmt and fmt[0] else "census_settings"
        raise TargetNotEmpty(
            f"{shown} 已经存放着普查地理数据库（{what}），迁移不会覆盖或合并；请由数据库管理员新建一个空数据库再迁移",
            f"{shown} already holds a census geodatabase ({what}); migrate never overwrites or merges: have the "
            "database administrator create an empty database and migrate into that")
    rel = _user_relations(raw)
    if rel:
        more = f" …（共 {len(rel)} 个）" if len(rel) > 5 else ""
        more_en = f" … ({len(rel)} in all)" if len(rel) > 5 else ""
        raise TargetNotEmpty(f"{shown} 不是空数据库（已有 {', '.join(rel[:5])}{more}）；迁移只写入空数据库，请新建一个",
                             f"{shown} is not empty (it has {', '.join(rel[:5])}{more_en}); migrate writes only into "
                             "an empty database — create a new one")


def check_target(url: str) -> None:
    """Refuse early (before any side file is copied) a target that cannot take the geodatabase."""
    if not is_server(url):
        raise MigrateError(f"迁移目标“{url}”不是 PostgreSQL 连接地址（postgresql://用户@主机/数据库）",
                           f"the migration target '{url}' is not a PostgreSQL URL (postgresql://user@host/db)")
    raw = pg.connect(url, require_postgis=False)
    try:
        refuse_unless_empty(raw, url)
    finally:
        raw.close()


@dataclass
class Report:
    """What :func:`migrating` copied (filled before the caller's body runs)."""

    tables: dict[str, int] = field(default_factory=dict)          # table → rows copied
    roles: dict[str, list[str]] = field(default_factory=dict)     # census | form | division | layer → tables
    widened: dict[str, str] = field(default_factory=dict)         # layer → its PostGIS type, when not the declared one
    nul_dropped: dict[str, int] = field(default_factory=dict)     # table → text values that lost a U+0000
    empty_forms: list[str] = field(default_factory=list)          # form layers the file lacked, made empty
    seconds: float = 0.0


@contextmanager
def migrating(src: Source, url: str, *, progress: Progress | None = None) -> Iterator[tuple[Any, Report]]:
    """Copy ``src`` into the empty database at ``url`` in ONE transaction; yields (the open store, the
    report) inside it, so the caller's last act (the ``migrate`` audit row) commits with the rows. A
    failure, here or in the caller's body, rolls everything back."""
    url = str(url)
    started = time.perf_counter()
    raw = pg.connect(url, require_postgis=False)
    conn = pg.PgConnection(raw, url)
    rep = Report()
    try:
        refuse_unless_empty(raw, url)
        db = src.kind.store(url, conn, code=src.code)
        with db.transaction():
            refuse_unless_empty(raw, url)    # again under the lock: another migration may have just finished
            pg.ensure_postgis(raw, url)
            raw.execute("SET LOCAL maintenance_work_mem = '256MB'")   # index builds after the copy, in memory
            src.conn.create_function("census_wkb_kind", 1, wkb_kind, deterministic=True)
            _Copier(src, raw, conn, rep, progress).run()
            rep.seconds = time.perf_counter() - started
            yield db, rep
    finally:
        conn.close()


class _Copier:
    def __init__(self, src: Source, raw: psycopg.Connection, conn: pg.PgConnection, rep: Report,
                 progress: Progress | None):
        self.src, self.raw, self.conn, self.rep = src, raw, conn, rep
        self.progress = progress
        self.total = src.rows
        self.done = 0
        self.shown = str(src.path)

    def run(self) -> None:
        src = self.src
        ddl = list(src.kind.ddl)
        for first, extra in src.kind.optional.items():
            if src.table(first) is not None:
                ddl += list(extra)
        later = create_census_tables(self.conn, ddl, indexes=False)
        self._tick(0)
        order = {"census": 0, "form": 1, "division": 2, "layer": 3}
        for t in sorted(src.tables, key=lambda t: (order[t.role], t.name)):
            self.rep.roles.setdefault(t.role, []).append(t.name)
            if t.role == "census":
                self._copy_census(t)
            elif t.role == "form":
                self._copy_form(t)
            else:
                self._copy_layer(t)
        for spec in src.missing_forms:
            create_form_table(self.conn, spec)
            self.rep.empty_forms.append(spec.table)
        for stmt in later:
            self.conn.execute(stmt)
        for t in src.tables:
            self._sequence(t)
            self.raw.execute(f"ANALYZE {qname(t.name)}")

    # -- per kind of table ---------------------------------------------------------------------------
    def _copy_census(self, t: Table) -> None:
        types = self._target_types(t.name)
        extra = [c.name for c in t.columns if c.name not in types]
        if extra:
            raise MigrateError(f"{self.shown} 的表 {t.name} 有服务器布局中没有的列（{', '.join(extra)}），迁移会丢掉它们；"
                               "文件可能来自更新的版本，请用同一版本的工具迁移",
                               f"{self.shown}: table {t.name} has columns the server layout lacks ({', '.join(extra)}) "
                               "and they would be lost; the file may come from a newer version — migrate with that version")
        names = [c.name for c in t.columns]
        self._copy(t, names, [types[n] for n in names], [])

    def _copy_form(self, t: Table) -> None:
        spec = t.spec
        assert spec is not None
        create_form_table(self.conn, spec, index=False)
        qt = qname(t.name)
        geom = None
        if spec.geometry_type and t.geometry is not None:
            geom = _geom_plan(self.src.conn, t, spec.geometry_type, self.shown)
            if geom.typmod != spec.geometry_type or geom.srid != 4490:
                self.conn.execute(f"ALTER TABLE {qt} ALTER COLUMN geom TYPE geometry({geom.typmod}, {geom.srid})")
                self.rep.widened[t.name] = geom.typmod
        types = self._target_types(t.name)
        for c in t.columns:   # a column someone added to the layer (e.g. in QGIS) comes along too
            if c.name not in types:
                sql_type, _, _ = _column_type(self.src.conn, t, c)
                self.conn.execute(f"ALTER TABLE {qt} ADD COLUMN {qname(c.name)} {sql_type}")
        types = self._target_types(t.name)
        names = [c.name for c in t.columns]
        gcol = t.geometry.column if t.geometry is not None else None
        if gcol is not None and gcol not in types:
            raise MigrateError(f"{self.shown} 的表单图层 {t.name} 的几何列名为 {gcol}，与布局不符",
                               f"{self.shown}: form layer {t.name} has its geometry in column {gcol}, not the layout's")
        convert = [(names.index(gcol), wkb_of)] if gcol is not None else []
        for i, n in enumerate(names):
            if types[n] in ("bool", "date", "timestamp", "timestamptz") and n != gcol:
                convert.append((i, _column_type(self.src.conn, t, t.columns[i])[2]))
        self._copy(t, names, [types[n] for n in names], convert)
        create_form_index(self.conn, spec)

    def _copy_layer(self, t: Table) -> None:
        qt = qname(t.name)
        defs, names, types, convert = [], [], [], []
        pk = t.pk
        geom = None
        gcol = t.geometry.column if t.geometry is not None else None
        if gcol is not None:
            declared = _GPKG_TYPES.get(t.geometry.type_name, "Geometry")   # type: ignore[union-attr]
            geom = _geom_plan(self.src.conn, t, declared, self.shown)
            if geom.base != declared:
                self.rep.widened[t.name] = geom.typmod
        for i, c in enumerate(t.columns):
            names.append(c.name)
            if c.name == gcol:
                assert geom is not None
                defs.append(f"{qname(c.name)} geometry({geom.typmod}, {geom.srid})")
                types.append("bytea")
                convert.append((i, wkb_of))
                continue
            sql_type, copy_type, conv = _column_type(self.src.conn, t, c)
            if len(pk) == 1 and c.pk and copy_type == "int8":
                sql_type = "BIGSERIAL"   # the fid: numbered by a sequence set past the copied ids
            defs.append(f"{qname(c.name)} {sql_type}" + (" PRIMARY KEY" if len(pk) == 1 and c.pk else ""))
            types.append(copy_type)
            if conv is not None:
                convert.append((i, conv))
        if len(pk) > 1:
            defs.append(f"PRIMARY KEY ({', '.join(qname(n) for n in pk)})")
        self.conn.execute(f"CREATE TABLE {qt} ({', '.join(defs)})")
        self._copy(t, names, types, convert)
        if gcol is not None:
            self.conn.execute(f"CREATE INDEX {qname(t.name[:MAX_IDENT - 9] + '_geom_idx')} ON {qt} "
                              f"USING GIST ({qname(gcol)})")
        if t.role == "division":
            if t.description:
                self.conn.execute(f"COMMENT ON TABLE {qt} IS {_literal(t.description)}")
        else:
            reg = qname(REGISTRY)
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {reg} (table_name TEXT PRIMARY KEY, geometry_type TEXT, "
                              "description TEXT)")
            self.conn.execute(f"INSERT INTO {reg} (table_name, geometry_type, description) VALUES (?, ?, ?)",
                              (t.name, geom.pyogrio_type if geom is not None else None, t.description))

    # -- the copy itself -------------------------------------------------------------------------------
    def _target_types(self, table: str) -> dict[str, str]:
        """column → the type it is sent as in binary COPY (geometry as bytea: PostGIS reads the WKB)."""
        return {n: ("bytea" if typ == "geometry" else typ) for n, typ in self.conn.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped", (qname(table),))}

    def _copy(self, t: Table, names: Sequence[str], types: Sequence[str],
              convert: Sequence[tuple[int, Callable]]) -> None:
        """Every row of ``t`` by binary COPY; a U+0000 in text makes it go again with those dropped."""
        start = self.done
        self.raw.execute('SAVEPOINT "census_migrate"')
        try:
            try:
                n = self._copy_rows(t, names, types, convert, strip=None)
            except psycopg.errors.CharacterNotInRepertoire:
                self.raw.execute('ROLLBACK TO SAVEPOINT "census_migrate"')
                self.done = start
                dropped = [0]
                n = self._copy_rows(t, names, types, convert, strip=dropped)
                self.rep.nul_dropped[t.name] = dropped[0]
        except MigrateError:
            raise
        except (psycopg.Error, sqlite3.Error, ValueError, TypeError, OverflowError) as e:
            msg = pg._first_line(str(e)) if isinstance(e, psycopg.Error) else str(e)
            raise MigrateError(f"表 {t.name} 迁移失败，服务器数据库未作任何改动：{msg}",
                               f"copying table {t.name} failed and the server database was left as it was: {msg}") from e
        self.raw.execute('RELEASE SAVEPOINT "census_migrate"')
        if n != t.rows:   # the read transaction holds the file still: a difference is a bug, never ignored
            raise MigrateError(f"表 {t.name} 读出 {n} 行，应为 {t.rows} 行；迁移已撤销",
                               f"table {t.name}: {n} rows read where {t.rows} were counted; the migration was undone")
        self.rep.tables[t.name] = n

    def _copy_rows(self, t: Table, names: Sequence[str], types: Sequence[str],
                   convert: Sequence[tuple[int, Callable]], *, strip: list[int] | None) -> int:
        cols = ", ".join(qname(n) for n in names)
        cur = self.src.conn.execute(f"SELECT {cols} FROM {qname(t.name)}")
        n = 0
        with self.raw.cursor().copy(f"COPY {qname(t.name)} ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(list(types))
            write = cp.write_row
            while batch := cur.fetchmany(BATCH):
                if convert:
                    batch = [_converted(r, convert) for r in batch]
                if strip is not None:
                    batch = [_without_nul(r, strip) for r in batch]
                for r in batch:
                    write(r)
                n += len(batch)
                self._tick(len(batch))
        return n

    def _tick(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _sequence(self, t: Table) -> None:
        """Move a serial column's sequence past the highest id copied, or handed out by AUTOINCREMENT
        (a deleted last row's id is not given again, as in the GeoPackage)."""
        for c in t.pk:
            seq = self.raw.execute("SELECT pg_get_serial_sequence(%s, %s)", (qname(t.name), c)).fetchone()[0]
            if not seq:
                continue
            top = self.raw.execute(f"SELECT max({qname(c)}) FROM {qname(t.name)}").fetchone()[0] or 0
            high = max(int(top), t.high_id)
            if high > 0:
                self.raw.execute("SELECT setval(%s, %s, true)", (seq, high))
            else:
                self.raw.execute("SELECT setval(%s, 1, false)", (seq,))


def _converted(row: Sequence, convert: Sequence[tuple[int, Callable]]) -> list:
    r = list(row)
    for i, fn in convert:
        v = r[i]
        if v is not None:
            r[i] = fn(v)
    return r


def _without_nul(row: Sequence, count: list[int]) -> Sequence:
    if not pg.has_nul(row):
        return row
    count[0] += sum(1 for v in row if v.__class__ is str and "\x00" in v)
    return [pg.without_nul(v) for v in row]


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


__all__ = ["CITY", "COUNTY", "KINDS", "Kind", "MigrateError", "Report", "Source", "SourceMissing", "TargetNotEmpty",
           "check_target", "migrating", "open_source", "refuse_unless_empty", "wkb_kind"]
