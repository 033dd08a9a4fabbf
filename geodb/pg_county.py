"""The county geodatabase in PostgreSQL + PostGIS: the same tables, rows and meaning as the GeoPackage.

:class:`PgCountyDB` is :class:`geodb.county.CountyDB` on a server database. Every method keeps its
meaning; the SQL that is portable runs unchanged through :class:`geodb.pg.PgConnection` (which only
rewrites ``?``/``:name`` placeholders), and what is SQLite's own is overridden here in
:class:`PgStore` (shared with a later city backend) and :class:`PgCountyDB`:

- layout: the bookkeeping tables of :data:`geodb.county.BOOKKEEPING_DDL` with PostgreSQL types
  (``id`` BIGSERIAL, INTEGER → BIGINT, REAL → DOUBLE PRECISION); division, work-map and form layers
  as PostGIS tables (``fid bigserial``, ``geom geometry(<type>, 4490)`` with a GIST index) — no
  ``gpkg_*`` tables, no R-tree tables, no stored extents (PostGIS computes them);
- ``census_audit`` is append-only by three triggers (no UPDATE, no DELETE, no TRUNCATE) calling one
  function that raises; :meth:`PgStore.missing_triggers` reports any of them dropped, disabled or
  with its function replaced, so ``census county verify`` sees the protection removed;
- writers serialise like SQLite's ``BEGIN IMMEDIATE``: every write transaction first takes
  ``pg_advisory_xact_lock`` on a key fixed by the county code (a second writer waits, it does not
  fail); the audit chain head is read after the lock. Readers never wait (MVCC);
- feature rows arrive as GeoPackage geometry blobs (header + WKB, see :mod:`geodb.gpkg`): the header
  is dropped and the WKB goes to PostGIS as is; bulk rows go in with binary ``COPY``.

Side files (keys, ``received/``, ``quarantine/``) live in the folder of ``db.path``
(:func:`geodb.target.anchor_path` of the URL).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from schemas.model import Form

from . import gpkg, pg
from .county import (
    APPEND_ONLY_TRIGGERS,
    BOOKKEEPING_DDL,
    COUNTY_FORMAT,
    SYSTEM_COLUMNS,
    WORKMAP_LAYER,
    CountyDB,
    Divisions,
    LayerSpec,
    _fill_expected,
    _statements,
    _workmap_forms,
    layer_spec,
)
from .target import anchor_path, display_name

SRID = gpkg.SRS_ID
PG_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION", "TEXT": "TEXT"}

# ---------------------------------------------------------------------------------------------------
# DDL

_ID_PK = re.compile(r"\bid INTEGER PRIMARY KEY\b")
_INT_PK = re.compile(r"\bINTEGER PRIMARY KEY\b")
_INTEGER = re.compile(r"\bINTEGER\b")
_REAL = re.compile(r"\bREAL\b")


def pg_ddl(statements: Iterable[str]) -> list[str]:
    """The bookkeeping DDL written for SQLite, in PostgreSQL types: ``id INTEGER PRIMARY KEY`` (SQLite's
    rowid alias, numbered by the database) → ``BIGSERIAL``, another INTEGER key → ``BIGINT``, INTEGER →
    BIGINT, REAL → DOUBLE PRECISION. Triggers are left out (see :data:`AUDIT_GUARD_DDL`); everything else
    (UNIQUE, DEFAULT, partial indexes) is the same SQL in both. Derived, not copied, so a column added
    to the GeoPackage layout appears here too."""
    out = []
    for stmt in statements:
        s = stmt.strip().rstrip(";").strip()
        if not s or s.upper().startswith("CREATE TRIGGER"):
            continue
        s = _ID_PK.sub("id BIGSERIAL PRIMARY KEY", s)
        s = _INT_PK.sub("BIGINT PRIMARY KEY", s)
        s = _INTEGER.sub("BIGINT", s)
        out.append(_REAL.sub("DOUBLE PRECISION", s))
    return out


AUDIT_GUARD_FUNCTION = "census_audit_append_only"
# the function body as created: verify compares it, so a guard replaced by a no-op is noticed
AUDIT_GUARD_BODY = "\nBEGIN\n  RAISE EXCEPTION 'census_audit is append-only' USING ERRCODE = 'restrict_violation';\nEND\n"
# trigger name → (pg_trigger.tgtype bits that must be set: ROW 1, BEFORE 2, DELETE 8, UPDATE 16, TRUNCATE 32)
AUDIT_TRIGGERS = {"census_audit_no_update": 1 | 2 | 16, "census_audit_no_delete": 1 | 2 | 8,
                  "census_audit_no_truncate": 2 | 32}
assert set(APPEND_ONLY_TRIGGERS) <= set(AUDIT_TRIGGERS)


def audit_guard_ddl(table: str = "census_audit") -> list[str]:
    t = gpkg.qid(table)
    return [
        f"CREATE OR REPLACE FUNCTION {AUDIT_GUARD_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$guard${AUDIT_GUARD_BODY}$guard$",
        f"CREATE TRIGGER census_audit_no_update BEFORE UPDATE ON {t} FOR EACH ROW "
        f"EXECUTE FUNCTION {AUDIT_GUARD_FUNCTION}()",
        f"CREATE TRIGGER census_audit_no_delete BEFORE DELETE ON {t} FOR EACH ROW "
        f"EXECUTE FUNCTION {AUDIT_GUARD_FUNCTION}()",
        # TRUNCATE skips row triggers: a statement trigger of its own
        f"CREATE TRIGGER census_audit_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {AUDIT_GUARD_FUNCTION}()",
    ]


def qname(name: str) -> str:
    """A quoted identifier for any column name a division file may bring (quotes doubled)."""
    return '"' + str(name).replace('"', '""') + '"'


def create_form_table(conn: pg.PgConnection, spec: LayerSpec, *, index: bool = True) -> None:
    """One form's layer: ``fid``, ``geom`` (spatial forms), the flattened columns, the system columns.
    ``index=False`` leaves the GIST index to :func:`create_form_index` (a bulk copy builds it once,
    after the rows, instead of row by row)."""
    t = gpkg.qid(spec.table)
    cols = ["fid BIGSERIAL PRIMARY KEY"]
    if spec.geometry_type:
        cols.append(f"geom geometry({spec.geometry_type}, {SRID})")
    cols += [f"{gpkg.qid(c[0])} {PG_TYPES[c[1]]}" for c in spec.columns]
    cols += [f"{gpkg.qid(c)} {PG_TYPES[typ]}" for c, typ in SYSTEM_COLUMNS]
    conn.execute(f"CREATE TABLE IF NOT EXISTS {t} ({', '.join(cols)})")
    if index:
        create_form_index(conn, spec)
    conn.execute(f"COMMENT ON TABLE {t} IS {_literal(spec.form_id)}")


def create_form_index(conn: pg.PgConnection, spec: LayerSpec) -> None:
    """The GIST index of a spatial form's layer (nothing for an attribute table)."""
    if spec.geometry_type:
        conn.execute(f"CREATE INDEX IF NOT EXISTS {gpkg.qid(spec.table + '_geom_idx')} ON {gpkg.qid(spec.table)} "
                     "USING GIST (geom)")


def split_ddl(statements: Iterable[str]) -> tuple[list[str], list[str]]:
    """:func:`pg_ddl` statements as (tables, indexes): ``CREATE [UNIQUE] INDEX`` apart, so that a bulk
    copy builds each index once after the rows (an init runs both lists back to back)."""
    tables, indexes = [], []
    for s in statements:
        (indexes if re.match(r"\s*CREATE\s+(UNIQUE\s+)?INDEX\b", s, re.IGNORECASE) else tables).append(s)
    return tables, indexes


def create_census_tables(conn: pg.PgConnection, ddl: Iterable[str], *, indexes: bool = True) -> list[str]:
    """The bookkeeping tables of ``ddl`` (written for SQLite, translated by :func:`pg_ddl`) and the audit
    log's append-only guard. With ``indexes=False`` the secondary indexes are not made but returned, for
    the caller to run after a bulk copy (the guard only stops UPDATE/DELETE/TRUNCATE, so copied rows go
    in under it)."""
    tables, later = split_ddl(pg_ddl(ddl))
    for stmt in tables:
        conn.execute(stmt)
    for stmt in audit_guard_ddl():
        conn.execute(stmt)
    if indexes:
        for stmt in later:
            conn.execute(stmt)
        return []
    return later


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def write_layer(conn: pg.PgConnection, table: str, gdf, geometry_type: str | None, *, promote_to_multi: bool = False,
                description: str | None = None) -> None:
    """A (Geo)DataFrame as a new PostGIS table ``fid``, ``geom``, its columns (BIGINT, DOUBLE PRECISION
    or TEXT), GIST index; rows by binary COPY. ``promote_to_multi``: polygons become multipolygons, as
    GDAL writes the division layers. A Polygon layer holding multipolygons is widened to MultiPolygon
    (PostGIS checks the declared type, GeoPackage does not)."""
    import numpy as np
    import pandas as pd
    import shapely

    geoms = None
    if geometry_type and getattr(gdf, "geometry", None) is not None and getattr(gdf, "_geometry_column_name", None):
        g = gdf.geometry
        if g.crs is not None and g.crs.to_epsg() != SRID:
            g = g.to_crs(SRID)
        geoms = np.asarray(g.array, dtype=object) if len(g) else np.empty(0, dtype=object)
        types = set(shapely.get_type_id(geoms[[x is not None for x in geoms]]).tolist()) if len(geoms) else set()
        if geometry_type == "Polygon" and 6 in types:
            geometry_type, promote_to_multi = "MultiPolygon", True
        if promote_to_multi and geometry_type.startswith("Multi"):
            geoms = np.array([shapely.multipolygons([x]) if x is not None and shapely.get_type_id(x) == 3 else x
                              for x in geoms], dtype=object)
    gcol = gdf.geometry.name if geoms is not None else None
    cols: list[tuple[str, str, Any]] = []
    for name in gdf.columns:
        if name == gcol or str(name).lower() in ("fid", "geom", "geometry"):
            continue
        s = gdf[name]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
            typ, conv = "BIGINT", int
        elif pd.api.types.is_float_dtype(s):
            typ, conv = "DOUBLE PRECISION", float
        else:
            typ, conv = "TEXT", str
        vals = [None if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)) else conv(v)
                for v in s.astype(object).tolist()]
        cols.append((str(name), typ, vals))
    t = qname(table)
    ddl = ["fid BIGSERIAL PRIMARY KEY"]
    if geoms is not None:
        ddl.append(f"geom geometry({geometry_type}, {SRID})")
    ddl += [f"{qname(n)} {typ}" for n, typ, _ in cols]
    conn.execute(f"CREATE TABLE {t} ({', '.join(ddl)})")
    if description:
        conn.execute(f"COMMENT ON TABLE {t} IS {_literal(description)}")
    names = (["geom"] if geoms is not None else []) + [n for n, _, _ in cols]
    types = (["bytea"] if geoms is not None else []) + \
        [{"BIGINT": "int8", "DOUBLE PRECISION": "float8", "TEXT": "text"}[typ] for _, typ, _ in cols]
    n = len(gdf)
    columns = [v for _, _, v in cols]
    if geoms is not None:
        wkb = [None] * n
        present = [k for k, x in enumerate(geoms) if x is not None]
        if present:
            out = shapely.to_wkb(geoms[present], flavor="iso", byte_order=1, output_dimension=2)
            for k, b in zip(present, out):
                wkb[k] = b
        columns = [wkb] + columns
    if n and names:
        with conn.cursor().copy(f"COPY {t} ({', '.join(qname(x) for x in names)}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(types)
            for row in zip(*columns):
                cp.write_row(row)
    if geoms is not None:
        conn.execute(f"CREATE INDEX {qname(table + '_geom_idx')} ON {t} USING GIST (geom)")


def wkb_of(blob) -> memoryview | None:
    """The WKB inside a GeoPackage geometry blob (a view: nothing copied), None for NULL."""
    if blob is None:
        return None
    mv = memoryview(blob)
    if len(mv) < 8 or mv[0] != 0x47 or mv[1] != 0x50:   # "GP"
        raise ValueError("not a GeoPackage geometry blob")
    env = (mv[3] >> 1) & 0b111
    return mv[8 + gpkg._ENV_SIZES.get(env, 0):]


# ---------------------------------------------------------------------------------------------------
# The shared PostgreSQL storage

class PgStore:
    """What a census geodatabase does differently on PostgreSQL (mixed in before the GeoPackage class:
    ``class PgCountyDB(PgStore, CountyDB)``). :attr:`FORMAT`, :attr:`UNIT` (the settings key of the unit's
    code, which also keys the write lock) and :attr:`NOT_FOUND` come from the GeoPackage class."""

    IntegrityError: type[Exception] = psycopg.errors.IntegrityError
    DatabaseError: type[Exception] = psycopg.Error
    KNOWN_KEY_CONSTRAINTS = ("census_records_record_uuid_key", "census_revisions_revision_id_key")
    APPEND_ONLY_TRIGGERS = tuple(AUDIT_TRIGGERS)

    conn: Any
    path: Any
    _head: tuple[int, str] | None

    @classmethod
    def known_key_clash(cls, e: Exception) -> bool:
        name = getattr(getattr(e, "diag", None), "constraint_name", None)
        return isinstance(e, psycopg.errors.UniqueViolation) and name in cls.KNOWN_KEY_CONSTRAINTS

    def __init__(self, url: str, conn: pg.PgConnection, *, readonly: bool = False, code: str | None = None):
        super().__init__(anchor_path(url), conn)   # type: ignore[call-arg]
        self.url = self.target = str(url)
        self.readonly = readonly
        self._code = code
        self._lock: int | None = None
        self._types: dict[str, dict[str, str]] = {}
        self._seqs: dict[str, str] = {}

    @classmethod
    def open(cls, url: str, *, readonly: bool = False):
        url = str(url)
        raw = pg.connect(url, readonly=readonly, require_postgis=False)
        try:
            if raw.execute("SELECT to_regclass('census_settings')").fetchone()[0] is None:
                raise cls.NOT_FOUND(f"{display_name(url)} 不是{cls.KIND_ZH}普查地理数据库；先运行 census {cls.UNIT} init",
                                    f"{display_name(url)} is not a {cls.KIND_EN} census geodatabase; run census "
                                    f"{cls.UNIT} init first")
            row = raw.execute("SELECT value FROM census_settings WHERE key = 'format'").fetchone()
            if not row or row[0] != cls.FORMAT:
                raise cls.NOT_FOUND(f"{display_name(url)} 不是{cls.KIND_ZH}普查地理数据库",
                                    f"{display_name(url)} is not a {cls.KIND_EN} census geodatabase")
            if not pg.postgis_version(raw):
                raise pg.postgis_missing(url)
        except BaseException:
            raw.close()
            raise
        return cls(url, pg.PgConnection(raw, url), readonly=readonly)

    # -- transactions ---------------------------------------------------------------------------------
    @property
    def lock_key(self) -> int:
        if self._lock is None:
            code = self._code if self._code is not None else (self.setting(self.UNIT) or "")
            self._lock = pg.lock_key(self.UNIT, code)
        return self._lock

    def _refuse_readonly(self) -> None:
        if self.readonly:
            shown = display_name(self.url)
            raise self.ERROR(f"{self.KIND_ZH}地理数据库 {shown} 以只读方式打开，不能写入",
                             f"the {self.KIND_EN} geodatabase {shown} was opened read-only and cannot be written")

    def _begin_locked(self) -> None:
        """BEGIN, then wait for this unit's write lock (held until COMMIT/ROLLBACK): writers take turns as
        with SQLite's BEGIN IMMEDIATE, and the audit head read afterwards is the latest one."""
        key = self.lock_key
        self.conn.execute("BEGIN")
        try:
            self.conn.execute("SELECT pg_advisory_xact_lock(?)", (key,))
        except BaseException:
            self._rollback_quietly()
            raise
        self._head = None

    def _rollback_quietly(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except psycopg.Error:
            pass

    def _commit_or_fail(self) -> None:
        """COMMIT — refusing to let an aborted transaction end as a silent ROLLBACK (PostgreSQL turns the
        COMMIT of a failed transaction into one without raising)."""
        if self.conn.raw.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            self._rollback_quietly()
            raise self.ERROR("写入过程中数据库报错，本次事务未提交，没有写入任何内容",
                             "the database reported an error during the write; the transaction was rolled back "
                             "and nothing was written")
        self.conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """BEGIN + write lock … COMMIT; anything raised rolls everything back."""
        self._refuse_readonly()
        if self.conn.in_transaction:
            raise self.ERROR("已有未结束的事务，不能再开始新事务", "a transaction is already open; it cannot be nested")
        self._begin_locked()
        try:
            yield self
        except BaseException:
            self._rollback_quietly()
            raise
        else:
            self._commit_or_fail()
        finally:
            self._head = None

    def begin(self) -> None:
        if not self.conn.in_transaction:
            self._refuse_readonly()
            self._begin_locked()

    def commit(self) -> None:
        if self.conn.in_transaction:
            self._commit_or_fail()
        self._head = None

    def rollback(self) -> None:
        self._rollback_quietly()
        self._head = None

    # -- audit ----------------------------------------------------------------------------------------
    def missing_triggers(self) -> list[str]:
        """Append-only triggers that are not in force: dropped, disabled (``ALTER TABLE … DISABLE
        TRIGGER``, or firing only for replicas), re-created for other events, or calling a guard
        function whose body was replaced."""
        have = {}
        for name, tgtype, enabled, body in self.conn.execute(
                "SELECT t.tgname, t.tgtype, t.tgenabled, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgrelid = to_regclass('census_audit') AND NOT t.tgisinternal"):
            have[name] = (int(tgtype), str(enabled), body)
        out = []
        for name, bits in AUDIT_TRIGGERS.items():
            t = have.get(name)
            if t is None or (t[0] & bits) != bits or t[1] not in ("O", "A") or t[2] != AUDIT_GUARD_BODY:
                out.append(name)
        return out

    # -- ledger and conflicts: ids come back through RETURNING (no lastrowid) ---------------------------
    def _insert_returning(self, table: str, row: Mapping[str, Any]) -> int:
        cols = list(row)
        return int(self.conn.execute(
            f"INSERT INTO {gpkg.qid(table)} ({', '.join(gpkg.qid(c) for c in cols)}) "
            f"VALUES ({', '.join('?' * len(cols))}) RETURNING id", [row[c] for c in cols]).fetchone()[0])

    def add_ledger(self, row: Mapping[str, Any]) -> int:
        return self._insert_returning("census_ledger", row)

    def insert_conflict(self, row: Mapping[str, Any]) -> int:
        return self._insert_returning("census_conflicts", row)

    # -- lookups by many keys: an array parameter instead of json_each ---------------------------------
    def known_revisions(self, revision_ids: Sequence[str]) -> dict[str, str]:
        return dict(self.conn.execute("SELECT revision_id, record_uuid FROM census_revisions WHERE revision_id = ANY(?)",
                                      (list(revision_ids),)))

    def records_by_uuid(self, uuids: Sequence[str]) -> dict[str, dict]:
        cur = self.conn.execute("SELECT * FROM census_records WHERE record_uuid = ANY(?)", (list(uuids),))
        names = [d[0] for d in cur.description]
        k = names.index("record_uuid")
        return {r[k]: dict(zip(names, r)) for r in cur.fetchall()}

    def revision_nodes(self, record_ids: Sequence[int]) -> dict[int, list[tuple[str, str | None, str, int]]]:
        out: dict[int, list] = {}
        for rid_, rev, par, at, aside in self.conn.execute(
                "SELECT record_id, revision_id, parent_revision_id, created_at, set_aside FROM census_revisions "
                "WHERE record_id = ANY(?::bigint[]) ORDER BY id", ([int(i) for i in record_ids],)):
            out.setdefault(rid_, []).append((rev, par, at, aside))
        return out

    # -- bulk rows: binary COPY -----------------------------------------------------------------------
    def _copy_types(self, table: str) -> dict[str, str]:
        """column → the type psycopg sends it as in binary COPY (geometry as bytea: PostGIS reads WKB)."""
        types = self._types.get(table)
        if types is None:
            types = {}
            for name, typ in self.conn.execute(
                    "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                    "WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped", (gpkg.qid(table),)):
                types[name] = "bytea" if typ == "geometry" else typ
            self._types[table] = types
        return types

    def _copy(self, table: str, names: Sequence[str], rows: Iterable[Sequence]) -> None:
        """Rows into ``table`` by binary COPY. PostgreSQL's text cannot hold U+0000 (SQLite's can): a
        batch that carries one is refused whole, and sent again with those characters dropped — a
        savepoint undoes the refused attempt, so the common case pays no check per value."""
        rows = rows if isinstance(rows, list) else list(rows)
        guarded = self.conn.in_transaction
        if guarded:
            self.conn.execute('SAVEPOINT "census_copy"')
        try:
            self._copy_rows(table, names, rows)
        except psycopg.errors.CharacterNotInRepertoire:
            if guarded:
                self.conn.execute('ROLLBACK TO "census_copy"')
            self._copy_rows(table, names, [[pg.without_nul(v) for v in r] if pg.has_nul(r) else r for r in rows])
        if guarded:
            self.conn.execute('RELEASE "census_copy"')

    def _copy_rows(self, table: str, names: Sequence[str], rows: Iterable[Sequence]) -> None:
        types = self._copy_types(table)
        cols = ", ".join(gpkg.qid(n) for n in names)
        with self.conn.cursor().copy(f"COPY {gpkg.qid(table)} ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types([types[n] for n in names])
            write = cp.write_row
            for r in rows:
                write(r)

    def _next_ids(self, table: str, column: str, n: int) -> list[int]:
        """``n`` fresh values of the table's serial column (in order), so COPY can write them and the
        caller learns them without reading the rows back."""
        seq = self._seqs.get(table)
        if seq is None:
            seq = self._seqs[table] = self.conn.execute("SELECT pg_get_serial_sequence(?, ?)",
                                                        (gpkg.qid(table), column)).fetchone()[0]
        return [i for (i,) in self.conn.execute("SELECT nextval(?::regclass) FROM generate_series(1, ?)", (seq, n))]

    def insert_revisions(self, rows: Iterable[Sequence]) -> None:
        """Rows in :attr:`REVISION_COLUMNS` order; ``content`` text or UTF-8 bytes (stored as text);
        ``parent_revision_id`` None or ''. Ids follow the row order (verify's digests rely on it)."""
        cols = list(self.REVISION_COLUMNS)   # type: ignore[attr-defined]
        ci = cols.index("content")
        pi = cols.index("parent_revision_id") if "parent_revision_id" in cols else -1

        def fixed(r):
            r = list(r)
            c = r[ci]
            if not isinstance(c, str):
                r[ci] = str(c, "utf-8")
            if pi >= 0 and r[pi] == "":
                r[pi] = None
            return r

        self._copy("census_revisions", cols, map(fixed, rows))

    def insert_records(self, rows: Sequence[Sequence]) -> list[int]:
        if not rows:
            return []
        ids = self._next_ids("census_records", "id", len(rows))
        self._copy("census_records", ["id", *self.RECORD_COLUMNS],   # type: ignore[attr-defined]
                   ([i, *r] for i, r in zip(ids, rows)))
        return ids

    def insert_features(self, spec: LayerSpec, rows: Sequence[Sequence],
                        envelopes: Sequence[tuple[float, float, float, float] | None] | None = None, *,
                        columns: Sequence[str] | None = None) -> list[int]:
        """Rows: (geometry blob if spatial, *columns, *system columns) in layer order; returns their fids
        (``envelopes`` are not needed: the GIST index reads the geometries)."""
        if not rows:
            return []
        names = (spec.column_names if columns is None else list(columns)) + [c for c, _ in SYSTEM_COLUMNS]
        fids = self._next_ids(spec.table, "fid", len(rows))
        if spec.geometry_type:
            self._copy(spec.table, ["fid", "geom", *names], ([f, wkb_of(r[0]), *r[1:]] for f, r in zip(fids, rows)))
        else:
            self._copy(spec.table, ["fid", *names], ([f, *r] for f, r in zip(fids, rows)))
        return fids

    def replace_features(self, spec: LayerSpec, rows: Sequence[Sequence], fids: Sequence[int]) -> None:
        names = spec.column_names + [c for c, _ in SYSTEM_COLUMNS]
        sets = [f"{gpkg.qid(n)}=?" for n in names]
        if spec.geometry_type:
            sets = [f"geom=ST_GeomFromWKB(?::bytea, {SRID})"] + sets
            data = [[None if r[0] is None else bytes(wkb_of(r[0])), *r[1:], f] for r, f in zip(rows, fids)]
        else:
            data = [[*r, f] for r, f in zip(rows, fids)]
        self.conn.executemany(f"UPDATE {gpkg.qid(spec.table)} SET {', '.join(sets)} WHERE fid=?", data)

    def grow_extents(self, bounds, specs) -> None:
        """Nothing to do: PostGIS keeps no stored layer extent (``ST_Extent`` computes it)."""

    def feature_mismatches(self, spec: LayerSpec) -> int:
        t = gpkg.qid(spec.table)
        missing = self.conn.execute(
            f"SELECT count(*) FROM census_records r LEFT JOIN {t} f ON f.fid = r.feature_fid WHERE r.form_id=? AND "
            f"(f.fid IS NULL OR f.census_uuid IS DISTINCT FROM r.record_uuid "
            f"OR f.census_revision IS DISTINCT FROM r.current_revision_id)", (spec.form_id,)).fetchone()[0]
        n_features = self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        n_records = self.conn.execute("SELECT count(*) FROM census_records WHERE form_id=?", (spec.form_id,)).fetchone()[0]
        return int(missing) + abs(int(n_features) - int(n_records))

    # -- layers ---------------------------------------------------------------------------------------
    def ensure_layers(self, forms: Iterable[Form]) -> dict[str, LayerSpec]:
        """Create the layers of forms added to the catalogue after init (table and its census_layers row
        in one transaction: PostgreSQL's DDL is transactional)."""
        specs = self.layer_specs()   # type: ignore[attr-defined]
        missing = [f for f in forms if f.id not in specs]
        if not missing:
            return specs
        with self.transaction():
            for form in missing:
                spec = layer_spec(form)
                create_form_table(self.conn, spec)
                self.conn.execute("INSERT INTO census_layers (form_id, form_version, table_name, geometry_type, "
                                  "geometry_field, columns) VALUES (:form_id, :form_version, :table_name, "
                                  ":geometry_type, :geometry_field, :columns) ON CONFLICT DO NOTHING", spec.to_row())
        return self.layer_specs()   # type: ignore[attr-defined]

    def _boundary_geoms(self, table: str) -> list:
        import shapely

        return [shapely.from_wkb(bytes(b)) for (b,) in self.conn.execute(
            f"SELECT ST_AsBinary(geom) FROM {gpkg.qid(table)} WHERE geom IS NOT NULL")]

    def _has_column(self, table: str, column: str) -> bool:
        return self.conn.execute(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(?) AND attname = ? AND attnum > 0 "
            "AND NOT attisdropped", (gpkg.qid(table), column)).fetchone()[0] > 0

    # -- divisions and status -------------------------------------------------------------------------
    def villages(self) -> dict[str, dict]:
        tcol = "township_code" if self._has_column("villages", "township_code") else "substr(code, 1, 9)"
        return {str(c): {"name": str(n), "township": str(t)}
                for c, n, t in self.conn.execute(f'SELECT code, name, {tcol} FROM "villages" ORDER BY code')}

    # -- test/diagnostic helper -----------------------------------------------------------------------
    def table_checksums(self, tables: Iterable[str] | None = None) -> dict[str, str]:
        """sha256 over every row (in primary-key order) of each table: what the tests compare before/after."""
        import hashlib

        if tables is None:
            tables = [r[0] for r in self.conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'spatial_ref_sys' "
                "ORDER BY tablename COLLATE \"C\"")]
        out = {}
        for t in tables:
            key = [r[0] for r in self.conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(?) AND i.indisprimary ORDER BY a.attnum",
                (qname(t),))]
            order = ", ".join(qname(k) for k in key) if key else "1"
            h = hashlib.sha256()
            for row in self.conn.execute(f"SELECT * FROM {qname(t)} ORDER BY {order}"):
                h.update(repr(row).encode("utf-8"))
            out[t] = h.hexdigest()
        return out


# ---------------------------------------------------------------------------------------------------
# The county

class PgCountyDB(PgStore, CountyDB):
    """An open county geodatabase on PostgreSQL + PostGIS (see the module doc)."""

    def boundary(self):
        import shapely

        from .county import BOUNDARY_TOLERANCE_DEG

        geoms = self._boundary_geoms("county")
        if not geoms:
            return None
        return shapely.union_all(geoms).buffer(BOUNDARY_TOLERANCE_DEG)


# ---------------------------------------------------------------------------------------------------
# Creating the county database

CENSUS_TABLES = ("census_settings", "census_audit", "census_ledger", "census_records", "census_revisions")


def _existing_tables(conn: pg.PgConnection, names: Iterable[str]) -> list[str]:
    return [n for n in names if conn.execute("SELECT to_regclass(?)", (qname(n),)).fetchone()[0] is not None]


@contextmanager
def creating(store: type, url: str, *, code: str, tables: Iterable[str], specs: Sequence[LayerSpec],
             ddl: Iterable[str], base: Mapping[str, str], settings: Mapping[str, str | None]) -> Iterator[Any]:
    """The frame of a new geodatabase in an existing database, all in ONE transaction (under the unit's
    write lock): refuse tables of the same names, install PostGIS if missing, let the caller write its
    division layers (inside the ``with``), then the form layers, the bookkeeping tables (``ddl``, for
    SQLite, translated by :func:`pg_ddl`) with the append-only audit guard, ``census_layers`` and
    ``census_settings``. Yields the open store; the caller's last act is the ``init`` audit row. Anything
    raised rolls it all back: the database is left as it was."""
    url = str(url)
    shown = display_name(url)
    raw = pg.connect(url, require_postgis=False)
    conn = pg.PgConnection(raw, url)
    try:
        clash = _existing_tables(conn, [*tables, *CENSUS_TABLES, *(s.table for s in specs)])
        if clash:
            raise store.ERROR(f"{shown} 已有同名的表（{', '.join(clash[:5])}），不会覆盖；请使用一个空数据库",
                              f"{shown} already has tables of these names ({', '.join(clash[:5])}) and they will "
                              "not be overwritten; use an empty database")
        db = store(url, conn, code=code)
        with db.transaction():
            pg.ensure_postgis(raw, url)
            for spec in specs:
                create_form_table(conn, spec)
            create_census_tables(conn, ddl)
            for spec in specs:
                conn.execute("INSERT INTO census_layers (form_id, form_version, table_name, geometry_type, "
                             "geometry_field, columns) VALUES (:form_id, :form_version, :table_name, :geometry_type, "
                             ":geometry_field, :columns)", spec.to_row())
            for k, v in {**base, **settings}.items():
                conn.execute("INSERT INTO census_settings (key, value) VALUES (?, ?)", (k, None if v is None else str(v)))
            yield db
    finally:
        conn.close()


def create_county_pg(url: str, *, county: str, county_name: str, divisions: Divisions,
                     forms: Mapping[str, Form], settings: Mapping[str, str], workmap=None,
                     actor: str | None = None, at: str) -> None:
    """Create the county geodatabase in an existing (empty) PostgreSQL database — everything
    :func:`geodb.county.create_county_gpkg` makes, in ONE transaction: PostGIS (if missing), division and
    work-map layers, form layers, bookkeeping tables, settings, work-map assignment, expected counts and
    the first audit row. A failure leaves the database as it was. Refuses a database that already holds
    a census geodatabase (or tables of the same names)."""
    import pandas as pd

    specs = [layer_spec(f) for f in forms.values()]
    base = {"format": COUNTY_FORMAT, "county": county, "county_name": county_name, "created_at": at}
    with creating(PgCountyDB, url, code=county, tables=("county", "townships", "villages", WORKMAP_LAYER),
                  specs=specs, ddl=_statements(BOOKKEEPING_DDL), base=base, settings=settings) as db:
        conn = db.conn
        write_layer(conn, "county", divisions.county, "MultiPolygon", promote_to_multi=True,
                    description="县级行政区 / county")
        write_layer(conn, "townships", divisions.townships, "MultiPolygon", promote_to_multi=True,
                    description="乡镇（街道）/ townships")
        write_layer(conn, "villages", divisions.villages, "MultiPolygon", promote_to_multi=True,
                    description="行政村（社区）/ villages")
        assignments = pd.DataFrame(columns=["building_id", "township", "village", "form_id"])
        if workmap is not None and len(workmap):
            wm_forms = _workmap_forms(workmap, forms)
            assignments = pd.DataFrame({
                "building_id": workmap["building_id"].astype(str).to_numpy(),
                "township": workmap["township_code"].astype(str).to_numpy(),
                "village": workmap["village_code"].astype(str).to_numpy() if "village_code" in workmap else None,
                "form_id": wm_forms})
            if getattr(workmap, "geometry", None) is not None:
                wm = workmap[[c for c in ("building_id", "township_code", "village_code", "urban")
                              if c in workmap.columns] + [workmap.geometry.name]].copy()
                wm["form_id"] = wm_forms
                write_layer(conn, WORKMAP_LAYER, wm, "Polygon", description="调查底图房屋图斑 / work-map footprints")
        conn.executemany("INSERT INTO census_workmap (building_id, township, village, form_id) VALUES (?,?,?,?)",
                         [tuple(None if v is None else str(v) for v in r)
                          for r in assignments.itertuples(index=False, name=None)])
        _fill_expected(conn, divisions, assignments, forms)   # type: ignore[arg-type]
        db.append_audit("init", county, {"county": county, "county_name": county_name, "forms": sorted(forms),
                                         "townships": len(divisions.townships),
                                         "villages": len(divisions.villages),
                                         "workmap_buildings": len(assignments)}, actor=actor, at=at)


# ---------------------------------------------------------------------------------------------------
# Approval and upward reporting (geodb.county_upward) on PostgreSQL

class PgUpwardSQL:
    """PostgreSQL versions of the :mod:`geodb.county_upward` functions whose SQL is SQLite's own (same
    names and signatures; the others run there unchanged). ``PgCountyDB.upward_sql`` points here."""

    @staticmethod
    def review_counts(db, *, township: str | None = None, form_id: str | None = None) -> dict[str, int]:
        from .county_upward import APPROVABLE, _filters

        where, params = _filters(township, form_id)
        row = db.conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {APPROVABLE}), "
            "count(*) FILTER (WHERE review_state = 'approved'), count(*) FILTER (WHERE review_state = 'rejected'), "
            "count(*) FILTER (WHERE review_state <> 'approved' AND review_state <> 'rejected' AND has_conflict = 1), "
            "count(*) FILTER (WHERE review_state <> 'approved' AND review_state <> 'rejected' AND has_conflict = 0 "
            f"AND valid = 0) FROM census_records WHERE 1=1{where}", params).fetchone()
        keys = ("records", "approvable", "already_approved", "rejected", "conflicts", "with_issues")
        return {k: int(v or 0) for k, v in zip(keys, row)}

    @staticmethod
    def approve_all(db, *, township: str | None, form_id: str | None, actor: str, note: str | None,
                    at: str, fids_by_form: Mapping[str, Sequence[int]]) -> int:
        from .county_upward import APPROVABLE, _filters

        where, params = _filters(township, form_id)
        cur = db.conn.execute(
            f"UPDATE census_records SET review_state = 'approved', reviewed_by = ?, review_note = ?, updated_at = ? "
            f"WHERE {APPROVABLE}{where}", [actor, note, at, *params])
        n = int(cur.rowcount)
        specs = db.layer_specs()
        for fid_form, fids in fids_by_form.items():
            db.conn.execute(f"UPDATE {gpkg.qid(specs[fid_form].table)} SET census_state = 'approved' "
                            f"WHERE fid = ANY(?::bigint[])", ([int(f) for f in fids],))
        return n

    @staticmethod
    def ensure_upward_tables(db) -> None:
        from .county_upward import UPWARD_DDL

        for stmt in pg_ddl(UPWARD_DDL):
            db.conn.execute(stmt)

    @staticmethod
    def has_upward_tables(db) -> bool:
        return db.conn.execute("SELECT to_regclass('census_upward_exports')").fetchone()[0] is not None

    @staticmethod
    def revision_links(db, record_uuids: Iterable[str]) -> dict[str, dict[str, tuple[str | None, int]]]:
        out: dict[str, dict[str, tuple[str | None, int]]] = {}
        for u, rid, parent, aside in db.conn.execute(
                "SELECT record_uuid, revision_id, parent_revision_id, set_aside FROM census_revisions "
                "WHERE record_uuid = ANY(?)", (list(record_uuids),)):
            out.setdefault(u, {})[rid] = (parent, int(aside or 0))
        return out

    @staticmethod
    def add_upward_export(db, row: Mapping[str, Any], items: Sequence[tuple[str, str]]) -> int:
        cols = list(row)
        export_id = int(db.conn.execute(
            f"INSERT INTO census_upward_exports ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) RETURNING id",
            [row[c] for c in cols]).fetchone()[0])
        db.conn.executemany("INSERT INTO census_upward_items (export_id, record_uuid, revision_id) VALUES (?, ?, ?)",
                            [(export_id, u, r) for u, r in items])
        return export_id

    @staticmethod
    def approved_counts(db) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for t, f, n, approved, valid, conflicts in db.conn.execute(
                "SELECT township, form_id, count(*), count(*) FILTER (WHERE review_state = 'approved'), "
                "count(*) FILTER (WHERE valid = 1), count(*) FILTER (WHERE has_conflict = 1) "
                "FROM census_records GROUP BY township, form_id ORDER BY township, form_id"):
            out.setdefault(str(t), {})[str(f)] = {"records": int(n), "approved": int(approved),
                                                  "valid": int(valid), "conflicts": int(conflicts)}
        return out


PgCountyDB.upward_sql = PgUpwardSQL   # type: ignore[attr-defined]


__all__ = [
    "PgCountyDB",
    "PgStore",
    "PgUpwardSQL",
    "create_census_tables",
    "create_county_pg",
    "create_form_index",
    "create_form_table",
    "creating",
    "pg_ddl",
    "split_ddl",
    "wkb_of",
    "write_layer",
]
