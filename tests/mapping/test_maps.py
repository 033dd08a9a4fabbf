"""Maps: not blank, the legend's five levels in order, a true scale bar, labels inside and apart, outputs."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import shapely
from matplotlib.colors import to_hex, to_rgb

from hazards.registry import RISK_LEVELS


def _pixels(fig, dpi=40) -> np.ndarray:
    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    fig.set_dpi(100)
    return rgba[..., :3].astype(float) / 255.0


def _has_colour(img: np.ndarray, colour: str, tol: float = 0.02) -> bool:
    return bool((np.abs(img - np.asarray(to_rgb(colour))).max(axis=-1) < tol).any())


def test_zoning_map_is_not_blank_and_shows_its_levels(comprehensive_fig, risk_src):
    img = _pixels(comprehensive_fig)
    assert img.std() > 0.1                          # a blank or single-colour page has ~0
    present = set(risk_src.risk_grid["comprehensive_level"].astype(int)) - {0}
    assert len(present) >= 3
    for level, _zh, _en, colour in RISK_LEVELS:
        if level in present:
            assert _has_colour(img, colour), f"level {level} colour {colour} missing from the map"


def test_legend_has_the_five_levels_in_order_with_registry_colours(comprehensive_fig):
    legend = comprehensive_fig.census_map.legend
    texts = [t.get_text() for t in legend.get_texts()]
    assert [t.split("风险区")[0] for t in texts[:5]] == ["高", "较高", "中", "较低", "低"]
    colours = [to_hex(h.get_facecolor()) for h in legend.legend_handles[:5]]
    assert colours == [c for _l, _zh, _en, c in RISK_LEVELS]
    assert legend.get_title().get_text() == "风险等级"


def test_scale_bar_length_is_true_at_the_map_latitude(comprehensive_fig, risk_src):
    from pyproj import Geod

    ax = comprehensive_fig.census_map.frame.ax
    bar = comprehensive_fig.census_map.scale_bar
    segs = [p for p in ax.patches if p.get_gid() == "scalebar-segment"]
    assert len(segs) >= 2
    x0 = min(p.get_x() for p in segs)
    x1 = max(p.get_x() + p.get_width() for p in segs)
    y = segs[0].get_y()
    _az, _baz, metres = Geod(ellps="GRS80").inv(x0, y, x1, y)
    # the bar is true on the central parallel; at its own latitude the error is the map's (< 1 %)
    assert metres == pytest.approx(bar.length_km * 1000, rel=0.01)
    _az, _baz, at_lat0 = Geod(ellps="GRS80").inv(x0, risk_src.lat0, x1, risk_src.lat0)
    assert at_lat0 == pytest.approx(bar.length_km * 1000, rel=1e-4)
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "scalebar-label"]
    assert labels[0] == "0" and float(labels[-1]) == bar.length_km
    width_km = (ax.get_xlim()[1] - ax.get_xlim()[0]) * at_lat0 / (x1 - x0) / 1000
    assert 0.1 < bar.length_km / width_km < 0.4


def test_township_labels_fall_inside_their_townships(comprehensive_fig, risk_src):
    placed = comprehensive_fig.census_map.labels
    towns = risk_src.townships.set_index("code")
    assert sorted(p.key for p in placed) == sorted(towns.index)
    for p in placed:
        geom = towns.loc[p.key, "geometry"]
        assert geom.contains(shapely.Point(p.x, p.y)), p.text
        assert p.text == towns.loc[p.key, "name"]


def test_labels_do_not_overlap_each_other_or_the_furniture(comprehensive_fig):
    ax = comprehensive_fig.census_map.frame.ax
    boxes = [t.get_window_extent() for t in ax.texts if t.get_gid() in ("township-label", "neighbour-label",
                                                                        "sea-label")]
    assert len(boxes) >= 20
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    furniture = [p.get_window_extent() for p in ax.patches if p.get_gid() in ("scalebar-segment", "north-arrow")]
    for a in boxes:
        for f in furniture:
            assert not a.overlaps(f)


def test_map_has_titles_reference_date_crs_note_north_arrow_and_inset(comprehensive_fig):
    res = comprehensive_fig.census_map
    texts = {t.get_gid(): t.get_text() for t in res.frame.ax.texts if t.get_gid()}
    assert texts["map-title"] == "兴城市自然灾害综合风险区划图"
    assert "2020-12-31" in texts["map-subtitle"] and "兴城市" in texts["map-subtitle"]
    notes = [t.get_text() for t in res.frame.notes.texts if t.get_gid() == "map-notes"][0]
    assert "CGCS2000" in notes and "EPSG:4490" in notes and "数据库" in notes
    assert any(p.get_gid() == "north-arrow" for p in res.frame.ax.patches)
    assert any(c.get_gid() == "inset-county" for c in res.frame.inset.collections)
    ticks = [t.get_text() for t in res.frame.ax.get_xticklabels()]
    assert all(t.endswith("E") and "°" in t for t in ticks)


def test_png_is_300_dpi_and_pdf_is_vector_with_text(comprehensive_fig, risk_src, tmp_path):
    from PIL import Image

    from mapping.layout import save_figure

    png = save_figure(comprehensive_fig, tmp_path / "m.png")
    with Image.open(png) as im:
        assert im.size == (round(11.69 * 300), round(8.27 * 300))
        assert round(im.info["dpi"][0]) == 300
    pdf = save_figure(comprehensive_fig, tmp_path / "m.pdf")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "兴城市自然灾害综合风险区划图" in text and "2020-12-31" in text
    assert all(name in text for name in risk_src.townships["name"])   # labels are real text, not paths
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "WenQuanYi" in fonts or "Noto" in fonts or "Han" in fonts   # a real CJK font is embedded


def test_unsupported_output_suffix_is_refused(comprehensive_fig, tmp_path):
    from mapping.errors import MappingError
    from mapping.layout import save_figure

    with pytest.raises(MappingError, match=r"\.png 或 \.pdf"):
        save_figure(comprehensive_fig, tmp_path / "m.jpg")


def test_prevention_map_legend_has_the_three_zones(risk_src):
    from mapping.zoning import prevention_map

    fig = prevention_map(risk_src, unit="townships")
    texts = [t.get_text() for t in fig.census_map.legend.get_texts()]
    assert texts[:3] == ["重点防治区", "次重点防治区", "一般防治区"]
    assert _pixels(fig).std() > 0.1


def test_hazard_zoning_map_into_a_given_axes(risk_src):
    from mapping.layout import new_figure
    from mapping.styles import A4_LANDSCAPE
    from mapping.zoning import zoning_map

    fig = new_figure(A4_LANDSCAPE)
    ax = fig.add_axes((0.05, 0.08, 0.66, 0.76))
    out = zoning_map(risk_src, "earthquake", ax=ax)
    assert out is fig and fig.census_map.frame.ax is ax
    assert fig.census_map.spec.title == "兴城市地震灾害风险区划图"


def test_hazard_map_needs_no_risk_outputs(plain_gpkg, hazards_dir):
    from hazards.io import read_raster
    from hazards.registry import classify, get_layer
    from mapping.thematic import hazard_map

    fig = hazard_map(plain_gpkg, "eq_pga_475", hazards_dir=hazards_dir)
    img = _pixels(fig)
    levels = set(np.unique(classify(read_raster(hazards_dir / "eq_pga_475.tif"), "eq_pga_475"))) - {0}
    for level, _zh, _en, colour in RISK_LEVELS:
        if level in levels:
            assert _has_colour(img, colour)
    texts = [t.get_text() for t in fig.census_map.legend.get_texts()][:5]
    assert texts == [get_layer("eq_pga_475").class_label(lv) for lv in range(1, 6)]


def test_exposure_and_capacity_maps_need_no_risk_outputs(plain_gpkg):
    from mapping.thematic import capacity_map, exposure_map

    for fig in (exposure_map(plain_gpkg, "floor_area"), exposure_map(plain_gpkg, "population"),
                capacity_map(plain_gpkg, "shelter_per_1000")):
        assert _pixels(fig).std() > 0.1
        labels = [t.get_text() for t in fig.census_map.legend.get_texts()]
        assert labels[0].startswith("≥") and any(t.startswith("<") for t in labels)   # highest class first


def test_zoning_map_without_risk_layers_says_to_run_the_assessment(plain_gpkg):
    from mapping.errors import RiskOutputsMissing
    from mapping.zoning import zoning_map

    with pytest.raises(RiskOutputsMissing, match="census risk assess"):
        zoning_map(plain_gpkg, "comprehensive")


def test_unknown_map_subject_lists_the_valid_ones(risk_src):
    from mapping.errors import MappingError
    from mapping.zoning import zoning_map

    with pytest.raises(MappingError, match="earthquake.*comprehensive.*prevention"):
        zoning_map(risk_src, "tsunami")
