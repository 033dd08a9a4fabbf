"""Bulk import from a spreadsheet: off the GUI thread, a report by row and field, valid rows kept;
cancelling stops between whole batches."""

from __future__ import annotations

import csv
import json

from PyQt5.QtCore import Qt

from census_desktop.import_dialog import BulkImportDialog, field_label
from census_desktop.jobs import JobProgressDialog

from .helpers import house_record, wait_job, window

COLUMNS = ["building_id", "village_code", "footprint", "use", "structure_type", "floors", "floor_area", "year_built",
           "construction_method", "professional_design", "seismic_measures", "retrofitted", "damage"]


def _csv(path, store, n: int, bad: dict[int, dict] | None = None):
    """``n`` rural houses of the work map as a CSV (the way Excel saves one); ``bad``: row index → overrides."""
    footprints = [w for w in store.workmap() if not w["urban"]][:n]
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for i, fp in enumerate(footprints):
            rec = house_record(fp, **(bad or {}).get(i, {}))
            cells = []
            for c in COLUMNS:
                v = rec.get(c)
                cells.append(json.dumps(v) if isinstance(v, dict) else " ".join(v) if isinstance(v, list) else v)
            w.writerow(cells)
    return footprints


def test_import_a_csv_with_one_bad_row(qtbot, store, tmp_path):
    path = tmp_path / "houses.csv"
    fps = _csv(path, store, 3, bad={1: {"year_built": "2021"}})
    win = window(qtbot, store)
    job = win.bulk_import(path, "rural_house")
    wait_job(qtbot, job)
    assert job.outcome == "ok"
    report = win.import_report
    assert report is not None and report.isVisible()
    rows = report.rows()
    assert len(rows) == 1
    row, field, message = rows[0]
    assert row == "3"                                   # the spreadsheet row: header is row 1
    assert "year_built" in field and "建造年份" in field
    assert "2020-12-31" in message
    # valid rows are kept as complete records, the bad one as a draft with what was typed
    recs = {r["key"]: r for r in store.records("rural_house")}
    assert set(recs) == {fp["building_id"] for fp in fps}
    assert recs[fps[0]["building_id"]]["status"] == "final" and recs[fps[2]["building_id"]]["status"] == "final"
    assert recs[fps[1]["building_id"]]["status"] == "draft"
    # the table and the map follow; double-clicking the problem opens the draft to fix
    assert win.map_panel.data.status_of(fps[1]["building_id"]) == "draft"
    assert win.map_panel.counts()["final"] == 2
    report.table.cellDoubleClicked.emit(0, 1)
    ed = win.editors.get(recs[fps[1]["building_id"]]["record_uuid"])
    assert ed is not None and "2020-12-31" in ed.messages("year_built")
    assert ed.values()["year_built"] == 2021


def test_the_dialog_asks_for_file_and_form(qtbot, store, tmp_path):
    from schemas.catalogue import all_forms

    dlg = BulkImportDialog(all_forms(), "urban_house")
    qtbot.addWidget(dlg)
    assert dlg.form_id == "urban_house" and not dlg.ok.isEnabled()
    f = tmp_path / "x.csv"
    f.write_text("building_id\n", encoding="utf-8")
    dlg.file_edit.setText(str(f))
    assert dlg.ok.isEnabled() and dlg.path == str(f)


def test_field_labels_name_repeats_and_fields():
    from schemas.catalogue import get_form

    form = get_form("household_survey")
    assert field_label(form, "members[2].member_age", "zh") == "家庭常住成员 第 2 条 · 年龄（周岁）（members[2].member_age）"
    assert field_label(form, "", "zh") == "整条记录"


def test_cancelled_import_keeps_whole_batches_and_can_be_finished(qtbot, store, tmp_path, monkeypatch):
    import geodb.township as township

    monkeypatch.setattr(township, "BATCH", 2)           # 5 rows → batches of 2, 2, 1
    path = tmp_path / "houses.csv"
    fps = _csv(path, store, 5)
    win = window(qtbot, store)
    job = win.bulk_import(path, "rural_house")
    # cancel as the first batch is reported (in the worker thread, so the timing is exact)
    job.progress.connect(lambda *_: job.cancel(), Qt.DirectConnection)
    wait_job(qtbot, job)
    assert job.outcome == "cancelled" and job.partial.saved == 2 and job.partial.total == 5
    assert "前 2 行" in win.last_notice
    assert store.count("rural_house") == 2 and store.verify().ok
    assert all(r["status"] == "final" for r in store.records("rural_house"))
    assert win.map_panel.counts()["final"] == 2
    # the same file again finishes the job without duplicates
    job = win.bulk_import(path, "rural_house")
    wait_job(qtbot, job)
    assert job.outcome == "ok" and job.result.created == 3 and job.result.unchanged == 2
    assert sorted(r["key"] for r in store.records("rural_house")) == sorted(fp["building_id"] for fp in fps)


def test_a_long_job_shows_progress_and_its_cancel_button_cancels(qtbot, store, tmp_path, monkeypatch):
    import threading

    from PyQt5.QtWidgets import QPushButton

    import geodb.township as township

    monkeypatch.setattr(township, "BATCH", 1)
    path = tmp_path / "houses.csv"
    _csv(path, store, 6)
    win = window(qtbot, store)
    job = win.bulk_import(path, "rural_house")
    gate = threading.Event()                 # hold the worker at its next batch until the button is pressed
    job.progress.connect(lambda *_: gate.wait(10), Qt.DirectConnection)
    dialogs = win.findChildren(JobProgressDialog)
    assert len(dialogs) == 1 and dialogs[0].job is job
    qtbot.waitUntil(dialogs[0].isVisible, timeout=5000)
    qtbot.mouseClick(dialogs[0].findChild(QPushButton), Qt.LeftButton)
    assert "正在取消" in dialogs[0].labelText()
    gate.set()
    wait_job(qtbot, job)
    assert job.outcome == "cancelled"
    assert 1 <= store.count("rural_house") < 6 and store.verify().ok
    qtbot.waitUntil(lambda: not win.findChildren(JobProgressDialog), timeout=3000)


def test_an_unreadable_file_is_one_clear_message(qtbot, store, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"")
    win = window(qtbot, store, with_map=False)
    job = win.bulk_import(path, "rural_house")
    wait_job(qtbot, job)
    assert job.outcome == "failed" and "表头" in win.last_notice
    assert store.count() == 0
