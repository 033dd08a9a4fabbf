"""Filling editor fields in tests.  Text goes in with setText (DESIGN §8: keyClicks with non-ASCII
text aborts Qt); ASCII can be typed with qtbot.keyClicks."""

from __future__ import annotations

from census_desktop.form_editor import FieldRow

VALID_HOUSE = {"use": "residence", "structure_type": "brick_concrete", "floors": "2", "floor_area": "120.5",
               "year_built": "1995", "construction_method": "craftsman", "professional_design": "0",
               "seismic_measures": ["ring_beam"], "retrofitted": "0", "damage": ["none"]}


def set_answer(editor, path: str, value) -> None:
    row = editor.widget(path)
    assert isinstance(row, FieldRow), path
    inp = row.input
    if hasattr(inp, "edit") and not isinstance(value, list):
        inp.edit.setText("" if value is None else str(value))
    else:
        inp.set_value(value)


def fill(editor, answers: dict) -> None:
    for path, value in answers.items():
        set_answer(editor, path, value)
