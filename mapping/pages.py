"""A small page-layout engine for the report: blocks flow down A4 portrait pages, tables split across pages.

Layout happens before drawing, so the table of contents knows every heading's page and every page
knows the total for its "第 n 页 / 共 N 页" footer. Units are inches from the page's bottom-left corner.
Blocks: :class:`Heading`, :class:`Paragraph`, :class:`Spacer`, :class:`FigureBlock` (a chart drawn into
an axes), :class:`PageBreak`, and :class:`FullPage` (a whole page drawn by a function, e.g. a map, which
may have its own page size). Tables live in :mod:`mapping.tables`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mapping import styles
from mapping.cartography import wrap_text

PAGE = styles.A4_PORTRAIT
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 0.95, 0.85, 0.95, 0.9
BODY_W = PAGE.width_in - MARGIN_L - MARGIN_R
BODY_TOP = PAGE.height_in - MARGIN_T
BODY_BOTTOM = MARGIN_B
PT = 1 / 72.0
TEXT_COLOUR = "#1a1a1a"


def fig_text(fig, x_in: float, y_in: float, text: str, **kw):
    """Text at a position in inches (converted to figure fractions)."""
    w, h = fig.get_size_inches()
    return fig.text(x_in / w, y_in / h, text, **kw)


class Block:
    """Something that takes vertical space on a page."""

    keep_with_next = False

    def measure(self, width: float) -> float:
        raise NotImplementedError

    def draw(self, fig, x: float, top: float, width: float) -> None:
        raise NotImplementedError

    def split(self, avail: float, width: float) -> tuple[Block | None, Block | None]:
        """(part that fits in ``avail``, the rest); default: unsplittable."""
        return None, self


@dataclass
class Spacer(Block):
    height: float

    def measure(self, width: float) -> float:
        return self.height

    def draw(self, fig, x, top, width) -> None:
        pass


@dataclass
class PageBreak(Block):
    def measure(self, width: float) -> float:
        return 0.0

    def draw(self, fig, x, top, width) -> None:
        pass


@dataclass
class Heading(Block):
    text: str
    level: int = 1          # 1 = chapter (一、), 2 = section
    toc: bool = True
    keep_with_next = True

    @property
    def size(self) -> float:
        return 15.0 if self.level == 1 else 12.0

    def measure(self, width: float) -> float:
        return self.size * PT * (2.3 if self.level == 1 else 2.0)

    def draw(self, fig, x, top, width) -> None:
        y = top - self.size * PT * (1.35 if self.level == 1 else 1.2)
        fig_text(fig, x, y, self.text, fontsize=self.size, va="baseline", ha="left", color=TEXT_COLOUR,
                 gid=f"heading-{self.level}")
        if self.level == 1:
            fig.add_artist(_hline(fig, x, x + width, y - 0.09, 0.8, "#7f7f7f"))


@dataclass
class Paragraph(Block):
    text: str
    size: float = 10.5
    indent_first: bool = True     # Chinese paragraphs indent two characters
    colour: str = TEXT_COLOUR
    leading: float = 1.65
    align: str = "left"
    keep_with_next: bool = False   # e.g. a table's introduction stays on the table's page

    def _lines(self, width: float) -> list[str]:
        max_em = width / (self.size * PT)
        text = ("\u3000\u3000" + self.text) if self.indent_first else self.text
        out: list[str] = []
        for para in text.split("\n"):
            out += wrap_text(para, max_em * 0.98, indent="") or [""]
        return out

    def measure(self, width: float) -> float:
        return len(self._lines(width)) * self.size * PT * self.leading + 0.06

    def draw(self, fig, x, top, width) -> None:
        lines = self._lines(width)
        step = self.size * PT * self.leading
        xx = x + (width / 2 if self.align == "center" else 0)
        for i, line in enumerate(lines):
            fig_text(fig, xx, top - (i + 0.8) * step, line, fontsize=self.size, ha=self.align, va="baseline",
                     color=self.colour)

    def split(self, avail: float, width: float):
        lines = self._lines(width)
        step = self.size * PT * self.leading
        n = int((avail - 0.06) // step)
        if n < 2 or n >= len(lines):
            return None, self
        head = Paragraph("\n".join(lines[:n]), self.size, False, self.colour, self.leading, self.align)
        tail = Paragraph("\n".join(lines[n:]), self.size, False, self.colour, self.leading, self.align)
        return head, tail


@dataclass
class FigureBlock(Block):
    """A chart: ``draw_fn(ax)`` draws into an axes of ``height`` inches (plus a caption under it)."""

    height: float
    draw_fn: Callable
    caption: str = ""
    margins: tuple[float, float, float, float] = (0.55, 0.1, 0.45, 0.5)   # left, right, bottom, top (in);
    # the top margin leaves room for a legend above the axes

    def measure(self, width: float) -> float:
        return self.height + (0.32 if self.caption else 0.0)

    def draw(self, fig, x, top, width) -> None:
        W, H = fig.get_size_inches()
        ml, mr, mb, mt = self.margins
        cap = 0.32 if self.caption else 0.0
        bottom = top - self.height - cap
        ax = fig.add_axes(((x + ml) / W, (bottom + cap + mb) / H, (width - ml - mr) / W,
                           (self.height - mb - mt) / H))
        self.draw_fn(ax)
        if self.caption:
            fig_text(fig, x + width / 2, bottom + 0.08, self.caption, fontsize=9.5, ha="center", va="bottom",
                     color=TEXT_COLOUR, gid="figure-caption")


@dataclass
class FullPage(Block):
    """A page of its own drawn by ``draw_fn(fig)``; ``page`` may differ (maps are A4 landscape)."""

    draw_fn: Callable
    page: styles.PageSize = PAGE
    toc_text: str | None = None

    def measure(self, width: float) -> float:
        return 0.0

    def draw(self, fig, x, top, width) -> None:
        self.draw_fn(fig)


def _hline(fig, x0: float, x1: float, y: float, lw: float, colour: str):
    from matplotlib.lines import Line2D

    W, H = fig.get_size_inches()
    return Line2D([x0 / W, x1 / W], [y / H, y / H], transform=fig.transFigure, lw=lw, color=colour)


def _chain_height(queue: list[Block], i: int, avail: float) -> float:
    """Height needed to keep ``queue[i]`` and the blocks it keeps with together: all of them plus the
    first part of the first block that does not keep with its successor."""
    need = 0.0
    j = i
    while j < len(queue) and queue[j].keep_with_next:
        need += queue[j].measure(BODY_W)
        j += 1
    if j < len(queue) and not isinstance(queue[j], (PageBreak, FullPage)):
        head, _ = queue[j].split(avail - need, BODY_W)
        need += head.measure(BODY_W) if head is not None else queue[j].measure(BODY_W)
    return need


@dataclass
class Page:
    size: styles.PageSize
    items: list[tuple[Block, float]] = field(default_factory=list)   # (block, top in inches)
    full: FullPage | None = None


def paginate(blocks: list[Block]) -> list[Page]:
    """Flow ``blocks`` onto pages; a heading never ends a page; tables and paragraphs split."""
    pages: list[Page] = [Page(PAGE)]
    y = BODY_TOP
    queue = list(blocks)
    i = 0
    while i < len(queue):
        b = queue[i]
        cur = pages[-1]
        if isinstance(b, PageBreak):
            if cur.items or cur.full:
                pages.append(Page(PAGE))
                y = BODY_TOP
            i += 1
            continue
        if isinstance(b, FullPage):
            if cur.items or cur.full:
                pages.append(Page(b.page, full=b))
            else:
                cur.size, cur.full = b.page, b
            pages.append(Page(PAGE))
            y = BODY_TOP
            i += 1
            continue
        h = b.measure(BODY_W)
        need = _chain_height(queue, i, y - BODY_BOTTOM) if b.keep_with_next else h
        if y - need >= BODY_BOTTOM - 1e-6:
            cur.items.append((b, y))
            y -= h
            i += 1
            continue
        head, tail = (None, b) if b.keep_with_next else b.split(y - BODY_BOTTOM, BODY_W)
        if head is not None:         # the part that fits here, the rest on the next page
            cur.items.append((head, y))
            queue[i] = tail
            pages.append(Page(PAGE))
            y = BODY_TOP
        elif cur.items:              # try again on a fresh page
            pages.append(Page(PAGE))
            y = BODY_TOP
        else:                        # taller than an empty page and unsplittable: place it anyway
            cur.items.append((b, y))
            y -= h
            i += 1
    if not pages[-1].items and pages[-1].full is None and len(pages) > 1:
        pages.pop()
    return pages
