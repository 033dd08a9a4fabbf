"""`census risk scenario-damage` (the command object, invoked directly)."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from census_cli.cmd_scenario_damage import scenario_damage

DATA = Path(__file__).parent / "data"


@pytest.fixture
def case_2(tmp_path):
    d = tmp_path / "case_2"
    shutil.copytree(DATA / "case_2", d)
    return d


def args(d: Path, out: Path, *extra: str) -> list[str]:
    return ["--exposure", str(d / "exposure_model.xml"), "--fragility", str(d / "fragility_continuous.xml"),
            "--gmf", str(d / "gmf_scenario.csv"), "--sites", str(d / "sites.csv"), "--max-distance", "20",
            "--out", str(out), *extra]


def test_help_has_an_example():
    r = CliRunner().invoke(scenario_damage, ["--help"])
    assert r.exit_code == 0 and "Example" in r.output and "census risk scenario-damage" in r.output
    assert scenario_damage.name == "scenario-damage"


def test_json_summary_only_on_stdout(case_2, tmp_path):
    r = CliRunner().invoke(scenario_damage, args(case_2, tmp_path / "out", "--json"))
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["assets"] == 3 and summary["events"] == 10 and summary["assets_dropped"] == 0
    assert summary["damage_states"] == ["no_damage", "LS1", "LS2"]
    assert summary["total_mean"]["no_damage"] == pytest.approx(2054.796, rel=1e-5)
    assert sorted(Path(p).name for p in summary["files"].values()) == sorted(
        ["avg_damages.csv", "dmg_by_asset.csv", "dmg_by_event.csv", "dmg_total.csv", "dmg_by_taxon.csv"])
    assert all(Path(p).is_file() for p in summary["files"].values())


def test_text_output_reports_dropped_assets(case_2, tmp_path):
    # move asset a2 30 km east of every site: with the default 15 km (OpenQuake's) it is left out
    xml = case_2 / "exposure_model.xml"
    xml.write_text(xml.read_text().replace('lon="15.56" lat="38.17"', 'lon="15.90" lat="38.17"'))
    argv = args(case_2, tmp_path / "out")
    i = argv.index("--max-distance")
    r = CliRunner().invoke(scenario_damage, argv[:i] + argv[i + 2:])
    assert r.exit_code == 0, r.output
    assert "2 个资产 assets" in r.stdout and "1 assets farther than 15 km" in r.stdout


def test_bad_input_is_one_line_with_file_line_field(case_2, tmp_path):
    gmf = case_2 / "gmf_scenario.csv"
    gmf.write_text(gmf.read_text().replace("0,0,3,0.236164", "0,0,3,abc"))
    r = CliRunner().invoke(scenario_damage, args(case_2, tmp_path / "out"))
    assert r.exit_code == 1
    err = r.stderr.strip()
    assert "\n" not in err and "Traceback" not in r.output
    assert "gmf_scenario.csv 第 5 行" in err and "gmf_scenario.csv line 5, field 'gmv_PGA'" in err


def test_missing_file_is_a_usage_error(case_2, tmp_path):
    argv = args(case_2, tmp_path / "out")
    argv[argv.index("--gmf") + 1] = str(case_2 / "none.csv")
    r = CliRunner().invoke(scenario_damage, argv)
    assert r.exit_code == 2 and "none.csv" in r.stderr
