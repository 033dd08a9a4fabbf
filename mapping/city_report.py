"""The city report (市级自然灾害综合风险评估与区划报告): a Chinese PDF built from the city GeoPackage.

The city-level counterpart of :mod:`mapping.report`, from the same building blocks: pages and
pagination (:mod:`mapping.pages`), three-line tables (:mod:`mapping.tables`), charts
(:mod:`mapping.charts`), the numbers (:mod:`mapping.stats`, which read a :class:`~mapping.city.CityMapSource`
as they read a county), running numbers, level cells and map pages (:mod:`mapping.report_parts`), and the
county report's contents page, page furniture and methods chapter. Chapters:

1. 概况 — the city, its county-level units (townships, villages, area, buildings, value, people) and each
   county's reporting and approval status from the city's ledger (:func:`sync.city.city_status`);
2. 综合风险评估结果 — levels per county and hazard, township counts per level, expected annual loss
   per county, every township's cells per level and loss, exposure by level (chart);
3. 重点防治区 — prevention-zone areas per county and the townships of the key and secondary zones;
4. 风险区划图 — the whole city zoned: comprehensive (grid and county units), prevention, each hazard;
5. 方法与数据来源 — the county report's methods chapter with the city's sources and aggregation.

Needs ``census city assess`` (``risk_counties`` and the ``risk_*`` layers).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mapping import fmt, stats, styles
from mapping.city import CityMapSource, city_zoning_map, hazard_disaster_zh
from mapping.fonts import use_cjk_font
from mapping.pages import (
    Block,
    FigureBlock,
    FullPage,
    Heading,
    PageBreak,
    Paragraph,
    _hline,
    fig_text,
    paginate,
)
from mapping.report_parts import ReportNumbers, level_cell, map_page, save_report_pdf, section, zone_cell
from mapping.tables import Column, TableBlock

LEVELS = stats.LEVELS
LEVEL_ZH = {s.value: s.name_zh for s in styles.risk_level_styles()}


@dataclass
class CityReportResult:
    path: Path
    pages: int
    maps: int
    tables: int
    seconds: float


# ------------------------------------------------------------------------------------------------------
# numbers

@dataclass(frozen=True)
class CityNumbers:
    """What the chapters need, computed once: per county (risk_counties + division counts + grid shares),
    per township (risk_townships + grid cells per level) and the city summary."""

    counties: pd.DataFrame          # one row per county-level unit, by code
    townships: pd.DataFrame         # one row per township, by county then code
    summary: stats.Summary
    loss_hazards: tuple[str, ...]
    hazards: tuple[str, ...]


class WholeParagraph(Paragraph):
    """A paragraph that moves to the next page whole rather than leave a stub (a chapter's short
    introduction before full-page maps: split, its last lines would sit alone on a page)."""

    def split(self, avail: float, width: float):
        return None, self


def _share(v) -> str:
    """A share (0–1) as a percentage; a small positive share reads "<0.1%", not "0.0%"."""
    if v is None or not np.isfinite(v):
        return "—"
    return "<0.1%" if 0 < v < 0.0005 else fmt.pct(v * 100)


def city_numbers(src: CityMapSource) -> CityNumbers:
    from geodb import layers as L
    from risk.registry import get_risk_hazard

    hazards = src.assessed_hazards()
    loss = tuple(h for h in hazards if get_risk_hazard(h).is_loss and f"{h}_loss" in src.risk_counties.columns)
    rc = pd.DataFrame(src.risk_counties.drop(columns="geometry")).set_index("county_code")
    names = dict(zip(src.counties["code"], src.counties["name"]))
    rc["name"] = [names.get(c) or n for c, n in zip(rc.index, rc["county_name"])]
    rc["eal"] = rc[[f"{h}_loss" for h in loss]].fillna(0).sum(axis=1) if loss else np.nan

    towns = stats.township_table(src)
    towns["county_code"] = towns["township_code"].str[:6]
    towns["eal"] = towns[[f"{h}_loss" for h in loss]].fillna(0).sum(axis=1) if loss else np.nan
    grid = src.risk_grid
    cell_county = grid["township_code"].str[:6].to_numpy()
    comp = grid["comprehensive_level"].fillna(0).astype(int).to_numpy()
    area = stats.cell_area_km2(src)
    pop = pd.to_numeric(grid["population"], errors="coerce").fillna(0).to_numpy()
    cells = pd.crosstab(grid["township_code"].to_numpy(), comp)
    for lvl in LEVELS:
        towns[f"cells_{lvl}"] = towns["township_code"].map(cells[lvl] if lvl in cells.columns else {}).fillna(0)
        towns[f"cells_{lvl}"] = towns[f"cells_{lvl}"].astype(int)
    towns = towns.sort_values(["county_code", "township_code"]).reset_index(drop=True)

    high = np.isin(comp, (1, 2))
    zones = grid["prevention_zone"].astype("string").fillna("").astype(str).to_numpy()
    villages = L.read_dataframe(src.target, "villages", columns=["code"], read_geometry=False)["code"].astype(str)
    for code in rc.index:
        mine = cell_county == code
        a, p = area[mine].sum(), pop[mine].sum()
        rc.loc[code, "high_area_share"] = area[mine & high].sum() / a if a else np.nan
        rc.loc[code, "high_pop_share"] = pop[mine & high].sum() / p if p else np.nan
        for z in styles.PREVENTION_ORDER:
            rc.loc[code, f"zone_{z}_km2"] = area[mine & (zones == z)].sum()
        rc.loc[code, "zoned_km2"] = a
        rc.loc[code, "townships"] = int((towns["county_code"] == code).sum())
        rc.loc[code, "villages"] = int(villages.str.startswith(code).sum())
        for lvl in LEVELS:
            rc.loc[code, f"towns_{lvl}"] = int(((towns["county_code"] == code)
                                                & (towns["comprehensive_level"].fillna(0).astype(int) == lvl)).sum())
    return CityNumbers(rc.sort_index(), towns, stats.summary(src), loss, tuple(hazards))


# ------------------------------------------------------------------------------------------------------
# chapters

def _overview_blocks(src: CityMapSource, n: CityNumbers, status: dict, num: ReportNumbers) -> list[Block]:
    s, rc = n.summary, n.counties
    tot = status.get("totals", {})
    rows_st = status.get("counties", [])
    done = [r for r in rows_st if (r.get("completeness_pct") or 0) >= 100.0]
    names = "、".join(rc["name"])
    paras = [
        (f"{src.county_name}（行政区划代码 {src.county_code}）辖 {len(rc)} 个县级行政区（{names}），"
         f"{s.townships} 个乡镇（街道）、{fmt.num(s.villages)} 个行政村（社区），面积约 {fmt.num(s.area_km2, 0)} 平方千米。"
         f"本报告依据第一次全国自然灾害综合风险普查市级数据库，以 {styles.REFERENCE_DATE_TEXT} 为普查标准时点，汇总各县（市、区）"
         "逐级上报、审核通过的普查数据，在全市一张格网上评估单灾种与综合风险，给出全市风险区划和重点防治区。"),
        (f"市级数据库收到各县审核通过的记录 {fmt.num(tot.get('records_at_city'))} 条（各县审核通过 "
         f"{fmt.num(tot.get('records_approved'))} 条，占各县记录 {fmt.num(tot.get('records_total'))} 条的 "
         f"{fmt.pct(100.0 * (tot.get('records_approved') or 0) / tot['records_total']) if tot.get('records_total') else '—'}），"
         f"接收上报包 {fmt.num(tot.get('packages_accepted'))} 个、拒收 {fmt.num(tot.get('packages_rejected'))} 个；"
         f"{len(done)}/{len(rows_st)} 个县级行政区应调查对象已全部汇交。"
         f"参与风险评估的房屋 {fmt.num(s.buildings)} 栋，建筑面积 {fmt.wan(s.floor_area, 1)} 万平方米，估算重置价值 "
         f"{fmt.yi(s.value_cny)} 亿元，常住人口约 {fmt.num(s.population)} 人。"),
    ]
    body = []
    for code, r in rc.iterrows():
        body.append([r["name"], code, fmt.num(r["townships"]), fmt.num(r["villages"]), fmt.num(r["area_km2"], 0),
                     fmt.num(r["buildings"]), fmt.wan(r["floor_area"], 1), fmt.yi(r["value_cny"]),
                     fmt.num(r["population"])])
    total = ["合计", "", fmt.num(rc["townships"].sum()), fmt.num(rc["villages"].sum()), fmt.num(rc["area_km2"].sum(), 0),
             fmt.num(rc["buildings"].sum()), fmt.wan(rc["floor_area"].sum(), 1), fmt.yi(rc["value_cny"].sum()),
             fmt.num(rc["population"].sum())]
    cols = (Column("县（市、区）", 1.0, "left"), Column("代码", 0.7, "center"), Column("乡镇（街道）", 0.95),
            Column("村（社区）", 0.8), Column("面积（km²）", 0.8), Column("房屋（栋）", 0.75),
            Column("建筑面积（万 m²）", 1.1), Column("重置价值（亿元）", 1.05), Column("人口（人）", 0.85))
    blocks: list[Block] = [num.chapter("概况"), *[Paragraph(p) for p in paras],
                           section(1, "各县（市、区）基本情况"),
                           TableBlock(num.next_table("各县（市、区）基本情况"), cols, body, total,
                                      note="房屋、建筑面积、重置价值与人口为全市风险评估所用的数据（risk_counties）；"
                                           "面积按 CGCS2000 高斯-克吕格投影计算。")]

    srows = []
    for r in rows_st:
        last = (f"第 {r['last_sequence']} 号 {str(r.get('last_received') or '')[:10]}" if r.get("last_sequence")
                else "—")
        srows.append([r.get("name") or r["county"], "是" if r.get("enrolled") else "否", fmt.num(r.get("packages_accepted")),
                      last, fmt.pct(r.get("completeness_pct")),
                      f"{fmt.num(r.get('records_approved'))}/{fmt.num(r.get('records_total'))}",
                      fmt.pct(r.get("approval_pct")), f"{r.get('townships_reporting', 0)}/{r.get('townships_total', 0)}",
                      fmt.num(r.get("records_at_city")), fmt.num(r.get("conflicts_at_city"))])
    stotal = ["合计", "", fmt.num(tot.get("packages_accepted")), "", "",
              f"{fmt.num(tot.get('records_approved'))}/{fmt.num(tot.get('records_total'))}",
              fmt.pct(100.0 * (tot.get("records_approved") or 0) / tot["records_total"]) if tot.get("records_total") else "—",
              f"{sum(r.get('townships_reporting', 0) for r in rows_st)}/{sum(r.get('townships_total', 0) for r in rows_st)}",
              fmt.num(tot.get("records_at_city")), fmt.num(tot.get("conflicts_at_city"))]
    scols = (Column("县（市、区）", 1.0, "left"), Column("已登记", 0.55, "center"), Column("接收上报包", 0.65),
             Column("最后上报", 1.25, "center"), Column("汇交完成度", 0.7), Column("审核通过/记录", 1.15),
             Column("通过率", 0.6), Column("乡镇报送", 0.65), Column("市级记录", 0.7), Column("冲突", 0.45))
    lagging = [r.get("name") for r in rows_st if (r.get("completeness_pct") or 0) < 100.0 or not r.get("enrolled")]
    conflicts = [r.get("name") for r in rows_st if r.get("conflicts_at_city")]
    text = ("“汇交完成度”“审核通过/记录”取自各县最近一次上报包所附的县级台账摘要；“市级记录”为市级数据库现有的审核通过记录，"
            "“冲突”为市级发现、待县级重新审核上报的冲突记录。"
            + (f"尚未完成汇交或未登记的县：{'、'.join(lagging)}。" if lagging else "各县均已登记并完成应调查对象的汇交。")
            + (f"有待解决冲突的县：{'、'.join(conflicts)}。" if conflicts else ""))
    blocks += [section(2, "各县（市、区）普查数据上报与审核情况"), Paragraph(text, keep_with_next=True),
               TableBlock(num.next_table("各县（市、区）普查数据上报与审核情况"), scols, srows, stotal,
                          note="数据来源：市级数据库上报包台账与各县台账摘要（census city status）；日期为 UTC。")]
    return blocks


def _risk_blocks(src: CityMapSource, n: CityNumbers, num: ReportNumbers) -> list[Block]:
    s, rc, tt = n.summary, n.counties, n.townships
    names = stats.hazard_names()
    high_area = (s.level_area_share[1] + s.level_area_share[2]) * 100
    high_pop = (s.level_pop_share[1] + s.level_pop_share[2]) * 100
    top_c = rc.sort_values(["comprehensive_level", "comprehensive_index"], ascending=[True, False])
    c_text = "、".join(f"{r['name']}（{LEVEL_ZH.get(int(r['comprehensive_level']), '—')}，主导灾种"
                      f"{names.get(str(r['dominant_hazard']), '—')}）" for _, r in top_c.head(3).iterrows())
    top_t = tt.sort_values(["comprehensive_level", "comprehensive_index"], ascending=[True, False], kind="stable")
    t_text = "、".join(f"{rc.loc[r['county_code'], 'name'] if r['county_code'] in rc.index else ''}{r['name']}"
                      f"（{LEVEL_ZH.get(int(r['comprehensive_level']), '—')}）" for _, r in top_t.head(3).iterrows())
    intro = (f"全市综合风险评估表明：高和较高风险区面积占全市的 {_share(high_area / 100)}，区内人口占 {_share(high_pop / 100)}；"
             f"各类灾害房屋期望年损失合计约 {fmt.money_cny(s.eal_cny)}。按县级行政区汇总，综合风险等级最高的为{c_text or '—'}；"
             f"乡镇（街道）中最高的为{t_text or '—'}。格网、乡镇和县级行政区三种评估单元的结果均在同一张全市格网上计算，"
             "县级行政区的风险由其房屋的可加量汇总，与乡镇汇总方法相同。")
    blocks: list[Block] = [num.chapter("综合风险评估结果"), Paragraph(intro)]

    hz = n.hazards
    cols = (Column("县（市、区）", 1.1, "left"), *[Column(names[h], 0.6, "center") for h in hz],
            Column("综合风险", 0.65, "center"), Column("防治区", 0.62, "center"), Column("主导灾种", 0.75, "center"))
    rows = [[r["name"], *[level_cell(r.get(f"{h}_level")) for h in hz], level_cell(r.get("comprehensive_level")),
             zone_cell(r.get("prevention_zone")), names.get(str(r.get("dominant_hazard")), "—")]
            for _, r in rc.iterrows()]
    blocks += [section(1, "各县（市、区）分灾种风险等级"),
               Paragraph("下表以县级行政区为评估单元：各灾种风险指数和综合风险指数由县内全部房屋汇总后按全市统一的分级界限分级"
                         "（界限见“方法与数据来源”）。", keep_with_next=True),
               TableBlock(num.next_table("各县（市、区）分灾种风险等级"), cols, rows, size=8.0,
                          note="风险等级：高、较高、中、较低、低五级（颜色同区划图）；防治区：重点、次重点、一般防治区。")]

    lv_cols = tuple(Column(f"{LEVEL_ZH[lvl]}", 0.55) for lvl in LEVELS)
    crow = []
    for _, r in rc.iterrows():
        crow.append([r["name"], *[fmt.num(r[f"towns_{lvl}"]) for lvl in LEVELS], fmt.num(r["townships"]),
                     _share(r["high_area_share"]), _share(r["high_pop_share"]),
                     level_cell(r.get("comprehensive_level"))])
    ctotal = ["全市", *[fmt.num(rc[f"towns_{lvl}"].sum()) for lvl in LEVELS], fmt.num(rc["townships"].sum()),
              _share(high_area / 100), _share(high_pop / 100), ""]
    blocks += [section(2, "各县（市、区）风险等级统计"),
               Paragraph("按乡镇（街道）综合风险等级统计各县各等级的乡镇个数，并给出格网评估中高和较高风险区的面积与人口占比。",
                         keep_with_next=True),
               TableBlock(num.next_table("各县（市、区）乡镇（街道）综合风险等级个数与高风险区占比"),
                          (Column("县（市、区）", 1.1, "left"), *lv_cols, Column("乡镇合计", 0.65),
                           Column("高、较高风险区面积占比", 1.05), Column("高、较高风险区人口占比", 1.05),
                           Column("县级综合风险", 0.8, "center")), crow, ctotal, size=8.0,
                          note="乡镇个数按乡镇评估单元的综合风险等级计；面积与人口占比按格网评估单元计算。"),
               FigureBlock(3.4, lambda ax: _chart_exposure(src, ax),
                           num.next_figure("全市各灾种不同风险等级区域内的人口占比"))]

    if n.loss_hazards:
        loss = n.loss_hazards
        lrows = []
        for _, r in rc.iterrows():
            vals = [float(np.nan_to_num(r.get(f"{h}_loss"))) for h in loss]
            permille = sum(vals) / r["value_cny"] * 1000 if r["value_cny"] else np.nan
            lrows.append([r["name"], *[fmt.wan(v, 1) for v in vals], fmt.wan(sum(vals), 1), fmt.num(permille, 3)])
        sums = [float(rc[f"{h}_loss"].fillna(0).sum()) for h in loss]
        value = float(rc["value_cny"].sum())
        ltotal = ["全市", *[fmt.wan(v, 1) for v in sums], fmt.wan(sum(sums), 1),
                  fmt.num(sum(sums) / value * 1000 if value else np.nan, 3)]
        lcols = (Column("县（市、区）", 1.2, "left"), *[Column(names[h], 0.9) for h in loss], Column("合计", 0.95),
                 Column("占重置价值（‰/年）", 0.95))
        blocks += [section(3, "各县（市、区）房屋期望年损失"),
                   Paragraph("地震、洪水、风暴潮和大风按损失法评估：致灾强度经易损性曲线得到损失率，乘以房屋重置价值，"
                             "再对年超越概率积分得到期望年损失（单位：万元/年）。", keep_with_next=True),
                   TableBlock(num.next_table("各县（市、区）房屋期望年损失（万元/年）"), lcols, lrows, ltotal,
                              note="期望年损失为多年平均意义上的年损失，不代表某一年的实际损失。"),
                   FigureBlock(3.4, lambda ax: county_loss_chart(rc, loss, ax=ax),
                               num.next_figure("各县（市、区）房屋期望年损失构成（万元/年）"))]

    trows = []
    for _, r in tt.iterrows():
        county = rc.loc[r["county_code"], "name"] if r["county_code"] in rc.index else r["county_code"]
        trows.append([county, r["name"], *[fmt.num(r[f"cells_{lvl}"]) for lvl in LEVELS],
                      level_cell(r.get("comprehensive_level")), zone_cell(r.get("prevention_zone")),
                      fmt.wan(r["eal"], 1), names.get(str(r.get("dominant_hazard")), "—")])
    ttotal = ["全市", "", *[fmt.num(tt[f"cells_{lvl}"].sum()) for lvl in LEVELS], "", "", fmt.wan(tt["eal"].sum(), 1), ""]
    grid_txt = _grid_text(src)
    blocks += [section(4 if n.loss_hazards else 3, "各乡镇（街道）综合风险与期望年损失"),
               Paragraph(f"下表列出全市每个乡镇（街道）内各综合风险等级的格网数（{grid_txt}）、乡镇评估单元的综合风险等级与防治区，"
                         "以及房屋期望年损失。", keep_with_next=True),
               TableBlock(num.next_table("各乡镇（街道）综合风险等级格网数与期望年损失"),
                          (Column("县（市、区）", 0.85, "left"), Column("乡镇（街道）", 1.2, "left"),
                           *[Column(f"{LEVEL_ZH[lvl]}", 0.45) for lvl in LEVELS], Column("综合风险", 0.62, "center"),
                           Column("防治区", 0.58, "center"), Column("期望年损失（万元/年）", 0.95),
                           Column("主导灾种", 0.65, "center")), trows, ttotal, size=7.5, row_h=0.215,
                          note="格网数：格网按其所在乡镇计；“高”至“低”为各综合风险等级的格网个数。")]
    return blocks


def _grid_text(src: CityMapSource) -> str:
    g = src.latest_run.get("grid_m")
    try:
        return f"{float(g) / 1000:g} 千米格网"
    except (TypeError, ValueError):
        return "评估格网"


def _chart_exposure(src: CityMapSource, ax) -> None:
    from mapping.charts import exposure_by_level_chart

    exposure_by_level_chart(stats.exposure_by_level(src, "population"), measure_zh="人口", ax=ax)


def county_loss_chart(counties: pd.DataFrame, loss_hazards: Sequence[str], *, ax=None):
    """Horizontal stacked bars: each county's expected annual loss (万元/年) split by loss hazard."""
    from matplotlib.ticker import FuncFormatter

    from mapping.charts import HAZARD_TYPE_COLOURS, chart_axes, tidy_axes

    fig, ax = chart_axes(ax)
    names = stats.hazard_names()
    rows = counties.iloc[::-1]
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    for i, h in enumerate(loss_hazards):
        vals = rows[f"{h}_loss"].fillna(0).to_numpy(dtype=float) / 1e4
        ax.barh(y, vals, left=left, height=0.62, color=HAZARD_TYPE_COLOURS[i % len(HAZARD_TYPE_COLOURS)],
                edgecolor="white", linewidth=0.5, label=names.get(h, h), gid=f"loss-{h}")
        left += vals
    for yy, v in zip(y, left):
        ax.text(v, yy, f" {v:,.1f}", va="center", ha="left", fontsize=7, color="#333333")
    ax.set_yticks(y, list(rows["name"]), fontsize=8.5)
    ax.set_xlim(0, max(float(left.max(initial=0)) * 1.15, 1e-6))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.set_xlabel("期望年损失（万元/年）", fontsize=8.5)
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    ax.legend(ncol=len(loss_hazards), loc="lower center", bbox_to_anchor=(0.5, 1.01), frameon=False, fontsize=8)
    tidy_axes(ax)
    return fig


def _prevention_blocks(src: CityMapSource, n: CityNumbers, num: ReportNumbers) -> list[Block]:
    from mapping.zoning import prevention_rule

    s, rc, tt = n.summary, n.counties, n.townships
    zones = {z.value: z.name_zh for z in styles.prevention_zone_styles()}
    names = stats.hazard_names()
    rule = prevention_rule(src)
    key_counties = [r["name"] for _, r in rc.iterrows() if r["zone_key_km2"] > 0]
    share = s.prevention_area_share
    text = (f"综合防治区划中，{zones['key']}面积占全市的 {_share(share['key'])}，"
            f"{zones['secondary']}占 {_share(share['secondary'])}，{zones['general']}占 {_share(share['general'])}"
            "（按格网评估单元计）。"
            + (f"有{zones['key']}的县级行政区：{'、'.join(key_counties)}。" if key_counties
               else f"全市格网评估中没有划为{zones['key']}的格网。")
            + (f"划分规则：{rule}" if rule else ""))
    rows = []
    for _, r in rc.iterrows():
        a = r["zoned_km2"] or np.nan
        rows.append([r["name"], *[fmt.num(r[f"zone_{z}_km2"], 1) for z in styles.PREVENTION_ORDER],
                     _share(r["zone_key_km2"] / a), _share((r["zone_key_km2"] + r["zone_secondary_km2"]) / a),
                     zone_cell(r.get("prevention_zone"))])
    total_a = rc["zoned_km2"].sum() or np.nan
    total = ["全市", *[fmt.num(rc[f"zone_{z}_km2"].sum(), 1) for z in styles.PREVENTION_ORDER],
             _share(rc["zone_key_km2"].sum() / total_a),
             _share((rc["zone_key_km2"].sum() + rc["zone_secondary_km2"].sum()) / total_a), ""]
    cols = (Column("县（市、区）", 1.1, "left"), *[Column(f"{zones[z]}（km²）", 1.0) for z in styles.PREVENTION_ORDER],
            Column("重点防治区占比", 0.9), Column("重点与次重点占比", 0.95), Column("县级单元防治区", 0.9, "center"))
    blocks: list[Block] = [num.chapter("重点防治区"), Paragraph(text), section(1, "各县（市、区）防治区面积"),
                           TableBlock(num.next_table("各县（市、区）综合防治区面积"), cols, rows, total,
                                      note="面积为格网评估单元按市界裁剪后的面积；“县级单元防治区”为以县级行政区为评估单元的结果。")]

    grid = src.risk_grid
    area = stats.cell_area_km2(src)
    key_area = pd.Series(area[(grid["prevention_zone"].astype("string") == "key").fillna(False).to_numpy()],
                         index=grid["township_code"][(grid["prevention_zone"].astype("string") == "key")
                                                     .fillna(False).to_numpy()]).groupby(level=0).sum()
    pick = tt[tt["prevention_zone"].isin(["key", "secondary"]) | tt["township_code"].isin(key_area.index)].copy()
    order = {"key": 0, "secondary": 1, "general": 2}
    pick["_o"] = pick["prevention_zone"].map(order).fillna(3)
    pick = pick.sort_values(["_o", "comprehensive_index"], ascending=[True, False])
    blocks.append(section(2, "重点与次重点防治区乡镇（街道）"))
    if not len(pick):
        blocks.append(Paragraph(f"全市没有乡镇（街道）划为{zones['key']}或{zones['secondary']}，也没有含{zones['key']}格网的乡镇。"))
        return blocks
    prow = []
    for _, r in pick.iterrows():
        county = rc.loc[r["county_code"], "name"] if r["county_code"] in rc.index else r["county_code"]
        prow.append([county, r["name"], zone_cell(r.get("prevention_zone")), level_cell(r.get("comprehensive_level")),
                     fmt.num(key_area.get(r["township_code"], 0.0), 1), names.get(str(r.get("dominant_hazard")), "—"),
                     fmt.num(r["population"]), fmt.wan(r["eal"], 1)])
    pcols = (Column("县（市、区）", 0.9, "left"), Column("乡镇（街道）", 1.25, "left"), Column("防治区", 0.65, "center"),
             Column("综合风险", 0.65, "center"), Column("重点防治区格网面积（km²）", 1.0), Column("主导灾种", 0.7, "center"),
             Column("人口（人）", 0.8), Column("期望年损失（万元/年）", 0.95))
    blocks += [Paragraph(f"下表列出以乡镇为评估单元划为{zones['key']}、{zones['secondary']}的乡镇（街道），以及含有"
                         f"{zones['key']}格网的乡镇，按防治区类型和综合风险指数排序，是全市防灾减灾工作和隐患排查治理的重点区域。",
                         keep_with_next=True),
               TableBlock(num.next_table("重点与次重点防治区乡镇（街道）"), pcols, prow, size=8.0,
                          note="防治区类型见“风险区划图”中的全市综合防治区划图。")]
    return blocks


def city_map_jobs(src: CityMapSource) -> list[tuple[str, str, Callable]]:
    """(id, title, draw(ax)) of every map of the city report, in report order. Ids: comprehensive,
    comprehensive:counties, prevention, and the assessed hazard ids."""
    names = stats.hazard_names()
    jobs: list[tuple[str, str, Callable]] = [
        ("comprehensive", "自然灾害综合风险区划图（格网）",
         lambda ax: city_zoning_map(src, "comprehensive", unit="grid", ax=ax)),
        ("comprehensive:counties", "自然灾害综合风险区划图（县级行政区）",
         lambda ax: city_zoning_map(src, "comprehensive", unit="counties", ax=ax)),
        ("prevention", "自然灾害综合防治区划图", lambda ax: city_zoning_map(src, "prevention", unit="grid", ax=ax))]
    for h in src.assessed_hazards():
        jobs.append((h, f"{hazard_disaster_zh(names[h])}风险区划图",
                     lambda ax, h=h: city_zoning_map(src, h, unit="grid", ax=ax)))
    return jobs


def _map_blocks(src: CityMapSource, num: ReportNumbers, only: Sequence[str] | None) -> list[Block]:
    from mapping.errors import MappingError

    jobs = city_map_jobs(src)
    if only is not None:
        unknown = [m for m in only if m not in {j[0] for j in jobs}]
        if unknown:
            raise MappingError(f"报告中没有这些图：{', '.join(unknown)}；可选的有：{', '.join(j[0] for j in jobs)}",
                               f"no such maps in the city report: {', '.join(unknown)}; "
                               f"available: {', '.join(j[0] for j in jobs)}")
        jobs = [j for j in jobs if j[0] in set(only)]
    blocks: list[Block] = [num.chapter("风险区划图"),
                           WholeParagraph("本部分各图为全市区划图，采用 2000 国家大地坐标系（CGCS2000），按 A4 横向版式排印；风险等级颜色由高到低"
                                     "依次为红、橙、黄、浅绿、绿，防治区由深到浅依次为重点、次重点、一般防治区。格网区划图以全市统一的风险评估格网"
                                     "为单元，按市界裁剪显示；图中粗线为县界，图侧列出各县（市、区）以县级行政区为单元的等级。")]
    for _id, title, fn in jobs:
        caption = num.next_figure(f"{src.county_name}{title}")
        blocks.append(FullPage(map_page(fn, caption), styles.A4_LANDSCAPE, toc_text=caption))
    return blocks


def _methods_blocks(src: CityMapSource, num: ReportNumbers) -> list[Block]:
    """The county report's methods chapter, said of the city database, with the city's aggregation and
    sources in place of the county's data-source section (its last heading and paragraph)."""
    from mapping import report

    blocks = report.methods_blocks(src, num)
    last = max(i for i, b in enumerate(blocks) if isinstance(b, Heading))
    blocks = blocks[:last]
    for b in blocks:
        if isinstance(b, Paragraph):
            b.text = b.text.replace("县级数据库", "市级数据库")
        elif isinstance(b, TableBlock):   # the breaks table names scopes in Chinese; add the county unit's
            b.rows = [[c.replace("counties", "县级行政区") if isinstance(c, str) else c for c in row] for row in b.rows]
    n_sections = sum(isinstance(b, Heading) and b.level == 2 for b in blocks)
    run = src.latest_run
    small = {"size": 9.5}
    blocks += [section(n_sections + 1, "全市评估与县级汇总"),
               Paragraph("全市在一张高斯-克吕格格网上评估：市级数据库与县级数据库图层结构相同，风险评估直接在市级数据库上运行，"
                         "格网跨越县界连续划分，房屋、格网、乡镇（街道）的结果与县级评估方法一致。县级行政区作为第三种评估单元，"
                         "其期望年损失、暴露量等可加量由 risk_buildings 中各房屋的结果精确汇总；指数法灾种的“危险性×脆弱性”由房屋指数反算"
                         "（房屋指数 = ∛(HV·LCC)，故 HV = 指数³/LCC），再按乡镇同样的方法分级，分级界限以评估单元“县级行政区”记入 "
                         "risk_breaks 表。", **small),
               section(n_sections + 2, "数据来源"),
               Paragraph(f"（1）市级普查数据库 {src.db_label}：各县（市、区）普查办审核通过后逐级上报的记录（签名上报包，市级核验签名、"
                         "管辖与哈希后导入，只含审核通过的当前版本），以及市界、县级行政区、乡镇、村级区划图层；"
                         f"（2）致灾因子图层：各县致灾因子栅格按县界拼接的全市图层（{run.get('hazards_dir') or '—'}；取最细像元、"
                         "最近邻放置、不插值，像元归属其中心所在的县）；（3）上报与审核情况：市级上报包台账及各县上报包所附县级台账摘要；"
                         "（4）易损性曲线和单位造价：见上文各灾种依据。本报告由 census-toolkit 自动生成，所有数字均可由市级数据库复算。",
                         **small)]
    return blocks


# ------------------------------------------------------------------------------------------------------
# cover and assembly

def _cover(src: CityMapSource, counties: pd.DataFrame) -> Callable:
    def draw(fig) -> None:
        import shapely

        from mapping import cartography as carto
        from mapping.labels import place_labels

        W, H = fig.get_size_inches()
        fig_text(fig, W / 2, H - 1.6, "第一次全国自然灾害综合风险普查", fontsize=15, ha="center", color="#333333")
        fig_text(fig, W / 2, H - 2.55, src.county_name, fontsize=30, ha="center", color="#111111", gid="cover-title")
        from mapping.report import REPORT_TITLE

        fig_text(fig, W / 2, H - 3.25, REPORT_TITLE, fontsize=22, ha="center", color="#111111")
        fig_text(fig, W / 2, H - 3.8, f"行政区划代码 {src.county_code} · 辖 {len(counties)} 个县级行政区", fontsize=11,
                 ha="center", color="#555555")
        ax = fig.add_axes((0.2, 0.27, 0.6, 0.36))
        ax.set_axis_off()
        carto.set_map_extent(ax, src.county.bounds, src.lat0, margin=0.04)
        if src.sea is not None:
            x0, x1 = ax.get_xlim()
            y0, y1 = ax.get_ylim()
            carto.draw_polygons(ax, [shapely.intersection(src.sea, shapely.box(x0, y0, x1, y1))], styles.SEA_FILL,
                                zorder=0.5)
        carto.draw_polygons(ax, src.counties.geometry, "#ececec", zorder=1, gid="cover-counties")
        carto.draw_lines(ax, src.counties.geometry, styles.LineStyle("#7f7f7f", 0.6), zorder=2)
        carto.draw_lines(ax, [src.county], styles.LineStyle("#333333", 1.2), zorder=3)
        items = [(c, nm, g) for c, nm, g in zip(src.counties["code"], src.counties["name"], src.counties.geometry)]
        place_labels(ax, items, lat0=src.lat0, fontsize=9.5, text_kw={"color": "#333333", "zorder": 5},
                     gid="cover-county-label")
        fig.add_artist(_hline(fig, 1.2, W - 1.2, 2.45, 0.8, "#999999"))
        fig_text(fig, W / 2, 2.05, f"普查标准时点：{styles.REFERENCE_DATE.year} 年 12 月 31 日", fontsize=12, ha="center")
        fig_text(fig, W / 2, 1.65, f"{src.county_name}自然灾害综合风险普查领导小组办公室", fontsize=12, ha="center")
        fig_text(fig, W / 2, 1.25, f"编制日期：{dt.date.today().isoformat()}", fontsize=11, ha="center", color="#555555")
        fig_text(fig, W / 2, 0.75, "本报告由 census-toolkit 根据市级普查数据库自动生成", fontsize=8.5, ha="center",
                 color="#888888")

    return draw


def build_city_blocks(src: CityMapSource, *, maps: Sequence[str] | None = None) -> tuple[list[Block], CityNumbers]:
    from sync.city import city_status

    n = city_numbers(src)
    status = city_status(src.target)
    num = ReportNumbers()
    blocks: list[Block] = [*_overview_blocks(src, n, status, num)]
    blocks += [PageBreak(), *_risk_blocks(src, n, num)]
    blocks += [PageBreak(), *_prevention_blocks(src, n, num)]
    blocks += _map_blocks(src, num, maps)
    blocks += [PageBreak(), *_methods_blocks(src, num)]
    return blocks, n


def make_city_report(gpkg: str | Path | CityMapSource, out: str | Path, *, maps: Sequence[str] | None = None,
                     progress: Callable[[int, int], None] | None = None) -> CityReportResult:
    """Write the city report PDF to ``out`` (module doc). ``maps`` keeps only the listed map ids
    (:func:`city_map_jobs`), e.g. for a quick draft. Needs ``census city assess``."""

    from mapping.errors import MappingError
    from mapping.report import REPORT_TITLE, _furniture, _toc, _toc_entries

    t0 = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() != ".pdf":
        raise MappingError(f"报告只能输出为 PDF：请把 {out.name} 改为以 .pdf 结尾",
                           f"the report is a PDF: name the output file .pdf, not {out.name}")
    use_cjk_font()
    src = gpkg if isinstance(gpkg, CityMapSource) else CityMapSource(gpkg)
    src.require_risk(src_layers())
    blocks, n = build_city_blocks(src, maps=maps)
    body = paginate(blocks)
    front = 2   # cover + contents
    total = len(body) + front
    entries = _toc_entries(body, front)
    tables = sum(isinstance(b, TableBlock) and not b.continued for p in body for b, _ in p.items)
    n_maps = sum(1 for p in body if p.full is not None and p.full.toc_text)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"Title": f"{src.county_name}{REPORT_TITLE}", "Author": f"{src.county_name}自然灾害综合风险普查办公室",
            "Subject": f"普查标准时点 {styles.REFERENCE_DATE_TEXT}", "Creator": "census-toolkit"}
    save_report_pdf(out, meta, [_cover(src, n.counties), _toc(entries)], body,
                    lambda fig, page_no: _furniture(fig, src, page_no, total), progress=progress)
    return CityReportResult(out, total, n_maps, tables, time.perf_counter() - t0)


def src_layers() -> tuple[str, ...]:
    """Layers the city report needs: the risk layers and the county aggregation of ``census city assess``."""
    from mapping.source import RISK_LAYERS
    from risk.city import COUNTY_LAYER

    return (*RISK_LAYERS, COUNTY_LAYER)


__all__ = ["CityNumbers", "CityReportResult", "build_city_blocks", "city_map_jobs", "city_numbers",
           "county_loss_chart", "make_city_report"]
