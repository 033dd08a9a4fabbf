"""Simulated fieldwork on a tiny sample county built in code (and on the real sample builder when it
is importable, see test_fieldwork_on_the_generated_sample)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from geodb.township import TownshipStore
from sample_data.fieldwork import (
    FormFaker,
    Place,
    _error_targets,
    make_invalid,
    simulate_fieldwork,
)
from schemas.catalogue import all_forms
from schemas.validator import DivisionRegister, ValidationContext, Validator

COUNTY = "211481"
T1, T2 = "211481100", "211481101"


def tiny_sample(d: Path) -> Path:
    import geopandas as gpd
    from shapely.geometry import Point, box

    from hazards.io import make_dataarray, write_geotiff

    d.mkdir(parents=True, exist_ok=True)
    gpkg = d / "sample.gpkg"
    tboxes = {T1: box(120.60, 40.50, 120.70, 40.60), T2: box(120.70, 40.50, 120.80, 40.60)}
    gpd.GeoDataFrame({"code": ["211481"], "name": ["兴城市"]}, geometry=[box(120.6, 40.5, 120.8, 40.6)],
                     crs=4490).to_file(gpkg, layer="county", driver="GPKG")
    gpd.GeoDataFrame({"code": list(tboxes), "name": ["甲镇", "乙乡"], "population": [12000, 8000],
                      "households": [4000, 2700]}, geometry=list(tboxes.values()), crs=4490
                     ).to_file(gpkg, layer="townships", driver="GPKG")
    vrows, vgeoms = [], []
    for t, g in tboxes.items():
        x0, y0, x1, y1 = g.bounds
        for k, (a, b) in enumerate([(x0, (x0 + x1) / 2), ((x0 + x1) / 2, x1)]):
            code = f"{t}{201 + k}"
            vrows.append({"code": code, "township_code": t, "name": f"{code[-3:]}村", "population": 1500 + 300 * k,
                          "households": 500 + 100 * k, "seat_lon": (a + b) / 2, "seat_lat": (y0 + y1) / 2})
            vgeoms.append(box(a, y0, b, y1))
    villages = gpd.GeoDataFrame(vrows, geometry=vgeoms, crs=4490)
    villages.to_file(gpkg, layer="villages", driver="GPKG")
    brows, bgeoms = [], []
    for v, vg in zip(vrows, vgeoms):
        for i in range(12):
            x = vg.bounds[0] + 0.004 + (i % 4) * 0.003
            y = vg.bounds[1] + 0.01 + (i // 4) * 0.003
            brows.append({"building_id": f"B{v['code']}{i:05d}", "township_code": v["township_code"],
                          "village_code": v["code"], "urban": int(i < 2), "form": "town" if i < 2 else "rural"})
            bgeoms.append(box(x, y, x + 0.00012, y + 0.0001))
    gpd.GeoDataFrame(brows, geometry=bgeoms, crs=4490).to_file(gpkg, layer="buildings", driver="GPKG")
    frows = [{"facility_id": f"F{j}", "facility_type": t, "name": f"设施{j}", "capacity": 100.0 + j,
              "capacity_unit": "beds", "township_code": vrows[j]["township_code"], "village_code": vrows[j]["code"],
              "building_id": None} for j, t in enumerate(["school", "clinic", "hospital"])]
    gpd.GeoDataFrame(frows, geometry=[Point(vrows[j]["seat_lon"], vrows[j]["seat_lat"]) for j in range(3)],
                     crs=4490).to_file(gpkg, layer="facilities", driver="GPKG")
    (d / "manifest.json").write_text(json.dumps({"county": COUNTY, "county_name": "兴城市"}, ensure_ascii=False),
                                     encoding="utf-8")
    tr = (0.005, 0.0, 120.6, 0.0, -0.005, 40.6)
    ny, nx = 20, 40
    sus = np.full((ny, nx), 4, dtype="uint8")
    sus[:, :6] = 1  # high susceptibility along the west edge
    write_geotiff(make_dataarray(sus, tr, nodata=0, name="geo_susceptibility"), d / "hazards" / "geo_susceptibility.tif")
    depth = np.zeros((ny, nx), dtype="float32")
    depth[12:16, :] = 1.8  # a river valley
    write_geotiff(make_dataarray(depth, tr, nodata=-9999.0, name="flood_depth_rp100"),
                  d / "hazards" / "flood_depth_rp100.tif")
    return d


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return tiny_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def run(sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("field")
    steps = []
    res = simulate_fieldwork(sample, out, error_rate=0.1, conflicts=3, seed=7,
                             progress=lambda step, done, total: steps.append((step, done, total)))
    return res, out, steps


def test_every_generated_valid_record_passes_the_validator():
    """The generic generator alone (no realistic overrides), for every form in the catalogue."""
    rng = np.random.default_rng(1)
    register = DivisionRegister(townships=frozenset({T1}), villages=frozenset({f"{T1}201"}))
    place = Place(COUNTY, T1, f"{T1}201", 120.65, 40.55)
    failures = {}
    for form_id, form in all_forms().items():
        faker = FormFaker(form, rng)
        v = Validator(form, ValidationContext(county_code=COUNTY, divisions=register, report_unknown_fields=False))
        for _ in range(20):
            rec = faker.record(place)
            res = v.validate(rec)
            attempt = 0
            while not res.ok and attempt < 30:
                attempt += 1
                faker.repair(rec, res.errors, place, attempt)
                res = v.validate(rec)
            if not res.ok:
                failures[form_id] = [p.line() for p in res.errors]
    assert failures == {}


def test_invalid_values_are_caught_by_the_validator():
    rng = np.random.default_rng(2)
    form = all_forms()["rural_house"]
    register = DivisionRegister(townships=frozenset({T1}), villages=frozenset({f"{T1}201"}))
    from shapely.geometry import box

    v = Validator(form, ValidationContext(county_code=COUNTY, divisions=register, boundary=box(120.6, 40.5, 120.7, 40.6),
                                          report_unknown_fields=False))
    place = Place(COUNTY, T1, f"{T1}201", 120.65, 40.55)
    targets = _error_targets(form)
    faker = FormFaker(form, rng)
    for kind in ("future_year", "negative_area", "unknown_code", "out_of_boundary"):
        assert targets[kind], kind
        for _ in range(5):
            rec = faker.record(place)
            while not v.validate(rec).ok:
                rec = faker.record(place)
            assert make_invalid(rec, form, kind, rng, targets)
            assert not v.validate(rec).ok, (kind, rec)


def test_simulation_writes_stores_and_only_packages(run, sample):
    res, out, steps = run
    pkgs = sorted((out / "packages").iterdir())
    assert pkgs and all(p.suffix == ".censuspkg" for p in pkgs)
    assert sorted(res.packages) == pkgs
    assert {d.township for d in res.devices} == {T1, T2}
    assert steps[-1] == ("townships", 2, 2)
    assert res.not_repaired == 0
    assert res.records["rural_house"] + res.records.get("urban_house", 0) == 48
    with TownshipStore.open(out / "townships" / f"{T1}.db") as s:
        assert s.verify().ok
        summary = s.summary()
        assert summary["workmap"]["assigned"] == 24 and summary["workmap"]["filled"] >= 20
        kinds = {r["form_id"] for r in s.records()}
        for f in ("geohazard_site", "disaster_annual", "key_hidden_danger"):
            if f in all_forms():
                assert f in kinds
        sites = s.records("geohazard_site", include_data=True)
        for site in sites:
            lon = site["data"]["location"]["coordinates"][0] if "location" in site["data"] else 120.61
            assert lon < 120.63  # on the high-susceptibility strip


def test_invalid_share_and_conflicts(run):
    res, out, _ = run
    total = sum(res.records.values())
    made = sum(res.invalid.values())
    assert 0 < made < total * 0.3
    assert res.detected_invalid >= made  # the township's own validator already sees them
    assert res.conflicts == 3
    devices_b = [d for d in res.devices if d.store.name.endswith("_b.db")]
    assert devices_b and all(d.package is not None for d in devices_b)
    from sync.package import open_package
    # each conflict: the same record, two devices, two children of the same parent
    by_record: dict[str, list] = {}
    for d in res.devices:
        with TownshipStore.open(d.store) as s:
            for rev in s.pending_revisions():
                by_record.setdefault(rev["record_uuid"], []).append(rev)
    forks = {ru: revs for ru, revs in by_record.items() if len({r["device_id"] for r in revs}) == 2}
    assert len(forks) == 3
    for revs in forks.values():
        parents = [r["parent_revision_id"] for r in revs if r["parent_revision_id"]]
        assert len(parents) == 2 and parents[0] == parents[1]
    assert open_package  # the county side opens them in test_fieldwork_packages_open_at_the_county


def test_fieldwork_packages_open_at_the_county(run):
    res, out, _ = run
    from sync.keys import load_county_keys
    from sync.package import DeviceInfo, open_package

    keys = load_county_keys(res.county_keys)
    devices = {}
    for d in res.devices:
        enr = json.loads((d.store.parent / (d.store.stem + ".enrolment.json")).read_text(encoding="utf-8"))
        devices[d.device_id] = DeviceInfo(d.device_id, COUNTY, d.township, d.enumerator, enr["device_public_key"])
    n = 0
    for p in res.packages:
        opened = open_package(p, county_keys=keys, devices=devices)
        n += len(opened.revisions)
    assert n == sum(d.revisions for d in res.devices)


def test_deterministic_for_a_seed(sample, tmp_path):
    a = simulate_fieldwork(sample, tmp_path / "a", error_rate=0.1, conflicts=1, seed=3)
    b = simulate_fieldwork(sample, tmp_path / "b", error_rate=0.1, conflicts=1, seed=3)
    assert a.records == b.records and a.invalid == b.invalid

    def dump(root):
        with TownshipStore.open(root / "townships" / f"{T1}.db") as s:
            return [(h["record_uuid"], h["revision_id"], h["created_at"], json.dumps(h["data"], sort_keys=True))
                    for r in s.records() for h in s.history(r["record_uuid"])]

    assert dump(tmp_path / "a") == dump(tmp_path / "b")


def test_fieldwork_into_a_real_county(sample, tmp_path):
    """county init → simulate-fieldwork --gpkg → county import: accepted, invalid marked, conflicts kept;
    then county feedback → township feedback: acknowledged and marked on the laptop."""
    from sync.county import init_county, issue_feedback
    from sync.county_import import import_packages

    gpkg = tmp_path / "county.gpkg"
    init_county(gpkg, county=COUNTY, sample=sample)
    res = simulate_fieldwork(sample, tmp_path / "field", error_rate=0.1, conflicts=2, seed=5, county_gpkg=gpkg)
    assert not (tmp_path / "field" / "county_keys").exists()
    results = import_packages(gpkg, sorted(res.packages), workers=0)
    assert [r.outcome for r in results] == ["accepted"] * len(results), [r.line() for r in results]
    assert sum(r.conflicts for r in results) == 2
    assert sum(r.invalid for r in results) >= sum(res.invalid.values())
    assert sum(r.revisions for r in results) == sum(d.revisions for d in res.devices)
    # the county's feedback goes back to the first device of T1
    fb_path, _ = issue_feedback(gpkg, township=T1, out_dir=tmp_path / "fb")
    with TownshipStore.open(tmp_path / "field" / "townships" / f"{T1}.db") as s:
        rep = s.apply_feedback(fb_path)
        assert rep.acknowledged_through == 1 and s.pending_revisions() == []
        assert rep.items and all(i.known for i in rep.items if i.record_uuid in {r["record_uuid"] for r in s.records()})
        marked = s.records(status=["has_issues", "conflict"])
        assert marked
        assert s.verify().ok


def test_simulate_fieldwork_command(sample, tmp_path):
    from click.testing import CliRunner

    from census_cli.cmd_fieldwork import simulate_fieldwork as cmd

    out = tmp_path / "out"
    r = CliRunner().invoke(cmd, ["--sample", str(sample), "--out", str(out), "--seed", "2", "--conflicts", "1",
                                 "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["conflicts"] == 1 and len(doc["packages"]) == len(list((out / "packages").iterdir()))
    r = CliRunner().invoke(cmd, ["--sample", str(tmp_path / "nowhere"), "--out", str(out)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    r = CliRunner().invoke(cmd, ["--sample", str(sample), "--out", str(out), "--error-rate", "1.5"])
    assert r.exit_code == 2
