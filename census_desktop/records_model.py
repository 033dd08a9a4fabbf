"""The records table: a thin ``QAbstractTableModel`` over plain :class:`~census_desktop.logic.Row` objects.

Sorting and filtering run in plain Python over the row list (:func:`logic.sort_rows`,
:func:`logic.filter_rows`) and the model only keeps a list of visible row indexes, so Qt calls
``data`` just for the rows on screen.  (A ``QSortFilterProxyModel`` would call back into Python for
every row and column on each filter keystroke: ~10× slower at 100,000 records.)
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from PyQt5.QtCore import QAbstractTableModel, QModelIndex, Qt
from PyQt5.QtGui import QBrush, QColor, QIcon, QPixmap

from . import i18n
from .logic import COLUMN_TITLES, COLUMNS, Row, filter_rows, sort_rows, status_text
from .styles import STATUS_STYLES

# Calm status colours, shared with the map (census_desktop.styles): pale backgrounds, readable anywhere.
STATUS_COLOURS = {k: st.fill for k, st in STATUS_STYLES.items()}
STATUS_TEXT_COLOURS = {k: st.text for k, st in STATUS_STYLES.items() if st.text}

ROW_ROLE = Qt.UserRole + 1


class RecordsModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[Row] = []
        self._visible: list[int] = []
        self._text = ""
        self._statuses: set[str] | None = None
        self._sort: tuple[str, bool] | None = None
        self._order: list[int] = []      # every row, in the current sort order
        self._brushes = {k: QBrush(QColor(v)) for k, v in STATUS_COLOURS.items()}
        self._fg = {k: QBrush(QColor(v)) for k, v in STATUS_TEXT_COLOURS.items()}
        self._swatches: dict[str, QIcon] = {}

    # -- data in ---------------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[Row]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._order = list(range(len(self._rows)))
        if self._sort is not None:
            self._order = sort_rows(self._rows, self._order, *self._sort)
        self._visible = self._compute()
        self.endResetModel()

    def set_filter(self, text: str = "", statuses: Iterable[str] | None = None) -> None:
        self._text = text
        self._statuses = set(statuses) if statuses is not None else None
        self.beginResetModel()
        self._visible = self._compute()
        self.endResetModel()

    def _compute(self) -> list[int]:
        """Filter the sorted order (a keystroke in the search box never re-sorts)."""
        return filter_rows(self._rows, self._text, self._statuses, order=self._order)

    # -- Qt model ------------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._visible)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[self._visible[index.row()]]
        col = COLUMNS[index.column()]
        if role == Qt.DisplayRole:
            if col == "status":
                return status_text(row.status, i18n.language())
            if col == "errors":
                return str(row.errors) if row.errors else ""
            return row.value(col)
        if role == Qt.DecorationRole and col == "status":
            return self._swatch(row.status)
        if role == Qt.ToolTipRole and col == "key":
            return row.key
        if role == Qt.BackgroundRole:
            return self._brushes.get(row.status)
        if role == Qt.ForegroundRole:
            return self._fg.get(row.status)
        if role == Qt.TextAlignmentRole and col == "errors":
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == ROW_ROLE:
            return row
        return None

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole) -> Any:
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            zh, en = COLUMN_TITLES[COLUMNS[section]]
            return en if i18n.language() == "en" else zh
        return None

    def sort(self, column: int, order=Qt.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self._sort = (COLUMNS[column], order == Qt.DescendingOrder)
        self._order = sort_rows(self._rows, list(range(len(self._rows))), *self._sort)
        self._visible = self._compute()
        self.layoutChanged.emit()

    def _swatch(self, status: str) -> QIcon | None:
        """The map's colour for the state: a small square, so table and map read alike."""
        style = STATUS_STYLES.get(status)
        if style is None:
            return None
        icon = self._swatches.get(status)
        if icon is None:
            pm = QPixmap(10, 10)
            pm.fill(QColor(style.stroke))
            icon = self._swatches[status] = QIcon(pm)
        return icon

    # -- helpers ---------------------------------------------------------------------------------------
    def row_at(self, visible_row: int) -> Row:
        return self._rows[self._visible[visible_row]]

    def replace_row(self, new: Row, match) -> bool:
        """Put ``new`` in place of the first row ``match(row)`` accepts and repaint just that line (an
        autosave must not reload 50,000 rows); False when no row matches (the caller reloads)."""
        for k, r in enumerate(self._rows):
            if match(r):
                self._rows[k] = new
                try:
                    vis = self._visible.index(k)
                except ValueError:
                    return True
                self.dataChanged.emit(self.index(vis, 0), self.index(vis, len(COLUMNS) - 1))
                return True
        return False

    @property
    def total(self) -> int:
        return len(self._rows)

    @property
    def shown(self) -> int:
        return len(self._visible)
