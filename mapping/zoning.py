"""Risk zoning maps from the ``risk_*`` layers: per hazard, comprehensive, and prevention zoning.

Zoning units are the assessment grid (``risk_grid``, default) or townships (``risk_townships``). Grid
cells are clipped to the county outline on the map (the layer keeps whole cells). Level 0 (no data)
is drawn grey and gets a legend entry only when present.
"""

from __future__ import annotations

import math
from pathlib import Path

from mapping import fmt, styles
from mapping.compose import MapSpec, compose
from mapping.errors import MappingError
from mapping.source import SPECIAL_MAPS, MapSource, open_source

UNITS = ("grid", "townships")
_UNIT_ZH = {"grid": "格网", "townships": "乡镇（街道）"}
METHOD_ZH = {"fixed": "固定阈值法", "fixed_thresholds": "固定阈值法", "fisher_jenks": "自然断点法（Fisher–Jenks）",
              "natural_breaks": "自然断点法（Fisher–Jenks）", "quantiles": "分位数法"}


def hazard_title(hazard: str) -> tuple[str, str]:
    """(zh, en) name of a zoning subject: a risk hazard id or 'comprehensive'."""
    if hazard == "comprehensive":
        return "自然灾害综合", "comprehensive"
    from risk.registry import get_risk_hazard

    h = get_risk_hazard(hazard)
    return h.name_zh, h.name_en


def hazard_disaster_zh(name_zh: str) -> str:
    """"洪水" → "洪水灾害", but "地质灾害" and "森林草原火灾" stay as they are (no "地质灾害灾害")."""
    return name_zh if name_zh.endswith(("灾害", "火灾")) else f"{name_zh}灾害"


def check_map_subject(hazard: str) -> None:
    """Raise a clear error for an unknown ``--hazard`` value (lists the valid ones)."""
    from risk.registry import RISK_HAZARD_IDS

    if hazard not in RISK_HAZARD_IDS and hazard not in SPECIAL_MAPS:
        valid = ", ".join((*RISK_HAZARD_IDS, *SPECIAL_MAPS))
        raise MappingError(f"未知的区划图类型“{hazard}”；可用的有：{valid}",
                           f"unknown zoning map '{hazard}'; valid values: {valid}")


def _frame(src: MapSource, unit: str):
    if unit not in UNITS:
        raise MappingError(f"未知的评估单元“{unit}”，可用 grid 或 townships",
                           f"unknown zoning unit '{unit}'; use grid or townships")
    frame = src.risk_grid if unit == "grid" else src.risk_townships
    if unit == "grid" and not len(frame):
        frame = src.risk_townships
        unit = "townships"
    return frame, unit


def _grid_cell_km(src: MapSource) -> str:
    g = src.latest_run.get("grid_m")
    try:
        return f"{float(g) / 1000:g} 千米格网"
    except (TypeError, ValueError):
        return "格网"


def _run_note(src: MapSource) -> str:
    run = src.latest_run
    when = str(run.get("finished_at") or run.get("started_at") or "")[:10]
    return f"风险评估：census risk assess {str(run.get('run_id', ''))[:8]}（{when}）"


def _level_labels(src: MapSource, hazard: str, scope: str) -> tuple[tuple[str, ...], str]:
    """Legend texts ``高风险区（≥0.8）`` … and a note on how the breaks were made."""
    names = [f"{s.name_zh}风险区" for s in styles.risk_level_styles()]
    b = src.breaks_for(hazard, "grid" if scope == "grid" else "townships")
    if not b or len(b["breaks"]) != 4:
        return tuple(names), "分级方法：见 risk_breaks 表"
    rc = b.get("right_closed")   # optional column: an edge value belongs to the lower class
    closed = rc is not None and not (isinstance(rc, float) and math.isnan(rc)) and bool(rc)
    ranges = fmt.range_labels(b["breaks"], right_closed=closed)[::-1]       # level 1 = highest values first
    method = METHOD_ZH.get(str(b.get("method")), str(b.get("method")))
    note = f"分级方法：{method}，分级界限 {' / '.join(fmt.short(x) for x in b['breaks'])}（风险指数）"
    return tuple(f"{n}（{r}）" for n, r in zip(names, ranges)), note


def _levels_draw(src: MapSource, frame, column: str, unit: str):
    levels = frame[column].fillna(0).astype(int).to_numpy()
    colours = {s.value: s.colour for s in styles.risk_level_styles()}
    fc = [colours.get(int(v), styles.NODATA_STYLE.colour) for v in levels]

    def draw(ax):
        from mapping import cartography as carto

        carto.draw_polygons(ax, frame.geometry, fc, edgecolor="face", linewidth=0.3, zorder=2, gid=f"zoning-{unit}",
                            clip=src.county)

    return levels, draw


def zoning_map(gpkg: str | Path | MapSource, hazard: str = "comprehensive", *, unit: str = "grid", ax=None):
    """Five-level risk zoning map of one hazard (a risk hazard id) or of comprehensive risk."""
    check_map_subject(hazard)
    if hazard == "prevention":
        return prevention_map(gpkg, unit=unit, ax=ax)
    src = open_source(gpkg)
    src.require_risk()
    frame, unit = _frame(src, unit)
    column = "comprehensive_level" if hazard == "comprehensive" else f"{hazard}_level"
    if column not in frame.columns:
        src.require_column("risk_grid" if unit == "grid" else "risk_townships", column)
    zh, _en = hazard_title(hazard)
    levels, draw = _levels_draw(src, frame, column, unit)
    labels, method_note = _level_labels(src, hazard, unit)
    entries = styles.risk_level_styles()
    if (levels == 0).any():
        entries = (*entries, styles.NODATA_STYLE)
        labels = (*labels, styles.NODATA_STYLE.name_zh)
    unit_txt = _grid_cell_km(src) if unit == "grid" else "乡镇（街道）"
    what = "综合风险指数" if hazard == "comprehensive" else f"{zh}风险"
    spec = MapSpec(
        title=f"{src.county_name}{zh if hazard == 'comprehensive' else hazard_disaster_zh(zh)}风险区划图",
        subtitle=f"{src.county_name}（{src.county_code}） · {what}五级区划 · 评估单元：{unit_txt} · "
                 f"普查标准时点 {styles.REFERENCE_DATE_TEXT}",
        legend_title="风险等级", entries=entries, labels=labels,
        notes=(method_note, _run_note(src)), kind=f"zoning:{hazard}")
    return compose(src, spec, draw, ax=ax)


def prevention_map(gpkg: str | Path | MapSource, *, unit: str = "grid", ax=None):
    """Comprehensive prevention zoning (综合防治区划): key / secondary / general zones."""
    src = open_source(gpkg)
    src.require_risk()
    frame, unit = _frame(src, unit)
    if "prevention_zone" not in frame.columns:
        src.require_column("risk_grid" if unit == "grid" else "risk_townships", "prevention_zone")
    zones = styles.prevention_zone_styles()
    colours = {z.value: z.colour for z in zones}
    codes = frame["prevention_zone"].astype("string").fillna("")
    fc = [colours.get(str(c), styles.NODATA_STYLE.colour) for c in codes]
    entries = zones
    if (~codes.isin(list(colours))).any():
        entries = (*zones, styles.NODATA_STYLE)

    def draw(ax):
        from mapping import cartography as carto

        carto.draw_polygons(ax, frame.geometry, fc, edgecolor="face", linewidth=0.3, zorder=2, gid=f"prevention-{unit}",
                            clip=src.county)

    rule = prevention_rule(src)
    unit_txt = _grid_cell_km(src) if unit == "grid" else "乡镇（街道）"
    spec = MapSpec(
        title=f"{src.county_name}自然灾害综合防治区划图",
        subtitle=f"{src.county_name}（{src.county_code}） · 重点、次重点、一般防治区 · 评估单元：{unit_txt} · "
                 f"普查标准时点 {styles.REFERENCE_DATE_TEXT}",
        legend_title="防治区类型", entries=entries,
        notes=((f"划分规则：{rule}" if rule else "划分规则：由综合风险等级与单灾种风险等级确定（见报告方法部分）"),
               _run_note(src)),
        kind="prevention")
    return compose(src, spec, draw, ax=ax)


def prevention_rule(src: MapSource) -> str | None:
    """The prevention-zoning rule in words: from the run's notes, else from the risk package, else None."""
    notes = src.latest_run.get("notes")
    if isinstance(notes, dict) and notes.get("prevention_rule"):
        return str(notes["prevention_rule"])
    from risk import zoning as risk_zoning

    return getattr(risk_zoning, "PREVENTION_RULE_ZH", None)
