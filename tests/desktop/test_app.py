"""census-desktop start-up: --screenshot, first run from an enrolment, and a kill -9 after an edit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from census_desktop.app import main


def test_screenshot_in_process(qtbot, store_path, tmp_path):
    shot = tmp_path / "shot.png"
    assert main(["--db", str(store_path), "--screenshot", str(shot)]) == 0
    from PyQt5.QtGui import QImage

    img = QImage(str(shot))
    assert img.width() >= 1000 and img.height() >= 600


def test_first_run_creates_the_store_next_to_the_enrolment(qtbot, county_kit, enrolment_copy, tmp_path):
    sample, _, township = county_kit
    shot = tmp_path / "first.png"
    assert main(["--enrolment", str(enrolment_copy), "--workmap", str(sample), "--screenshot", str(shot)]) == 0
    db = enrolment_copy.with_suffix(".db")
    assert db.is_file() and shot.is_file()
    from geodb.township import TownshipStore
    with TownshipStore.open(db) as s:
        assert s.township == township and len(s.workmap()) > 0
    # the second run opens it again
    assert main(["--enrolment", str(enrolment_copy), "--screenshot", str(shot)]) == 0


def test_missing_db_is_a_usage_error(tmp_path, capsys):
    assert main(["--db", str(tmp_path / "nope.db"), "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "找不到" in capsys.readouterr().err


def test_console_script_screenshot_offscreen(store_path, tmp_path):
    shot = tmp_path / "cli.png"
    exe = os.path.join(os.path.dirname(sys.executable), "census-desktop")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([exe, "--db", str(store_path), "--screenshot", str(shot)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert shot.stat().st_size > 10_000


CHILD = textwrap.dedent("""
    import sys
    from PyQt5.QtWidgets import QApplication
    app = QApplication([])
    from geodb.township import TownshipStore
    from census_desktop.form_editor import FormEditor
    from census_desktop.logic import prefill_from_workmap
    store = TownshipStore.open(sys.argv[1])
    form = store.form("rural_house")
    footprint = next(w for w in store.workmap() if not w["urban"])
    ed = FormEditor(form, store, values=prefill_from_workmap(form, footprint), autosave_ms=200)
    ed.show()
    ed.widget("owner_name").input.edit.setText("刘桂芝")
    ed.widget("floors").input.edit.setText("2")
    ed.saved.connect(lambda *a: print("SAVED", flush=True))
    app.exec_()   # runs until killed
""")


def test_kill9_after_an_edit_loses_nothing(store_path, tmp_path):
    """Autosave writes a draft revision shortly after typing stops; a SIGKILL then loses nothing."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(store_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and "SAVED" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
        assert "SAVED" in line
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    from geodb.township import TownshipStore
    with TownshipStore.open(store_path) as s:
        recs = s.records("rural_house", include_data=True)
        assert len(recs) == 1 and recs[0]["status"] == "draft"
        assert recs[0]["data"]["owner_name"] == "刘桂芝" and recs[0]["data"]["floors"] == 2
        assert s.verify().ok


def test_screenshot_waits_for_the_map_and_shows_an_open_form(qtbot, store_path, tmp_path, capsys):
    from PyQt5.QtGui import QImage

    from geodb.township import TownshipStore

    with TownshipStore.open(store_path) as s:
        bid = next(w["building_id"] for w in s.workmap() if not w["urban"])
    plain, opened = tmp_path / "plain.png", tmp_path / "open.png"
    assert main(["--db", str(store_path), "--screenshot", str(plain)]) == 0
    assert main(["--db", str(store_path), "--open", bid, "--screenshot", str(opened)]) == 0
    a, b = QImage(str(plain)), QImage(str(opened))
    assert a.size() == b.size()
    from PyQt5.QtGui import QColor

    from census_desktop.map_panel import LAND
    land = sum(QColor(a.pixel(x, y)).name() == LAND for x in range(0, a.width(), 8) for y in range(0, a.height(), 8))
    assert land > 500                        # the township is drawn: the map had loaded
    # the form window is drawn over the left of the window: that part differs, the map is drawn in both
    assert sum(a.pixel(x, 300) != b.pixel(x, 300) for x in range(20, 500, 10)) > 20
    assert "找不到" not in capsys.readouterr().err
    assert main(["--db", str(store_path), "--open", "B-nowhere", "--screenshot", str(opened)]) == 0
    assert "B-nowhere" in capsys.readouterr().err
