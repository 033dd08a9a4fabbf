"""`census township …` end to end through click: init, add, list, status, export, feedback, verify."""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
from pathlib import Path

from click.testing import CliRunner

from census_cli.cmd_township import township
from sync.keys import generate_county_keys
from sync.package import make_enrolment, make_feedback, write_enrolment, write_feedback

sys.path.insert(0, str(Path(__file__).parent))
from test_township import COUNTY, TOWNSHIP, VILLAGES, house  # noqa: E402


def _csv(path: Path, rows: list[dict]) -> Path:
    cols = sorted({k for r in rows for k in r})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v for k, v in r.items()})
    return path


def test_township_commands_end_to_end(tmp_path):
    run = CliRunner().invoke
    keys = generate_county_keys(COUNTY)
    enr, device = make_enrolment(keys, county_name="兴城市", township=TOWNSHIP, township_name="测试镇", enumerator="王五",
                                 divisions={"townships": {TOWNSHIP: "测试镇"},
                                            "villages": {v: {"name": v, "township": TOWNSHIP} for v in VILLAGES}})
    enr_path = write_enrolment(enr, tmp_path / "enrol.json")
    db = str(tmp_path / "town.db")

    r = run(township, ["init", "--db", db, "--enrolment", str(enr_path)])
    assert r.exit_code == 0, r.output
    assert TOWNSHIP in r.output

    houses = _csv(tmp_path / "houses.csv", [house("B1"), house("B2", year_built=2022), house("B3")])
    r = run(township, ["add", "--db", db, "rural_house", str(houses)])
    assert r.exit_code == 1, r.output
    assert "第3行/row 3: year_built" in r.output and "[REFERENCE_DATE]" in r.output
    r = run(township, ["add", "--db", db, "rural_house", str(houses), "--json"])
    rep = json.loads(r.stdout)
    assert (rep["rows"], rep["valid"], rep["invalid"], rep["unchanged"]) == (3, 2, 1, 3)

    r = run(township, ["list", "--db", db, "--status", "draft", "--json"])
    drafts = json.loads(r.stdout)
    assert [d["key"] for d in drafts] == ["B2"] and drafts[0]["problems"][0]["path"] == "year_built"

    r = run(township, ["status", "--db", db, "--json"])
    s = json.loads(r.stdout)
    assert s["records"]["rural_house"] == {"final": 2, "draft": 1} and s["pending_revisions"] == 2

    out = tmp_path / "usb"
    r = run(township, ["export", "--db", db, "--out", str(out)])
    assert r.exit_code == 0, r.output
    pkg = Path(r.stdout.strip().splitlines()[0])
    assert pkg.is_file() and pkg.parent == out and pkg.suffix == ".censuspkg"

    fb = make_feedback(keys, township=TOWNSHIP, acknowledged_through={device.device_id: 1}, items=[])
    fpath = write_feedback(fb, tmp_path / "fb")
    r = run(township, ["feedback", "--db", db, str(fpath)])
    assert r.exit_code == 0, r.output
    r = run(township, ["export", "--db", db, "--out", str(out), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["path"] is None  # nothing new: not an error

    r = run(township, ["verify", "--db", db])
    assert r.exit_code == 0, r.output
    raw = sqlite3.connect(db)
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute("UPDATE audit SET detail = '{}' WHERE seq = 2")
    raw.commit()
    raw.close()
    r = run(township, ["verify", "--db", db])
    assert r.exit_code == 1 and "audit row 2" in r.output


def test_township_cli_errors_are_one_line(tmp_path):
    run = CliRunner().invoke
    r = run(township, ["status", "--db", str(tmp_path / "missing.db")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    bad = tmp_path / "enrol.json"
    bad.write_text('{"format": "census-enrolment/1"}', encoding="utf-8")
    r = run(township, ["init", "--db", str(tmp_path / "t.db"), "--enrolment", str(bad)])
    assert r.exit_code == 1 and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
