"""The form editor: inline messages, skip logic, repeats, saving, autosave, undo."""

from __future__ import annotations

from PyQt5.QtCore import Qt

from census_desktop.form_editor import FieldRow, FormEditor, RepeatBox
from census_desktop.logic import prefill_from_workmap, village_names

from .helpers import VALID_HOUSE, fill, set_answer


def _house_editor(qtbot, store, **kw):
    form = store.form("rural_house")
    footprint = next(w for w in store.workmap() if not w["urban"])
    ed = FormEditor(form, store, values=prefill_from_workmap(form, footprint),
                    villages=village_names(store.enrolment), **kw)
    qtbot.addWidget(ed)
    ed.show()
    return ed, footprint


def test_every_field_type_gets_an_input_and_required_marker(qtbot, store):
    ed, _ = _house_editor(qtbot, store)
    floors = ed.widget("floors")
    assert isinstance(floors, FieldRow) and "*" in floors.label.text()
    assert "*" not in ed.widget("owner_name").label.text()
    # a fresh form is calm: no "required" messages before anything is touched
    assert ed.messages("floors") == ""
    # the footprint came from the work map and is shown, not typed
    assert "4" in ed.widget("footprint").input.label.text() or "顶点" in ed.widget("footprint").input.label.text()


def test_year_after_reference_date_is_flagged_then_fixed_and_saved(qtbot, store):
    ed, footprint = _house_editor(qtbot, store)
    fill(ed, {k: v for k, v in VALID_HOUSE.items() if k != "year_built"})
    year = ed.widget("year_built").input.edit
    qtbot.keyClicks(year, "2021")
    qtbot.waitUntil(lambda: "2020-12-31" in ed.messages("year_built"), timeout=3000)
    assert "建造年份" in ed.messages("year_built")
    assert any(p.code.value == "REFERENCE_DATE" and p.path == "year_built" for p in ed.problems)
    year.clear()
    qtbot.keyClicks(year, "1995")
    qtbot.waitUntil(lambda: ed.messages("year_built") == "", timeout=3000)
    result = ed.save(final=True)
    assert result is not None and result.ok and result.status == "final", result.problems
    rec = store.get(result.record_uuid)
    assert rec["data"]["year_built"] == 1995
    assert rec["data"]["building_id"] == footprint["building_id"]
    assert rec["record_status"] == "final"


def test_skip_logic_hides_and_clears(qtbot, store):
    ed, _ = _house_editor(qtbot, store)
    assert ed.widget("use_other").isHidden()
    set_answer(ed, "use", "other")
    assert not ed.widget("use_other").isHidden()
    set_answer(ed, "use_other", "村委会仓库")
    assert ed.values()["use_other"] == "村委会仓库"
    set_answer(ed, "use", "residence")
    assert ed.widget("use_other").isHidden()
    assert ed.values()["use_other"] is None
    assert ed.widget("use_other").input.edit.text() == ""


def test_calculation_is_recomputed_live(qtbot, store):
    ed, _ = _house_editor(qtbot, store)
    set_answer(ed, "year_built", "1975")
    assert ed.widget("year_band").input.edit.text() != ""
    first = ed.widget("year_band").input.edit.text()
    set_answer(ed, "year_built", "2012")
    assert ed.widget("year_band").input.edit.text() not in ("", first)


def test_repeat_entries_added_and_removed(qtbot, store):
    ed = FormEditor(store.form("household_survey"), store, villages=village_names(store.enrolment))
    qtbot.addWidget(ed)
    ed.show()
    members = ed.widget("members")
    assert isinstance(members, RepeatBox)
    qtbot.mouseClick(members.add_button, Qt.LeftButton)
    qtbot.mouseClick(members.add_button, Qt.LeftButton)
    assert len(members.entries) == 2
    set_answer(ed, "members[1].member_relation", "head")
    set_answer(ed, "members[1].member_age", "12")
    qtbot.waitUntil(lambda: "16" in ed.messages("members[1].member_age"), timeout=3000)
    set_answer(ed, "members[2].member_age", "40")
    assert [m.get("member_age") for m in ed.values()["members"]] == [12, 40]
    members.remove_entry(0)
    assert len(members.entries) == 1
    assert [m.get("member_age") for m in ed.values()["members"]] == [40]
    assert ed.widget("members[1].member_age").input.edit.text() == "40"


def test_autosave_writes_a_draft_without_pressing_save(qtbot, store):
    ed, footprint = _house_editor(qtbot, store, autosave_ms=100)
    assert store.count("rural_house") == 0
    set_answer(ed, "owner_name", "王秀兰")
    set_answer(ed, "floors", "3")
    qtbot.waitUntil(lambda: store.count("rural_house") == 1, timeout=3000)
    rec = store.records("rural_house", include_data=True)[0]
    assert rec["status"] == "draft"
    assert rec["key"] == footprint["building_id"]
    assert rec["data"]["owner_name"] == "王秀兰" and rec["data"]["floors"] == 3
    # further edits become new draft revisions of the same record
    set_answer(ed, "floors", "4")
    qtbot.waitUntil(lambda: len(store.history(ed.record_uuid)) == 2, timeout=3000)
    assert store.count("rural_house") == 1


def test_draft_keeps_an_answer_that_fails_validation(qtbot, store):
    ed, _ = _house_editor(qtbot, store)
    set_answer(ed, "year_built", "2021")
    result = ed.save(final=False)
    assert result.status == "draft"
    again = FormEditor(store.form("rural_house"), store, record_uuid=result.record_uuid,
                       villages=village_names(store.enrolment))
    qtbot.addWidget(again)
    assert again.widget("year_built").input.edit.text() == "2021"
    assert again.dirty is False


def test_finish_with_problems_is_kept_as_draft_and_shows_all_messages(qtbot, store):
    ed, _ = _house_editor(qtbot, store)
    set_answer(ed, "owner_name", "李四")
    result = ed.save(final=True)
    assert result.demoted and result.status == "draft"
    assert "必填" in ed.messages("floors")
    assert "修改" in ed.banner.text()


def test_undo_restores_the_previous_answers(qtbot, store):
    ed, _ = _house_editor(qtbot, store, validate_ms=20)
    set_answer(ed, "floors", "2")
    qtbot.waitUntil(lambda: ed.undo_stack.count() == 1, timeout=3000)
    set_answer(ed, "floors", "5")
    qtbot.waitUntil(lambda: ed.undo_stack.count() == 2, timeout=3000)
    ed.undo_stack.undo()
    assert ed.widget("floors").input.edit.text() == "2"
    ed.undo_stack.undo()
    assert ed.widget("floors").input.edit.text() == ""
    ed.undo_stack.redo()
    assert ed.widget("floors").input.edit.text() == "2"


def test_closing_flushes_pending_changes(qtbot, store):
    ed, _ = _house_editor(qtbot, store, autosave_ms=60_000)
    set_answer(ed, "owner_name", "赵六")
    ed.close()
    assert store.count("rural_house") == 1
    assert store.records("rural_house", include_data=True)[0]["data"]["owner_name"] == "赵六"


def test_opening_and_closing_an_untouched_footprint_writes_nothing(qtbot, store):
    ed, _ = _house_editor(qtbot, store)
    ed.close()
    assert store.count("rural_house") == 0


def test_chinese_typed_through_the_input_method(qtbot, store):
    from PyQt5.QtGui import QInputMethodEvent
    from PyQt5.QtWidgets import QApplication

    ed, _ = _house_editor(qtbot, store)
    edit = ed.widget("owner_name").input.edit
    edit.setFocus()
    event = QInputMethodEvent()
    event.setCommitString("张秀英")
    QApplication.sendEvent(edit, event)
    assert ed.values()["owner_name"] == "张秀英"
