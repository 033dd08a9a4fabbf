"""`census demo` (the README's first command) at a small size: it finishes and what it says it made exists."""

import json
from pathlib import Path

import pyogrio
from click.testing import CliRunner

from census_cli.main import cli


import re

import pytest


@pytest.fixture(scope="module")
def demo_gpkg(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    r = CliRunner().invoke(cli, ["demo", "--out", str(out), "--buildings", "400"])
    assert r.exit_code == 0, r.output
    return out


def _figures(summary: dict) -> list[str]:
    """What the demo reports, without paths and timings (equal for equal data, whatever the backend)."""
    return [re.sub(r"用时 [0-9.]+ 秒。|Took [0-9.]+ s\.", "", item["what"]) for item in summary["made"]]


def test_demo_small(demo_gpkg):
    out = demo_gpkg
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
    # risk, dangers, history, maps and the report
    assert {"risk_grid", "risk_townships", "risk_buildings", "danger_remediation", "history_trends"} <= {
        name for name, _ in pyogrio.list_layers(gpkg)}
    assert (out / "county" / "remediation_list.xlsx").stat().st_size > 0
    import numpy as np
    from PIL import Image
    assert (out / "maps" / "dangers.png").exists() and (out / "maps" / "history.png").exists()
    for png in sorted((out / "maps").glob("*.png")):
        px = np.asarray(Image.open(png).convert("RGB"), dtype=float)
        assert px.std() > 10, f"{png.name} looks blank"
    assert (out / "maps" / "zoning_comprehensive.pdf").exists()
    import subprocess
    info = subprocess.run(["pdfinfo", str(out / "report.pdf")], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 10
    text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "2020-12-31" in text and "兴城" in text
    # the county GeoPackage still passes GDAL's validator after everything wrote into it
    from tests.sample_data.helpers import gpkg_validators
    for cmd in gpkg_validators():
        r = subprocess.run([*cmd, "-k", "--extra", str(gpkg)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_demo_on_postgis_gives_the_same_census(demo_gpkg, pg_url, tmp_path):
    """The whole census with the county database on PostGIS: the same packages accepted, the same
    feedback round, the same risk, dangers and history figures, maps and report as on a GeoPackage."""
    from geodb import layers as L
    from sync.county import county_status, verify_county

    out = tmp_path / "demo_pg"
    r = CliRunner().invoke(cli, ["demo", "--out", str(out), "--buildings", "400", "--db", pg_url])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "demo_summary.json").read_text(encoding="utf-8"))
    for item in summary["made"]:
        assert item["path"].startswith("postgresql://") or Path(item["path"]).exists(), item
    assert not (out / "county" / "211481.gpkg").exists()          # nothing went into a file
    gpkg_summary = json.loads((demo_gpkg / "demo_summary.json").read_text(encoding="utf-8"))
    assert _figures(summary) == _figures(gpkg_summary)
    assert verify_county(pg_url).ok
    st = county_status(pg_url).as_dict()
    assert sum(t["has_issues"] for t in st["townships"]) == 0 and sum(t["conflicts"] for t in st["townships"]) == 0
    assert {"risk_grid", "risk_townships", "risk_buildings", "danger_remediation", "history_trends"} <= set(
        L.list_layers(pg_url))
    grid_pg = L.read_dataframe(pg_url, "risk_grid", read_geometry=False)
    grid_gp = L.read_dataframe(demo_gpkg / "county" / "211481.gpkg", "risk_grid", read_geometry=False)
    assert len(grid_pg) == len(grid_gp)
    assert sorted(grid_pg["comprehensive_level"]) == sorted(grid_gp["comprehensive_level"])
    import subprocess
    info = subprocess.run(["pdfinfo", str(out / "report.pdf")], capture_output=True, text=True, check=True).stdout
    assert int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:"))) >= 10
    text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert pg_url.rsplit("/", 1)[1] in text      # the report names the server database, not a local folder
