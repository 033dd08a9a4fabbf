"""Sync with the county: export a return package to a folder (a USB stick), apply the county's
feedback file, and list the records the county flagged — with its messages — ready to fix.

Both jobs run off the GUI thread on their own store connection, through the same library calls as
``census township export`` / ``census township feedback``.  Export cancels cleanly: the store reserves
the package number before building and gives it back if the build fails, so a cancel at any point
before the package is recorded leaves the store as it was and no package file behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PyQt5 import sip
from PyQt5.QtCore import Qt, QTimer, pyqtSignal
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from schemas.errors import CensusError

from . import i18n
from .i18n import tr
from .jobs import Job, JobCancelled, JobContext
from .logic import status_text
from .styles import STATUS_STYLES

COUNTY_STATES = ("has_issues", "conflict", "rejected")


class ExportFolderError(CensusError):
    """The chosen export folder is missing or read-only."""


def check_export_folder(folder: str | Path) -> Path:
    """The folder must exist and take files (a USB stick may be read-only or gone)."""
    p = Path(folder)
    if not p.is_dir():
        raise ExportFolderError(f"文件夹不存在：{p}（U 盘是否已插好？）", f"folder not found: {p} (is the USB stick in?)")
    if not os.access(p, os.W_OK):
        raise ExportFolderError(f"文件夹不能写入：{p}（U 盘是否写保护？）", f"cannot write to {p} (is the USB stick write-protected?)")
    return p


def export_job(store_path: str | Path, out_dir: str | Path, *, parent=None) -> Job:
    """``TownshipStore.export`` with ``sync.package.build_package``; the result is the ExportResult."""

    def run(ctx: JobContext):
        from geodb.township import TownshipStore
        from sync.package import build_package

        ctx.progress(0, 3, tr("export_step_collect"))
        with TownshipStore.open(store_path) as store:
            def build(revisions, **kw):
                ctx.progress(1, 3, tr("export_step_write", n=len(revisions)))
                path = Path(build_package(revisions, **kw))
                if ctx.cancelled:   # written but not recorded: take it back (the store gives the number back)
                    path.unlink(missing_ok=True)
                    raise JobCancelled()
                ctx.progress(2, 3, tr("export_step_record"), check=False)
                return path

            result = store.export(out_dir, build_package=build)
        ctx.progress(3, 3, "", check=False)
        return result

    return Job(tr("exporting"), run, parent=parent)


def feedback_job(store_path: str | Path, path: str | Path, *, parent=None) -> Job:
    """``TownshipStore.apply_feedback``: one transaction, so it is not cancellable once started."""

    def run(ctx: JobContext):
        from geodb.township import TownshipStore

        ctx.progress(0, 1, tr("applying_feedback"))
        with TownshipStore.open(store_path) as store:
            return store.apply_feedback(path)

    return Job(tr("applying_feedback"), run, cancellable=False, parent=parent)


class FeedbackPanel(QWidget):
    """The records the county flagged (their store state comes from feedback), with its messages, one
    wrapped entry each (a narrow side panel must not cut the county's words off).  Double-click (or
    Enter) opens the record to fix; once it is saved again it leaves the list."""

    open_record = pyqtSignal(str)
    KEY, STATE, MESSAGE = Qt.UserRole + 1, Qt.UserRole + 2, Qt.UserRole + 3

    def __init__(self, forms: dict, parent=None):
        super().__init__(parent)
        self.forms = forms
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.summary = QLabel(tr("feedback_none"), self)
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #555; padding: 2px;")
        lay.addWidget(self.summary)
        self.list = QListWidget(self)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(False)
        self.list.setResizeMode(QListView.Adjust)
        self.list.setSelectionMode(QAbstractItemView.SingleSelection)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.list.setStyleSheet("QListWidget::item { padding: 4px 2px; border-bottom: 1px solid #eceff1; }"
                                "QListWidget::item:selected { background: #dbe8f7; color: #1f2d3a; }")
        self.list.itemActivated.connect(self._open)
        self.list.itemDoubleClicked.connect(self._open)
        lay.addWidget(self.list, 1)
        hint = QLabel(tr("feedback_open_hint"), self)
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #888; font-size: 11px;")
        lay.addWidget(hint)
        self.items: list[dict] = []

    def set_records(self, records: list[dict]) -> None:
        """``TownshipStore.records(status=COUNTY_STATES)`` rows; those with a county state are listed."""
        lang = i18n.language()
        self.items = [r for r in records if r.get("county_state")]
        self.list.clear()
        for r in self.items:
            form = self.forms.get(r["form_id"])
            title = form.title.get(lang) if form else r["form_id"]
            key = r.get("key") or r["record_uuid"][:8]
            state = status_text(r["county_state"], lang)
            msg = r.get("county_message_en" if lang == "en" else "county_message_zh") or ""
            item = QListWidgetItem(f"{key}　[{state}]\n{msg}")
            item.setData(Qt.UserRole, r["record_uuid"])
            item.setData(self.KEY, key)
            item.setData(self.STATE, state)
            item.setData(self.MESSAGE, msg)
            item.setToolTip(f"{title}\n{r['record_uuid']}\n{r.get('county_message_zh') or ''}\n"
                            f"{r.get('county_message_en') or ''}")
            style = STATUS_STYLES.get(r["county_state"])
            if style is not None and style.text:
                item.setForeground(_brush(style.text))
            self.list.addItem(item)
        self.summary.setText(tr("feedback_count", n=len(self.items)) if self.items else tr("feedback_none"))

    def select(self, record_uuid: str) -> None:
        item = self._item(record_uuid)
        if item is None:
            return
        self.list.setCurrentItem(item)
        # scroll once laid out (the panel may be showing for the first time); the list may be refilled by then
        QTimer.singleShot(0, lambda: self._scroll_to(record_uuid))

    def _item(self, record_uuid: str) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.UserRole) == record_uuid:
                return self.list.item(i)
        return None

    def _scroll_to(self, record_uuid: str) -> None:
        if sip.isdeleted(self.list):
            return
        item = self._item(record_uuid)
        if item is not None:
            self.list.scrollToItem(item, QAbstractItemView.PositionAtCenter)

    def messages(self) -> list[tuple[str, str, str]]:
        """(key, state, message) as listed."""
        return [tuple(self.list.item(i).data(role) for role in (self.KEY, self.STATE, self.MESSAGE))
                for i in range(self.list.count())]

    def _open(self, item: QListWidgetItem) -> None:
        uuid = item.data(Qt.UserRole)
        if uuid:
            self.open_record.emit(uuid)


def _brush(colour: str) -> Any:
    from PyQt5.QtGui import QBrush, QColor

    return QBrush(QColor(colour))
