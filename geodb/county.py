"""The county geodatabase: one GeoPackage holding divisions, the work map, every return and its history.

Layers (all EPSG:4490, GeoPackage 1.2, checked by GDAL's validator):

- division layers ``county``, ``townships``, ``villages`` and the work map ``workmap_buildings``;
- one feature layer per spatial form (named by form id: points, lines or polygons with the form's
  answers flattened into columns) and one attribute table per non-spatial form, each holding the
  **current** revision of every record plus ``census_uuid``, ``census_revision``, ``census_township``,
  ``census_state``, ``census_conflict``, ``census_valid``;
- bookkeeping tables, registered as GeoPackage attribute tables so QGIS lists them:
  ``census_records`` (one row per record), ``census_revisions`` (every revision ever received, verbatim),
  ``census_conflicts``, ``census_ledger`` (every package seen), ``census_devices``, ``census_audit``
  (append-only, hash-chained), ``census_settings``, ``census_layers``, ``census_workmap``, ``census_expected``.

The county's private keys are **not** here (they live beside the file, see :mod:`sync.keys`); the
public keys are, in ``census_settings``.

This module is storage only: it runs SQL for the ``sync`` layer, which decides what to store.
Feature rows are written with sqlite3 on the same connection as the bookkeeping, so one package is
one transaction (GDAL's R-tree triggers get their ``ST_*`` functions from :mod:`geodb.gpkg`).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from schemas.errors import CensusError
from schemas.model import Field, FieldType, Form

from . import gpkg
from .audit import GENESIS, ChainReport, chain_hash, detail_text, verify_chain
from .closed import ClosedConnection
from .target import refuse_if_migrated

COUNTY_FORMAT = "census-county-gpkg/1"
DIVISION_LAYERS = ("county", "townships", "villages")
WORKMAP_LAYER = "workmap_buildings"
SYSTEM_COLUMNS = (("census_uuid", "TEXT"), ("census_revision", "TEXT"), ("census_township", "TEXT"),
                  ("census_state", "TEXT"), ("census_conflict", "INTEGER"), ("census_valid", "INTEGER"))
REVIEW_STATES = ("received", "has_issues", "approved", "rejected")
# forms expected once per township / once per village when they are in the catalogue at init
EXPECTED_PER_TOWNSHIP = ("township_capacity",)
EXPECTED_PER_VILLAGE = ("village_capacity", "village_population")
BOUNDARY_TOLERANCE_DEG = 0.01   # as the township store: a footprint on the county edge is not "outside"

_GEOM_TYPES = {FieldType.GEOPOINT: "Point", FieldType.GEOTRACE: "LineString", FieldType.GEOSHAPE: "Polygon"}

BOOKKEEPING_DDL = """
CREATE TABLE census_settings (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value TEXT);
CREATE TABLE census_layers (id INTEGER PRIMARY KEY, form_id TEXT NOT NULL UNIQUE, form_version TEXT NOT NULL,
  table_name TEXT NOT NULL UNIQUE, geometry_type TEXT, geometry_field TEXT, columns TEXT NOT NULL);
CREATE TABLE census_workmap (id INTEGER PRIMARY KEY, building_id TEXT NOT NULL, township TEXT NOT NULL,
  village TEXT, form_id TEXT NOT NULL);
CREATE INDEX census_workmap_township ON census_workmap (township, form_id);
CREATE TABLE census_expected (id INTEGER PRIMARY KEY, township TEXT NOT NULL, form_id TEXT NOT NULL,
  expected INTEGER NOT NULL, basis TEXT, UNIQUE (township, form_id));
CREATE TABLE census_devices (id INTEGER PRIMARY KEY, device_id TEXT NOT NULL UNIQUE, county TEXT NOT NULL,
  township TEXT NOT NULL, enumerator TEXT NOT NULL, public_key TEXT NOT NULL, issued_at TEXT NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0, revoked_at TEXT);
CREATE TABLE census_ledger (id INTEGER PRIMARY KEY, file_name TEXT NOT NULL, file_sha256 TEXT NOT NULL,
  file_bytes INTEGER, county TEXT, township TEXT, device_id TEXT, sequence INTEGER, acknowledged_through INTEGER,
  created_at TEXT, received_at TEXT NOT NULL, outcome TEXT NOT NULL, reason_code TEXT, reason TEXT,
  revisions INTEGER NOT NULL DEFAULT 0, stored INTEGER NOT NULL DEFAULT 0, known INTEGER NOT NULL DEFAULT 0,
  new_records INTEGER NOT NULL DEFAULT 0, advanced INTEGER NOT NULL DEFAULT 0, conflicts INTEGER NOT NULL DEFAULT 0,
  invalid INTEGER NOT NULL DEFAULT 0, out_of_order INTEGER NOT NULL DEFAULT 0, revisions_sha256 TEXT,
  archive TEXT, audit_seq INTEGER, audit_hash TEXT);
CREATE INDEX census_ledger_sha ON census_ledger (file_sha256);
CREATE UNIQUE INDEX census_ledger_once ON census_ledger (file_sha256) WHERE outcome = 'accepted';
CREATE INDEX census_ledger_device ON census_ledger (device_id, sequence);
CREATE TABLE census_revisions (id INTEGER PRIMARY KEY, record_id INTEGER NOT NULL, revision_id TEXT NOT NULL UNIQUE,
  record_uuid TEXT NOT NULL,
  parent_revision_id TEXT, form_id TEXT NOT NULL, form_version TEXT NOT NULL, township TEXT NOT NULL,
  device_id TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL, package_id INTEGER NOT NULL,
  valid INTEGER NOT NULL, problems TEXT NOT NULL, set_aside INTEGER NOT NULL DEFAULT 0, content TEXT NOT NULL,
  content_sha256 TEXT NOT NULL);
CREATE INDEX census_revisions_record ON census_revisions (record_id);
CREATE TABLE census_records (id INTEGER PRIMARY KEY, record_uuid TEXT NOT NULL UNIQUE, form_id TEXT NOT NULL,
  township TEXT NOT NULL, key_value TEXT, current_revision_id TEXT NOT NULL, review_state TEXT NOT NULL,
  has_conflict INTEGER NOT NULL DEFAULT 0, valid INTEGER NOT NULL, first_package_id INTEGER NOT NULL,
  last_package_id INTEGER NOT NULL, updated_at TEXT NOT NULL, reviewed_by TEXT, review_note TEXT,
  feature_fid INTEGER);
CREATE INDEX census_records_township ON census_records (township, form_id);
CREATE TABLE census_conflicts (id INTEGER PRIMARY KEY, record_uuid TEXT NOT NULL, form_id TEXT NOT NULL,
  township TEXT NOT NULL, revision_ids TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT NOT NULL,
  opened_package_id INTEGER, updated_at TEXT NOT NULL, resolved_at TEXT, resolution TEXT, resolved_by TEXT);
CREATE UNIQUE INDEX census_conflicts_open ON census_conflicts (record_uuid) WHERE status = 'open';
CREATE TABLE census_audit (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  object TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TRIGGER census_audit_no_update BEFORE UPDATE ON census_audit
  BEGIN SELECT RAISE(ABORT, 'census_audit is append-only'); END;
CREATE TRIGGER census_audit_no_delete BEFORE DELETE ON census_audit
  BEGIN SELECT RAISE(ABORT, 'census_audit is append-only'); END;
"""
BOOKKEEPING_TABLES = {
    "census_settings": "设置 / settings", "census_layers": "表单图层 / form layers",
    "census_workmap": "调查底图任务 / work-map assignment", "census_expected": "应报数 / expected counts",
    "census_devices": "登记设备 / enrolled devices", "census_ledger": "回传包台账 / package ledger",
    "census_revisions": "全部修订 / every revision received", "census_records": "记录 / records",
    "census_conflicts": "冲突 / conflicts", "census_audit": "审计日志 / audit log",
}
APPEND_ONLY_TRIGGERS = ("census_audit_no_update", "census_audit_no_delete")


class CountyDBError(CensusError):
    """The county geodatabase cannot be used as asked; the message says why and what to do."""


class NotACountyDB(CountyDBError, FileNotFoundError):
    pass


class CountyDBClosed(CountyDBError):
    """The county geodatabase was closed while something still held it."""


def actor_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


# ---------------------------------------------------------------------------------------------------
# Form layers: which columns a form flattens to

@dataclass(frozen=True)
class LayerSpec:
    form_id: str
    form_version: str
    table: str
    geometry_type: str | None          # Point | LineString | Polygon, None for an attribute table
    geometry_field: str | None
    columns: tuple[tuple[str, str, str, str], ...]   # (column, SQL type, kind: plain|text|multi|json|geojson, field)
    key_field: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c[0] for c in self.columns]

    def to_row(self) -> dict:
        return {"form_id": self.form_id, "form_version": self.form_version, "table_name": self.table,
                "geometry_type": self.geometry_type, "geometry_field": self.geometry_field,
                "columns": json.dumps([list(c) for c in self.columns], ensure_ascii=False)}

    @classmethod
    def from_row(cls, row: Mapping, key_field: str | None = None) -> "LayerSpec":
        return cls(row["form_id"], row["form_version"], row["table_name"], row["geometry_type"], row["geometry_field"],
                   tuple(tuple(c) for c in json.loads(row["columns"])), key_field)


def _value_fields(fields: Sequence[Field]) -> Iterator[Field]:
    """Top-level answers of a record: groups are flat, a repeat is one value (its list)."""
    for f in fields:
        if f.type is FieldType.GROUP:
            yield from _value_fields(f.children)
        elif f.type is FieldType.NOTE:
            continue
        else:
            yield f


RESERVED_TABLES = set(DIVISION_LAYERS) | {WORKMAP_LAYER} | set(BOOKKEEPING_TABLES)


def layer_spec(form: Form) -> LayerSpec:
    """How a form's records are flattened into a layer's columns."""
    table = form.id if form.id not in RESERVED_TABLES and not form.id.startswith(("gpkg_", "rtree_", "census_")) \
        else f"form_{form.id}"
    gtype = None
    cols: list[tuple[str, str, str, str]] = []
    system = {c for c, _ in SYSTEM_COLUMNS} | {"fid", "geom"}
    for f in _value_fields(form.fields):
        if f.name == form.geometry_field and f.type.is_geometry:
            gtype = _GEOM_TYPES[f.type]
            continue
        name = f.name if f.name.lower() not in system else f"form_{f.name}"
        if f.type is FieldType.INTEGER:
            cols.append((name, "INTEGER", "plain", f.name))
        elif f.type is FieldType.DECIMAL:
            cols.append((name, "REAL", "plain", f.name))
        elif f.type is FieldType.SELECT_MULTIPLE:
            cols.append((name, "TEXT", "multi", f.name))
        elif f.type is FieldType.REPEAT:
            cols.append((name, "TEXT", "json", f.name))
        elif f.type.is_geometry:
            cols.append((name, "TEXT", "geojson", f.name))
        else:  # text, select_one, date (ISO text), calculate (any scalar → text)
            cols.append((name, "TEXT", "text", f.name))
    return LayerSpec(form.id, form.version, table, gtype, form.geometry_field if gtype else None, tuple(cols),
                     form.key_field)


_TEXT_TYPES = frozenset((str, type(None)))


class Flattener:
    """Turns validated records into layer rows fast: one list per record, a few conversions."""

    def __init__(self, spec: LayerSpec):
        self.spec = spec
        self.keys = [c[3] if len(c) > 3 else c[0] for c in spec.columns]
        self.special = [(i, c[2]) for i, c in enumerate(spec.columns) if c[2] != "plain"]
        self._kinds = dict(self.special)

    def row(self, record: Mapping) -> list:
        get = record.get
        vals = [get(k) for k in self.keys]
        for i, kind in self.special:
            v = vals[i]
            if v is None:
                continue
            if kind == "text":
                if not isinstance(v, str):
                    vals[i] = json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else str(v)
            elif kind == "multi":
                vals[i] = " ".join(map(str, v)) if isinstance(v, list) else str(v)
            else:  # json / geojson
                vals[i] = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        return vals

    def rows(self, records: Sequence[Mapping]) -> list[list]:
        """:meth:`row` for many records, column by column (the same values, a few loops per column)."""
        if not self.keys:
            return [[] for _ in records]
        return list(map(list, zip(*self._columns(records))))

    def _columns(self, records: Sequence[Mapping]) -> list[list]:
        return [self._convert(i, [rec.get(key) for rec in records]) for i, key in enumerate(self.keys)]

    def _convert(self, i: int, col: list) -> list:
        """Column ``i``'s answers as the layer stores them (text, multi, json kinds converted)."""
        kind = self._kinds.get(i)
        if kind == "text":
            if set(map(type, col)) <= _TEXT_TYPES:
                return col
            return [v if v is None or isinstance(v, str) else
                    (json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else str(v)) for v in col]
        if kind == "multi":
            return [v if v is None else (" ".join(map(str, v)) if isinstance(v, list) else str(v)) for v in col]
        if kind is not None:  # json / geojson
            return [v if v is None else json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in col]
        return col

    def rows_kept(self, records: Sequence[Mapping]) -> tuple[list[int] | None, list[list]]:
        """:meth:`rows` without the columns that are empty (None) in every record: (indices of the
        columns kept, or None when all are; the rows). Binding a NULL costs SQLite's Python driver
        several times what a value does, and most optional questions are unanswered in most records."""
        if not self.keys or not records:
            return None, [[] for _ in records]
        return self._kept(self._columns(records), len(records))

    def columns_kept(self, columns: Mapping[str, Sequence], n: int, *,
                     first: Sequence | None = None) -> tuple[list[int] | None, list[list]]:
        """:meth:`rows_kept` from answers already in columns (field name → value per record, as
        :meth:`schemas.validator.Validator.validate_columns` gives them; a field not there is empty).
        ``first``: a value per record put before the columns (the geometry blob of a feature row)."""
        kept, cols = self.columns_kept_columns(columns, n, first=first)
        if not cols:
            return kept, [[] for _ in range(n)]
        return kept, list(map(list, zip(*cols)))

    def columns_kept_columns(self, columns: Mapping[str, Sequence], n: int, *,
                             first: Sequence | None = None) -> tuple[list[int] | None, list[list]]:
        """:meth:`columns_kept` without making rows: (indices of the columns kept or None, the layer's
        columns — ``first`` then the kept ones — each a list of ``n`` values)."""
        lead = [] if first is None else [list(first)]
        if not self.keys or not n:
            return None, lead
        empty = [None] * n
        cols = []
        for i, key in enumerate(self.keys):
            col = columns.get(key)
            cols.append(empty if col is None else self._convert(i, col))
        kept = [k for k, col in enumerate(cols) if any(v is not None for v in col)]
        return (None if len(kept) == len(cols) else kept), lead + [cols[k] for k in kept]

    @staticmethod
    def _kept(cols: list[list], n: int) -> tuple[list[int] | None, list[list]]:
        kept = [k for k, col in enumerate(cols) if any(v is not None for v in col)]
        if not kept:
            return kept, [[] for _ in range(n)]
        return (None if len(kept) == len(cols) else kept), list(map(list, zip(*[cols[k] for k in kept])))

    def geometry(self, record: Mapping):
        return record.get(self.spec.geometry_field) if self.spec.geometry_field else None


def geojson_to_shapes(items: Sequence[Mapping | None]):
    """Shapely geometries for GeoJSON dicts (None stays None); simple shapes are built vectorised."""
    import numpy as np
    import shapely

    out = np.empty(len(items), dtype=object)
    pts, pt_idx = [], []
    rings, ring_idx = [], []
    rest = []
    for i, g in enumerate(items):
        if g is None:
            continue
        t = g.get("type")
        c = g.get("coordinates")
        if t == "Point":
            pts.append(c[:2])
            pt_idx.append(i)
        elif t == "Polygon" and len(c) == 1:
            rings.append(c[0])
            ring_idx.append(i)
        else:
            rest.append(i)
    if pts:
        out[pt_idx] = shapely.points(np.asarray(pts, dtype="float64"))
    if rings:
        # rings of one length convert to a (k, n, 2) array in one numpy call (footprints are mostly boxes)
        by_len: dict[int, list[int]] = {}
        for k, r in enumerate(rings):
            by_len.setdefault(len(r), []).append(k)
        for n, ks in by_len.items():
            arr = None
            if n >= 4:
                try:
                    arr = np.asarray([rings[k] for k in ks], dtype="float64")
                except ValueError:  # ragged: some points carry altitude
                    arr = None
            if arr is None or arr.ndim != 3 or arr.shape[2] < 2:
                idx = [ring_idx[k] for k in ks]
                out[idx] = shapely.from_geojson([json.dumps(items[i]) for i in idx], on_invalid="ignore")
                continue
            out[[ring_idx[k] for k in ks]] = shapely.polygons(arr[:, :, :2])
    if rest:
        out[rest] = shapely.from_geojson([json.dumps(items[i]) for i in rest], on_invalid="ignore")
    return out


# ---------------------------------------------------------------------------------------------------
# Creating the geodatabase

@dataclass
class Divisions:
    """Division layers as GeoDataFrames: county (adcode/code, name), townships and villages (code, name[, township_code])."""

    county: Any
    townships: Any
    villages: Any


def _workmap_forms(workmap, forms: Mapping[str, Form]) -> list[str]:
    cols = set(workmap.columns)
    if "form_id" in cols:
        return [str(v) for v in workmap["form_id"]]
    if "urban" in cols and "urban_house" in forms:
        return ["urban_house" if int(u or 0) else "rural_house" for u in workmap["urban"]]
    return ["rural_house"] * len(workmap)


def create_county_gpkg(path: str | Path, *, county: str, county_name: str, divisions: Divisions,
                       forms: Mapping[str, Form], settings: Mapping[str, str], workmap=None,
                       actor: str | None = None, at: str) -> None:
    """Create the county GeoPackage: division layers, work map, form layers, bookkeeping tables.

    ``settings`` are stored as is (the caller puts the county's public keys and deadline there).
    Fails if the file exists. Layers are written through GDAL; the bookkeeping in one transaction.
    """
    import pandas as pd

    path = Path(path)
    if path.exists():
        raise CountyDBError(f"{path} 已存在，不会覆盖；请换一个文件名或先移走旧文件",
                            f"{path} already exists and will not be overwritten; choose another name or move it")
    gpkg.write_layer(path, divisions.county, "county", geometry_type="MultiPolygon",
                     description="县级行政区 / county", promote_to_multi=True)
    gpkg.write_layer(path, divisions.townships, "townships", geometry_type="MultiPolygon",
                     description="乡镇（街道）/ townships", promote_to_multi=True)
    gpkg.write_layer(path, divisions.villages, "villages", geometry_type="MultiPolygon",
                     description="行政村（社区）/ villages", promote_to_multi=True)
    assignments = pd.DataFrame(columns=["building_id", "township", "village", "form_id"])
    if workmap is not None and len(workmap):
        wm_forms = _workmap_forms(workmap, forms)
        assignments = pd.DataFrame({
            "building_id": workmap["building_id"].astype(str).to_numpy(),
            "township": workmap["township_code"].astype(str).to_numpy(),
            "village": workmap["village_code"].astype(str).to_numpy() if "village_code" in workmap else None,
            "form_id": wm_forms})
        if getattr(workmap, "geometry", None) is not None:
            wm = workmap[[c for c in ("building_id", "township_code", "village_code", "urban") if c in workmap.columns]
                         + [workmap.geometry.name]].copy()
            wm["form_id"] = wm_forms
            gpkg.write_layer(path, wm, WORKMAP_LAYER, geometry_type="Polygon",
                             description="调查底图房屋图斑 / work-map footprints")
    specs = [layer_spec(f) for f in forms.values()]
    for spec in specs:
        _create_form_layer(path, spec)

    conn = gpkg.connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for stmt in _statements(BOOKKEEPING_DDL):
            conn.execute(stmt)
        for t, desc in BOOKKEEPING_TABLES.items():
            gpkg.register_attributes(conn, t, desc)
        for spec in specs:
            conn.execute("INSERT INTO census_layers (form_id, form_version, table_name, geometry_type, geometry_field, "
                         "columns) VALUES (:form_id, :form_version, :table_name, :geometry_type, :geometry_field, :columns)",
                         spec.to_row())
        base = {"format": COUNTY_FORMAT, "county": county, "county_name": county_name, "created_at": at}
        for k, v in {**base, **settings}.items():
            conn.execute("INSERT INTO census_settings (key, value) VALUES (?, ?)", (k, None if v is None else str(v)))
        conn.executemany("INSERT INTO census_workmap (building_id, township, village, form_id) VALUES (?,?,?,?)",
                         assignments.itertuples(index=False, name=None))
        _fill_expected(conn, divisions, assignments, forms)
        db = CountyDB(path, conn)
        db.append_audit("init", county, {"county": county, "county_name": county_name, "forms": sorted(forms),
                                         "townships": int(len(divisions.townships)),
                                         "villages": int(len(divisions.villages)),
                                         "workmap_buildings": int(len(assignments))}, actor=actor, at=at)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
        raise
    conn.close()


def _statements(ddl: str) -> list[str]:
    """Split the DDL above on top-level semicolons (trigger bodies hold their own)."""
    out, buf, depth = [], [], 0
    for line in ddl.strip().splitlines():
        buf.append(line)
        up = line.upper()
        if "BEGIN" in up.split():
            depth += 1
        if up.strip().endswith("END;"):
            depth -= 1
        if line.rstrip().endswith(";") and depth == 0:
            out.append("\n".join(buf))
            buf = []
    if buf:
        out.append("\n".join(buf))
    return out


def _create_form_layer(path: Path, spec: LayerSpec) -> None:
    cols = [(c[0], c[1]) for c in spec.columns] + list(SYSTEM_COLUMNS)
    if spec.geometry_type:
        gpkg.create_feature_layer(path, spec.table, cols, spec.geometry_type, description=spec.form_id)
    else:
        gpkg.create_attribute_table(path, spec.table, cols, description=spec.form_id)


def _fill_expected(conn: sqlite3.Connection, divisions: Divisions, assignments, forms: Mapping[str, Form]) -> None:
    rows: dict[tuple[str, str], tuple[int, str]] = {}
    if len(assignments):
        for (township, form_id), n in assignments.groupby(["township", "form_id"]).size().items():
            rows[(str(township), str(form_id))] = (int(n), "workmap")
    townships = [str(c) for c in divisions.townships["code"]]
    for form_id in EXPECTED_PER_TOWNSHIP:
        if form_id in forms:
            for t in townships:
                rows[(t, form_id)] = (1, "township")
    if len(divisions.villages) and "township_code" in divisions.villages.columns:
        per_t = divisions.villages.groupby(divisions.villages["township_code"].astype(str)).size()
        for form_id in EXPECTED_PER_VILLAGE:
            if form_id in forms:
                for t, n in per_t.items():
                    rows[(str(t), form_id)] = (int(n), "village")
    conn.executemany("INSERT INTO census_expected (township, form_id, expected, basis) VALUES (?,?,?,?)",
                     [(t, f, n, b) for (t, f), (n, b) in sorted(rows.items())])


# ---------------------------------------------------------------------------------------------------
# The open geodatabase

def _dict_rows(cur: sqlite3.Cursor) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _sql_literal(v: Any) -> str | None:
    """``v`` as an SQL literal (None: it cannot be one here — the caller binds it instead)."""
    if v is None:
        return "NULL"
    if type(v) is int:
        return str(v)
    if type(v) is str and "\x00" not in v:
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:   # a lone surrogate: SQLite's driver refuses it as a value anyway
            return None
        return "'" + v.replace("'", "''") + "'"
    return None


def _new_ids(conn: sqlite3.Connection, table: str, key: str, before: int, n: int) -> list[int] | None:
    """The ids of the ``n`` rows just inserted above ``before`` (they grow monotonically), in order; None
    when the table does not hold exactly ``n`` rows above it. Consecutive ids (the usual case: nobody
    else writes during the transaction) are known from a count, without reading them back."""
    q = gpkg.qid(table), gpkg.qid(key)
    count, top = conn.execute(f"SELECT count(*), max({q[1]}) FROM {q[0]} WHERE {q[1]} > ?", (before,)).fetchone()
    if count != n:
        return None
    if not n or top == before + n:
        return list(range(before + 1, before + 1 + n))
    return [i for (i,) in conn.execute(f"SELECT {q[1]} FROM {q[0]} WHERE {q[1]} > ? ORDER BY {q[1]}", (before,))]


def _chunks(seq: Sequence, n: int = 900) -> Iterator[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class CountyDB:
    """An open county GeoPackage. All SQL of the county side lives in this class."""

    # which census geodatabase this class opens (CityDB and the server classes set their own)
    FORMAT = COUNTY_FORMAT
    UNIT = "county"                  # the settings key of the unit's code, and the CLI group
    KIND_ZH, KIND_EN = "县级", "county"
    NOT_FOUND: type[Exception] = NotACountyDB
    ERROR: type[Exception] = CountyDBError
    # what the sync layer catches, whichever backend (see geodb.pg_county for the server's)
    IntegrityError: type[Exception] = sqlite3.IntegrityError
    DatabaseError: type[Exception] = sqlite3.Error
    _KNOWN_KEYS = ("census_records.record_uuid", "census_revisions.revision_id")

    @classmethod
    def known_key_clash(cls, e: Exception) -> bool:
        """Did ``e`` come from the UNIQUE key of a record UUID or revision id (something already held)?"""
        return any(k in str(e) for k in cls._KNOWN_KEYS)

    def __init__(self, path: str | Path, conn: sqlite3.Connection):
        self.path = Path(path)
        self.conn = conn
        self._head: tuple[int, str] | None = None
        # R-tree entries of features inserted in the open transaction, written at commit (see insert_features)
        self._rtree_pending: dict[str, list[tuple[Any, Any]]] = {}

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> "CountyDB":
        path = Path(path)
        kind_zh, kind_en = cls.KIND_ZH, cls.KIND_EN
        if not path.is_file():
            raise cls.NOT_FOUND(f"找不到{kind_zh}地理数据库 {path}；先运行 census {cls.UNIT} init",
                                f"{kind_en} geodatabase {path} not found; run census {cls.UNIT} init first")
        if not readonly:
            refuse_if_migrated(path)
        if readonly and Path(str(path) + "-journal").is_file():
            # an import was cut off: a read-only connection cannot roll its journal back, so let a
            # read-write one do it (SQLite restores the database as it was before that transaction)
            gpkg.connect(path).execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn = gpkg.connect(path, readonly=readonly)
        try:
            row = conn.execute("SELECT value FROM census_settings WHERE key='format'").fetchone()
        except sqlite3.DatabaseError as e:
            conn.close()
            raise cls.NOT_FOUND(f"{path} 不是{kind_zh}普查地理数据库（{e}）",
                                f"{path} is not a {kind_en} census geodatabase ({e})") from e
        if not row or row[0] != cls.FORMAT:
            conn.close()
            raise cls.NOT_FOUND(f"{path} 不是{kind_zh}普查地理数据库", f"{path} is not a {kind_en} census geodatabase")
        return cls(path, conn)

    def close(self) -> None:
        """Close the connection; later use raises :class:`CountyDBClosed` (see :mod:`geodb.closed`)."""
        if not isinstance(self.conn, ClosedConnection):
            conn, self.conn = self.conn, ClosedConnection(self.path, CountyDBClosed)
            conn.close()

    @property
    def closed(self) -> bool:
        return isinstance(self.conn, ClosedConnection)

    def __enter__(self) -> "CountyDB":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator["CountyDB"]:
        """BEGIN IMMEDIATE … COMMIT; anything raised rolls everything back."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise self._locked(e) from e
        self._head = None
        self._pending().clear()
        try:
            yield self
            self._flush_rtree()
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self._pending().clear()
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as e:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise self._locked(e) from e
        finally:
            self._head = None

    def begin(self) -> None:
        """Open a write transaction unless one is open (for batches of savepoints, see :meth:`savepoint`)."""
        if not self.conn.in_transaction:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise self._locked(e) from e
            self._head = None
            self._pending().clear()

    def commit(self) -> None:
        """Write what waits for the commit (R-tree entries), then COMMIT; a failure rolls back."""
        if self.conn.in_transaction:
            try:
                self._flush_rtree()
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as e:
                self.rollback()
                raise self._locked(e) from e
            except BaseException:
                self.rollback()
                raise
        self._head = None

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self._head = None
        self._pending().clear()

    @contextmanager
    def savepoint(self, name: str = "package") -> Iterator["CountyDB"]:
        """Everything inside applies together or not at all, within the open transaction."""
        self.begin()
        sp = gpkg.qid(name)
        self.conn.execute(f"SAVEPOINT {sp}")
        head = self._head
        pending = {k: list(v) for k, v in self._pending().items()}
        try:
            yield self
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {sp}")
            self.conn.execute(f"RELEASE {sp}")
            self._head = head
            self._rtree_pending = pending
            raise
        else:
            self.conn.execute(f"RELEASE {sp}")

    def _locked(self, e: sqlite3.OperationalError) -> CountyDBError:
        return CountyDBError(f"县级地理数据库 {self.path.name} 正被其他程序占用（{e}）；请关闭 QGIS 等程序后重试，本包未写入任何内容",
                             f"the county geodatabase {self.path.name} is busy ({e}); close QGIS or other programs "
                             "and try again — nothing of this package was written")

    # -- settings -------------------------------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM census_settings"))

    def setting(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM census_settings WHERE key=?", (key,)).fetchone()
        return row[0] if row and row[0] is not None else default

    def set_setting(self, key: str, value: str | None) -> None:
        self.conn.execute("INSERT INTO census_settings (key, value) VALUES (?, ?) "
                          "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    @property
    def county(self) -> str:
        return self.setting("county") or ""

    @property
    def county_name(self) -> str:
        return self.setting("county_name") or ""

    # -- divisions ------------------------------------------------------------------------------------
    def townships(self) -> dict[str, str]:
        return {str(c): str(n) for c, n in self.conn.execute('SELECT code, name FROM "townships" ORDER BY code')}

    def villages(self) -> dict[str, dict]:
        cols = {r[1] for r in self.conn.execute('PRAGMA table_info("villages")')}
        tcol = "township_code" if "township_code" in cols else "substr(code, 1, 9)"
        return {str(c): {"name": str(n), "township": str(t)}
                for c, n, t in self.conn.execute(f'SELECT code, name, {tcol} FROM "villages" ORDER BY code')}

    def boundary(self):
        """The county polygon (union of the county layer), buffered by the edge tolerance."""
        import shapely

        geoms = [gpkg.decode(b) for (b,) in self.conn.execute('SELECT geom FROM "county"') if b is not None]
        if not geoms:
            return None
        return shapely.union_all(geoms).buffer(BOUNDARY_TOLERANCE_DEG)

    # -- layers ---------------------------------------------------------------------------------------
    def layer_specs(self) -> dict[str, LayerSpec]:
        return {r["form_id"]: LayerSpec.from_row(r) for r in _dict_rows(self.conn.execute("SELECT * FROM census_layers"))}

    def ensure_layers(self, forms: Iterable[Form]) -> dict[str, LayerSpec]:
        """Create layers for forms added to the catalogue after init (outside any transaction: GDAL
        writes them; an empty new layer left by a crash is harmless and reused)."""
        specs = self.layer_specs()
        missing = [f for f in forms if f.id not in specs]
        if not missing:
            return specs
        existing = gpkg.layers(self.conn)
        for form in missing:
            spec = layer_spec(form)
            if spec.table not in existing:
                _create_form_layer(self.path, spec)
            with self.transaction():
                self.conn.execute("INSERT OR IGNORE INTO census_layers (form_id, form_version, table_name, geometry_type, "
                                  "geometry_field, columns) VALUES (:form_id, :form_version, :table_name, "
                                  ":geometry_type, :geometry_field, :columns)", spec.to_row())
        return self.layer_specs()

    # -- audit ----------------------------------------------------------------------------------------
    def audit_head(self) -> tuple[int, str]:
        row = self.conn.execute("SELECT seq, hash FROM census_audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS)

    def append_audit(self, action: str, obj: str | None, detail: Mapping[str, Any], *, actor: str | None = None,
                     at: str) -> tuple[int, str]:
        """One hash-chained audit row (call inside a transaction). Returns (seq, hash)."""
        head = self._head or self.audit_head()
        seq = head[0] + 1
        row = {"seq": seq, "at": at, "actor": actor or actor_name(), "action": action, "object": obj,
               "detail": detail_text(detail)}
        h = chain_hash(head[1], row)
        self.conn.execute("INSERT INTO census_audit (seq, at, actor, action, object, detail, prev_hash, hash) "
                          "VALUES (:seq, :at, :actor, :action, :object, :detail, :prev_hash, :hash)",
                          {**row, "prev_hash": head[1], "hash": h})
        self._head = (seq, h)
        return seq, h

    def audit_rows(self) -> list[dict]:
        return _dict_rows(self.conn.execute("SELECT * FROM census_audit ORDER BY seq"))

    def verify_audit(self) -> ChainReport:
        return verify_chain(self.audit_rows())

    def missing_triggers(self) -> list[str]:
        have = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
        return [t for t in APPEND_ONLY_TRIGGERS if t not in have]

    # -- devices --------------------------------------------------------------------------------------
    def add_device(self, *, device_id: str, county: str, township: str, enumerator: str, public_key: str,
                   issued_at: str) -> None:
        self.conn.execute("INSERT INTO census_devices (device_id, county, township, enumerator, public_key, issued_at) "
                          "VALUES (?,?,?,?,?,?)", (device_id, county, township, enumerator, public_key, issued_at))

    def revoke_device(self, device_id: str, at: str) -> bool:
        cur = self.conn.execute("UPDATE census_devices SET revoked=1, revoked_at=? WHERE device_id=? AND revoked=0",
                                (at, device_id))
        return cur.rowcount > 0

    def devices(self) -> list[dict]:
        return _dict_rows(self.conn.execute("SELECT * FROM census_devices ORDER BY id"))

    def device(self, device_id: str) -> dict | None:
        rows = _dict_rows(self.conn.execute("SELECT * FROM census_devices WHERE device_id=?", (device_id,)))
        return rows[0] if rows else None

    # -- ledger ---------------------------------------------------------------------------------------
    def accepted_package(self, sha256: str) -> dict | None:
        rows = _dict_rows(self.conn.execute(
            "SELECT * FROM census_ledger WHERE file_sha256=? AND outcome='accepted'", (sha256,)))
        return rows[0] if rows else None

    def add_ledger(self, row: Mapping[str, Any]) -> int:
        cols = list(row)
        cur = self.conn.execute(f"INSERT INTO census_ledger ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                [row[c] for c in cols])
        return int(cur.lastrowid)

    def update_ledger(self, ledger_id: int, values: Mapping[str, Any]) -> None:
        sets = ", ".join(f"{c}=?" for c in values)
        self.conn.execute(f"UPDATE census_ledger SET {sets} WHERE id=?", [*values.values(), ledger_id])

    def ledger(self, *, outcome: str | None = None) -> list[dict]:
        if outcome:
            return _dict_rows(self.conn.execute("SELECT * FROM census_ledger WHERE outcome=? ORDER BY id", (outcome,)))
        return _dict_rows(self.conn.execute("SELECT * FROM census_ledger ORDER BY id"))

    def device_packages(self, device_id: str) -> list[tuple[int, int]]:
        """(sequence, acknowledged_through) of every accepted package of a device."""
        return [(int(s), int(a or 0)) for s, a in self.conn.execute(
            "SELECT sequence, acknowledged_through FROM census_ledger WHERE device_id=? AND outcome='accepted' "
            "ORDER BY sequence", (device_id,))]

    # -- revisions and records ------------------------------------------------------------------------
    def known_revisions(self, revision_ids: Sequence[str]) -> dict[str, str]:
        """revision_id → record_uuid for those already stored (one statement: ids passed as a JSON array)."""
        ids = json.dumps(list(revision_ids))
        return dict(self.conn.execute(
            "SELECT revision_id, record_uuid FROM census_revisions WHERE revision_id IN (SELECT value FROM json_each(?))",
            (ids,)))

    def records_by_uuid(self, uuids: Sequence[str]) -> dict[str, dict]:
        cur = self.conn.execute("SELECT * FROM census_records WHERE record_uuid IN (SELECT value FROM json_each(?))",
                                (json.dumps(list(uuids)),))
        return {r["record_uuid"]: r for r in _dict_rows(cur)}

    def revision_nodes(self, record_ids: Sequence[int]) -> dict[int, list[tuple[str, str | None, str, int]]]:
        """record id → [(revision_id, parent_revision_id, created_at, set_aside)] of its stored revisions."""
        out: dict[int, list] = {}
        for rid_, rev, par, at, aside in self.conn.execute(
                "SELECT record_id, revision_id, parent_revision_id, created_at, set_aside FROM census_revisions "
                "WHERE record_id IN (SELECT value FROM json_each(?))", (json.dumps(list(record_ids)),)):
            out.setdefault(rid_, []).append((rev, par, at, aside))
        return out

    def open_conflicts(self, uuids: Sequence[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for chunk in _chunks(list(uuids)):
            for r in _dict_rows(self.conn.execute(
                    f"SELECT * FROM census_conflicts WHERE status='open' AND record_uuid IN ({','.join('?' * len(chunk))})",
                    chunk)):
                out[r["record_uuid"]] = r
        return out

    REVISION_COLUMNS = ("record_id", "revision_id", "record_uuid", "parent_revision_id", "form_id", "form_version", "township",
                        "device_id", "created_at", "created_by", "package_id", "valid", "problems", "content",
                        "content_sha256")
    RECORD_COLUMNS = ("record_uuid", "form_id", "township", "key_value", "current_revision_id", "review_state",
                      "has_conflict", "valid", "first_package_id", "last_package_id", "updated_at", "feature_fid")

    def insert_revisions(self, rows: Iterable[Sequence]) -> None:
        """Rows in :attr:`REVISION_COLUMNS` order; ``content`` may be text or its UTF-8 bytes (stored as
        TEXT either way: CAST reinterprets the bytes, which spares encoding a large string per row);
        ``parent_revision_id`` None or ''."""
        cols = self.REVISION_COLUMNS
        # '' for no parent binds faster than None and is never a revision id (those are UUIDs)
        marks = ", ".join("CAST(? AS TEXT)" if c == "content" else "NULLIF(?, '')" if c == "parent_revision_id"
                          else "?" for c in cols)
        self.conn.executemany(f"INSERT INTO census_revisions ({', '.join(cols)}) VALUES ({marks})", rows)

    def insert_revisions_shared(self, columns: Sequence[str], rows: Sequence[Sequence], shared: Mapping[str, Any],
                                full: Callable[[], Iterable[Sequence]]) -> None:
        """Insert revisions whose values are partly the same for all: each row holds ``columns`` (names
        from :attr:`REVISION_COLUMNS`, in that order), ``shared`` every other column's one value.

        Contract: ``full()`` gives the same revisions as complete :meth:`insert_revisions` rows. The
        default inserts ``full()``; the GeoPackage writes the shared values into the statement once
        instead of binding them again for every row."""
        cols = self.REVISION_COLUMNS
        literals = {c: _sql_literal(shared[c]) for c in shared}
        if type(self).insert_revisions is not CountyDB.insert_revisions or any(v is None for v in literals.values()) \
                or set(columns) | set(shared) != set(cols) or set(columns) & set(shared) \
                or list(columns) != [c for c in cols if c in set(columns)] or "content" in shared:
            self.insert_revisions(full())
            return
        marks = []
        for c in cols:
            if c in shared:
                v = literals[c]
                marks.append("NULLIF(" + v + ", '')" if c == "parent_revision_id" else v)
            else:
                marks.append("CAST(? AS TEXT)" if c == "content" else "NULLIF(?, '')" if c == "parent_revision_id"
                             else "?")
        self.conn.executemany(f"INSERT INTO census_revisions ({', '.join(cols)}) VALUES ({', '.join(marks)})", rows)

    def insert_records(self, rows: Sequence[Sequence]) -> list[int]:
        """Insert records; returns their ids in row order."""
        if not rows:
            return []
        cols = self.RECORD_COLUMNS
        before = self.conn.execute("SELECT coalesce(max(id), 0) FROM census_records").fetchone()[0]
        self.conn.executemany(f"INSERT INTO census_records ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                              rows)
        ids = _new_ids(self.conn, "census_records", "id", before, len(rows))
        if ids is None:
            raise CountyDBError("记录写入行数不符", "record row count mismatch after insert")
        return ids

    def insert_records_of_features(self, spec: LayerSpec, fids: Sequence[int], common: Mapping[str, Any],
                                   rows: Callable[[], Sequence[Sequence]]) -> list[int]:
        """Insert the new records of features ``fids`` (just inserted by :meth:`insert_features`, in
        order); returns their ids in the same order, as :meth:`insert_records` does.

        Contract: ``rows()`` gives these records in :attr:`RECORD_COLUMNS` order, one per fid, where
        ``record_uuid``, ``township``, ``current_revision_id``, ``review_state``, ``has_conflict`` and
        ``valid`` are the feature's ``census_*`` columns, ``feature_fid`` is the fid, ``key_value`` is
        NULL and the rest is ``common`` (``form_id``, ``first_package_id``, ``last_package_id``,
        ``updated_at``). The default inserts ``rows()`` through :meth:`insert_records`; the GeoPackage
        copies the values from the feature rows inside SQLite instead (nothing to bind per record)."""
        n = len(fids)
        if not n:
            return []
        if type(self).insert_records is not CountyDB.insert_records or \
                list(fids) != list(range(fids[0], fids[0] + n)):
            return self.insert_records(rows())
        cols = self.RECORD_COLUMNS
        values = {"record_uuid": "census_uuid", "form_id": ":form_id", "township": "census_township",
                  "key_value": "NULL", "current_revision_id": "census_revision", "review_state": "census_state",
                  "has_conflict": "census_conflict", "valid": "census_valid", "first_package_id": ":first_package_id",
                  "last_package_id": ":last_package_id", "updated_at": ":updated_at", "feature_fid": "fid"}
        before = self.conn.execute("SELECT coalesce(max(id), 0) FROM census_records").fetchone()[0]
        self.conn.execute(
            f"INSERT INTO census_records ({', '.join(cols)}) SELECT {', '.join(values[c] for c in cols)} "
            f"FROM {gpkg.qid(spec.table)} WHERE fid BETWEEN :lo AND :hi ORDER BY fid",
            {"form_id": common["form_id"], "first_package_id": common["first_package_id"],
             "last_package_id": common["last_package_id"], "updated_at": common["updated_at"],
             "lo": fids[0], "hi": fids[-1]})
        ids = _new_ids(self.conn, "census_records", "id", before, n)
        if ids is None:
            raise CountyDBError("记录写入行数不符", "record row count mismatch after insert")
        return ids

    def update_records(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Rows carry record_uuid and the columns to set (all rows the same columns)."""
        rows = list(rows)
        if not rows:
            return
        cols = [c for c in rows[0] if c != "record_uuid"]
        sets = ", ".join(f"{c}=:{c}" for c in cols)
        self.conn.executemany(f"UPDATE census_records SET {sets} WHERE record_uuid=:record_uuid", rows)

    def insert_conflict(self, row: Mapping[str, Any]) -> int:
        cols = list(row)
        cur = self.conn.execute(f"INSERT INTO census_conflicts ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                [row[c] for c in cols])
        return int(cur.lastrowid)

    def update_conflict(self, conflict_id: int, values: Mapping[str, Any]) -> None:
        sets = ", ".join(f"{c}=?" for c in values)
        self.conn.execute(f"UPDATE census_conflicts SET {sets} WHERE id=?", [*values.values(), conflict_id])

    def set_aside(self, revision_ids: Sequence[str]) -> None:
        for chunk in _chunks(list(revision_ids)):
            self.conn.execute(f"UPDATE census_revisions SET set_aside=1 WHERE revision_id IN ({','.join('?' * len(chunk))})",
                              chunk)

    def revision(self, revision_id: str) -> dict | None:
        rows = _dict_rows(self.conn.execute("SELECT * FROM census_revisions WHERE revision_id=?", (revision_id,)))
        return rows[0] if rows else None

    def revisions_of(self, record_uuid: str) -> list[dict]:
        return _dict_rows(self.conn.execute("SELECT * FROM census_revisions WHERE record_uuid=? ORDER BY id",
                                            (record_uuid,)))

    def record(self, record_uuid: str) -> dict | None:
        rows = _dict_rows(self.conn.execute("SELECT * FROM census_records WHERE record_uuid=?", (record_uuid,)))
        return rows[0] if rows else None

    def conflicts(self, *, status: str | None = None, township: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM census_conflicts WHERE 1=1", []
        if status:
            sql += " AND status=?"
            params.append(status)
        if township:
            sql += " AND township=?"
            params.append(township)
        return _dict_rows(self.conn.execute(sql + " ORDER BY id", params))

    # -- feature layers -------------------------------------------------------------------------------
    def insert_features(self, spec: LayerSpec, rows: Sequence[Sequence],
                        envelopes: Any = None, *, columns: Sequence[str] | None = None) -> list[int]:
        """Rows: (geometry blob if spatial, *columns, *system columns) in layer order; returns their fids.
        ``envelopes``: (minx, maxx, miny, maxy) per row, None for no geometry — or a float array (n, 4)
        with NaN rows for none — spares reading the blobs.
        ``columns``: the form columns the rows carry, in layer order (default: all; the others stay NULL).

        GDAL's per-row triggers (R-tree insert calling four ``ST_*`` functions, feature count update) are
        suspended for a batch: within this transaction they are dropped, the rows inserted, the feature
        count added in one statement, and the triggers re-created exactly as GDAL wrote them. The rows'
        R-tree entries wait for the commit (:meth:`commit`), where the whole transaction's entries go in
        at once (:func:`geodb.gpkg.rtree_add`, packing a new tree for a large batch) — committed together
        with the rows, so no reader ever sees the layer without its index or triggers.
        """
        if not rows:
            return []
        names = (spec.column_names if columns is None else list(columns)) + [c for c, _ in SYSTEM_COLUMNS]
        if spec.geometry_type:
            names = ["geom"] + names
        table = gpkg.qid(spec.table)
        sql = f"INSERT INTO {table} ({', '.join(gpkg.qid(n) for n in names)}) VALUES ({', '.join('?' * len(names))})"
        saved: dict[str, str] = {}
        rtree_trigger = f"rtree_{spec.table}_geom_insert"
        count_trigger = f"trigger_insert_feature_count_{spec.table}"
        if len(rows) > 16:
            saved = dict(self.conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type='trigger' AND name IN (?, ?)",
                (rtree_trigger if spec.geometry_type else "", count_trigger)))
        for name in saved:
            self.conn.execute(f"DROP TRIGGER {gpkg.qid(name)}")
        # fids grow monotonically (AUTOINCREMENT), so the new rows are exactly those above the old maximum
        before = self.conn.execute(f"SELECT coalesce(max(fid), 0) FROM {table}").fetchone()[0]
        self.conn.executemany(sql, rows)
        fids = _new_ids(self.conn, spec.table, "fid", before, len(rows))
        if fids is None:
            raise CountyDBError(f"图层 {spec.table} 写入行数不符", f"layer {spec.table}: row count mismatch after insert")
        if rtree_trigger in saved:
            import numpy as np

            if envelopes is None:
                envelopes = [gpkg.envelope(r[0]) for r in rows]
            if isinstance(envelopes, np.ndarray):
                env = np.asarray(envelopes, dtype="float64").reshape(len(rows), 4)
            else:
                env = np.array([e if e is not None else (np.nan,) * 4 for e in envelopes],
                               dtype="float64").reshape(len(rows), 4)
            ok = np.isfinite(env).all(axis=1)
            ids = np.asarray(fids, dtype="int64")[ok]
            env = env[ok]
            rtree = f"rtree_{spec.table}_geom"
            if self.conn.in_transaction:
                self._pending().setdefault(rtree, []).append((ids, env))
            else:
                gpkg.rtree_add(self.conn, rtree, ids, env)
        if count_trigger in saved:
            self.conn.execute("UPDATE gpkg_ogr_contents SET feature_count = feature_count + ? "
                              "WHERE lower(table_name) = lower(?)", (len(rows), spec.table))
        for name, text in saved.items():
            self.conn.execute(text)
        return fids

    def _pending(self) -> dict[str, list]:
        """R-tree name → [(fids, boxes)] inserted in the open transaction and not yet in the R-tree."""
        pending = self.__dict__.get("_rtree_pending")
        if pending is None:
            pending = self._rtree_pending = {}
        return pending

    def _flush_rtree(self) -> None:
        """Put the open transaction's waiting R-tree entries in (called before COMMIT)."""
        import numpy as np

        pending = self._pending()
        while pending:
            rtree, parts = pending.popitem()
            if parts:
                gpkg.rtree_add(self.conn, rtree, np.concatenate([p[0] for p in parts]),
                               np.concatenate([p[1] for p in parts]))

    def _forget_pending(self, spec: LayerSpec, fids: Sequence[int]) -> None:
        """Features about to be rewritten: their waiting R-tree entries are dropped (GDAL's update
        triggers write the new box, or remove it for an empty geometry)."""
        parts = self._pending().get(f"rtree_{spec.table}_geom")
        if not parts or not len(fids):
            return
        import numpy as np

        gone = np.asarray(list(fids), dtype="int64")
        for k, (ids, env) in enumerate(parts):
            keep = ~np.isin(ids, gone)
            if not keep.all():
                parts[k] = (ids[keep], env[keep])

    def replace_features(self, spec: LayerSpec, rows: Sequence[Sequence], fids: Sequence[int]) -> None:
        """Overwrite features ``fids`` with ``rows`` (same layout as :meth:`insert_features`)."""
        names = spec.column_names + [c for c, _ in SYSTEM_COLUMNS]
        if spec.geometry_type:
            names = ["geom"] + names
            self._forget_pending(spec, fids)
        sets = ", ".join(f"{gpkg.qid(n)}=?" for n in names)
        self.conn.executemany(f"UPDATE {gpkg.qid(spec.table)} SET {sets} WHERE fid=?",
                              [[*r, f] for r, f in zip(rows, fids)])

    def set_feature_state(self, spec: LayerSpec, rows: Iterable[tuple[str, int, int]]) -> None:
        """(review state, has_conflict, fid) per row."""
        self.conn.executemany(f"UPDATE {gpkg.qid(spec.table)} SET census_state=?, census_conflict=? WHERE fid=?", rows)

    def grow_extents(self, bounds: Mapping[str, tuple[float, float, float, float]], specs: Iterable[LayerSpec]) -> None:
        """Widen each touched layer's extent in gpkg_contents by the new rows' bounds (minx, miny, maxx, maxy)
        and stamp its last_change (an extent may be larger than the data, never smaller)."""
        for spec in specs:
            b = bounds.get(spec.form_id)
            if spec.geometry_type and b is not None:
                self.conn.execute(
                    "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?1), ?1), min_y = min(coalesce(min_y, ?2), ?2), "
                    "max_x = max(coalesce(max_x, ?3), ?3), max_y = max(coalesce(max_y, ?4), ?4), "
                    "last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?5", (*b, spec.table))
            else:
                gpkg.touch(self.conn, [spec.table])

    def feature_counts(self) -> dict[str, int]:
        return {spec.form_id: self.conn.execute(f"SELECT count(*) FROM {gpkg.qid(spec.table)}").fetchone()[0]
                for spec in self.layer_specs().values()}

    def feature_mismatches(self, spec: LayerSpec) -> int:
        """Records of the form whose feature row is missing or shows another revision, plus feature rows
        that belong to no record (a stale or edited layer)."""
        t = gpkg.qid(spec.table)
        missing = self.conn.execute(
            f"SELECT count(*) FROM census_records r LEFT JOIN {t} f ON f.fid = r.feature_fid WHERE r.form_id=? AND "
            f"(f.fid IS NULL OR f.census_uuid IS NOT r.record_uuid OR f.census_revision IS NOT r.current_revision_id)",
            (spec.form_id,)).fetchone()[0]
        n_features = self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        n_records = self.conn.execute("SELECT count(*) FROM census_records WHERE form_id=?", (spec.form_id,)).fetchone()[0]
        return int(missing) + abs(int(n_features) - int(n_records))

    # -- status and feedback queries ------------------------------------------------------------------
    def status_rows(self) -> list[dict]:
        """Per township: expected, received, valid, has_issues, approved, rejected, conflicts, last package."""
        townships = self.townships()
        expected = {}
        for t, f, n in self.conn.execute("SELECT township, form_id, expected FROM census_expected"):
            expected.setdefault(t, {})[f] = int(n)
        rec = {}
        for t, f, n, valid, issues, approved, rejected, conflict in self.conn.execute(
                # CASE rather than summing comparisons: the same SQL runs on PostgreSQL (geodb.pg_county)
                "SELECT township, form_id, count(*), sum(CASE WHEN valid = 1 THEN 1 ELSE 0 END), "
                "sum(CASE WHEN review_state = 'has_issues' THEN 1 ELSE 0 END), "
                "sum(CASE WHEN review_state = 'approved' THEN 1 ELSE 0 END), "
                "sum(CASE WHEN review_state = 'rejected' THEN 1 ELSE 0 END), "
                "sum(CASE WHEN has_conflict = 1 THEN 1 ELSE 0 END) "
                "FROM census_records GROUP BY township, form_id"):
            rec.setdefault(t, {})[f] = dict(received=int(n), valid=int(valid or 0), has_issues=int(issues or 0),
                                            approved=int(approved or 0), rejected=int(rejected or 0),
                                            conflicts=int(conflict or 0))
        last = dict(self.conn.execute("SELECT township, max(received_at) FROM census_ledger WHERE outcome='accepted' "
                                      "GROUP BY township"))
        rejected_pk = {t: int(n) for t, n in self.conn.execute(
            "SELECT township, count(*) FROM census_ledger WHERE outcome='rejected' GROUP BY township")}
        out = []
        for code in sorted(set(townships) | set(expected) | set(rec)):
            exp = expected.get(code, {})
            got = rec.get(code, {})
            forms = {}
            for f in sorted(set(exp) | set(got)):
                g = got.get(f, {})
                received_expected = min(g.get("received", 0), exp[f]) if f in exp else g.get("received", 0)
                forms[f] = {"expected": exp.get(f), "received": g.get("received", 0), "valid": g.get("valid", 0),
                            "has_issues": g.get("has_issues", 0), "conflicts": g.get("conflicts", 0),
                            "counted": received_expected}
            out.append({
                "township": code, "name": townships.get(code, ""),
                "expected": sum(exp.values()),
                "received": sum(v.get("received", 0) for v in got.values()),
                "received_expected": sum(forms[f]["counted"] for f in exp),
                "valid": sum(v.get("valid", 0) for v in got.values()),
                "has_issues": sum(v.get("has_issues", 0) for v in got.values()),
                "approved": sum(v.get("approved", 0) for v in got.values()),
                "rejected": sum(v.get("rejected", 0) for v in got.values()),
                "conflicts": sum(v.get("conflicts", 0) for v in got.values()),
                "last_package": last.get(code), "rejected_packages": rejected_pk.get(code, 0),
                "forms": forms})
        return out

    def feedback_rows(self, township: str) -> list[dict]:
        """Records of a township with issues, conflicts or rejected, with their current revision's problems."""
        return _dict_rows(self.conn.execute(
            "SELECT r.record_uuid, r.form_id, r.current_revision_id, r.review_state, r.has_conflict, r.review_note, "
            "v.problems FROM census_records r JOIN census_revisions v ON v.revision_id = r.current_revision_id "
            "WHERE r.township=? AND (r.review_state IN ('has_issues','rejected') OR r.has_conflict=1) "
            "ORDER BY r.form_id, r.id", (township,)))

    def revision_problems(self, revision_ids: Sequence[str]) -> dict[str, tuple[str, int, str]]:
        out = {}
        for chunk in _chunks(list(revision_ids)):
            for rid, problems, valid, form_id in self.conn.execute(
                    f"SELECT revision_id, problems, valid, form_id FROM census_revisions "
                    f"WHERE revision_id IN ({','.join('?' * len(chunk))})", chunk):
                out[rid] = (problems, valid, form_id)
        return out

    # -- verification queries -------------------------------------------------------------------------
    def package_revision_digests(self) -> dict[int, tuple[int, str, int]]:
        """package id → (revisions stored, sha256 over their content hashes in order, bad content hashes)."""
        out: dict[int, list] = {}
        for pid, content, sha in self.conn.execute(
                "SELECT package_id, content, content_sha256 FROM census_revisions ORDER BY package_id, id"):
            entry = out.setdefault(pid, [0, hashlib.sha256(), 0])
            entry[0] += 1
            entry[1].update(sha.encode("ascii"))
            if hashlib.sha256(content.encode("utf-8")).hexdigest() != sha:
                entry[2] += 1
        return {pid: (n, h.hexdigest(), bad) for pid, (n, h, bad) in out.items()}

    def record_inconsistencies(self) -> list[str]:
        """Records whose current revision is missing, belongs to another record, or whose flags disagree."""
        out = []
        for (u,) in self.conn.execute(
                "SELECT r.record_uuid FROM census_records r LEFT JOIN census_revisions v "
                "ON v.revision_id = r.current_revision_id WHERE v.revision_id IS NULL OR v.record_uuid != r.record_uuid "
                "LIMIT 20"):
            out.append(u)
        return out

    def conflict_flag_mismatches(self) -> int:
        a = self.conn.execute(
            "SELECT count(*) FROM census_records r WHERE r.has_conflict = 1 AND NOT EXISTS "
            "(SELECT 1 FROM census_conflicts c WHERE c.record_uuid = r.record_uuid AND c.status='open')").fetchone()[0]
        b = self.conn.execute(
            "SELECT count(*) FROM census_conflicts c WHERE c.status='open' AND NOT EXISTS "
            "(SELECT 1 FROM census_records r WHERE r.record_uuid = c.record_uuid AND r.has_conflict = 1)").fetchone()[0]
        return int(a) + int(b)

    def orphan_revisions(self) -> int:
        return int(self.conn.execute(
            "SELECT count(*) FROM census_revisions v WHERE NOT EXISTS (SELECT 1 FROM census_ledger l "
            "WHERE l.id = v.package_id AND l.outcome='accepted')").fetchone()[0])

    def records_without_revisions(self) -> int:
        return int(self.conn.execute(
            "SELECT count(*) FROM census_revisions v WHERE NOT EXISTS (SELECT 1 FROM census_records r "
            "WHERE r.record_uuid = v.record_uuid)").fetchone()[0])

    # -- test/diagnostic helper -----------------------------------------------------------------------
    def table_checksums(self, tables: Iterable[str] | None = None) -> dict[str, str]:
        """sha256 over every row (in rowid order) of each table: what the tests compare before/after."""
        if tables is None:
            tables = [r[0] for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE 'rtree_%' ORDER BY name")]
        out = {}
        for t in tables:
            h = hashlib.sha256()
            for row in self.conn.execute(f"SELECT * FROM {gpkg.qid(t)} ORDER BY rowid"):
                h.update(repr(row).encode("utf-8"))
            out[t] = h.hexdigest()
        return out
