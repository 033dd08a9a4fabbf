"""End to end on a tiny synthetic county: expected outputs, conservation, re-runs, the dask engine."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from risk.assess import assess_county
from risk.errors import RiskError
from tests.risk.tiny_county import build

SUMS = ("buildings", "floor_area", "value_cny", "population", "total_loss", "earthquake_scenario_loss",
        "earthquake_loss", "flood_loss", "storm_surge_loss", "wind_loss", "flood_people", "geological_people")


def _read(path, layer):
    import pyogrio

    return pyogrio.read_dataframe(path, layer=layer, read_geometry=False)


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    gpkg, hazards = build(tmp)
    result = assess_county(gpkg, hazards)
    return gpkg, hazards, result


def _validate(path):
    return subprocess.run([sys.executable, "-m", "osgeo_utils.samples.validate_gpkg", "-k", "--extra", str(path)],
                          capture_output=True, text=True)


def test_layers_are_written_and_valid(county):
    import pyogrio

    gpkg, _, r = county
    names = [str(n) for n, _ in pyogrio.list_layers(gpkg)]
    for layer in ("risk_buildings", "risk_grid", "risk_townships", "risk_villages", "risk_breaks", "risk_runs"):
        assert names.count(layer) == 1
    proc = _validate(gpkg)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert r.buildings == 11 and r.townships == 2 and r.villages == 4
    assert "11" in r.summary_en and "栋房屋" in r.summary_zh


def test_rejected_records_are_left_out(county):
    b = _read(county[0], "risk_buildings")
    assert "RX" not in set(b["building_id"]) and len(b) == 11


def test_flood_loss_hand_computed(county):
    b = _read(county[0], "risk_buildings").set_index("building_id")
    # R1: one storey, residential, 1 m at every return period → Huizinga Asia 0.494 at all points;
    # EAL = 0.494 V [(0.5−0.1)(0+1)/2 + (0.1−0.01)·1 + 0.01·1] = 0.494 · 0.3 · V
    v = b.loc["R1", "value_cny"]
    assert v == pytest.approx(100 * 1800 * 0.75)
    assert b.loc["R1", "flood_loss"] == pytest.approx(0.494 * 0.3 * v)
    assert b.loc["R3", "flood_loss"] == 0.0
    # U2: 3-storey school (commercial curve), 1 m → one storey of three under water
    assert b.loc["U2", "flood_loss"] == pytest.approx(0.538 / 3 * 0.3 * b.loc["U2", "value_cny"])


def test_earthquake_loss_against_independent_hazus_computation(county):
    b = _read(county[0], "risk_buildings").set_index("building_id")
    assert b.loc["R1", "eq_taxonomy"] == "brick_concrete/L/PC"
    lr = np.array([0.02, 0.10, 0.447, 1.0])

    def mdr(a, med):
        p = norm.cdf(np.log(a / np.asarray(med)) / 0.64)
        return float(np.array([p[0] - p[1], p[1] - p[2], p[2] - p[3], p[3]]) @ lr)

    a475 = float(np.float32(0.1))                  # the raster is float32
    pga = [a475 / 3, a475, 1.95 * a475, 2.95 * a475]   # GB 18306 ratios of the 475-yr PGA
    lam = [1 / 50, 1 / 475, 1 / 2475, 1 / 10000]
    ratios = [0.7 * mdr(a, [0.13, 0.17, 0.26, 0.37]) + 0.3 * mdr(a, [0.12, 0.15, 0.22, 0.41]) for a in pga]
    eal = sum((lam[i] - lam[i + 1]) * (ratios[i] + ratios[i + 1]) / 2 for i in range(3)) + lam[3] * ratios[3]
    assert b.loc["R1", "earthquake_loss"] == pytest.approx(eal * b.loc["R1", "value_cny"], rel=1e-9)


def test_residents_and_capacity(county):
    b = _read(county[0], "risk_buildings").set_index("building_id")
    # village 211481001001 (300 people): R1 100 m², R3 200 m² residential → 100 and 200
    assert b.loc["R1", "residents"] == pytest.approx(100.0)
    assert b.loc["R3", "residents"] == pytest.approx(200.0)
    assert b["residents"].sum() == pytest.approx(1000.0)
    t = _read(county[0], "risk_townships").set_index("township_code")
    assert t.loc["211481001", "capacity_return_index"] == 1.0 and t.loc["211481002", "capacity_return_index"] == 0.0


def test_totals_are_conserved_between_buildings_grid_and_townships(county):
    gpkg = county[0]
    b, g, t = _read(gpkg, "risk_buildings"), _read(gpkg, "risk_grid"), _read(gpkg, "risk_townships")
    for col in SUMS:
        bcol = {"buildings": None, "population": "residents"}.get(col, col)
        total_b = len(b) if bcol is None else b[bcol].fillna(0).sum()
        assert g[col].sum() == pytest.approx(total_b), col
        assert t[col].sum() == pytest.approx(total_b), col


def test_expected_levels_and_zones(county):
    gpkg = county[0]
    b = _read(gpkg, "risk_buildings").set_index("building_id")
    # R1's flood loss ratio 0.148/yr scores 1 → index = LCC^(1/3), LCC = 0.1 + 0.9 (1 − C)
    lcc = 0.1 + 0.9 * (1 - b.loc["R1", "capacity_index"])
    assert b.loc["R1", "flood_index"] == pytest.approx(lcc ** (1 / 3))
    assert b.loc["R1", "flood_level"] == 2
    assert b.loc["R3", "flood_level"] == 5
    t = _read(gpkg, "risk_townships").set_index("township_code")
    assert t.loc["211481001", "dominant_hazard"] == "flood"
    assert t.loc["211481002", "dominant_hazard"] == "earthquake"
    assert set(t["prevention_zone"]) <= {"key", "secondary", "general"}
    g = _read(gpkg, "risk_grid")
    assert g["cell_id"].str.match(r"^E\d+N\d+$").all()
    assert ((g["comprehensive_level"] >= 1) & (g["comprehensive_level"] <= 5)).all()
    br = _read(gpkg, "risk_breaks")
    assert set(br["scope"]) == {"buildings", "grid", "townships"}
    assert (br.loc[br["hazard"] == "comprehensive", "method"] == "fixed").all()


def test_rasters(county):
    import rasterio

    gpkg, _, r = county
    d = Path(gpkg).parent / "risk"
    assert (d / "comprehensive_level.tif").exists() and (d / "flood_loss.tif").exists()
    assert not (d / "fire_loss.tif").exists()              # index hazards have no loss raster
    with rasterio.open(d / "comprehensive_level.tif") as src:
        a = src.read(1)
        assert src.crs.to_epsg() == 4549 and src.nodata == 0
    assert (a > 0).sum() == r.cells and a.max() <= 5


def test_rerun_replaces_outputs_and_other_engines_agree(county, tmp_path):
    import pyogrio

    gpkg, hazards, first = county
    work = tmp_path / "c" / "211481.gpkg"
    work.parent.mkdir()
    shutil.copy(gpkg, work)
    before = [str(n) for n, _ in pyogrio.list_layers(work)]
    second = assess_county(work, hazards, engine="dask", npartitions=3)
    assert [str(n) for n, _ in pyogrio.list_layers(work)] == before
    runs = _read(work, "risk_runs")
    assert len(runs) == 1 and runs.loc[0, "run_id"] == second.run_id and runs.loc[0, "engine"] == "dask"
    assert _validate(work).returncode == 0
    for layer, key in (("risk_buildings", "census_uuid"), ("risk_grid", "cell_id"), ("risk_townships", "township_code")):
        a = _read(gpkg, layer).sort_values(key).reset_index(drop=True)
        b = _read(work, layer).sort_values(key).reset_index(drop=True)
        assert len(a) == len(b)
        num = [c for c in a.columns if a[c].dtype.kind in "fi"]
        np.testing.assert_allclose(a[num].to_numpy(float), b[num].to_numpy(float), rtol=1e-9, equal_nan=True)
        other = [c for c in a.columns if c not in num and c != "run_id"]
        assert a[other].fillna("").equals(b[other].fillna(""))


def test_fisher_jenks_needs_enough_values_and_bad_options_fail(county, tmp_path):
    gpkg, hazards, _ = county
    with pytest.raises(RiskError):
        assess_county(gpkg, hazards, method="natural", write=False)
    with pytest.raises(RiskError):
        assess_county(gpkg, hazards, engine="spark", write=False)
    with pytest.raises(FileNotFoundError):
        assess_county(tmp_path / "none.gpkg", hazards)
