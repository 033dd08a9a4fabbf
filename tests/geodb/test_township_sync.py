"""The township store with the real sync layer: enrolments it issues, packages it builds and opens,
feedback it signs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from geodb.township import FeedbackError, TownshipStore
from sync.keys import generate_county_keys
from sync.package import build_package, make_enrolment, make_feedback, open_package, write_enrolment, write_feedback

sys.path.insert(0, str(Path(__file__).parent))
from test_township import COUNTY, TOWNSHIP, VILLAGES, house  # noqa: E402


@pytest.fixture
def county_keys():
    return generate_county_keys(COUNTY)


@pytest.fixture
def enrolled(tmp_path, county_keys):
    divisions = {"townships": {TOWNSHIP: "测试镇"},
                 "villages": {v: {"name": v[-3:], "township": TOWNSHIP} for v in VILLAGES}}
    enr, device = make_enrolment(county_keys, county_name="兴城市", township=TOWNSHIP, township_name="测试镇",
                                 enumerator="李四", divisions=divisions)
    path = write_enrolment(enr, tmp_path / "enrol.json")
    store = TownshipStore.init(tmp_path / "town.db", path)
    yield store, device
    store.close()


def _danger(n: int) -> dict:
    return {"danger_id": f"YH{n}", "danger_name": "王家屯滑坡隐患", "danger_type": "geohazard",
            "township_code": TOWNSHIP, "village_code": VILLAGES[0],
            "location": {"type": "Point", "coordinates": [120.7, 40.6]}, "scale": "general",
            "threatened_people": 20, "threatened_buildings": 6, "threatened_schools": 0, "threatened_hospitals": 0,
            "risk_level": "3", "remediation_status": "untreated", "measures": ["none"], "deadline": "2022-12-31",
            "responsible_unit": "乡政府", "responsible_person": "王五", "responsible_phone": "13912345678"}


def test_package_built_from_the_store_opens_at_the_county(enrolled, county_keys, tmp_path):
    store, device = enrolled
    a = store.save("rural_house", house("B1"))
    b = store.save("rural_house", house("B1", floors=3), record_uuid=a.record_uuid)
    store.save("rural_house", house("B2"), final=False)  # a draft: stays home
    assert store.save("key_hidden_danger", _danger(1)).ok
    res = store.export(tmp_path / "usb", build_package=build_package)
    assert res.path.name.startswith(f"{COUNTY}_{TOWNSHIP}_{store.device_id.replace('-', '')[:8]}_000001")
    opened = open_package(res.path, county_keys=county_keys, devices={device.device_id: device})
    got = {r.revision_id: r for r in opened.revisions}
    assert set(got) == {p["revision_id"] for p in store.pending_revisions()}
    assert got[b.revision_id].parent_revision_id == a.revision_id
    assert got[b.revision_id].data["floors"] == 3
    assert opened.manifest.sequence == 1 and opened.manifest.acknowledged_through == 0
    assert "key_hidden_danger" in opened.manifest.encrypted_forms  # confidential: encrypted to the county
    assert all(r.status == "final" for r in opened.revisions)
    # feedback from the county: acknowledged, the next package is incremental
    fb = make_feedback(county_keys, township=TOWNSHIP, acknowledged_through={store.device_id: 1}, items=[
        {"record_uuid": a.record_uuid, "revision_id": b.revision_id, "form_id": "rural_house",
         "state": "has_issues", "problems": [], "message_zh": "面积偏大，请核实", "message_en": "area looks too large"}])
    fpath = write_feedback(fb, tmp_path / "fb")
    rep = store.apply_feedback(fpath)
    assert rep.acknowledged_through == 1 and store.get(a.record_uuid)["record_status"] == "has_issues"
    c = store.save("rural_house", house("B1", floors=2, floor_area=150.0), record_uuid=a.record_uuid)
    res2 = store.export(tmp_path / "usb", build_package=build_package)
    opened2 = open_package(res2.path, county_keys=county_keys, devices={device.device_id: device})
    assert [r.revision_id for r in opened2.revisions] == [c.revision_id]
    assert opened2.manifest.sequence == 2 and opened2.manifest.acknowledged_through == 1
    assert store.verify().ok


def test_feedback_signed_by_another_county_is_refused(enrolled, tmp_path):
    store, _ = enrolled
    other = generate_county_keys(COUNTY)
    fb = make_feedback(other, township=TOWNSHIP, acknowledged_through={}, items=[])
    with pytest.raises(FeedbackError):
        store.apply_feedback(write_feedback(fb, tmp_path / "fb"))
