"""The map panel: footprints coloured by state, clicks open or start house records, points placed
by a click or typed, zoom and pan, loading off the GUI thread."""

from __future__ import annotations

import json

import pytest
from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QColor, QImage, QMouseEvent, QPainter
from PyQt5.QtWidgets import QApplication

from census_desktop.form_editor import GeopointInput
from census_desktop.map_panel import path_from_arrays
from census_desktop.styles import STATUS_STYLES

from .helpers import VALID_HOUSE, click_scene, fill, house_record, wait_job, window


def _rural(store, n=0):
    return [w for w in store.workmap() if not w["urban"]][n]


def test_path_built_in_one_read_matches_its_vertices():
    import numpy as np

    xy = np.array([[0, 0], [10, 0], [10, 5], [0, 0], [20, 20], [30, 20], [30, 30], [20, 20]], float)
    starts = np.array([1, 0, 0, 0, 1, 0, 0, 0], bool)
    path = path_from_arrays(xy, starts)
    assert path.elementCount() == 8
    assert path.elementAt(4).isMoveTo() and path.elementAt(5).isLineTo()
    assert path.boundingRect().getCoords() == (0.0, 0.0, 30.0, 30.0)
    assert path.contains(QPointF(25, 22)) and not path.contains(QPointF(15, 15))


def test_clicking_a_footprint_opens_its_record(qtbot, store):
    fp = _rural(store, 3)
    saved = store.save("rural_house", house_record(fp))
    win = window(qtbot, store)
    assert win.map_panel.data.status_of(fp["building_id"]) == "final"
    view = win.map_panel.view
    click_scene(qtbot, view, win.map_panel.scene_point(fp["building_id"]))
    ed = win.editors.get(saved.record_uuid)
    assert ed is not None and ed.isVisible() and ed.record_uuid == saved.record_uuid
    assert ed.values()["building_id"] == fp["building_id"]
    # clicking it again raises the same window, never a second one
    click_scene(qtbot, view, win.map_panel.scene_point(fp["building_id"]))
    assert len(win._open_editors()) == 1


def test_clicking_an_empty_footprint_starts_its_record(qtbot, store):
    win = window(qtbot, store)
    fp = _rural(store, 5)
    assert win.map_panel.data.status_of(fp["building_id"]) == "todo"
    click_scene(qtbot, win.map_panel.view, win.map_panel.scene_point(fp["building_id"]))
    ed = win.editors.get(f"rural_house:{fp['building_id']}")
    assert ed is not None and ed.record_uuid is None
    values = ed.values()
    assert values["building_id"] == fp["building_id"] and values["village_code"] == fp["village_code"]
    assert values["footprint"] == json.loads(fp["geometry"])
    assert store.count("rural_house") == 0            # nothing stored until something is saved
    fill(ed, VALID_HOUSE)
    result = ed.save(final=False)
    rec = store.get(result.record_uuid)
    assert rec["key"] == fp["building_id"] and rec["data"]["footprint"] == json.loads(fp["geometry"])
    # the footprint turns draft on the map, and a second click finds the same editor
    assert win.map_panel.data.status_of(fp["building_id"]) == "draft"
    assert win.map_panel.counts()["draft"] == 1
    click_scene(qtbot, win.map_panel.view, win.map_panel.scene_point(fp["building_id"]))
    assert len(win._open_editors()) == 1 and win.editors[result.record_uuid] is ed


def test_a_drag_pans_and_does_not_open_anything(qtbot, store):
    win = window(qtbot, store)
    view = win.map_panel.view
    fp = _rural(store, 0)
    start = view.mapFromScene(win.map_panel.scene_point(fp["building_id"]))
    before = view.mapToScene(view.viewport().rect().center())
    qtbot.mousePress(view.viewport(), Qt.LeftButton, pos=start)
    for k in range(1, 6):   # QTest's mouseMove moves the cursor, which an offscreen platform ignores
        QApplication.sendEvent(view.viewport(), QMouseEvent(QEvent.MouseMove, QPointF(start + QPoint(12 * k, 6 * k)),
                                                            Qt.NoButton, Qt.LeftButton, Qt.NoModifier))
    qtbot.mouseRelease(view.viewport(), Qt.LeftButton, pos=start + QPoint(60, 30))
    after = view.mapToScene(view.viewport().rect().center())
    assert (before - after).manhattanLength() > 1
    assert win._open_editors() == []


def test_wheel_zooms_about_the_cursor_within_limits(qtbot, store):
    from PyQt5.QtGui import QWheelEvent

    win = window(qtbot, store)
    view = win.map_panel.view
    s0 = view.px_per_m
    centre = view.viewport().rect().center()
    ev = QWheelEvent(QPointF(centre), QPointF(view.viewport().mapToGlobal(centre)), QPoint(0, 0), QPoint(0, 240),
                     Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), ev)
    assert view.px_per_m == pytest.approx(s0 * 1.25 ** 2)
    for _ in range(80):
        view.zoom_by(2)
    assert view.px_per_m <= 25.0
    win.map_panel.view.fit()
    assert view.px_per_m == pytest.approx(s0, rel=0.05)


def _render(view, scene_point, span_m: float) -> tuple[QImage, QPoint]:
    view.show_area(scene_point, span_m)
    for item in view.scene().items():          # village names sit on a translucent plate: not here
        if type(item).__name__ == "LabelItem":
            item.hide()
    img = QImage(view.viewport().size(), QImage.Format_RGB32)
    img.fill(QColor("black"))
    p = QPainter(img)
    view.render(p, source=view.viewport().rect())
    p.end()
    return img, view.mapFromScene(scene_point)


def test_footprints_take_the_tables_colours_at_every_zoom(qtbot, store):
    fp = _rural(store, 2)
    store.save("rural_house", house_record(fp), final=False)          # a draft
    win = window(qtbot, store, size=(1200, 900))
    panel = win.map_panel
    draft = STATUS_STYLES["draft"]
    assert {t.status for t in panel._tiles.values()} == {"todo", "draft"}
    p = panel.scene_point(fp["building_id"])
    img, at = _render(panel.view, p, 60)                    # close up: the table's pale fill
    assert QColor(img.pixel(at)).name() == draft.fill
    img, at = _render(panel.view, p, 40_000)                # far out: a dot of the strong colour
    assert QColor(img.pixel(at)).name() == draft.stroke


def test_table_selection_shows_the_footprint(qtbot, store):
    win = window(qtbot, store)
    win.table.selectRow(4)
    row = win.model.row_at(4)
    assert win.map_panel._highlight is not None
    assert win.map_panel._highlight.anchor == win.map_panel.scene_point(row.building_id)
    view = win.map_panel.view
    assert view.viewport().rect().contains(view.mapFromScene(win.map_panel.scene_point(row.building_id)))


def test_place_a_point_record_by_clicking_the_map(qtbot, store):
    win = window(qtbot, store)
    win.select_form("key_hidden_danger")
    panel = win.map_panel
    assert panel.place_button.isEnabled()
    qtbot.mouseClick(panel.place_button, Qt.LeftButton)
    assert panel.picking
    fp = _rural(store, 1)
    target = panel.scene_point(fp["building_id"]) + QPointF(7, -3)
    click_scene(qtbot, panel.view, target)
    assert not panel.picking
    eds = win._open_editors()
    assert len(eds) == 1 and eds[0].form.id == "key_hidden_danger"
    loc = eds[0].values()["location"]
    view_pt = panel.view.mapToScene(panel.view.mapFromScene(target))   # the pixel actually clicked
    lon, lat = panel.data.proj.to_lonlat(view_pt.x(), view_pt.y())
    assert loc["type"] == "Point" and loc["coordinates"] == pytest.approx([lon, lat], abs=2e-6)
    assert eds[0].values()["township_code"] == store.township
    assert eds[0].values()["village_code"] == fp["village_code"]     # inside that village's outline
    assert not eds[0].problems or all(p.path != "location" for p in eds[0].problems)


def test_an_editors_pick_button_takes_the_next_map_click(qtbot, store):
    win = window(qtbot, store)
    win.select_form("key_hidden_danger")
    ed = win.new_record()
    inp = ed.widget("location").input
    assert isinstance(inp, GeopointInput)
    qtbot.mouseClick(inp.pick_button, Qt.LeftButton)
    assert win.map_panel.picking and win.map_panel.prompt.isVisible()
    target = win.map_panel.scene_point(_rural(store, 0)["building_id"])
    click_scene(qtbot, win.map_panel.view, target)
    view = win.map_panel.view
    clicked = view.mapToScene(view.mapFromScene(target))             # the pixel actually clicked
    expected = win.map_panel.data.proj.to_lonlat(clicked.x(), clicked.y())
    assert ed.values()["location"]["coordinates"] == pytest.approx(list(expected), abs=1e-6)
    assert win._open_editors() == [ed]                  # the click placed the point, it opened nothing
    # typed by hand: longitude and latitude in their own boxes
    inp.lon_edit.setText("120.6")
    inp.lat_edit.setText("40.65")
    assert ed.values()["location"] == {"type": "Point", "coordinates": [120.6, 40.65]}
    inp.lat_edit.setText("")
    ed.validate_now()
    assert any(p.path == "location" and p.code.value == "GEOMETRY_PARSE" for p in ed.problems)


def test_point_records_of_the_current_form_show_as_markers(qtbot, store):
    win = window(qtbot, store)
    win.select_form("key_hidden_danger")
    ed = win.new_record_at(*win.map_panel.data.proj.to_lonlat(*win.map_panel.data.anchors[7]))
    ed.save(final=False)
    markers = win.map_panel._markers
    assert len(markers) == 1 and markers[0].record_uuid == ed.record_uuid
    ed.close()
    click_scene(qtbot, win.map_panel.view, markers[0].pos())
    assert [e.record_uuid for e in win._open_editors()] == [ed.record_uuid]
    win.select_form("rural_house")
    assert win.map_panel._markers == [] and not win.map_panel.place_button.isEnabled()


def test_map_loading_can_be_cancelled_and_reloaded(qtbot, store):
    win = window(qtbot, store, with_map=False)
    assert not win.map_settled                          # it starts once the window is up
    qtbot.waitUntil(lambda: win.map_panel.job is not None, timeout=5000)
    job = win.map_panel.job
    job.cancel()
    wait_job(qtbot, job)
    if job.outcome == "cancelled":                      # it may have finished first on a fast machine
        assert not win.map_panel.is_loaded and win.map_panel.reload_button.isVisible()
        qtbot.mouseClick(win.map_panel.reload_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: win.map_panel.is_loaded, timeout=20000)
    assert len(win.map_panel.data) == len(store.workmap()) and win.map_settled


def test_language_switch_keeps_the_map(qtbot, store):
    from census_desktop import i18n

    win = window(qtbot, store)
    data = win.map_panel.data
    try:
        win.set_language("en")
        assert win.map_panel.data is data and "Not started" in win.map_panel.legend_text()
    finally:
        win.set_language("zh")
    assert "未填" in win.map_panel.legend_text() and i18n.language() == "zh"
