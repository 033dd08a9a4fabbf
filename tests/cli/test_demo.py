"""`census demo` (the README's first command) at a small size: it finishes and what it says it made exists."""

import json
from pathlib import Path

import pyogrio
from click.testing import CliRunner

from census_cli.main import cli


def test_demo_small(tmp_path):
    out = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["demo", "--out", str(out), "--buildings", "400"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "demo_summary.json").read_text(encoding="utf-8"))
    for item in summary["made"]:
        assert Path(item["path"]).exists(), item
    assert len(list((out / "xlsforms").glob("*.xlsx"))) >= 29
    gpkg = out / "county" / "211481.gpkg"
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert {"townships", "villages", "census_ledger"} <= layers
    status = json.loads((out / "county" / "status.json").read_text(encoding="utf-8"))
    assert status["townships"] and all(t["received"] > 0 for t in status["townships"])
    assert status["packages"].get("accepted", 0) > 0 and not status["packages"].get("rejected")
    assert len(list((out / "county" / "feedback").iterdir())) == len(status["townships"])
    # the feedback round: every flagged record fixed and accepted, conflicts settled, the ledger intact
    assert sum(t["has_issues"] for t in status["townships"]) == 0
    assert sum(t["conflicts"] for t in status["townships"]) == 0
    assert any("反馈整改" in item["what"] for item in summary["made"])
    from sync.county import verify_county
    assert verify_county(gpkg).ok
