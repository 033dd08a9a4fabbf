"""The county import's faster paths keep every guarantee of the plain ones.

Workers stage the archive copy of a package and send its rows ready to insert; the writer fills in only
what the database assigns, writes the R-tree entries of a whole group at its commit, and runs ahead of
the lower-priority workers. Whatever the path, the county holds the same rows, the R-tree matches the
layer, GDAL's triggers are in place, and rejected or duplicate packages leave nothing behind.
"""

import json
import os
import shutil
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from geodb import gpkg
from sync import county_import as ci
from sync.county import verify_county
from sync.formats import FormatError, Revision
from tests.sync import kit


def _gpkg_county(county_template, tmp_path):
    return kit.copy_county(county_template, tmp_path / "county")


def _rtree_matches_layer(county):
    conn = sqlite3.connect(f"file:{county}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT rtreecheck('rtree_rural_house_geom')").fetchone() == ("ok",)
        got = conn.execute("SELECT id, minx, maxx, miny, maxy FROM rtree_rural_house_geom ORDER BY id").fetchall()
        feats = conn.execute("SELECT fid, geom FROM rural_house WHERE geom IS NOT NULL ORDER BY fid").fetchall()
        assert [r[0] for r in got] == [f for f, _ in feats]
        want = gpkg.rtree_values([gpkg.envelope(g) for _, g in feats])
        assert np.array_equal(np.array([r[1:] for r in got], dtype=np.float64).reshape(-1, 4), want.astype(np.float64))
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type='trigger'"))
    finally:
        conn.close()


def _no_temp_files(county):
    for d in ("received", "quarantine"):
        folder = kit.side(county) / d
        assert not list(folder.glob(".tmp-*")) if folder.is_dir() else True


def test_a_group_through_workers_has_its_rtree_and_keeps_each_package_atomic(county_template, tmp_path):
    """As test_group_commit_keeps_each_package_atomic, through worker processes, one commit group: the
    middle package fails after part of it was written; the R-tree holds exactly the other two's features."""
    county = _gpkg_county(county_template, tmp_path)
    triggers = _rtree_matches_layer(county)
    a = kit.enrol(county, kit.T1)
    b = kit.enrol(county, kit.T1, "李四")
    p1 = a.export(tmp_path / "a", revisions=a.houses(40))
    stolen = dict(a.revisions[0], record_uuid="0" * 8 + "-0000-4000-8000-" + "0" * 12)
    p2 = b.export(tmp_path / "b", revisions=[*b.houses(30), {**stolen, "device_id": b.device_id}])
    c = kit.enrol(county, kit.T2, "王五")
    p3 = c.export(tmp_path / "c", revisions=c.houses(25))
    res = kit.import_(county, [p1, p2, p3], workers=2, group={"group_packages": 10})
    assert [r.outcome for r in res] == ["accepted", "rejected", "accepted"]
    assert res[1].reason_code == "record_identity"
    assert kit.rows(county, "SELECT count(*) FROM rural_house")[0][0] == 65
    assert _rtree_matches_layer(county) == triggers
    assert kit.rows(county, "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name='rural_house'") == [(65,)]
    # the rejected package: quarantined with its very bytes, not archived; the others archived as sent
    q = kit.side(county) / "quarantine"
    assert kit.sha256(next(q.glob(f"*_{p2.name}"))) == res[1].sha256 == kit.sha256(p2)
    assert not list((kit.side(county) / "received").glob(f"*{p2.name}"))
    for p, r in ((p1, res[0]), (p3, res[2])):
        assert kit.sha256(kit.side(county) / "received" / f"{r.sha256[:16]}_{p.name}") == kit.sha256(p)
    _no_temp_files(county)
    assert verify_county(county).ok


def test_workers_and_one_process_store_the_same_and_duplicates_leave_no_copy(county, tmp_path):
    one = county
    a, b = kit.enrol(one, kit.T1), kit.enrol(one, kit.T2, "李四")
    many = kit.clone(one, tmp_path / "clone")       # the same county with the same devices
    paths = [a.export(tmp_path / "p", revisions=a.houses(30)), b.export(tmp_path / "p", revisions=b.houses(20))]
    r = a.revisions[0]
    a.revise(kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.42, 40.52, floors=3),
             record_uuid=r["record_uuid"], parent=r["revision_id"])     # an advance: the general path
    paths.append(a.export(tmp_path / "p", revisions=[a.revisions[-1], *a.houses(5, start=30)]))
    r1 = kit.import_(one, paths, workers=0)
    r2 = kit.import_(many, paths, workers=2, group={"group_packages": 2})
    assert [x.outcome for x in r1] == [x.outcome for x in r2] == ["accepted"] * 3
    assert [x.as_dict() | {"ledger_id": 0} for x in r1] == [x.as_dict() | {"ledger_id": 0} for x in r2]
    tables = ("census_records", "census_revisions", "census_conflicts", "rural_house")
    q = ("SELECT record_uuid, current_revision_id, review_state, valid, key_value FROM census_records",
         "SELECT revision_id, record_uuid, parent_revision_id, content, content_sha256, valid, problems FROM census_revisions",
         "SELECT census_uuid, census_revision, census_state, floors, building_id FROM rural_house")
    for sql in q:
        assert sorted(kit.rows(one, sql)) == sorted(kit.rows(many, sql))
    led = lambda c: [(x["file_sha256"], x["file_bytes"], x["revisions"], x["stored"], x["revisions_sha256"])  # noqa: E731
                     for x in kit.ledger(c)]
    assert led(one) == led(many)
    # the same packages again through workers: duplicates, nothing staged is left behind
    before = kit.checksums(many, tables)
    r3 = kit.import_(many, paths, workers=2)
    assert [x.outcome for x in r3] == ["duplicate"] * 3
    assert kit.checksums(many, tables) == before
    _no_temp_files(many)
    assert len(list((kit.side(many) / "received").glob("*.censuspkg"))) == 3
    assert verify_county(many).ok


def _prepared_in_worker(county, path):
    """A package prepared as a worker does it (archive staged), for the writer's side."""
    from geodb.target import open_county
    from schemas.catalogue import all_forms  # noqa: F401 (kit.forms() is the catalogue here)
    from sync import keys as K

    with open_county(county) as db:
        specs = db.ensure_layers(kit.forms().values())
        keys_file = K.keys_path_for(Path(county))
        cfg = ci.prepare_config(db, specs, K.load_county_keys(keys_file) if keys_file.is_file() else None)
    adir = kit.side(county) / "received"
    adir.mkdir(exist_ok=True)
    cfg.archive_dir = str(adir)
    return ci._unpack(ci._prepare_in_worker(str(path), cfg, kit.forms())), specs


def _apply(county, prep, specs):
    from geodb.target import open_county

    with open_county(county) as db:
        done = []
        imp = ci.Importer(db, specs, on_commit=done.append)
        imp.apply(prep)
        imp.commit()
    return done[0]


def test_a_staged_copy_that_vanished_is_written_from_the_package_itself(county_template, tmp_path):
    county = _gpkg_county(county_template, tmp_path)
    a = kit.enrol(county)
    p = a.export(tmp_path / "p", revisions=a.houses(12))
    prep, specs = _prepared_in_worker(county, p)
    assert prep.data is None and prep.staged and Path(prep.staged).is_file()
    assert Path(prep.staged).name.startswith(".tmp-") and kit.sha256(prep.staged) == kit.sha256(p)
    Path(prep.staged).unlink()          # e.g. another import run cleaned up meanwhile
    res = _apply(county, prep, specs)
    assert res.outcome == "accepted"
    assert kit.sha256(kit.side(county) / "received" / f"{res.sha256[:16]}_{p.name}") == kit.sha256(p)
    assert verify_county(county).ok


def test_a_package_changed_after_checking_with_its_staged_copy_gone_is_rejected(county_template, tmp_path):
    county = _gpkg_county(county_template, tmp_path)
    a = kit.enrol(county)
    p = a.export(tmp_path / "p", revisions=a.houses(12))
    prep, specs = _prepared_in_worker(county, p)
    Path(prep.staged).unlink()
    p.write_bytes(p.read_bytes() + b"\0")
    before = kit.checksums(county)
    res = _apply(county, prep, specs)
    assert res.outcome == "rejected" and res.reason_code == "changed"
    assert kit.has_cjk(res.message_zh) and p.name in res.message_en
    assert kit.checksums(county) == before
    assert [x["outcome"] for x in kit.ledger(county)] == ["rejected"]
    assert not list((kit.side(county) / "received").glob("*.censuspkg"))
    assert verify_county(county).ok


def test_a_package_already_archived_is_not_staged_again(county_template, tmp_path):
    county = _gpkg_county(county_template, tmp_path)
    a = kit.enrol(county)
    p = a.export(tmp_path / "p", revisions=a.houses(5))
    prep, specs = _prepared_in_worker(county, p)
    shutil.copy(prep.staged, kit.side(county) / "received" / f"{prep.sha256[:16]}_{p.name}")
    Path(prep.staged).unlink()
    again, _ = _prepared_in_worker(county, p)
    assert again.staged == "" and again.data is None
    assert _apply(county, again, specs).outcome == "accepted"
    assert verify_county(county).ok


def _priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


def test_workers_run_at_a_lower_priority_than_the_writer():
    with ProcessPoolExecutor(max_workers=1, initializer=ci._worker_init, initargs=(ci.WORKER_NICE,),
                             mp_context=ci._mp_context()) as pool:
        worker = pool.submit(_priority).result()
    assert worker == min(19, _priority() + ci.WORKER_NICE)
    mine = _priority()
    ci._worker_init(0)                    # no change asked: none made
    assert _priority() == mine


# ---------------------------------------------------------------------------------------------------
# Revisions: the quick check accepts exactly what the full one does

def _revision(**changes) -> dict:
    d = {"record_uuid": "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "revision_id": "2c4e28ba-2fa1-41d2-883f-0016d3cca427",
         "parent_revision_id": None, "form_id": "rural_house", "form_version": "2020.1", "township": "211481100",
         "status": "final", "created_at": "2021-06-01T08:00:00+00:00", "created_by": "张三",
         "device_id": "3d4e28ba-2fa1-41d2-883f-0016d3cca427", "data": {"a": 1}, "problems": []}
    d.update(changes)
    return d


@pytest.mark.parametrize("changes", [
    {}, {"parent_revision_id": "4e4e28ba-2fa1-41d2-883f-0016d3cca427"}, {"problems": [{"path": "a"}]},
    {"created_at": "2021-06-01T08:00:00Z"}, {"status": "draft"},
])
def test_quick_revision_check_gives_what_the_full_check_gives(changes):
    d = _revision(**changes)
    assert Revision.from_dict(json.loads(json.dumps(d))) == Revision._checked(d, "修订记录")


@pytest.mark.parametrize("changes", [
    {"record_uuid": "1b4e28ba-2fa1-41d2-883f-0016d3cca427\n"},      # a JSON string may end in a newline
    {"revision_id": "2C4E28BA-2fa1-41d2-883f-0016d3cca427"},
    {"device_id": "3d4e28ba-2fa1-41d2-883f-0016d3cca427\n"},
    {"parent_revision_id": "2c4e28ba-2fa1-41d2-883f-0016d3cca427"},  # its own parent
    {"township": ["211481100"]}, {"created_by": {"x": 1}}, {"status": ["final"]}, {"form_version": 2020},
    {"created_at": "yesterday"}, {"extra": 1},
])
def test_quick_revision_check_refuses_what_the_full_check_refuses(changes):
    d = _revision(**changes)
    with pytest.raises(FormatError):
        Revision._checked(d, "修订记录")
    with pytest.raises(FormatError):
        Revision.from_dict(d)
    d.pop("problems")
    with pytest.raises(FormatError):
        Revision.from_dict(d)


def test_quick_revision_check_remembers_only_what_it_checked():
    good = _revision()
    assert Revision.from_dict(good).device_id == good["device_id"]
    # the same shared fields, one of them now of another type: checked again, refused
    with pytest.raises(FormatError):
        Revision.from_dict(_revision(created_by=1))
    # a parsed dict given to Revision stays the caller's: the revision does not change with it
    d = _revision()
    rev = Revision.from_dict(d)
    d["township"] = "999999999"
    assert rev.township == "211481100"


# ---------------------------------------------------------------------------------------------------
# Worker results through a folder in memory; the run's configuration pickled once

def test_worker_results_travel_through_a_spool_folder_removed_at_the_end(county_template, tmp_path, monkeypatch):
    county = _gpkg_county(county_template, tmp_path)
    root = tmp_path / "shm"
    root.mkdir()
    monkeypatch.setattr(ci, "SPOOL_ROOT", root)
    stale = root / f"{ci.SPOOL_PREFIX}999999999-abc"        # left by a run killed outright
    stale.mkdir()
    (stale / ".tmp-x").write_bytes(b"x")
    alive = root / f"{ci.SPOOL_PREFIX}{os.getpid()}-def"     # another run still going: kept
    alive.mkdir()
    seen = []
    unpack = ci._unpack

    def spy(prep):
        seen.append((prep.packed_path, prep.packed is None))
        if prep.packed_path:
            assert Path(prep.packed_path).parent.parent == root
        return unpack(prep)

    monkeypatch.setattr(ci, "_unpack", spy)
    a, b = kit.enrol(county), kit.enrol(county, kit.T2, "李四")
    paths = [a.export(tmp_path / "p", revisions=a.houses(20)), b.export(tmp_path / "p", revisions=b.houses(20)),
             a.export(tmp_path / "p", revisions=a.houses(5, start=20))]
    res = kit.import_(county, paths, workers=2)
    assert [r.outcome for r in res] == ["accepted"] * 3
    assert len(seen) == 3 and all(path and gone for path, gone in seen)
    assert not stale.exists() and alive.is_dir()
    assert [p.name for p in root.iterdir()] == [alive.name]      # this run's folder is gone too
    assert kit.rows(county, "SELECT count(*) FROM rural_house") == [(45,)]
    assert verify_county(county).ok


def test_a_spool_folder_that_cannot_take_the_result_leaves_it_in_the_pipe(county_template, tmp_path):
    county = _gpkg_county(county_template, tmp_path)
    a = kit.enrol(county)
    p = a.export(tmp_path / "p", revisions=a.houses(8))
    from geodb.target import open_county
    from sync import keys as K

    with open_county(county) as db:
        specs = db.layer_specs()
        cfg = ci.prepare_config(db, specs, K.load_county_keys(K.keys_path_for(Path(county))))
    cfg.spool_dir = str(tmp_path / "missing")                  # gone: the write fails
    prep = ci._prepare_in_worker(str(p), cfg, kit.forms())
    assert prep.packed is not None and prep.packed_path is None
    cfg.spool_dir = str(tmp_path)
    spooled = ci._prepare_in_worker(str(p), cfg, kit.forms())
    assert spooled.packed is None and Path(spooled.packed_path).is_file()
    one, two = ci._unpack(prep), ci._unpack(spooled)
    assert one.cols == two.cols and not list(tmp_path.glob(".tmp-*"))


def test_a_worker_unpickles_the_runs_configuration_once(county_template, tmp_path):
    import pickle

    county = _gpkg_county(county_template, tmp_path)
    a = kit.enrol(county)
    paths = [a.export(tmp_path / "p", revisions=a.houses(4, start=4 * i)) for i in range(2)]
    from geodb.target import open_county

    with open_county(county) as db:
        cfg = ci.prepare_config(db, db.layer_specs(), None)
    shared = pickle.dumps((cfg, kit.forms()))
    ci._shared.clear()
    first = ci._prepare_shared(str(paths[0]), shared)
    args = ci._shared["args"]
    second = ci._prepare_shared(str(paths[1]), bytes(bytearray(shared)))   # equal bytes, another object
    assert ci._shared["args"] is args
    assert first.rejection is None and second.rejection is None and second.n == 4
    ci._worker_init(0)
    assert not ci._shared


def test_a_groups_archive_renames_are_synced_once_before_its_commit(county_template, tmp_path, monkeypatch):
    import sync.package as P
    from geodb.county import CountyDB

    county = _gpkg_county(county_template, tmp_path)
    events = []
    monkeypatch.setattr(P, "_sync_dir", lambda folder: events.append(("sync", Path(folder).name)))
    commit = CountyDB.commit

    def spy(self):
        events.append(("commit",))
        return commit(self)

    monkeypatch.setattr(CountyDB, "commit", spy)
    a, b = kit.enrol(county), kit.enrol(county, kit.T2, "李四")
    paths = [a.export(tmp_path / "p", revisions=a.houses(10)), b.export(tmp_path / "p", revisions=b.houses(10)),
             a.export(tmp_path / "p", revisions=a.houses(5, start=10))]
    res = kit.import_(county, paths, workers=2, group={"group_packages": 10})
    assert [r.outcome for r in res] == ["accepted"] * 3
    assert events[-2:] == [("sync", "received"), ("commit",)]
    assert events.count(("sync", "received")) == 1
    for p, r in zip(paths, res):
        assert kit.sha256(kit.side(county) / "received" / f"{r.sha256[:16]}_{p.name}") == kit.sha256(p)
