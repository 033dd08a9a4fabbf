"""Several people on one county database at once (both backends): two imports of overlapping packages
started together, and reviewers approving while an import runs. Nothing is lost, nothing is stored twice,
the audit chain and the ledger stay whole."""

import multiprocessing as mp
from collections import Counter

from sync.county import county_status, review_record, verify_county
from tests.sync import kit


def _import_in_child(county, paths, barrier, queue):
    try:
        barrier.wait(timeout=60)
        results = kit.import_(county, paths)
        queue.put([(r.path, r.outcome, r.message_en) for r in results])
    except BaseException as e:  # reported to the parent, which fails the test with it
        queue.put(repr(e))


def _review_in_child(county, uuids, state, barrier, queue):
    try:
        barrier.wait(timeout=60)
        for u in uuids:
            review_record(county, u, state=state, note=f"{state} by reviewer", actor=f"reviewer-{state}")
        queue.put("ok")
    except BaseException as e:
        queue.put(repr(e))


def _run_together(targets):
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(len(targets)), ctx.Queue()
    procs = [ctx.Process(target=fn, args=(*args, barrier, queue)) for fn, args in targets]
    for p in procs:
        p.start()
    out = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for o in out:
        assert not isinstance(o, str) or o == "ok", o
    return out


def test_2_concurrent_imports_of_overlapping_packages(county, tmp_path):
    a, b = kit.enrol(county, kit.T1, "张三"), kit.enrol(county, kit.T2, "李四")
    pkgs = []
    for dev, out in ((a, "a"), (b, "b")):
        for k in range(3):
            dev.houses(5, start=5 * k)
            pkgs.append(dev.export(tmp_path / out, revisions=dev.revisions[5 * k:5 * k + 5]))
    # two clerks load overlapping USB sticks at the same moment: packages 1–4 and 3–6 (3 and 4 on both)
    first, second = pkgs[0:2] + pkgs[3:5], pkgs[1:3] + pkgs[4:6]
    out = _run_together([(_import_in_child, (county, first)), (_import_in_child, (county, second))])
    outcomes = Counter(o for res in out for _, o, _ in res)
    assert outcomes == Counter({"accepted": 6, "duplicate": 2}), outcomes
    led = kit.ledger(county)
    assert Counter(r["outcome"] for r in led) == Counter({"accepted": 6, "duplicate": 2})
    assert len({r["file_sha256"] for r in led if r["outcome"] == "accepted"}) == 6
    (n_rev,), = kit.rows(county, "SELECT count(*) FROM census_revisions")
    (n_distinct,), = kit.rows(county, "SELECT count(DISTINCT revision_id) FROM census_revisions")
    (n_rec,), = kit.rows(county, "SELECT count(*) FROM census_records")
    (n_feat,), = kit.rows(county, "SELECT count(*) FROM rural_house")
    assert n_rev == n_distinct == n_rec == n_feat == 30
    rep = verify_county(county)
    assert rep.ok, [f.code for f in rep.findings]


def test_reviewers_and_an_import_at_once_lose_no_update(county, tmp_path):
    a, b = kit.enrol(county, kit.T1, "张三"), kit.enrol(county, kit.T2, "李四")
    a.houses(12)
    kit.import_(county, [a.export(tmp_path / "a")])
    uuids = sorted({r["record_uuid"] for r in a.revisions})
    b.houses(10)
    later = b.export(tmp_path / "b")
    # one reviewer approves the first half, another rejects the second half, while a clerk imports
    out = _run_together([(_review_in_child, (county, uuids[:6], "approved")),
                         (_review_in_child, (county, uuids[6:], "rejected")),
                         (_import_in_child, (county, [later]))])
    assert any(isinstance(o, list) and o[0][1] == "accepted" for o in out)
    states = dict(kit.rows(county, "SELECT record_uuid, review_state FROM census_records"))
    assert [states[u] for u in uuids[:6]] == ["approved"] * 6
    assert [states[u] for u in uuids[6:]] == ["rejected"] * 6
    assert len(states) == 22
    (n_review,), = kit.rows(county, "SELECT count(*) FROM census_audit WHERE action = 'review'")
    assert n_review == 12
    rep = verify_county(county)
    assert rep.ok, [f.code for f in rep.findings]
    t = {row["township"]: row for row in county_status(county).as_dict()["townships"]}
    assert t[kit.T1]["received"] == 12 and t[kit.T2]["received"] == 10
