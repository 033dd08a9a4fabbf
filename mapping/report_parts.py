"""Pieces shared by the report's chapters (:mod:`mapping.report`, :mod:`mapping.report_assessment`):
running numbers for chapters, tables and figures, level cells, headings, and the map page."""

from __future__ import annotations

from collections.abc import Callable

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
