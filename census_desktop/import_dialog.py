"""Bulk import from a spreadsheet: choose a file and a form, import it off the GUI thread through the
same library call as ``census township add`` (:meth:`TownshipStore.add_file`), then show every problem
by row and field.  Valid rows are saved as complete; rows with problems are kept as drafts with their
answers, so nothing typed in the spreadsheet is lost — double-click a problem to fix its record.

Cancelling stops between the store's batches (``geodb.township.BATCH`` rows, each batch one
transaction with its audit rows): whole batches are saved or none of a batch is.  Importing the same
file again finishes the job; rows already saved are recognised by their key and not duplicated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from schemas.model import Form

from . import i18n
from .i18n import tr
from .jobs import Job, JobCancelled, JobContext

_PATH_HEAD = re.compile(r"^(\w+)(?:\[(\d+)\]\.(\w+))?")


@dataclass
class ImportCancelled:
    """What a cancelled import had saved: rows ``saved`` of ``total`` (whole batches)."""

    form_id: str
    path: str
    saved: int
    total: int


def import_job(store_path: str | Path, form_id: str, path: str | Path, *, parent=None) -> Job:
    """A job running ``TownshipStore.add_file`` on its own connection; its result is the
    :class:`~geodb.township.ImportReport`, its ``partial`` on cancel an :class:`ImportCancelled`."""

    def run(ctx: JobContext):
        from geodb.township import TownshipStore

        ctx.check()
        saved = [0, 0]
        with TownshipStore.open(store_path) as store:
            def progress(done: int, total: int) -> None:
                saved[:] = [done, total]
                # after the last batch there is nothing to stop: finish rather than lose the report
                ctx.progress(done, total, tr("import_rows_done", done=done, total=total), check=done < total)

            try:
                return store.add_file(form_id, path, progress=progress)
            except JobCancelled:
                raise JobCancelled(ImportCancelled(form_id, str(path), saved[0], saved[1])) from None

    return Job(tr("importing", file=Path(path).name), run, parent=parent)


class BulkImportDialog(QDialog):
    """Choose a file (.xlsx/.csv/.json) and the form its rows belong to."""

    def __init__(self, forms: dict[str, Form], current: str | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(tr("import_title"))
        self.setMinimumWidth(560)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.file_edit = QLineEdit(self)
        self.file_edit.setPlaceholderText("houses.xlsx")
        browse = QPushButton(tr("browse"), self)
        browse.clicked.connect(self._browse)
        row.addWidget(self.file_edit, 1)
        row.addWidget(browse)
        form.addRow(tr("import_file"), row)
        self.form_combo = QComboBox(self)
        lang = i18n.language()
        for f in forms.values():
            self.form_combo.addItem(f"{f.title.get(lang)}（{f.id}）", f.id)
        if current is not None:
            self.form_combo.setCurrentIndex(max(self.form_combo.findData(current), 0))
        form.addRow(tr("import_form"), self.form_combo)
        lay.addLayout(form)
        hint = QLabel(tr("import_hint"), self)
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #555;")
        lay.addWidget(hint)
        buttons = QDialogButtonBox(self)
        self.ok = buttons.addButton(tr("import_start"), QDialogButtonBox.AcceptRole)
        buttons.addButton(tr("close"), QDialogButtonBox.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.file_edit.textChanged.connect(self._check)
        self._check()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("import_file"), "",
                                              "表格 / spreadsheets (*.xlsx *.csv *.json);;*")
        if path:
            self.file_edit.setText(path)

    def _check(self) -> None:
        self.ok.setEnabled(Path(self.file_edit.text().strip()).is_file())

    @property
    def path(self) -> str:
        return self.file_edit.text().strip()

    @property
    def form_id(self) -> str:
        return self.form_combo.currentData()


def field_label(form: Form, path: str, lang: str) -> str:
    """``members[2].age`` → "家庭成员 第2条 · 年龄" (the label a person knows), the path in brackets."""
    m = _PATH_HEAD.match(path or "")
    if not m:
        return path or tr("whole_record")
    names = [m[1]] + ([m[3]] if m[3] else [])
    labels = []
    for n in names:
        try:
            labels.append(form.field(n).label.get(lang))
        except KeyError:
            labels.append(n)
    text = labels[0] + (f" {tr('entry', n=m[2])} · {labels[1]}" if m[3] else "")
    return f"{text}（{path}）"


class ImportReportDialog(QDialog):
    """The outcome of an import: counts, ignored columns, and a table of row · field · message."""

    open_record = pyqtSignal(str)

    def __init__(self, report: Any, form: Form, parent=None):
        super().__init__(parent)
        self.report = report
        self.setWindowTitle(tr("import_report_title") + f" — {Path(report.path).name}")
        self.resize(820, 520)
        lang = i18n.language()
        lay = QVBoxLayout(self)
        summary = QLabel(tr("import_summary", rows=report.rows, valid=report.valid, invalid=report.invalid,
                            created=report.created, updated=report.updated, unchanged=report.unchanged), self)
        summary.setWordWrap(True)
        good = report.invalid == 0
        summary.setStyleSheet("padding: 8px; border-radius: 4px; " +
                              ("background: #e3f4e1; color: #1e5626;" if good else "background: #fff4d6; color: #5d4100;"))
        lay.addWidget(summary)
        if report.unknown_columns:
            unk = QLabel(tr("import_unknown_columns", cols="、".join(report.unknown_columns)), self)
            unk.setWordWrap(True)
            unk.setStyleSheet("color: #7a4b00;")
            lay.addWidget(unk)
        # row → the record it was saved as (a problem row's record is a draft to fix)
        self.row_record: dict[int, str] = {}
        for res in report.results:
            for p in res.problems:
                if p.row is not None:
                    self.row_record.setdefault(p.row, res.record_uuid)
        problems = sorted(report.problems, key=lambda p: (p.row if p.row is not None else 0, p.path))
        self.table = QTableWidget(len(problems), 3, self)
        self.table.setHorizontalHeaderLabels([tr("import_col_row"), tr("import_col_field"), tr("import_col_message")])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setWordWrap(True)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.Interactive)
        hh.setSectionResizeMode(2, QHeaderView.Stretch)
        self.table.setColumnWidth(1, 240)
        for i, p in enumerate(problems):
            msg = p.message_en if lang == "en" else p.message_zh
            cells = [QTableWidgetItem("" if p.row is None else str(p.row)),
                     QTableWidgetItem(field_label(form, p.path, lang)), QTableWidgetItem(msg)]
            cells[0].setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            cells[0].setData(Qt.UserRole, p.row)
            cells[2].setToolTip(f"{p.message_zh}\n{p.message_en}\n[{p.code.value}]")
            for c, item in enumerate(cells):
                self.table.setItem(i, c, item)
        self.table.resizeRowsToContents()
        self.table.cellDoubleClicked.connect(self._open)
        lay.addWidget(self.table, 1)
        if problems:
            hint = QLabel(tr("import_open_hint"), self)
            hint.setStyleSheet("color: #666;")
            lay.addWidget(hint)
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.Close).setText(tr("close"))
        lay.addWidget(buttons)

    def rows(self) -> list[tuple[str, str, str]]:
        """(row, field, message) as shown."""
        return [tuple(self.table.item(i, c).text() for c in range(3)) for i in range(self.table.rowCount())]

    def _open(self, r: int, _c: int) -> None:
        row = self.table.item(r, 0).data(Qt.UserRole)
        uuid = self.row_record.get(row)
        if uuid:
            self.open_record.emit(uuid)
