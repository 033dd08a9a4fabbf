"""City import: the same guarantees as township → county, one level up."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from sync import keys as K
from sync.approval import approve_records
from sync.city import city_status, enrol_county, verify_city
from sync.county import resolve_conflict
from sync.upward import build_upward_package
from tests.city import kit_city
from tests.sync import kit


def assert_rejected(site, path, reasons):
    """Rejected with a reason, quarantined with it, in the ledger; nothing else changed; verify clean."""
    before = kit_city.city_checksums(site.city)
    n = len(kit_city.city_ledger(site.city))
    [res] = site.city_import([path])
    assert res.outcome == "rejected" and res.reason_code in reasons, res.line()
    assert kit.has_cjk(res.message_zh) and res.message_en and path.name in res.message_en
    assert kit_city.city_checksums(site.city) == before
    led = kit_city.city_ledger(site.city)
    assert len(led) == n + 1 and led[-1]["outcome"] == "rejected" and led[-1]["reason_code"] == res.reason_code
    q = kit.side(site.city) / "quarantine"
    assert any(res.reason_code in p.read_text(encoding="utf-8") for p in q.glob("*.reason.txt"))
    assert verify_city(site.city).ok
    return res


def _foreign_package(site, county: str, *, keys=None, city: str = kit_city.CITY, lines=()):
    keys = keys or K.generate_county_keys(county)
    return build_upward_package(keys, county_name="外县", city=city, city_encrypt_public_key=K.b64e(
        K.public_bytes(K.generate_county_keys(city).encrypt_private)), sequence=1, acknowledged_through=0,
        lines=list(lines), summary={}, divisions={}, forms=kit.forms(), out_dir=site.tmp / "forged")


def test_county_not_enrolled_is_rejected(site, tmp_path):
    from sync.city import init_city

    kit_city.approved_houses(site, 2)
    path = site.up()
    # a second city database for the same city that never enrolled this county
    other = tmp_path / "other" / "city.gpkg"
    init_city(other, city="2114", sample_root=kit.make_sample(tmp_path / "sample2"), forms=kit.forms())
    assert_rejected(kit_city.Site(site.county, other, site.enrolment, site.tmp), path, {"unknown_county"})


def test_county_outside_the_city_is_rejected(site):
    assert_rejected(site, _foreign_package(site, "210102"), {"outside_city"})
    assert_rejected(site, _foreign_package(site, kit.COUNTY, city="210200"), {"wrong_city"})


def test_enrolled_county_other_key_bad_signature(site):
    assert_rejected(site, _foreign_package(site, kit.COUNTY), {"bad_signature"})


def test_enrol_refuses_counties_outside_the_city(site, tmp_path):
    from sync.city import CityError

    for county in ("210102", "211402"):    # another city; in the city but not in its divisions
        keys = K.generate_county_keys(county)
        path = K.save_county_keys(keys, tmp_path / f"{county}.keys.json")
        with pytest.raises(CityError, match=county):
            enrol_county(site.city, path)


def test_same_package_five_times(site):
    kit_city.approved_houses(site, 4)
    path = site.up()
    first = site.city_import([path])[0]
    assert first.outcome == "accepted" and first.new_records == 4
    after = kit_city.city_checksums(site.city)
    res = site.city_import([path, path]) + site.city_import([path]) + site.city_import([path])
    assert [r.outcome for r in res] == ["duplicate"] * 4 and all(r.ledger_id == first.ledger_id for r in res)
    assert kit_city.city_checksums(site.city) == after
    assert [r["outcome"] for r in kit_city.city_ledger(site.city)] == ["accepted"] + ["duplicate"] * 4
    assert kit.rows(site.city, "SELECT count(*) FROM rural_house") == [(4,)]
    assert verify_city(site.city).ok


@pytest.mark.parametrize("where", ["start", "manifest", "signature", "middle", "central_directory", "end"])
def test_one_byte_flipped_is_rejected(site, where):
    kit_city.approved_houses(site, 3)
    good = site.up()
    data = bytearray(good.read_bytes())
    pos = {"start": 0, "manifest": 60, "signature": data.find(b"manifest.sig") + 40,
           "middle": len(data) // 2, "central_directory": data.rfind(b"PK\x01\x02") + 12, "end": len(data) - 3}[where]
    data[pos] ^= 0x01
    bad = site.tmp / f"flipped_{where}.censusup"
    bad.write_bytes(bytes(data))
    assert_rejected(site, bad, {"not_canonical", "truncated", "corrupt", "bad_signature", "hash_mismatch",
                                "malformed_json", "bad_entry", "bad_manifest", "zip_bomb", "too_large",
                                "wrong_city", "outside_city", "unknown_county", "missing_entry"})
    assert site.city_import([good])[0].outcome == "accepted"


def test_older_package_after_newer(site):
    dev, revs = kit_city.approved_houses(site, 2)
    p1 = site.up()                                          # r1 of both houses
    r2 = dev.revise(kit.house(revs[0]["data"]["building_id"], revs[0]["data"]["village_code"], 120.42, 40.53, floors=5),
                    record_uuid=revs[0]["record_uuid"], parent=revs[0]["revision_id"])
    kit.import_(site.county, [dev.export(site.tmp / "pk", revisions=[r2], acknowledged_through=1)])
    approve_records(site.county)
    p2 = site.up()                                          # r2 of house 0 (ancestor r1), r1 of house 1
    second, first = site.city_import([p2, p1])
    assert second.outcome == first.outcome == "accepted"
    assert first.out_of_order and not second.out_of_order
    assert first.stored == 1 and first.known == 1           # the older version filled in as history
    cur = dict(kit.rows(site.city, "SELECT record_uuid, current_revision_id FROM census_records"))
    assert cur[revs[0]["record_uuid"]] == r2["revision_id"]
    assert kit.rows(site.city, "SELECT floors FROM rural_house WHERE census_uuid=?", (revs[0]["record_uuid"],)) == [(5,)]
    assert not kit.rows(site.city, "SELECT * FROM census_conflicts")
    st = city_status(site.city)["counties"][0]
    assert st["last_sequence"] == 2 and st["packages_accepted"] == 2   # the newest summary, not the last to arrive
    assert verify_city(site.city).ok


def test_conflicting_re_report_is_kept(site):
    a = kit.enrol(site.county, kit.T1, "张三")
    b = kit.enrol(site.county, kit.T1, "李四")
    [r1] = a.houses(1)
    kit.import_(site.county, [a.export(site.tmp / "a")])
    approve_records(site.county)
    p1 = site.up()
    bid, vil = r1["data"]["building_id"], r1["data"]["village_code"]
    ra = a.revise(kit.house(bid, vil, 120.41, 40.52, floors=2), record_uuid=r1["record_uuid"], parent=r1["revision_id"])
    kit.import_(site.county, [a.export(site.tmp / "a", revisions=[ra], acknowledged_through=1)])
    approve_records(site.county)
    p2 = site.up()                                          # version A reported as approved
    b.revisions.append(r1)
    rb = b.revise(kit.house(bid, vil, 120.41, 40.52, floors=3), record_uuid=r1["record_uuid"], parent=r1["revision_id"])
    kit.import_(site.county, [b.export(site.tmp / "b", revisions=[rb])])   # a conflict at the county
    resolve_conflict(site.county, r1["record_uuid"], keep=rb["revision_id"], forms=kit.forms())
    approve_records(site.county)
    p3 = site.up()                                          # version B re-reported, diverging from A
    res = site.city_import([p1, p2, p3])
    assert [r.outcome for r in res] == ["accepted"] * 3 and res[2].conflicts == 1
    stored = {r for (r,) in kit.rows(site.city, "SELECT revision_id FROM census_revisions")}
    assert stored == {r1["revision_id"], ra["revision_id"], rb["revision_id"]}     # every version kept
    [(status, ids)] = kit.rows(site.city, "SELECT status, revision_ids FROM census_conflicts")
    assert status == "open" and set(json.loads(ids)) == {ra["revision_id"], rb["revision_id"]}
    assert kit.rows(site.city, "SELECT current_revision_id, has_conflict FROM census_records") == [(ra["revision_id"], 1)]
    assert kit.rows(site.city, "SELECT floors, census_conflict FROM rural_house") == [(2, 1)]
    # the county's own decision travels with the version
    assert kit.rows(site.city, "SELECT county_set_aside FROM census_revisions WHERE revision_id=?",
                    (rb["revision_id"],)) == [(json.dumps([ra["revision_id"]]),)]
    assert city_status(site.city)["counties"][0]["conflicts_at_city"] == 1
    # the same packages in another order give the same tips
    from sync.city_import import CityNode, CityState, merge_city_record
    n1, na, nb = CityNode(r1["revision_id"], ()), CityNode(ra["revision_id"], (r1["revision_id"],)), \
        CityNode(rb["revision_id"], (r1["revision_id"],))
    out = merge_city_record(CityState(r1["record_uuid"], rb["revision_id"], {nb.revision_id: nb}), [n1, na],
                            r1["record_uuid"])
    assert out.in_conflict and set(out.tips) == {ra["revision_id"], rb["revision_id"]}
    assert verify_city(site.city).ok


def test_status_figures(site):
    dev = kit.enrol(site.county, kit.T1)
    dev.houses(5)
    dev.revise(kit.house("B211481100201Y", kit.VILLAGES[kit.T1][0], 120.45, 40.52, year_built=2030))   # issues
    kit.import_(site.county, [dev.export(site.tmp / "pk")])
    approve_records(site.county)
    site.city_import([site.up()])
    rep = city_status(site.city)
    [c] = rep["counties"]
    assert c["county"] == kit.COUNTY and c["name"] == "兴城市" and c["enrolled"]
    assert (c["records_total"], c["records_approved"], c["approval_pct"]) == (6, 5, 83.3)
    # expected per the county's work map and division registers: 10 footprints + 1 + 2 + 2 per township
    assert c["expected"] == 26 and c["received_expected"] == 6 and c["completeness_pct"] == 23.1
    assert (c["townships_total"], c["townships_reporting"], c["townships_at_city"]) == (2, 1, 1)
    assert (c["records_at_city"], c["packages_accepted"], c["last_sequence"]) == (5, 1, 1)
    assert rep["totals"]["records_at_city"] == 5
    from census_cli.cmd_city import city
    r = CliRunner().invoke(city, ["status", "--gpkg", str(site.city), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["counties"][0]["records_at_city"] == 5
    r = CliRunner().invoke(city, ["status", "--gpkg", str(site.city)])
    assert r.exit_code == 0 and "211481" in r.output and "5/6" in r.output


def test_verify_detects_an_edited_audit_row(site):
    kit_city.approved_houses(site, 2)
    site.city_import([site.up()])
    assert verify_city(site.city).ok
    with pytest.raises(kit.DB_ERRORS, match="append-only"):
        kit.execute(site.city, "UPDATE census_audit SET actor='x' WHERE seq=2")
    # the tamperer disables the guard, edits, and puts the guard back
    if kit.is_pg(site.city):
        kit.execute(site.city, "ALTER TABLE census_audit DISABLE TRIGGER census_audit_no_update",
                    "UPDATE census_audit SET detail=replace(detail, '211481', '211482') WHERE seq=2",
                    "ALTER TABLE census_audit ENABLE TRIGGER census_audit_no_update")
    else:
        (trigger,) = kit.rows(site.city, "SELECT sql FROM sqlite_master WHERE name='census_audit_no_update'")[0]
        kit.execute(site.city, "DROP TRIGGER census_audit_no_update",
                    "UPDATE census_audit SET detail=replace(detail, '211481', '211482') WHERE seq=2", trigger)
    rep = verify_city(site.city)
    assert not rep.ok and any(f.code == "AUDIT_HASH" for f in rep.findings)
    from census_cli.cmd_city import city
    r = CliRunner().invoke(city, ["verify", "--gpkg", str(site.city)])
    assert r.exit_code == 1 and "AUDIT_HASH" in r.output


def test_verify_detects_ledger_and_revision_edits(site):
    kit_city.approved_houses(site, 2)
    site.city_import([site.up()])
    kit.execute(site.city, "UPDATE census_revisions SET content = replace(content, '120.5', '120.6')",
                "UPDATE census_ledger SET summary = '{}'")
    codes = {f.code for f in verify_city(site.city).findings}
    assert {"REVISION_CONTENT", "LEDGER_EDITED"} <= codes


def test_city_gpkg_passes_gdal_validator(gpkg_site):
    site = gpkg_site
    kit_city.approved_houses(site, 3)
    site.city_import([site.up()])
    r = subprocess.run([sys.executable, "-m", "osgeo_utils.samples.validate_gpkg", "-k", "--extra", str(site.city)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    import pyogrio
    layers = dict(pyogrio.list_layers(site.city))
    assert layers["rural_house"] == "Polygon" and layers["counties"] == "MultiPolygon"


def test_import_cli_exit_codes(site):
    from census_cli.cmd_city import city

    kit_city.approved_houses(site, 1)
    good = site.up()
    forged = _foreign_package(site, "210102")
    r = CliRunner().invoke(city, ["import", "--gpkg", str(site.city), str(good)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(city, ["import", "--gpkg", str(site.city), str(good), str(forged), "--json"])
    assert r.exit_code == 3
    d = json.loads(r.output)
    assert (d["accepted"], d["duplicates"], d["rejected"]) == (0, 1, 1)
