"""`census map …` and `census report`: outputs, exit codes, and clear messages."""

from __future__ import annotations

import json
import re
import subprocess

from click.testing import CliRunner

from census_cli.main import cli


def _run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_map_zoning_writes_a_png(risk_gpkg, tmp_path):
    out = tmp_path / "eq.png"
    r = _run("map", "zoning", "--gpkg", str(risk_gpkg), "--hazard", "earthquake", "--out", str(out), "--dpi", "100",
             "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["path"] == str(out) and data["map"] == "zoning:earthquake"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_map_zoning_without_risk_layers_exits_1_and_says_what_to_run(plain_gpkg, tmp_path):
    r = _run("map", "zoning", "--gpkg", str(plain_gpkg), "--hazard", "comprehensive", "--out", str(tmp_path / "c.png"))
    assert r.exit_code == 1
    assert "census risk assess" in r.output and "risk_grid" in r.output
    assert not (tmp_path / "c.png").exists()


def test_report_without_risk_layers_exits_1(plain_gpkg, tmp_path):
    r = _run("report", "--gpkg", str(plain_gpkg), "--out", str(tmp_path / "r.pdf"))
    assert r.exit_code == 1 and "census risk assess" in r.output


def test_hazard_map_needs_no_risk_outputs(plain_gpkg, hazards_dir, tmp_path):
    r = _run("map", "hazard", "--gpkg", str(plain_gpkg), "--layer", "rainstorm", "--hazards", str(hazards_dir),
             "--out", str(tmp_path / "rain.pdf"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rain.pdf").read_bytes()[:5] == b"%PDF-"


def test_capacity_and_exposure_maps_need_no_risk_outputs(plain_gpkg, tmp_path):
    r = _run("map", "capacity", "--gpkg", str(plain_gpkg), "--out", str(tmp_path / "cap.png"), "--dpi", "72")
    assert r.exit_code == 0, r.output
    r = _run("map", "exposure", "--gpkg", str(plain_gpkg), "--kind", "buildings", "--out", str(tmp_path / "b.png"),
             "--dpi", "72")
    assert r.exit_code == 0, r.output
    r = _run("map", "capacity", "--gpkg", str(plain_gpkg), "--indicator", "capacity_index",
             "--out", str(tmp_path / "ci.png"))
    assert r.exit_code == 1 and "census risk assess" in r.output     # this indicator comes from the risk run


def test_usage_errors_exit_2(risk_gpkg, tmp_path):
    r = _run("map", "zoning", "--gpkg", str(risk_gpkg), "--hazard", "tsunami", "--out", str(tmp_path / "x.png"))
    assert r.exit_code == 2 and "comprehensive" in r.output
    r = _run("map", "zoning", "--gpkg", str(tmp_path / "nope.gpkg"), "--hazard", "flood", "--out", str(tmp_path / "x.png"))
    assert r.exit_code == 2 and "nope.gpkg" in r.output


def test_unsupported_format_exits_1(risk_gpkg, tmp_path):
    r = _run("map", "zoning", "--gpkg", str(risk_gpkg), "--hazard", "flood", "--out", str(tmp_path / "x.jpg"))
    assert r.exit_code == 1 and ".png" in r.output and ".pdf" in r.output


def test_report_cli_writes_the_pdf(risk_gpkg, tmp_path):
    out = tmp_path / "report.pdf"
    r = _run("report", "--gpkg", str(risk_gpkg), "--out", str(out), "--maps", "capacity", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["path"] == str(out) and data["maps"] == 1 and data["pages"] >= 10
    assert out.read_bytes()[:5] == b"%PDF-"
    # no danger_* / history_* layers: their chapters are left out and the summary names the commands
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    chapters = re.findall(r"^\s*[一二三四五六七八九十]、(\S+)", text, re.MULTILINE)
    assert "风险评估结果" in chapters
    assert "重点隐患评估与整治清单" not in chapters and "历史灾害评估" not in chapters
    assert "整治清单（前" not in text
    flat = re.sub(r"\s+", "", text)
    assert "censusriskdangers" in flat and "censusriskhistory" in flat


def test_report_unknown_map_id_is_refused(risk_gpkg, tmp_path):
    r = _run("report", "--gpkg", str(risk_gpkg), "--out", str(tmp_path / "r.pdf"), "--maps", "comprehensive,nope")
    assert r.exit_code == 1 and "nope" in r.output and "prevention" in r.output
