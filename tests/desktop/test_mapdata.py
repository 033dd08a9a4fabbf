"""The map's data without Qt: projection, footprint arrays, hit-testing, states, outlines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from census_desktop.mapdata import (
    LocalProjection,
    build_map_data,
    derived_village_outlines,
    footprint_states,
    read_outlines,
    workmap_gpkg,
)


def _square(lon: float, lat: float, d: float = 0.0001) -> str:
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


ROWS = [{"building_id": f"B{i}", "village_code": "211481106001" if i < 3 else "211481106002", "urban": int(i == 4),
         "geometry": _square(120.5 + 0.001 * i, 40.6 + 0.0005 * (i % 2))} for i in range(6)]


def test_projection_round_trips_and_keeps_north_up():
    p = LocalProjection(120.5, 40.6)
    x, y = p.to_scene(120.51, 40.61)
    assert x > 0 and y < 0                 # east is right, north is up (scene y grows down)
    assert abs(float(x) - 0.01 * p.kx) < 1e-6 and abs(float(-y) - 0.01 * 111_195) < 5
    lon, lat = p.to_lonlat(x, y)
    assert lon == pytest.approx(120.51, abs=1e-12) and lat == pytest.approx(40.61, abs=1e-12)


def test_footprints_as_flat_arrays_with_one_anchor_inside_each():
    d = build_map_data(ROWS)
    assert len(d) == 6 and d.ids[2] == "B2" and d.index["B5"] == 5
    assert list(np.diff(d.offsets)) == [5] * 6            # one closed ring of 5 vertices each
    assert d.ring_start.sum() == 6
    for i in range(6):
        assert d.geoms[i].contains(shapely.Point(d.anchors[i]))
    assert 8 < d.sizes[0] < 12                            # 0.0001° ≈ 8.4 m east, 11.1 m north
    assert d.urban.tolist() == [False, False, False, False, True, False]
    # a subset's vertex rows pick exactly those footprints' vertices
    rows = d.vertex_rows(np.array([1, 4]))
    assert np.array_equal(d.coords[rows], np.concatenate([d.coords[5:10], d.coords[20:25]]))


def test_hit_testing_exact_then_nearest_within_tolerance():
    d = build_map_data(ROWS)
    x, y = d.anchors[3]
    assert d.footprint_at(x, y) == 3
    off = (x + 20, y)                                     # 20 m east of B3's anchor, between houses
    assert d.footprint_at(*off) is None
    assert d.footprint_at(*off, tolerance=30) in (3, 4)
    assert d.footprint_at(x + 5000, y, tolerance=30) is None


def test_states_show_the_most_urgent_record_of_a_footprint():
    recs = [{"record_uuid": "u1", "form_id": "rural_house", "key": "B1", "status": "final", "exported_seq": 1},
            {"record_uuid": "u2", "form_id": "rural_house", "key": "B2", "status": "draft"},
            {"record_uuid": "u3", "form_id": "urban_house", "key": "B2", "status": "has_issues"},
            {"record_uuid": "u4", "form_id": "shelter", "key": "B3", "status": "draft"}]
    st = footprint_states(recs)
    assert st["B1"].status == "exported" and st["B2"].status == "has_issues" and st["B2"].record_uuid == "u3"
    assert "B3" not in st                                 # not a house form
    d = build_map_data(ROWS, states=st)
    assert list(d.statuses()) == ["todo", "exported", "has_issues", "todo", "todo", "todo"]


def test_villages_drawn_round_their_footprints_when_no_outline_is_at_hand():
    d = build_map_data(ROWS, village_names={"211481106001": "红所村"})
    names = {v.code: v for v in d.villages}
    assert names["211481106001"].name == "红所村" and names["211481106001"].derived
    for i, r in enumerate(ROWS):
        assert names[r["village_code"]].geom.contains(d.geoms[i])
    assert d.village_at(*d.anchors[0]) is None            # too rough to fill a village code from


def test_outlines_from_the_work_map(county_kit):
    sample, _, township = county_kit
    gpkg = workmap_gpkg(sample)
    assert gpkg is not None and gpkg.name == "sample.gpkg"
    tgeom, villages = read_outlines(gpkg, township)
    assert tgeom is not None and villages and all(code.startswith(township) for code, _, _ in villages)
    d = build_map_data(ROWS, township_geom=tgeom, villages=villages)
    assert d.township is not None and not d.township.derived
    code, _, geom = villages[0]
    p = geom.representative_point()
    x, y = d.proj.to_scene(p.x, p.y)
    assert d.village_at(float(x), float(y)) == code
    assert read_outlines(gpkg, "not-a-code") is None
    assert derived_village_outlines(d.geoms[:0], [], {}) == []
