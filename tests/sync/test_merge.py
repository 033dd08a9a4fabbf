"""The merge rules, pure: new, advance, known, diverged, out of order, gaps."""

import itertools

from sync.merge import Node, RecordState, merge_record, tips_of


def n(rid, parent=None, at="2021-06-01T00:00:00+00:00"):
    return Node(rid, parent, at)


def state(current, nodes, aside=(), conflict=None):
    return RecordState("u", "rural_house", "211481100", current, {x.revision_id: x for x in nodes}, frozenset(aside),
                       conflict)


def test_new_record_inserted():
    out = merge_record(None, [n("a")], "u")
    assert (out.kind, out.current_revision_id, out.stored) == ("new", "a", ["a"])


def test_child_of_current_advances():
    out = merge_record(state("a", [n("a")]), [n("b", "a")], "u")
    assert (out.kind, out.current_revision_id, out.previous_revision_id) == ("advanced", "b", "a")
    # a chain in one package advances to its tip
    out = merge_record(state("a", [n("a")]), [n("b", "a"), n("c", "b")], "u")
    assert out.current_revision_id == "c" and out.stored == ["b", "c"]


def test_known_revision_changes_nothing():
    out = merge_record(state("b", [n("a"), n("b", "a")]), [n("a"), n("b", "a")], "u")
    assert out.kind == "known" and out.stored == [] and out.known == ["a", "b"] and not out.current_changed


def test_diverged_keeps_both_and_current_stays():
    out = merge_record(state("b1", [n("a"), n("b1", "a")]), [n("a"), n("b2", "a")], "u")
    assert out.kind == "conflict" and set(out.tips) == {"b1", "b2"}
    assert out.current_revision_id == "b1" and out.stored == ["b2"] and out.conflict_opened


def test_edit_on_own_branch_during_conflict_follows_that_branch():
    s = state("b1", [n("a"), n("b1", "a"), n("b2", "a")], conflict=("b1", "b2"))
    out = merge_record(s, [n("c1", "b1")], "u")
    assert out.kind == "conflict" and set(out.tips) == {"c1", "b2"} and out.current_revision_id == "c1"
    assert out.conflict_changed and not out.conflict_opened


def test_older_revision_after_newer_fills_history_only():
    out = merge_record(state("b", [n("b", "a")]), [n("a")], "u")
    assert out.kind == "history" and out.current_revision_id == "b" and out.stored == ["a"]


def test_any_arrival_order_gives_the_same_tips():
    revs = [n("a"), n("b", "a"), n("c", "b"), n("d", "b")]
    results = set()
    for order in itertools.permutations(revs):
        st = None
        for r in order:
            out = merge_record(st, [r], "u")
            nodes = dict(st.nodes) if st else {}
            nodes[r.revision_id] = r
            st = state(out.current_revision_id, nodes.values())
        results.add(tuple(sorted(tips_of(st.nodes))))
    assert results == {("c", "d")}


def test_gap_filled_closes_conflict():
    s = state("c", [n("a"), n("c", "b")], conflict=("a", "c"))
    out = merge_record(s, [n("b", "a")], "u")
    assert out.tips == ("c",) and out.conflict_closed and out.current_revision_id == "c"


def test_set_aside_tip_is_not_a_tip():
    s = state("b1", [n("a"), n("b1", "a"), n("b2", "a")], aside=("b2",))
    assert tips_of(s.nodes, s.set_aside) == ["b1"]
    out = merge_record(s, [n("c2", "b2")], "u")   # someone kept editing the set-aside branch
    assert out.kind == "conflict" and set(out.tips) == {"b1", "c2"}


def test_forged_cycle_does_not_lose_revisions():
    out = merge_record(None, [n("a", "b"), n("b", "a")], "u")
    assert set(out.stored) == {"a", "b"} and len(out.tips) == 2
