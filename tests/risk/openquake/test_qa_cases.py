"""oq-engine scenario-damage QA cases reproduced: our CSVs against OpenQuake's expected outputs.

See data/README.md for where each file comes from. OpenQuake stores damage as float32 and prints
7 significant digits, so values are compared with a relative tolerance of 1e-5.
"""

import csv
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from risk.openquake import run_scenario_damage

DATA = Path(__file__).parent / "data"
RTOL = 1e-5
NS = {"n": "http://openquake.org/xmlns/nrml/0.5", "n4": "http://openquake.org/xmlns/nrml/0.4"}


def _copy_case(case: str, tmp_path: Path) -> Path:
    dst = tmp_path / case
    shutil.copytree(DATA / case, dst)
    return dst


def _run(case: str, tmp_path: Path, fragility: str, **kw):
    d = _copy_case(case, tmp_path)
    run = run_scenario_damage(d / "exposure_model.xml", d / fragility, d / kw.pop("gmf", "gmf_scenario.csv"),
                              tmp_path / "out", sites_path=d / kw.pop("sites", "sites.csv"), **kw)
    return run, d


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    return list(csv.DictReader(lines))


def _xml_per_asset(path: Path) -> dict[str, dict[str, tuple[float, float]]]:
    out = {}
    for asset in ET.parse(path).getroot().iter():
        if asset.tag.endswith("}asset"):
            out[asset.get("assetRef")] = {d.get("ds"): (float(d.get("mean")), float(d.get("stddev")))
                                          for d in asset if d.tag.endswith("}damage")}
    return out


def _xml_total(path: Path) -> dict[str, tuple[float, float]]:
    return {d.get("ds"): (float(d.get("mean")), float(d.get("stddev")))
            for d in ET.parse(path).getroot().iter() if d.tag.endswith("}damage")}


def _assert_same_numbers(got: dict, expected: dict, keys):
    for k in keys:
        assert float(got[k]) == pytest.approx(float(expected[k]), rel=RTOL), k


def _compare_by_taxon(got_path: Path, expected_path: Path, only=None):
    got = {r["tag"]: r for r in _read_csv(got_path)}
    expected = {r["tag"]: r for r in _read_csv(expected_path)}
    tags = only or sorted(expected)
    assert sorted(got) == sorted(tags)
    for tag in tags:
        cols = [c for c in expected[tag] if c != "tag"]
        _assert_same_numbers(got[tag], expected[tag], cols)


def _compare_total(got_path: Path, expected_path: Path):
    got = {r["damage_state"]: r["damage_value"] for r in _read_csv(got_path)}
    expected = {r["damage_state"]: r["damage_value"] for r in _read_csv(expected_path)}
    assert sorted(got) == sorted(expected)
    _assert_same_numbers(got, expected, expected)


# --------------------------------------------------------------------------------------------- case_1

def test_case_1_discrete_nrml05_per_asset_total_and_taxonomy(tmp_path):
    run, d = _run("case_1", tmp_path, "fragility_discrete.xml", max_distance_km=20)
    expected = _xml_per_asset(d / "expected" / "dmg_dist_per_asset.xml")
    got = {r["asset_ref"]: r for r in _read_csv(Path(run.files["dmg_by_asset"]))}
    assert sorted(got) == sorted(expected) == ["a1", "a2", "a3"]
    for aid, states in expected.items():
        for ds, (mean, std) in states.items():
            assert float(got[aid][f"structural~{ds}_mean"]) == pytest.approx(mean, rel=RTOL)
            assert float(got[aid][f"structural~{ds}_stdv"]) == pytest.approx(std, rel=RTOL)
    total = _xml_total(d / "expected" / "dmg_dist_total.xml")
    got_total = {r["damage_state"]: float(r["damage_value"]) for r in _read_csv(Path(run.files["dmg_total"]))}
    for ds, (mean, std) in total.items():
        assert got_total[f"{ds}_mean"] == pytest.approx(mean, rel=RTOL)
        assert got_total[f"{ds}_stdv"] == pytest.approx(std, rel=RTOL)
    _compare_by_taxon(Path(run.files["dmg_by_taxon"]), d / "expected" / "dmg_by_taxon.csv", only=["RC", "RM"])


def test_case_1_avg_damages_layout(tmp_path):
    run, _ = _run("case_1", tmp_path, "fragility_discrete.xml", max_distance_km=20)
    rows = _read_csv(Path(run.files["avg_damages"]))
    assert list(rows[0]) == ["asset_id", "CRESTA", "taxonomy", "lon", "lat", "structural~no_damage",
                             "structural~LS1", "structural~LS2"]
    by_id = {r["asset_id"]: r for r in rows}
    assert by_id["a2"]["CRESTA"] == "01.1" and by_id["a1"]["CRESTA"] == "?"
    assert (by_id["a3"]["lon"], by_id["a3"]["lat"]) == ("15.48000", "38.25000")
    for r, number in ((by_id["a1"], 3000), (by_id["a2"], 2000), (by_id["a3"], 1000)):
        assert sum(float(r[c]) for c in list(r)[-3:]) == pytest.approx(number, rel=1e-6)  # printed to 7 digits
    # per event, buildings are conserved across damage states
    for r in _read_csv(Path(run.files["dmg_by_event"])):
        assert sum(float(v) for k, v in r.items() if k.startswith("structural~")) == pytest.approx(6000, rel=1e-6)


# --------------------------------------------------------------------------------------------- case_2

def test_case_2_continuous_nrml04(tmp_path):
    run, d = _run("case_2", tmp_path, "fragility_continuous.xml", max_distance_km=20)
    expected = {r["asset_ref"]: r for r in _read_csv(d / "expected" / "dmg_by_asset.csv")}
    got = {r["asset_ref"]: r for r in _read_csv(Path(run.files["dmg_by_asset"]))}
    assert sorted(got) == sorted(expected)
    for aid, row in expected.items():
        assert got[aid]["taxonomy"] == row["taxonomy"]
        assert (got[aid]["lon"], got[aid]["lat"]) == (row["lon"], row["lat"])
        _assert_same_numbers(got[aid], row, [c for c in row if c.startswith("structural~")])
    _compare_total(Path(run.files["dmg_total"]), d / "expected" / "dmg_total.csv")
    _compare_by_taxon(Path(run.files["dmg_by_taxon"]), d / "expected" / "dmg_by_taxon.csv")
    assert run.result.summary()["total_mean"]["no_damage"] == pytest.approx(2054.796, rel=RTOL)


def test_case_2_site_numbering_matters(tmp_path):
    # with the job.ini order of sites instead of OpenQuake's numbering the answer changes: the QA
    # comparison really checks the asset→site association
    run, d = _run("case_2", tmp_path, "fragility_continuous.xml", max_distance_km=20)
    (d / "sites_joborder.csv").write_text("site_id,lon,lat\n0,15.48,38.25\n1,15.56,38.17\n2,15.48,38.09\n")
    other = run_scenario_damage(d / "exposure_model.xml", d / "fragility_continuous.xml", d / "gmf_scenario.csv",
                                tmp_path / "out2", sites_path=d / "sites_joborder.csv", max_distance_km=20)
    assert not np.allclose(other.result.mean, run.result.mean, rtol=1e-3)


# --------------------------------------------------------------------------------------------- case_3

def test_case_3_discrete_nrml04_layout(tmp_path):
    run, d = _run("case_3", tmp_path, "fragility_discrete.xml", max_distance_km=20)
    expected = _xml_per_asset(d / "expected" / "dmg_dist_per_asset.xml")["a2"]
    [row] = _read_csv(Path(run.files["dmg_by_asset"]))
    assert row["asset_ref"] == "a2"
    for ds, (mean, std) in expected.items():  # expected printed with 8 significant digits
        assert float(row[f"structural~{ds}_mean"]) == pytest.approx(mean, rel=1e-6)
        assert float(row[f"structural~{ds}_stdv"]) == pytest.approx(std, rel=1e-6)
    _compare_total(Path(run.files["dmg_total"]), d / "expected" / "dmg_total.csv")
    _compare_by_taxon(Path(run.files["dmg_by_taxon"]), d / "expected" / "dmg_by_taxon.csv")


# -------------------------------------------------------------------------------------------- case_10

def test_case_10_exposure_csv_sites_multi_imt_and_mapping(tmp_path):
    run, d = _run("case_10", tmp_path, "fragility_ejemplo.xml", gmf="gmf-data_from_OQ.csv",
                  sites="sitemesh_median_Tijuana.csv", max_distance_km=150,
                  taxonomy_mapping_path=DATA / "case_10" / "taxonomy_mapping.csv")
    expected = {r["asset_id"]: r for r in _read_csv(d / "expected" / "avg_damages-0.csv")}
    got_rows = _read_csv(Path(run.files["avg_damages"]))
    assert list(got_rows[0]) == list(next(iter(expected.values())))  # same columns, same order
    got = {r["asset_id"]: r for r in got_rows}
    assert sorted(got) == sorted(expected)
    for aid, row in expected.items():
        for col in row:
            if col.startswith("structural~"):
                assert float(got[aid][col]) == pytest.approx(float(row[col]), rel=RTOL, abs=1e-9), (aid, col)
            else:
                assert got[aid][col] == row[col], (aid, col)
    assert run.result.imts == ("PGA",)  # the mapped taxonomy "M" uses PGA, from a 3-IMT file
    assert run.result.n_events == 1
    assert set(run.result.site_row.tolist()) == {19, 22}  # nearest sites; neither has ground motion


def test_case_10_with_ground_motion_at_the_nearest_sites(tmp_path):
    # the same case with ground motion added at sites 19 and 22: damage now follows mapping M (PGA, ndl 0.05)
    d = _copy_case("case_10", tmp_path)
    gmf = d / "gmf-data_from_OQ.csv"
    gmf.write_text(gmf.read_text() + "0,19,3.0E-01,6.0E-01,2.0E-01\n0,22,0.04,0.9,0.5\n")
    run = run_scenario_damage(d / "exposure_model.xml", d / "fragility_ejemplo.xml", gmf, tmp_path / "o",
                              sites_path=d / "sitemesh_median_Tijuana.csv", max_distance_km=150,
                              taxonomy_mapping_path=d / "taxonomy_mapping.csv")
    r = run.result
    by_id = dict(zip([r.exposure.ids[i] for i in r.kept], r.mean))
    # site 22 has PGA 0.04 < noDamageLimit 0.05: a293 and a687 stay undamaged
    np.testing.assert_allclose(by_id["a293"], [4890, 0, 0, 0, 0])
    np.testing.assert_allclose(by_id["a687"], [210, 0, 0, 0, 0])
    # site 19 has PGA 0.3: interpolate M's curves at 0.3 by hand (levels 0.288873 and 0.307198)
    t = (0.3 - 0.288873) / (0.307198 - 0.288873)
    p = [0.208532 + t * (0.238978 - 0.208532), 0.007588 + t * (0.010004 - 0.007588),
         0.000797 + t * (0.001125 - 0.000797), 0.00014 + t * (0.000207 - 0.00014)]
    fractions = [1 - p[0], p[0] - p[1], p[1] - p[2], p[2] - p[3], p[3]]
    np.testing.assert_allclose(by_id["a20"], 139 * np.array(fractions), rtol=1e-9)
