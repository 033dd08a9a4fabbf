"""The county's upward package: approved records only, signed, incremental, pinned to one city."""

import json

import pytest
from click.testing import CliRunner

from sync import keys as K
from sync.approval import approve_records
from sync.county import review_record, verify_county
from sync.upward import (
    UpwardError,
    check_city_enrolment,
    export_approved,
    make_city_enrolment,
    normalise_city,
    open_upward_package,
    read_county_public,
)
from tests.city import kit_city
from tests.sync import kit


def _open(site, path):
    from geodb.target import open_city
    from sync.city import city_keys

    with open_city(site.city, readonly=True) as db:
        keys = city_keys(db)
        towns = {c: frozenset(t) for c, t in db.townships_by_county().items()}
        return open_upward_package(path, city=db.city, county_key=db.county_key, city_keys=keys, forms=kit.forms(),
                                   townships_of=lambda c: towns.get(c, frozenset()))


def test_only_approved_records_are_exported(site):
    dev = kit.enrol(site.county, kit.T1)
    houses = dev.houses(5)
    bad = dev.revise(kit.house("B211481100201Z", kit.VILLAGES[kit.T1][0], 120.45, 40.52, year_built=2030))
    kit.import_(site.county, [dev.export(site.tmp / "pk")])
    review_record(site.county, houses[0]["record_uuid"], state="rejected", note="核实")
    review_record(site.county, houses[1]["record_uuid"], state="approved")
    approve_records(site.county, form="rural_house", township=kit.T1)        # houses 1..4 approved; 0 rejected
    path = site.up()
    opened = _open(site, path)
    got = {ln["record_uuid"]: ln["revision_id"] for ln in opened.lines}
    assert got == {h["record_uuid"]: h["revision_id"] for h in houses[1:]}
    assert bad["record_uuid"] not in got
    ln = opened.lines[0]
    assert json.loads(ln["content"])["data"] == ln["data"] and ln["township"] == kit.T1 and ln["ancestors"] == []
    # the ledger summary: counts per township and form, packages, audit head
    s = opened.summary
    assert s["records"] == {"records": 6, "valid": 5, "has_issues": 1, "approved": 4, "rejected": 1, "conflicts": 0}
    assert s["townships"][kit.T1]["forms"]["rural_house"]["approved"] == 4 and s["packages"] == {"accepted": 1}
    assert s["audit_head"]["seq"] >= 1 and len(s["audit_head"]["hash"]) == 64
    assert set(opened.divisions["townships"]) == {kit.T1, kit.T2}
    assert opened.manifest["sequence"] == 1 and opened.manifest["county"] == kit.COUNTY
    # the export is logged and audited at the county, and the county stays verifiable
    assert kit.rows(site.county, "SELECT sequence, records FROM census_upward_exports") == [(1, 4)]
    assert kit.rows(site.county, "SELECT action FROM census_audit ORDER BY seq DESC LIMIT 1") == [("export_up",)]
    assert verify_county(site.county).ok


def test_incremental_with_receipt(site):
    dev, revs = kit_city.approved_houses(site, 3)
    p1 = site.up()
    [r1] = site.city_import([p1])
    assert r1.outcome == "accepted"
    receipt = kit.side(site.city) / "receipts" / f"receipt_{kit.COUNTY}_000001.json"
    assert receipt.is_file()
    # without the receipt the county resends what the city may not have; with it, only what is new
    p2 = site.up()
    assert len(_open(site, p2).lines) == 3 and _open(site, p2).manifest["acknowledged_through"] == 0
    r2 = dev.revise(kit.house(revs[0]["data"]["building_id"], revs[0]["data"]["village_code"], 120.42, 40.53, floors=4),
                    record_uuid=revs[0]["record_uuid"], parent=revs[0]["revision_id"])
    kit.import_(site.county, [dev.export(site.tmp / "pk", revisions=[r2], acknowledged_through=1)])
    approve_records(site.county)
    p3 = site.up(receipt=receipt, city_enrolment=None)
    o3 = _open(site, p3)
    assert o3.manifest["acknowledged_through"] == 1 and o3.manifest["sequence"] == 3
    assert [(ln["revision_id"], ln["ancestors"]) for ln in o3.lines] == [(r2["revision_id"], [revs[0]["revision_id"]])]


def test_city_enrolment_is_pinned_and_checked(site):
    kit_city.approved_houses(site, 1)
    site.up()
    # another "city" with other keys cannot take over this county's reporting
    fake = K.generate_county_keys("211400")
    doc = make_city_enrolment(fake, city_name="假市", county=read_county_public(kit.keys_file(site.county)))
    with pytest.raises(UpwardError, match="impersonate"):
        export_approved(site.county, site.tmp / "up", city_enrolment=doc, forms=kit.forms())
    # an altered enrolment fails its signature
    real = json.loads(site.enrolment.read_text(encoding="utf-8"))
    with pytest.raises(UpwardError, match="signature"):
        check_city_enrolment({**real, "county_name": "别的县"})
    # a receipt signed by someone else is refused
    from sync.upward import make_receipt
    with pytest.raises(UpwardError, match="signature"):
        export_approved(site.county, site.tmp / "up", forms=kit.forms(),
                        receipt=make_receipt(fake, county=kit.COUNTY, acknowledged_through=1, received=[1]))
    assert kit.rows(site.county, "SELECT count(*) FROM census_upward_exports") == [(1,)]


def test_export_needs_an_enrolment(site):
    with pytest.raises(UpwardError, match="city-enrolment"):
        export_approved(site.county, site.tmp / "up", forms=kit.forms())


def test_city_code_forms():
    assert normalise_city("2114") == "211400" and normalise_city("211400") == "211400"
    for bad in ("21", "211481", "abcd"):
        with pytest.raises(UpwardError):
            normalise_city(bad)


def test_confidential_form_is_encrypted_to_the_city(site):
    dev = kit.enrol(site.county, kit.T1)
    rev = dev.revise(dict(kit_city.CHEMICAL_SITE), form_id="chemical_danger_site")
    kit.import_(site.county, [dev.export(site.tmp / "pk")])
    assert approve_records(site.county).approved == 1
    path = site.up()
    raw = path.read_bytes()
    assert b"SIT47318" not in raw and "魏珍波".encode() not in raw
    from sync.zipfmt import read_directory
    names = [e.name for e in read_directory(raw, max_entries=64, max_entry_bytes=2**31, max_ratio=200,
                                            check_name=lambda n: None)]
    assert "data/chemical_danger_site.jsonl.enc" in names
    [res] = site.city_import([path])
    assert res.outcome == "accepted" and res.new_records == 1
    assert kit.rows(site.city, "SELECT site_id, census_revision FROM chemical_danger_site") == [
        ("211481100-SIT47318", rev["revision_id"])]


def test_export_cli(site):
    from census_cli.cmd_city import export_approved as cmd

    kit_city.approved_houses(site, 2)
    r = CliRunner().invoke(cmd, ["--gpkg", str(site.county), "--out", str(site.tmp / "up"),
                                 "--city-enrolment", str(site.enrolment), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["records"] == 2 and d["sequence"] == 1
    r = CliRunner().invoke(cmd, ["--gpkg", str(site.county), "--out", str(site.tmp / "up"),
                                 "--receipt", str(site.tmp / "missing.json")])
    assert r.exit_code == 2
