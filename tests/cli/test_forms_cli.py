"""`census forms …` as a user drives it: exit codes, --json, one line per problem naming row and field."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from click.testing import CliRunner

from census_cli.main import cli
from schemas.model import Block

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_validate import make_records  # noqa: E402  (the benchmark's realistic record maker)


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_list_json_covers_all_seven_blocks():
    r = run("forms", "list", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert {row["block"] for row in rows} == {b.value for b in Block}
    for row in rows:
        assert set(row) >= {"id", "version", "block", "title_zh", "title_en", "fields"}
        assert row["fields"] > 0


def test_show_unknown_form_is_a_clear_error():
    r = run("forms", "show", "no_such_form")
    assert r.exit_code == 1
    assert "no_such_form" in r.output and "没有编号" in r.output
    assert "Traceback" not in r.output


def _write_csv(path: Path, records: list[dict]) -> None:
    names = sorted({k for rec in records for k in rec})
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=names)
        w.writeheader()
        for rec in records:
            w.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v
                        for k, v in rec.items()})


def test_validate_100_row_csv_with_one_bad_row_names_that_row_and_field_only(tmp_path):
    records = make_records(100, seed=7)
    for rec in records:  # make_records plants a bad year every 100th record; start clean
        rec["year_built"] = 1990
    records[41]["year_built"] = 2021
    path = tmp_path / "houses.csv"
    _write_csv(path, records)
    r = run("forms", "validate", "rural_house", str(path))
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    (line,) = lines
    assert "row 43" in line and "第43行" in line  # header is row 1, record 42 is row 43
    assert "year_built" in line and "2020-12-31" in line and "REFERENCE_DATE" in line
    assert "houses.csv" in line


def test_validate_all_valid_exits_0_and_json_is_clean(tmp_path):
    records = make_records(20, seed=3)
    for rec in records:
        rec["year_built"] = 2000
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    r = run("forms", "validate", "rural_house", str(path), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["records"] == 20 and out["invalid"] == 0 and out["problems"] == []


def test_event_after_reference_point_is_rejected(tmp_path):
    example = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "examples" / "disaster_event.json")
                         .read_text(encoding="utf-8"))
    date_fields = [k for k, v in example.items() if isinstance(v, str) and len(v) == 10 and v[4] == "-"]
    start = date_fields[0]
    bad = {**example, start: "2021-01-05"}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(bad, ensure_ascii=False), encoding="utf-8")
    r = run("forms", "validate", "disaster_event", str(path), "--json")
    assert r.exit_code == 1
    problems = json.loads(r.stdout)["problems"]
    assert any(p["code"] == "REFERENCE_DATE" and "2020-12-31" in p["message_zh"] for p in problems), problems


def test_missing_file_is_exit_2(tmp_path):
    r = run("forms", "validate", "rural_house", str(tmp_path / "nope.csv"))
    assert r.exit_code == 2
    assert "nope.csv" in r.output


def test_malformed_json_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[{", encoding="utf-8")
    r = run("forms", "validate", "rural_house", str(path))
    assert r.exit_code == 1
    assert "bad.json" in r.output and "JSON" in r.output and "Traceback" not in r.output


def test_export_then_import_xlsform(tmp_path):
    r = run("forms", "export-xlsform", "--out", str(tmp_path / "x"), "rural_house")
    assert r.exit_code == 0, r.output
    xlsx = tmp_path / "x" / "rural_house.xlsx"
    assert xlsx.is_file()
    r = run("forms", "import-xlsform", str(xlsx), "--out", str(tmp_path / "y"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "y" / "rural_house.yaml").is_file()


def test_bad_county_option_is_a_usage_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[]", encoding="utf-8")
    r = run("forms", "validate", "rural_house", str(path), "--county", "2114")
    assert r.exit_code == 2 and "--county" in r.output
