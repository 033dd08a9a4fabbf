"""Hidden-danger and historical-disaster maps and report chapters, on a county after the real
`census risk dangers` and `census risk history` runs (fixture ``assessed_gpkg``)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.colors import to_hex, to_rgb

from census_cli.main import cli


def _pixels(fig, dpi=60, ax=None) -> np.ndarray:
    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float) / 255.0
    if ax is not None:   # only the map frame: the legend's swatches must not count as "on the map"
        bb = ax.get_window_extent()
        h = rgba.shape[0]
        rgba = rgba[int(h - bb.y1):int(h - bb.y0), int(bb.x0):int(bb.x1)]
    return rgba


def _has_colour(img: np.ndarray, colour: str, tol: float = 0.02) -> bool:
    return bool((np.abs(img - np.asarray(to_rgb(colour))).max(axis=-1) < tol).any())


def _disjoint(boxes) -> bool:
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]):
                return False
    return True


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def danger_fig(assessed_src):
    from mapping.dangers import danger_map

    fig = danger_map(assessed_src)
    fig.canvas.draw()
    return fig


@pytest.fixture(scope="module")
def history_fig(assessed_src):
    from mapping.history_maps import history_map

    fig = history_map(assessed_src)
    fig.canvas.draw()
    return fig


# ---------------------------------------------------------------------------------------------------
# hidden-danger map

def test_danger_map_shows_zones_and_sites_in_their_priority_colours(danger_fig, assessed_src):
    from mapping.dangers import PRIORITY_STYLES

    ax = danger_fig.census_map.frame.ax
    img = _pixels(danger_fig, ax=ax)
    assert img.std() > 0.1
    present = set(assessed_src.danger_sites["priority"].astype(int))
    assert 1 in present
    for ps in PRIORITY_STYLES:
        if ps.priority in present:
            assert _has_colour(img, ps.colour), f"priority {ps.priority} colour missing from the map"
    zones = [c for c in ax.collections if c.get_gid() == "threat-zones"]
    assert len(zones) == 1 and len(zones[0].get_paths()) == len(assessed_src.danger_zones)


def test_danger_legend_lists_the_three_priorities_in_order_with_counts(danger_fig, assessed_src):
    from mapping.dangers import PRIORITY_STYLES

    legend = danger_fig.census_map.legend
    texts = [t.get_text() for t in legend.get_texts()]
    assert [t[:2] for t in texts] == ["一级", "二级", "三级"]
    counts = assessed_src.danger_sites["priority"].astype(int).value_counts()
    assert texts[0].endswith(f"{counts.get(1, 0)} 处")
    assert [to_hex(h.get_facecolor()) for h in legend.legend_handles] == [p.colour for p in PRIORITY_STYLES]
    symbols = danger_fig.census_map.frame.legend.get_legend()
    labels = [t.get_text() for t in symbols.get_texts()]
    assert "房屋（普查记录）" in labels and "县（市）界" in labels
    assert any(lbl.startswith(("地质灾害", "堤防")) for lbl in labels)


def test_top_sites_are_labelled_by_rank_without_collisions(danger_fig, assessed_src):
    ax = danger_fig.census_map.frame.ax
    labels = [t for t in ax.texts if t.get_gid() == "danger-label"]
    first = assessed_src.danger_sites.iloc[0]
    assert labels[0].get_text() == f"1 {first['name']}"
    named = [t for t in labels if " " in t.get_text()]
    assert len(named) == min(10, len(assessed_src.danger_sites))
    boxes = [tuple(t.get_window_extent().extents) for t in labels]
    assert _disjoint(boxes)
    furniture = [p for p in ax.patches if p.get_gid() in ("scalebar-segment", "north-arrow")]
    for t in labels:
        bb = t.get_window_extent()
        assert not any(bb.overlaps(p.get_window_extent()) for p in furniture)


# ---------------------------------------------------------------------------------------------------
# historical-disaster map

def test_history_map_fills_event_townships_and_hatches_flagged_ones(history_fig, assessed_src):
    from mapping.history_maps import flag_direction

    ax = history_fig.census_map.frame.ax
    img = _pixels(history_fig, ax=ax)
    assert img.std() > 0.08
    legend = history_fig.census_map.legend
    assert legend.get_title().get_text() == "最大事件损失（2020 年价）"
    fills = {to_hex(c) for c in next(c for c in ax.collections if c.get_gid() == "event-townships").get_facecolor()}
    classes = [to_hex(h.get_facecolor()) for h in legend.legend_handles]
    assert classes[-1] == "#ffffff" and set(classes) == fills      # every class (and "no event") is used
    assert _has_colour(img, classes[0], tol=0.03)                  # the largest event's township shows
    comp = assessed_src.history_comparison
    flagged = sum(1 for r in comp.to_dict("records") if flag_direction(r))
    hatched = [c for c in ax.collections if str(c.get_gid()).startswith("flag-")]
    assert sum(len(c.get_paths()) for c in hatched) == flagged
    assert all(c.get_hatch() for c in hatched)
    if flagged:
        symbols = [t.get_text() for t in history_fig.census_map.frame.legend.get_legend().get_texts()]
        assert any("≥10 倍" in s for s in symbols)


def test_history_map_labels_the_largest_event(history_fig, assessed_src):
    ax = history_fig.census_map.frame.ax
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "event-label"]
    top = assessed_src.history_events.iloc[0]
    assert any(f"① {top['event_name']}" in t for t in labels)


def test_flag_direction_and_township_flag_text():
    from mapping.history_maps import flag_direction

    assert flag_direction({"flag": 0, "log10_ratio": 3.0}) is None
    assert flag_direction({"flag": 1, "log10_ratio": 1.2}) == "model_high"
    assert flag_direction({"flag": 1, "log10_ratio": -1.5}) == "record_high"
    # one side zero: no ratio, the larger side decides
    assert flag_direction({"flag": 1, "log10_ratio": None, "model_total_cny": 0.0,
                           "recorded_total_cny": 5e4}) == "record_high"


# ---------------------------------------------------------------------------------------------------
# report chapters

def test_report_has_the_remediation_list_with_the_top_site(assessed_report, assessed_src):
    result, text = assessed_report
    flat = _norm(text)
    assert "重点隐患评估与整治清单" in text and "整治清单（前" in text
    sites = assessed_src.danger_sites
    assert _norm(str(sites.iloc[0]["name"])) in flat
    assert _norm(f"全县排序第一的是{sites.iloc[0]['township_name']}{sites.iloc[0]['name']}") in flat
    assert "重点隐患分布与整治优先级图" in text
    assert result.maps == 2                         # comprehensive and dangers were asked for


def test_report_has_the_history_assessment_with_trends_weights_and_flags(assessed_report, assessed_src):
    _result, text = assessed_report
    flat = _norm(text)
    assert "历史灾害评估" in text and "Mann–Kendall" in text and "Sen" in text
    assert "损失占比（建议权重）" in flat
    comp = assessed_src.history_comparison
    for name in comp[comp["flag"].astype(int) == 1]["township_name"]:
        assert name in text
    assert _norm(str(assessed_src.history_events.iloc[0]["event_name"])) in flat
    # chapters are numbered in order with the new ones in place
    order = [m.group(1) for m in re.finditer(r"^\s*[一二三四五六七八九十]、(\S+)", text, re.MULTILINE)]
    assert order.index("重点隐患评估与整治清单") < order.index("历史灾害评估") < order.index("风险区划图")


def test_report_places_each_assessment_map_in_its_chapter(assessed_src):
    from mapping.pages import FullPage, Heading
    from mapping.report import build_blocks

    blocks = build_blocks(assessed_src, maps=["dangers", "history"])
    seq = [b.text if isinstance(b, Heading) else b.toc_text for b in blocks
           if (isinstance(b, Heading) and b.level == 1) or isinstance(b, FullPage)]
    i = next(k for k, t in enumerate(seq) if t.endswith("重点隐患评估与整治清单"))
    assert "重点隐患分布与整治优先级图" in seq[i + 1]
    j = next(k for k, t in enumerate(seq) if t.endswith("、历史灾害评估"))
    assert "最大历史灾害事件与模型—记录对比图" in seq[j + 1]
    assert sum(isinstance(b, FullPage) for b in blocks) == 2
    with pytest.raises(ValueError, match="nope"):
        build_blocks(assessed_src, maps=["dangers", "nope"])


def test_short_reason_drops_what_the_columns_say():
    from mapping.report_assessment import short_reason

    row = {"reason_zh": "威胁 312 人（房屋 104 栋）、学校 1 所；不稳定、中型滑坡；位于高风险区；未治理", "remediation": "untreated"}
    assert short_reason(row) == "不稳定、中型滑坡；位于高风险区"


def test_ratio_text_reads_as_a_multiple_or_a_fraction():
    from mapping.report_assessment import _ratio_text

    assert _ratio_text(np.log10(16.0)) == "16"
    assert _ratio_text(np.log10(2.4)) == "2.4"
    assert _ratio_text(np.log10(0.45)) == "0.45"
    assert _ratio_text(np.log10(1 / 42)) == "1/42"
    assert _ratio_text(None) == "—"


# ---------------------------------------------------------------------------------------------------
# CLI

def _run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("kind, command", [("dangers", "census risk dangers"), ("history", "census risk history")])
def test_map_without_assessment_layers_exits_1_and_says_what_to_run(risk_gpkg, tmp_path, kind, command):
    out = tmp_path / f"{kind}.png"
    r = _run("map", kind, "--gpkg", str(risk_gpkg), "--out", str(out))
    assert r.exit_code == 1
    assert command in r.output and "请先运行" in r.output and "first" in r.output
    assert not out.exists()


def test_map_dangers_cli_writes_a_png(assessed_gpkg, tmp_path):
    out = tmp_path / "dangers.png"
    r = _run("map", "dangers", "--gpkg", str(assessed_gpkg), "--out", str(out), "--dpi", "72", "--top", "5", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["map"] == "dangers"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_threatened_people_without_risk_buildings_is_the_per_site_sum(assessed_src):
    from mapping.dangers import distinct_people

    assert not assessed_src.has("risk_buildings")        # the synthetic risk run writes no building layer
    people, exact = distinct_people(assessed_src)
    assert not exact and people == pytest.approx(float(assessed_src.danger_sites["people"].sum()))
