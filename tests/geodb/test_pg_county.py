"""The county geodatabase on PostgreSQL + PostGIS: layout, audit protection, features, transactions,
concurrent writers, read-only opens, connection errors, and the whole county flow against a server."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
import shapely

from geodb import gpkg, pg
from geodb.county import CountyDBError, NotACountyDB, layer_spec
from geodb.pg_county import PgCountyDB, PgUpwardSQL, create_county_pg, pg_ddl
from geodb.target import anchor_path, open_county
from tests.sync import kit


def _init(url: str, tmp_path: Path, n: int = 10) -> None:
    from sync.county import init_county
    init_county(url, county=kit.COUNTY, sample=kit.make_sample(tmp_path / "sample", n), forms=kit.forms())


@pytest.fixture
def county_pg(pg_url, tmp_path) -> str:
    _init(pg_url, tmp_path)
    return pg_url


def _sql(url: str, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


# ---------------------------------------------------------------------------------------------------
# placeholders

def test_placeholders_are_rewritten_outside_quoted_text_only():
    assert pg.translate("SELECT a FROM t WHERE x=? AND y='it''s ?%' AND \"q?\"=?") == \
        ("SELECT a FROM t WHERE x=%s AND y='it''s ?%%' AND \"q?\"=%s", "pos")
    assert pg.translate("UPDATE g SET a = min(coalesce(a, ?1), ?1) WHERE t = ?5") == \
        ("UPDATE g SET a = min(coalesce(a, %(p1)s), %(p1)s) WHERE t = %(p5)s", "num")
    assert pg.translate("INSERT INTO a VALUES (:seq, :at::text, ':no') -- ?") == \
        ("INSERT INTO a VALUES (%(seq)s, %(at)s::text, ':no') -- ?", "named")
    assert pg.translate("SELECT ?3, ?, ?1")[0] == "SELECT %(p3)s, %(p4)s, %(p1)s"


def test_connection_adapter_runs_sqlite_style_sql(pg_url):
    conn = pg.PgConnection(pg.connect(pg_url), pg_url)
    try:
        assert conn.execute("SELECT ?::int + ?::int, '50%'", (1, 2)).fetchone() == (3, "50%")
        assert conn.execute("SELECT ?1::int * ?1::int, ?2::text", (7, "x")).fetchone() == (49, "x")
        assert conn.execute("SELECT :a::text || :b::text", {"a": "p", "b": "q"}).fetchone() == ("pq",)
        assert conn.execute("SELECT '100%'").fetchone() == ("100%",)
        conn.execute("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [("a",), ("b",)])
        conn.executemany("UPDATE t SET v = :v WHERE id = :id", [{"v": "A", "id": 1}])
        assert dict(conn.execute("SELECT id, v FROM t ORDER BY id")) == {1: "A", 2: "b"}
        assert not conn.in_transaction
        conn.execute("BEGIN")
        assert conn.in_transaction
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    assert conn.closed


# ---------------------------------------------------------------------------------------------------
# creating

def test_create_makes_the_geopackage_layout_in_postgis(county_pg, tmp_path):
    url = county_pg
    gpkg_county = kit.init_county(tmp_path / "g")
    lite = sqlite3.connect(gpkg_county)
    with PgCountyDB.open(url, readonly=True) as db:
        assert db.path == anchor_path(url) and db.county == kit.COUNTY and db.county_name == "兴城市"
        assert db.settings()["format"] == "census-county-gpkg/1"
        assert db.setting("county_sign_public_key")
        # every bookkeeping table has the GeoPackage's columns, in order
        for table in ("census_settings", "census_layers", "census_workmap", "census_expected", "census_devices",
                      "census_ledger", "census_revisions", "census_records", "census_conflicts", "census_audit"):
            lite_cols = [r[1] for r in lite.execute(f"PRAGMA table_info({table})")]
            pg_cols = [r[0] for r in db.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                (table,))]
            assert pg_cols == lite_cols, table
        # and the GeoPackage's contents
        for table in ("census_workmap", "census_expected", "census_layers"):
            assert sorted(map(tuple, db.conn.execute(f"SELECT * FROM {table}").fetchall())) == \
                sorted(lite.execute(f"SELECT * FROM {table}").fetchall()), table
        assert db.townships() == {kit.T1: "城东街道", kit.T2: "华山镇"}
        assert set(db.villages()) == {v for vs in kit.VILLAGES.values() for v in vs}
        assert db.villages()[kit.VILLAGES[kit.T2][0]]["township"] == kit.T2
        assert db.boundary().contains(shapely.box(kit.X0, kit.Y0, kit.X0 + kit.SIZE, kit.Y0 + kit.SIZE))
        assert db.layer_specs().keys() == set(kit.forms())
        assert db.verify_audit().ok and len(db.audit_rows()) == 1 and db.audit_rows()[0]["action"] == "init"
        assert db.missing_triggers() == []
        assert db.feature_counts() == {f: 0 for f in kit.forms()}
    lite.close()
    geoms = dict((t, (typ, srid)) for t, typ, srid in _sql(
        url, "SELECT f_table_name, type, srid FROM geometry_columns"))
    assert geoms["county"] == ("MULTIPOLYGON", 4490) and geoms["townships"] == ("MULTIPOLYGON", 4490)
    assert geoms["villages"] == ("MULTIPOLYGON", 4490) and geoms["workmap_buildings"] == ("POLYGON", 4490)
    assert geoms["rural_house"] == ("POLYGON", 4490) and geoms["chemical_danger_site"] == ("POINT", 4490)
    assert "disaster_annual" not in geoms   # a non-spatial form: a plain table
    gist = {t for (t,) in _sql(url, "SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%USING gist%'")}
    assert {"county", "townships", "villages", "workmap_buildings", "rural_house", "chemical_danger_site"} <= gist
    assert _sql(url, "SELECT count(*) FROM workmap_buildings") == [(20,)]
    [(wkt,)] = _sql(url, "SELECT ST_AsText(geom) FROM county")
    assert wkt.startswith("MULTIPOLYGON") and shapely.from_wkt(wkt).equals(
        shapely.box(kit.X0, kit.Y0, kit.X0 + kit.SIZE, kit.Y0 + kit.SIZE))
    assert kit.has_cjk(_sql(url, "SELECT obj_description('townships'::regclass)")[0][0])


def test_create_refuses_a_census_database_and_a_failure_leaves_nothing(county_pg, pg_server, other_db, tmp_path):
    from sync.county import CountyError, divisions_from_sample, init_county

    with pytest.raises(CountyError) as info:
        init_county(county_pg, county=kit.COUNTY, sample=kit.make_sample(tmp_path / "s", 2), forms=kit.forms())
    assert "已存在" in str(info.value) and "already exists" in str(info.value)
    # a failure half-way (after the division layers) leaves the database as it was, PostGIS included
    divisions, workmap, _ = divisions_from_sample(kit.make_sample(tmp_path / "s2", 2))
    broken = workmap.drop(columns=["township_code"])
    with pytest.raises(KeyError):
        create_county_pg(other_db, county=kit.COUNTY, county_name="x", divisions=divisions, forms=kit.forms(),
                         workmap=broken, at="2021-01-01T00:00:00+00:00", settings={})
    assert _sql(other_db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == []
    assert _sql(other_db, "SELECT extname FROM pg_extension WHERE extname = 'postgis'") == []
    assert not pg.has_census_db(other_db)
    # the same call with a proper work map installs PostGIS and creates everything
    create_county_pg(other_db, county=kit.COUNTY, county_name="x", divisions=divisions, forms=kit.forms(),
                     workmap=workmap, at="2021-01-01T00:00:00+00:00", settings={"deadline": None})
    assert pg.has_census_db(other_db)
    with open_county(other_db) as db:
        assert isinstance(db, PgCountyDB) and db.setting("deadline") is None and db.verify_audit().ok
    # tables of the same names are never overwritten
    with pytest.raises(CountyDBError) as info:
        create_county_pg(other_db, county=kit.COUNTY, county_name="x", divisions=divisions, forms=kit.forms(),
                         at="2021-01-01T00:00:00+00:00", settings={})
    assert "census_settings" in str(info.value)


def test_ddl_translation_keeps_columns_and_constraints():
    out = pg_ddl(["CREATE TABLE a (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, x REAL, t TEXT UNIQUE);",
                  "CREATE TABLE b (seq INTEGER PRIMARY KEY, at TEXT)",
                  "CREATE TRIGGER x BEFORE UPDATE ON a BEGIN SELECT RAISE(ABORT, 'no'); END;",
                  "CREATE UNIQUE INDEX o ON a (t) WHERE n = 1"])
    assert out == ["CREATE TABLE a (id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0, x DOUBLE PRECISION, "
                   "t TEXT UNIQUE)", "CREATE TABLE b (seq BIGINT PRIMARY KEY, at TEXT)",
                   "CREATE UNIQUE INDEX o ON a (t) WHERE n = 1"]


# ---------------------------------------------------------------------------------------------------
# settings, read-only, transactions

def test_settings_transactions_and_savepoints(county_pg):
    with PgCountyDB.open(county_pg) as db:
        with db.transaction():
            db.set_setting("deadline", "2021-06-30T23:59:59+08:00")
            db.set_setting("deadline", "2021-07-01T23:59:59+08:00")   # ON CONFLICT … DO UPDATE
        assert db.setting("deadline") == "2021-07-01T23:59:59+08:00"
        # anything raised rolls the whole transaction back
        with pytest.raises(RuntimeError):
            with db.transaction():
                db.add_device(device_id="d1", county=kit.COUNTY, township=kit.T1, enumerator="张三", public_key="k",
                              issued_at="2021-01-01")
                db.append_audit("enrol", "d1", {}, at="2021-01-01")
                raise RuntimeError("boom")
        assert db.device("d1") is None and len(db.audit_rows()) == 1
        # a failed statement inside a savepoint undoes the savepoint only
        with db.transaction():
            db.add_device(device_id="d1", county=kit.COUNTY, township=kit.T1, enumerator="张三", public_key="k",
                          issued_at="2021-01-01")
            with pytest.raises(db.IntegrityError):
                with db.savepoint("again"):
                    db.add_device(device_id="d2", county=kit.COUNTY, township=kit.T1, enumerator="李四",
                                  public_key="k", issued_at="2021-01-01")
                    db.add_device(device_id="d1", county=kit.COUNTY, township=kit.T1, enumerator="x",
                                  public_key="k", issued_at="2021-01-01")
            assert db.revoke_device("d1", "2021-01-02")
        assert [d["device_id"] for d in db.devices()] == ["d1"] and db.device("d1")["revoked"] == 1
        # an error nobody rolled back is never committed silently (PostgreSQL would turn COMMIT into ROLLBACK)
        db.begin()
        db.add_device(device_id="d3", county=kit.COUNTY, township=kit.T1, enumerator="王五", public_key="k",
                      issued_at="2021-01-01")
        with pytest.raises(psycopg.errors.UniqueViolation):
            db.add_device(device_id="d1", county=kit.COUNTY, township=kit.T1, enumerator="x", public_key="k",
                          issued_at="2021-01-01")
        with pytest.raises(CountyDBError) as info:
            db.commit()
        assert "nothing was written" in str(info.value)
        assert db.device("d3") is None and not db.conn.in_transaction
        # transactions do not nest
        with db.transaction(), pytest.raises(CountyDBError), db.transaction():
            pass


def test_readonly_open_refuses_writes(county_pg):
    with PgCountyDB.open(county_pg, readonly=True) as db:
        assert db.setting("county") == kit.COUNTY and db.status_rows()
        with pytest.raises(CountyDBError) as info, db.transaction():
            pass
        assert "只读" in str(info.value) and "read-only" in str(info.value)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            db.set_setting("deadline", "x")
    with open_county(county_pg) as db:
        assert db.setting("deadline") is None


def test_a_closed_db_raises_a_census_error(county_pg):
    from geodb.county import CountyDBClosed

    db = PgCountyDB.open(county_pg)
    db.close()
    db.close()
    assert db.closed
    with pytest.raises(CountyDBClosed):
        db.settings()


# ---------------------------------------------------------------------------------------------------
# audit log

def test_audit_is_append_only_and_tampering_is_found_by_verify(county_pg):
    from sync.county import verify_county

    with PgCountyDB.open(county_pg) as db, db.transaction():
        db.append_audit("deadline", None, {"from": None, "to": "x"}, at="2021-01-02")
        db.append_audit("deadline", None, {"from": "x", "to": "y"}, at="2021-01-03")
    assert verify_county(county_pg).ok
    for sql in ("UPDATE census_audit SET actor = 'x' WHERE seq = 2", "DELETE FROM census_audit WHERE seq = 3",
                "TRUNCATE census_audit"):
        with pytest.raises(psycopg.errors.IntegrityError) as info:
            _sql(county_pg, sql)
        assert "append-only" in str(info.value)
    # someone disables the guard and edits a row: the chain and the trigger check both say so
    _sql(county_pg, "ALTER TABLE census_audit DISABLE TRIGGER census_audit_no_update")
    _sql(county_pg, "UPDATE census_audit SET detail = '{\"from\":null,\"to\":\"z\"}' WHERE seq = 2")
    rep = verify_county(county_pg)
    codes = {f.code for f in rep.findings}
    assert {"AUDIT_HASH", "AUDIT_TRIGGER"} <= codes
    assert any("census_audit_no_update" in f.message_en for f in rep.findings)
    with PgCountyDB.open(county_pg, readonly=True) as db:
        assert db.verify_audit().first_bad == 2 and db.missing_triggers() == ["census_audit_no_update"]


def test_a_deleted_row_or_a_defused_guard_is_found(county_pg):
    from sync.county import verify_county

    with PgCountyDB.open(county_pg) as db, db.transaction():
        for k in range(3):
            db.append_audit("note", None, {"k": k}, at="2021-01-02")
    _sql(county_pg, "DROP TRIGGER census_audit_no_delete ON census_audit")
    _sql(county_pg, "DELETE FROM census_audit WHERE seq = 3")
    codes = {f.code for f in verify_county(county_pg).findings}
    assert {"AUDIT_SEQUENCE", "AUDIT_PREV_HASH", "AUDIT_TRIGGER"} <= codes
    # the guard function replaced by one that lets everything through is as good as no trigger
    _sql(county_pg, "CREATE OR REPLACE FUNCTION census_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RETURN OLD; END $$")
    with PgCountyDB.open(county_pg, readonly=True) as db:
        assert db.missing_triggers() == ["census_audit_no_update", "census_audit_no_delete", "census_audit_no_truncate"]


# ---------------------------------------------------------------------------------------------------
# features

def test_insert_and_replace_features_store_postgis_geometry(county_pg):
    forms = kit.forms()
    spec = layer_spec(forms["rural_house"])
    n_cols = len(spec.columns)
    shapes = [shapely.box(120.41, 40.52, 120.4101, 40.5201), shapely.box(120.42, 40.53, 120.4201, 40.5301), None]
    blobs = gpkg.encode(shapes)
    rows = []
    for k, b in enumerate(blobs):
        cols = [None] * n_cols
        cols[spec.column_names.index("floors")] = k + 1
        cols[spec.column_names.index("floor_area")] = 10.5 * (k + 1)
        rows.append([bytearray(b) if b is not None else None, *cols, f"u{k}", f"r{k}", kit.T1, "received", 0, 1])
    with PgCountyDB.open(county_pg) as db:
        with db.transaction():
            fids = db.insert_features(spec, rows)
            more = db.insert_features(spec, [[gpkg.encode([shapely.box(120.43, 40.5, 120.4301, 40.5001)])[0],
                                              7, "u9", "r9", kit.T2, "received", 0, 1]], columns=["floors"])
        assert fids == sorted(fids) and len(set(fids)) == 3 and more[0] > fids[-1]
        got = db.conn.execute('SELECT fid, ST_AsText(geom), ST_SRID(geom), floors, floor_area, census_uuid '
                              'FROM "rural_house" ORDER BY fid').fetchall()
        assert [g[0] for g in got] == fids + more
        assert shapely.from_wkt(got[0][1]).equals(shapes[0]) and got[0][2] == 4490
        assert got[1][3:] == (2, 21.0, "u1") and got[2][1] is None
        assert got[3][3:] == (7, None, "u9")
        # replace: new geometry and values; state only
        new = shapely.box(120.45, 40.55, 120.4502, 40.5502)
        cols = [None] * n_cols
        cols[spec.column_names.index("floors")] = 9
        with db.transaction():
            db.replace_features(spec, [[gpkg.encode([new])[0], *cols, "u0", "r0b", kit.T1, "has_issues", 0, 0],
                                       [None, *cols, "u1", "r1b", kit.T1, "received", 0, 1]], fids[:2])
            db.set_feature_state(spec, [("approved", 1, fids[2])])
        got = db.conn.execute('SELECT ST_AsText(geom), floors, census_revision, census_state, census_conflict '
                              'FROM "rural_house" WHERE fid = ANY(?) ORDER BY fid', (fids,)).fetchall()
        assert shapely.from_wkt(got[0][0]).equals(new) and got[0][1:] == (9, "r0b", "has_issues", 0)
        assert got[1][0] is None and got[1][2] == "r1b" and got[2][3:] == ("approved", 1)
        assert db.feature_counts()["rural_house"] == 4
        # a spatial query uses PostGIS
        assert db.conn.execute('SELECT count(*) FROM "rural_house" WHERE geom && ST_MakeEnvelope(120.40, 40.50, '
                               '120.415, 40.525, 4490)').fetchone()[0] == 0   # u0 moved away
        # a non-spatial form: plain rows, fids too
        tspec = layer_spec(forms["disaster_annual"])
        with db.transaction():
            tf = db.insert_features(tspec, [[None] * len(tspec.columns) + ["t1", "tr1", kit.T1, "received", 0, 1]])
        assert db.conn.execute(f'SELECT census_uuid FROM "{tspec.table}" WHERE fid = ?', (tf[0],)).fetchone() == ("t1",)


def test_records_revisions_and_key_clashes(county_pg):
    with PgCountyDB.open(county_pg) as db:
        with db.transaction():
            lid = db.add_ledger({"file_name": "p", "file_sha256": "s", "received_at": "t", "outcome": "accepted"})
            ids = db.insert_records([("u1", "rural_house", kit.T1, None, "r1", "received", 0, 1, lid, lid, "t", None),
                                     ("u2", "rural_house", kit.T1, "k", "r2", "received", 0, 1, lid, lid, "t", None)])
            content = json.dumps({"data": {"名": "值"}}, ensure_ascii=False)
            sha = hashlib.sha256(content.encode("utf-8")).hexdigest()
            db.insert_revisions([(ids[0], "r1", "u1", "", "rural_house", "2020.1", kit.T1, "d", "t", "张三", lid, 1, "[]",
                                  bytearray(content.encode("utf-8")), sha),
                                 (ids[1], "r2", "u2", "r0", "rural_house", "2020.1", kit.T1, "d", "t", "张三", lid, 1,
                                  "[]", content, sha)])
            cid = db.insert_conflict({"record_uuid": "u1", "form_id": "rural_house", "township": kit.T1,
                                      "revision_ids": "[]", "status": "open", "opened_at": "t", "updated_at": "t"})
        assert ids == sorted(ids) and lid >= 1 and cid >= 1
        assert db.revision("r1")["content"] == content and db.revision("r1")["parent_revision_id"] is None
        assert db.revision("r2")["parent_revision_id"] == "r0"
        assert db.known_revisions(["r1", "r2", "nope"]) == {"r1": "u1", "r2": "u2"}
        assert db.known_revisions([]) == {}
        assert set(db.records_by_uuid(["u1", "u2"])) == {"u1", "u2"} and db.records_by_uuid([]) == {}
        assert db.revision_nodes([ids[0]]) == {ids[0]: [("r1", None, "t", 0)]}
        assert set(db.open_conflicts(["u1", "u2"])) == {"u1"}
        assert db.package_revision_digests()[lid] == (2, hashlib.sha256(2 * sha.encode()).hexdigest(), 0)
        assert db.record_inconsistencies() == [] and db.orphan_revisions() == 0
        for bad in (lambda: db.insert_records([("u1", "rural_house", kit.T1, None, "r9", "received", 0, 1, lid, lid,
                                                "t", None)]),
                    lambda: db.insert_revisions([(ids[0], "r1", "u1", "", "rural_house", "2020.1", kit.T1, "d", "t",
                                                  "x", lid, 1, "[]", "{}", "h")])):
            with pytest.raises(db.IntegrityError) as info, db.transaction():
                bad()
            assert db.known_key_clash(info.value)
        with pytest.raises(db.IntegrityError) as info:
            with db.transaction():
                db.add_ledger({"file_name": "p", "file_sha256": "s", "received_at": "t", "outcome": "accepted"})
        assert not db.known_key_clash(info.value)   # the ledger's once-only index is something else
        before = db.table_checksums(["census_records", "census_revisions"])
        assert db.table_checksums(["census_records", "census_revisions"]) == before
        _sql(county_pg, "UPDATE census_revisions SET content = '{}' WHERE revision_id = 'r2'")
        after = db.table_checksums()
        assert after["census_records"] == before["census_records"]
        assert after["census_revisions"] != before["census_revisions"]
        assert "rural_house" in after and "spatial_ref_sys" not in after


# ---------------------------------------------------------------------------------------------------
# concurrency

def _wait_for(pred, what: str, tries: int = 2000) -> None:
    import time
    for _ in range(tries):
        if pred():
            return
        time.sleep(0.005)
    raise AssertionError(f"gave up waiting for {what}")


def test_writers_take_turns_and_readers_never_wait(county_pg):
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first():
        try:
            with PgCountyDB.open(county_pg) as db, db.transaction():
                db.append_audit("first", None, {}, at="2021-01-02")
                holding.set()
                release.wait(60)
        except BaseException as e:   # pragma: no cover - reported below
            errors.append(e)
            holding.set()

    def second():
        try:
            with PgCountyDB.open(county_pg) as db, db.transaction():
                db.append_audit("second", None, {}, at="2021-01-02")
        except BaseException as e:   # pragma: no cover
            errors.append(e)

    a = threading.Thread(target=first)
    a.start()
    assert holding.wait(60)
    b = threading.Thread(target=second)
    b.start()
    # the second writer waits for the lock (it does not fail) …
    _wait_for(lambda: _sql(county_pg, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND wait_event_type = 'Lock' AND wait_event = 'advisory'")[0][0] == 1,
              "the second writer to wait on the advisory lock")
    assert b.is_alive()
    # … while a reader is served at once, without the uncommitted row
    with PgCountyDB.open(county_pg, readonly=True) as db:
        assert [r["action"] for r in db.audit_rows()] == ["init"]
    release.set()
    a.join(60)
    b.join(60)
    assert not errors, errors
    with PgCountyDB.open(county_pg, readonly=True) as db:
        assert [r["action"] for r in db.audit_rows()] == ["init", "first", "second"] and db.verify_audit().ok


def test_many_concurrent_writers_keep_one_audit_chain(county_pg):
    n_threads, per_thread = 4, 15
    start = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def writer(k: int):
        try:
            with PgCountyDB.open(county_pg) as db:
                start.wait(60)
                for i in range(per_thread):
                    with db.transaction():
                        db.append_audit("note", None, {"writer": k, "i": i}, at="2021-01-02")
                        with db.savepoint():
                            db.set_setting(f"w{k}", str(i))
        except BaseException as e:   # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with PgCountyDB.open(county_pg, readonly=True) as db:
        rows = db.audit_rows()
        assert len(rows) == 1 + n_threads * per_thread and db.verify_audit().ok
        assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
        assert all(db.setting(f"w{k}") == str(per_thread - 1) for k in range(n_threads))


# ---------------------------------------------------------------------------------------------------
# connection errors

def test_unreachable_server_and_missing_database_are_explained(pg_server, pg_url):
    bad_port = "postgresql://census:s3cret@127.0.0.1:1/county"
    with pytest.raises(pg.ServerError) as info:
        PgCountyDB.open(bad_port)
    text = str(info.value)
    assert "无法连接" in text and "cannot reach" in text and "postgresql://census:***@127.0.0.1:1/county" in text
    assert "s3cret" not in text
    assert not pg.has_census_db(bad_port)
    missing = pg_server.rsplit("/", 1)[0] + "/no_such_db_" + uuid.uuid4().hex[:6]
    with pytest.raises(pg.DatabaseMissing) as info:
        open_county(missing)
    assert isinstance(info.value, FileNotFoundError) and "CREATE DATABASE" in str(info.value)
    assert "没有数据库" in info.value.message_zh and "has no database" in info.value.message_en
    assert not pg.has_census_db(missing)
    # an empty database is not a county geodatabase
    assert not pg.has_census_db(pg_url)
    with pytest.raises(NotACountyDB) as info:
        open_county(pg_url)
    assert "census county init" in str(info.value)


def test_postgis_missing_is_explained(other_db):
    with pytest.raises(pg.PostgisMissing) as info:
        pg.connect(other_db)
    assert "PostGIS" in info.value.message_zh and "CREATE EXTENSION postgis" in info.value.message_en
    conn = pg.connect(other_db, require_postgis=False)
    conn.close()


# ---------------------------------------------------------------------------------------------------
# the county flow end to end, against the same flow on a GeoPackage

def _scenario(target, tmp: Path) -> dict:
    """Init is done; enrol, import (new, advancing, conflicting, invalid, duplicate, forged), review,
    resolve, feedback, status and verify — and what came out."""
    from sync.county import (
        county_status,
        issue_feedback,
        resolve_conflict,
        review_record,
        verify_county,
    )

    a = kit.enrol(target, kit.T1)
    b = kit.enrol(target, kit.T1, "李四")
    c = kit.enrol(target, kit.T2, "王五")
    houses = a.houses(40)
    a.revise(kit.house("BAD", kit.VILLAGES[kit.T1][0], 125.0, 40.5, year_built=2030))   # invalid, outside
    forms = kit.forms()
    a.revise({"site_id": "C1", "location": {"type": "Point", "coordinates": [120.45, 40.55]}},
             form_id="chemical_danger_site", form_version=forms["chemical_danger_site"].version)
    c.houses(25)
    out = tmp / "pk"
    p1, p3 = a.export(out), c.export(out)
    r = houses[0]
    b.revisions.append(r)
    b.revise(kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.41, 40.51, floors=3),
             record_uuid=r["record_uuid"], parent=r["revision_id"])
    p2 = b.export(out)
    a.ack = 1
    tip = a.revise(kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.41, 40.51, floors=1),
                   record_uuid=r["record_uuid"], parent=r["revision_id"])
    r5 = houses[5]
    a.revise(kit.house(r5["data"]["building_id"], r5["data"]["village_code"], 120.42, 40.52, floors=4),
             record_uuid=r5["record_uuid"], parent=r5["revision_id"])
    p4 = a.export(out, revisions=a.revisions[-2:])
    forged = tmp / "forged.censuspkg"
    forged.write_bytes(p1.read_bytes()[:-10] + b"0123456789")
    # a new record first, then one already held: the all-new attempt meets the UNIQUE key and gives way
    fresh = c.revise(kit.house("B211481101299999", kit.VILLAGES[kit.T2][0], 120.55, 40.55))
    p5 = c.export(out, revisions=[fresh, c.revisions[0]])
    res = kit.import_(target, [p1, p2, p3, p4, p1, forged, p5], workers=0)
    outcomes = [(x.outcome, x.stored, x.new_records, x.advanced, x.conflicts, x.invalid, x.known) for x in res]
    with open_county(target, readonly=True) as db:
        conflict = db.conflicts(status="open")[0]
        approvable = [rec for rec in (db.record(h["record_uuid"]) for h in houses[10:13])]
    resolved = resolve_conflict(target, conflict["record_uuid"], keep=tip["revision_id"], note="n", actor="审核员",
                                forms=forms)
    reviewed = review_record(target, approvable[0]["record_uuid"], state="approved", actor="审核员")
    review_record(target, approvable[1]["record_uuid"], state="rejected", note="重拍", actor="审核员")
    _, fb = issue_feedback(target, township=kit.T1, out_dir=tmp / "fb")
    status = county_status(target)
    rep = verify_county(target)
    with open_county(target, readonly=True) as db:
        features = {}
        spec = db.layer_specs()["rural_house"]
        for rec_uuid, fid in db.conn.execute("SELECT record_uuid, feature_fid FROM census_records WHERE form_id = ?",
                                             ("rural_house",)):
            features[rec_uuid] = fid
        states = sorted(tuple(r) for r in db.conn.execute(
            'SELECT census_state, census_conflict, census_valid, floors FROM "rural_house"').fetchall())
        counts = db.feature_counts()
        mism = {f: db.feature_mismatches(s) for f, s in db.layer_specs().items()}
        ledger = [(r["outcome"], r["reason_code"], r["stored"]) for r in db.ledger()]
        audit = [r["action"] for r in db.audit_rows()]
        conflicts = [(c["status"], c["resolution"] is not None) for c in db.conflicts()]
        assert spec.geometry_type == "Polygon"
    town_rows = [{k: v for k, v in row.items() if k not in ("last_package",)} for row in status.townships]
    return {"outcomes": outcomes, "resolved": (resolved["review_state"], resolved["has_conflict"],
                                                resolved["current_revision_id"] == tip["revision_id"]),
            "reviewed": reviewed["review_state"], "feedback": sorted((i.state, i.form_id) for i in fb.items),
            "status": town_rows, "packages": status.ledger, "verify": (rep.ok, rep.audit_rows, rep.packages,
                                                                      rep.revisions, rep.records),
            "findings": [f.line() for f in rep.findings], "states": states, "counts": counts, "mismatches": mism,
            "ledger": ledger, "audit": audit, "conflicts": conflicts, "n_features": len(features)}


def test_the_county_flow_gives_the_same_results_on_postgis_and_geopackage(county_pg, tmp_path):
    on_pg = _scenario(county_pg, tmp_path / "pg")
    on_gpkg = _scenario(kit.init_county(tmp_path / "gpkg"), tmp_path / "g")
    assert on_pg == on_gpkg
    assert on_pg["verify"][0], on_pg["findings"]
    assert [o[0] for o in on_pg["outcomes"]] == ["accepted", "accepted", "accepted", "accepted", "duplicate",
                                                 "rejected", "accepted"]
    assert on_pg["outcomes"][6] == ("accepted", 1, 1, 0, 0, 0, 1)
    assert on_pg["outcomes"][1][3] == 1 and on_pg["outcomes"][3][4] == 1   # advanced, then in conflict
    assert on_pg["conflicts"] == [("resolved", True)] and ("rejected", "rural_house") in on_pg["feedback"]
    # side files of the server database live in its local folder
    side = anchor_path(county_pg).parent
    assert len(list((side / "received").glob("*.censuspkg"))) == 5
    assert len(list((side / "quarantine").glob("*.reason.txt"))) == 1
    assert (side / (anchor_path(county_pg).name + ".keys.json")).is_file()


def test_verify_on_postgis_finds_edited_revisions_and_stale_layers(county_pg, tmp_path):
    from sync.county import verify_county

    a = kit.enrol(county_pg, kit.T1)
    a.houses(12)
    [res] = kit.import_(county_pg, [a.export(tmp_path / "p")])
    assert res.outcome == "accepted" and verify_county(county_pg).ok
    _sql(county_pg, "UPDATE census_revisions SET content = content || ' ' WHERE id = (SELECT min(id) "
                    "FROM census_revisions)")
    _sql(county_pg, 'UPDATE "rural_house" SET census_revision = \'x\' WHERE fid = (SELECT min(fid) FROM "rural_house")')
    codes = {f.code for f in verify_county(county_pg).findings}
    assert {"REVISION_CONTENT", "LAYER_STALE"} <= codes


def test_a_package_imported_twice_at_once_is_accepted_once(county_pg, tmp_path):
    """Two importers (two processes, as two ``census county import`` runs) on one county at the same
    time: they take turns; one accepts the package, the other finds it a duplicate."""
    import os
    import subprocess
    import sys

    a = kit.enrol(county_pg, kit.T1)
    a.houses(30)
    pkg = a.export(tmp_path / "p")
    code = ("import sys; from tests.sync import kit; "
            "print(kit.import_(sys.argv[1], [sys.argv[2]])[0].outcome)")
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", code, county_pg, str(pkg)], cwd=root, env=dict(os.environ),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    assert sorted(o.strip().splitlines()[-1] for o, _ in outs) == ["accepted", "duplicate"]
    with PgCountyDB.open(county_pg, readonly=True) as db:
        assert db.feature_counts()["rural_house"] == 30 and db.verify_audit().ok
        assert [r["outcome"] for r in db.ledger()] == ["accepted", "duplicate"]


# ---------------------------------------------------------------------------------------------------
# approval and upward bookkeeping (the PostgreSQL versions of geodb.county_upward's SQLite-only SQL)

def test_upward_sql_on_postgis(county_pg, tmp_path):
    from geodb import county_upward as CU

    a = kit.enrol(county_pg, kit.T1)
    a.houses(8)
    a.revise(kit.house("BAD", kit.VILLAGES[kit.T1][0], 125.0, 40.5, year_built=2030))
    kit.import_(county_pg, [a.export(tmp_path / "p")])
    U = PgUpwardSQL
    with PgCountyDB.open(county_pg) as db:
        assert db.upward_sql is PgUpwardSQL
        assert U.review_counts(db) == {"records": 9, "approvable": 8, "already_approved": 0, "rejected": 0,
                                       "conflicts": 0, "with_issues": 1}
        assert U.review_counts(db, township=kit.T2)["records"] == 0
        with db.transaction():
            rows = CU.approvable_records(db, township=kit.T1)   # portable: runs as written
            fids = {"rural_house": [int(r[3]) for r in rows]}
            n = U.approve_all(db, township=kit.T1, form_id=None, actor="审核员", note=None, at="t", fids_by_form=fids)
        assert n == 8 == len(rows)
        assert db.conn.execute("SELECT count(*) FROM \"rural_house\" WHERE census_state = 'approved'").fetchone()[0] == 8
        assert U.approved_counts(db) == {kit.T1: {"rural_house": {"records": 9, "approved": 8, "valid": 8,
                                                                  "conflicts": 0}}}
        assert not U.has_upward_tables(db)
        with db.transaction():
            U.ensure_upward_tables(db)
            U.ensure_upward_tables(db)   # idempotent
            approved = CU.approved_current(db)
            eid = U.add_upward_export(db, {"sequence": 1, "acknowledged_through": 0, "created_at": "t", "city": "211400",
                                           "file_name": "f", "file_sha256": "s", "records": len(approved)},
                                      [(r["record_uuid"], r["revision_id"]) for r in approved])
            CU.set_upward_audit(db, eid, 5, "h")
        assert U.has_upward_tables(db) and eid >= 1 and len(approved) == 8
        links = U.revision_links(db, [r["record_uuid"] for r in approved[:2]])
        assert set(links) == {r["record_uuid"] for r in approved[:2]}
        assert db.conn.execute("SELECT count(*) FROM census_upward_items WHERE export_id = ?", (eid,)).fetchone()[0] == 8
        assert db.conn.execute("SELECT i.revision_id FROM census_upward_items i JOIN census_upward_exports e "
                               "ON e.id = i.export_id WHERE e.sequence <= ?", (1,)).fetchall()
