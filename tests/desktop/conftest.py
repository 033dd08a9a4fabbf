"""Desktop fixtures built in code: a small sample county, its county GeoPackage and one enrolment
(made once per session), and a fresh township store per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def county_kit(tmp_path_factory):
    """(sample dir, enrolment path, township code) for the township with the most footprints."""
    import geopandas as gpd

    from sample_data.build import build_sample
    from sync.county import enrol_device, init_county

    root = tmp_path_factory.mktemp("desktop_kit")
    sample = root / "sample"
    build_sample(sample, buildings=300, resolution=0.004)
    gpkg = root / "county.gpkg"
    init_county(gpkg, county="211481", sample=sample)
    buildings = gpd.read_file(sample / "sample.gpkg", layer="buildings", columns=["township_code", "urban"])
    rural = buildings[buildings["urban"] == 0]
    township = rural["township_code"].value_counts().index[0]
    _, enrolment = enrol_device(gpkg, township=str(township), enumerator="张三", out=root / "enrolment.json")
    return sample, Path(enrolment), str(township)


@pytest.fixture
def store_path(county_kit, tmp_path) -> Path:
    from geodb.township import TownshipStore

    sample, enrolment, _ = county_kit
    path = tmp_path / "town.db"
    TownshipStore.init(path, enrolment, sample).close()
    return path


@pytest.fixture
def store(store_path):
    from geodb.township import TownshipStore

    s = TownshipStore.open(store_path)
    yield s
    _close_windows()
    s.close()


def _close_windows() -> None:
    """Close the test's windows before their store: a pending autosave or refresh runs against an open
    database (pytest-qt would close them only after this fixture's teardown)."""
    from PyQt5.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    for w in app.topLevelWidgets():   # hidden ones too: a hidden editor can still hold a pending autosave
        w.close()
    app.processEvents()


@pytest.fixture
def enrolment_copy(county_kit, tmp_path) -> Path:
    _, enrolment, _ = county_kit
    dest = tmp_path / "enrol" / "enrolment.json"
    dest.parent.mkdir()
    shutil.copy(enrolment, dest)
    return dest
