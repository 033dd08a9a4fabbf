"""Record states as the app shows them: names and colours in one typed registry (no Qt here).

The records table paints a row's background with ``fill`` and the map fills a footprint with the same
``fill`` and outlines it with ``stroke`` (the stronger shade of the same hue, also used for the dots
drawn when footprints are too small to see); the table's status cell carries a ``stroke`` swatch, so
the table, the map and the map legend read the same.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StatusStyle:
    key: str
    zh: str
    en: str
    fill: str               # pale: table row background, footprint fill
    stroke: str             # strong: footprint outline, map dots, legend swatch
    text: str | None = None  # table text colour when not the default

    def label(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


_STYLES = (
    StatusStyle("todo", "未填", "Not started", "#ffffff", "#8c8c8c", "#6b6b6b"),
    StatusStyle("draft", "草稿", "Draft", "#fff4d6", "#d99a00"),
    StatusStyle("final", "已完成", "Complete", "#e3f4e1", "#3f9b35"),
    StatusStyle("has_issues", "有问题", "Has issues", "#fde2e0", "#d0362a", "#a12a1f"),
    StatusStyle("conflict", "冲突", "Conflict", "#f9cfcf", "#a1127a", "#a12a1f"),
    StatusStyle("rejected", "被退回", "Rejected", "#f9cfcf", "#8e1b10", "#a12a1f"),
    StatusStyle("exported", "已导出", "Exported", "#e0ecfa", "#2f6db5"),
)

STATUS_STYLES: dict[str, StatusStyle] = {s.key: s for s in _STYLES}

# Drawing order on the map, bottom to top: what needs attention is drawn last, so a red dot is never
# hidden under a green one when footprints shrink to dots.
MAP_ORDER = ("todo", "exported", "final", "draft", "rejected", "conflict", "has_issues")

# Which states the map legend lists (conflict and rejected are rare; they show when present).
LEGEND = ("todo", "draft", "final", "has_issues", "exported", "conflict", "rejected")
