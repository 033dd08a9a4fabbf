"""The city geodatabase on PostgreSQL + PostGIS: created in one transaction, and the county → city flow
(upward packages imported, status, verify) giving the same results as on a city GeoPackage."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from geodb import pg
from geodb.city import NotACityDB
from geodb.pg_city import PgCityDB
from geodb.target import anchor_path, open_city
from tests.city import kit_city
from tests.sync import kit


def _site(tmp: Path, city_target) -> kit_city.Site:
    """A county GeoPackage (two townships) and its city at ``city_target`` (a URL or a path), enrolled."""
    from sync.city import enrol_county, init_city

    county = kit.init_county(tmp)
    init_city(city_target, city="2114", sample_root=tmp / "sample", forms=kit.forms())
    _, enrolment = enrol_county(city_target, str(county) + ".keys.json")
    return kit_city.Site(county, city_target, enrolment, tmp)


def _scenario(site: kit_city.Site) -> dict:
    from sync.city import city_status, verify_city
    from sync.county import review_record

    dev, revs = kit_city.approved_houses(site, 12)
    first = site.up()
    r1 = site.city_import([first])
    # a house edited and approved again, a new one, then the next upward package; the first one again
    edited = dev.revise(kit.house(revs[0]["data"]["building_id"], revs[0]["data"]["village_code"], 120.41, 40.52,
                                  floors=5), record_uuid=revs[0]["record_uuid"], parent=revs[0]["revision_id"])
    dev.houses(1, start=50)
    [res] = kit.import_(site.county, [dev.export(site.tmp / "pk", revisions=dev.revisions[-2:])])
    assert res.outcome == "accepted"
    review_record(site.county, edited["record_uuid"], state="approved", actor="审核员")
    from sync.approval import approve_records
    approve_records(site.county)
    second = site.up()
    r2 = site.city_import([second, first])
    status = city_status(site.city)
    rep = verify_city(site.city)
    with open_city(site.city, readonly=True) as db:
        floors = dict(db.conn.execute('SELECT census_uuid, floors FROM "rural_house"').fetchall())
        counts = db.feature_counts()
        audit = [r["action"] for r in db.audit_rows()]
        ledger = [(r["outcome"], r["stored"], r["new_records"], r["advanced"]) for r in db.ledger()]
    return {"outcomes": [(r.outcome, r.stored, r.new_records, r.advanced) for r in (*r1, *r2)],
            "verify": (rep.ok, [f.line() for f in rep.findings], rep.audit_rows, rep.packages, rep.revisions,
                       rep.records),
            "status": _strip(status), "edited_floors": floors[edited["record_uuid"]], "n_features": len(floors),
            "counts": counts, "audit": audit, "ledger": ledger}


def _strip(value):
    """A status document without its clock readings and the county's audit head (hashes over times)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items()
                if k not in ("made_at", "now", "last_received", "received_at", "summary_made_at", "county_audit_head")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def test_the_city_flow_gives_the_same_results_on_postgis_and_geopackage(pg_url, tmp_path):
    on_pg = _scenario(_site(tmp_path / "pg", pg_url))
    on_gpkg = _scenario(_site(tmp_path / "gpkg", tmp_path / "gpkg" / "city" / "city.gpkg"))
    assert on_pg == on_gpkg
    assert on_pg["verify"][0], on_pg["verify"][1]
    assert [o[0] for o in on_pg["outcomes"]] == ["accepted", "accepted", "duplicate"]
    assert on_pg["edited_floors"] == 5 and on_pg["n_features"] == 13
    # the received packages and the city's keys live in the server database's local folder
    side = anchor_path(pg_url).parent
    assert (side / (anchor_path(pg_url).name + ".keys.json")).is_file()
    assert len(list((side / "received").iterdir())) == 2


def test_city_database_layout_and_guards(pg_url, tmp_path):
    from sync.city import verify_city

    _site(tmp_path, pg_url)
    with PgCityDB.open(pg_url, readonly=True) as db:
        assert db.city == kit_city.CITY
        assert set(db.counties()) == {kit.COUNTY}
        assert set(db.townships_by_county()[kit.COUNTY]) == {kit.T1, kit.T2}
        assert db.boundary() is not None and db.boundary().area > 0
        assert db.missing_triggers() == [] and db.verify_audit().ok
        assert db.enrolled_counties()[0]["county"] == kit.COUNTY
        assert db.city_nodes([]) == {}
    types = dict(psycopg.connect(pg_url, autocommit=True).execute(
        "SELECT f_table_name, type FROM geometry_columns").fetchall())
    assert types["city"] == types["counties"] == types["townships"] == types["villages"] == "MULTIPOLYGON"
    assert types["rural_house"] == "POLYGON"
    with pytest.raises(psycopg.errors.IntegrityError):
        psycopg.connect(pg_url, autocommit=True).execute("DELETE FROM census_audit")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE census_audit DISABLE TRIGGER census_audit_no_delete")
        conn.execute("DELETE FROM census_audit WHERE seq = (SELECT max(seq) FROM census_audit)")
    rep = verify_city(pg_url)
    assert "AUDIT_TRIGGER" in {f.code for f in rep.findings}
    # a city opener refuses a database that is not a city geodatabase
    with pytest.raises(NotACityDB):
        open_city(pg_url.rsplit("/", 1)[0] + "/postgres")
    assert pg.has_census_db(pg_url)
