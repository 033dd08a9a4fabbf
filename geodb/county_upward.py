"""County-side storage for bulk approval and upward reporting (县级审核与逐级上报).

Beside :class:`geodb.county.CountyDB` (whose schema this module does not change): the SQL that approves
many records in one statement, reads the approved records with their current revisions, and keeps the
log of what the county has reported up to the city. The log lives in two tables created on first use
in the county GeoPackage and registered as attribute tables:

- ``census_upward_exports``: one row per upward package (sequence, what the city had acknowledged,
  file hash, record count, its audit row);
- ``census_upward_items``: the (record, revision) pairs each package carried, so the next package can
  leave out what the city has acknowledged.

Callers (``sync.approval``, ``sync.upward``) decide what to do; everything here runs inside the
caller's transaction.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import gpkg
from .county import CountyDB


def _backend(fn):
    """Run the database's own version of ``fn`` when it has one: a PostGIS county carries PostgreSQL
    versions of the functions below whose SQL is SQLite's own (``db.upward_sql``, geodb.pg_county)."""
    @functools.wraps(fn)
    def run(db, *a, **kw):
        own = getattr(getattr(db, "upward_sql", None), fn.__name__, None)
        return (own or fn)(db, *a, **kw)
    return run


def _dict_rows(cur) -> list[dict]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]

UPWARD_DDL = (
    "CREATE TABLE IF NOT EXISTS census_upward_exports (id INTEGER PRIMARY KEY, sequence INTEGER NOT NULL UNIQUE, "
    "acknowledged_through INTEGER NOT NULL, created_at TEXT NOT NULL, city TEXT NOT NULL, file_name TEXT NOT NULL, "
    "file_sha256 TEXT NOT NULL, records INTEGER NOT NULL, audit_seq INTEGER, audit_hash TEXT)",
    "CREATE TABLE IF NOT EXISTS census_upward_items (id INTEGER PRIMARY KEY, export_id INTEGER NOT NULL, "
    "record_uuid TEXT NOT NULL, revision_id TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS census_upward_items_export ON census_upward_items (export_id)",
)
UPWARD_TABLES = {"census_upward_exports": "上报市级的数据包 / packages reported to the city",
                 "census_upward_items": "上报的记录版本 / record versions reported to the city"}

# what bulk approval may approve: received (not rejected, not already approved), valid, no open conflict
APPROVABLE = "review_state = 'received' AND valid = 1 AND has_conflict = 0"


def _filters(township: str | None, form_id: str | None) -> tuple[str, list]:
    sql, params = "", []
    if township:
        sql += " AND township = ?"
        params.append(township)
    if form_id:
        sql += " AND form_id = ?"
        params.append(form_id)
    return sql, params


# ---------------------------------------------------------------------------------------------------
# Approval

@_backend
def review_counts(db: CountyDB, *, township: str | None = None, form_id: str | None = None) -> dict[str, int]:
    """Records in scope by what bulk approval would do with them."""
    where, params = _filters(township, form_id)
    row = db.conn.execute(
        "SELECT count(*), "
        f"sum({APPROVABLE}), "
        "sum(review_state = 'approved'), "
        "sum(review_state = 'rejected'), "
        "sum(review_state <> 'approved' AND review_state <> 'rejected' AND has_conflict = 1), "
        "sum(review_state <> 'approved' AND review_state <> 'rejected' AND has_conflict = 0 AND valid = 0) "
        f"FROM census_records WHERE 1=1{where}", params).fetchone()
    keys = ("records", "approvable", "already_approved", "rejected", "conflicts", "with_issues")
    return {k: int(v or 0) for k, v in zip(keys, row)}


def approvable_records(db: CountyDB, *, township: str | None = None, form_id: str | None = None) -> list[tuple]:
    """(record_uuid, current_revision_id, form_id, feature_fid) of every approvable record, by UUID."""
    where, params = _filters(township, form_id)
    return db.conn.execute(
        f"SELECT record_uuid, current_revision_id, form_id, feature_fid FROM census_records "
        f"WHERE {APPROVABLE}{where} ORDER BY record_uuid", params).fetchall()


@_backend
def approve_all(db: CountyDB, *, township: str | None, form_id: str | None, actor: str, note: str | None,
                at: str, fids_by_form: Mapping[str, Sequence[int]]) -> int:
    """Mark every approvable record in scope approved (one statement) and its feature rows (one statement
    per layer). Returns the number of records approved."""
    where, params = _filters(township, form_id)
    cur = db.conn.execute(
        f"UPDATE census_records SET review_state = 'approved', reviewed_by = ?, review_note = ?, updated_at = ? "
        f"WHERE {APPROVABLE}{where}", [actor, note, at, *params])
    specs = db.layer_specs()
    for fid_form, fids in fids_by_form.items():
        spec = specs[fid_form]
        db.conn.execute(f"UPDATE {gpkg.qid(spec.table)} SET census_state = 'approved' "
                        f"WHERE fid IN (SELECT value FROM json_each(?))", (json.dumps(list(fids)),))
    gpkg.touch(db.conn, [specs[f].table for f in fids_by_form])
    return int(cur.rowcount)


# ---------------------------------------------------------------------------------------------------
# Upward reporting

@_backend
def ensure_upward_tables(db: CountyDB) -> None:
    """Create the upward log tables if this county has never reported up (inside a transaction)."""
    for stmt in UPWARD_DDL:
        db.conn.execute(stmt)
    for table, desc in UPWARD_TABLES.items():
        gpkg.register_attributes(db.conn, table, desc)


@_backend
def has_upward_tables(db: CountyDB) -> bool:
    return db.conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='census_upward_exports'"
                           ).fetchone()[0] == 1


def upward_exports(db: CountyDB) -> list[dict]:
    if not has_upward_tables(db):
        return []
    return _dict_rows(db.conn.execute("SELECT * FROM census_upward_exports ORDER BY sequence"))


def reported_revisions(db: CountyDB, through: int) -> set[str]:
    """Revision ids carried by upward packages with sequence ≤ ``through``."""
    if through <= 0 or not has_upward_tables(db):
        return set()
    return {r for (r,) in db.conn.execute(
        "SELECT i.revision_id FROM census_upward_items i JOIN census_upward_exports e ON e.id = i.export_id "
        "WHERE e.sequence <= ?", (through,))}


def approved_current(db: CountyDB) -> list[dict]:
    """Every approved record with its current revision (content verbatim), by form then UUID."""
    return _dict_rows(db.conn.execute(
        "SELECT r.record_uuid, r.form_id, r.township, r.current_revision_id AS revision_id, r.reviewed_by, "
        "r.updated_at AS approved_at, v.parent_revision_id, v.form_version, v.created_at, v.content, "
        "v.content_sha256 FROM census_records r JOIN census_revisions v ON v.revision_id = r.current_revision_id "
        "WHERE r.review_state = 'approved' ORDER BY r.form_id, r.record_uuid"))


@_backend
def revision_links(db: CountyDB, record_uuids: Iterable[str]) -> dict[str, dict[str, tuple[str | None, int]]]:
    """record_uuid → {revision_id: (parent_revision_id, set_aside)} of every revision the county holds."""
    out: dict[str, dict[str, tuple[str | None, int]]] = {}
    for u, rid, parent, aside in db.conn.execute(
            "SELECT record_uuid, revision_id, parent_revision_id, set_aside FROM census_revisions "
            "WHERE record_uuid IN (SELECT value FROM json_each(?))", (json.dumps(list(record_uuids)),)):
        out.setdefault(u, {})[rid] = (parent, int(aside or 0))
    return out


@_backend
def add_upward_export(db: CountyDB, row: Mapping[str, Any], items: Sequence[tuple[str, str]]) -> int:
    cols = list(row)
    cur = db.conn.execute(f"INSERT INTO census_upward_exports ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                          [row[c] for c in cols])
    export_id = int(cur.lastrowid)
    db.conn.executemany("INSERT INTO census_upward_items (export_id, record_uuid, revision_id) VALUES (?, ?, ?)",
                        [(export_id, u, r) for u, r in items])
    return export_id


def set_upward_audit(db: CountyDB, export_id: int, seq: int, h: str) -> None:
    db.conn.execute("UPDATE census_upward_exports SET audit_seq = ?, audit_hash = ? WHERE id = ?", (seq, h, export_id))


__all__ = [
    "add_upward_export",
    "approvable_records",
    "approve_all",
    "approved_counts",
    "approved_current",
    "ensure_upward_tables",
    "reported_revisions",
    "review_counts",
    "revision_links",
    "set_upward_audit",
    "upward_exports",
]


@_backend
def approved_counts(db: CountyDB) -> dict[str, dict[str, dict[str, int]]]:
    """township → form → {records, approved, valid, conflicts} over every record the county holds."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for t, f, n, approved, valid, conflicts in db.conn.execute(
            "SELECT township, form_id, count(*), sum(review_state = 'approved'), sum(valid), sum(has_conflict) "
            "FROM census_records GROUP BY township, form_id ORDER BY township, form_id"):
        out.setdefault(str(t), {})[str(f)] = {"records": int(n), "approved": int(approved or 0),
                                              "valid": int(valid or 0), "conflicts": int(conflicts or 0)}
    return out
