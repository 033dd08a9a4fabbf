"""One feedback round on the tiny sample: every flagged record is fixed, re-exported and accepted."""

from __future__ import annotations

import json

import pytest

from sample_data.feedback_round import FeedbackRoundError, simulate_feedback_round
from sample_data.fieldwork import simulate_fieldwork
from tests.sample_data.test_fieldwork import COUNTY, tiny_sample


@pytest.fixture(scope="module")
def county_after_round_one(tmp_path_factory):
    from sync.county import county_status, init_county, issue_feedback
    from sync.county_import import import_packages

    root = tmp_path_factory.mktemp("round")
    sample = tiny_sample(root / "sample")
    gpkg = root / "county.gpkg"
    init_county(gpkg, county=COUNTY, sample=sample)
    fw = simulate_fieldwork(sample, root / "field", error_rate=0.2, conflicts=1, seed=11, county_gpkg=gpkg)
    import_packages(gpkg, sorted(fw.packages), workers=0)
    for row in county_status(gpkg).townships:
        issue_feedback(gpkg, township=row["township"], out_dir=root / "fb")
    return root, gpkg, fw


def test_answers_key_holds_the_true_record_of_every_spoiled_one(county_after_round_one):
    root, _gpkg, fw = county_after_round_one
    keys = {}
    for p in (root / "field" / "townships").glob("*.answers.json"):
        keys.update(json.loads(p.read_text(encoding="utf-8")))
    assert len(keys) == sum(fw.invalid.values()) > 0
    assert all(isinstance(v, dict) and v for v in keys.values())


def test_feedback_round_fixes_everything_flagged_and_the_county_takes_it(county_after_round_one):
    from sync.county import county_status, issue_feedback, verify_county
    from sync.county_import import import_packages

    root, gpkg, fw = county_after_round_one
    before = county_status(gpkg)
    flagged_before = sum(r["has_issues"] for r in before.townships)
    assert flagged_before > 0
    rnd = simulate_feedback_round(root / "field", root / "fb", root / "round2")
    assert rnd.flagged == flagged_before and rnd.fixed == rnd.flagged and not rnd.not_fixed
    assert rnd.conflicts_listed >= 1            # conflicts are left to the county reviewer
    results = import_packages(gpkg, rnd.packages, workers=0)
    assert [r.outcome for r in results] == ["accepted"] * len(results)
    assert sum(r.advanced for r in results) == rnd.fixed   # each fix is a child of the flagged revision
    after = county_status(gpkg)
    assert sum(r["has_issues"] for r in after.townships) == 0
    assert sum(r["conflicts"] for r in after.townships) == sum(r["conflicts"] for r in before.townships)
    assert verify_county(gpkg).ok
    # with the county's next feedback acknowledging the fixes, a second round has nothing to send
    for row in after.townships:
        issue_feedback(gpkg, township=row["township"], out_dir=root / "fb")
    again = simulate_feedback_round(root / "field", root / "fb", root / "round3")
    assert again.fixed == 0 and again.packages == []


def test_missing_folders_are_clear_errors(tmp_path):
    with pytest.raises(FeedbackRoundError, match="simulate-fieldwork"):
        simulate_feedback_round(tmp_path / "nope", tmp_path, tmp_path / "out")
    (tmp_path / "f" / "townships").mkdir(parents=True)
    with pytest.raises(FeedbackRoundError, match="feedback folder"):
        simulate_feedback_round(tmp_path / "f", tmp_path / "nofb", tmp_path / "out")
