"""Report tables: three-line tables (三线表) that split across pages and repeat their header.

Numbers are right-aligned and pre-formatted by :mod:`mapping.fmt`; a cell may carry a fill colour (risk
level cells use the registry colours, with white text on the darkest ones). Text too long for its
column is set smaller rather than overflowing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from mapping.cartography import _em, wrap_text
from mapping.pages import PT, TEXT_COLOUR, Block, _hline, fig_text

ZEBRA = "#f3f6f9"
HEADER_FILL = "#e4ebf2"


@dataclass(frozen=True)
class Column:
    title: str
    weight: float = 1.0
    align: str = "right"        # left | center | right


@dataclass(frozen=True)
class Cell:
    text: str
    fill: str | None = None


def _text_colour(fill: str | None) -> str:
    if not fill:
        return TEXT_COLOUR
    r, g, b = to_rgb(fill)
    return "white" if (0.299 * r + 0.587 * g + 0.114 * b) < 0.55 else TEXT_COLOUR


def _fit(text: str, width_in: float, size: float, min_size: float = 5.5) -> float:
    """The font size at which ``text`` fits on one line of ``width_in`` (never below ``min_size``)."""
    need = sum(_em(c) for c in text) * size * PT
    if need <= width_in or need == 0:
        return size
    return max(min_size, size * width_in / need)


def cell_layout(text: str, width_in: float, size: float) -> tuple[float, list[str]]:
    """(font size, lines) for a cell: one line, shrunk by at most 15 %, else wrapped at 90 % size."""
    fs = _fit(text, width_in, size, min_size=size * 0.85)
    if sum(_em(c) for c in text) * fs * PT <= width_in * 1.001:
        return fs, [text]
    fs = size * 0.9
    return fs, wrap_text(text, width_in / (fs * PT), indent="") or [text]


@dataclass
class TableBlock(Block):
    title: str
    columns: tuple[Column, ...]
    rows: list[list]
    total: list | None = None
    note: str = ""
    size: float = 8.5
    row_h: float = 0.235
    continued: bool = False
    min_rows: int = 3
    keep_whole: int = 12          # tables with at most this many rows never split

    # geometry -------------------------------------------------------------------------------------
    def _widths(self, width: float) -> list[float]:
        tw = sum(c.weight for c in self.columns)
        return [width * c.weight / tw for c in self.columns]

    def _header_lines(self, width: float) -> list[list[str]]:
        return [wrap_text(c.title, max(w - 0.08, 0.2) / (self.size * PT), indent="") or [""]
                for c, w in zip(self.columns, self._widths(width))]

    def _header_h(self, width: float) -> float:
        n = max(len(x) for x in self._header_lines(width))
        return max(self.row_h * 1.25, n * self.size * PT * 1.35 + 0.12)

    def _title_h(self) -> float:
        return 0.36 if self.title else 0.05

    def _note_h(self, width: float) -> float:
        if not self.note:
            return 0.08
        lines = wrap_text(self.note, width / (7.5 * PT), indent="")
        return 0.1 + len(lines) * 7.5 * PT * 1.5

    def _body(self) -> list[list]:
        return list(self.rows) + ([self.total] if self.total else [])

    def _row_heights(self, width: float, rows: list[list]) -> list[float]:
        """Each row is one line high, or as many lines as its longest wrapped cell needs."""
        widths = self._widths(width)
        out = []
        for row in rows:
            n, fs = 1, self.size
            for value, w in zip(row, widths):
                text = value.text if isinstance(value, Cell) else ("" if value is None else str(value))
                size, lines = cell_layout(text, w - 0.1, self.size)
                if len(lines) > n:
                    n, fs = len(lines), size
            out.append(self.row_h if n == 1 else n * fs * PT * 1.3 + 0.09)
        return out

    def measure(self, width: float) -> float:
        return (self._title_h() + self._header_h(width) + sum(self._row_heights(width, self._body()))
                + self._note_h(width) + 0.1)

    def split(self, avail: float, width: float):
        if len(self.rows) <= self.keep_whole:     # a short table moves whole rather than leave a stub
            return None, self
        fixed = self._title_h() + self._header_h(width) + self._note_h(width) + 0.1
        heights = self._row_heights(width, self.rows)
        n, used = 0, 0.0
        while n < len(heights) and used + heights[n] <= avail - fixed:
            used += heights[n]
            n += 1
        if n < self.min_rows or n >= len(self.rows):
            return None, self
        head = replace(self, rows=self.rows[:n], total=None, note="（续表见下页）")
        tail = replace(self, rows=self.rows[n:], continued=True)
        return head, tail

    # drawing --------------------------------------------------------------------------------------
    def draw(self, fig, x: float, top: float, width: float) -> None:
        widths = self._widths(width)
        y = top
        if self.title:
            title = self.title + ("（续）" if self.continued else "")
            fig_text(fig, x + width / 2, y - 0.24, title, fontsize=10, ha="center", va="baseline",
                     color=TEXT_COLOUR, gid="table-title")
        y -= self._title_h()
        hh = self._header_h(width)
        W, H = fig.get_size_inches()
        fig.add_artist(Rectangle((x / W, (y - hh) / H), width / W, hh / H, transform=fig.transFigure,
                                 facecolor=HEADER_FILL, edgecolor="none", zorder=0))
        fig.add_artist(_hline(fig, x, x + width, y, 1.3, "#1a1a1a"))
        cx = x
        for lines, w, col in zip(self._header_lines(width), widths, self.columns):
            txt = "\n".join(lines)
            fig_text(fig, cx + w / 2, y - hh / 2, txt, fontsize=self.size, ha="center", va="center",
                     color=TEXT_COLOUR, linespacing=1.25, gid="table-header")
            cx += w
        y -= hh
        fig.add_artist(_hline(fig, x, x + width, y, 0.7, "#1a1a1a"))
        body = self._body()
        for r, (row, rh) in enumerate(zip(body, self._row_heights(width, body))):
            is_total = self.total is not None and r == len(body) - 1
            if r % 2 == 1 and not is_total:
                fig.add_artist(Rectangle((x / W, (y - rh) / H), width / W, rh / H,
                                         transform=fig.transFigure, facecolor=ZEBRA, edgecolor="none", zorder=0))
            if is_total:
                fig.add_artist(_hline(fig, x, x + width, y, 0.6, "#1a1a1a"))
            cx = x
            for value, w, col in zip(row, widths, self.columns):
                cell = value if isinstance(value, Cell) else Cell("" if value is None else str(value))
                if cell.fill:
                    pad = 0.025
                    fig.add_artist(Rectangle(((cx + pad) / W, (y - rh + pad) / H), (w - 2 * pad) / W,
                                             (rh - 2 * pad) / H, transform=fig.transFigure,
                                             facecolor=cell.fill, edgecolor="none", zorder=0.5))
                size, lines = cell_layout(cell.text, w - 0.1, self.size)
                if col.align == "left":
                    tx, ha = cx + 0.05, "left"
                elif col.align == "center" or cell.fill:
                    tx, ha = cx + w / 2, "center"
                else:
                    tx, ha = cx + w - 0.05, "right"
                fig_text(fig, tx, y - rh / 2, "\n".join(lines), fontsize=size, ha=ha, va="center",
                         color=_text_colour(cell.fill), gid="table-cell", linespacing=1.3, multialignment=ha)
                cx += w
            y -= rh
        fig.add_artist(_hline(fig, x, x + width, y, 1.3, "#1a1a1a"))
        if self.note:
            for i, line in enumerate(wrap_text(self.note, width / (7.5 * PT), indent="")):
                fig_text(fig, x, y - 0.16 - i * 7.5 * PT * 1.5, line, fontsize=7.5, ha="left", va="baseline",
                         color="#555555", gid="table-note")
