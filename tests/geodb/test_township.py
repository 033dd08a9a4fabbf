"""The township store: revisions, drafts, audit chain, file import, export bookkeeping, feedback."""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
import uuid
from pathlib import Path

import pytest

from geodb.audit import GENESIS, chain_hash, verify_chain
from geodb.township import (
    DuplicateRecord,
    EnrolmentError,
    FeedbackError,
    KeyFileError,
    NothingToExport,
    TownshipStore,
    read_enrolment,
)
from schemas.errors import Code

COUNTY = "211481"
TOWNSHIP = "211481100"
VILLAGES = ("211481100201", "211481100202")


# ---------------------------------------------------------------------------------------------------
# fixtures built in code

def _canon(d) -> bytes:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _keys():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    def raw_priv(k):
        return k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def raw_pub(k):
        return k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    return Ed25519PrivateKey, X25519PrivateKey, raw_priv, raw_pub


def make_county():
    Ed, X, raw_priv, raw_pub = _keys()
    return {"sign": Ed.generate(), "enc": X.generate()}


def make_enrolment(county_keys=None, township=TOWNSHIP, enumerator="张三", device_id=None) -> dict:
    Ed, X, raw_priv, raw_pub = _keys()
    county_keys = county_keys or make_county()
    dev = Ed.generate()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    doc = {"format": "census-enrolment/1", "county": COUNTY, "county_name": "兴城市", "township": township,
           "township_name": "测试镇", "enumerator": enumerator, "device_id": device_id or str(uuid.uuid4()),
           "issued_at": "2021-03-01T08:00:00+00:00", "device_private_key": b64(raw_priv(dev)),
           "device_public_key": b64(raw_pub(dev)), "county_sign_public_key": b64(raw_pub(county_keys["sign"])),
           "county_encrypt_public_key": b64(raw_pub(county_keys["enc"])),
           "divisions": {"townships": {TOWNSHIP: "测试镇", "211481101": "邻镇"},
                         "villages": {VILLAGES[0]: {"name": "一村", "township": TOWNSHIP},
                                      VILLAGES[1]: {"name": "二村", "township": TOWNSHIP},
                                      "211481101201": {"name": "邻村", "township": "211481101"}}}}
    signed = {k: v for k, v in doc.items() if k != "device_private_key"}
    doc["signature"] = b64(county_keys["sign"].sign(_canon(signed)))
    return doc


def sign_feedback(county_keys, doc: dict) -> dict:
    body = {k: v for k, v in doc.items() if k != "signature"}
    return {**body, "signature": base64.b64encode(county_keys["sign"].sign(_canon(body))).decode()}


def house(building_id="B0001", **over) -> dict:
    rec = {"building_id": building_id, "village_code": VILLAGES[0],
           "footprint": {"type": "Polygon", "coordinates": [[[120.70, 40.60], [120.7002, 40.60], [120.7002, 40.6002],
                                                              [120.70, 40.6002], [120.70, 40.60]]]},
           "use": "residence", "structure_type": "brick_concrete", "floors": 2, "floor_area": 160.0,
           "year_built": 1998, "construction_method": "self", "professional_design": "0",
           "seismic_measures": ["ring_beam"], "retrofitted": "0", "damage": ["none"]}
    rec.update(over)
    return rec


@pytest.fixture
def county():
    return make_county()


@pytest.fixture
def enrol(county):
    return make_enrolment(county)


@pytest.fixture
def store(tmp_path, enrol):
    s = TownshipStore.init(tmp_path / "town.db", enrol)
    yield s
    s.close()


@pytest.fixture
def good():
    return house


# ---------------------------------------------------------------------------------------------------
# the audit chain helper

def test_chain_hash_detects_edits_deletions_and_reordering():
    rows, prev = [], GENESIS
    for i in range(1, 6):
        row = {"seq": i, "at": f"2021-01-0{i}", "actor": "a", "action": "x", "record_uuid": None,
               "revision_id": None, "detail": "{}"}
        h = chain_hash(prev, row)
        rows.append({**row, "prev_hash": prev, "hash": h})
        prev = h
    assert verify_chain(rows).ok and verify_chain(rows).head == prev
    edited = [dict(r) for r in rows]
    edited[2]["actor"] = "mallory"
    rep = verify_chain(edited)
    assert not rep.ok and rep.first_bad == 3 and [b.reason for b in rep.breaks] == ["hash"]
    assert not verify_chain(rows[:2] + rows[3:]).ok
    assert not verify_chain([rows[1], rows[0]] + rows[2:]).ok
    assert not verify_chain(rows[:-1], expected_head=prev).ok  # truncated tail


# ---------------------------------------------------------------------------------------------------
# init and keys

def test_init_keeps_private_key_out_of_the_database(tmp_path, enrol):
    s = TownshipStore.init(tmp_path / "t.db", enrol)
    s.close()
    raw = (tmp_path / "t.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("t.db-*"))
    assert enrol["device_private_key"].encode() not in raw
    key = tmp_path / "t.db.key"
    assert json.loads(key.read_text())["device_private_key"] == enrol["device_private_key"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with TownshipStore.open(tmp_path / "t.db") as s2:
        assert s2.township == TOWNSHIP and s2.signing_enrolment()["device_private_key"] == enrol["device_private_key"]


def test_lost_key_is_restored_from_the_enrolment(tmp_path, enrol, county):
    TownshipStore.init(tmp_path / "t.db", enrol).close()
    (tmp_path / "t.db.key").unlink()
    with TownshipStore.open(tmp_path / "t.db") as s, pytest.raises(KeyFileError):
        s.signing_enrolment()
    with pytest.raises(KeyFileError):
        TownshipStore.restore_key(tmp_path / "t.db", make_enrolment(county))  # someone else's enrolment
    TownshipStore.restore_key(tmp_path / "t.db", enrol)
    with TownshipStore.open(tmp_path / "t.db") as s:
        assert s.signing_enrolment()["device_private_key"] == enrol["device_private_key"]
        assert s.verify().ok


def test_tampered_or_mismatched_enrolment_is_refused(tmp_path, enrol):
    bad = dict(enrol, township="211481101")
    with pytest.raises(EnrolmentError):
        TownshipStore.init(tmp_path / "a.db", bad)
    other = make_enrolment()
    swapped = dict(enrol, device_private_key=other["device_private_key"])
    with pytest.raises(EnrolmentError):
        read_enrolment(swapped)
    assert not (tmp_path / "a.db").exists()


# ---------------------------------------------------------------------------------------------------
# saving: records, revisions, drafts

def test_new_record_then_edit_makes_a_revision_chain(store, good):
    r1 = store.save("rural_house", good())
    assert r1.ok and r1.created and r1.status == "final"
    r2 = store.save("rural_house", good(floors=3, floor_area=240.0), record_uuid=r1.record_uuid)
    assert r2.record_uuid == r1.record_uuid and r2.revision_id != r1.revision_id and not r2.created
    hist = store.history(r1.record_uuid)
    assert [h["revision_id"] for h in hist] == [r1.revision_id, r2.revision_id]
    assert hist[0]["parent_revision_id"] is None and hist[1]["parent_revision_id"] == r1.revision_id
    assert hist[0]["data"]["floors"] == 2 and hist[1]["data"]["floors"] == 3  # the old revision is untouched
    assert store.get(r1.record_uuid)["data"]["floors"] == 3
    # the same data again writes nothing
    r3 = store.save("rural_house", good(floors=3, floor_area=240.0), record_uuid=r1.record_uuid)
    assert r3.unchanged and r3.revision_id is None and len(store.history(r1.record_uuid)) == 2
    audit = store.conn.execute("SELECT action, revision_id, detail FROM audit ORDER BY seq").fetchall()
    assert [a["action"] for a in audit] == ["init", "create", "revise"]
    assert json.loads(audit[2]["detail"])["changed"] == ["floor_area", "floors"]
    assert store.verify().ok


def test_invalid_final_becomes_a_draft_unless_forced(store, good):
    bad = good("B0002", year_built=2023, floor_area=-5)
    r = store.save("rural_house", bad)
    assert not r.ok and r.demoted and r.status == "draft"
    codes = {p.code for p in r.errors}
    assert Code.REFERENCE_DATE in codes or Code.YEAR_RANGE in codes
    got = store.get(r.record_uuid)
    assert got["status"] == "draft" and got["input"]["floor_area"] == -5  # what was typed is kept
    assert store.pending_revisions() == []  # drafts never leave
    forced = store.save("rural_house", bad, record_uuid=r.record_uuid, force=True)
    assert forced.status == "has_issues" and not forced.demoted
    assert [p["revision_id"] for p in store.pending_revisions()] == [forced.revision_id]


def test_export_parent_skips_drafts(store, good):
    a = store.save("rural_house", good())
    b = store.save("rural_house", good(floors=3), record_uuid=a.record_uuid, final=False)
    c = store.save("rural_house", good(floors=4), record_uuid=a.record_uuid)
    pending = {p["revision_id"]: p for p in store.pending_revisions()}
    assert set(pending) == {a.revision_id, c.revision_id}
    assert pending[c.revision_id]["parent_revision_id"] == a.revision_id
    assert store.history(a.record_uuid)[1]["revision_id"] == b.revision_id


def test_duplicate_key_is_refused_for_a_new_record(store, good):
    store.save("rural_house", good())
    with pytest.raises(DuplicateRecord):
        store.save("rural_house", good(floors=5))
    assert store.count("rural_house") == 1


def test_villages_of_other_townships_and_bad_geometry_are_flagged(store, good):
    r = store.save("rural_house", good(village_code="211481101201"))
    assert any(p.code in (Code.DIVISION_UNKNOWN, Code.DIVISION_OUTSIDE) and p.path == "village_code" for p in r.errors)
    r2 = store.save("rural_house", good("B0009", footprint={"type": "Polygon", "coordinates": [[[40.6, 120.7],
                    [40.6, 120.71], [40.61, 120.71], [40.6, 120.7]]]}))
    assert any(p.path == "footprint" for p in r2.errors)


def test_sql_looking_text_is_stored_as_text(store, good):
    evil = "x'); DROP TABLE records; --"
    r = store.save("rural_house", good(owner_name=evil))
    assert store.get(r.record_uuid)["data"]["owner_name"] == evil
    assert store.count() == 1


# ---------------------------------------------------------------------------------------------------
# files

def test_add_file_keeps_valid_rows_and_reports_invalid_ones(store, tmp_path, good):
    import csv

    rows = [good("B1"), good("B2", floors=0), good("B3", year_built="两千年"), good("B4")]
    path = tmp_path / "houses.csv"
    cols = sorted({k for r in rows for k in r} | {"extra_col"})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v for k, v in r.items()})
    rep = store.add_file("rural_house", path)
    assert (rep.rows, rep.valid, rep.invalid, rep.created) == (4, 2, 2, 4)
    assert {p.row for p in rep.problems} == {3, 4}  # spreadsheet rows (header is row 1)
    assert {p.path for p in rep.problems} == {"floors", "year_built"}
    assert rep.unknown_columns == ["extra_col"]
    assert store.count("rural_house", "final") == 2 and store.count("rural_house", "draft") == 2
    again = store.add_file("rural_house", path)  # idempotent
    assert again.unchanged == 4 and store.conn.execute("SELECT count(*) FROM revisions").fetchone()[0] == 4
    # a corrected file turns the drafts into finals: new revisions of the same records
    rows[1]["floors"], rows[2]["year_built"] = 1, 1990
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v for k, v in r.items()})
    fixed = store.add_file("rural_house", path)
    assert fixed.ok and fixed.updated == 2 and fixed.unchanged == 2
    assert store.count("rural_house", "final") == 4 and store.count("rural_house") == 4


def test_add_json_and_xlsx(store, tmp_path, good):
    import openpyxl

    jpath = tmp_path / "h.json"
    jpath.write_text(json.dumps([good("J1"), good("J2", floors=99)], ensure_ascii=False), encoding="utf-8")
    rep = store.add_file("rural_house", jpath)
    assert rep.invalid == 1 and rep.problems[0].row == 2 and rep.problems[0].path == "floors"
    wb = openpyxl.Workbook()
    ws = wb.active
    rec = good("X1")
    cols = list(rec)
    ws.append(cols)
    ws.append([json.dumps(rec[c], ensure_ascii=False) if isinstance(rec[c], (dict, list)) else rec[c] for c in cols])
    wb.save(tmp_path / "h.xlsx")
    rep2 = store.add_file("rural_house", tmp_path / "h.xlsx")
    assert rep2.ok and rep2.created == 1


# ---------------------------------------------------------------------------------------------------
# export bookkeeping (with a stand-in builder; the real one is tested in test_township_sync.py)

def _fake_builder(calls):
    def build(revisions, *, enrolment, sequence, out_dir, acknowledged_through=0):
        calls.append((sequence, [r["revision_id"] for r in revisions], acknowledged_through, enrolment))
        p = Path(out_dir) / f"pkg_{sequence:06d}.censuspkg"
        p.write_text(json.dumps(revisions))
        return p
    return build


def test_export_is_incremental_on_acknowledgement(store, tmp_path, good, county):
    calls = []
    a = store.save("rural_house", good("B1"))
    res = store.export(tmp_path / "out", build_package=_fake_builder(calls))
    assert res.sequence == 1 and calls[0][1] == [a.revision_id] and calls[0][2] == 0
    assert calls[0][3]["device_private_key"]  # the builder gets the signing key
    b = store.save("rural_house", good("B2"))
    store.export(tmp_path / "out", build_package=_fake_builder(calls))
    assert calls[1][0] == 2 and calls[1][1] == [a.revision_id, b.revision_id]  # not acknowledged yet: sent again
    fb = sign_feedback(county, {"format": "census-feedback/1", "county": COUNTY, "township": TOWNSHIP,
                                "issued_at": "2021-04-01T00:00:00+00:00",
                                "acknowledged_through": {store.device_id: 1}, "items": []})
    (tmp_path / "fb.json").write_text(json.dumps(fb, ensure_ascii=False), encoding="utf-8")
    rep = store.apply_feedback(tmp_path / "fb.json")
    assert rep.acknowledged_through == 1 and rep.newly_acknowledged == 1
    store.export(tmp_path / "out", build_package=_fake_builder(calls))
    assert calls[2][1] == [b.revision_id] and calls[2][2] == 1
    fb2 = sign_feedback(county, {**fb, "acknowledged_through": {store.device_id: 3}})
    (tmp_path / "fb2.json").write_text(json.dumps(fb2), encoding="utf-8")
    store.apply_feedback(tmp_path / "fb2.json")
    with pytest.raises(NothingToExport):
        store.export(tmp_path / "out", build_package=_fake_builder(calls))
    assert [p["sequence"] for p in store.packages()] == [1, 2, 3]
    assert store.verify().ok


def test_failed_build_gives_the_sequence_back(store, tmp_path, good):
    store.save("rural_house", good())

    def broken(*a, **k):
        raise OSError("disk full")

    with pytest.raises(OSError):
        store.export(tmp_path, build_package=broken)
    calls = []
    assert store.export(tmp_path, build_package=_fake_builder(calls)).sequence == 1


def test_feedback_marks_records_and_is_checked(store, tmp_path, good, county):
    calls = []
    a = store.save("rural_house", good("B1"))
    b = store.save("rural_house", good("B2"))
    store.export(tmp_path, build_package=_fake_builder(calls))
    doc = {"format": "census-feedback/1", "county": COUNTY, "township": TOWNSHIP,
           "issued_at": "2021-04-01T00:00:00+00:00", "acknowledged_through": {store.device_id: 1},
           "items": [{"record_uuid": a.record_uuid, "revision_id": a.revision_id, "form_id": "rural_house",
                      "state": "has_issues", "problems": [{"code": "GEOMETRY_OUTSIDE", "path": "footprint"}],
                      "message_zh": "位置在县界外", "message_en": "outside the county"},
                     {"record_uuid": b.record_uuid, "revision_id": b.revision_id, "form_id": "rural_house",
                      "state": "conflict", "problems": [], "message_zh": "另一台设备也修改了该记录",
                      "message_en": "another device edited this record too"},
                     {"record_uuid": str(uuid.uuid4()), "revision_id": str(uuid.uuid4()), "form_id": "rural_house",
                      "state": "rejected", "problems": [], "message_zh": "?", "message_en": "?"}]}
    path = tmp_path / "fb.json"
    path.write_text(json.dumps(sign_feedback(county, doc), ensure_ascii=False), encoding="utf-8")
    rep = store.apply_feedback(path)
    states = {i.record_uuid: (i.state, i.known) for i in rep.items}
    assert states[a.record_uuid] == ("has_issues", True) and states[b.record_uuid] == ("conflict", True)
    assert sum(not i.known for i in rep.items) == 1
    assert {r["record_uuid"] for r in store.records(status="conflict")} == {b.record_uuid}
    assert store.get(a.record_uuid)["county_message_en"] == "outside the county"
    assert store.apply_feedback(path).already_applied
    assert store.conn.execute("SELECT count(*) FROM feedback").fetchone()[0] == 3
    # the enumerator fixes the record: a new revision clears the county's mark
    fixed = store.save("rural_house", good("B1", floors=1), record_uuid=a.record_uuid)
    assert fixed.status == "final" and store.get(a.record_uuid)["county_state"] is None
    # tampered / foreign / wrong-township feedback changes nothing
    tampered = json.loads(path.read_text(encoding="utf-8"))
    tampered["acknowledged_through"][store.device_id] = 0
    path.write_text(json.dumps(tampered), encoding="utf-8")
    with pytest.raises(FeedbackError):
        store.apply_feedback(path)
    path.write_text(json.dumps(sign_feedback(make_county(), doc)), encoding="utf-8")
    with pytest.raises(FeedbackError):
        store.apply_feedback(path)
    path.write_text(json.dumps(sign_feedback(county, {**doc, "township": "211481101"})), encoding="utf-8")
    with pytest.raises(FeedbackError):
        store.apply_feedback(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(FeedbackError):
        store.apply_feedback(path)
    assert store.verify().ok


# ---------------------------------------------------------------------------------------------------
# tamper evidence

def test_audit_row_edited_behind_the_tools_back_is_found(store, good):
    for i in range(5):
        store.save("rural_house", good(f"B{i}"))
    assert store.verify().ok
    raw = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError):  # the trigger refuses casual edits …
        raw.execute("UPDATE audit SET actor='mallory' WHERE seq=3")
    raw.execute("DROP TRIGGER audit_no_update")  # … a determined forger drops it
    raw.execute("UPDATE audit SET actor='mallory' WHERE seq=3")
    raw.commit()
    raw.close()
    rep = store.verify()
    assert not rep.ok and rep.chain.first_bad == 3


def test_revision_edited_behind_the_tools_back_is_found(store, good):
    r = store.save("rural_house", good())
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE revisions SET data = replace(data, '\"floors\":2', '\"floors\":9') WHERE revision_id=?",
                (r.revision_id,))
    raw.commit()
    raw.close()
    rep = store.verify()
    assert rep.chain.ok and not rep.ok and r.revision_id in rep.problems[0]


# ---------------------------------------------------------------------------------------------------
# work map

def _tiny_workmap(d: Path) -> Path:
    import geopandas as gpd
    from shapely.geometry import Polygon, box

    d.mkdir(parents=True, exist_ok=True)
    polys = [box(120.70 + i * 0.001, 40.60, 120.7005 + i * 0.001, 40.6004) for i in range(4)]
    b = gpd.GeoDataFrame({"building_id": [f"{TOWNSHIP}-{i:05d}" for i in range(3)] + ["211481101-00001"],
                          "township_code": [TOWNSHIP] * 3 + ["211481101"],
                          "village_code": [VILLAGES[0], VILLAGES[1], VILLAGES[0], "211481101201"],
                          "urban": [0, 1, 0, 0]}, geometry=polys, crs=4490)
    b.to_file(d / "sample.gpkg", layer="buildings", driver="GPKG")
    t = gpd.GeoDataFrame({"code": [TOWNSHIP, "211481101"], "name": ["测试镇", "邻镇"]},
                         geometry=[box(120.6, 40.5, 120.8, 40.7), Polygon([(120.8, 40.5), (120.9, 40.5), (120.9, 40.7)])],
                         crs=4490)
    t.to_file(d / "sample.gpkg", layer="townships", driver="GPKG")
    return d


def test_workmap_is_loaded_for_the_township(tmp_path, enrol, good):
    wm = _tiny_workmap(tmp_path / "sample")
    with TownshipStore.init(tmp_path / "t.db", enrol, workmap_dir=wm) as s:
        rows = s.workmap()
        assert [r["building_id"] for r in rows] == [f"{TOWNSHIP}-{i:05d}" for i in range(3)]
        assert rows[1]["urban"] == 1 and 10 < rows[0]["area_m2"] < 5000
        assert s.boundary() is not None
        assert s.save("rural_house", good(rows[0]["building_id"], footprint=json.loads(rows[0]["geometry"]))).ok
        far = good("B-far", footprint={"type": "Polygon", "coordinates": [[[121.5, 40.6], [121.501, 40.6],
                                                                          [121.501, 40.601], [121.5, 40.6]]]})
        assert any(p.code is Code.GEOMETRY_OUTSIDE for p in s.save("rural_house", far).errors)
        assert s.summary()["workmap"] == {"assigned": 3, "filled": 1}


def test_sqlite_utils_view_and_pragmas(store, good):
    store.save("rural_house", good())
    assert store.db["records"].count == 1 and "audit" in store.db.table_names()
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_an_edit_after_export_is_no_longer_marked_exported(store, tmp_path, good):
    """Bug: editing an exported record kept its exported mark, so the app said 已导出 while the new
    revision was still waiting to go."""
    calls = []
    a = store.save("rural_house", good("B1"))
    store.export(tmp_path / "out", build_package=_fake_builder(calls))
    seq = lambda: store.conn.execute("SELECT exported_seq FROM records WHERE record_uuid=?",  # noqa: E731
                                     (a.record_uuid,)).fetchone()[0]
    assert seq() == 1
    edited = dict(good("B1"), floors=3)
    r = store.save("rural_house", edited, record_uuid=a.record_uuid)
    assert r.revision_id and seq() is None
    assert [rev["revision_id"] for rev in store.pending_revisions()][-1] == r.revision_id
