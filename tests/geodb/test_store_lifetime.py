"""A store closed while something still holds it: the cause of the suite's "Cannot operate on a closed
database" flakes, reproduced deterministically.

A form editor (or any object with a pending callback) can outlive the store it saves through: a test's
``store`` fixture closes the store at teardown while a hidden editor's debounced autosave is still
pending, and the editor lives on until the cyclic garbage collector frees it. The autosave then fires
whenever Qt next processes events; pytest-qt processes events around every later test, so the
``sqlite3.ProgrammingError`` escaping the slot failed an unrelated test (a CALL failure, or a TEARDOWN
error) — more often under load, when the timer outlasts the test and collection comes late. A closed
store now raises its own CensusError, which the editor reports in its banner like any failed save.
"""

from __future__ import annotations

import gc
import sqlite3

import pytest

from geodb.county import CountyDB, CountyDBClosed
from geodb.township import StoreClosed, TownshipStore
from schemas.errors import CensusError
from tests.geodb.test_township import house, make_enrolment
from tests.sync import kit


@pytest.fixture
def store(tmp_path):
    s = TownshipStore.init(tmp_path / "town.db", make_enrolment())
    yield s
    s.close()


def test_a_store_used_after_close_raises_a_census_error_naming_it(store):
    store.save("rural_house", house("B1"))
    store.close()
    assert store.closed
    with pytest.raises(StoreClosed) as info:
        store.save("rural_house", house("B2"))
    assert isinstance(info.value, CensusError) and not isinstance(info.value, sqlite3.Error)
    assert "town.db" in info.value.message_zh and "closed" in info.value.message_en
    with pytest.raises(StoreClosed):
        store.records("rural_house")
    store.close()   # twice is harmless


def test_a_county_db_used_after_close_raises_a_census_error(tmp_path):
    gpkg = kit.init_county(tmp_path)
    db = CountyDB.open(gpkg, readonly=True)
    assert db.county == kit.COUNTY
    db.close()
    assert db.closed
    with pytest.raises(CountyDBClosed) as info:
        db.townships()
    assert "county.gpkg" in info.value.message_zh
    db.close()


def test_an_editor_that_outlives_its_store_does_not_break_the_event_loop(store, qtbot):
    from census_desktop.form_editor import FormEditor

    # a hidden editor with an unsaved change: its autosave is pending, as at the end of a desktop test
    ed = FormEditor(store.form("rural_house"), store, values=house("B9"), autosave_ms=30, validate_ms=10_000)
    ed.widget("floors").input.set_value(3)
    ed._on_changed("floors")
    assert ed.dirty and ed._autosave_timer.isActive()
    store.close()       # the fixture's teardown closes the store …
    gc.collect()        # … and a collection does not free the editor (something still holds it)
    # the autosave fires on the next event processing. Before the fix it raised sqlite3.ProgrammingError
    # inside the Qt slot, and pytest-qt failed this test with it
    qtbot.wait(120)
    assert not ed._autosave_timer.isActive()
    assert "已关闭" in ed.banner.text() or "closed" in ed.banner.text()
    ed.store = None     # nothing left to save through
    ed.close()
