"""Registry consistency and the classification table."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from hazards import registry as reg
from hazards.errors import UnknownHazard
from hazards.registry import (FAMILIES, FLOOD_RETURN_PERIODS, GB18306_BAND_EDGES, GB18306_PGA_ZONES, LAYERS,
                              RISK_LEVELS, classify, gb18306_zone, get_layer, layers_for_family)
from schemas.errors import CensusError

EXPECTED_IDS = (
    "eq_pga_scenario", "eq_pga_475", "geo_susceptibility", "rainstorm", "wind_gust", "drought",
    "flood_depth_rp10", "flood_depth_rp20", "flood_depth_rp50", "flood_depth_rp100",
    "storm_surge_depth", "fire_danger",
)


def test_layer_ids_are_unique_and_in_stable_order():
    ids = tuple(spec.id for spec in LAYERS)
    assert ids == EXPECTED_IDS
    assert len(set(ids)) == len(ids)


def test_families_are_the_six_census_families():
    assert [(f.id, f.name_zh) for f in FAMILIES] == [
        ("earthquake", "地震"), ("geological", "地质灾害"), ("meteorological", "气象灾害"),
        ("flood", "水旱灾害"), ("marine", "海洋灾害"), ("fire", "森林和草原火灾")]
    family_ids = {f.id for f in FAMILIES}
    for spec in LAYERS:
        assert spec.family in family_ids, spec.id
    # every family has at least one layer
    assert {spec.family for spec in LAYERS} == family_ids


@pytest.mark.parametrize("spec", LAYERS, ids=lambda s: s.id)
def test_classes_are_five_contiguous_ordered_levels(spec):
    classes = spec.classes
    assert [c.level for c in classes] == [1, 2, 3, 4, 5]
    assert [c.colour for c in classes] == [colour for _l, _zh, _en, colour in RISK_LEVELS]
    assert [c.name_zh for c in classes] == ["高", "较高", "中", "较低", "低"]
    for c in classes:
        assert c.lower < c.upper
    ascending = list(reversed(classes)) if spec.higher_is_worse else list(classes)
    assert ascending[0].lower == -math.inf and ascending[-1].upper == math.inf
    for lo, hi in zip(ascending, ascending[1:]):
        assert lo.upper == hi.lower, (spec.id, lo, hi)
    assert list(spec.breaks) == sorted(spec.breaks) and len(spec.breaks) == 4
    assert spec.name_zh and spec.name_en and spec.description_zh and spec.description_en and spec.unit
    assert np.dtype(spec.dtype).kind in "fu"
    assert np.array(spec.nodata, dtype=spec.dtype) == spec.nodata  # representable in its dtype


def test_risk_levels_are_the_project_convention():
    assert RISK_LEVELS == (
        (1, "高", "high", "#d7191c"), (2, "较高", "fairly high", "#fdae61"), (3, "中", "medium", "#ffffbf"),
        (4, "较低", "fairly low", "#a6d96a"), (5, "低", "low", "#1a9641"))


def test_flood_layers_match_return_periods():
    assert FLOOD_RETURN_PERIODS == (10, 20, 50, 100)
    flood = [s for s in LAYERS if s.id.startswith("flood_depth_rp")]
    assert [s.return_period for s in flood] == list(FLOOD_RETURN_PERIODS)
    assert all(s.unit == "m" and s.family == "flood" for s in flood)
    assert reg.flood_layer_id(50) == "flood_depth_rp50"
    with pytest.raises(UnknownHazard):
        reg.flood_layer_id(25)


def test_gb18306_bands():
    assert GB18306_BAND_EDGES == (0.04, 0.09, 0.14, 0.19, 0.28, 0.38)
    assert [z for z, *_ in GB18306_PGA_ZONES] == [None, 0.05, 0.10, 0.15, 0.20, 0.30, 0.40]
    for (_z, _lo, hi, _i), (_z2, lo2, _hi2, _i2) in zip(GB18306_PGA_ZONES, GB18306_PGA_ZONES[1:]):
        assert hi == lo2
    pga = np.array([0.0, 0.039, 0.04, 0.089, 0.09, 0.14, 0.19, 0.279, 0.28, 0.38, 0.9, np.nan])
    np.testing.assert_array_equal(
        gb18306_zone(pga), [0, 0, 0.05, 0.05, 0.10, 0.15, 0.20, 0.20, 0.30, 0.40, 0.40, np.nan])
    # float32 data at an edge belongs to the band that starts there
    assert gb18306_zone(np.float32(0.19)) == 0.20
    spec = get_layer("eq_pga_475")
    assert spec.return_period == 475 and spec.unit == "g" and spec.intensity_measure == "PGA"
    assert set(spec.breaks) <= set(GB18306_BAND_EDGES)  # the five levels only cut at GB edges
    assert "GB 18306" in spec.description_zh and "0.04/0.09/0.14/0.19/0.28/0.38" in spec.description_en


CLASS_TABLE = [
    # layer, value, level
    ("eq_pga_475", 0.03, 5), ("eq_pga_475", 0.05, 5), ("eq_pga_475", 0.09, 4), ("eq_pga_475", 0.10, 4),
    ("eq_pga_475", 0.15, 3), ("eq_pga_475", 0.19, 2), ("eq_pga_475", 0.20, 2), ("eq_pga_475", 0.30, 1),
    ("eq_pga_475", 0.40, 1), ("eq_pga_scenario", 0.139, 4),
    ("geo_susceptibility", 1, 1), ("geo_susceptibility", 2, 2), ("geo_susceptibility", 3, 3),
    ("geo_susceptibility", 4, 4), ("geo_susceptibility", 5, 5),
    ("rainstorm", 80, 5), ("rainstorm", 100, 4), ("rainstorm", 180, 3), ("rainstorm", 249.9, 2),
    ("rainstorm", 250, 1),
    ("wind_gust", 15, 5), ("wind_gust", 17.2, 4), ("wind_gust", 30, 3), ("wind_gust", 35, 2), ("wind_gust", 45, 1),
    ("drought", 0.1, 5), ("drought", 0.2, 4), ("drought", 0.5, 3), ("drought", 0.7, 2), ("drought", 0.8, 1),
    ("flood_depth_rp100", 0.0, 5), ("flood_depth_rp100", 0.5, 4), ("flood_depth_rp10", 1.5, 3),
    ("flood_depth_rp20", 2.0, 2), ("flood_depth_rp50", 3.2, 1),
    ("storm_surge_depth", 0.1, 5), ("storm_surge_depth", 0.15, 4), ("storm_surge_depth", 0.6, 3),
    ("storm_surge_depth", 1.2, 2), ("storm_surge_depth", 3.0, 1),
    ("fire_danger", 0.0, 5), ("fire_danger", 0.99, 1),
]


@pytest.mark.parametrize("layer_id,value,level", CLASS_TABLE)
def test_classification_table(layer_id, value, level):
    spec = get_layer(layer_id)
    got = classify(np.array([value], dtype=spec.dtype), layer_id)
    assert got.dtype == np.int8
    assert got.tolist() == [level]
    assert spec.get_class(level).contains(value)


def test_classify_marks_nodata_and_nan_as_zero_and_keeps_shape():
    values = np.array([[0.3, np.nan], [-9999.0, 0.01]], dtype="float32")
    np.testing.assert_array_equal(classify(values, "eq_pga_475"), [[1, 0], [0, 5]])
    np.testing.assert_array_equal(classify(np.array([0, 1, 5], dtype="uint8"), "geo_susceptibility"), [0, 1, 5])
    # a raster with its own nodata code
    np.testing.assert_array_equal(classify(np.array([-1.0, 0.9]), "drought", nodata=-1.0), [0, 1])


@given(st.sampled_from(LAYERS),
       st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False))
def test_classify_agrees_with_class_ranges(spec, value):
    if value == spec.nodata:
        return
    level = int(classify(np.array([value]), spec)[0])
    assert spec.get_class(level).contains(value)


def test_unknown_layer_error_is_bilingual_and_lists_ids():
    with pytest.raises(UnknownHazard) as info:
        get_layer("tsunami")
    err = info.value
    assert isinstance(err, CensusError) and isinstance(err, KeyError) and isinstance(err, ValueError)
    assert "未知" in err.message_zh and "tsunami" in err.message_zh
    for layer_id in EXPECTED_IDS:
        assert layer_id in err.message_zh and layer_id in err.message_en
    assert str(err).startswith("未知")


def test_layers_for_family():
    assert [s.id for s in layers_for_family("flood")] == [
        "drought", "flood_depth_rp10", "flood_depth_rp20", "flood_depth_rp50", "flood_depth_rp100"]
    assert [s.id for s in layers_for_family("meteorological")] == ["rainstorm", "wind_gust"]
    with pytest.raises(UnknownHazard, match="灾害类别"):
        layers_for_family("volcano")


def test_specs_are_frozen():
    spec = get_layer("rainstorm")
    with pytest.raises(AttributeError):
        spec.unit = "cm"  # type: ignore[misc]


def test_class_label():
    assert get_layer("eq_pga_475").class_label(1) == "高 (≥0.28 g)"
    assert get_layer("flood_depth_rp10").class_label(3, "en") == "medium (1–2 m)"
    assert get_layer("rainstorm").class_label(5) == "低 (<100 mm)"


FORBIDDEN = ("geodb", "sync", "exposure", "risk", "mapping", "sample_data", "census_cli", "census_desktop",
             "PyQt5", "PyQt6", "PySide2", "PySide6")


def test_hazards_imports_only_schemas_and_third_party():
    root = Path(reg.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def test_classify_uses_a_dataarrays_own_nodata():
    from affine import Affine

    from hazards.io import make_dataarray

    da = make_dataarray(np.array([[-1.0, 0.5]], "float32"), Affine(0.1, 0, 120, 0, -0.1, 41), nodata=-1.0)
    np.testing.assert_array_equal(classify(da, "fire_danger"), [[0, 3]])
    assert reg.class_colours()[0] == reg.NODATA_COLOUR and reg.class_colours()[1] == "#d7191c"
