"""County import: duplicates, order, conflicts, invalid records, odd values, audit and ledger tampering."""

import json
import math

import pytest

from sync.county import county_status, issue_feedback, verify_county
from sync.package import load_feedback
from tests.sync import kit


def _records(gpkg):
    return {u: (cur, state, conflict) for u, cur, state, conflict in kit.rows(
        gpkg, "SELECT record_uuid, current_revision_id, review_state, has_conflict FROM census_records")}


def test_same_package_imported_5_times(county, tmp_path):
    dev = kit.enrol(county)
    dev.houses(6)
    path = dev.export(tmp_path / "out")
    first = kit.import_(county, [path])[0]
    assert first.outcome == "accepted" and first.stored == 6
    after_first = kit.checksums(county)
    results = kit.import_(county, [path, path]) + kit.import_(county, [path]) + kit.import_(county, [path])
    assert [r.outcome for r in results] == ["duplicate"] * 4
    assert all(r.accepted for r in results) and all(r.ledger_id == first.ledger_id for r in results)
    assert kit.checksums(county) == after_first
    assert kit.rows(county, "SELECT count(*) FROM census_revisions")[0][0] == 6
    assert kit.rows(county, "SELECT count(*) FROM rural_house")[0][0] == 6
    assert [r["outcome"] for r in kit.ledger(county)] == ["accepted"] + ["duplicate"] * 4
    # a copy with another name is the same bytes: still a duplicate
    copy = tmp_path / "renamed.censuspkg"
    copy.write_bytes(path.read_bytes())
    assert kit.import_(county, [copy])[0].outcome == "duplicate"
    assert verify_county(county).ok


def test_older_package_after_newer(county, tmp_path):
    dev = kit.enrol(county)
    [r1] = dev.houses(1)
    p1 = dev.export(tmp_path / "out")                                   # seq 1: r1
    r2 = dev.revise(kit.house(r1["data"]["building_id"], r1["data"]["village_code"], 120.45, 40.55, floors=3),
                    record_uuid=r1["record_uuid"], parent=r1["revision_id"])
    p2 = dev.export(tmp_path / "out")                                   # seq 2: r1, r2 (nothing acknowledged)
    p3 = dev.export(tmp_path / "out", revisions=[r2], acknowledged_through=1)  # seq 3: only r2
    res = kit.import_(county, [p3, p2, p1])
    assert [r.outcome for r in res] == ["accepted"] * 3
    assert res[0].new_records == 1 and res[1].known == 1 and res[1].stored == 1 and res[2].known == 1
    assert res[1].out_of_order and res[2].out_of_order
    assert [bool(r["out_of_order"]) for r in kit.ledger(county)] == [False, True, True]
    assert _records(county) == {r1["record_uuid"]: (r2["revision_id"], "received", 0)}
    assert kit.rows(county, "SELECT floors, census_revision FROM rural_house") == [(3, r2["revision_id"])]
    assert not kit.rows(county, "SELECT * FROM census_conflicts")
    assert verify_county(county).ok


def test_conflict_keeps_both_versions(county, tmp_path):
    a = kit.enrol(county, kit.T1, "张三")
    b = kit.enrol(county, kit.T1, "李四")
    [r1] = a.houses(1)
    bid, vil = r1["data"]["building_id"], r1["data"]["village_code"]
    ra = a.revise(kit.house(bid, vil, 120.41, 40.52, floors=2, owner_name="甲"), record_uuid=r1["record_uuid"],
                  parent=r1["revision_id"])
    b.revisions.append(r1)   # B took the record over from A (same revision), then both edited it
    rb = b.revise(kit.house(bid, vil, 120.41, 40.52, floors=3, owner_name="乙"), record_uuid=r1["record_uuid"],
                  parent=r1["revision_id"])
    pa, pb = a.export(tmp_path / "a"), b.export(tmp_path / "b")
    res = kit.import_(county, [pa, pb])
    assert [r.outcome for r in res] == ["accepted", "accepted"]
    assert res[1].conflicts == 1 and res[1].known == 1 and res[1].stored == 1
    # every version is kept; the current one is not overwritten by the later package
    stored = {rid for (rid,) in kit.rows(county, "SELECT revision_id FROM census_revisions")}
    assert stored == {r1["revision_id"], ra["revision_id"], rb["revision_id"]}
    assert _records(county) == {r1["record_uuid"]: (ra["revision_id"], "received", 1)}
    [(status, ids)] = kit.rows(county, "SELECT status, revision_ids FROM census_conflicts")
    assert status == "open" and set(json.loads(ids)) == {ra["revision_id"], rb["revision_id"]}
    assert kit.rows(county, "SELECT owner_name, census_conflict FROM rural_house") == [("甲", 1)]
    # the feedback names both versions for the township to settle
    path, fb = issue_feedback(county, township=kit.T1, out_dir=tmp_path / "fb")
    items = [i for i in fb.items if i.state == "conflict"]
    assert {i.revision_id for i in items} == {ra["revision_id"], rb["revision_id"]}
    assert all("两台设备" in i.message_zh and "two devices" in i.message_en for i in items)
    assert fb.acknowledged_through == {a.device_id: 1, b.device_id: 1}
    keys = kit.rows(county, "SELECT value FROM census_settings WHERE key='county_sign_public_key'")[0][0]
    assert load_feedback(path, county_sign_public_key=keys).items == fb.items
    # importing either package again changes nothing
    before = kit.checksums(county)
    assert [r.outcome for r in kit.import_(county, [pb, pa])] == ["duplicate", "duplicate"]
    assert kit.checksums(county) == before
    assert verify_county(county).ok


def test_invalid_records_stored_never_dropped(county, tmp_path):
    dev = kit.enrol(county)
    good = dev.houses(3)
    vs = kit.VILLAGES[kit.T1]
    dev.revise(kit.house("BX1", vs[0], 120.42, 40.55, year_built=2021))            # after the reference point
    dev.revise(kit.house("BX2", "211481199999", 120.42, 40.56))                    # unknown village
    path = dev.export(tmp_path / "out")
    [res] = kit.import_(county, [path])
    assert res.outcome == "accepted" and res.stored == 5 and res.invalid == 2 and res.new_records == 5
    states = dict(kit.rows(county, "SELECT building_id, census_state FROM rural_house"))
    assert states["BX1"] == "has_issues" and states["BX2"] == "has_issues"
    assert all(states[r["data"]["building_id"]] == "received" for r in good)
    codes = {json.loads(p)[0]["code"] for (p,) in kit.rows(county, "SELECT problems FROM census_revisions WHERE valid=0")}
    assert codes == {"REFERENCE_DATE", "DIVISION_UNKNOWN"}
    _, fb = issue_feedback(county, township=kit.T1, out_dir=tmp_path / "fb")
    assert sorted(i.state for i in fb.items) == ["has_issues", "has_issues"]
    assert all(kit.has_cjk(i.message_zh) and i.message_en and i.problems for i in fb.items)


def test_nan_and_out_of_boundary_coordinates(county, tmp_path):
    dev = kit.enrol(county)
    vs = kit.VILLAGES[kit.T1]
    # 1. NaN / Infinity are not JSON: the package is refused as malformed, with the line named
    for token in (b"NaN", b"Infinity", b"-Infinity"):
        rev = dev.revise(kit.house("BN", vs[0], 120.42, 40.55))
        line = kit.jsonl([rev]).replace(b"120.42,", token + b",", 1)
        p = kit.forge_package(tmp_path / token.decode(), dev.enrolment, {"data/rural_house.jsonl": line})
        res = kit.assert_rejected(county, p, "malformed_json")
        assert "第 1 行" in res.message_zh and token.decode() in res.message_en
    # 2. far outside the county, absurdly large, or swapped lon/lat: stored, marked, geometry kept verbatim
    out = dev.revise(kit.house("BO1", vs[0], 125.5, 40.55))
    huge = dev.revise(kit.house("BO2", vs[0], 120.42, 40.55))
    swapped = dev.revise(kit.house("BO3", vs[0], 40.55, 120.42))
    body = kit.jsonl([out, swapped]) + kit.jsonl([huge]).replace(b"120.42,", b"1e400,", 1)
    p = kit.forge_package(tmp_path / "outside", dev.enrolment, {"data/rural_house.jsonl": body}, sequence=5)
    [res] = kit.import_(county, [p])
    assert res.outcome == "accepted" and res.invalid == 3
    rows = dict(kit.rows(county, "SELECT building_id, geom IS NULL FROM rural_house"))
    assert rows == {"BO1": 1, "BO2": 1, "BO3": 1}
    problems = {json.loads(p)[0]["code"] for (p,) in kit.rows(county, "SELECT problems FROM census_revisions")}
    assert problems <= {"GEOMETRY_OUTSIDE", "GEOMETRY_PARSE"} and "GEOMETRY_OUTSIDE" in problems
    (content,) = kit.rows(county, "SELECT content FROM census_revisions WHERE revision_id=?", (out["revision_id"],))[0]
    assert json.loads(content)["data"]["footprint"]["coordinates"][0][0] == [125.5, 40.55]
    assert math.isinf(json.loads([c for (c,) in kit.rows(county, "SELECT content FROM census_revisions")
                                  if "1e400" in c][0])["data"]["footprint"]["coordinates"][0][0][0])
    assert verify_county(county).ok


def test_sql_looking_strings_stored_verbatim(county, tmp_path):
    dev = kit.enrol(county)
    vs = kit.VILLAGES[kit.T1]
    nasty = {
        "owner_name": "Robert'); DROP TABLE census_records; --",
        "remarks": "\" OR \"1\"=\"1; DELETE FROM rural_house WHERE 1=1; /* 备注 */ \x00end",
        "use_other": "'; UPDATE census_audit SET hash='x'; --",
    }
    rev = dev.revise(kit.house("B'; DROP TABLE rural_house;--", vs[0], 120.42, 40.55, use="other", **nasty))
    bad_village = dev.revise(kit.house("B2", "2114811002' OR '1'='1", 120.42, 40.56))
    path = dev.export(tmp_path / "out")
    [res] = kit.import_(county, [path])
    assert res.outcome == "accepted" and res.stored == 2
    tables = kit.table_names(county)
    assert {"census_records", "rural_house", "census_audit"} <= tables
    [(bid, owner, remarks, use_other)] = kit.rows(
        county, "SELECT building_id, owner_name, remarks, use_other FROM rural_house WHERE census_uuid=?",
        (rev["record_uuid"],))
    assert (bid, owner, use_other) == ("B'; DROP TABLE rural_house;--", nasty["owner_name"], nasty["use_other"])
    # PostgreSQL text cannot hold U+0000: the flattened column drops it, the revision keeps it verbatim
    expected = nasty["remarks"].replace("\x00", "") if kit.is_pg(county) else nasty["remarks"]
    assert remarks in (expected, expected.strip())
    (content,) = kit.rows(county, "SELECT content FROM census_revisions WHERE revision_id=?",
                          (bad_village["revision_id"],))[0]
    assert json.loads(content)["data"]["village_code"] == "2114811002' OR '1'='1"
    assert kit.rows(county, "SELECT count(*) FROM rural_house")[0][0] == 2
    assert verify_county(county).ok


def test_audit_row_edited_found_by_verify(county, tmp_path):
    dev = kit.enrol(county)
    dev.houses(3)
    path = dev.export(tmp_path / "out")
    kit.import_(county, [path])
    assert verify_county(county).ok
    # the append-only triggers stop a casual edit ...
    with pytest.raises(kit.DB_ERRORS):
        kit.execute(county, "UPDATE census_audit SET actor='someone' WHERE seq=2")
    # ... so an attacker drops them first, then edits a row
    kit.execute(county, kit.drop_trigger_sql(county, "census_audit_no_update"),
                "UPDATE census_audit SET detail=replace(detail, '\"township\"', '\"townshiq\"') WHERE action='enrol'")
    rep = verify_county(county)
    codes = {f.code for f in rep.findings}
    assert {"AUDIT_HASH", "AUDIT_TRIGGER"} <= codes
    assert all(kit.has_cjk(f.message_zh) and f.message_en for f in rep.findings)


def test_ledger_and_revision_tampering_found_by_verify(county, tmp_path):
    dev = kit.enrol(county)
    dev.houses(4)
    kit.import_(county, [dev.export(tmp_path / "out")])

    def tamper(sql):
        kit.execute(county, sql)
        return {f.code for f in verify_county(county).findings}

    assert "REVISION_CONTENT" in tamper("UPDATE census_revisions SET content=replace(content, '\"floors\":2', "
                                        "'\"floors\":9') WHERE id=1")
    assert "LEDGER_EDITED" in tamper("UPDATE census_ledger SET file_sha256='00' WHERE id=1")
    assert "REVISIONS_COUNT" in tamper("DELETE FROM census_revisions WHERE id=2")
    assert "LAYER_STALE" in tamper("DELETE FROM rural_house WHERE fid=(SELECT max(fid) FROM rural_house)")


def test_status_expected_received_and_late(county, tmp_path):
    dev = kit.enrol(county)
    dev.houses(4)
    kit.import_(county, [dev.export(tmp_path / "out")])
    rep = county_status(county, deadline="2021-06-30")
    t1 = next(r for r in rep.townships if r["township"] == kit.T1)
    t2 = next(r for r in rep.townships if r["township"] == kit.T2)
    assert t1["forms"]["rural_house"]["expected"] == 10 and t1["received"] == 4 and t1["valid"] == 4
    assert t1["expected"] >= 10 and t1["last_package"] and t2["received"] == 0 and t2["last_package"] is None
    assert t1["late"] and t2["late"]                    # the deadline has passed and neither is complete
    import datetime as dt
    early = county_status(county, deadline="2099-01-01", now=dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc))
    assert not any(r["late"] for r in early.townships)


def test_review_and_resolve_conflict(county, tmp_path):
    import pytest

    from sync.county import CountyError, resolve_conflict, review_record

    a = kit.enrol(county, kit.T1, "张三")
    b = kit.enrol(county, kit.T1, "李四")
    r1, r_other = a.houses(2)
    bid, vil = r1["data"]["building_id"], r1["data"]["village_code"]
    ra = a.revise(kit.house(bid, vil, 120.41, 40.52, owner_name="甲"), record_uuid=r1["record_uuid"], parent=r1["revision_id"])
    b.revisions.append(r1)
    rb = b.revise(kit.house(bid, vil, 120.41, 40.52, owner_name="乙"), record_uuid=r1["record_uuid"], parent=r1["revision_id"])
    kit.import_(county, [a.export(tmp_path / "a"), b.export(tmp_path / "b")])
    with pytest.raises(CountyError):
        review_record(county, r1["record_uuid"], state="approved")          # not while in conflict
    with pytest.raises(CountyError):
        resolve_conflict(county, r1["record_uuid"], keep=r_other["revision_id"], forms=kit.forms())
    rec = resolve_conflict(county, r1["record_uuid"], keep=rb["revision_id"], note="核实为乙", forms=kit.forms())
    assert rec["current_revision_id"] == rb["revision_id"] and rec["has_conflict"] == 0
    assert kit.rows(county, "SELECT owner_name, census_conflict FROM rural_house WHERE census_uuid=?",
                    (r1["record_uuid"],)) == [("乙", 0)]
    assert kit.rows(county, "SELECT set_aside FROM census_revisions WHERE revision_id=?", (ra["revision_id"],)) == [(1,)]
    assert kit.rows(county, "SELECT status FROM census_conflicts") == [("resolved",)]
    assert review_record(county, r1["record_uuid"], state="approved")["review_state"] == "approved"
    rej = review_record(county, r_other["record_uuid"], state="rejected", note="面积有误")
    assert rej["review_state"] == "rejected"
    _, fb = issue_feedback(county, township=kit.T1, out_dir=tmp_path / "fb")
    assert [(i.record_uuid, i.state) for i in fb.items] == [(r_other["record_uuid"], "rejected")]
    assert "面积有误" in fb.items[0].message_zh
    # A keeps editing its set-aside version: a new conflict, nothing overwritten
    a.revise(kit.house(bid, vil, 120.41, 40.52, owner_name="甲2"), record_uuid=r1["record_uuid"], parent=ra["revision_id"])
    [res] = kit.import_(county, [a.export(tmp_path / "a", revisions=a.revisions[-1:], acknowledged_through=1)])
    assert res.conflicts == 1
    assert kit.rows(county, "SELECT owner_name, census_conflict, census_state FROM rural_house WHERE census_uuid=?",
                    (r1["record_uuid"],)) == [("乙", 1, "received")]
    actions = [a for (a,) in kit.rows(county, "SELECT action FROM census_audit ORDER BY seq")]
    assert actions.count("review") == 2 and actions.count("resolve") == 1
    assert verify_county(county).ok


def test_group_commit_keeps_each_package_atomic(county, tmp_path):
    """Three packages in one commit group; the middle one turns out bad only after part of it was
    written (a revision id already used by another record): it alone is rolled back and quarantined."""
    a = kit.enrol(county, kit.T1)
    b = kit.enrol(county, kit.T1, "李四")
    p1 = a.export(tmp_path / "a", revisions=a.houses(5))
    stolen = dict(a.revisions[0], record_uuid="0" * 8 + "-0000-4000-8000-" + "0" * 12)
    good = b.houses(3)
    p2 = b.export(tmp_path / "b", revisions=[*good, {**stolen, "device_id": b.device_id}])
    c = kit.enrol(county, kit.T2, "王五")
    p3 = c.export(tmp_path / "c", revisions=c.houses(4))
    committed = []
    res = kit.import_(county, [p1, p2, p3], group={"group_packages": 10}, on_result=committed.append)
    assert [r.outcome for r in res] == ["accepted", "rejected", "accepted"] == [r.outcome for r in committed]
    assert res[1].reason_code == "record_identity" and "另一条记录" in res[1].message_zh
    assert kit.rows(county, "SELECT count(*) FROM census_revisions")[0][0] == 9
    assert kit.rows(county, "SELECT count(*) FROM rural_house")[0][0] == 9
    assert [r["outcome"] for r in kit.ledger(county)] == ["accepted", "rejected", "accepted"]
    assert not list((kit.side(county) / "received").glob(f"*{p2.name}"))
    assert list((kit.side(county) / "quarantine").glob(f"*{p2.name}.reason.txt"))
    assert verify_county(county).ok


def test_3_packages_through_worker_processes_store_what_one_process_stores(county, tmp_path):
    a, b = kit.enrol(county), kit.enrol(county, kit.T2, "李四")
    a.houses(12)
    a.revise(kit.house("BAD", kit.VILLAGES[kit.T1][0], 125.0, 40.5, year_built=2030))      # invalid, outside
    b.houses(7)
    paths = [a.export(tmp_path / "p"), b.export(tmp_path / "p")]
    r = a.revisions[0]
    a.revise(kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.42, 40.52, floors=3),
             record_uuid=r["record_uuid"], parent=r["revision_id"])                        # an advance
    paths.append(a.export(tmp_path / "p", revisions=a.revisions[-1:], acknowledged_through=1))
    single = kit.clone(county, tmp_path / "single")
    assert [x.outcome for x in kit.import_(county, paths, workers=2)] == ["accepted"] * 3
    assert [x.outcome for x in kit.import_(single, paths, workers=0)] == ["accepted"] * 3
    queries = ("SELECT revision_id, record_uuid, parent_revision_id, valid, problems, content, content_sha256 "
               "FROM census_revisions ORDER BY revision_id",
               "SELECT record_uuid, current_revision_id, review_state, valid, key_value FROM census_records "
               "ORDER BY record_uuid",
               f"SELECT census_uuid, census_revision, census_state, census_valid, floors, {kit.geom_hex_sql(county)} "
               "FROM rural_house ORDER BY census_uuid",
               "SELECT revisions_sha256, stored, new_records, advanced, invalid FROM census_ledger ORDER BY id")
    if not kit.is_pg(county):   # GeoPackage: the R-tree GDAL keeps beside the layer
        queries += ("SELECT r.id, f.census_uuid FROM rtree_rural_house_geom r JOIN rural_house f ON f.fid = r.id "
                    "ORDER BY f.census_uuid",)
    for q in queries:
        assert kit.rows(county, q) == kit.rows(single, q), q
    assert kit.rows(county, "SELECT count(*) FROM census_revisions")[0][0] == 21
    assert verify_county(county).ok and verify_county(single).ok


def test_layer_rows_hold_every_answer_after_new_records_and_advances(county, tmp_path):
    """Columns empty in a whole package are left out when preparing; an advance or a merged record then
    gets the full row back, each answer in its own column."""
    from geodb.county import Flattener
    from geodb.target import open_county

    a = kit.enrol(county)
    first = a.houses(3)
    p1 = a.export(tmp_path / "p")
    r = first[0]
    newer = kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.42, 40.52, floors=3,
                      retrofitted="1", remarks="加固后复查")
    a.revise(newer, record_uuid=r["record_uuid"], parent=r["revision_id"])              # an advance
    fresh = kit.house("B-NEW", kit.VILLAGES[kit.T1][1], 120.43, 40.53)
    fresh.pop("retrofitted")
    a.revise(fresh)                                                                      # a new record …
    a.revise({**fresh, "floors": 1}, record_uuid=a.revisions[-1]["record_uuid"],
             parent=a.revisions[-1]["revision_id"])                                     # … with two revisions
    p2 = a.export(tmp_path / "p", revisions=a.revisions[-3:], acknowledged_through=1)
    res = kit.import_(county, [p1, p2])
    assert [(x.outcome, x.new_records, x.advanced) for x in res] == [("accepted", 3, 0), ("accepted", 1, 1)]
    with open_county(county, readonly=True) as db:
        spec = db.layer_specs()["rural_house"]
        flat = Flattener(spec)
        for rec in db.conn.execute("SELECT record_uuid, current_revision_id FROM census_records").fetchall():
            content = json.loads(db.revision(rec[1])["content"])
            row = db.conn.execute(f"SELECT {', '.join(spec.column_names)} FROM rural_house WHERE census_uuid=?",
                                  (rec[0],)).fetchone()
            got, want = dict(zip(spec.column_names, row)), dict(zip(spec.column_names, flat.row(content["data"])))
            assert content["data"]["year_built"] == 1995 and got.pop("year_band") == "3"   # calculated: 1991–2000
            want.pop("year_band")
            assert got == want, rec
    assert verify_county(county).ok


def test_a_package_mixing_new_and_known_records_is_stored_once_through_the_general_path(county, tmp_path):
    """The all-new attempt meets a record the county holds after inserting others: it is undone whole and
    the merge decides, leaving exactly one row per record and revision."""
    a = kit.enrol(county)
    first = a.houses(2)
    p1 = a.export(tmp_path / "p")
    a.revise(kit.house("B-NEW", kit.VILLAGES[kit.T1][1], 120.43, 40.53))               # new, comes first
    r = first[1]
    a.revise(kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.42, 40.52, floors=3),
             record_uuid=r["record_uuid"], parent=r["revision_id"])                    # an advance
    p2 = a.export(tmp_path / "p", revisions=a.revisions[-2:], acknowledged_through=1)
    res = kit.import_(county, [p1, p2], group={"group_packages": 1})
    assert [(x.outcome, x.new_records, x.advanced, x.stored) for x in res] == [("accepted", 2, 0, 2),
                                                                              ("accepted", 1, 1, 2)]
    assert kit.rows(county, "SELECT count(*) FROM census_records")[0][0] == 3
    assert kit.rows(county, "SELECT count(*) FROM census_revisions")[0][0] == 4
    assert kit.rows(county, "SELECT count(*) FROM rural_house")[0][0] == 3
    if not kit.is_pg(county):
        assert kit.rows(county, "SELECT count(*) FROM rtree_rural_house_geom")[0][0] == 3
    assert kit.rows(county, "SELECT floors FROM rural_house WHERE census_uuid=?", (r["record_uuid"],)) == [(3,)]
    assert verify_county(county).ok
