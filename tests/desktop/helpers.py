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


def house_record(footprint: dict, **overrides) -> dict:
    """A complete, valid rural house record for a work-map footprint (as the store takes it)."""
    import json

    rec = {"building_id": footprint["building_id"], "village_code": footprint["village_code"],
           "footprint": json.loads(footprint["geometry"]), **VALID_HOUSE}
    rec.update(overrides)
    return rec


def window(qtbot, store, *, with_map: bool = True, size=(1280, 800)):
    """The main window over ``store``, shown; waits for the map to load (off the GUI thread)."""
    from census_desktop.main_window import MainWindow

    win = MainWindow(store)
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    if with_map:
        qtbot.waitUntil(lambda: win.map_panel.is_loaded, timeout=20000)
    return win


def wait_job(qtbot, job, timeout: int = 30000):
    assert job is not None
    qtbot.waitUntil(lambda: job.done, timeout=timeout)
    return job


def click_scene(qtbot, view, scene_point) -> None:
    """A real mouse click on the map where ``scene_point`` is drawn."""
    from PyQt5.QtCore import Qt

    pos = view.mapFromScene(scene_point)
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=pos)
