"""Fixtures for the mapping tests: one small sample county (real 兴城 boundaries, 400 houses) taken
through fieldwork and county import once per session, with and without synthetic risk layers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .synthetic_risk import write_synthetic_risk


@pytest.fixture(scope="session")
def county_dir(tmp_path_factory) -> Path:
    from sample_data.build import build_sample
    from sample_data.fieldwork import simulate_fieldwork
    from sync.county import init_county
    from sync.county_import import import_packages

    d = tmp_path_factory.mktemp("mapcounty")
    build_sample(d / "sample", county="211481", buildings=400, seed=3, resolution=0.006)
    gpkg = d / "county" / "211481.gpkg"
    gpkg.parent.mkdir()
    init_county(gpkg, county="211481", sample=d / "sample")
    fw = simulate_fieldwork(d / "sample", d / "fieldwork", seed=3, county_gpkg=gpkg)
    import_packages(gpkg, fw.packages)
    return d


@pytest.fixture(scope="session")
def hazards_dir(county_dir) -> Path:
    return county_dir / "sample" / "hazards"


@pytest.fixture(scope="session")
def plain_gpkg(county_dir) -> Path:
    """The county GeoPackage after import, without risk layers (tests must not write to it)."""
    return county_dir / "county" / "211481.gpkg"


@pytest.fixture(scope="session")
def risk_gpkg(county_dir, plain_gpkg, hazards_dir, tmp_path_factory) -> Path:
    """A copy of the county GeoPackage with synthetic risk_* layers that follow the contract."""
    d = tmp_path_factory.mktemp("riskcounty")
    path = d / "211481.gpkg"
    shutil.copy(plain_gpkg, path)
    write_synthetic_risk(path, hazards_dir=hazards_dir)
    return path


@pytest.fixture(scope="session")
def risk_src(risk_gpkg):
    from mapping.source import MapSource

    return MapSource(risk_gpkg)


@pytest.fixture(scope="session")
def comprehensive_fig(risk_src):
    """The comprehensive zoning map, drawn once and shared by the read-only checks."""
    from mapping.zoning import zoning_map

    fig = zoning_map(risk_src, "comprehensive")
    fig.canvas.draw()
    return fig


@pytest.fixture
def no_cjk_font(monkeypatch):
    """Pretend no CJK font is installed (the search finds nothing); restore the real font afterwards."""
    from mapping import fonts

    fonts.reset_font_cache()
    monkeypatch.setattr(fonts, "candidate_files", list)
    yield
    monkeypatch.undo()
    fonts.reset_font_cache()
    fonts.use_cjk_font()


@pytest.fixture(scope="session")
def assessed_gpkg(risk_gpkg, hazards_dir, tmp_path_factory) -> Path:
    """A copy of ``risk_gpkg`` after the real ``census risk dangers`` and ``census risk history`` runs
    (danger_* and history_* layers; the DEM is the sample's terrain/dem.tif)."""
    from risk.hidden_dangers import run_dangers
    from risk.history import run_history

    d = tmp_path_factory.mktemp("assessed")
    path = d / "211481.gpkg"
    shutil.copy(risk_gpkg, path)
    run_dangers(path, hazards_dir, d / "整治清单.xlsx")
    run_history(path, d / "history")
    return path


@pytest.fixture(scope="session")
def assessed_src(assessed_gpkg):
    from mapping.source import MapSource

    return MapSource(assessed_gpkg)


@pytest.fixture(scope="session")
def assessed_report(assessed_src, tmp_path_factory):
    """The report of the assessed county (with the comprehensive and the danger map), drawn once: the
    report tests share it, as a PDF is seconds of text layout and font embedding. (result, pdftotext)"""
    import subprocess

    from mapping.report import make_report

    out = tmp_path_factory.mktemp("report") / "report.pdf"
    result = make_report(assessed_src, out, maps=["comprehensive", "dangers"])
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    return result, text
