"""Jobs off the GUI thread: outcomes as signals on the GUI thread; cancel stops at the next step."""

from __future__ import annotations

import threading

from PyQt5.QtCore import QThread

from census_desktop.jobs import Job, JobCancelled


def _run(qtbot, job):
    seen = []
    for name in ("succeeded", "failed", "cancelled", "finished"):
        getattr(job, name).connect(lambda *a, name=name: seen.append((name, QThread.currentThread())))
    job.start()
    qtbot.waitUntil(lambda: job.done, timeout=5000)
    return seen


def test_result_and_progress_come_back_on_the_gui_thread(qtbot):
    worker = []

    def fn(ctx):
        worker.append(QThread.currentThread())
        for i in range(3):
            ctx.progress(i + 1, 3, f"step {i + 1}")
        return 42

    job = Job("t", fn)
    steps = []
    job.progress.connect(lambda d, t, text: steps.append((d, t, text)))
    seen = _run(qtbot, job)
    gui = QThread.currentThread()
    assert job.outcome == "ok" and job.result == 42
    assert worker[0] is not gui
    assert [name for name, _ in seen] == ["succeeded", "finished"] and all(t is gui for _, t in seen)
    assert steps == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


def test_a_failure_is_reported_not_raised(qtbot):
    def fn(ctx):
        raise ValueError("坏了")

    job = Job("t", fn)
    errors = []
    job.failed.connect(errors.append)
    seen = _run(qtbot, job)
    assert job.outcome == "failed" and isinstance(errors[0], ValueError) and "坏了" in job.error_trace
    assert [name for name, _ in seen] == ["failed", "finished"]


def test_cancel_stops_at_the_next_progress_with_what_was_done(qtbot):
    reached, cancelled, done = threading.Event(), threading.Event(), []

    def fn(ctx):
        for i in range(100):
            ctx.progress(i, 100)
            if i == 2:
                reached.set()
                cancelled.wait(5)        # the user presses 取消 while step 2 is under way
            done.append(i)
        return "all"

    job = Job("t", fn)
    job.start()
    qtbot.waitUntil(reached.is_set, timeout=5000)
    job.cancel()
    cancelled.set()
    qtbot.waitUntil(lambda: job.done, timeout=5000)
    assert job.outcome == "cancelled" and job.result is None
    assert done == [0, 1, 2]                 # step 2 finished; step 3 never started


def test_cancelled_before_it_starts_runs_nothing_and_partial_is_kept(qtbot):
    ran = []
    job = Job("t", lambda ctx: ran.append(1))
    job.cancel()
    _run(qtbot, job)
    assert job.outcome == "cancelled" and ran == []

    def fn(ctx):
        raise JobCancelled({"saved": 4})

    job = Job("t", fn)
    _run(qtbot, job)
    assert job.outcome == "cancelled" and job.partial == {"saved": 4}


def test_a_job_that_cannot_stop_ignores_cancel(qtbot):
    job = Job("t", lambda ctx: (ctx.progress(1, 1), "done")[1], cancellable=False)
    job.cancel()
    _run(qtbot, job)
    assert job.outcome == "ok" and job.result == "done"
