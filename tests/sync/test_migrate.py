"""census county migrate: a county GeoPackage moved into an empty PostGIS database, nothing lost or altered."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from geodb import layers as L
from geodb import pg_migrate
from geodb.target import MovedToServer, anchor_path, display_name, open_county
from sync.county import county_status, issue_feedback, review_record, verify_county
from sync.migrate import MigrateError, migrate_county
from tests.sync import kit

NOW = dt.datetime(2021, 7, 1, tzinfo=dt.timezone.utc)
EXTRA_LAYERS = ("risk_grid", "risk_runs", "danger_points")


def add_result_layers(gpkg) -> None:
    """Layers as risk/danger/history write them: every pyogrio field type, a NULL geometry, an empty layer."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    grid = gpd.GeoDataFrame(
        {"key": np.arange(3, dtype="int64"), "level": np.array([1, 2, 5], dtype="int32"), "loss": [0.5, np.nan, 2.25],
         "ratio": np.array([0.1, 0.2, 0.3], dtype="float32"), "name": ["甲", None, "c"], "flag": [True, False, True],
         "at": pd.to_datetime(["2021-06-01 08:00", "2021-06-02 09:30", None])},
        geometry=[shapely.box(120.4, 40.5, 120.41, 40.51), shapely.box(120.41, 40.5, 120.42, 40.51), None], crs=4490)
    L.write_layer(gpkg, grid, "risk_grid", geometry_type="Polygon", description="风险评估：格网 / risk grid")
    L.write_layer(gpkg, pd.DataFrame({"run_id": ["r1", "r2"], "cells": [3, 4], "ok": [True, False]}), "risk_runs",
                  description="风险评估运行记录 / risk assessment runs")
    empty = gpd.GeoDataFrame({"site": pd.Series([], dtype=object)}, geometry=gpd.GeoSeries([], crs=4490), crs=4490)
    L.write_layer(gpkg, empty, "danger_points", geometry_type="Point")


def build_source(tmp: Path) -> dict:
    """A county GeoPackage with accepted, duplicate and rejected packages, a resolved and an open conflict,
    invalid records, reviews, feedback, bulk approval and result layers; plus what a later import needs."""
    from sync.approval import approve_records
    from sync.county import resolve_conflict

    gpkg = kit.init_county(tmp)
    a = kit.enrol(gpkg, kit.T1, "张三")
    b = kit.enrol(gpkg, kit.T1, "李四")
    c = kit.enrol(gpkg, kit.T2, "王五")
    houses = a.houses(12)
    vs = kit.VILLAGES[kit.T1]
    a.revise(kit.house("BX1", vs[0], 120.42, 40.55, year_built=2030))        # after the reference point
    a.revise(kit.house("BX2", "211481199999", 120.42, 40.56))                 # unknown village
    c.houses(6)
    # two conflicts: one resolved below, one left open
    for r in houses[:2]:
        bid, vil = r["data"]["building_id"], r["data"]["village_code"]
        a.revise(kit.house(bid, vil, 120.41, 40.52, owner_name="甲"), record_uuid=r["record_uuid"], parent=r["revision_id"])
        b.revisions.append(r)
        b.revise(kit.house(bid, vil, 120.41, 40.52, owner_name="乙"), record_uuid=r["record_uuid"], parent=r["revision_id"])
    out = tmp / "pk"
    pa, pb, pc = a.export(out), b.export(out), c.export(out)
    forged = tmp / "forged.censuspkg"
    forged.write_bytes(pa.read_bytes()[:-10] + b"0123456789")
    res = kit.import_(gpkg, [pa, pb, pc, pa, forged])
    assert [r.outcome for r in res] == ["accepted", "accepted", "accepted", "duplicate", "rejected"], \
        [r.line() for r in res]
    with open_county(gpkg, readonly=True) as db:
        first = db.conflicts(status="open")[0]
    keep = next(r for r in b.revisions if r["record_uuid"] == first["record_uuid"] and r["parent_revision_id"])
    resolve_conflict(gpkg, first["record_uuid"], keep=keep["revision_id"], note="核实", forms=kit.forms())
    review_record(gpkg, houses[5]["record_uuid"], state="approved", actor="审核员")
    review_record(gpkg, houses[6]["record_uuid"], state="rejected", note="面积有误", actor="审核员")
    issue_feedback(gpkg, township=kit.T1, out_dir=tmp / "fb")
    approve_records(gpkg, township=kit.T2)
    add_result_layers(gpkg)
    return {"gpkg": gpkg, "device": a, "old_package": pa, "tmp": tmp}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return build_source(tmp_path_factory.mktemp("migrate_source"))


# -- comparing the two databases ------------------------------------------------------------------------

def assert_same_data(gpkg, url) -> None:
    """Bookkeeping tables (but the audit log) row for row (checksums), layers row for row with their geometries, result
    layers as pyogrio / pg_layers read them (same dtypes, values, CRS, geometries)."""
    import pandas as pd

    src, dst = kit.all_checksums(gpkg), kit.all_checksums(url)
    spatial = kit.spatial_tables(url)
    shared = (set(src) & set(dst)) - set(EXTRA_LAYERS) - {"census_audit"}   # the audit log: one row more, below
    assert {t for t in src if not t.startswith("gpkg_")} <= set(dst)      # every table came along
    for t in sorted(shared):
        if t in spatial:
            assert kit.layer_rows(gpkg, t) == kit.layer_rows(url, t), t
        else:
            assert src[t] == dst[t], t
    for layer in EXTRA_LAYERS:
        a, b = L.read_dataframe(gpkg, layer), L.read_dataframe(url, layer)
        pd.testing.assert_frame_equal(a, b)
        if hasattr(a, "crs"):
            assert a.crs == b.crs


def status(target) -> dict:
    return county_status(target, now=NOW).as_dict()


# -- tests -----------------------------------------------------------------------------------------------

def test_migrate_moves_everything_and_the_copy_works_on(source, pg_url, tmp_path):
    gpkg = source["gpkg"]
    before = kit.sha256(gpkg)
    mtime = gpkg.stat().st_mtime_ns
    audit_before = [tuple(r) for r in kit.rows(gpkg, "SELECT * FROM census_audit ORDER BY seq")]
    seen = []
    r = migrate_county(gpkg, pg_url, progress=lambda done, total: seen.append((done, total)))
    # the GeoPackage was only read
    assert kit.sha256(gpkg) == before and gpkg.stat().st_mtime_ns == mtime
    assert r.sha256 == before and r.audit_seq == len(audit_before) + 1 and not r.notes
    assert seen and seen[-1][0] == seen[-1][1] == r.rows
    assert set(r.layers["form"]) == set(kit.FORM_IDS) and set(EXTRA_LAYERS) <= set(r.layers["layer"])
    # the same county, the same answers
    status_at_migration = status(gpkg)
    assert status(pg_url) == status_at_migration
    assert kit.ledger(pg_url) == kit.ledger(gpkg)
    url = pg_url
    assert_same_data(gpkg, url)
    # the chain verbatim (same hashes), then one migrate row naming the file
    audit_after = [tuple(r) for r in kit.rows(url, "SELECT * FROM census_audit ORDER BY seq")]
    assert audit_after[:-1] == audit_before
    seq, _, _, action, obj, detail, prev, _ = audit_after[-1]
    d = json.loads(detail)
    assert (seq, action, obj, prev) == (len(audit_before) + 1, "migrate", kit.COUNTY, audit_before[-1][-1])
    assert d["sha256"] == before and d["source"] == str(gpkg.resolve()) and d["file_bytes"] == gpkg.stat().st_size
    assert d["tables"]["census_revisions"] == kit.rows(gpkg, "SELECT count(*) FROM census_revisions")[0][0]
    assert d["tables"] == r.tables and d["tables"]["risk_grid"] == 3
    # side files beside the server database: keys, the archive verify re-hashes, quarantine
    side = anchor_path(url).parent
    assert kit.keys_file(url).read_bytes() == kit.keys_file(gpkg).read_bytes()
    assert kit.keys_file(url).stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in (side / "received").iterdir()) == \
        sorted(p.name for p in (gpkg.parent / "received").iterdir())
    assert len(list((side / "quarantine").glob("*.reason.txt"))) == 1
    rep = verify_county(url)
    assert rep.ok, [f.line() for f in rep.findings]
    assert rep.audit_rows == len(audit_before) + 1
    # the server database goes on: a new package is stored after the copied ids, an old one is a duplicate
    dev = source["device"]
    new = dev.revise(kit.house("BNEW1", kit.VILLAGES[kit.T1][0], 120.43, 40.57))
    pnew = dev.export(tmp_path / "new", revisions=[new], acknowledged_through=dev.seq)
    [res] = kit.import_(url, [pnew])
    assert res.outcome == "accepted" and res.new_records == 1, res.line()
    [dup] = kit.import_(url, [source["old_package"]])
    assert dup.outcome == "duplicate"
    n_src = kit.rows(gpkg, "SELECT max(id) FROM census_records")[0][0]
    assert kit.rows(url, "SELECT id FROM census_records WHERE record_uuid=?", (new["record_uuid"],)) == [(n_src + 1,)]
    fid = kit.rows(url, "SELECT feature_fid FROM census_records WHERE record_uuid=?", (new["record_uuid"],))[0][0]
    assert fid == kit.rows(gpkg, "SELECT max(fid) FROM rural_house")[0][0] + 1
    review_record(url, new["record_uuid"], state="approved", actor="审核员")
    rep = verify_county(url)
    assert rep.ok, [f.line() for f in rep.findings]
    assert kit.sha256(gpkg) == before
    # the old file stays a backup: a marker beside it, reading works, every write is refused naming the server
    marker = gpkg.parent / (gpkg.name + ".migrated.json")
    assert json.loads(marker.read_text(encoding="utf-8"))["target"] == display_name(url)
    assert status(gpkg) == status_at_migration   # reading the old file works, and it is as it was
    for write in (lambda: kit.import_(gpkg, [pnew]),
                  lambda: review_record(gpkg, new["record_uuid"], state="approved", actor="审核员"),
                  lambda: L.write_layer(gpkg, L.read_dataframe(gpkg, "risk_runs"), "risk_runs_again")):
        with pytest.raises(MovedToServer) as e:
            write()
        assert display_name(url) in e.value.message_en and display_name(url) in e.value.message_zh
        assert marker.name in e.value.message_zh
    assert kit.sha256(gpkg) == before and not list(gpkg.parent.glob(gpkg.name + "-journal"))


def test_a_target_that_is_not_empty_is_refused_and_left_alone(source, pg_url, pg_server):
    gpkg = source["gpkg"]
    migrate_county(gpkg, pg_url)
    before = kit.all_checksums(pg_url)
    side = sorted(anchor_path(pg_url).parent.rglob("*"))
    with pytest.raises(pg_migrate.TargetNotEmpty) as info:
        migrate_county(gpkg, pg_url)
    assert "已经存放着普查地理数据库" in info.value.message_zh and "already holds a census geodatabase" in \
        info.value.message_en
    assert kit.all_checksums(pg_url) == before and sorted(anchor_path(pg_url).parent.rglob("*")) == side
    # a database holding anything else is not written either
    other = pg_url + "_other"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{other.rsplit("/", 1)[1]}" TEMPLATE census_test_template')
    try:
        with psycopg.connect(other, autocommit=True) as conn:
            conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
            conn.execute("INSERT INTO notes VALUES (1, 'x')")
        with pytest.raises(pg_migrate.TargetNotEmpty) as info:
            migrate_county(gpkg, other)
        assert "notes" in info.value.message_zh and "not empty" in info.value.message_en
        assert kit.rows(other, "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                               "AND tablename <> 'spatial_ref_sys'") == [("notes",)]
        assert not anchor_path(other).parent.exists() or not any(anchor_path(other).parent.iterdir())
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{other.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.mark.parametrize("where", ["mid_copy", "audit_row"])
def test_a_failure_leaves_the_target_as_it_was(source, pg_url, monkeypatch, where):
    gpkg = source["gpkg"]
    before = kit.sha256(gpkg)

    class Boom(RuntimeError):
        pass

    if where == "mid_copy":
        real = pg_migrate._Copier._tick

        def tick(self, n):
            real(self, n)
            if self.done > self.total // 2:   # inside a COPY, half the rows sent
                raise Boom("disk full")
        monkeypatch.setattr(pg_migrate._Copier, "_tick", tick)
    else:
        def append_audit(self, *a, **kw):
            raise Boom("the audit row could not be written")
        monkeypatch.setattr(pg_migrate.COUNTY.store, "append_audit", append_audit)
    with pytest.raises((Boom, MigrateError)):
        migrate_county(gpkg, pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert pg_migrate._user_relations(conn) == []
    side = anchor_path(pg_url).parent
    assert not side.exists() or not [p for p in side.rglob("*") if p.is_file()]
    assert kit.sha256(gpkg) == before
    monkeypatch.undo()
    r = migrate_county(gpkg, pg_url)      # nothing was left behind to stop a second try
    assert verify_county(pg_url).ok and r.tables["rural_house"] > 0


def test_text_postgresql_cannot_hold_is_reported_not_hidden(pg_url, tmp_path):
    gpkg = kit.init_county(tmp_path)
    dev = kit.enrol(gpkg)
    dev.revise(kit.house("B1", kit.VILLAGES[kit.T1][0], 120.42, 40.55, remarks="前\x00后"))
    [res] = kit.import_(gpkg, [dev.export(tmp_path / "out")])
    assert res.outcome == "accepted"
    r = migrate_county(gpkg, pg_url)
    assert kit.rows(pg_url, "SELECT remarks FROM rural_house") == [("前后",)]
    assert any("U+0000" in n for n in r.notes)
    detail = json.loads(kit.rows(pg_url, "SELECT detail FROM census_audit ORDER BY seq DESC LIMIT 1")[0][0])
    assert detail["nul_dropped"] == {"rural_house": 1}
    # the revision itself is the JSON line: verbatim, so verify finds nothing altered
    assert verify_county(pg_url).ok


def test_an_interrupted_import_or_another_file_is_refused_without_touching_it(pg_url, tmp_path, source):
    gpkg = tmp_path / "county.gpkg"
    shutil.copy(source["gpkg"], gpkg)
    journal = Path(str(gpkg) + "-journal")
    journal.write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\0" * 504)
    before = kit.sha256(gpkg)
    with pytest.raises(MigrateError) as info:
        migrate_county(gpkg, pg_url)
    assert "census county verify" in info.value.message_en
    assert kit.sha256(gpkg) == before and journal.is_file()
    journal.unlink()
    with pytest.raises(MigrateError) as info:
        migrate_county(kit.make_sample(tmp_path / "s") / "sample.gpkg", pg_url)
    assert "不是县级普查地理数据库" in info.value.message_zh
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert pg_migrate._user_relations(conn) == []


def test_cli_migrate(source, pg_url, tmp_path):
    from census_cli.main import cli

    runner = CliRunner()
    res = runner.invoke(cli, ["county", "migrate", "--gpkg", str(source["gpkg"]), "--to", pg_url, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["kind"] == "county" and out["sha256"] == kit.sha256(source["gpkg"]) and out["keys_copied"]
    res = runner.invoke(cli, ["county", "verify", "--gpkg", pg_url])
    assert res.exit_code == 0, res.output
    # the old file: an import is refused in one line that names the server; deleting the marker undoes it
    res = runner.invoke(cli, ["county", "import", "--gpkg", str(source["gpkg"]), str(source["old_package"])])
    assert res.exit_code == 1 and "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert "已于" in res.output and "--gpkg postgresql://" in res.output and ".migrated.json" in res.output
    res = runner.invoke(cli, ["county", "migrate", "--gpkg", str(source["gpkg"]), "--to", pg_url])
    assert res.exit_code == 1 and "已经存放着普查地理数据库" in res.output and "already holds" in res.output
    res = runner.invoke(cli, ["county", "migrate", "--gpkg", str(source["gpkg"]), "--to", str(tmp_path / "x.gpkg")])
    assert res.exit_code == 2 and "postgresql://" in res.output
    res = runner.invoke(cli, ["county", "migrate", "--gpkg", str(tmp_path / "none.gpkg"), "--to", pg_url])
    assert res.exit_code == 2


def test_init_refuses_where_a_migrated_file_left_its_marker(tmp_path):
    """The marker outlives the file if someone moves the GeoPackage away: a new county made at the same
    path would be refused every write, so init refuses first, naming the marker."""
    from geodb.target import mark_migrated, refuse_if_migrated, taken

    gone = tmp_path / "county.gpkg"
    assert taken(gone) is None
    marker = mark_migrated(gone, target="postgresql://census:secret@db.example/county", at="2026-11-29T00:00:00+00:00",
                           sha256="0" * 64, audit_seq=7)
    assert taken(gone) == str(marker)
    assert "secret" not in marker.read_text(encoding="utf-8")
    with pytest.raises(MovedToServer) as e:
        refuse_if_migrated(gone)
    assert "postgresql://census:***@db.example/county" in e.value.message_en
    marker.unlink()
    refuse_if_migrated(gone)
    assert taken(gone) is None


def test_init_never_overwrites_a_database_or_a_key_file(tmp_path):
    """County and city init share one check: an existing database, or a key file left where the new one's
    would go, is refused with its name, and nothing already there changes."""
    from sync.city import CityError, init_city
    from sync.county import CountyError, init_county

    gpkg = kit.init_county(tmp_path)
    sample = tmp_path / "sample"
    before = kit.sha256(gpkg), kit.keys_file(gpkg).read_bytes()
    with pytest.raises(CountyError) as e:
        init_county(gpkg, county=kit.COUNTY, sample=sample, forms=kit.forms())
    assert str(gpkg) in e.value.message_zh and "will not be overwritten" in e.value.message_en
    assert (kit.sha256(gpkg), kit.keys_file(gpkg).read_bytes()) == before
    # a key file without its database (moved away, or another database's): refused, kept
    orphan = tmp_path / "other" / "county.gpkg"
    orphan.parent.mkdir()
    kit.keys_file(orphan).write_bytes(b"{}")
    for init, err in ((lambda: init_county(orphan, county=kit.COUNTY, sample=sample, forms=kit.forms()), CountyError),
                      (lambda: init_city(orphan, city="2114", sample_root=tmp_path, forms=kit.forms()), CityError)):
        with pytest.raises(err) as e:
            init()
        assert "county.gpkg.keys.json" in e.value.message_en and "move it away first" in e.value.message_en
        assert not orphan.exists() and kit.keys_file(orphan).read_bytes() == b"{}"
