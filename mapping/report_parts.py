"""Pieces shared by the report's chapters (:mod:`mapping.report`, :mod:`mapping.report_assessment`):
running numbers for chapters, tables and figures, level cells, headings, and the map page."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mapping import styles
from mapping.pages import TEXT_COLOUR, Heading, fig_text
from mapping.tables import Cell

CN_NUM = "一二三四五六七八九十"


class ReportNumbers:
    """Running numbers for chapters (一、二、…), tables and figures (表 1, 图 1 …); chapters are numbered
    as they are built, since the assessment chapters appear only when their layers exist."""

    def __init__(self) -> None:
        self.chapter_no = 0
        self.table = 0
        self.figure = 0

    def chapter(self, text: str) -> Heading:
        self.chapter_no += 1
        return Heading(f"{CN_NUM[self.chapter_no - 1]}、{text}", 1)

    def next_table(self, title: str) -> str:
        self.table += 1
        return f"表 {self.table}  {title}"

    def next_figure(self, title: str) -> str:
        self.figure += 1
        return f"图 {self.figure}  {title}"


def section(n: int, text: str) -> Heading:
    return Heading(f"（{CN_NUM[n - 1]}）{text}", 2)


def level_cell(level, suffix: str = "") -> Cell:
    """A risk (or hazard) level 1–5 as its name on its registry colour; anything else a dash."""
    try:
        lv = int(level)
    except (TypeError, ValueError):
        lv = 0
    for s in styles.risk_level_styles():
        if s.value == lv:
            return Cell(s.name_zh + suffix, s.colour)
    return Cell("—")


def map_page(fn: Callable, caption: str) -> Callable:
    """A landscape page drawing ``fn(ax)`` (a map with its side panel) and the caption under it."""

    def draw(fig) -> None:
        ax = fig.add_axes((0.05, 0.085, 0.665, 0.74))
        fn(ax)
        fig_text(fig, fig.get_figwidth() / 2, 0.42, caption, fontsize=9.5, ha="center", va="baseline",
                 color=TEXT_COLOUR, gid="figure-caption")

    return draw


def zone_cell(code) -> Cell:
    """A table cell naming a prevention zone in its colour (— when there is none)."""
    for z in styles.prevention_zone_styles():
        if z.value == code:
            return Cell(z.name_zh.replace("防治区", ""), z.colour)
    return Cell("—")


def save_report_pdf(out, meta: dict, front: Sequence[Callable], body: Sequence, furniture: Callable,
                    *, progress: Callable[[int, int], None] | None = None) -> None:
    """Draw a report into the PDF ``out``: the ``front`` pages (each a function drawing on an A4 figure;
    the first is the cover, without page furniture), then the laid-out ``body`` pages. ``furniture(fig,
    page_no)`` adds the running header and page number."""
    from matplotlib.backends.backend_pdf import PdfPages

    from mapping.layout import new_figure
    from mapping.pages import BODY_W, MARGIN_L, PAGE

    out.parent.mkdir(parents=True, exist_ok=True)
    with PdfPages(out, metadata=meta) as pdf:
        for n, draw in enumerate(front, start=1):
            fig = new_figure(PAGE)
            draw(fig)
            if n > 1:
                furniture(fig, n)
            pdf.savefig(fig, dpi=200)
        for i, page in enumerate(body):
            fig = new_figure(page.size)
            if page.full is not None:
                page.full.draw(fig, 0, 0, 0)
            for b, top in page.items:
                b.draw(fig, MARGIN_L, top, BODY_W)
            furniture(fig, i + 1 + len(front))
            pdf.savefig(fig, dpi=200)
            if progress:
                progress(i + 1, len(body))
