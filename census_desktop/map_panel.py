"""The map panel: the township, its villages and the work-map footprints coloured by record state.

Drawing 50,000 footprints fast: footprints are batched, never one ``QGraphicsItem`` each.  The
township's extent is cut into tiles (≈800 footprints); each (tile, state) pair is one
:class:`FootprintTile` holding one ``QPainterPath`` of all its polygons — built from numpy arrays in a
single ``QDataStream`` read, not polygon by polygon — and one ``QPolygonF`` of their anchor points.
The scene's index skips the tiles off screen, and each tile picks a level of detail from the zoom:
dots when houses are under 3 px, filled shapes when small, pale fill + outline (the records table's
colours) when big enough to read.  A state change redraws only the tiles it touches.  Clicks are
hit-tested on a shapely STRtree (:mod:`census_desktop.mapdata`), not on items.

Wheel zooms about the cursor, dragging pans (left, middle or right button), a click that did not
move is a click.  Coordinates: scene units are metres on the township's local plane
(:class:`~census_desktop.mapdata.LocalProjection`), north up.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from PyQt5.QtCore import QByteArray, QDataStream, QPointF, QRect, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
)
from PyQt5.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from . import i18n
from .i18n import tr
from .jobs import Job
from .mapdata import MapData, Outline
from .styles import LEGEND, MAP_ORDER, STATUS_STYLES

DOT_PX = 3.0          # footprints smaller than this on screen are drawn as dots
OUTLINE_PX = 10.0     # … and from this size up with the table's pale fill and an outline
CLICK_TOLERANCE_PX = 6
MAX_PX_PER_M = 25.0
FOCUS_SPAN_M = 400.0  # how much ground a "show this footprint" zoom shows (its shorter side)
BACKGROUND = "#e9ebe4"
LAND = "#fbfbf7"


# ---------------------------------------------------------------------------------------------------
# numpy → Qt in one read (QDataStream formats of QPainterPath and QPolygonF)

def path_from_arrays(xy: np.ndarray, starts: np.ndarray) -> QPainterPath:
    """A QPainterPath of rings: ``xy`` (M, 2) vertices, ``starts`` (M,) True where a ring begins.
    Written in QPainterPath's stream format (count; type, x, y per element; cStart; fill rule) and read
    back by Qt in one call: ~20× faster than ``addPolygon`` per footprint."""
    n = len(xy)
    path = QPainterPath()
    if not n:
        return path
    rec = np.empty(n, dtype=[("t", ">i4"), ("x", ">f8"), ("y", ">f8")])
    rec["t"] = np.where(starts, 0, 1)           # MoveToElement / LineToElement
    rec["x"] = xy[:, 0]
    rec["y"] = xy[:, 1]
    data = np.array([n], ">i4").tobytes() + rec.tobytes() + np.array([0, 0], ">i4").tobytes()  # OddEvenFill
    QDataStream(QByteArray(data)) >> path
    return path


def polygonf_from_array(xy: np.ndarray) -> QPolygonF:
    poly = QPolygonF()
    data = np.array([len(xy)], ">u4").tobytes() + np.ascontiguousarray(xy, dtype=">f8").tobytes()
    QDataStream(QByteArray(data)) >> poly
    return poly


# ---------------------------------------------------------------------------------------------------
# Items

def _cosmetic(colour: str, width: float = 1.0, style=Qt.SolidLine) -> QPen:
    pen = QPen(QColor(colour), width, style)
    pen.setCosmetic(True)
    return pen


class FootprintTile(QGraphicsItem):
    """All footprints of one state in one tile, drawn at the level of detail the zoom allows."""

    def __init__(self, status: str, path: QPainterPath, dots: QPolygonF, size_m: float, count: int):
        super().__init__()
        style = STATUS_STYLES[status]
        self.status = status
        self.count = count
        self.path = path
        self.dots = dots
        self.size_m = max(size_m, 0.5)
        self._rect = path.boundingRect().adjusted(-1, -1, 1, 1)
        self._dot_pen = _cosmetic(style.stroke, 3.0)
        self._dot_pen.setCapStyle(Qt.SquareCap)
        self._solid = QBrush(QColor(style.stroke))
        self._fill = QBrush(QColor(style.fill))
        self._outline = _cosmetic(style.stroke, 1.0)
        self.setZValue(MAP_ORDER.index(status) if status in MAP_ORDER else 0)
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, False)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        px = option.levelOfDetailFromTransform(painter.worldTransform()) * self.size_m
        painter.setRenderHint(QPainter.Antialiasing, False)   # crisp and fast: thousands of shapes
        if px < DOT_PX:
            painter.setPen(self._dot_pen)
            painter.drawPoints(self.dots)
        elif px < OUTLINE_PX:
            painter.setPen(Qt.NoPen)
            painter.setBrush(self._solid)
            painter.drawPath(self.path)
        else:
            painter.setPen(self._outline)
            painter.setBrush(self._fill)
            painter.drawPath(self.path)


class OutlineItem(QGraphicsPathItem):
    """A township or village outline, antialiased (a few hundred vertices: cheap)."""

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.Antialiasing, True)
        super().paint(painter, option, widget)
        painter.setRenderHint(QPainter.Antialiasing, False)


class LabelItem(QGraphicsItem):
    """A village name at a fixed screen size, on a soft white plate."""

    def __init__(self, text: str, font: QFont, *, colour: str = "#37474f", bold: bool = False):
        super().__init__()
        self.text = text
        self.font = QFont(font)
        self.font.setBold(bold)
        fm = QFontMetrics(self.font)
        w, h = fm.horizontalAdvance(text) + 8, fm.height() + 2
        self._rect = QRectF(-w / 2, -h / 2, w, h)
        self._colour = QColor(colour)
        self.setFlag(QGraphicsItem.ItemIgnoresTransformations, True)
        self.setZValue(60)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(255, 255, 255, 170))
        painter.drawRoundedRect(self._rect, 3, 3)
        painter.setFont(self.font)
        painter.setPen(self._colour)
        painter.drawText(self._rect, Qt.AlignCenter, self.text)


class MarkerItem(QGraphicsItem):
    """A point record of the current form (a hazard site, a shelter…): a dot of its state's colour."""

    R = 6.0

    def __init__(self, record_uuid: str, key: str, status: str):
        super().__init__()
        self.record_uuid = record_uuid
        style = STATUS_STYLES.get(status, STATUS_STYLES["final"])
        self._brush = QBrush(QColor(style.stroke))
        self.setFlag(QGraphicsItem.ItemIgnoresTransformations, True)
        self.setZValue(80)
        self.setToolTip(f"{key}  ·  {style.label(i18n.language())}")
        self.setCursor(Qt.PointingHandCursor)

    def boundingRect(self) -> QRectF:
        r = self.R + 2
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setPen(QPen(QColor("white"), 2))
        painter.setBrush(self._brush)
        painter.drawEllipse(QPointF(0, 0), self.R, self.R)


class HighlightItem(QGraphicsItem):
    """The footprint being edited: a bold outline, and a ring that stays visible when zoomed out."""

    def __init__(self, path: QPainterPath, anchor: QPointF):
        super().__init__()
        self.path = path
        self.anchor = anchor
        self._pen = _cosmetic("#0b57d0", 3.0)
        self._rect = path.boundingRect().adjusted(-1, -1, 1, 1)
        self.setZValue(90)

    def boundingRect(self) -> QRectF:
        return self._rect.united(QRectF(self.anchor.x() - 1, self.anchor.y() - 1, 2, 2))

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setPen(self._pen)
        painter.setBrush(Qt.NoBrush)
        painter.drawPath(self.path)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        r = 10.0 / max(lod, 1e-9)     # 10 px whatever the zoom
        painter.drawEllipse(self.anchor, r, r)


# ---------------------------------------------------------------------------------------------------
# The view

class MapView(QGraphicsView):
    clicked = pyqtSignal(QPointF)     # scene position of a click that did not drag
    hovered = pyqtSignal(QPointF)
    zoomed = pyqtSignal()
    escape = pyqtSignal()

    def __init__(self, scene: QGraphicsScene, parent=None):
        super().__init__(scene, parent)
        self.setBackgroundBrush(QColor(BACKGROUND))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.SmartViewportUpdate)
        self.setMouseTracking(True)
        self.setFrameShape(QGraphicsView.NoFrame)
        self.setMinimumSize(240, 200)
        self._press: QPointF | None = None
        self._last = None
        self._panning = False
        self.min_scale = 1e-4
        self.extent = QRectF()
        self.legend: list[tuple[str, str, str, int]] = []   # (fill, stroke, label, count) per state

    # zoom ---------------------------------------------------------------------------------------
    @property
    def px_per_m(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        target = min(max(self.px_per_m * factor, self.min_scale), MAX_PX_PER_M)
        f = target / self.px_per_m
        if abs(f - 1) > 1e-9:
            self.scale(f, f)
            self.zoomed.emit()

    def fit(self, rect: QRectF | None = None) -> None:
        rect = rect or self.extent
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.KeepAspectRatio)
        self.zoomed.emit()

    def show_area(self, centre: QPointF, span_m: float) -> None:
        """Centre on ``centre`` with about ``span_m`` metres across the shorter side."""
        side = max(min(self.viewport().width(), self.viewport().height()), 50)
        target = min(max(side / span_m, self.min_scale), MAX_PX_PER_M)
        self.setTransform(self.transform().fromScale(target, target))
        self.centerOn(centre)
        self.zoomed.emit()

    def wheelEvent(self, e) -> None:
        steps = e.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.25 ** steps)
        e.accept()

    # pan and click --------------------------------------------------------------------------------
    def mousePressEvent(self, e) -> None:
        if e.button() in (Qt.LeftButton, Qt.MiddleButton, Qt.RightButton):
            self._press = e.pos()
            self._last = e.pos()
            self._panning = False
            e.accept()
            return
        super().mousePressEvent(e)

    def mouseMoveEvent(self, e) -> None:
        self.hovered.emit(self.mapToScene(e.pos()))
        if self._press is not None:   # pressed here and not yet released (Qt grabs the mouse meanwhile)
            if not self._panning and (e.pos() - self._press).manhattanLength() >= QApplication.startDragDistance():
                self._panning = True
                self.viewport().setCursor(Qt.ClosedHandCursor)
            if self._panning:
                d = e.pos() - self._last
                self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - d.x())
                self.verticalScrollBar().setValue(self.verticalScrollBar().value() - d.y())
            self._last = e.pos()
            e.accept()
            return
        super().mouseMoveEvent(e)

    def mouseReleaseEvent(self, e) -> None:
        if self._press is not None:
            was_click = not self._panning and e.button() == Qt.LeftButton
            self._press = None
            if self._panning:
                self._panning = False
                self.viewport().unsetCursor()
                self.zoomed.emit()    # the visible area changed: labels re-declutter
            if was_click:
                self.clicked.emit(self.mapToScene(e.pos()))
            e.accept()
            return
        super().mouseReleaseEvent(e)

    def mouseDoubleClickEvent(self, e) -> None:
        e.accept()   # the first click already acted

    def keyPressEvent(self, e) -> None:
        k = e.key()
        if k in (Qt.Key_Plus, Qt.Key_Equal):
            self.zoom_by(1.5)
        elif k == Qt.Key_Minus:
            self.zoom_by(1 / 1.5)
        elif k == Qt.Key_0:
            self.fit()
        elif k == Qt.Key_Escape:
            self.escape.emit()
        elif k in (Qt.Key_Left, Qt.Key_Right, Qt.Key_Up, Qt.Key_Down):
            step = 80
            h, v = self.horizontalScrollBar(), self.verticalScrollBar()
            if k == Qt.Key_Left:
                h.setValue(h.value() - step)
            elif k == Qt.Key_Right:
                h.setValue(h.value() + step)
            elif k == Qt.Key_Up:
                v.setValue(v.value() - step)
            else:
                v.setValue(v.value() + step)
        else:
            super().keyPressEvent(e)

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self.zoomed.emit()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self.viewport().update()   # the legend and scale bar stay put: repaint rather than scroll pixels

    def _draw_legend(self, painter: QPainter) -> None:
        if not self.legend:
            return
        fm = QFontMetrics(self.font())
        line = fm.height() + 4
        labels = [f"{label}" for _f, _s, label, _n in self.legend]
        counts = [f"{n:,}" for *_x, n in self.legend]
        wl = max(fm.horizontalAdvance(t) for t in labels)
        wc = max(fm.horizontalAdvance(t) for t in counts)
        w, h = 14 + 8 + wl + 12 + wc + 16, line * len(self.legend) + 10
        x0 = self.viewport().width() - w - 10
        y0 = self.viewport().height() - h - 10
        painter.setPen(QPen(QColor("#cfd8dc")))
        painter.setBrush(QColor(255, 255, 255, 225))
        painter.drawRoundedRect(QRectF(x0, y0, w, h), 4, 4)
        for k, (fill, stroke, label, _n) in enumerate(self.legend):
            y = y0 + 5 + k * line
            painter.setPen(QPen(QColor(stroke), 1.5))
            painter.setBrush(QColor(fill))
            painter.drawRect(QRectF(x0 + 8, y + (line - 12) / 2, 14, 11))
            painter.setPen(QColor("#37474f"))
            painter.drawText(QRectF(x0 + 30, y, wl, line), Qt.AlignLeft | Qt.AlignVCenter, label)
            painter.setPen(QColor("#78909c"))
            painter.drawText(QRectF(x0 + 30 + wl + 12, y, wc, line), Qt.AlignRight | Qt.AlignVCenter, counts[k])

    # overlays: scale bar, legend, north arrow (in viewport pixels) ---------------------------------------
    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if self.extent.isEmpty():
            return
        ppm = self.px_per_m
        if ppm <= 0:
            return
        target_m = 120 / ppm
        mag = 10 ** math.floor(math.log10(target_m))
        length_m = max(m for m in (mag, 2 * mag, 5 * mag) if m <= target_m) if target_m >= 1 else 1
        w = length_m * ppm
        painter.save()
        painter.resetTransform()
        painter.setRenderHint(QPainter.Antialiasing, True)
        x0, y0 = 14, self.viewport().height() - 16
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(255, 255, 255, 210))
        painter.drawRoundedRect(QRectF(x0 - 6, y0 - 22, w + 24, 30), 3, 3)
        painter.setPen(QPen(QColor("#37474f"), 2))
        painter.drawLine(QPointF(x0, y0), QPointF(x0 + w, y0))
        painter.drawLine(QPointF(x0, y0 - 5), QPointF(x0, y0))
        painter.drawLine(QPointF(x0 + w, y0 - 5), QPointF(x0 + w, y0))
        label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
        painter.drawText(QRectF(x0, y0 - 22, w + 12, 16), Qt.AlignLeft | Qt.AlignVCenter, label)
        self._draw_legend(painter)
        # north arrow
        nx, ny = self.viewport().width() - 24, 18
        painter.setPen(QPen(QColor("#37474f"), 1.5))
        painter.drawLine(QPointF(nx, ny + 18), QPointF(nx, ny))
        painter.drawLine(QPointF(nx - 5, ny + 6), QPointF(nx, ny))
        painter.drawLine(QPointF(nx + 5, ny + 6), QPointF(nx, ny))
        painter.drawText(QRectF(nx - 8, ny + 18, 16, 14), Qt.AlignCenter, "N")
        painter.restore()


# ---------------------------------------------------------------------------------------------------
# The panel

class MapPanel(QWidget):
    """Toolbar (place-a-point, zoom), the view (legend with counts lower right, scale bar lower left),
    and a status line (coordinates under the cursor; loading progress with 取消)."""

    footprint_clicked = pyqtSignal(str)          # building id
    record_clicked = pyqtSignal(str)             # record uuid of a point marker
    point_placed = pyqtSignal(float, float)      # lon, lat clicked in 放点 mode (a new point record)
    point_picked = pyqtSignal(float, float)      # lon, lat given to an editor's ◎ request
    loaded = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: MapData | None = None
        self.job: Job | None = None               # the latest map load
        self._jobs: list[Job] = []                # … and any it superseded that may still be stopping
        self._tiles: dict[tuple[int, str], FootprintTile] = {}
        self._status = np.empty(0, dtype=object)
        self._labels: list[tuple[float, LabelItem]] = []
        self._markers: list[MarkerItem] = []
        self._highlight: HighlightItem | None = None
        self._pick: Callable[[float, float], None] | None = None
        self._reload: Callable[[], None] | None = None

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.title = QLabel(tr("map_title"), self)
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        bar.addWidget(self.title)
        bar.addStretch(1)
        self.place_button = QToolButton(self)
        self.place_button.setText("◎ " + tr("place_point"))
        self.place_button.setCheckable(True)
        self.place_button.setEnabled(False)
        self.place_button.toggled.connect(self._on_place_toggled)
        bar.addWidget(self.place_button)
        for text, tip, slot in (("＋", tr("zoom_in"), lambda: self.view.zoom_by(1.5)),
                                ("－", tr("zoom_out"), lambda: self.view.zoom_by(1 / 1.5)),
                                (tr("zoom_all"), tr("zoom_all_tip"), lambda: self.view.fit())):
            b = QToolButton(self)
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            bar.addWidget(b)
        lay.addLayout(bar)

        self.scene = QGraphicsScene(self)
        self.view = MapView(self.scene, self)
        self.view.clicked.connect(self._on_click)
        self.view.hovered.connect(self._on_hover)
        self.view.zoomed.connect(self._declutter)
        self.view.escape.connect(self.cancel_pick)
        lay.addWidget(self.view, 1)
        self.prompt = QLabel(self.view)
        self.prompt.setStyleSheet("QLabel { background: #0b57d0; color: white; padding: 6px 10px; border-radius: 4px; }")
        self.prompt.hide()

        status = QHBoxLayout()
        self.coords = QLabel(self)
        self.coords.setStyleSheet("color: #555;")
        status.addWidget(self.coords, 1)
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        status.addWidget(self.progress)
        self.cancel_button = QPushButton(tr("cancel"), self)
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_loading)
        status.addWidget(self.cancel_button)
        self.reload_button = QPushButton(tr("map_reload"), self)
        self.reload_button.hide()
        self.reload_button.clicked.connect(lambda: self._reload and self._reload())
        status.addWidget(self.reload_button)
        lay.addLayout(status)
        self._show_legend()

    # -- loading (off the GUI thread) ------------------------------------------------------------------
    def load(self, fn: Callable[[Any], MapData], reload: Callable[[], None] | None = None) -> Job:
        """Run ``fn(ctx) -> MapData`` as a job with an inline progress bar and 取消."""
        if self.job is not None and self.job.running:   # superseded (another store): stop it, hear no more
            self.job.blockSignals(True)
            self.job.cancel()
        self._reload = reload
        job = Job(tr("map_loading"), fn, parent=self)
        self.job = job
        self._jobs = [j for j in self._jobs if j.running] + [job]
        self.progress.setRange(0, 0)
        self.progress.setFormat(tr("map_loading"))
        self.progress.show()
        self.cancel_button.show()
        self.reload_button.hide()
        self.coords.setText(tr("map_loading") + "…")
        job.progress.connect(self._on_progress)
        job.succeeded.connect(self.set_data)
        job.cancelled.connect(lambda: self._loading_ended(tr("map_cancelled")))
        job.failed.connect(lambda e: self._loading_ended(tr("map_failed", error=_error_text(e))))
        job.finished.connect(self._job_finished)
        return job.start()

    def cancel_loading(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()

    def running_jobs(self) -> list[Job]:
        """Map loads still running (the latest, and any it superseded that has not stopped yet)."""
        return [j for j in self._jobs if j.running]

    def _on_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if text:
            self.progress.setFormat(tr("map_step_" + text) if ("map_step_" + text) in i18n.TEXT else text)

    def _job_finished(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()

    def _loading_ended(self, message: str) -> None:
        self.coords.setText(message)
        if self._reload is not None:
            self.reload_button.show()

    @property
    def is_loaded(self) -> bool:
        return self.data is not None

    # -- drawing -----------------------------------------------------------------------------------------
    def set_data(self, data: MapData) -> None:
        self.scene.clear()
        self._tiles.clear()
        self._labels.clear()
        self._markers.clear()
        self._highlight = None
        self.data = data
        self._status = data.statuses()
        x0, y0, x1, y1 = data.bounds
        extent = QRectF(x0, y0, x1 - x0, y1 - y0)
        pad = max(extent.width(), extent.height(), 500.0)
        self.scene.setSceneRect(extent.adjusted(-pad, -pad, pad, pad))
        self.view.extent = extent.adjusted(-30, -30, 30, 30)
        font = QFont(self.font())
        if data.township is not None:
            item = OutlineItem(self._rings_path(data.township))
            item.setPen(_cosmetic("#56636d", 2.0))
            item.setBrush(QColor(LAND))
            item.setZValue(-10)
            self.scene.addItem(item)
        for v in data.villages:
            item = OutlineItem(self._rings_path(v))
            item.setPen(_cosmetic("#8d9aa3", 1.0, Qt.DashLine))
            item.setZValue(-5)
            item.setToolTip(f"{v.name}（{v.code}）" + (f"\n{tr('village_derived')}" if v.derived else ""))
            self.scene.addItem(item)
            label = LabelItem(v.name, font)
            label.setPos(*v.label_at)
            self.scene.addItem(label)
            area = float(sum(abs(_ring_area(r)) for r in v.rings))
            self._labels.append((area, label))
        self._labels.sort(key=lambda t: -t[0])
        self._build_tiles(range(data.tile_count), list(STATUS_STYLES))
        self.view.min_scale = 0.3 * min(self.view.viewport().width() / max(extent.width(), 1),
                                        self.view.viewport().height() / max(extent.height(), 1))
        self.view.fit()
        self._show_legend()
        self.coords.setText(tr("map_ready", n=len(data)))
        self.loaded.emit()

    @staticmethod
    def _rings_path(o: Outline) -> QPainterPath:
        if not o.rings:
            return QPainterPath()
        xy = np.concatenate(o.rings)
        starts = np.zeros(len(xy), dtype=bool)
        starts[np.cumsum([0] + [len(r) for r in o.rings[:-1]])] = True
        return path_from_arrays(xy, starts)

    def _build_tiles(self, tiles, statuses) -> None:
        """(Re)build the items of the given tiles × states from the current states."""
        d = self.data
        want_tiles = set(tiles)
        want_status = set(statuses)
        for key in [k for k in self._tiles if k[0] in want_tiles and k[1] in want_status]:
            self.scene.removeItem(self._tiles.pop(key))
        if not len(d):
            return
        mask = np.isin(d.tiles, list(want_tiles)) & np.isin(self._status, list(want_status))
        idx = np.nonzero(mask)[0]
        if not len(idx):
            return
        # group the footprints by (tile, state) with one sort, not a Python loop over 50,000 of them
        names = sorted(want_status)
        code = {s: k for k, s in enumerate(names)}
        key = d.tiles[idx] * len(names) + np.fromiter((code[s] for s in self._status[idx]), np.int64, len(idx))
        order = np.argsort(key, kind="stable")
        idx, key = idx[order], key[order]
        cuts = np.flatnonzero(np.diff(key)) + 1
        for m, k in zip(np.split(idx, cuts), key[np.concatenate(([0], cuts))], strict=True):
            t, s = int(k) // len(names), names[int(k) % len(names)]
            rows = d.vertex_rows(m)
            item = FootprintTile(s, path_from_arrays(d.coords[rows], d.ring_start[rows]),
                                 polygonf_from_array(d.anchors[m]), float(np.median(d.sizes[m])), len(m))
            self.scene.addItem(item)
            self._tiles[(t, s)] = item

    def set_states(self, states: dict) -> None:
        """New states for every footprint (after an import or feedback); redraws what changed."""
        if self.data is None:
            return
        self.data.states = dict(states)
        self._restyle(self.data.statuses())

    def set_state(self, building_id: str, status: str, record_uuid: str | None = None,
                  form_id: str | None = None) -> None:
        """One footprint's state changed (a save)."""
        from .mapdata import FootprintState

        if self.data is None or building_id not in self.data.index:
            return
        cur = self.data.states.get(building_id)
        self.data.states[building_id] = FootprintState(status, record_uuid or (cur.record_uuid if cur else None),
                                                       form_id or (cur.form_id if cur else None))
        new = self._status.copy()
        new[self.data.index[building_id]] = status
        self._restyle(new)

    def _restyle(self, new: np.ndarray) -> None:
        changed = np.nonzero(new != self._status)[0]
        if not len(changed):
            return
        tiles = set(self.data.tiles[changed].tolist())
        statuses = set(self._status[changed].tolist()) | set(new[changed].tolist())
        self._status = new
        self._build_tiles(tiles, statuses)
        self._show_legend()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self._status.tolist():
            out[s] = out.get(s, 0) + 1
        return out

    def _show_legend(self) -> None:
        """The legend in the map's lower right corner: each state's colours and how many footprints."""
        counts = self.counts()
        lang = i18n.language()
        rows = []
        for key in LEGEND:
            n = counts.get(key, 0)
            if key in ("conflict", "rejected") and not n:
                continue
            st = STATUS_STYLES[key]
            rows.append((st.fill, st.stroke, st.label(lang), n))
        self.view.legend = rows if self.data is not None else []
        self.view.viewport().update()

    def legend_text(self) -> str:
        return "  ".join(f"{label} {n}" for _f, _s, label, n in self.view.legend)

    # -- point records of the current form --------------------------------------------------------------
    def set_points(self, points: list[tuple[str, str, float, float, str]]) -> None:
        """Markers for the current form's point records: (record uuid, key, lon, lat, state)."""
        for m in self._markers:
            self.scene.removeItem(m)
        self._markers.clear()
        if self.data is None:
            return
        for uuid, key, lon, lat, status in points:
            x, y = self.data.proj.to_scene(lon, lat)
            m = MarkerItem(uuid, key, status)
            m.setPos(float(x), float(y))
            self.scene.addItem(m)
            self._markers.append(m)

    def show_marker(self, record_uuid: str) -> bool:
        """Bring a point record's marker into view (a row chosen in the table)."""
        for m in self._markers:
            if m.record_uuid == record_uuid:
                if not self.view.viewport().rect().contains(self.view.mapFromScene(m.pos())):
                    self.view.centerOn(m.pos())
                    self._declutter()
                return True
        return False

    def set_point_form(self, title: str | None) -> None:
        """Enable 放点 for the current form when it is placed by a point (None: not a point form)."""
        self.place_button.setChecked(False)
        self.place_button.setEnabled(title is not None)
        self.place_button.setToolTip(tr("place_point_tip", form=title) if title else "")
        self._place_title = title

    def village_at(self, lon: float, lat: float) -> str | None:
        if self.data is None:
            return None
        x, y = self.data.proj.to_scene(lon, lat)
        return self.data.village_at(float(x), float(y))

    # -- focus -------------------------------------------------------------------------------------------
    def scene_point(self, building_id: str) -> QPointF:
        """A scene point inside the footprint (what a test or a "show on map" aims at)."""
        x, y = self.data.anchors[self.data.index[building_id]]
        return QPointF(float(x), float(y))

    def scene_of(self, lon: float, lat: float) -> QPointF:
        x, y = self.data.proj.to_scene(lon, lat)
        return QPointF(float(x), float(y))

    def highlight(self, building_id: str | None, *, focus: bool = False, avoid: QRect | None = None) -> None:
        """Outline the footprint being edited; ``focus`` also brings it into view (clear of ``avoid``,
        a rectangle in viewport pixels that a form window covers)."""
        if self._highlight is not None:
            self.scene.removeItem(self._highlight)
            self._highlight = None
        if self.data is None or building_id not in (self.data.index if building_id else ()):
            return
        i = self.data.index[building_id]
        rows = self.data.vertex_rows(np.array([i]))
        path = path_from_arrays(self.data.coords[rows], self.data.ring_start[rows])
        self._highlight = HighlightItem(path, self.scene_point(building_id))
        self.scene.addItem(self._highlight)
        if focus:
            self.focus_on(building_id, avoid=avoid)

    def focus_on(self, building_id: str, *, avoid: QRect | None = None) -> None:
        """Show the footprint in the part of the map no form covers: zoom in to street level when it is
        too small to see, else just move it into view if it is off screen or under the form."""
        p = self.scene_point(building_id)
        free = self.free_area(avoid)
        if self.view.px_per_m * max(float(self.data.sizes[self.data.index[building_id]]), 5) < OUTLINE_PX:
            self.view.show_area(p, FOCUS_SPAN_M)
        elif free.contains(self.view.mapFromScene(p)):
            return
        self.view.centerOn(p)
        c = self.view.viewport().rect().center()
        u = free.center()
        h, v = self.view.horizontalScrollBar(), self.view.verticalScrollBar()
        h.setValue(h.value() - (u.x() - c.x()))
        v.setValue(v.value() - (u.y() - c.y()))
        self._declutter()

    def free_area(self, avoid: QRect | None) -> QRect:
        """The viewport minus what ``avoid`` covers on its right or left side (a form window)."""
        r = self.view.viewport().rect()
        if avoid is None or not avoid.intersects(r):
            return r
        left, right = avoid.left() - r.left(), r.right() - avoid.right()
        if left >= right:      # the form covers the right part: keep what is left of it
            return QRect(r.left(), r.top(), max(left, 120), r.height())
        return QRect(avoid.right(), r.top(), max(right, 120), r.height())

    # -- clicks ----------------------------------------------------------------------------------------------
    def start_pick(self, callback: Callable[[float, float], None], prompt: str | None = None) -> None:
        """The next click on the map gives its lon/lat to ``callback`` (an editor's ◎); Esc cancels."""
        self._pick = callback
        self._show_prompt(prompt or tr("pick_prompt"))
        self.view.viewport().setCursor(Qt.CrossCursor)
        self.view.setFocus()

    def cancel_pick(self) -> None:
        self._pick = None
        if self.place_button.isChecked():
            self.place_button.setChecked(False)
        self.prompt.hide()
        self.view.viewport().unsetCursor()

    @property
    def picking(self) -> bool:
        return self._pick is not None or self.place_button.isChecked()

    def _on_place_toggled(self, on: bool) -> None:
        if on:
            self._pick = None
            self._show_prompt(tr("place_prompt", form=getattr(self, "_place_title", "") or ""))
            self.view.viewport().setCursor(Qt.CrossCursor)
            self.view.setFocus()
        else:
            self.prompt.hide()
            self.view.viewport().unsetCursor()

    def _show_prompt(self, text: str) -> None:
        self.prompt.setText(text + "　（Esc " + tr("cancel") + "）")
        self.prompt.adjustSize()
        self.prompt.move(max((self.view.width() - self.prompt.width()) // 2, 4), 8)
        self.prompt.show()
        self.prompt.raise_()

    def _on_click(self, pos: QPointF) -> None:
        d = self.data
        if d is None:
            return
        if self._pick is not None:
            cb = self._pick
            lon, lat = d.proj.to_lonlat(pos.x(), pos.y())
            self.cancel_pick()
            cb(lon, lat)
            self.point_picked.emit(lon, lat)
            return
        if self.place_button.isChecked():
            lon, lat = d.proj.to_lonlat(pos.x(), pos.y())
            self.place_button.setChecked(False)
            self.point_placed.emit(lon, lat)
            return
        for item in self.view.items(self.view.mapFromScene(pos)):
            if isinstance(item, MarkerItem):
                self.record_clicked.emit(item.record_uuid)
                return
        i = d.footprint_at(pos.x(), pos.y(), CLICK_TOLERANCE_PX / max(self.view.px_per_m, 1e-9))
        if i is not None:
            self.footprint_clicked.emit(d.ids[i])

    def _on_hover(self, pos: QPointF) -> None:
        if self.data is None or (self.job is not None and self.job.running):
            return
        lon, lat = self.data.proj.to_lonlat(pos.x(), pos.y())
        self.coords.setText(f"{tr('lon')} {lon:.6f}　{tr('lat')} {lat:.6f}")

    def _declutter(self) -> None:
        """Hide village names that would overlap a bigger village's name at this zoom."""
        placed: list[QRectF] = []
        for _area, label in self._labels:
            c = self.view.mapFromScene(label.pos())
            r = label.boundingRect().translated(c.x(), c.y()).adjusted(-4, -2, 4, 2)
            ok = not any(r.intersects(p) for p in placed)
            label.setVisible(ok)
            if ok:
                placed.append(r)

    def retranslate(self) -> None:
        self.title.setText(tr("map_title"))
        self.place_button.setText("◎ " + tr("place_point"))
        self.cancel_button.setText(tr("cancel"))
        self.reload_button.setText(tr("map_reload"))
        self._show_legend()


def _ring_area(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _error_text(e: BaseException) -> str:
    zh = getattr(e, "message_zh", None)
    en = getattr(e, "message_en", None)
    if zh or en:
        return en if i18n.language() == "en" and en else (zh or en)
    return str(e) or type(e).__name__
