"""Sync from the app: export a package the county accepts, cancel an export without a trace, apply
the county's feedback and fix what it flagged."""

from __future__ import annotations

import shutil

import pytest
from PyQt5.QtCore import Qt

from census_desktop.i18n import tr

from .helpers import house_record, wait_job, window


@pytest.fixture
def county(county_kit, tmp_path):
    """A copy of the session's county GeoPackage (and its keys) this test may write to."""
    _, enrolment, _ = county_kit
    src = enrolment.parent / "county.gpkg"
    dest = tmp_path / "county" / "county.gpkg"
    dest.parent.mkdir()
    shutil.copy(src, dest)
    shutil.copy(str(src) + ".keys.json", str(dest) + ".keys.json")
    return dest


def _fill(store, n: int) -> list[str]:
    fps = [w for w in store.workmap() if not w["urban"]][:n]
    return [store.save("rural_house", house_record(fp)).record_uuid for fp in fps]


def _state(store) -> dict:
    s = store.summary()
    return {"packages": store.packages(), "pending": s["pending_revisions"], "audit": store.verify().chain.rows,
            "exported": sorted((r["record_uuid"], r["exported_seq"]) for r in store.records())}


def test_export_makes_a_package_the_county_accepts(qtbot, store, county, tmp_path):
    from sync.county_import import import_packages

    _fill(store, 3)
    win = window(qtbot, store)
    usb = tmp_path / "usb"
    usb.mkdir()
    job = win.export_package(usb)
    wait_job(qtbot, job)
    assert job.outcome == "ok", win.last_notice
    result = job.result
    assert result.path.parent == usb and result.path.exists() and result.revisions == 3
    assert str(result.path) in win.last_notice
    # the records show as exported, in the table and on the map
    assert win.map_panel.counts().get("exported") == 3
    assert sum(win.model.row_at(i).status == "exported" for i in range(win.model.shown)) == 3
    (accepted,) = import_packages(county, [result.path], workers=0)
    assert accepted.accepted and accepted.outcome == "accepted", accepted.line()
    assert accepted.new_records == 3


def test_export_to_a_missing_folder_is_refused_before_anything_starts(qtbot, store, tmp_path):
    _fill(store, 1)
    win = window(qtbot, store, with_map=False)
    before = _state(store)
    assert win.export_package(tmp_path / "no-usb-stick") is None
    assert "文件夹不存在" in win.last_notice and _state(store) == before


def test_nothing_to_export_is_said_calmly(qtbot, store, tmp_path):
    win = window(qtbot, store, with_map=False)
    job = win.export_package(tmp_path)
    wait_job(qtbot, job)
    assert job.outcome == "failed" and "没有需要导出" in win.last_notice


def test_a_cancelled_export_leaves_the_store_unchanged(qtbot, store, tmp_path):
    _fill(store, 2)
    win = window(qtbot, store)
    before = _state(store)
    usb = tmp_path / "usb"
    usb.mkdir()
    job = win.export_package(usb)
    # press 取消 while the package is being written (in the worker: the timing is exact)
    job.progress.connect(lambda d, t, text: job.cancel() if d == 1 else None, Qt.DirectConnection)
    wait_job(qtbot, job)
    assert job.outcome == "cancelled" and win.last_notice == tr("export_cancelled")
    assert list(usb.iterdir()) == []                  # no package file left behind
    assert _state(store) == before and store.verify().ok
    assert win.map_panel.counts().get("exported", 0) == 0
    # the package number was given back: the next export is number 1
    job = win.export_package(usb)
    wait_job(qtbot, job)
    assert job.outcome == "ok" and job.result.sequence == 1


def test_county_feedback_lists_the_flagged_records_ready_to_fix(qtbot, store, county, tmp_path):
    from sync.county import issue_feedback, review_record
    from sync.county_import import import_packages

    uuids = _fill(store, 3)
    flagged = uuids[1]
    win = window(qtbot, store)
    usb = tmp_path / "usb"
    usb.mkdir()
    wait_job(qtbot, win.export_package(usb))
    import_packages(county, list(usb.iterdir()), workers=0)
    review_record(county, flagged, state="rejected", note="面积与底图不符，请到现场核实")
    path, _ = issue_feedback(county, township=store.township, out_dir=tmp_path / "back")
    job = win.import_feedback(path)
    wait_job(qtbot, job)
    assert job.outcome == "ok"
    assert "需处理 1 条" in win.last_notice and "第 1 号" in win.last_notice
    # the county's list: the record, its state and the county's own words
    panel = win.feedback_panel
    assert win.side_tabs.currentWidget() is panel and "（1）" in win.side_tabs.tabText(1)
    key = store.get(flagged)["key"]
    ((shown_key, state, message),) = panel.messages()
    assert shown_key == key and state == "被退回" and "面积与底图不符" in message
    assert win.map_panel.data.status_of(key) == "rejected"
    # double-click opens it with the county's note on top; fixing and saving clears it from the list
    panel.list.itemDoubleClicked.emit(panel.list.item(0))
    ed = win.editors[flagged]
    assert ed.county_note.isVisibleTo(ed) and "面积与底图不符" in ed.county_note.text()
    ed.widget("floor_area").input.edit.setText("98.5")
    assert ed.save(final=True).status == "final"
    assert panel.messages() == [] and "（0）" in win.side_tabs.tabText(1)
    assert win.map_panel.data.status_of(key) == "final"
    # the acknowledged package is not exported again; the fix is
    job = win.export_package(usb)
    wait_job(qtbot, job)
    assert job.result.revisions == 1
