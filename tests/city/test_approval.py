"""Bulk approval: one transaction, one audit row; only valid, conflict-free, unreviewed records."""

import json

from click.testing import CliRunner

from sync.approval import approve_records
from sync.county import review_record, verify_county
from tests.sync import kit


def _states(gpkg):
    return dict(kit.rows(gpkg, "SELECT record_uuid, review_state FROM census_records"))


def _mixed_county(site):
    """Two townships: valid houses, one with issues, one in conflict, one rejected by a reviewer."""
    a = kit.enrol(site.county, kit.T1, "张三")
    b = kit.enrol(site.county, kit.T1, "李四")
    c = kit.enrol(site.county, kit.T2, "王五")
    ok = a.houses(4)
    bad = a.revise(kit.house("B211481100201X", kit.VILLAGES[kit.T1][0], 120.45, 40.52, year_built=2030))  # invalid
    r = ok[0]
    b.revisions.append(r)
    a.revise(kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.41, 40.51, floors=1),
             record_uuid=r["record_uuid"], parent=r["revision_id"])
    b.revise(kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.41, 40.51, floors=3),
             record_uuid=r["record_uuid"], parent=r["revision_id"])                           # a conflict
    other = c.houses(3)
    res = kit.import_(site.county, [a.export(site.tmp / "a"), b.export(site.tmp / "b"), c.export(site.tmp / "c")])
    assert [x.outcome for x in res] == ["accepted"] * 3
    review_record(site.county, ok[1]["record_uuid"], state="rejected", note="面积有误")
    return ok, bad, r, other


def test_bulk_approval_one_transaction_one_audit_row(site):
    ok, bad, conflicted, other = _mixed_county(site)
    n_audit = len(kit.rows(site.county, "SELECT seq FROM census_audit"))
    res = approve_records(site.county, note="批量审核")
    assert res.records == 8 and res.approved == 5       # ok[2], ok[3], other ×3
    assert (res.with_issues, res.conflicts, res.rejected, res.already_approved) == (1, 1, 1, 0)
    states = _states(site.county)
    assert states[bad["record_uuid"]] == "has_issues"
    assert states[conflicted["record_uuid"]] == "received"
    assert states[ok[1]["record_uuid"]] == "rejected"
    assert sorted(u for u, s in states.items() if s == "approved") == sorted(
        [ok[2]["record_uuid"], ok[3]["record_uuid"]] + [o["record_uuid"] for o in other])
    # the feature layer shows the state too (what QGIS and the maps read)
    feat = dict(kit.rows(site.county, "SELECT census_uuid, census_state FROM rural_house"))
    assert feat == states
    audit = kit.rows(site.county, "SELECT action, detail FROM census_audit ORDER BY seq")
    assert len(audit) == n_audit + 1 and audit[-1][0] == "approve_batch"
    detail = json.loads(audit[-1][1])
    assert detail["approved"] == 5 and detail["records_sha256"] == res.digest and detail["note"] == "批量审核"
    assert verify_county(site.county).ok
    # nothing left to approve: no change, no audit row
    again = approve_records(site.county)
    assert again.approved == 0 and again.already_approved == 5 and again.audit_seq is None
    assert len(kit.rows(site.county, "SELECT seq FROM census_audit")) == n_audit + 1


def test_approval_by_township_and_form(site):
    ok, bad, conflicted, other = _mixed_county(site)
    r = approve_records(site.county, township=kit.T2)
    assert r.approved == 3 and r.records == 3
    states = _states(site.county)
    assert all(states[o["record_uuid"]] == "approved" for o in other)
    assert states[ok[2]["record_uuid"]] == "received"
    assert approve_records(site.county, form="rural_house", township=kit.T1).approved == 2


def test_approval_refuses_unknown_scope(site):
    import pytest

    from sync.county import CountyError

    with pytest.raises(CountyError, match="211499999"):
        approve_records(site.county, township="211499999")
    with pytest.raises(CountyError, match="no_such_form"):
        approve_records(site.county, form="no_such_form")


def test_approve_cli(site):
    from census_cli.cmd_city import approve

    dev = kit.enrol(site.county, kit.T2)
    dev.houses(2)
    kit.import_(site.county, [dev.export(site.tmp / "pk2")])
    r = CliRunner().invoke(approve, ["--gpkg", str(site.county), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["approved"] == 2
    r = CliRunner().invoke(approve, ["--gpkg", str(site.county), "--township", "211481999"])
    assert r.exit_code == 1 and "211481999" in r.output
