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


def test_lone_surrogate_in_a_json_file_names_record_and_field(tmp_path):
    """JSON can escape a lone UTF-16 surrogate, which no database text can hold: it used to fail with a
    bare UnicodeEncodeError; now the file is refused naming the record and field, and nothing is added.
    In a spreadsheet cell holding JSON the cell stays text (and the validator reports it by row)."""
    run = CliRunner().invoke
    keys = generate_county_keys(COUNTY)
    enr, _ = make_enrolment(keys, county_name="兴城市", township=TOWNSHIP, township_name="测试镇", enumerator="王五",
                            divisions={"townships": {TOWNSHIP: "测试镇"},
                                       "villages": {v: {"name": v, "township": TOWNSHIP} for v in VILLAGES}})
    db = str(tmp_path / "town.db")
    assert run(township, ["init", "--db", db, "--enrolment", str(write_enrolment(enr, tmp_path / "e.json"))]).exit_code == 0
    bad = tmp_path / "houses.json"
    bad.write_text(json.dumps([house("B1"), {**house("B2"), "owner_name": "王\ud800五"}], ensure_ascii=True),
                   encoding="utf-8")
    r = run(township, ["add", "--db", db, "rural_house", str(bad)])
    assert r.exit_code != 0 and "Traceback" not in r.output, r.output
    assert "第 2 条记录的“owner_name”" in r.output and "record 2, 'owner_name'" in r.output
    r = run(township, ["status", "--db", db, "--json"])
    assert not json.loads(r.stdout)["records"], "nothing from the refused file was added"
    # the same text inside a CSV cell that holds JSON: the row is kept, the field reported
    cells = _csv(tmp_path / "houses.csv", [house("B3")])
    text = cells.read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    row = next(csv.reader([text[1]]))
    row[header.index("seismic_measures")] = '["ring_beam\\ud800"]'
    with open(cells, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, row])
    r = run(township, ["add", "--db", db, "rural_house", str(cells), "--json"])
    assert "Traceback" not in r.output, r.output
    rep = json.loads(r.stdout)
    assert (rep["rows"], rep["invalid"]) == (1, 1), rep
