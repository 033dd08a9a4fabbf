"""The county report: a Chinese PDF (A4 portrait; maps on A4 landscape pages) built from the GeoPackage.

Cover, contents, summary, data completeness per township, exposure, risk per hazard and township,
prevention zoning, historical losses 1978–2020, the maps, and methods with sources and zoning breaks;
when `census risk dangers` / `census risk history` have run, the chapters 重点隐患评估与整治清单 and
历史灾害评估 with their maps (:mod:`mapping.report_assessment`), otherwise a line in the summary saying
which command adds them.
Blocks are laid out first (:mod:`mapping.pages`) so the contents and the "第 n 页 / 共 N 页" footers
know every page number, then drawn page by page into :class:`matplotlib.backends.backend_pdf.PdfPages`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mapping import fmt, stats, styles
from mapping import report_assessment as ra
from mapping.fonts import use_cjk_font
from mapping.pages import (
    BODY_BOTTOM,
    BODY_TOP,
    BODY_W,
    MARGIN_L,
    PT,
    TEXT_COLOUR,
    Block,
    FigureBlock,
    FullPage,
    Heading,
    Page,
    PageBreak,
    Paragraph,
    Spacer,
    _hline,
    fig_text,
    paginate,
)
from mapping.report_parts import ReportNumbers, level_cell, map_page, save_report_pdf, section, zone_cell
from mapping.source import MapSource, open_source
from mapping.tables import Cell, Column, TableBlock
from mapping.zoning import METHOD_ZH, hazard_disaster_zh

REPORT_TITLE = "自然灾害综合风险评估与区划报告"


@dataclass
class ReportResult:
    path: Path
    pages: int
    maps: int
    tables: int
    seconds: float


_Numbers = ReportNumbers


# ------------------------------------------------------------------------------------------------------
# helpers

_level_cell = level_cell


def _section(ch: int, n: int, text: str) -> Heading:
    return section(n, text)


# ------------------------------------------------------------------------------------------------------
# chapters

def _summary_blocks(src: MapSource, s: stats.Summary, num: _Numbers) -> list[Block]:
    lv = {st.value: st.name_zh for st in styles.risk_level_styles()}
    zones = {z.value: z.name_zh for z in styles.prevention_zone_styles()}
    high_area = (s.level_area_share[1] + s.level_area_share[2]) * 100
    high_pop = (s.level_pop_share[1] + s.level_pop_share[2]) * 100
    top = "、".join(f"{n}（{lv.get(level, '—')}，主导灾种{h}）" for n, level, h in s.top_townships[:3])
    comp = (f"全县普查数据应收记录完成率 {fmt.pct(s.completeness_pct)}，共收到记录 {fmt.num(s.records_received)} 条，"
            f"其中 {fmt.num(s.records_with_issues)} 条仍有待核实的问题。" if s.completeness_pct is not None else "")
    hist = (f"{s.hist_years[0]}—{s.hist_years[1]} 年有记录的年度灾害直接经济损失合计 {fmt.num(s.hist_loss_wan, 1)} 万元。"
            if s.hist_years else "县级数据库中尚无历史灾害年度统计记录。")
    paras = [
        (f"{src.county_name}（行政区划代码 {src.county_code}）辖 {s.townships} 个乡镇（街道）、{fmt.num(s.villages)} 个行政村（社区），"
        f"面积约 {fmt.num(s.area_km2, 0)} 平方千米。本报告依据第一次全国自然灾害综合风险普查县级数据库，以 "
        f"{styles.REFERENCE_DATE_TEXT} 为普查标准时点，汇总普查数据汇交情况、承灾体、单灾种与综合风险评估和区划结果。"),
        (f"{comp}参与风险评估的房屋 {fmt.num(s.buildings)} 栋，建筑面积 {fmt.wan(s.floor_area, 1)} 万平方米，"
        f"估算重置价值 {fmt.yi(s.value_cny)} 亿元，常住人口约 {fmt.num(s.population)} 人。"),
        (f"综合风险评估表明：高和较高风险区面积占全县的 {high_area:.1f}%，区内人口占 {high_pop:.1f}%；"
        f"各类灾害房屋期望年损失合计约 {fmt.money_cny(s.eal_cny)}。综合风险等级最高的乡镇（街道）为：{top or '—'}。"),
        (f"综合防治区划中，{zones['key']}面积占 {s.prevention_area_share['key'] * 100:.1f}%，"
        f"{zones['secondary']}占 {s.prevention_area_share['secondary'] * 100:.1f}%，"
        f"{zones['general']}占 {s.prevention_area_share['general'] * 100:.1f}%。{hist}"),
    ]
    rows = [
        ["乡镇（街道）/ 行政村（社区）", f"{s.townships} / {fmt.num(s.villages)}"],
        ["面积（km²）", fmt.num(s.area_km2, 1)],
        ["房屋（栋）", fmt.num(s.buildings)],
        ["建筑面积（万 m²）", fmt.wan(s.floor_area, 1)],
        ["重置价值（亿元）", fmt.yi(s.value_cny)],
        ["常住人口（人）", fmt.num(s.population)],
        ["期望年损失（万元/年）", fmt.wan(s.eal_cny, 1)],
        ["综合风险高、较高等级面积占比", f"{high_area:.1f}%"],
        ["综合风险高、较高等级人口占比", f"{high_pop:.1f}%"],
        ["普查数据完成率", fmt.pct(s.completeness_pct)],
    ]
    table = TableBlock(num.next_table("主要指标"), (Column("指标", 2.2, "left"), Column("数值", 1.2)), rows,
                       note=f"普查标准时点 {styles.REFERENCE_DATE_TEXT}；重置价值与人口为风险评估所用的估算值。")
    paras += ra.summary_paragraphs(src)
    return [num.chapter("概述"), *[Paragraph(p) for p in paras], Spacer(0.1), table]


def _completeness_blocks(src: MapSource, rows: list[dict], num: _Numbers) -> list[Block]:
    body = []
    for r in rows:
        state = "逾期" if r.get("late") else ("完成" if r.get("complete") else "未完成")
        last = str(r.get("last_package") or "—")[:16].replace("T", " ")  # UTC, to the minute
        body.append([r.get("name") or r["township"], fmt.num(r.get("expected")), fmt.num(r.get("received_expected")),
                     fmt.pct(r.get("percent")), fmt.num(r.get("received")), fmt.num(r.get("valid")),
                     fmt.num(r.get("has_issues")), fmt.num(r.get("conflicts")), last, state])
    exp = sum(int(r.get("expected") or 0) for r in rows)
    got = sum(int(r.get("received_expected") or 0) for r in rows)
    total = ["合计", fmt.num(exp), fmt.num(got), fmt.pct(100.0 * got / exp if exp else None),
             fmt.num(sum(int(r.get("received") or 0) for r in rows)), fmt.num(sum(int(r.get("valid") or 0) for r in rows)),
             fmt.num(sum(int(r.get("has_issues") or 0) for r in rows)),
             fmt.num(sum(int(r.get("conflicts") or 0) for r in rows)), "", ""]
    cols = (Column("乡镇（街道）", 1.3, "left"), Column("应调查", 0.72), Column("已收到（计入）", 0.85),
            Column("完成率", 0.72), Column("收到记录", 0.75), Column("有效", 0.7), Column("有问题", 0.62),
            Column("冲突", 0.5), Column("最后回传（UTC）", 1.75, "center"), Column("状态", 0.55, "center"))
    incomplete = [r.get("name") for r in rows if not r.get("complete")]
    text = (f"截至报告生成时，全县 {len(rows)} 个乡镇（街道）中 {len(rows) - len(incomplete)} 个已完成应调查对象的数据汇交"
            + (f"，尚未完成的有：{'、'.join(incomplete)}。" if incomplete else "。")
            + "“应调查”为调查底图分配的房屋图斑和必填的乡镇、村级表格数量；“有问题”为校验未通过、已反馈乡镇核实的记录。")
    return [num.chapter("普查数据汇交情况"), Paragraph(text, keep_with_next=True),
            TableBlock(num.next_table("各乡镇（街道）普查数据汇交情况"), cols, body, total,
                       note="数据来源：县级普查数据库汇交台账（census county status）。")]


def _exposure_blocks(src: MapSource, tt: pd.DataFrame, num: _Numbers) -> list[Block]:
    rows = []
    for _, r in tt.iterrows():
        rows.append([r["name"], fmt.num(r["area_km2"], 1), fmt.num(r["buildings"]), fmt.wan(r["floor_area"], 1),
                     fmt.yi(r["value_cny"]), fmt.num(r["population"]),
                     fmt.num(r.get("capacity_index"), 2) if "capacity_index" in tt.columns else "—"])
    total = ["合计", fmt.num(tt["area_km2"].sum(), 1), fmt.num(tt["buildings"].sum()), fmt.wan(tt["floor_area"].sum(), 1),
             fmt.yi(tt["value_cny"].sum()), fmt.num(tt["population"].sum()), ""]
    cols = (Column("乡镇（街道）", 1.5, "left"), Column("面积（km²）", 0.9), Column("房屋（栋）", 0.9),
            Column("建筑面积（万 m²）", 1.0), Column("重置价值（亿元）", 1.0), Column("人口（人）", 1.0),
            Column("综合减灾能力指数", 1.0))
    pop_tab = stats.exposure_by_level(src, "population")
    fa_tab = stats.exposure_by_level(src, "floor_area")
    return [num.chapter("承灾体"),
            Paragraph("承灾体统计以县级数据库中农村、城镇房屋调查记录为基础，建筑面积为调查值，重置价值按结构类型、"
                      "城乡和用途的单位造价估算，人口按村（社区）常住人口分配到房屋。综合减灾能力指数取 0—1，越高表示"
                      "乡镇（街道）应对灾害的能力越强。", keep_with_next=True),
            TableBlock(num.next_table("各乡镇（街道）承灾体统计"), cols, rows, total,
                       note="数据来源：农村、城镇房屋调查表，村（社区）人口调查表，乡镇（街道）减灾能力调查表；风险评估结果 risk_townships。"),
            FigureBlock(3.6, lambda ax: _chart_exposure(pop_tab, "人口", ax),
                        num.next_figure("各灾种不同风险等级区域内的人口占比")),
            FigureBlock(3.6, lambda ax: _chart_exposure(fa_tab, "建筑面积", ax),
                        num.next_figure("各灾种不同风险等级区域内的房屋建筑面积占比"))]


def _chart_exposure(tab, measure, ax):
    from mapping.charts import exposure_by_level_chart

    exposure_by_level_chart(tab, measure_zh=measure, ax=ax)


def _risk_blocks(src: MapSource, tt: pd.DataFrame, num: _Numbers) -> list[Block]:
    from risk.registry import get_risk_hazard

    hazards = list(src.assessed_hazards())
    names = stats.hazard_names()
    blocks: list[Block] = [num.chapter("风险评估结果"), _section(4, 1, "各乡镇（街道）分灾种风险等级")]
    cols = (Column("乡镇（街道）", 1.45, "left"), *[Column(names[h], 0.62, "center") for h in hazards],
            Column("综合风险", 0.62, "center"), Column("防治区", 0.7, "center"),
            Column("主导灾种", 0.8, "center"))
    rows = []
    for _, r in tt.iterrows():
        rows.append([r["name"], *[_level_cell(r.get(f"{h}_level")) for h in hazards],
                     _level_cell(r.get("comprehensive_level")), zone_cell(r.get("prevention_zone")),
                     names.get(str(r.get("dominant_hazard")), "—")])
    blocks += [Paragraph("下表给出各乡镇（街道）按乡镇评估单元计算的单灾种风险等级、综合风险等级和综合防治区类型；"
                         "格网尺度的区划结果见“风险区划图”部分。", keep_with_next=True),
               TableBlock(num.next_table("各乡镇（街道）分灾种风险等级"), cols, rows, size=8.0,
                          note="风险等级：高、较高、中、较低、低五级（颜色同区划图）；防治区：重点、次重点、一般防治区。")]

    loss = [h for h in hazards if get_risk_hazard(h).is_loss and f"{h}_loss" in tt.columns]
    if loss:
        lrows = []
        for _, r in tt.iterrows():
            vals = [float(r.get(f"{h}_loss") or 0.0) for h in loss]
            total = sum(vals)
            permille = total / r["value_cny"] * 1000 if r["value_cny"] else np.nan
            lrows.append([r["name"], *[fmt.wan(v, 1) for v in vals], fmt.wan(total, 1), fmt.num(permille, 3)])
        sums = [float(tt[f"{h}_loss"].fillna(0).sum()) for h in loss]
        lt = ["合计", *[fmt.wan(v, 1) for v in sums], fmt.wan(sum(sums), 1),
              fmt.num(sum(sums) / tt["value_cny"].sum() * 1000 if tt["value_cny"].sum() else np.nan, 3)]
        lcols = (Column("乡镇（街道）", 1.45, "left"), *[Column(names[h], 0.9) for h in loss], Column("合计", 0.95),
                 Column("占重置价值（‰/年）", 0.95))
        blocks += [_section(4, 2, "房屋期望年损失"),
                   Paragraph("地震、洪水、风暴潮和大风按损失法评估：致灾强度经易损性曲线得到损失率，乘以房屋重置价值，"
                             "再对年超越概率积分得到期望年损失（单位：万元/年）。", keep_with_next=True),
                   TableBlock(num.next_table("各乡镇（街道）房屋期望年损失（万元/年）"), lcols, lrows, lt,
                              note="期望年损失为多年平均意义上的年损失，不代表某一年的实际损失。")]

    pop = stats.exposure_by_level(src, "population")
    area = stats.exposure_by_level(src, "area_km2")
    lv = styles.risk_level_styles()
    erows = []
    for name in pop.index:
        ptot = pop.loc[name, [s.value for s in lv]].sum() or np.nan
        atot = area.loc[name, [s.value for s in lv]].sum() or np.nan
        erows.append([name, *[f"{fmt.num(area.loc[name, s.value], 0)} ({area.loc[name, s.value] / atot * 100:.0f}%)"
                              for s in lv],
                      *[f"{fmt.num(pop.loc[name, s.value], 0)}" for s in lv[:2]],
                      f"{(pop.loc[name, 1] + pop.loc[name, 2]) / ptot * 100:.1f}%"])
    ecols = (Column("灾种", 0.95, "left"), *[Column(f"{s.name_zh}（km²）", 0.92) for s in lv],
             *[Column(f"{s.name_zh}风险人口", 0.88) for s in lv[:2]], Column("高+较高人口占比", 0.72))
    blocks += [_section(4, 3, "各风险等级区域面积与人口"),
               TableBlock(num.next_table("各风险等级区域面积与人口（格网评估单元）"), ecols, erows, size=7.8,
                          note="面积为格网与县界相交部分，在高斯-克吕格投影下计算；括号内为占全县面积的比例。")]

    zones = styles.prevention_zone_styles()
    zrows = []
    for z in zones:
        members = tt[tt["prevention_zone"].astype(str) == z.value]["name"].tolist()
        zrows.append([Cell(z.name_zh, z.colour), str(len(members)), "、".join(members) or "—"])
    blocks += [_section(4, 4, "综合防治区划"),
               Paragraph(_prevention_rule_text(src), keep_with_next=True),
               _zone_table(num, zones, zrows)]
    return blocks


def _zone_table(num: _Numbers, zones, zrows) -> Block:
    """Zone → its townships; long lists wrap into extra rows so they stay readable."""
    from mapping.cartography import wrap_text

    rows = []
    width_em = BODY_W * 0.72 / (8.5 * PT)
    for zcell, n, members in zrows:
        lines = wrap_text(members, width_em * 0.95, indent="")
        rows.append([zcell, n, lines[0] if lines else "—"])
        rows += [["", "", line] for line in lines[1:]]
    return TableBlock(num.next_table("各综合防治区包含的乡镇（街道）（乡镇评估单元）"),
                      (Column("防治区", 1.2, "center"), Column("乡镇数", 0.6, "center"),
                       Column("乡镇（街道）", 4.4, "left")), rows)


def _prevention_rule_text(src: MapSource) -> str:
    from mapping.zoning import prevention_rule

    rule = prevention_rule(src)
    base = "综合防治区划在综合风险区划基础上，结合单灾种风险等级划分重点防治区、次重点防治区和一般防治区。"
    return base + (f"本次评估采用的规则：{rule}" if rule else "")


def _history_blocks(src: MapSource, num: _Numbers) -> list[Block]:
    by_year = stats.historical_by_year(src)
    totals = stats.historical_totals(src)
    blocks: list[Block] = [num.chapter("历史灾害（1978—2020 年）")]
    if len(by_year):
        blocks.append(Paragraph(
            f"县级数据库收录 {stats.HIST_FIRST_YEAR}—{stats.HIST_LAST_YEAR} 年历史灾害年度统计记录 "
            f"{len(by_year)} 个年份，直接经济损失合计 {fmt.num(by_year.to_numpy().sum(), 1)} 万元（当年价）。"
            "同一年份既有县级又有乡镇级记录时取县级记录，避免重复计算。"))
    else:
        blocks.append(Paragraph("县级数据库中尚无历史灾害年度统计记录（disaster_annual）。"))
    blocks.append(FigureBlock(3.7, lambda ax: _chart_history(by_year, ax),
                              num.next_figure("历年灾害直接经济损失（1978—2020 年，万元，当年价）")))
    if len(totals):
        rows = [[h, fmt.num(r["years"]), fmt.num(r["affected_people"]), fmt.num(r["deaths"]), fmt.num(r["missing"]),
                 fmt.num(r["collapsed_houses"]), fmt.num(r["direct_loss"], 1)] for h, r in totals.iterrows()]
        total = ["合计", "", fmt.num(totals["affected_people"].sum()), fmt.num(totals["deaths"].sum()),
                 fmt.num(totals["missing"].sum()), fmt.num(totals["collapsed_houses"].sum()),
                 fmt.num(totals["direct_loss"].sum(), 1)]
        cols = (Column("灾害种类", 1.6, "left"), Column("有记录年数", 0.9), Column("受灾人口（人次）", 1.1),
                Column("死亡（人）", 0.8), Column("失踪（人）", 0.8), Column("倒塌房屋（间）", 1.0),
                Column("直接经济损失（万元）", 1.2))
        blocks.append(TableBlock(num.next_table("历史灾害分灾种统计（1978—2020 年）"), cols, rows, total,
                                 note="数据来源：历史灾害年度统计调查表（disaster_annual）。"))
    return blocks


def _chart_history(by_year, ax):
    from mapping.charts import historical_losses_chart

    historical_losses_chart(by_year, ax=ax)


def map_jobs(src: MapSource, *, hazard_maps: bool = False) -> list[tuple[str, str, Callable]]:
    """(id, title, draw(ax)) of every map the report can hold, in report order. Ids: comprehensive,
    prevention, the hazard ids, exposure:floor_area, exposure:population, capacity, hazard:LAYER."""
    from mapping.thematic import capacity_map, exposure_map, hazard_map
    from mapping.zoning import prevention_map, zoning_map

    names = stats.hazard_names()
    jobs: list[tuple[str, str, Callable]] = [
        ("comprehensive", "自然灾害综合风险区划图", lambda ax: zoning_map(src, "comprehensive", ax=ax)),
        ("prevention", "自然灾害综合防治区划图", lambda ax: prevention_map(src, ax=ax))]
    for h in src.assessed_hazards():
        jobs.append((h, f"{hazard_disaster_zh(names[h])}风险区划图", lambda ax, h=h: zoning_map(src, h, ax=ax)))
    if len(src.houses):
        jobs.append(("exposure:floor_area", "房屋建筑面积密度图", lambda ax: exposure_map(src, "floor_area", ax=ax)))
    if len(src.village_population):
        jobs.append(("exposure:population", "常住人口密度图", lambda ax: exposure_map(src, "population", ax=ax)))
    cap = "capacity_index" if "capacity_index" in src.risk_townships.columns else "shelter_per_1000"
    jobs.append(("capacity", "综合减灾能力分布图" if cap == "capacity_index" else "每千人避难场所容量分布图",
                 lambda ax: capacity_map(src, cap, ax=ax)))
    if hazard_maps and src.hazards_dir is not None and src.hazards_dir.is_dir():
        from risk.registry import RISK_HAZARDS

        for h in RISK_HAZARDS:
            if (src.hazards_dir / f"{h.intensity_layer}.tif").exists():
                jobs.append((f"hazard:{h.intensity_layer}", f"{h.name_zh}致灾因子分级图",
                             lambda ax, layer=h.intensity_layer: hazard_map(src, layer, ax=ax)))
    return jobs


def _map_blocks(src: MapSource, num: _Numbers, hazard_maps: bool, only: Sequence[str] | None) -> list[Block]:
    jobs = map_jobs(src, hazard_maps=hazard_maps or any(str(m).startswith("hazard:") for m in only or ()))
    if only is not None:
        known = [j[0] for j in jobs] + ra.assessment_map_ids(src)
        unknown = [m for m in only if m not in known]
        if unknown:
            from mapping.errors import MappingError

            raise MappingError(f"报告中没有这些图：{', '.join(unknown)}；可选的有：{', '.join(known)}",
                               f"no such maps for this report: {', '.join(unknown)}; available: {', '.join(known)}")
        jobs = [j for j in jobs if j[0] in set(only)]
    blocks: list[Block] = [num.chapter("风险区划图"),
                           Paragraph("本部分各图采用 2000 国家大地坐标系（CGCS2000），按 A4 横向版式排印；风险等级颜色由高到低"
                                     "依次为红、橙、黄、浅绿、绿。格网区划图以风险评估格网为单元，并按县界裁剪显示。")]
    for _id, title, fn in jobs:
        caption = num.next_figure(f"{src.county_name}{title}")
        blocks.append(FullPage(_map_page(fn, caption), styles.A4_LANDSCAPE, toc_text=caption))
    return blocks


_map_page = map_page


def methods_blocks(src: MapSource, num: _Numbers) -> list[Block]:
    from hazards.registry import get_layer
    from risk.registry import RISK_HAZARDS, comprehensive_weights

    run = src.latest_run
    notes = run.get("notes") if isinstance(run.get("notes"), dict) else {}
    weights = notes.get("weights") or comprehensive_weights()
    assessed = set(src.assessed_hazards())
    blocks: list[Block] = [num.chapter("方法与数据来源"), _section(7, 1, "评估方法"),
                           Paragraph("风险评估以“致灾危险性 × 承灾体暴露 × 脆弱性”为框架，逐栋房屋计算，再汇总到格网和乡镇（街道）。"
                                     "地震、洪水、风暴潮、大风采用损失法（期望年损失），地质灾害、暴雨、干旱、森林草原火灾采用指数法；"
                                     "综合风险指数由各灾种风险指数加权合成，并计入综合减灾能力。各灾种方法与依据如下：")]
    for h in RISK_HAZARDS:
        if assessed and h.id not in assessed:
            continue
        method = "期望年损失法" if h.is_loss else "风险指数法"
        w = weights.get(h.id)
        text = (f"{h.name_zh}：{method}；致灾因子图层 {', '.join(h.layers)}；综合风险权重 "
                f"{fmt.num(w, 3) if w is not None else '—'}。依据：{h.source}")
        if h.curve_source:
            text += f"；危险性曲线：{h.curve_source}"
        blocks.append(Paragraph(text, size=9.0, indent_first=False, colour="#333333", leading=1.5))
    cap = _capacity_formula(notes)
    if cap:
        blocks.append(Paragraph(f"综合减灾能力：{cap}", size=9.0, indent_first=False, colour="#333333", leading=1.5))

    brows, sources = _breaks_rows(src)
    blocks += [_section(7, 2, "风险分级界限"),
               Paragraph("各风险等级由四个分级界限划分（由低到高）：低于第一界限为低风险，不低于第四界限为高风险。"
                         "每次评估的分级方法与界限均记录在县级数据库 risk_breaks 表中，以便复核。", keep_with_next=True),
               TableBlock(num.next_table("风险区划分级界限"), (Column("灾种", 1.1, "left"), Column("评估单元", 1.5, "left"),
                                                            Column("方法", 1.2, "center"), Column("分级界限", 1.6, "center"),
                                                            Column("依据", 0.6, "center")), brows, size=8.0,
                          note="；".join(f"依据{chr(0x2460 + i)}：{t}" for i, t in enumerate(sources)))]
    kv = [["评估编号", str(run.get("run_id", "—"))], ["开始时间", str(run.get("started_at", "—"))],
          ["完成时间", str(run.get("finished_at", "—"))], ["致灾因子目录", str(run.get("hazards_dir", "—"))],
          ["格网大小（米）", fmt.num(run.get("grid_m"))],
          ["分级方法", METHOD_ZH.get(str(run.get("method")), str(run.get("method", "—")))],
          ["计算引擎", str(run.get("engine", "—"))], ["参评房屋（栋）", fmt.num(run.get("buildings"))],
          ["工具版本", str(run.get("toolkit_version", "—"))]]
    costs = _unit_costs(notes)
    if costs:
        kv.append(["单位造价依据", costs])
    for extra in notes.get("notes") or []:
        kv.append(["说明", str(extra)])
    blocks += [_section(7, 3, "评估运行记录"),
               TableBlock(num.next_table("风险评估运行记录（risk_runs）"), (Column("项目", 1.2, "left"),
                                                                      Column("内容", 4.0, "left")), kv, size=8.0)]
    layer_ids = []
    for h in RISK_HAZARDS:
        if not assessed or h.id in assessed:
            layer_ids += [x for x in h.layers if x not in layer_ids]
    blocks.append(_section(7, 4, "致灾因子分级标准"))
    for lid in layer_ids:
        spec = get_layer(lid)
        blocks.append(Paragraph(f"{spec.name_zh}（{lid}，单位 {spec.unit}）：{spec.description_zh}", size=9.0,
                                indent_first=False, colour="#333333", leading=1.5))
    extra = ra.methods_paragraphs(src)
    if extra:
        blocks.append(_section(7, 5, "重点隐患与历史灾害评估方法"))
        blocks += [Paragraph(t, size=9.0, indent_first=False, colour="#333333", leading=1.5) for t in extra]
    blocks += [_section(7, 6 if extra else 5, "数据来源"),
               Paragraph(f"（1）县级普查数据库 {src.db_label}：乡镇（街道）回传的房屋、人口、减灾能力、历史灾害等调查记录，"
                         "经签名校验与合并；（2）致灾因子图层：各行业部门提供的致灾因子栅格（GeoTIFF，CGCS2000）；"
                         "（3）行政区划边界：县级普查数据库的乡镇、村级区划图层；（4）易损性曲线和单位造价：见上文各灾种依据。"
                         "本报告由 census-toolkit 自动生成，所有数字均可由县级数据库复算。", size=9.5)]
    return blocks


def _capacity_formula(notes: dict) -> str:
    """The capacity formula from the run notes (a string, or ``{"capacity": {"formula": …}}``)."""
    if notes.get("capacity_formula"):
        return str(notes["capacity_formula"])
    cap = notes.get("capacity")
    if isinstance(cap, dict) and cap.get("formula"):
        extra = cap.get("indicators", {}).get("normalisation") if isinstance(cap.get("indicators"), dict) else None
        return str(cap["formula"]) + (f"；指标归一化：{extra}" if extra else "")
    return ""


def _unit_costs(notes: dict) -> str:
    uc = notes.get("unit_costs")
    if isinstance(uc, dict):
        return str(uc.get("source_zh") or uc.get("source_en") or "")
    return str(uc or "")


def _breaks_rows(src: MapSource) -> tuple[list[list], list[str]]:
    """risk_breaks grouped: one row per hazard and (method, breaks, source), listing the units it applies to;
    the sources are numbered ①② … and spelled out once under the table."""
    scope_zh = {"buildings": "房屋", "grid": "格网", "townships": "乡镇", "villages": "村"}
    names = {**stats.hazard_names(), "comprehensive": "综合风险"}
    groups: dict[tuple, list[str]] = {}
    sources: list[str] = []
    for _, r in src.risk_breaks.iterrows():
        b = r["breaks"]
        vals = tuple(b) if isinstance(b, (list, tuple)) else tuple(_json_list(b))
        text = str(r.get("source_zh") or r.get("source_en") or "—")
        if text not in sources:
            sources.append(text)
        key = (str(r["hazard"]), str(r["method"]), vals, sources.index(text))
        groups.setdefault(key, []).append(scope_zh.get(str(r["scope"]), str(r["scope"])))
    order = {h: i for i, h in enumerate([*stats.hazard_names(), "comprehensive"])}
    rows = []
    for (hazard, method, vals, si), scopes in sorted(groups.items(), key=lambda kv: order.get(kv[0][0], 99)):
        rows.append([names.get(hazard, hazard), "、".join(scopes), METHOD_ZH.get(method, method),
                     " / ".join(fmt.short(v) for v in vals), chr(0x2460 + si)])
    return rows, sources


def _json_list(b) -> list[float]:
    import json

    try:
        return [float(x) for x in json.loads(b)]
    except (TypeError, ValueError):
        return []


# ------------------------------------------------------------------------------------------------------
# cover, contents, page furniture

def _cover(src: MapSource) -> Callable:
    def draw(fig) -> None:
        from mapping import cartography as carto
        from mapping.compose import context_for

        W, H = fig.get_size_inches()
        fig_text(fig, W / 2, H - 1.6, "第一次全国自然灾害综合风险普查", fontsize=15, ha="center", color="#333333")
        fig_text(fig, W / 2, H - 2.55, src.county_name, fontsize=30, ha="center", color="#111111", gid="cover-title")
        fig_text(fig, W / 2, H - 3.25, REPORT_TITLE, fontsize=22, ha="center", color="#111111")
        fig_text(fig, W / 2, H - 3.8, f"行政区划代码 {src.county_code}", fontsize=11, ha="center", color="#555555")
        ax = fig.add_axes((0.25, 0.28, 0.5, 0.33))
        carto.draw_inset(ax, src.county, context_for(src), src.county_name, src.lat0)
        ax.set_title("")
        for sp in ax.spines.values():
            sp.set_visible(False)
        fig.add_artist(_hline(fig, 1.2, W - 1.2, 2.45, 0.8, "#999999"))
        fig_text(fig, W / 2, 2.05, f"普查标准时点：{styles.REFERENCE_DATE.year} 年 12 月 31 日", fontsize=12, ha="center")
        fig_text(fig, W / 2, 1.65, f"{src.county_name}自然灾害综合风险普查领导小组办公室", fontsize=12, ha="center")
        fig_text(fig, W / 2, 1.25, f"编制日期：{dt.date.today().isoformat()}", fontsize=11, ha="center", color="#555555")
        fig_text(fig, W / 2, 0.75, "本报告由 census-toolkit 根据县级普查数据库自动生成", fontsize=8.5, ha="center",
                 color="#888888")

    return draw


def _toc(entries: list[tuple[int, str, int]]) -> Callable:
    def draw(fig) -> None:
        W, _H = fig.get_size_inches()
        fig_text(fig, W / 2, BODY_TOP - 0.3, "目  录", fontsize=18, ha="center", gid="toc-title")
        y = BODY_TOP - 0.85
        step = min(0.27, (y - BODY_BOTTOM) / max(len(entries), 1))
        size = 10.5 if step >= 0.25 else 9.0
        from mapping.cartography import _em

        for level, text, page in entries:
            x = MARGIN_L + (0.0 if level == 1 else 0.35)
            s = size if level == 1 else size - 1
            fig_text(fig, x, y, text, fontsize=s, ha="left", va="baseline", color=TEXT_COLOUR, gid="toc-entry")
            fig_text(fig, MARGIN_L + BODY_W, y, str(page), fontsize=s, ha="right", va="baseline")
            used = sum(_em(c) for c in text) * s * PT
            x0, x1 = x + used + 0.12, MARGIN_L + BODY_W - 0.32
            if x1 > x0:  # dotted leader to the page number
                fig.add_artist(_hline(fig, x0, x1, y + 0.02, 0.9, "#9a9a9a")).set_linestyle((0, (0.6, 2.4)))
            y -= step

    return draw


def _furniture(fig, src: MapSource, n: int, total: int) -> None:
    W, H = fig.get_size_inches()
    left, right = (MARGIN_L, W - 0.85) if W < H else (0.6, W - 0.6)
    top = H - 0.55
    fig_text(fig, left, top, f"{src.county_name}{REPORT_TITLE}", fontsize=8, ha="left", va="bottom", color="#777777")
    fig_text(fig, right, top, f"普查标准时点 {styles.REFERENCE_DATE_TEXT}", fontsize=8, ha="right", va="bottom",
             color="#777777")
    fig.add_artist(_hline(fig, left, right, top - 0.06, 0.5, "#bbbbbb"))
    fig_text(fig, W / 2, 0.42 if W < H else 0.2, f"第 {n} 页 / 共 {total} 页", fontsize=8.5, ha="center",
             va="baseline", color="#555555", gid="page-number")


# ------------------------------------------------------------------------------------------------------
# assembly

def build_blocks(src: MapSource, *, hazard_maps: bool = False, maps: Sequence[str] | None = None) -> list[Block]:
    from sync.county import county_status

    status = county_status(src.target)
    tt = stats.township_table(src)
    summ = stats.summary(src, status.townships)
    num = _Numbers()
    blocks: list[Block] = []
    blocks += _summary_blocks(src, summ, num)
    blocks += [PageBreak(), *_completeness_blocks(src, status.townships, num)]
    blocks += [PageBreak(), *_exposure_blocks(src, tt, num)]
    blocks += [PageBreak(), *_risk_blocks(src, tt, num)]
    if src.has_dangers():
        blocks += [PageBreak(), *ra.danger_blocks(src, num, with_map=ra.wants_map("dangers", maps))]
    blocks += [PageBreak(), *_history_blocks(src, num)]
    if src.has_history():
        blocks += [PageBreak(), *ra.history_blocks(src, num, with_map=ra.wants_map("history", maps))]
    blocks += _map_blocks(src, num, hazard_maps, maps)
    blocks += [PageBreak(), *methods_blocks(src, num)]
    return blocks


def _toc_entries(pages: list[Page], offset: int) -> list[tuple[int, str, int]]:
    out = []
    for i, p in enumerate(pages):
        for b, _y in p.items:
            if isinstance(b, Heading) and b.toc:
                out.append((b.level, b.text, i + 1 + offset))
        if p.full is not None and p.full.toc_text:
            out.append((2, p.full.toc_text, i + 1 + offset))
    return out


def make_report(gpkg: str | Path | MapSource, out: str | Path, *, hazard_maps: bool = False,
                maps: Sequence[str] | None = None,
                progress: Callable[[int, int], None] | None = None) -> ReportResult:
    """Write the county report PDF to ``out``; raises :class:`RiskOutputsMissing` without risk layers.

    ``hazard_maps`` adds a hazard-intensity map per hazard (needs the hazard GeoTIFFs); ``maps`` keeps
    only the listed map ids (see :func:`map_jobs`), e.g. for a quick draft.
    """
    import time



    t0 = time.perf_counter()
    use_cjk_font()
    src = open_source(gpkg)
    src.require_risk()
    out = Path(out)
    if out.suffix.lower() != ".pdf":
        from mapping.errors import MappingError

        raise MappingError(f"报告只能输出为 PDF：请把 {out.name} 改为以 .pdf 结尾",
                           f"the report is a PDF: name the output file .pdf, not {out.name}")
    blocks = build_blocks(src, hazard_maps=hazard_maps, maps=maps)
    body = paginate(blocks)
    front = 2  # cover + contents
    total = len(body) + front
    entries = _toc_entries(body, front)
    tables = sum(isinstance(b, TableBlock) and not b.continued for p in body for b, _ in p.items)
    maps = sum(1 for p in body if p.full is not None and p.full.toc_text)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"Title": f"{src.county_name}{REPORT_TITLE}", "Author": f"{src.county_name}自然灾害综合风险普查办公室",
            "Subject": f"普查标准时点 {styles.REFERENCE_DATE_TEXT}", "Creator": "census-toolkit"}
    save_report_pdf(out, meta, [_cover(src), _toc(entries)], body,
                    lambda fig, page_no: _furniture(fig, src, page_no, total), progress=progress)
    return ReportResult(out, total, maps, tables, time.perf_counter() - t0)
