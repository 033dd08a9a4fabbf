"""census city migrate (and a county that has reported up): GeoPackages moved to PostGIS, both sides go on."""

from __future__ import annotations

import json

import psycopg
import pytest

from geodb import layers as L
from geodb import pg_migrate
from geodb.target import anchor_path
from sync.approval import approve_records
from sync.city import city_status, verify_city
from sync.county import resolve_conflict, verify_county
from sync.migrate import MigrateError, migrate_city, migrate_county
from tests.city import kit_city
from tests.sync import kit


def build(site: kit_city.Site) -> dict:
    """Three upward packages with a conflicting re-report, a confidential form, a duplicate and a
    rejected package at the city (receipts written), and a result layer in the city GeoPackage."""
    import geopandas as gpd
    import shapely

    a = kit.enrol(site.county, kit.T1, "张三")
    b = kit.enrol(site.county, kit.T1, "李四")
    [r1] = a.houses(1)
    a.houses(4, start=1)
    a.revise(dict(kit_city.CHEMICAL_SITE), form_id="chemical_danger_site")
    kit.import_(site.county, [a.export(site.tmp / "a")])
    approve_records(site.county)
    p1 = site.up()
    bid, vil = r1["data"]["building_id"], r1["data"]["village_code"]
    ra = a.revise(kit.house(bid, vil, 120.41, 40.52, floors=2), record_uuid=r1["record_uuid"], parent=r1["revision_id"])
    kit.import_(site.county, [a.export(site.tmp / "a", revisions=[ra], acknowledged_through=1)])
    approve_records(site.county)
    p2 = site.up()
    b.revisions.append(r1)
    rb = b.revise(kit.house(bid, vil, 120.41, 40.52, floors=3), record_uuid=r1["record_uuid"], parent=r1["revision_id"])
    kit.import_(site.county, [b.export(site.tmp / "b", revisions=[rb])])
    resolve_conflict(site.county, r1["record_uuid"], keep=rb["revision_id"], forms=kit.forms())
    approve_records(site.county)
    p3 = site.up()
    bad = site.tmp / "flipped.censusup"
    data = bytearray(p3.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    res = site.city_import([p1, p2, p3, p1, bad])
    assert [r.outcome for r in res] == ["accepted", "accepted", "accepted", "duplicate", "rejected"]
    towns = gpd.GeoDataFrame({"code": [kit.T1, kit.T2], "level": [1, 3], "loss": [1.5, 0.25]},
                             geometry=[shapely.box(120.4, 40.5, 120.5, 40.7), shapely.box(120.5, 40.5, 120.6, 40.7)],
                             crs=4490)
    L.write_layer(site.city, towns, "risk_townships", geometry_type="MultiPolygon", promote_to_multi=True,
                  description="风险评估：乡镇 / risk per township")
    return {"device": a, "first": p1}


def strip(status: dict) -> dict:
    return {k: v for k, v in status.items() if k != "now"}


def assert_same(gpkg, url, opener) -> None:
    with opener(gpkg, readonly=True) as db:
        src = db.table_checksums()
    with opener(url, readonly=True) as db:
        dst = db.table_checksums()
    spatial = kit.spatial_tables(url)
    assert {t for t in src if not t.startswith("gpkg_")} <= set(dst)
    for t in sorted((set(src) & set(dst)) - {"census_audit"}):
        if t in spatial:
            assert kit.layer_rows(gpkg, t) == kit.layer_rows(url, t), t
        elif not t.startswith("risk_"):
            assert src[t] == dst[t], t


def test_city_and_county_move_to_postgis_and_go_on(gpkg_site, pg_url, pg_url2):
    from geodb.target import open_city, open_county

    site = gpkg_site
    made = build(site)
    city_sha, county_sha = kit.sha256(site.city), kit.sha256(site.county)
    city_audit = kit.rows(site.city, "SELECT * FROM census_audit ORDER BY seq")
    # the county has reported up: its upward log moves with it
    rc = migrate_county(site.county, pg_url2)
    assert {"census_upward_exports", "census_upward_items"} <= set(rc.layers["census"])
    assert rc.tables["census_upward_exports"] == 3
    assert_same(site.county, pg_url2, open_county)
    rep = verify_county(pg_url2)
    assert rep.ok, [f.line() for f in rep.findings]
    # the city: every table, layer and audit row, the keys, received/, quarantine/, receipts/, enrolments/
    (site.city.parent / "enrolments").mkdir(exist_ok=True)   # where enrol-county writes it by default
    (site.city.parent / "enrolments" / "211481_city_enrolment.json").write_bytes(site.enrolment.read_bytes())
    r = migrate_city(site.city, pg_url)
    assert kit.sha256(site.city) == city_sha and kit.sha256(site.county) == county_sha
    assert r.kind == "city" and r.keys_copied and "risk_townships" in r.layers["layer"]
    assert strip(city_status(pg_url)) == strip(city_status(site.city))
    assert kit_city.city_ledger(pg_url) == kit_city.city_ledger(site.city)
    assert_same(site.city, pg_url, open_city)
    a, b = L.read_dataframe(site.city, "risk_townships"), L.read_dataframe(pg_url, "risk_townships")
    assert a.equals(b) and a.crs == b.crs
    after = kit.rows(pg_url, "SELECT * FROM census_audit ORDER BY seq")
    assert after[:-1] == city_audit and after[-1][3] == "migrate"
    assert json.loads(after[-1][5])["sha256"] == city_sha
    side, src_dir = anchor_path(pg_url).parent, site.city.parent
    for d in ("received", "quarantine", "receipts", "enrolments"):
        assert sorted(p.name for p in (side / d).iterdir()) == sorted(p.name for p in (src_dir / d).iterdir()), d
    assert (side / (anchor_path(pg_url).name + ".keys.json")).read_bytes() == \
        (src_dir / (site.city.name + ".keys.json")).read_bytes()
    rep = verify_city(pg_url)
    assert rep.ok, [f.line() for f in rep.findings]
    # both go on: the county (on its server) reports again, the city (on its server) takes it
    dev = made["device"]
    dev.houses(2, start=20)
    kit.import_(pg_url2, [dev.export(site.tmp / "later", revisions=dev.revisions[-2:], acknowledged_through=dev.seq)])
    approve_records(pg_url2)
    server_site = kit_city.Site(pg_url2, pg_url, site.enrolment, site.tmp)
    p4 = server_site.up()
    assert kit.rows(pg_url2, "SELECT max(sequence) FROM census_upward_exports") == [(4,)]
    res = server_site.city_import([p4, made["first"]])
    assert [x.outcome for x in res] == ["accepted", "duplicate"] and res[0].new_records == 2
    assert verify_city(pg_url).ok and verify_county(pg_url2).ok
    assert kit.sha256(site.city) == city_sha and kit.sha256(site.county) == county_sha


def test_city_migrate_refuses_and_fails_cleanly(gpkg_site, pg_url, monkeypatch):
    site = gpkg_site
    kit_city.approved_houses(site, 3)
    site.city_import([site.up()])
    # a county file is not a city geodatabase, and the other way round
    with pytest.raises(MigrateError) as info:
        migrate_city(site.county, pg_url)
    assert "不是市级普查地理数据库" in info.value.message_zh
    with pytest.raises(MigrateError):
        migrate_county(site.city, pg_url)
    # a failure half way through leaves the database (and the side folder) empty
    real = pg_migrate._Copier._tick

    def tick(self, n):
        real(self, n)
        if self.done > self.total // 2:
            raise RuntimeError("connection lost")
    monkeypatch.setattr(pg_migrate._Copier, "_tick", tick)
    with pytest.raises(RuntimeError):
        migrate_city(site.city, pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert pg_migrate._user_relations(conn) == []
    side = anchor_path(pg_url).parent
    assert not side.exists() or not [p for p in side.rglob("*") if p.is_file()]
    monkeypatch.undo()
    migrate_city(site.city, pg_url)
    assert verify_city(pg_url).ok
    # now it holds a city: refused, unchanged
    with open_city_ro(pg_url) as db:
        before = db.table_checksums()
    with pytest.raises(pg_migrate.TargetNotEmpty):
        migrate_city(site.city, pg_url)
    with open_city_ro(pg_url) as db:
        assert db.table_checksums() == before


def open_city_ro(url):
    from geodb.target import open_city
    return open_city(url, readonly=True)
