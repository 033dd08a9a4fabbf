"""The city geodatabase (市级普查地理数据库): one GeoPackage holding the approved returns of every county.

Same design as the county GeoPackage (:mod:`geodb.county`), one level up:

- division layers ``city`` (the outline), ``counties``, ``townships`` (``county_code``) and ``villages``
  (``township_code``, ``county_code``) of all the city's county-level units;
- one feature layer per spatial form and one attribute table per other form, **in the county layout**
  (the same columns from :func:`geodb.county.layer_spec` plus the ``census_*`` system columns), holding
  the current approved revision of every record of every county — so exposure, risk and maps read a
  city GeoPackage exactly as they read a county one;
- bookkeeping tables, registered as attribute tables: ``census_counties`` (enrolled counties and their
  signing keys), ``census_ledger`` (every upward package seen, with the county's ledger summary),
  ``census_revisions`` (every approved revision received, verbatim, with its ancestor chain),
  ``census_records``, ``census_conflicts``, ``census_audit`` (append-only, hash-chained),
  ``census_settings``, ``census_layers``.

The city's private keys live beside it (``CITY.gpkg.keys.json``, mode 0600). All SQL of the city side
lives in :class:`CityDB`; it shares the generic storage methods (audit chain, ledger rows, records,
conflicts, feature rows with GDAL's R-tree kept in step) with :class:`geodb.county.CountyDB`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.model import Form

from . import gpkg
from .county import SYSTEM_COLUMNS, CountyDB, CountyDBError, LayerSpec, layer_spec

CITY_FORMAT = "census-city-gpkg/1"
CITY_DIVISION_LAYERS = ("city", "counties", "townships", "villages")

CITY_DDL = (
    "CREATE TABLE census_settings (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value TEXT)",
    "CREATE TABLE census_layers (id INTEGER PRIMARY KEY, form_id TEXT NOT NULL UNIQUE, form_version TEXT NOT NULL, "
    "table_name TEXT NOT NULL UNIQUE, geometry_type TEXT, geometry_field TEXT, columns TEXT NOT NULL)",
    "CREATE TABLE census_counties (id INTEGER PRIMARY KEY, county TEXT NOT NULL UNIQUE, county_name TEXT NOT NULL, "
    "sign_public_key TEXT NOT NULL, enrolled_at TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, revoked_at TEXT)",
    "CREATE TABLE census_ledger (id INTEGER PRIMARY KEY, file_name TEXT NOT NULL, file_sha256 TEXT NOT NULL, "
    "file_bytes INTEGER, county TEXT, sequence INTEGER, acknowledged_through INTEGER, created_at TEXT, "
    "received_at TEXT NOT NULL, outcome TEXT NOT NULL, reason_code TEXT, reason TEXT, "
    "revisions INTEGER NOT NULL DEFAULT 0, stored INTEGER NOT NULL DEFAULT 0, known INTEGER NOT NULL DEFAULT 0, "
    "new_records INTEGER NOT NULL DEFAULT 0, advanced INTEGER NOT NULL DEFAULT 0, conflicts INTEGER NOT NULL DEFAULT 0, "
    "out_of_order INTEGER NOT NULL DEFAULT 0, revisions_sha256 TEXT, summary TEXT, divisions TEXT, archive TEXT, "
    "audit_seq INTEGER, audit_hash TEXT)",
    "CREATE INDEX census_ledger_sha ON census_ledger (file_sha256)",
    "CREATE UNIQUE INDEX census_ledger_once ON census_ledger (file_sha256) WHERE outcome = 'accepted'",
    "CREATE INDEX census_ledger_county ON census_ledger (county, sequence)",
    "CREATE TABLE census_revisions (id INTEGER PRIMARY KEY, record_id INTEGER NOT NULL, revision_id TEXT NOT NULL UNIQUE, "
    "record_uuid TEXT NOT NULL, parent_revision_id TEXT, ancestors TEXT NOT NULL, county_set_aside TEXT NOT NULL, "
    "form_id TEXT NOT NULL, form_version TEXT NOT NULL, county TEXT NOT NULL, township TEXT NOT NULL, "
    "created_at TEXT NOT NULL, approved_at TEXT NOT NULL, approved_by TEXT NOT NULL, package_id INTEGER NOT NULL, "
    "set_aside INTEGER NOT NULL DEFAULT 0, content TEXT NOT NULL, content_sha256 TEXT NOT NULL)",
    "CREATE INDEX census_revisions_record ON census_revisions (record_id)",
    "CREATE TABLE census_records (id INTEGER PRIMARY KEY, record_uuid TEXT NOT NULL UNIQUE, form_id TEXT NOT NULL, "
    "county TEXT NOT NULL, township TEXT NOT NULL, key_value TEXT, current_revision_id TEXT NOT NULL, "
    "review_state TEXT NOT NULL, has_conflict INTEGER NOT NULL DEFAULT 0, valid INTEGER NOT NULL DEFAULT 1, "
    "first_package_id INTEGER NOT NULL, last_package_id INTEGER NOT NULL, updated_at TEXT NOT NULL, "
    "reviewed_by TEXT, review_note TEXT, feature_fid INTEGER)",
    "CREATE INDEX census_records_county ON census_records (county, township, form_id)",
    "CREATE TABLE census_conflicts (id INTEGER PRIMARY KEY, record_uuid TEXT NOT NULL, form_id TEXT NOT NULL, "
    "county TEXT NOT NULL, township TEXT NOT NULL, revision_ids TEXT NOT NULL, status TEXT NOT NULL, "
    "opened_at TEXT NOT NULL, opened_package_id INTEGER, updated_at TEXT NOT NULL, resolved_at TEXT, resolution TEXT, "
    "resolved_by TEXT)",
    "CREATE UNIQUE INDEX census_conflicts_open ON census_conflicts (record_uuid) WHERE status = 'open'",
    "CREATE TABLE census_audit (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, "
    "object TEXT, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    "CREATE TRIGGER census_audit_no_update BEFORE UPDATE ON census_audit "
    "BEGIN SELECT RAISE(ABORT, 'census_audit is append-only'); END",
    "CREATE TRIGGER census_audit_no_delete BEFORE DELETE ON census_audit "
    "BEGIN SELECT RAISE(ABORT, 'census_audit is append-only'); END",
)
CITY_TABLES = {
    "census_settings": "设置 / settings", "census_layers": "表单图层 / form layers",
    "census_counties": "登记的县 / enrolled counties", "census_ledger": "上报包台账 / upward package ledger",
    "census_revisions": "全部审核通过的修订 / every approved revision received", "census_records": "记录 / records",
    "census_conflicts": "冲突 / conflicts", "census_audit": "审计日志 / audit log",
}
# the county layout's record state of a record the county approved (what exposure and maps filter on)
CITY_RECORD_STATE = "approved"


class CityDBError(CountyDBError):
    """The city geodatabase cannot be used as asked."""


class NotACityDB(CityDBError, FileNotFoundError):
    pass


@dataclass
class CityDivisions:
    """GeoDataFrames (EPSG:4490): city (adcode, name), counties (code, name), townships (code, name,
    county_code), villages (code, name, township_code, county_code)."""

    city: Any
    counties: Any
    townships: Any
    villages: Any


def _form_layer(path: Path, spec: LayerSpec) -> None:
    cols = [(c[0], c[1]) for c in spec.columns] + list(SYSTEM_COLUMNS)
    if spec.geometry_type:
        gpkg.create_feature_layer(path, spec.table, cols, spec.geometry_type, description=spec.form_id)
    else:
        gpkg.create_attribute_table(path, spec.table, cols, description=spec.form_id)


def create_city_gpkg(path: str | Path, *, city: str, city_name: str, divisions: CityDivisions,
                     forms: Mapping[str, Form], settings: Mapping[str, str | None], at: str,
                     actor: str | None = None) -> None:
    """Create the city GeoPackage (module doc); fails if the file exists."""
    path = Path(path)
    if path.exists():
        raise CityDBError(f"{path} 已存在，不会覆盖", f"{path} already exists and will not be overwritten")
    for layer, gdf, desc in (("city", divisions.city, "市级行政区 / city"),
                             ("counties", divisions.counties, "县级行政区 / county-level units"),
                             ("townships", divisions.townships, "乡镇（街道）/ townships"),
                             ("villages", divisions.villages, "行政村（社区）/ villages")):
        gpkg.write_layer(path, gdf, layer, geometry_type="MultiPolygon", description=desc, promote_to_multi=True)
    specs = [layer_spec(f) for f in forms.values()]
    for spec in specs:
        _form_layer(path, spec)
    conn = gpkg.connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for stmt in CITY_DDL:
            conn.execute(stmt)
        for t, desc in CITY_TABLES.items():
            gpkg.register_attributes(conn, t, desc)
        for spec in specs:
            conn.execute("INSERT INTO census_layers (form_id, form_version, table_name, geometry_type, geometry_field, "
                         "columns) VALUES (:form_id, :form_version, :table_name, :geometry_type, :geometry_field, "
                         ":columns)", spec.to_row())
        base = {"format": CITY_FORMAT, "city": city, "city_name": city_name, "created_at": at}
        for k, v in {**base, **settings}.items():
            conn.execute("INSERT INTO census_settings (key, value) VALUES (?, ?)", (k, None if v is None else str(v)))
        db = CityDB(path, conn)
        db.append_audit("init", city, {"city": city, "city_name": city_name, "forms": sorted(forms),
                                       "counties": len(divisions.counties),
                                       "townships": len(divisions.townships),
                                       "villages": len(divisions.villages)}, actor=actor, at=at)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
        raise
    conn.close()


class CityDB(CountyDB):
    """An open city GeoPackage. The generic storage methods come from :class:`CountyDB`; what differs
    (divisions, enrolled counties, revisions with their ancestor chains, status) is here."""

    FORMAT = CITY_FORMAT
    UNIT = "city"
    KIND_ZH, KIND_EN = "市级", "city"
    NOT_FOUND: type[Exception] = NotACityDB
    ERROR: type[Exception] = CityDBError
    REVISION_COLUMNS = ("record_id", "revision_id", "record_uuid", "parent_revision_id", "ancestors",
                        "county_set_aside", "form_id", "form_version", "county", "township", "created_at",
                        "approved_at", "approved_by", "package_id", "content", "content_sha256")
    RECORD_COLUMNS = ("record_uuid", "form_id", "county", "township", "key_value", "current_revision_id",
                      "review_state", "has_conflict", "valid", "first_package_id", "last_package_id", "updated_at",
                      "feature_fid")

    def _locked(self, e: sqlite3.OperationalError) -> CityDBError:
        return CityDBError(f"市级地理数据库 {self.path.name} 正被其他程序占用（{e}）；请关闭 QGIS 等程序后重试，未写入任何内容",
                           f"the city geodatabase {self.path.name} is busy ({e}); close QGIS or other programs and "
                           "try again — nothing was written")

    # -- identity and divisions ---------------------------------------------------------------------
    @property
    def city(self) -> str:
        return self.setting("city") or ""

    @property
    def city_name(self) -> str:
        return self.setting("city_name") or ""

    @property
    def county(self) -> str:            # the unit this geodatabase belongs to (shared code paths read it)
        return self.city

    @property
    def county_name(self) -> str:
        return self.city_name

    def counties(self) -> dict[str, str]:
        return {str(c): str(n) for c, n in self.conn.execute('SELECT code, name FROM "counties" ORDER BY code')}

    def townships_by_county(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for c, n, k in self.conn.execute('SELECT code, name, county_code FROM "townships" ORDER BY code'):
            out.setdefault(str(k), {})[str(c)] = str(n)
        return out

    def boundary(self):
        import shapely

        geoms = [gpkg.decode(b) for (b,) in self.conn.execute('SELECT geom FROM "city"') if b is not None]
        return shapely.union_all(geoms) if geoms else None

    # -- enrolled counties --------------------------------------------------------------------------
    def enrolled_counties(self) -> list[dict]:
        cur = self.conn.execute("SELECT * FROM census_counties ORDER BY county")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def county_key(self, county: str) -> str | None:
        row = self.conn.execute("SELECT sign_public_key FROM census_counties WHERE county=? AND revoked=0",
                                (county,)).fetchone()
        return row[0] if row else None

    def enrol_county(self, *, county: str, county_name: str, sign_public_key: str, at: str) -> bool:
        """Register (or re-register with a new key) a county; True when anything changed."""
        row = self.conn.execute("SELECT sign_public_key, revoked FROM census_counties WHERE county=?", (county,)).fetchone()
        if row is None:
            self.conn.execute("INSERT INTO census_counties (county, county_name, sign_public_key, enrolled_at) "
                              "VALUES (?, ?, ?, ?)", (county, county_name, sign_public_key, at))
            return True
        if row[0] == sign_public_key and not row[1]:
            return False
        self.conn.execute("UPDATE census_counties SET sign_public_key=?, county_name=?, enrolled_at=?, revoked=0, "
                          "revoked_at=NULL WHERE county=?", (sign_public_key, county_name, at, county))
        return True

    # -- ledger -------------------------------------------------------------------------------------
    def county_packages(self, county: str) -> list[tuple[int, int]]:
        """(sequence, acknowledged_through) of every accepted package of a county."""
        return [(int(s), int(a or 0)) for s, a in self.conn.execute(
            "SELECT sequence, acknowledged_through FROM census_ledger WHERE county=? AND outcome='accepted' "
            "ORDER BY sequence", (county,))]

    def latest_summaries(self) -> dict[str, dict]:
        """county → its newest accepted package (by sequence): sequence, received_at, summary, divisions."""
        out: dict[str, dict] = {}
        for county, seq, received, summary, divisions in self.conn.execute(
                "SELECT county, sequence, received_at, summary, divisions FROM census_ledger WHERE outcome='accepted' "
                "ORDER BY county, sequence, id"):
            out[county] = {"sequence": seq, "received_at": received, "summary": json.loads(summary or "{}"),
                           "divisions": json.loads(divisions or "{}")}
        return out

    def ledger_counts(self) -> dict[str, dict[str, Any]]:
        """county → {accepted, duplicate, rejected, last_received}."""
        out: dict[str, dict[str, Any]] = {}
        for county, outcome, n, last in self.conn.execute(
                "SELECT county, outcome, count(*), max(received_at) FROM census_ledger GROUP BY county, outcome"):
            d = out.setdefault(str(county), {"accepted": 0, "duplicate": 0, "rejected": 0, "last_received": None})
            d[outcome] = int(n)
            if outcome == "accepted":
                d["last_received"] = last
        return out

    # -- revisions ----------------------------------------------------------------------------------
    def city_nodes(self, record_ids: Iterable[int]) -> dict[int, list[tuple[str, list[str], str, int]]]:
        """record id → [(revision_id, ancestors, created_at, set_aside)] of its stored revisions."""
        out: dict[int, list] = {}
        for rid_, rev, anc, at, aside in self.conn.execute(
                "SELECT record_id, revision_id, ancestors, created_at, set_aside FROM census_revisions "
                "WHERE record_id IN (SELECT value FROM json_each(?))", (json.dumps(list(record_ids)),)):
            out.setdefault(rid_, []).append((rev, json.loads(anc), at, aside))
        return out

    # -- status ---------------------------------------------------------------------------------------
    def record_counts(self) -> dict[str, dict[str, Any]]:
        """county → {records, conflicts, townships (set of reporting townships), forms {form: n}}."""
        out: dict[str, dict[str, Any]] = {}
        for county, township, form, n, conflicts in self.conn.execute(
                "SELECT county, township, form_id, count(*), sum(has_conflict) FROM census_records "
                "GROUP BY county, township, form_id"):
            d = out.setdefault(str(county), {"records": 0, "conflicts": 0, "townships": set(), "forms": {}})
            d["records"] += int(n)
            d["conflicts"] += int(conflicts or 0)
            d["townships"].add(str(township))
            d["forms"][form] = d["forms"].get(form, 0) + int(n)
        return out


__all__ = ["CITY_FORMAT", "CITY_RECORD_STATE", "CityDB", "CityDBError", "CityDivisions", "NotACityDB",
           "create_city_gpkg"]
