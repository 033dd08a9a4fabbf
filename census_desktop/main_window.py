"""The main window: header strip, form catalogue, the map over the records table, and on the right
completeness per village and the county's feedback.

It reads the township store through its public methods (``summary``, ``records``, ``workmap``,
``get``) and turns them into plain rows (:mod:`census_desktop.logic`) that thin Qt models show.
The store's SQLite connection belongs to the GUI thread: one store per thread.  Long jobs — bulk
import, export, applying feedback, loading the map — run in :mod:`census_desktop.jobs` workers that
open their own connection from ``store.path``; their results come back as signals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PyQt5 import sip
from PyQt5.QtCore import QRect, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QKeySequence
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QAction,
    QActionGroup,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QShortcut,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from schemas.catalogue import all_forms
from schemas.errors import CensusError
from schemas.model import REFERENCE_DATE, Block, Division, FieldType

from . import i18n
from .form_editor import FormEditor, GeopointInput
from .i18n import tr
from .import_dialog import BulkImportDialog, ImportReportDialog, import_job
from .jobs import Job, JobProgressDialog
from .logic import (
    HOUSE_FORMS,
    STATUS_ORDER,
    Row,
    prefill_from_workmap,
    record_rows,
    status_text,
    village_names,
    village_progress,
)
from .map_panel import MapPanel
from .mapdata import footprint_states, load_map, point_records
from .records_model import RecordsModel
from .sync_panel import (
    COUNTY_STATES,
    FeedbackPanel,
    check_export_folder,
    export_job,
    feedback_job,
)

PAGE = 20000
FORM_ROLE = Qt.UserRole + 2
TREE_MIN, TREE_MAX = 250, 400
RIGHT_WIDTH = 290


class MainWindow(QMainWindow):
    language_changed = pyqtSignal(str)

    def __init__(self, store=None, parent=None, *, workmap: str | Path | None = None):
        super().__init__(parent)
        self.store = None
        self.workmap_dir = workmap          # where village outlines come from (else the store's source)
        self.forms = all_forms()
        self.form_id: str | None = None
        self.editors: dict[str, FormEditor] = {}     # record uuid / "form:building" / "new:…" → open editor
        self.jobs: list[Job] = []
        self._import_report: ImportReportDialog | None = None
        self.last_notice: str = ""
        self._workmap: list[dict] = []
        self._workmap_index: dict[str, dict] = {}
        self._villages: dict[str, str] = {}
        self._toolbar: QToolBar | None = None
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
        outer.setContentsMargins(8, 6, 8, 4)
        outer.setSpacing(6)

        self.header = QLabel(central)
        self.header.setTextFormat(Qt.RichText)
        self.header.setStyleSheet("QLabel { background: #eef3f7; border: 1px solid #d5dee6; border-radius: 4px; "
                                  "padding: 7px 12px; font-size: 14px; color: #2c3e50; }")
        outer.addWidget(self.header)

        split = QSplitter(Qt.Horizontal, central)
        self.splitter = split
        split.setChildrenCollapsible(False)
        # left: the catalogue
        self.tree = QTreeWidget(split)
        self.tree.setHeaderLabels([tr("catalogue"), ""])
        self.tree.setColumnCount(2)
        self.tree.header().setSectionResizeMode(0, QHeaderView.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        self.tree.setTextElideMode(Qt.ElideMiddle)   # never cut off the end (…调查表); tooltips hold all
        self.tree.currentItemChanged.connect(self._on_tree_item)
        # centre: the map over the records
        centre = QSplitter(Qt.Vertical, split)
        centre.setChildrenCollapsible(False)
        self.centre_splitter = centre
        self.map_panel = MapPanel(centre)
        self.map_panel.footprint_clicked.connect(self.open_footprint)
        self.map_panel.record_clicked.connect(self.open_record)
        self.map_panel.point_placed.connect(self.new_record_at)
        self.map_panel.loaded.connect(self._on_map_loaded)
        records = QWidget(centre)
        cl = QVBoxLayout(records)
        cl.setContentsMargins(0, 4, 0, 0)
        cl.setSpacing(4)
        bar = QHBoxLayout()
        self.form_title = QLabel(tr("choose_form"), records)
        f = self.form_title.font()
        f.setPointSizeF(f.pointSizeF() * 1.2)
        f.setBold(True)
        self.form_title.setFont(f)
        bar.addWidget(self.form_title)
        self.search = QLineEdit(records)
        self.search.setPlaceholderText(tr("search"))
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_filter)
        self.status_filter = QComboBox(records)
        self.status_filter.addItem(tr("all_states"), None)
        for s in STATUS_ORDER:
            self.status_filter.addItem(status_text(s, i18n.language()), s)
        self.status_filter.currentIndexChanged.connect(self._apply_filter)
        self.new_button = QPushButton("＋ " + tr("new_record"), records)
        self.new_button.clicked.connect(self.new_record)
        self.new_button.setEnabled(False)
        self.import_button = QPushButton(tr("bulk_import_short"), records)
        self.import_button.clicked.connect(lambda: self.bulk_import())
        self.import_button.setEnabled(False)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.status_filter)
        bar.addWidget(self.new_button)
        bar.addWidget(self.import_button)
        cl.addLayout(bar)
        self.model = RecordsModel(self)
        self.table = QTableView(records)
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(2, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setDefaultSectionSize(150)
        fm = self.table.fontMetrics()
        status_w = max(fm.horizontalAdvance(status_text(s, i18n.language())) for s in STATUS_ORDER) + 44
        for col, width in enumerate((max(170, fm.horizontalAdvance("B211481106000000000") + 16), 100, status_w,
                                     fm.horizontalAdvance(tr("import_col_message")) + 30)):
            self.table.setColumnWidth(col, width)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.doubleClicked.connect(lambda idx: self.open_row(idx.row()))
        self.table.selectionModel().currentRowChanged.connect(self._on_row_selected)
        QShortcut(QKeySequence(Qt.Key_Return), self.table, lambda: self.open_row(self.table.currentIndex().row()))
        cl.addWidget(self.table, 1)
        self.count_label = QLabel(records)
        self.count_label.setStyleSheet("color: #666;")
        cl.addWidget(self.count_label)
        centre.addWidget(self.map_panel)
        centre.addWidget(records)
        centre.setStretchFactor(0, 3)
        centre.setStretchFactor(1, 2)
        # right: completeness and the county's feedback
        self.side_tabs = QTabWidget(split)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 4, 4, 4)
        self.progress_total = QProgressBar(right)
        self.progress_total.setFormat("%v / %m")
        rl.addWidget(self.progress_total)
        self.villages_table = QTableWidget(0, 2, right)
        self.villages_table.setHorizontalHeaderLabels([tr("village"), tr("filled")])
        self.villages_table.verticalHeader().setVisible(False)
        self.villages_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.villages_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.Fixed)
        self.villages_table.setColumnWidth(1, 110)
        self.villages_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.villages_table.setSelectionMode(QAbstractItemView.NoSelection)
        self.villages_table.setShowGrid(False)
        self.villages_table.cellDoubleClicked.connect(self._on_village)
        rl.addWidget(self.villages_table, 1)
        self.side_tabs.addTab(right, tr("completeness"))
        self.feedback_panel = FeedbackPanel(self.forms)
        self.feedback_panel.open_record.connect(self.open_record)
        self.side_tabs.addTab(self.feedback_panel, tr("feedback_tab", n=0))

        split.addWidget(self.tree)
        split.addWidget(centre)
        split.addWidget(self.side_tabs)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 0)
        outer.addWidget(split, 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage(tr("ready"))
        self._show_header()
        self._size_panes()

    def _tree_width(self) -> int:
        """Wide enough for the longest form title (within bounds); longer ones elide, tooltips hold all."""
        fm = self.tree.fontMetrics()
        lang = i18n.language()
        bold = QFont(self.tree.font())
        bold.setBold(True)
        from PyQt5.QtGui import QFontMetrics
        bfm = QFontMetrics(bold)
        widest = max([fm.horizontalAdvance(f.title.get(lang)) + 2 * self.tree.indentation() for f in self.forms.values()]
                     + [bfm.horizontalAdvance(f"7. {b.title_en if lang == 'en' else b.title_zh}") + self.tree.indentation()
                        for b in Block])
        return max(TREE_MIN, min(widest + fm.horizontalAdvance("00000") + 36, TREE_MAX))

    def _size_panes(self) -> None:
        tree = self._tree_width()
        self.tree.setMinimumWidth(min(tree, TREE_MIN))
        total = max(self.width() - 24, tree + RIGHT_WIDTH + 400)
        self.splitter.setSizes([tree, total - tree - RIGHT_WIDTH, RIGHT_WIDTH])
        h = max(self.height() - 140, 400)
        self.centre_splitter.setSizes([int(h * 0.6), h - int(h * 0.6)])

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        if not getattr(self, "_sized_once", False) and self.isVisible():
            self._sized_once = True
            self._size_panes()

    def showEvent(self, e) -> None:
        super().showEvent(e)
        self._size_panes()

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
        a = m.addAction(tr("quit"))
        a.setShortcut(QKeySequence.Quit)
        a.triggered.connect(self.close)
        d = mb.addMenu(tr("menu_data"))
        self.import_action = d.addAction(tr("bulk_import"))
        self.import_action.setShortcut(QKeySequence("Ctrl+I"))
        self.import_action.triggered.connect(lambda: self.bulk_import())
        d.addSeparator()
        self.export_action = d.addAction(tr("export_package"))
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(self._ask_export)
        self.feedback_action = d.addAction(tr("import_feedback"))
        self.feedback_action.triggered.connect(self._ask_feedback)
        lm = mb.addMenu(tr("menu_lang"))
        group = QActionGroup(self)
        for lang, key in (("zh", "lang_zh"), ("en", "lang_en")):
            act = QAction(tr(key), self, checkable=True)
            act.setChecked(i18n.language() == lang)
            act.triggered.connect(lambda _c, lang=lang: self.set_language(lang))
            group.addAction(act)
            lm.addAction(act)
        # the same three actions as big buttons: a first-time user finds them without the menus
        if self._toolbar is not None:
            self.removeToolBar(self._toolbar)
            self._toolbar.deleteLater()
        tb = QToolBar(tr("menu_data"), self)
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonTextOnly)
        tb.setStyleSheet("QToolBar { spacing: 6px; padding: 2px 6px; } QToolButton { padding: 3px 10px; }")
        for act in (self.import_action, self.export_action, self.feedback_action):
            tb.addAction(act)
        self.addToolBar(Qt.TopToolBarArea, tb)
        self._toolbar = tb
        self._enable_actions()

    def _enable_actions(self) -> None:
        on = self.store is not None
        for act in (self.import_action, self.export_action, self.feedback_action):
            act.setEnabled(on)

    # -- the store -----------------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self.flush_editors()
        for ed in list(self.editors.values()):
            ed.close()
        if self.store is not None and self.store is not store:
            self.store.close()
        self.store = store
        self._workmap = store.workmap()
        self._workmap_index = {w["building_id"]: w for w in self._workmap}
        self._villages = village_names(store.enrolment)
        self.form_id = None
        self._enable_actions()
        self.import_button.setEnabled(True)
        self._show_header()
        self._fill_tree()
        self.refresh_side()
        self.refresh_feedback()
        self.select_form(self._default_form())
        # the map loads once the window is up (its worker would otherwise compete with the first paint)
        self._map_due = True
        QTimer.singleShot(0, self._load_map_when_due)
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
            title = f"{n}. {block.title_en if lang == 'en' else block.title_zh}"
            top = QTreeWidgetItem(self.tree, [title, str(total) if total else ""])
            top.setFont(0, bold)
            top.setToolTip(0, f"{n}. {block.title_zh}\n{block.title_en}")
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
        self.form_title.setToolTip(f"{form.title.zh}\n{form.title.en}")
        self.new_button.setEnabled(self.store is not None)
        self.reload_rows()
        self.map_panel.set_point_form(form.title.get(i18n.language()) if self._point_field(form_id) else None)
        self._refresh_points()

    def _point_field(self, form_id: str | None) -> str | None:
        """The form's geometry field when it is a point (such forms are placed on the map by a click)."""
        form = self.forms.get(form_id) if form_id else None
        if form is None or not form.geometry_field:
            return None
        try:
            f = form.field(form.geometry_field)
        except KeyError:
            return None
        return f.name if f.type is FieldType.GEOPOINT else None

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

    def _on_row_selected(self, current, _previous) -> None:
        if not current.isValid() or not 0 <= current.row() < self.model.shown:
            return
        row = self.model.row_at(current.row())
        if not self.map_panel.is_loaded:
            return
        if row.building_id:
            self.map_panel.highlight(row.building_id, focus=True)
        elif row.record_uuid:
            self.map_panel.show_marker(row.record_uuid)

    # -- completeness and feedback ---------------------------------------------------------------------
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
            item.setToolTip(f"{p.name}（{p.code}）")
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

    def refresh_feedback(self) -> None:
        if self.store is None:
            return
        self.feedback_panel.set_records(self.store.records(status=COUNTY_STATES))
        n = len(self.feedback_panel.items)
        self.side_tabs.setTabText(1, tr("feedback_tab", n=n))

    def _on_village(self, row: int, _col: int) -> None:
        item = self.villages_table.item(row, 0)
        if item is not None:
            self.search.setText(item.text())

    # -- the map ---------------------------------------------------------------------------------------------
    def _load_map_when_due(self) -> None:
        if getattr(self, "_map_due", False):
            self.load_map()

    @property
    def map_settled(self) -> bool:
        """The map has loaded, failed or been cancelled (nothing is pending or running)."""
        job = self.map_panel.job
        return self.store is None or (not getattr(self, "_map_due", False) and (job is None or job.done))

    def load_map(self) -> Job | None:
        """Load the map off the GUI thread (footprints, states, outlines); the panel shows progress."""
        self._map_due = False
        if self.store is None:
            return None
        path, rows, workmap = self.store.path, self._workmap, self.workmap_dir
        return self.map_panel.load(lambda ctx: load_map(path, rows=rows, workmap=workmap, progress=ctx.progress),
                                   reload=self.load_map)

    def _on_map_loaded(self) -> None:
        """Forms opened while the map was loading: show the latest one's footprint now."""
        self._refresh_points()
        for ed in reversed(self._open_editors()):
            bid = ed.values().get("building_id") if ed.form.id in HOUSE_FORMS else None
            if bid:
                self.map_panel.highlight(str(bid), focus=True, avoid=self._covered(ed))
                break

    def _refresh_points(self) -> None:
        field = self._point_field(self.form_id)
        if field is None or self.store is None or not self.map_panel.is_loaded:
            self.map_panel.set_points([])
            return
        self.map_panel.set_points(point_records(self.store.records(self.form_id, include_data=True), field))

    def refresh_map_states(self) -> None:
        if self.store is None or not self.map_panel.is_loaded:
            return
        records = []
        for fid in HOUSE_FORMS:
            records.extend(self.store.records(fid))
        self.map_panel.set_states(footprint_states(records))
        self._refresh_points()

    # -- editing ---------------------------------------------------------------------------------------
    def _open_editors(self) -> list[FormEditor]:
        for h in [h for h, ed in self.editors.items() if sip.isdeleted(ed)]:
            del self.editors[h]
        seen, out = set(), []
        for ed in self.editors.values():
            if id(ed) not in seen:
                seen.add(id(ed))
                out.append(ed)
        return out

    def _alive(self, handle: str) -> FormEditor | None:
        ed = self.editors.get(handle)
        if ed is not None and sip.isdeleted(ed):
            del self.editors[handle]
            return None
        return ed

    def _raise(self, ed: FormEditor) -> FormEditor:
        ed.show()
        ed.raise_()
        ed.activateWindow()
        return ed

    def open_row(self, visible_row: int) -> FormEditor | None:
        if self.store is None or not 0 <= visible_row < self.model.shown:
            return None
        row = self.model.row_at(visible_row)
        if row.record_uuid is not None:
            return self.open_record(row.record_uuid)
        if row.building_id:
            return self.open_footprint(row.building_id, form_id=row.form_id)
        return None

    def open_record(self, record_uuid: str) -> FormEditor | None:
        """Open a stored record (from the table, the map, feedback or an import report)."""
        if self.store is None:
            return None
        if self._alive(record_uuid) is not None:
            return self._raise(self.editors[record_uuid])
        try:
            rec = self.store.get(record_uuid)
        except CensusError as e:
            self._error(e)
            return None
        ed = FormEditor(self.forms[rec["form_id"]], self.store, record_uuid=record_uuid, villages=self._villages,
                        parent=self)
        ed._last_status = rec["record_status"]
        if rec.get("county_state"):            # fixing what the county flagged: keep its list in view
            self.side_tabs.setCurrentWidget(self.feedback_panel)
            self.feedback_panel.select(record_uuid)
        return self._show_editor(ed, record_uuid)

    def open_footprint(self, building_id: str, *, form_id: str | None = None) -> FormEditor | None:
        """A click on a footprint: open its house record, or start one pre-filled from the work map
        (building id, village, outline).  Nothing is stored until something is typed or saved."""
        if self.store is None:
            return None
        footprint = self._workmap_index.get(building_id)
        if footprint is None:
            return None
        uuid = self._house_record(building_id)
        if uuid is not None:
            return self.open_record(uuid)
        form_id = form_id or ("urban_house" if footprint.get("urban") else "rural_house")
        handle = f"{form_id}:{building_id}"
        if self._alive(handle) is not None:
            return self._raise(self.editors[handle])
        form = self.forms[form_id]
        ed = FormEditor(form, self.store, values=prefill_from_workmap(form, footprint), villages=self._villages,
                        parent=self)
        return self._show_editor(ed, handle)

    def _house_record(self, building_id: str) -> str | None:
        data = self.map_panel.data
        if data is not None:
            st = data.states.get(building_id)
            return st.record_uuid if st else None
        for fid in HOUSE_FORMS:   # the map is still loading: ask the store
            for r in self.store.records(fid):
                if r.get("key") == building_id:
                    return r["record_uuid"]
        return None

    def open_key(self, key: str) -> FormEditor | None:
        """A building id or a record uuid (``census-desktop --open``)."""
        if key in self._workmap_index:
            return self.open_footprint(key)
        return self.open_record(key)

    def new_record(self) -> FormEditor | None:
        if self.store is None or self.form_id is None:
            return None
        form = self.forms[self.form_id]
        values = {f.name: self.store.township for f in form.walk() if f.division is Division.TOWNSHIP}
        ed = FormEditor(form, self.store, values=values, villages=self._villages, parent=self)
        return self._show_editor(ed, f"new:{id(ed)}")

    def new_record_at(self, lon: float, lat: float) -> FormEditor | None:
        """A new record of the current point form placed where the map was clicked (放点新建); the
        township, and the village when the click is inside one, are filled in too."""
        field = self._point_field(self.form_id)
        if self.store is None or field is None:
            return None
        form = self.forms[self.form_id]
        values: dict[str, Any] = {field: {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}}
        village = self.map_panel.village_at(lon, lat)
        for f in form.walk():
            if f.division is Division.TOWNSHIP:
                values.setdefault(f.name, self.store.township)
            elif f.division is Division.VILLAGE and village:
                values.setdefault(f.name, village)
        ed = FormEditor(form, self.store, values=values, villages=self._villages, parent=self)
        return self._show_editor(ed, f"new:{id(ed)}")

    def _show_editor(self, ed: FormEditor, handle: str) -> FormEditor:
        handles = [handle]
        ed._handles = handles
        self.editors[handle] = ed
        ed.setAttribute(Qt.WA_DeleteOnClose)
        ed.saved.connect(lambda uuid, status, ed=ed: self._on_saved(ed, uuid, status))
        ed.pick_point.connect(lambda inp, ed=ed: self.pick_point_for(ed, inp))
        # (no ``destroyed`` hook: a slot touching ``self`` while the window itself is being freed crashes
        # PyQt; closed editors are pruned where the dict is read — see _open_editors / _alive)
        self._place_editor(ed)
        ed.show()
        bid = ed.values().get("building_id") if ed.form.id in HOUSE_FORMS else None
        if bid and self.map_panel.is_loaded:
            self.map_panel.highlight(bid, focus=True, avoid=self._covered(ed))
        return ed

    def _covered(self, ed: FormEditor) -> QRect:
        """Where the form window lies over the map, in the map's viewport pixels."""
        vp = self.map_panel.view.viewport()
        g = ed.frameGeometry()
        return QRect(vp.mapFromGlobal(g.topLeft()), g.size())

    def _place_editor(self, ed: FormEditor) -> None:
        """Over the catalogue on the left (not needed while filling in), cascading: the map stays in
        view, and so does the county's list on the right while fixing what it flagged."""
        g = self.geometry()
        w = min(max(ed.content_width(), 600, int(g.width() * 0.4)), ed.width(), int(g.width() * 0.6))
        h = min(ed.height(), max(g.height() - 70, 420))
        ed.resize(w, h)
        k = len(self._open_editors()) - 1
        ed.move(g.left() + 8 + 24 * k, g.top() + 60 + 24 * k)

    def pick_point_for(self, ed: FormEditor, inp: GeopointInput) -> None:
        """An editor's ◎: the next click on the map sets that point."""
        if not self.map_panel.is_loaded:
            self.statusBar().showMessage(tr("map_not_ready"))
            return

        def place(lon: float, lat: float) -> None:
            if sip.isdeleted(inp) or sip.isdeleted(ed):
                return
            inp.set_point(lon, lat)
            self._raise(ed)

        self.raise_()
        self.activateWindow()
        self.map_panel.start_pick(place, tr("pick_prompt_field", field=inp.field.label.get(i18n.language())))

    def _on_saved(self, ed: FormEditor, record_uuid: str, status: str) -> None:
        """A save (often an autosave while typing): update what shows this record, cheaply — one table
        line, one map tile; completeness and counts only when the record's state changed."""
        created = record_uuid not in ed._handles
        if created:                                # a new record: its editor is now found by its uuid too
            self.editors[record_uuid] = ed
            ed._handles.append(record_uuid)
        changed = created or getattr(ed, "_last_status", None) != status
        ed._last_status = status
        key = ed.values().get(ed.form.key_field) if ed.form.key_field else None
        if ed.form.id in HOUSE_FORMS and key:
            self.map_panel.set_state(str(key), status, record_uuid, ed.form.id)
        if ed.form.id == self.form_id:
            if not self._update_row(ed, record_uuid, status, key):
                self.reload_rows()
            if self._point_field(self.form_id):
                self._refresh_points()
        if changed:
            self._refresh_timer.start()
        if self.feedback_panel.items and any(r["record_uuid"] == record_uuid for r in self.feedback_panel.items):
            self.refresh_feedback()            # a fixed record leaves the county's list

    def _update_row(self, ed: FormEditor, record_uuid: str, status: str, key: Any) -> bool:
        """Replace the record's line (or its footprint's 未填 line) in the table with what was just saved."""
        from geodb.township import iso, utc_now

        errors = sum(1 for p in ed.problems if p.severity == "error")
        rec = {"record_uuid": record_uuid, "key": str(key) if key else "", "status": status, "error_count": errors,
               "updated_at": iso(utc_now()), "exported_seq": None}
        footprint = self._workmap_index.get(str(key)) if key and ed.form.id in HOUSE_FORMS else None
        (row,) = record_rows([rec], ed.form.id, workmap=[footprint] if footprint else (),
                             village_names=self._villages, lang=i18n.language())[:1]
        return self.model.replace_row(row, lambda r: r.record_uuid == record_uuid or (
            r.record_uuid is None and footprint is not None and r.building_id == footprint["building_id"]))

    def flush_editors(self) -> None:
        for ed in self._open_editors():
            ed.flush()

    def closeEvent(self, event) -> None:
        self.flush_editors()
        self._refresh_timer.stop()
        self.stop_jobs()
        super().closeEvent(event)

    def stop_jobs(self) -> None:
        """Cancel running jobs and wait for their threads (a job's objects die with this window)."""
        for job in list(self.jobs) + self.map_panel.running_jobs():
            if job.running:
                job.blockSignals(True)    # nobody is left to tell
                job.cancel()
                job.wait()

    # -- jobs ----------------------------------------------------------------------------------------------
    def run_job(self, job: Job, *, on_ok: Callable[[Any], None] | None = None,
                on_cancel: Callable[[Job], None] | None = None, dialog: bool = True) -> Job:
        """Start a job with a progress dialog (取消 when it can stop); results come back as calls."""
        self.jobs.append(job)
        if dialog:
            JobProgressDialog(job, self)
        if on_ok is not None:
            job.succeeded.connect(on_ok)
        job.cancelled.connect(lambda: on_cancel(job) if on_cancel else self.notify(job.title, tr("job_cancelled")))
        job.failed.connect(self._error)
        job.finished.connect(lambda: self.jobs.remove(job) if job in self.jobs else None)
        for act in (self.import_action, self.export_action, self.feedback_action):
            act.setEnabled(False)
        job.finished.connect(self._enable_actions)
        return job.start()

    def notify(self, title: str, text: str, *, warning: bool = False) -> None:
        """Tell the user without blocking (a job's outcome): a message box they close, and the status bar."""
        self.last_notice = text
        self.statusBar().showMessage(text.replace("\n", " "))
        box = QMessageBox(QMessageBox.Warning if warning else QMessageBox.Information, title, text,
                          QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.setWindowModality(Qt.NonModal)
        box.show()

    def _after_write(self) -> None:
        """After a job changed the store: table, completeness, map states and the county's list."""
        self.reload_rows()
        self.refresh_side()
        self.refresh_map_states()
        self.refresh_feedback()

    # -- bulk import -------------------------------------------------------------------------------------
    def bulk_import(self, path: str | Path | None = None, form_id: str | None = None) -> Job | None:
        """Import a spreadsheet into a form (asks for both when not given); a report shows afterwards."""
        if self.store is None:
            return None
        if path is None:
            dlg = BulkImportDialog(self.forms, self.form_id, self)
            if dlg.exec_() != BulkImportDialog.Accepted:
                return None
            path, form_id = dlg.path, dlg.form_id
        form_id = form_id or self.form_id
        self.flush_editors()
        job = import_job(self.store.path, form_id, path, parent=self)
        return self.run_job(job, on_ok=lambda report: self._import_done(report),
                            on_cancel=self._import_cancelled)

    def _import_done(self, report) -> None:
        self._after_write()
        if report.form_id != self.form_id:
            self.select_form(report.form_id)
        dlg = ImportReportDialog(report, self.forms[report.form_id], self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.open_record.connect(self.open_record)
        self._import_report = dlg
        dlg.show()
        self.statusBar().showMessage(tr("import_done", rows=report.rows, valid=report.valid, invalid=report.invalid))

    @property
    def import_report(self) -> ImportReportDialog | None:
        """The last import's report window while it is open."""
        d = self._import_report
        return None if d is None or sip.isdeleted(d) else d

    def _import_cancelled(self, job: Job) -> None:
        self._after_write()
        p = job.partial
        if p is not None and p.saved:
            self.notify(job.title, tr("import_cancelled", done=p.saved, total=p.total))
        else:
            self.notify(job.title, tr("import_cancelled_none"))

    # -- sync ------------------------------------------------------------------------------------------------
    def export_package(self, out_dir: str | Path) -> Job | None:
        """Write the next return package into ``out_dir`` (a USB stick), off the GUI thread."""
        if self.store is None:
            return None
        try:
            check_export_folder(out_dir)
        except CensusError as e:
            self._error(e)
            return None
        self.flush_editors()
        job = export_job(self.store.path, out_dir, parent=self)
        return self.run_job(job, on_ok=self._export_done,
                            on_cancel=lambda j: self.notify(j.title, tr("export_cancelled")))

    def _export_done(self, result) -> None:
        self.last_export = result
        self.reload_rows()
        self.refresh_map_states()
        self.notify(tr("export_package"), tr("exported", path=result.path, n=result.revisions))

    def _ask_export(self) -> None:
        if self.store is None:
            return
        out = QFileDialog.getExistingDirectory(self, tr("choose_export_folder"))
        if out:
            self.export_package(out)

    def import_feedback(self, path: str | Path) -> Job | None:
        """Apply a county feedback file, then list what the county flagged."""
        if self.store is None:
            return None
        self.flush_editors()
        job = feedback_job(self.store.path, path, parent=self)
        return self.run_job(job, on_ok=self._feedback_done)

    def _feedback_done(self, report) -> None:
        self.last_feedback = report
        self._after_write()
        self.side_tabs.setCurrentWidget(self.feedback_panel)
        unknown = sum(1 for i in report.items if not i.known)
        text = tr("feedback_summary", ack=report.acknowledged_through, n=len(report.items))
        if unknown:
            text += "\n" + tr("feedback_unknown", n=unknown)
        if report.already_applied:
            text += "\n" + tr("feedback_again")
        self.notify(tr("import_feedback"), text)

    def _ask_feedback(self) -> None:
        if self.store is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, tr("import_feedback"), "", "县级反馈 / feedback (*.json);;*")
        if path:
            self.import_feedback(path)

    # -- menus ---------------------------------------------------------------------------------------
    def _error(self, e: BaseException) -> None:
        from geodb.township import NothingToExport

        if isinstance(e, CensusError):
            text = e.message_en if i18n.language() == "en" else e.message_zh
        elif isinstance(e, OSError) and e.filename:
            text = f"{e.strerror or e}: {e.filename}"
        else:
            text = str(e) or type(e).__name__
        self.notify(tr("export_package") if isinstance(e, NothingToExport) else tr("error"), text,
                    warning=not isinstance(e, NothingToExport))

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
            self.workmap_dir = workmap or None
            self.set_store(create_store(Path(path), None, workmap or None))
        except (CensusError, OSError) as e:
            self._error(e)

    def set_language(self, lang: str) -> None:
        if lang == i18n.language():
            return
        i18n.set_language(lang)
        form_id, text = self.form_id, self.search.text()
        data = self.map_panel.data
        self.stop_jobs()          # the panels they report to are rebuilt
        self._build()
        if self.store is not None:
            self._fill_tree()
            self.refresh_side()
            self.refresh_feedback()
            self.form_id = None
            self.select_form(form_id or self._default_form())
            self.search.setText(text)
            if data is not None:
                self.map_panel.set_data(data)
            else:
                self.load_map()
        self._enable_actions()
        self.import_button.setEnabled(self.store is not None)
        self.language_changed.emit(lang)
