"""The form editor: a dialog generated from a :class:`schemas.model.Form`.

One input per field type (text, integer, decimal, date, select one/multiple, geometry, note,
calculation, group, repeat); a red * on required fields; the validator's Chinese message under the
field as you type (debounced); skip logic applied at once (irrelevant fields hidden and cleared);
calculations recomputed; repeat entries added and removed; 保存草稿 / 完成; every change autosaved as a
draft revision through the store after a short pause, so a crash or power cut loses nothing; undo
and redo of whole-form snapshots (Ctrl+Z / Ctrl+Y), besides each line edit's own undo.

The widget-independent parts (relevance, calculations, problems → paths, record building) live in
:mod:`census_desktop.logic`; this module only binds them to widgets.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import json
import re
from typing import Any, Callable

from PyQt5.QtCore import QDate, QRegularExpression, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QKeySequence, QPalette, QRegularExpressionValidator
from PyQt5.QtWidgets import (
    QCalendarWidget,
    QCheckBox,
    QComboBox,
    QDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QScrollArea,
    QShortcut,
    QToolButton,
    QUndoCommand,
    QUndoStack,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from schemas.errors import CensusError, Code
from schemas.model import Division, Field, FieldType, Form
from schemas.validator import ValidationContext, Validator

from . import i18n
from .i18n import tr
from .logic import (
    calculation_choice_list,
    clear_irrelevant,
    evaluate_form,
    problems_by_path,
    status_text,
    to_record,
)

VALIDATE_MS = 200
AUTOSAVE_MS = 800
LABEL_WIDTH = 190

_PATH_RE = re.compile(r"^(\w+)\[(\d+)\]\.(.+)$")


def _label(f: Field) -> str:
    return f.label.get(i18n.language())


# ---------------------------------------------------------------------------------------------------
# One input per field type.  Each has value() / set_value(v) and emits ``changed``.

class FieldInput(QWidget):
    changed = pyqtSignal()

    def __init__(self, f: Field, parent=None):
        super().__init__(parent)
        self.field = f
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def value(self) -> Any:
        return None

    def set_value(self, v: Any) -> None:
        pass

    def focus_widget(self) -> QWidget:
        return self


class TextInput(FieldInput):
    regex: str | None = None

    def __init__(self, f: Field, parent=None):
        super().__init__(f, parent)
        self.edit = QLineEdit(self)
        if f.max_length:
            self.edit.setMaxLength(max(f.max_length, 1) + 20)  # let a too-long answer be seen, then flagged
        if self.regex:
            self.edit.setValidator(QRegularExpressionValidator(QRegularExpression(self.regex), self.edit))
        if f.hint:
            self.edit.setPlaceholderText(f.hint.get(i18n.language()))
        if f.read_only:
            self.edit.setReadOnly(True)
        self.edit.textChanged.connect(lambda _t: self.changed.emit())
        self._layout.addWidget(self.edit, 1)
        if f.unit:
            self._layout.addWidget(QLabel(f.unit, self))

    def text(self) -> str:
        return self.edit.text().strip()

    def value(self) -> Any:
        return self.text() or None

    def set_value(self, v: Any) -> None:
        self.edit.setText("" if v is None else str(v))

    def focus_widget(self) -> QWidget:
        return self.edit


class IntegerInput(TextInput):
    regex = r"-?\d{0,12}"

    def __init__(self, f: Field, parent=None):
        super().__init__(f, parent)
        self.edit.setMaximumWidth(180)
        self.edit.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self._layout.addStretch(1)

    def value(self) -> Any:
        t = self.text()
        if t in ("", "-"):
            return None
        return int(t)


class DecimalInput(IntegerInput):
    regex = r"-?\d{0,12}([.]\d{0,8})?"

    def value(self) -> Any:
        t = self.text()
        if t in ("", "-", ".", "-."):
            return None
        return float(t)


class DateInput(TextInput):
    """Typed as 2021-06-01 (empty allowed) or picked from a calendar."""

    regex = r"\d{0,4}(-\d{0,2}(-\d{0,2})?)?"

    def __init__(self, f: Field, parent=None):
        super().__init__(f, parent)
        self.edit.setPlaceholderText(tr("date_hint"))
        self.edit.setMaximumWidth(180)
        button = QToolButton(self)
        button.setText("▦")
        button.setToolTip("日历 / calendar")
        button.setFocusPolicy(Qt.NoFocus)
        button.clicked.connect(self._pick)   # the calendar is made on first use: forms open faster
        self.calendar: QCalendarWidget | None = None
        self._layout.addWidget(button)
        self._layout.addStretch(1)

    def _pick(self) -> None:
        menu = QMenu(self)
        self.calendar = QCalendarWidget(menu)
        self.calendar.setMaximumDate(QDate(2030, 12, 31))
        v = self.value()
        if isinstance(v, dt.date):
            self.calendar.setSelectedDate(QDate(v.year, v.month, v.day))
        action = QWidgetAction(menu)
        action.setDefaultWidget(self.calendar)
        menu.addAction(action)
        self.calendar.clicked.connect(lambda d: (self.edit.setText(d.toString("yyyy-MM-dd")), menu.close()))
        menu.exec_(self.mapToGlobal(self.rect().bottomLeft()))

    def value(self) -> Any:
        t = self.text()
        if not t:
            return None
        m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", t)
        if m:
            try:
                return dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return t
        return t  # the validator names the problem

    def set_value(self, v: Any) -> None:
        self.edit.setText("" if v is None else (v.isoformat() if isinstance(v, dt.date) else str(v)))


class SelectOneInput(FieldInput):
    def __init__(self, f: Field, choices: list[tuple[str, str]], parent=None):
        super().__init__(f, parent)
        self.combo = QComboBox(self)
        self.combo.addItem(tr("choose"), None)
        for name, label in choices:
            self.combo.addItem(label, name)
        self.combo.setMinimumWidth(220)
        self.combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self._layout.addWidget(self.combo)
        self._layout.addStretch(1)

    def value(self) -> Any:
        return self.combo.currentData()

    def set_value(self, v: Any) -> None:
        i = self.combo.findData(v) if v is not None else 0
        if i < 0:  # a stored code the list does not know: show it, the validator flags it
            self.combo.addItem(str(v), v)
            i = self.combo.count() - 1
        self.combo.setCurrentIndex(i)

    def focus_widget(self) -> QWidget:
        return self.combo


class SelectMultipleInput(FieldInput):
    COLUMNS = 3
    WIDTH = 430      # the boxes fit this many pixels: long labels get fewer columns, so a form stays narrow

    def __init__(self, f: Field, choices: list[tuple[str, str]], parent=None):
        super().__init__(f, parent)
        box = QWidget(self)
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(2)
        self.boxes: list[tuple[str, QCheckBox]] = []
        fm = self.fontMetrics()
        widest = max((fm.horizontalAdvance(label) for _, label in choices), default=0) + 28
        cols = max(1, min(self.COLUMNS, self.WIDTH // (widest + 16)))
        for i, (name, label) in enumerate(choices):
            cb = QCheckBox(label, box)
            cb.toggled.connect(lambda _c: self.changed.emit())
            grid.addWidget(cb, i // cols, i % cols)
            self.boxes.append((name, cb))
        self._layout.addWidget(box)
        self._layout.addStretch(1)

    def value(self) -> Any:
        out = [name for name, cb in self.boxes if cb.isChecked()]
        return out or None

    def set_value(self, v: Any) -> None:
        chosen = set(v.split() if isinstance(v, str) else (v or []))
        for name, cb in self.boxes:
            cb.setChecked(name in chosen)

    def focus_widget(self) -> QWidget:
        return self.boxes[0][1] if self.boxes else self


class GeopointInput(FieldInput):
    """A point: longitude and latitude typed in two boxes (decimal degrees, CGCS2000), or placed by
    clicking the map (◎ asks the main window to arm the map).  Stored as a GeoJSON point; a half-typed
    or unreadable pair goes to the validator as ODK's "lat lon" text, so it is flagged, not lost."""

    pick_requested = pyqtSignal(object)   # this input

    _NUMBER = r"-?\d{0,3}([.]\d{0,9})?"

    def __init__(self, f: Field, parent=None):
        super().__init__(f, parent)
        self.lon_edit = self._box(tr("lon"), "120.7235")
        self.lat_edit = self._box(tr("lat"), "40.6128")
        self.pick_button = QToolButton(self)
        self.pick_button.setText("◎ " + tr("pick_on_map"))
        self.pick_button.setToolButtonStyle(Qt.ToolButtonTextOnly)
        self.pick_button.setToolTip(tr("pick_on_map_tip"))
        self.pick_button.clicked.connect(lambda: self.pick_requested.emit(self))
        self._layout.addWidget(self.pick_button)
        self._layout.addStretch(1)

    def _box(self, caption: str, example: str) -> QLineEdit:
        self._layout.addWidget(QLabel(caption, self))
        edit = QLineEdit(self)
        edit.setPlaceholderText(example)
        edit.setMaximumWidth(130)
        edit.setValidator(QRegularExpressionValidator(QRegularExpression(self._NUMBER), edit))
        edit.textChanged.connect(lambda _t: self.changed.emit())
        self._layout.addWidget(edit)
        return edit

    def value(self) -> Any:
        lon, lat = self.lon_edit.text().strip(), self.lat_edit.text().strip()
        if not lon and not lat:
            return None
        try:
            return {"type": "Point", "coordinates": [float(lon), float(lat)]}
        except ValueError:
            return f"{lat} {lon}".strip()   # the validator names what is missing

    def set_value(self, v: Any) -> None:
        lon = lat = ""
        if isinstance(v, str) and v.strip().startswith("{"):
            v = json.loads(v)
        if isinstance(v, dict) and v.get("type") == "Point":
            x, y = v["coordinates"][:2]
            lon, lat = f"{float(x):.6f}", f"{float(y):.6f}"
        elif isinstance(v, (list, tuple)) and len(v) >= 2:
            lon, lat = f"{float(v[0]):.6f}", f"{float(v[1]):.6f}"
        elif isinstance(v, str) and v.strip():
            parts = v.split()   # ODK order: latitude longitude
            lat, lon = parts[0], (parts[1] if len(parts) > 1 else "")
        for edit, text in ((self.lon_edit, lon), (self.lat_edit, lat)):
            edit.blockSignals(True)
            edit.setText(text)
            edit.blockSignals(False)
        self.changed.emit()

    def set_point(self, lon: float, lat: float) -> None:
        self.set_value({"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]})

    def focus_widget(self) -> QWidget:
        return self.lon_edit


class GeometryDisplay(FieldInput):
    """Lines and polygons come from the work map (or, later, the map panel): shown, not typed."""

    def __init__(self, f: Field, parent=None):
        super().__init__(f, parent)
        self._value: Any = None
        self.label = QLabel(tr("geometry_none"), self)
        self.label.setStyleSheet("color: #555;")
        self._layout.addWidget(self.label)
        self._layout.addStretch(1)

    def value(self) -> Any:
        return copy.deepcopy(self._value)

    def set_value(self, v: Any) -> None:
        if isinstance(v, str) and v.strip().startswith("{"):
            v = json.loads(v)
        self._value = v
        if isinstance(v, dict) and v.get("type") == "Polygon":
            ring = v["coordinates"][0]
            x = sum(p[0] for p in ring[:-1]) / max(len(ring) - 1, 1)
            y = sum(p[1] for p in ring[:-1]) / max(len(ring) - 1, 1)
            self.label.setText(tr("geometry_shape", n=len(ring) - 1) + f"  · {y:.5f}, {x:.5f}")
        elif isinstance(v, dict) and v.get("type") == "LineString":
            self.label.setText(tr("geometry_trace", n=len(v["coordinates"])))
        elif v:
            self.label.setText(str(v)[:60])
        else:
            self.label.setText(tr("geometry_none"))
        self.changed.emit()


class CalculatedDisplay(FieldInput):
    def __init__(self, f: Field, parent=None):
        super().__init__(f, parent)
        self.edit = QLineEdit(self)
        self.edit.setReadOnly(True)
        self.edit.setFocusPolicy(Qt.NoFocus)
        self.edit.setMaximumWidth(220)
        self.edit.setStyleSheet("background: #f2f2f2; color: #333;")
        self._layout.addWidget(self.edit)
        self._layout.addStretch(1)

    def show_value(self, v: Any) -> None:
        self.edit.setText("" if v is None else str(v))

    def value(self) -> Any:
        return None  # the validator computes it again when saving


# ---------------------------------------------------------------------------------------------------

class FieldRow(QWidget):
    """Label (with a red * when required) | input, hint and inline messages."""

    def __init__(self, f: Field, inp: FieldInput, parent=None):
        super().__init__(parent)
        self.field = f
        self.input = inp
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 4, 0, 4)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        text = _label(f)
        if f.required or f.required_if:
            text += ' <span style="color:#c0392b;">*</span>'
        self.label = QLabel(text, self)
        self.label.setTextFormat(Qt.RichText)
        self.label.setWordWrap(True)
        self.label.setFixedWidth(LABEL_WIDTH)
        self.label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.label.setBuddy(inp.focus_widget())
        grid.addWidget(self.label, 0, 0, Qt.AlignTop | Qt.AlignRight)
        grid.addWidget(inp, 0, 1)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        pal = self.message.palette()
        pal.setColor(QPalette.WindowText, QColor("#c0392b"))
        self.message.setPalette(pal)
        self.message.hide()
        self._flagged = False
        grid.addWidget(self.message, 1, 1)
        grid.setColumnStretch(1, 1)

    def set_messages(self, messages: list[str]) -> None:
        text = "\n".join(messages)
        if text != self.message.text():
            self.message.setText(text)
        self.message.setVisible(bool(messages))
        if bool(messages) != self._flagged:
            self._flagged = bool(messages)
            self.input.setStyleSheet("QLineEdit, QComboBox { border: 1px solid #e0796f; }" if messages else "")

    @property
    def messages(self) -> str:
        return self.message.text() if self.message.isVisibleTo(self) else ""


class RepeatBox(QGroupBox):
    """A repeat group: entries (each a set of rows) with 添加 / 删除 buttons."""

    changed = pyqtSignal()

    def __init__(self, f: Field, make_rows: Callable[[Field, QWidget, dict, str], None], parent=None):
        super().__init__(_label(f), parent)
        self.field = f
        self._make_rows = make_rows
        self.entries: list[tuple[QFrame, dict[str, Any]]] = []   # (frame, name → FieldRow/RepeatBox/…)
        outer = QVBoxLayout(self)
        if f.hint:
            hint = QLabel(f.hint.get(i18n.language()), self)
            hint.setStyleSheet("color: #666;")
            outer.addWidget(hint)
        self._entries_layout = QVBoxLayout()
        outer.addLayout(self._entries_layout)
        self.message = QLabel(self)
        self.message.setStyleSheet("color: #c0392b;")
        self.message.setWordWrap(True)
        self.message.hide()
        outer.addWidget(self.message)
        self.add_button = QPushButton("＋ " + tr("add"), self)
        self.add_button.clicked.connect(lambda: self.add_entry())
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addStretch(1)
        outer.addLayout(row)

    def add_entry(self, values: dict | None = None, *, emit: bool = True) -> dict[str, Any]:
        frame = QFrame(self)
        frame.setFrameShape(QFrame.StyledPanel)
        lay = QVBoxLayout(frame)
        head = QHBoxLayout()
        title = QLabel(frame)
        frame.title = title
        title.setStyleSheet("font-weight: bold; color: #34495e;")
        head.addWidget(title)
        head.addStretch(1)
        remove = QPushButton("－ " + tr("remove"), frame)
        head.addWidget(remove)
        lay.addLayout(head)
        widgets: dict[str, Any] = {}
        self._make_rows(self.field, frame, widgets, "")
        for w in widgets.values():
            if isinstance(w, FieldRow):
                w.input.changed.connect(self.changed.emit)
        for name, w in widgets.items():
            if isinstance(w, FieldRow) and w.parent() is frame:
                lay.addWidget(w)
            elif isinstance(w, QGroupBox) and w.parent() is frame:
                lay.addWidget(w)
        entry = (frame, widgets)
        self.entries.append(entry)
        remove.clicked.connect(lambda: self.remove_entry(self.entries.index(entry)))
        self._entries_layout.addWidget(frame)
        if values:
            for name, w in widgets.items():
                if isinstance(w, FieldRow):
                    w.input.set_value(values.get(name))
        self._retitle()
        if emit:
            self.changed.emit()
        return widgets

    def remove_entry(self, i: int, *, emit: bool = True) -> None:
        frame, _ = self.entries.pop(i)
        frame.setParent(None)
        frame.deleteLater()
        self._retitle()
        if emit:
            self.changed.emit()

    def _retitle(self) -> None:
        for n, (frame, _) in enumerate(self.entries, 1):
            frame.title.setText(tr("entry", n=n))
        mx = self.field.repeat_max
        self.add_button.setEnabled(mx is None or len(self.entries) < mx)

    def value(self) -> list[dict]:
        out = []
        for _, widgets in self.entries:
            out.append({name: w.input.value() for name, w in widgets.items() if isinstance(w, FieldRow)})
        return out

    def set_value(self, v: Any) -> None:
        while self.entries:
            self.remove_entry(0, emit=False)
        for entry in v or []:
            self.add_entry(entry if isinstance(entry, dict) else {}, emit=False)

    def set_messages(self, messages: list[str]) -> None:
        self.message.setText("\n".join(messages))
        self.message.setVisible(bool(messages))


class _Snapshot(QUndoCommand):
    def __init__(self, editor: "FormEditor", before: dict, after: dict):
        super().__init__(tr("undo"))
        self.editor, self.before, self.after = editor, before, after
        self._first = True

    def redo(self) -> None:
        if self._first:  # pushed after the change already happened
            self._first = False
            return
        self.editor._restore(self.after)

    def undo(self) -> None:
        self.editor._restore(self.before)


# ---------------------------------------------------------------------------------------------------

class FormEditor(QDialog):
    """Fill or correct one record of ``form``.  ``store`` is a ``TownshipStore`` (None: no saving,
    e.g. a preview).  ``values`` pre-fill a new record (a work-map footprint's id, village, outline)."""

    saved = pyqtSignal(str, str)   # record_uuid, status
    pick_point = pyqtSignal(object)   # a GeopointInput whose ◎ was pressed: the map should place it

    def __init__(self, form: Form, store=None, *, record_uuid: str | None = None, values: dict | None = None,
                 validator: Validator | None = None, villages: dict[str, str] | None = None,
                 autosave_ms: int = AUTOSAVE_MS, validate_ms: int = VALIDATE_MS, parent=None):
        super().__init__(parent)
        self.form = form
        self.store = store
        self.record_uuid = record_uuid
        self.validator = validator or (store.validator(form.id) if store is not None
                                       else Validator(form, ValidationContext(report_unknown_fields=False)))
        self.villages = villages or {}
        self.rows: dict[str, Any] = {}         # top-level name → FieldRow / RepeatBox / QGroupBox
        self.touched: set[str] = set()
        self.show_all = False                  # after 完成, required messages show everywhere
        self.problems: list = []
        self.last_result = None
        self._updating = False
        self._last_saved: dict = {}
        self.undo_stack = QUndoStack(self)
        self._snapshot: dict = {}

        self.setWindowTitle(f"{form.title.get(i18n.language())} — {form.id}")
        self.resize(860, 760)
        outer = QVBoxLayout(self)
        head = QLabel(f"<b style='font-size:15px'>{form.title.get(i18n.language())}</b>"
                      f"<span style='color:#777'>　{form.id} · v{form.version}</span>", self)
        outer.addWidget(head)
        if form.description:
            desc = QLabel(form.description.get(i18n.language()), self)
            desc.setWordWrap(True)
            desc.setStyleSheet("color: #555;")
            outer.addWidget(desc)
        # what the county said about this record (feedback), until the record is edited again
        self.county_note = QLabel(self)
        self.county_note.setWordWrap(True)
        self.county_note.setTextFormat(Qt.RichText)
        self.county_note.setStyleSheet("padding: 6px; color: #8e1b10; background: #fdecea; border: 1px solid #f0b8b0; "
                                       "border-radius: 4px;")
        self.county_note.hide()
        outer.addWidget(self.county_note)
        note = QLabel(tr("required_note"), self)
        note.setStyleSheet("color: #888; font-size: 11px;")
        outer.addWidget(note)

        scroll = QScrollArea(self)
        self._scroll = scroll
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)   # never clip a field when narrow
        body = QWidget(scroll)
        self._body_layout = QVBoxLayout(body)
        self._body_layout.setSpacing(0)
        self._make_rows(None, body, self.rows, "")
        for w in self._top_widgets(body, self.rows):
            self._body_layout.addWidget(w)
        self._body_layout.addStretch(1)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)

        self.banner = QLabel(self)
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("padding: 6px; color: #2c3e50; background: #eef3f7; border-radius: 4px;")
        outer.addWidget(self.banner)
        buttons = QHBoxLayout()
        self.undo_button = QPushButton(tr("undo"), self)
        self.undo_button.clicked.connect(self.undo_stack.undo)
        self.undo_stack.canUndoChanged.connect(self.undo_button.setEnabled)
        self.undo_button.setEnabled(False)
        buttons.addWidget(self.undo_button)
        buttons.addStretch(1)
        self.draft_button = QPushButton(tr("save_draft") + "  (Ctrl+S)", self)
        self.finish_button = QPushButton(tr("finish") + "  (Ctrl+Enter)", self)
        self.finish_button.setDefault(False)
        self.finish_button.setAutoDefault(False)
        self.draft_button.setAutoDefault(False)
        self.finish_button.setStyleSheet("QPushButton { background: #2e7d32; color: white; padding: 6px 18px; "
                                         "border-radius: 4px; } QPushButton:disabled { background: #9e9e9e; }")
        close = QPushButton(tr("close"), self)
        close.setAutoDefault(False)
        self.draft_button.clicked.connect(lambda: self.save(final=False))
        self.finish_button.clicked.connect(lambda: self.save(final=True))
        close.clicked.connect(self.close)
        for b in (self.draft_button, self.finish_button, close):
            buttons.addWidget(b)
        outer.addLayout(buttons)
        if store is None:
            self.draft_button.setEnabled(False)
            self.finish_button.setEnabled(False)

        QShortcut(QKeySequence.Undo, self, self.undo_stack.undo)
        QShortcut(QKeySequence.Redo, self, self.undo_stack.redo)
        QShortcut(QKeySequence("Ctrl+Shift+Z"), self, self.undo_stack.redo)
        QShortcut(QKeySequence.Save, self, lambda: self.save(final=False))
        QShortcut(QKeySequence("Ctrl+Return"), self, lambda: self.save(final=True))
        QShortcut(QKeySequence("Ctrl+Enter"), self, lambda: self.save(final=True))

        self._validate_timer = QTimer(self, singleShot=True, interval=validate_ms)
        self._validate_timer.timeout.connect(self._on_validate_timer)
        self._autosave_timer = QTimer(self, singleShot=True, interval=autosave_ms)
        self._autosave_timer.timeout.connect(self.autosave)

        if record_uuid is not None and store is not None:
            values = self._stored_values(record_uuid)
        self._restore(values or {}, initial=True)
        self._last_saved = self.values()   # what the store holds (or the pre-filled start): not dirty
        self._snapshot = self.values()
        self.validate_now()
        self.banner.setText(tr("ready"))

    def content_width(self) -> int:
        """The width the form needs to show every field without a horizontal scroll bar."""
        return self._scroll.widget().minimumSizeHint().width() + self._scroll.verticalScrollBar().sizeHint().width() + \
            self.layout().contentsMargins().left() + self.layout().contentsMargins().right() + 4

    # -- building --------------------------------------------------------------------------------------
    def _choices(self, f: Field) -> list[tuple[str, str]]:
        lang = i18n.language()
        return [(c.name, c.label.get(lang)) for c in self.form.choice_list(f.choices).choices]

    def _input_for(self, f: Field, parent: QWidget) -> FieldInput:
        t = f.type
        if t is FieldType.TEXT and f.division is Division.VILLAGE and self.villages:
            return SelectOneInput(f, [(code, f"{name}（{code}）") for code, name in sorted(self.villages.items())],
                                  parent)
        if t is FieldType.INTEGER:
            return IntegerInput(f, parent)
        if t is FieldType.DECIMAL:
            return DecimalInput(f, parent)
        if t is FieldType.DATE:
            return DateInput(f, parent)
        if t is FieldType.SELECT_ONE:
            return SelectOneInput(f, self._choices(f), parent)
        if t is FieldType.SELECT_MULTIPLE:
            return SelectMultipleInput(f, self._choices(f), parent)
        if t is FieldType.GEOPOINT:
            return GeopointInput(f, parent)
        if t in (FieldType.GEOSHAPE, FieldType.GEOTRACE):
            return GeometryDisplay(f, parent)
        if t is FieldType.CALCULATE:
            return CalculatedDisplay(f, parent)
        return TextInput(f, parent)

    def _make_rows(self, container: Field | None, parent: QWidget, out: dict, _prefix: str) -> None:
        """Rows for ``container``'s children (the form's fields when None), into ``out`` by name."""
        fields = self.form.fields if container is None else container.children
        for f in fields:
            if f.type is FieldType.GROUP:
                box = QGroupBox(_label(f), parent)
                lay = QVBoxLayout(box)
                inner: dict[str, Any] = {}
                self._make_rows(f, box, inner, _prefix)
                for w in self._top_widgets(box, inner):
                    lay.addWidget(w)
                out[f.name] = box
                out.update(inner)
            elif f.type is FieldType.REPEAT:
                box = RepeatBox(f, self._make_rows, parent)
                box.changed.connect(lambda name=f.name: self._on_changed(name))
                out[f.name] = box
            elif f.type is FieldType.NOTE:
                lab = QLabel(_label(f), parent)
                lab.setWordWrap(True)
                lab.setStyleSheet("color: #2c3e50; background: #f4f6f8; padding: 6px; border-radius: 3px;")
                out[f.name] = lab
            else:
                row = FieldRow(f, self._input_for(f, parent), parent)
                if isinstance(row.input, GeopointInput):
                    row.input.pick_requested.connect(self.pick_point.emit)
                if container is None or container.type is FieldType.GROUP:
                    row.input.changed.connect(lambda name=f.name: self._on_changed(name))
                out[f.name] = row

    @staticmethod
    def _top_widgets(parent: QWidget, widgets: dict) -> list[QWidget]:
        return [w for w in widgets.values() if w.parent() is parent]

    # -- values ----------------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The editor's current answers: a flat dict (repeats are lists of dicts); empty is None."""
        out: dict[str, Any] = {}
        for name, w in self.rows.items():
            if isinstance(w, FieldRow):
                out[name] = w.input.value()
            elif isinstance(w, RepeatBox):
                out[name] = w.value()
        return out

    def record(self) -> dict:
        return to_record(self.form, self.values())

    def _restore(self, values: dict, *, initial: bool = False) -> None:
        self._updating = True
        try:
            for name, w in self.rows.items():
                if isinstance(w, (FieldRow, RepeatBox)):
                    target = w.input if isinstance(w, FieldRow) else w
                    if isinstance(target, CalculatedDisplay):
                        continue
                    target.set_value(values.get(name))
        finally:
            self._updating = False
        self._snapshot = self.values()
        self._apply_logic()
        if not initial:
            self._validate_timer.start()
            self._autosave_timer.start()

    def _stored_values(self, record_uuid: str) -> dict:
        rec = self.store.get(record_uuid)
        self._show_county_note(rec)
        data = rec.get("input") or rec["data"]  # a draft's raw answers keep what failed validation
        return dict(data)

    def _show_county_note(self, rec: dict) -> None:
        state = rec.get("county_state")
        if not state:
            self.county_note.hide()
            return
        en = i18n.language() == "en"
        msg = rec.get("county_message_en" if en else "county_message_zh") or ""
        lines = [f"<b>{tr('county_says')}（{status_text(state, i18n.language())}）</b>：{html.escape(msg)}"]
        for p in rec.get("county_problems") or []:
            text = p.get("message_en" if en else "message_zh") or ""
            if text and text not in msg:
                lines.append(f"· {html.escape(str(p.get('path') or ''))} {html.escape(text)}")
        self.county_note.setText("<br>".join(lines))
        self.county_note.show()

    # -- the change flow -------------------------------------------------------------------------------
    def widget(self, path: str) -> Any:
        """The FieldRow (or RepeatBox, QGroupBox, note label) at ``path`` — ``name`` or ``rep[i].name``."""
        m = _PATH_RE.match(path)
        if m:
            box = self.rows.get(m[1])
            i = int(m[2]) - 1
            if isinstance(box, RepeatBox) and 0 <= i < len(box.entries):
                return box.entries[i][1].get(m[3])
            return None
        return self.rows.get(path)

    def _on_changed(self, path: str) -> None:
        if self._updating:
            return
        self.touched.add(path)
        self._apply_logic()
        self._validate_timer.start()
        if self.store is not None:
            self._autosave_timer.start()

    def _apply_logic(self) -> None:
        """Skip logic and calculations, at once (no debounce: hiding a field must not lag)."""
        values = self.values()
        state = evaluate_form(self.form, values)
        cleared = clear_irrelevant(self.form, values, state)
        if cleared:
            self._updating = True
            try:
                for path in cleared:
                    w = self.widget(path)
                    if isinstance(w, FieldRow):
                        w.input.set_value(None)
                    elif isinstance(w, RepeatBox):
                        w.set_value([])
            finally:
                self._updating = False
        for path, shown in state.relevant.items():
            w = self.widget(path)
            if w is not None and w.isVisibleTo(w.parentWidget()) != shown:
                w.setVisible(shown)
        for path, value in state.calculated.items():
            w = self.widget(path)
            if isinstance(w, FieldRow) and isinstance(w.input, CalculatedDisplay):
                w.input.show_value(self._calc_text(w.field, value))

    def _calc_text(self, f: Field, value: Any) -> Any:
        if value is None or value == "":
            return None
        cl = calculation_choice_list(self.form, f)
        label = cl.label_of(str(value)) if cl is not None else None
        if label:  # a calculated code shows as its label, as a select would
            return label.get(i18n.language())
        if isinstance(value, float):
            return f"{value:.6g}"
        return value

    def _on_validate_timer(self) -> None:
        now = self.values()
        if now != self._snapshot:
            self.undo_stack.push(_Snapshot(self, copy.deepcopy(self._snapshot), copy.deepcopy(now)))
            self._snapshot = now
        self.validate_now()

    def validate_now(self) -> list:
        """Run the validator on the current answers and show each problem on its field."""
        result = self.validator.validate(self.record())
        self.problems = result.problems
        self.last_result = result
        by_path = problems_by_path(result.problems, lang=i18n.language())
        required = problems_by_path([p for p in result.problems if p.code is Code.REQUIRED or
                                     p.code is Code.REPEAT_MIN], lang=i18n.language())
        shown_any = set()
        for path, w in self._all_rows():
            msgs = by_path.get(path, [])
            if not self.show_all and path not in self.touched and not self._touched_inside(path):
                msgs = [m for m in msgs if m not in required.get(path, [])]
            w.set_messages(msgs)
            if msgs:
                shown_any.add(path)
        errors = [p for p in result.problems if p.severity == "error"]
        if not errors:
            self.banner.setText(tr("all_good"))
        return result.problems

    def _touched_inside(self, path: str) -> bool:
        m = _PATH_RE.match(path)
        return bool(m) and m[1] in self.touched

    def _all_rows(self):
        for name, w in self.rows.items():
            if isinstance(w, FieldRow):
                yield name, w
            elif isinstance(w, RepeatBox):
                yield name, w
                for i, (_, widgets) in enumerate(w.entries, 1):
                    for cname, cw in widgets.items():
                        if isinstance(cw, FieldRow):
                            yield f"{name}[{i}].{cname}", cw

    def messages(self, path: str) -> str:
        """The inline message text under a field (what the enumerator sees)."""
        w = self.widget(path)
        if isinstance(w, FieldRow):
            return w.message.text() if not w.message.isHidden() else ""
        if isinstance(w, RepeatBox):
            return w.message.text() if not w.message.isHidden() else ""
        return ""

    # -- saving ----------------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self.values() != self._last_saved

    def autosave(self) -> None:
        if self.store is not None and self.dirty:
            self.save(final=False, auto=True)

    def save(self, *, final: bool, auto: bool = False):
        """Save through the store: a draft revision, or a final one (kept as a draft while it has errors)."""
        if self.store is None:
            return None
        self._autosave_timer.stop()
        if final:
            self.show_all = True
        values = self.values()
        try:
            result = self.store.save(self.form.id, to_record(self.form, values), record_uuid=self.record_uuid,
                                     final=final)
        except CensusError as e:
            self.banner.setText(e.message_en if i18n.language() == "en" else e.message_zh)
            self.banner.setStyleSheet("padding: 6px; color: #8e1b10; background: #fdecea; border-radius: 4px;")
            return None
        self.record_uuid = result.record_uuid
        self._last_saved = values
        now = dt.datetime.now().strftime("%H:%M:%S")
        if final and result.demoted:
            text = tr("demoted", n=len(result.errors))
            style = "padding: 6px; color: #7a4b00; background: #fff4d6; border-radius: 4px;"
        else:
            text = tr("autosaved" if auto else ("saved_final" if final else "saved_draft"), time=now)
            style = "padding: 6px; color: #1e5626; background: #e3f4e1; border-radius: 4px;"
        self.banner.setText(text)
        self.banner.setStyleSheet(style)
        self.validate_now()
        self.saved.emit(result.record_uuid, result.status)
        return result

    def closeEvent(self, event) -> None:
        self.flush()
        # nothing may fire after the window is gone: its store may be closed next
        self._autosave_timer.stop()
        self._validate_timer.stop()
        super().closeEvent(event)

    def reject(self) -> None:  # Esc: close, keeping what was typed
        self.flush()
        super().reject()

    def flush(self) -> None:
        """Write a pending change now (closing, or the app quitting)."""
        if self.store is not None and self.dirty:
            self.save(final=False, auto=True)
