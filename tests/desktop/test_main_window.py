"""The main window over a township store: header, catalogue, records table, completeness, editing."""

from __future__ import annotations

from census_desktop import i18n
from census_desktop.logic import STATUS_TODO
from census_desktop.main_window import MainWindow
from schemas.model import Block

from .helpers import VALID_HOUSE, fill


def _window(qtbot, store):
    win = MainWindow(store)
    qtbot.addWidget(win)
    win.show()
    return win


def test_header_shows_township_enumerator_and_reference_date(qtbot, store):
    win = _window(qtbot, store)
    text = win.header.text()
    assert store.enrolment["township_name"] in text
    assert store.township in text and "张三" in text and "2020-12-31" in text


def test_catalogue_grouped_by_the_seven_blocks(qtbot, store):
    win = _window(qtbot, store)
    assert win.tree.topLevelItemCount() == len(Block) == 7
    titles = [win.tree.topLevelItem(i).text(0) for i in range(7)]
    assert titles[0].endswith("致灾调查") and titles[1].endswith("承灾体调查")


def test_house_form_lists_every_unfilled_footprint(qtbot, store):
    win = _window(qtbot, store)
    assert win.form_id == "rural_house"
    rural = [w for w in store.workmap() if not w["urban"]]
    assert win.model.total == len(rural)
    assert all(win.model.row_at(i).status == STATUS_TODO for i in range(win.model.shown))


def test_search_and_status_filter(qtbot, store):
    win = _window(qtbot, store)
    some = win.model.row_at(0)
    qtbot.keyClicks(win.search, some.key)
    assert win.model.shown == 1
    win.search.clear()
    win.status_filter.setCurrentIndex(win.status_filter.findData("final"))
    assert win.model.shown == 0
    win.status_filter.setCurrentIndex(0)
    assert win.model.shown == win.model.total


def test_fill_a_footprint_from_the_table(qtbot, store):
    win = _window(qtbot, store)
    row = win.model.row_at(0)
    ed = win.open_row(0)
    assert ed.values()["building_id"] == row.building_id
    assert win.open_row(0) is ed          # the same footprint is not opened twice
    fill(ed, VALID_HOUSE)
    result = ed.save(final=True)
    assert result.ok and result.status == "final"
    statuses = {win.model.row_at(i).key: win.model.row_at(i).status for i in range(win.model.shown)}
    assert statuses[row.building_id] == "final"
    qtbot.waitUntil(lambda: win.progress_total.value() == 1, timeout=3000)
    counts = [win.tree.topLevelItem(1).text(1)]
    assert counts == ["1"]


def test_switch_to_english_and_back(qtbot, store):
    win = _window(qtbot, store)
    try:
        win.set_language("en")
        assert "Township" in win.header.text()
        assert win.tree.topLevelItem(0).text(0).endswith("Hazards")
        assert win.form_id == "rural_house" and win.model.total > 0
    finally:
        win.set_language("zh")
    assert i18n.language() == "zh"
    assert "乡镇" in win.header.text()


def test_export_package_writes_final_records(qtbot, store, tmp_path):
    win = _window(qtbot, store)
    ed = win.open_row(0)
    fill(ed, VALID_HOUSE)
    ed.save(final=True)
    out = tmp_path / "out"
    out.mkdir()
    job = win.export_package(out)
    qtbot.waitUntil(lambda: job.done, timeout=20000)
    result = job.result
    assert result.path.exists() and result.revisions == 1
    assert any(win.model.row_at(i).status == "exported" for i in range(win.model.shown))


def test_catalogue_names_are_not_cut_off(qtbot, store):
    """Every form's name fits its column at the default size (long ones would elide, with a tooltip)."""
    win = _window(qtbot, store)
    win.resize(1280, 800)
    qtbot.wait(50)
    tree = win.tree
    fm = tree.fontMetrics()
    for i in range(tree.topLevelItemCount()):
        top = tree.topLevelItem(i)
        top.setExpanded(True)
        for k in range(top.childCount()):
            item = top.child(k)
            rect = tree.visualItemRect(item)
            text_w = fm.horizontalAdvance(item.text(0))
            assert rect.left() + text_w <= tree.columnWidth(0) + 2, item.text(0)
            assert item.text(0) in item.toolTip(0)
