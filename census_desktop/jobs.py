"""Long jobs off the GUI thread: a :class:`Job` runs a plain function in a ``QThread`` and reports
progress, success, failure or cancellation as signals delivered on the GUI thread.

The function gets a :class:`JobContext`; it calls ``ctx.progress(done, total, text)`` between steps
(library calls take it as their ``progress`` callback).  Cancelling only sets a flag: the next
``ctx.progress`` (or ``ctx.check()``) raises :class:`JobCancelled` inside the job, so a job stops
between batches, where the store has committed whole transactions or nothing (each store write is
one transaction with its audit rows).

SQLite connections belong to the thread that made them: a job opens its own ``TownshipStore`` from
the path and closes it (one store per thread, see ``main_window``).
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PyQt5.QtCore import QObject, Qt, QThread, QTimer, pyqtSignal
from PyQt5.QtWidgets import QProgressDialog, QWidget

from .i18n import tr

SHOW_AFTER_MS = 400     # a job quicker than this never flashes a dialog


class JobCancelled(Exception):
    """Raised inside a job when the user pressed 取消 (caught by :class:`Job`).  A job may raise it
    with what it had done so far (``JobCancelled(partial)``): ``Job.partial`` then holds it."""


class JobContext:
    def __init__(self, job: "Job"):
        self._job = job

    @property
    def cancelled(self) -> bool:
        return self._job._cancel.is_set()

    def check(self) -> None:
        if self._job._cancel.is_set():
            raise JobCancelled()

    def progress(self, done: int, total: int, text: str = "", *, check: bool = True) -> None:
        """Report progress; raise :class:`JobCancelled` if cancel was asked (unless ``check=False``:
        the last step, after which there is nothing left to stop)."""
        self._job.progress.emit(int(done), int(total), text)
        if check:
            self.check()


class _Thread(QThread):
    def __init__(self, job: "Job"):
        super().__init__()
        self.job = job

    def run(self) -> None:
        job = self.job
        if job._cancel.is_set():          # cancelled before it started: nothing runs
            job.outcome = "cancelled"
            return
        try:
            job.result = job.fn(JobContext(job))
            job.outcome = "ok"
        except JobCancelled as e:
            job.partial = e.args[0] if e.args else None
            job.outcome = "cancelled"
        except BaseException as e:  # reported on the GUI thread; the app keeps running
            job.error = e
            job.error_trace = traceback.format_exc()
            job.outcome = "failed"


class Job(QObject):
    """``Job(title, fn)``; ``start()``; then one of ``succeeded(result)``, ``failed(exception)``,
    ``cancelled()``, always followed by ``finished()`` — all on the GUI thread."""

    progress = pyqtSignal(int, int, str)
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(object)
    cancelled = pyqtSignal()
    finished = pyqtSignal()

    def __init__(self, title: str, fn: Callable[[JobContext], Any], *, cancellable: bool = True, parent=None):
        super().__init__(parent)
        self.title = title
        self.fn = fn
        self.cancellable = cancellable
        self.result: Any = None
        self.partial: Any = None                 # what a cancelled job had done, if it says
        self.error: BaseException | None = None
        self.error_trace = ""
        self.outcome: str | None = None          # "ok" | "cancelled" | "failed" once done
        self._cancel = threading.Event()
        self._thread: _Thread | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not None and self._thread is None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> "Job":
        self._thread = _Thread(self)
        self._thread.finished.connect(self._on_thread_finished)
        self._thread.start()
        return self

    def cancel(self) -> None:
        if self.cancellable:
            self._cancel.set()

    def wait(self, ms: int = 60_000) -> bool:
        """Block until the thread ends (shutdown); the outcome signals still come through the event loop."""
        return self._thread.wait(ms) if self._thread is not None else True

    def _on_thread_finished(self) -> None:
        self._thread.wait()      # "finished" is sent just before the thread really ends
        self._thread = None
        if self.outcome == "ok":
            self.succeeded.emit(self.result)
        elif self.outcome == "failed":
            self.failed.emit(self.error)
        else:
            self.cancelled.emit()
        self.finished.emit()


class JobProgressDialog(QProgressDialog):
    """A window-modal progress dialog for a job: shown after a short delay (quick jobs never flash),
    取消 cancels the job, and it closes itself when the job ends."""

    def __init__(self, job: Job, parent: QWidget | None = None, *, label: str | None = None):
        super().__init__(label or job.title, tr("cancel") if job.cancellable else "", 0, 0, parent)
        self.job = job
        self.setWindowTitle(job.title)
        self.setWindowModality(Qt.WindowModal)
        self.setMinimumDuration(SHOW_AFTER_MS)
        # QProgressDialog's own timer keeps its first 4 s delay when the range is still "busy": show it here
        self._show_timer = QTimer(self, singleShot=True, interval=SHOW_AFTER_MS)   # dies with the dialog
        self._show_timer.timeout.connect(self._show_if_running)
        self._show_timer.start()
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setMinimumWidth(420)
        if not job.cancellable:
            self.setCancelButton(None)
        self.canceled.connect(self._cancel)
        job.progress.connect(self._on_progress)
        job.finished.connect(self._finish)
        self._base = label or job.title

    def _show_if_running(self) -> None:
        if self.job.running and not self.isVisible():
            self.show()

    def _cancel(self) -> None:
        self.job.cancel()
        self.setLabelText(self._base + "\n" + tr("cancelling"))

    def _on_progress(self, done: int, total: int, text: str) -> None:
        if total > 0:
            self.setMaximum(total)
            self.setValue(min(done, total))
        if text and not self.wasCanceled():
            self.setLabelText(f"{self._base}\n{text}")

    def _finish(self) -> None:
        self.reset()
        self.hide()
        self.deleteLater()
