"""Report charts: exposure by risk level (stacked shares per hazard) and historical losses 1978–2020.

Both take ``ax=None`` and return the figure, like the maps. Level colours come from the registry; the
hazard types of the historical chart get a qualitative ColorBrewer palette (Set2, colour-blind safe).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator

from mapping import styles
from mapping.fonts import use_cjk_font
from mapping.layout import new_figure

HAZARD_TYPE_COLOURS = ("#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494", "#b3b3b3")


def chart_axes(ax, size=(8.27, 4.0)):
    """The figure and axes to draw a chart on: ``ax``'s own, or a new chart page (CJK font set)."""
    use_cjk_font()
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(styles.PageSize("chart", *size))
    return fig, fig.add_axes((0.16, 0.14, 0.8, 0.72))


def tidy_axes(ax) -> None:
    """No top or right frame line, small tick labels: the report's chart style."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)


def exposure_by_level_chart(table: pd.DataFrame, *, measure_zh: str = "人口", ax=None):
    """Horizontal 100 % bars: share of ``measure`` at each risk level, one bar per hazard (rows of ``table``,
    columns 1–5 as from :func:`mapping.stats.exposure_by_level`)."""
    fig, ax = chart_axes(ax)
    levels = styles.risk_level_styles()
    t = table.reindex(columns=[lv.value for lv in levels]).fillna(0.0)
    totals = t.sum(axis=1).replace(0, np.nan)
    share = t.div(totals, axis=0).fillna(0) * 100
    names = list(share.index)[::-1]
    y = np.arange(len(names))
    left = np.zeros(len(names))
    for lv in levels:
        vals = share.loc[names, lv.value].to_numpy()
        bars = ax.barh(y, vals, left=left, color=lv.colour, edgecolor="white", linewidth=0.6, height=0.68,
                       label=f"{lv.name_zh}风险", gid=f"level-{lv.value}")
        for b, v, l0 in zip(bars, vals, left):
            if v >= 7:
                ax.text(l0 + v / 2, b.get_y() + b.get_height() / 2, f"{v:.0f}%", ha="center", va="center",
                        fontsize=7, color="white" if lv.value in (1, 5) else "#1a1a1a")
        left += vals
    ax.set_yticks(y, names, fontsize=8.5)
    ax.set_xlim(0, 100)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0f}%"))
    ax.set_xlabel(f"各风险等级{measure_zh}占比", fontsize=8.5)
    ax.legend(ncol=5, loc="lower center", bbox_to_anchor=(0.5, 1.01), frameon=False, fontsize=8,
              handlelength=1.4, columnspacing=1.2)
    tidy_axes(ax)
    return fig


def historical_losses_chart(by_year: pd.DataFrame, *, first: int = 1978, last: int = 2020, ax=None):
    """Stacked bars of direct economic loss (万元) per year and hazard type, every year first–last shown."""
    fig, ax = chart_axes(ax)
    years = np.arange(first, last + 1)
    t = by_year.reindex(years).fillna(0.0) if len(by_year) else pd.DataFrame(index=years)
    order = list(t.sum().sort_values(ascending=False).index)
    bottom = np.zeros(len(years))
    for i, col in enumerate(order):
        vals = t[col].to_numpy(dtype=float)
        ax.bar(years, vals, bottom=bottom, width=0.8, color=HAZARD_TYPE_COLOURS[i % len(HAZARD_TYPE_COLOURS)],
               edgecolor="none", label=str(col))
        bottom += vals
    ax.set_xlim(first - 0.8, last + 0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.set_ylabel("直接经济损失（万元）", fontsize=8.5)
    ax.grid(axis="y", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    if order:
        ax.legend(ncol=min(len(order), 6), loc="lower center", bbox_to_anchor=(0.5, 1.01), frameon=False,
                  fontsize=8, handlelength=1.2, columnspacing=1.0)
    else:
        ax.text(0.5, 0.5, "无历史灾害年度统计记录", transform=ax.transAxes, ha="center", va="center", fontsize=10,
                color="#777777")
    tidy_axes(ax)
    return fig


def weights_chart(weights: pd.DataFrame, used: dict[str, float], *, used_label: str = "本次评估所用权重", ax=None):
    """Paired horizontal bars per risk hazard: share of recorded losses (the suggested weight) against the
    weight the comprehensive index used (normalised to sum to one, so the two compare)."""
    fig, ax = chart_axes(ax)
    w = weights.sort_values("weight", ascending=True)
    total_used = sum(float(used.get(str(h), 0.0)) for h in w["risk_hazard"]) or 1.0
    rec = w["weight"].to_numpy(dtype=float) * 100
    cur = np.array([float(used.get(str(h), 0.0)) / total_used * 100 for h in w["risk_hazard"]])
    y = np.arange(len(w))
    h = 0.38
    ax.barh(y + h / 2, rec, height=h, color="#3182bd", label="历史损失占比（建议权重）", gid="weights-recorded")
    ax.barh(y - h / 2, cur, height=h, color="#bdbdbd", label=f"{used_label}（归一化）", gid="weights-used")
    for yy, v in zip(y, rec):
        ax.text(v + 0.8, yy + h / 2, f"{v:.1f}%", va="center", fontsize=7, color="#08519c")
    ax.set_yticks(y, list(w["name_zh"]), fontsize=8.5)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0f}%"))
    ax.set_xlim(0, max(100.0 if rec.max(initial=0) > 60 else 60.0, float(cur.max(initial=0)) + 8))
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    ax.legend(ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.01), frameon=False, fontsize=8)
    tidy_axes(ax)
    return fig
