"""Pure pieces of the map machinery: scale, graticule, wrapping, classes, number formats, label placement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely


def test_metres_per_degree_matches_the_grs80_parallel():
    from pyproj import Geod

    from mapping.cartography import metres_per_degree_lon

    for lat in (0.0, 23.5, 40.55, 53.0):
        # a short arc along the parallel: the geodesic and the parallel agree to < 1e-9
        _a, _b, d = Geod(ellps="GRS80").inv(120.0, lat, 120.001, lat)
        assert metres_per_degree_lon(lat) * 0.001 == pytest.approx(d, rel=1e-7)


def test_nice_scale_lengths_and_ticks():
    from mapping.cartography import _ticks_for, nice_length_km

    assert nice_length_km(68.0) == 15
    assert nice_length_km(80.0) == 20
    assert _ticks_for(20) == (0.0, 5.0, 10.0, 20)
    assert _ticks_for(15) == (0.0, 7.5, 15)


def test_graticule_step_and_labels():
    from mapping.cartography import format_dms, graticule_step

    assert graticule_step(0.8) == pytest.approx(10 / 60)
    assert graticule_step(3.0) == pytest.approx(30 / 60)
    assert format_dms(120.5, "x") == "120°30′E"
    assert format_dms(40.0, "y") == "40°N"
    assert format_dms(40 + 10 / 60, "y") == "40°10′N"


def test_wrap_text_breaks_between_cjk_characters_and_keeps_latin_words():
    from mapping.cartography import wrap_text

    lines = wrap_text("数据来源：致灾因子图层 hazards/flood_depth_rp100.tif 与县级普查数据库", 20)
    assert "hazards/flood_depth_rp100.tif" in "".join(lines).replace(" ", "")
    assert any("hazards/flood_depth_rp100.tif" in line for line in lines)   # never split inside the word
    assert all(not line.lstrip().startswith("，") for line in lines)


def test_fisher_jenks_is_exact():
    import itertools

    from mapping.thematic import fisher_jenks_edges

    rng = np.random.default_rng(5)
    for _ in range(10):
        v = np.sort(rng.lognormal(0, 1, 11))
        k = int(rng.integers(2, 5))
        best, arg = math.inf, None
        for cuts in itertools.combinations(range(1, len(v)), k - 1):
            b = [0, *cuts, len(v)]
            ssd = sum(((v[a:c] - v[a:c].mean()) ** 2).sum() for a, c in zip(b[:-1], b[1:]))
            if ssd < best - 1e-12:
                best, arg = ssd, tuple(float(v[i]) for i in cuts)
        assert fisher_jenks_edges(v, k) == arg


def test_class_edges_and_labels():
    from mapping.fmt import range_labels
    from mapping.thematic import class_edges, classes_of

    v = np.arange(1, 101, dtype=float)
    edges = class_edges(v, "quantiles")
    assert edges == (21.0, 41.0, 60.0, 80.0)          # 20.8, 40.6, 60.4, 80.2 to two significant figures
    assert list(np.bincount(classes_of(v, edges))) == [20, 20, 19, 20, 21]
    assert range_labels((0.2, 0.4, 0.6, 0.8)) == ["<0.2", "0.2–0.4", "0.4–0.6", "0.6–0.8", "≥0.8"]
    assert range_labels((0.2, 0.8), right_closed=True) == ["≤0.2", "0.2–0.8", ">0.8"]
    assert range_labels((1500.0, 25000.0), "人/km²") == ["<1,500 人/km²", "1,500–25,000 人/km²", "≥25,000 人/km²"]


def test_number_formats():
    from mapping import fmt

    assert fmt.num(1234567.8) == "1,234,568"
    assert fmt.num(1234.5678, 2) == "1,234.57"
    assert fmt.num(None) == "—" and fmt.num(float("nan")) == "—"
    assert fmt.wan(123456789) == "12,345.7"
    assert fmt.yi(1_234_567_890) == "12.35"
    assert fmt.money_cny(380_000_000) == "3.80 亿元" and fmt.money_cny(76_000) == "7.6 万元"
    assert fmt.pct(87.456) == "87.5%"


def test_crowded_labels_stay_inside_and_apart():
    from mapping.cartography import set_map_extent
    from mapping.fonts import use_cjk_font
    from mapping.labels import place_labels
    from mapping.layout import new_figure
    from mapping.styles import PageSize

    use_cjk_font()
    fig = new_figure(PageSize("t", 4.0, 4.0))
    ax = fig.add_axes((0.05, 0.05, 0.9, 0.9))
    # a 5 × 5 block of small townships, one long and thin: names barely fit, so the placer must work
    items = [(f"T{i}{j}", f"第{i}{j}号乡镇街道", shapely.box(120 + i * 0.02, 40 + j * 0.02, 120.02 + i * 0.02, 40.02 + j * 0.02))
             for i in range(5) for j in range(5)]
    items.append(("L", "狭长街道", shapely.box(120.0, 40.1, 120.1, 40.104)))
    set_map_extent(ax, (120.0, 40.0, 120.1, 40.105), 40.05, margin=0.02)
    placed = place_labels(ax, items, lat0=40.05, fontsize=8)
    assert len(placed) == len(items)
    geoms = {k: g for k, _t, g in items}
    for p in placed:
        assert geoms[p.key].contains(shapely.Point(p.x, p.y))
    boxes = [t.artist.get_window_extent() for t in placed]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)
    assert min(p.fontsize for p in placed) < 8          # some labels had to shrink to fit


def test_natural_break_edges_are_rounded_without_moving_a_value_to_another_class():
    from mapping.thematic import class_edges, classes_of, fisher_jenks_edges

    v = np.array([327.46, 428.43, 563.94])            # to nearest 2 s.f. 428 → 430 would join the lowest class
    assert fisher_jenks_edges(v, 3) == (428.43, 563.94)
    edges = class_edges(v, "fisher_jenks", k=3)
    assert edges == (420.0, 560.0)
    assert list(classes_of(v, edges)) == [0, 1, 2]
    tight = np.array([1.0, 1.0, 425.0, 428.0, 900.0])   # 428 is the next class's lowest, 425 the class below's top
    edges = class_edges(tight, "fisher_jenks", k=3)
    assert list(classes_of(tight, edges)) == list(classes_of(tight, fisher_jenks_edges(tight, 3)))
