"""The main window: header strip, form catalogue, records table, completeness per village.

It reads the township store through its public methods (``summary``, ``records``, ``workmap``,
``get``) and turns them into plain rows (:mod:`census_desktop.logic`) that thin Qt models show.
The store's SQLite connection belongs to the GUI thread: one store per thread.
"""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QKeySequence
from PyQt5.QtWidgets import (
    QAbstractItemView, QAction, QActionGroup, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
    QLineEdit, QMainWindow, QMessageBox, QProgressBar, QPushButton, QShortcut, QSplitter, QTableView,
    QTableWidget, QTableWidgetItem, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from schemas.catalogue import all_forms
from schemas.errors import CensusError
from schemas.model import REFERENCE_DATE, Block

from . import i18n
from .form_editor import FormEditor
from .i18n import tr
from .logic import (
    HOUSE_FORMS, STATUS_ORDER, Row, prefill_from_workmap, record_rows,
    status_text, village_names, village_progress,
)
from .records_model import RecordsModel

PAGE = 20000
FORM_ROLE = Qt.UserRole + 2


class MainWindow(QMainWindow):
    language_changed = pyqtSignal(str)

    def __init__(self, store=None, parent=None):
        super().__init__(parent)
        self.store = None
        self.forms = all_forms()
        self.form_id: str | None = None
        self.editors: dict[str, FormEditor] = {}     # record uuid or building id → open editor
        self._workmap: list[dict] = []
        self._villages: dict[str, str] = {}
        self._refresh_timer = QTimer(self, singleShot=True, interval=300)
        self._refresh_timer.timeout.connect(self.refresh_side)
        self.resize(1280, 800)
        self._build()
        if store is not None:
            self.set_store(store)

    # -- building the window ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.setWindowTitle(tr("app_title"))
        self._build_menus()
        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(8, 8, 8, 4)
        outer.setSpacing(6)

        self.header = QLabel(central)
        self.header.setTextFormat(Qt.RichText)
        self.header.setStyleSheet("QLabel { background: #eef3f7; border: 1px solid #d5dee6; border-radius: 4px; "
                                  "padding: 8px 12px; font-size: 14px; color: #2c3e50; }")
        outer.addWidget(self.header)

        split = QSplitter(Qt.Horizontal, central)
        # left: the catalogue
        self.tree = QTreeWidget(split)
        self.tree.setHeaderLabels([tr("catalogue"), ""])
        self.tree.setColumnCount(2)
        self.tree.header().setSectionResizeMode(0, QHeaderView.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        self.tree.setAlternatingRowColors(False)
        self.tree.currentItemChanged.connect(self._on_tree_item)
        # centre: the records
        centre = QWidget(split)
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        self.form_title = QLabel(tr("choose_form"), centre)
        f = self.form_title.font()
        f.setPointSizeF(f.pointSizeF() * 1.25)
        f.setBold(True)
        self.form_title.setFont(f)
        cl.addWidget(self.form_title)
        bar = QHBoxLayout()
        self.search = QLineEdit(centre)
        self.search.setPlaceholderText(tr("search"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_filter)
        self.status_filter = QComboBox(centre)
        self.status_filter.addItem(tr("all_states"), None)
        for s in STATUS_ORDER:
            self.status_filter.addItem(status_text(s, i18n.language()), s)
        self.status_filter.currentIndexChanged.connect(self._apply_filter)
        self.new_button = QPushButton("＋ " + tr("new_record"), centre)
        self.new_button.clicked.connect(self.new_record)
        self.new_button.setEnabled(False)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.status_filter)
        bar.addWidget(self.new_button)
        cl.addLayout(bar)
        self.model = RecordsModel(self)
        self.table = QTableView(centre)
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(2, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setDefaultSectionSize(150)
        for col, width in enumerate((210, 110, 80, 50)):
            self.table.setColumnWidth(col, width)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.doubleClicked.connect(lambda idx: self.open_row(idx.row()))
        QShortcut(QKeySequence(Qt.Key_Return), self.table, lambda: self.open_row(self.table.currentIndex().row()))
        cl.addWidget(self.table, 1)
        self.count_label = QLabel(centre)
        self.count_label.setStyleSheet("color: #666;")
        cl.addWidget(self.count_label)
        # right: completeness
        right = QWidget(split)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        title = QLabel(tr("completeness"), right)
        title.setFont(self.form_title.font())
        rl.addWidget(title)
        self.progress_total = QProgressBar(right)
        self.progress_total.setFormat("%v / %m")
        rl.addWidget(self.progress_total)
        self.villages_table = QTableWidget(0, 2, right)
        self.villages_table.setHorizontalHeaderLabels([tr("village"), tr("filled")])
        self.villages_table.verticalHeader().setVisible(False)
        self.villages_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.villages_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Fixed)
        self.villages_table.setColumnWidth(1, 130)
        self.villages_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.villages_table.setSelectionMode(QAbstractItemView.NoSelection)
        self.villages_table.setShowGrid(False)
        self.villages_table.cellDoubleClicked.connect(self._on_village)
        rl.addWidget(self.villages_table, 1)

        split.addWidget(self.tree)
        split.addWidget(centre)
        split.addWidget(right)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 0)
        split.setSizes([330, 610, 320])
        outer.addWidget(split, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage(tr("ready"))
        self._show_header()

    def _build_menus(self) -> None:
        mb = self.menuBar()
        mb.clear()
        m = mb.addMenu(tr("menu_file"))
        a = m.addAction(tr("open_db"))
        a.setShortcut(QKeySequence.Open)
        a.triggered.connect(self._ask_open_db)
        a = m.addAction(tr("open_enrolment"))
        a.triggered.connect(self._ask_enrolment)
        m.addSeparator()
        self.export_action = m.addAction(tr("export_package"))
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(self._ask_export)
        m.addSeparator()
        a = m.addAction(tr("quit"))
        a.setShortcut(QKeySequence.Quit)
        a.triggered.connect(self.close)
        lm = mb.addMenu(tr("menu_lang"))
        group = QActionGroup(self)
        for lang, key in (("zh", "lang_zh"), ("en", "lang_en")):
            act = QAction(tr(key), self, checkable=True)
            act.setChecked(i18n.language() == lang)
            act.triggered.connect(lambda _c, lang=lang: self.set_language(lang))
            group.addAction(act)
            lm.addAction(act)

    # -- the store -----------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.flush_editors()
        for ed in list(self.editors.values()):
            ed.close()
        if self.store is not None and self.store is not store:
            self.store.close()
        self.store = store
        self._workmap = store.workmap()
        self._villages = village_names(store.enrolment)
        self.form_id = None
        self._show_header()
        self._fill_tree()
        self.refresh_side()
        self.select_form(self._default_form())
        self.statusBar().showMessage(tr("opened", path=str(store.path)))

    def _default_form(self) -> str:
        if self.form_id:
            return self.form_id
        if any(not w.get("urban") for w in self._workmap):
            return "rural_house"
        if self._workmap:
            return "urban_house"
        return next(iter(self.forms))

    def _show_header(self) -> None:
        if self.store is None:
            self.header.setText(tr("no_db"))
            return
        s = self.store
        enr = s.enrolment
        name = enr.get("township_name") or ""
        sep = "<span style='color:#9aa7b3'>　│　</span>"
        self.header.setText(
            f"<b>{tr('township')}</b>：{name}（{s.township}）{sep}<b>{tr('enumerator')}</b>：{s.enumerator}{sep}"
            f"<b>{tr('refdate')}</b>：{REFERENCE_DATE.isoformat()}{sep}<b>{tr('assigned')}</b>：{len(self._workmap)}")

    def _fill_tree(self) -> None:
        counts = self.store.summary()["records"] if self.store is not None else {}
        current = self.form_id
        self.tree.blockSignals(True)
        self.tree.clear()
        lang = i18n.language()
        bold = QFont()
        bold.setBold(True)
        self._tree_items: dict[str, QTreeWidgetItem] = {}
        for n, block in enumerate(Block, 1):
            forms = [f for f in self.forms.values() if f.block is block]
            total = sum(sum(counts.get(f.id, {}).values()) for f in forms)
            top = QTreeWidgetItem(self.tree, [f"{n}. {block.title_en if lang == 'en' else block.title_zh}",
                                              str(total) if total else ""])
            top.setFont(0, bold)
            top.setFlags(top.flags() & ~Qt.ItemIsSelectable)
            for form in forms:
                c = counts.get(form.id, {})
                k = sum(c.values())
                item = QTreeWidgetItem(top, [form.title.get(lang), str(k) if k else ""])
                item.setData(0, FORM_ROLE, form.id)
                item.setToolTip(0, f"{form.title.zh}\n{form.title.en}\n{form.id}")
                item.setTextAlignment(1, Qt.AlignRight | Qt.AlignVCenter)
                if c.get("has_issues") or c.get("conflict") or c.get("rejected"):
                    item.setForeground(1, QColor("#a12a1f"))
                self._tree_items[form.id] = item
            top.setExpanded(bool(forms) and block in (Block.EXPOSURE, Block.CAPACITY, Block.HAZARD,
                                                      Block.HISTORY, Block.HIDDEN_DANGER))
        self.tree.blockSignals(False)
        if current in self._tree_items:
            self.tree.setCurrentItem(self._tree_items[current])

    # -- the records table ---------------------------------------------------------------------------
    def _on_tree_item(self, item, _prev) -> None:
        if item is not None and item.data(0, FORM_ROLE):
            self.select_form(item.data(0, FORM_ROLE))

    def select_form(self, form_id: str) -> None:
        if form_id not in self.forms:
            return
        self.form_id = form_id
        item = getattr(self, "_tree_items", {}).get(form_id)
        if item is not None and self.tree.currentItem() is not item:
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(item)
            self.tree.blockSignals(False)
        form = self.forms[form_id]
        self.form_title.setText(form.title.get(i18n.language()))
        self.new_button.setEnabled(self.store is not None)
        self.reload_rows()

    def load_rows(self, form_id: str) -> list[Row]:
        """The form's records, read from the store in pages, as plain rows (plus unfilled footprints)."""
        if self.store is None:
            return []
        records: list[dict] = []
        offset = 0
        while True:
            page = self.store.records(form_id, limit=PAGE, offset=offset)
            records.extend(page)
            if len(page) < PAGE:
                break
            offset += PAGE
        return record_rows(records, form_id, workmap=self._workmap if form_id in HOUSE_FORMS else (),
                           village_names=self._villages, lang=i18n.language())

    def reload_rows(self) -> None:
        if self.form_id is None:
            return
        self.model.set_rows(self.load_rows(self.form_id))
        self._apply_filter()

    def _apply_filter(self, *_args) -> None:
        status = self.status_filter.currentData()
        self.model.set_filter(self.search.text(), None if status is None else [status])
        self._show_count()

    def _show_count(self) -> None:
        self.count_label.setText(tr("rows_shown", shown=self.model.shown, total=self.model.total))

    # -- completeness ----------------------------------------------------------------------------------
    def refresh_side(self) -> None:
        if self.store is None:
            return
        houses = []
        for fid in HOUSE_FORMS:
            houses.extend(self.store.records(fid))
        progress = village_progress(self._workmap, houses, self._villages)
        t = self.villages_table
        t.setRowCount(len(progress))
        for i, p in enumerate(progress):
            item = QTableWidgetItem(p.name)
            item.setToolTip(p.code)
            item.setData(Qt.UserRole, p.code)
            t.setItem(i, 0, item)
            bar = QProgressBar(t)
            bar.setRange(0, max(p.assigned, 1))
            bar.setValue(p.filled)
            bar.setFormat(f"{p.filled} / {p.assigned}")
            bar.setTextVisible(True)
            bar.setStyleSheet("QProgressBar { border: 1px solid #cfd8dc; border-radius: 3px; background: #fafafa; "
                              "text-align: center; height: 16px; } QProgressBar::chunk { background: #8bc34a; }")
            t.setCellWidget(i, 1, bar)
        assigned = sum(p.assigned for p in progress)
        self.progress_total.setRange(0, max(assigned, 1))
        self.progress_total.setValue(sum(p.filled for p in progress))
        self.progress_total.setFormat(f"{sum(p.filled for p in progress)} / {assigned}")
        self._fill_tree()

    def _on_village(self, row: int, _col: int) -> None:
        item = self.villages_table.item(row, 0)
        if item is not None:
            self.search.setText(item.text())

    # -- editing ---------------------------------------------------------------------------------------
    def open_row(self, visible_row: int) -> FormEditor | None:
        if self.store is None or not 0 <= visible_row < self.model.shown:
            return None
        row = self.model.row_at(visible_row)
        form = self.forms[row.form_id]
        handle = row.record_uuid or f"{row.form_id}:{row.building_id}"
        if handle in self.editors:
            ed = self.editors[handle]
            ed.raise_()
            ed.activateWindow()
            return ed
        if row.record_uuid is not None:
            ed = FormEditor(form, self.store, record_uuid=row.record_uuid, villages=self._villages, parent=self)
        else:
            footprint = next((w for w in self._workmap if w["building_id"] == row.building_id), None)
            values = prefill_from_workmap(form, footprint) if footprint else {}
            ed = FormEditor(form, self.store, values=values, villages=self._villages, parent=self)
        return self._show_editor(ed, handle)

    def new_record(self) -> FormEditor | None:
        if self.store is None or self.form_id is None:
            return None
        ed = FormEditor(self.forms[self.form_id], self.store, villages=self._villages, parent=self)
        return self._show_editor(ed, f"new:{id(ed)}")

    def _show_editor(self, ed: FormEditor, handle: str) -> FormEditor:
        self.editors[handle] = ed
        ed.setAttribute(Qt.WA_DeleteOnClose)
        ed.saved.connect(self._on_saved)
        ed.destroyed.connect(lambda _o=None, h=handle: self.editors.pop(h, None))
        ed.show()
        return ed

    def _on_saved(self, record_uuid: str, _status: str) -> None:
        self.reload_rows()
        self._refresh_timer.start()

    def flush_editors(self) -> None:
        for ed in list(self.editors.values()):
            ed.flush()

    def closeEvent(self, event) -> None:
        self.flush_editors()
        super().closeEvent(event)

    # -- menus ---------------------------------------------------------------------------------------
    def _error(self, e: Exception) -> None:
        text = (e.message_en if i18n.language() == "en" else e.message_zh) if isinstance(e, CensusError) else str(e)
        self.statusBar().showMessage(text)
        QMessageBox.warning(self, tr("error"), text)

    def open_db(self, path: str | Path) -> None:
        from geodb.township import TownshipStore

        self.set_store(TownshipStore.open(path))

    def _ask_open_db(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("open_db"), "", "乡镇数据库 (*.db);;*")
        if path:
            try:
                self.open_db(path)
            except (CensusError, OSError) as e:
                self._error(e)

    def _ask_enrolment(self) -> None:
        from .app import create_store

        path, _ = QFileDialog.getOpenFileName(self, tr("open_enrolment"), "", "注册文件 (*.json);;*")
        if not path:
            return
        workmap = QFileDialog.getExistingDirectory(self, "调查底图目录（可取消）/ work-map folder (optional)")
        try:
            self.set_store(create_store(Path(path), None, workmap or None))
        except (CensusError, OSError) as e:
            self._error(e)

    def export_package(self, out_dir: str | Path):
        from sync.package import build_package

        self.flush_editors()
        result = self.store.export(out_dir, build_package=build_package)
        self.statusBar().showMessage(tr("exported", path=result.path, n=result.revisions))
        self.reload_rows()
        return result

    def _ask_export(self) -> None:
        if self.store is None:
            return
        out = QFileDialog.getExistingDirectory(self, tr("export_package"))
        if not out:
            return
        try:
            result = self.export_package(out)
        except (CensusError, OSError) as e:
            self._error(e)
            return
        QMessageBox.information(self, tr("export_package"), tr("exported", path=result.path, n=result.revisions))

    def set_language(self, lang: str) -> None:
        if lang == i18n.language():
            return
        i18n.set_language(lang)
        form_id, text = self.form_id, self.search.text()
        self._build()
        if self.store is not None:
            self._fill_tree()
            self.refresh_side()
            self.form_id = None
            self.select_form(form_id or self._default_form())
            self.search.setText(text)
        self.language_changed.emit(lang)
