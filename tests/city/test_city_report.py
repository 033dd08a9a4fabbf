"""The city report: a small city (two of 葫芦岛市's county-level units) taken through `census city demo`,
whose outputs list the report; the PDF read back with pdfinfo / pdftotext / pdftoppm; the city map without
a self-locating inset; boxed labels that keep names visible (the historical-events map)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pyogrio
import pytest
from click.testing import CliRunner
from PIL import Image

from census_cli.city_demo import run_city_demo
from census_cli.cmd_city import city

COUNTIES = {"211402": "连山区", "211403": "龙港区"}


@pytest.fixture(scope="module")
def small_city(tmp_path_factory):
    out = tmp_path_factory.mktemp("small_city")
    s = run_city_demo(out, buildings=40, resolution=0.01, grid_m=2000, dpi=50, workers=2, counties=list(COUNTIES))
    return out, s


def _text(pdf) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _pages(pdf) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


def test_demo_writes_and_lists_the_report(small_city):
    out, s = small_city
    rep = s["report"]
    assert rep["path"] == str(out / "city_report.pdf")
    assert _pages(rep["path"]) == rep["pages"] >= 8
    # one map page per assessed hazard, plus comprehensive (grid and county units) and prevention
    from mapping.city import CityMapSource

    assert rep["maps"] == len(CityMapSource(out / "city" / "211400.gpkg").assessed_hazards()) + 3
    saved = json.loads((out / "city_demo_summary.json").read_text(encoding="utf-8"))
    assert saved["report"] == rep


def test_report_text_has_counties_townships_status_and_reference_date(small_city):
    out, s = small_city
    text = _text(s["report"]["path"])
    for name in COUNTIES.values():
        assert name in text, name
    towns = pyogrio.read_dataframe(out / "city" / "211400.gpkg", layer="townships", read_geometry=False)
    for name in towns["name"]:
        assert name in text, name            # every township is in the township table
    assert "2020-12-31" in text and "2020 年 12 月 31 日" in text
    n = s["report"]["pages"]
    assert f"第 {n} 页 / 共 {n} 页" in text and "目 录" in text
    for heading in ("一、概况", "二、综合风险评估结果", "三、重点防治区", "四、风险区划图", "五、方法与数据来源",
                    "各县（市、区）普查数据上报与审核情况", "各县（市、区）分灾种风险等级", "各县（市、区）房屋期望年损失",
                    "各乡镇（街道）综合风险等级格网数与期望年损失", "各县（市、区）综合防治区面积", "风险区划分级界限"):
        assert heading in text, heading
    # the status table: each county's approved / total records, as city_status reports them
    for c in s["status"]["counties"]:
        assert f"{c['records_approved']:,}/{c['records_total']:,}" in text, c["county"]
    assert f"{s['status']['totals']['records_at_city']:,}" in text
    assert "葫芦岛市自然灾害综合风险区划图（格网）" in text and "葫芦岛市自然灾害综合防治区划图" in text
    assert "葫芦岛市洪水灾害风险区划图" in text and "灾害灾害" not in text
    assert "格网、乡镇、县级行政区" in text and "、counties" not in text   # the breaks table's units, in Chinese


def test_map_pages_are_drawn(small_city, tmp_path):
    _out, s = small_city
    subprocess.run(["pdftoppm", "-r", "30", "-png", s["report"]["path"], str(tmp_path / "p")], check=True)
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) == s["report"]["pages"]
    maps = [Image.open(p).convert("RGB") for p in pngs]
    maps = [im for im in maps if im.width > im.height]          # the maps are the landscape pages
    assert len(maps) == s["report"]["maps"]
    from mapping import styles

    fills = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in
                      [s_.colour for s_ in (*styles.risk_level_styles(), *styles.prevention_zone_styles())]], dtype=float)
    for im in maps:
        a = np.asarray(im, dtype=float)
        w, h = im.width, im.height
        body = a[int(h * 0.2):int(h * 0.9), int(w * 0.05):int(w * 0.7)].reshape(-1, 3)
        assert (body.min(axis=1) < 235).mean() > 0.2                      # not a blank page
        near = np.abs(body[:, None, :] - fills[None, :, :]).max(axis=2) < 12
        assert near.any(axis=1).mean() > 0.01      # zoned in the registry's colours (two counties of the city)


def test_city_map_lists_counties_instead_of_a_self_inset(small_city):
    out, _s = small_city
    from mapping import styles
    from mapping.city import city_zoning_map

    gpkg = out / "city" / "211400.gpkg"
    fig = city_zoning_map(gpkg, "flood")
    inset = fig.census_map.frame.inset
    assert not inset.collections and not inset.axison                 # no city-in-its-own-frame locator
    keys = [t.get_text() for t in inset.texts if t.get_gid() == "county-key-name"]
    assert keys == [f"{n}（{c}）" for c, n in COUNTIES.items()]
    ax = fig.census_map.frame.ax
    [zoning] = [c for c in ax.collections if c.get_gid() == "zoning-grid"]
    grid = pyogrio.read_dataframe(gpkg, layer="risk_grid", read_geometry=False)
    assert len(zoning.get_paths()) == len(grid)
    allowed = {s.colour for s in (*styles.risk_level_styles(), styles.NODATA_STYLE)}
    from matplotlib.colors import to_hex

    assert {to_hex(c) for c in zoning.get_facecolors()} <= allowed
    fig = city_zoning_map(gpkg, "prevention", unit="counties")
    assert fig.census_map.spec.title == "葫芦岛市自然灾害综合防治区划图"
    assert [e.value for e in fig.census_map.spec.entries][:3] == ["key", "secondary", "general"]


def test_cli_report_draft_and_errors(small_city, tmp_path):
    out, _s = small_city
    gpkg = str(out / "city" / "211400.gpkg")
    r = CliRunner().invoke(city, ["report", "--gpkg", gpkg, "--out", str(tmp_path / "draft.pdf"),
                                  "--maps", "comprehensive,prevention", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["maps"] == 2 and _pages(d["path"]) == d["pages"] >= 8
    r = CliRunner().invoke(city, ["report", "--gpkg", gpkg, "--out", str(tmp_path / "x.pdf"), "--maps", "nosuch"])
    assert r.exit_code != 0 and "nosuch" in r.output and "comprehensive:counties" in r.output
    r = CliRunner().invoke(city, ["report", "--gpkg", gpkg, "--out", str(tmp_path / "x.png")])
    assert r.exit_code != 0 and ".pdf" in r.output
    # a county GeoPackage is not a city one: the message says how to make one
    county = str(out / "counties" / "211403" / "211403.gpkg")
    r = CliRunner().invoke(city, ["report", "--gpkg", county, "--out", str(tmp_path / "y.pdf")])
    assert r.exit_code != 0 and "census city init" in r.output


def _extent(t, renderer):
    bb = t.get_window_extent(renderer)
    patch = t.get_bbox_patch()
    if patch is not None:
        t.update_bbox_position_size(renderer)
        bb = bb.union([bb, patch.get_window_extent(renderer)])
    return bb


def test_boxed_label_is_measured_with_its_box_and_becomes_a_callout_when_boxed_in():
    import shapely

    from mapping.fonts import use_cjk_font
    from mapping.labels import _text_size, place_labels
    from mapping.layout import new_figure

    use_cjk_font()
    fig = new_figure()
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    box = {"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "k", "linewidth": 0.5}
    plain = _text_size(ax, "一二三\n四五六", 7.0)
    boxed = _text_size(ax, "一二三\n四五六", 7.0, bbox=box)
    assert boxed[0] > plain[0] + 3 and boxed[1] > plain[1] + 3       # padding (≈2.4 px a side) and edge
    # a small square whose whole interior is taken by an obstacle (another label): the boxed label goes beside it
    small = shapely.box(4.8, 4.8, 5.2, 5.2)
    p0 = ax.transData.transform((4.0, 4.0))
    p1 = ax.transData.transform((6.0, 6.0))
    taken = (p0[0], p0[1], p1[0], p1[1])
    [label] = place_labels(ax, [("k", "一二三四五\n六七八九十", small)], lat0=0.0, fontsize=7.0, obstacles=[taken],
                           text_kw={"bbox": box, "zorder": 7}, gid="callout", callout=True)
    assert label.text_xy is not None and small.contains(shapely.Point(label.x, label.y))
    r = fig.canvas.get_renderer()
    ext = _extent(label.artist, r)
    assert not ext.overlaps(type(ext).from_extents(*taken))
    assert [ln for ln in ax.lines if ln.get_gid() == "label-leader"]


def test_history_event_labels_leave_township_names_visible(small_city, tmp_path):
    out, _s = small_city
    from mapping.history_maps import history_map
    from risk.assess import assess_county
    from risk.history import run_history

    src = out / "counties" / "211403"
    gpkg = tmp_path / "211403.gpkg"
    shutil.copy(src / "211403.gpkg", gpkg)
    assess_county(gpkg, src / "sample" / "hazards", 1000)
    run_history(gpkg, tmp_path / "history")
    fig = history_map(gpkg)
    ax = fig.census_map.frame.ax
    r = fig.canvas.get_renderer()
    events = [t for t in ax.texts if t.get_gid() == "event-label"]
    names = [t for t in ax.texts if t.get_gid() == "township-label"]
    assert events and len(names) == len(fig.census_map.labels) > 0
    for e in events:
        eb = _extent(e, r)
        for n in names:
            assert not eb.overlaps(_extent(n, r)), (e.get_text().splitlines()[0], n.get_text())
