"""Report chapters for the assessments of ``census risk dangers`` and ``census risk history``.

- 重点隐患评估与整治清单: summary figures, the county's top 20 of the remediation list (整治清单) with the
  reason for each rank, the townships in order of urgency, and the hidden-danger map;
- 历史灾害评估: trends per hazard type (Mann–Kendall p, Theil–Sen slope), loss shares offered as weights,
  the largest events (table and map), and modelled expected losses against the record per township with
  the flagged townships highlighted.

Each chapter appears only when its layers exist; :func:`summary_paragraphs` says in the report's summary
what was found, or which command would add the chapter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mapping import fmt, styles
from mapping.pages import Block, FigureBlock, FullPage, Paragraph
from mapping.report_parts import ReportNumbers, level_cell, map_page, section
from mapping.source import MapSource
from mapping.tables import Cell, Column, TableBlock

TOP_N = 20
# short remediation words for table cells (risk.threat_zones.REMEDIATION_ZH has the full ones)
REMEDIATION_SHORT = {"untreated": "未治理", "monitored": "仅监测", "in_progress": "治理中", "treated": "已治理"}
# short kind words for table cells (risk.threat_zones.KIND_ZH has the full ones)
KIND_SHORT = {"landslide": "滑坡", "collapse": "崩塌", "debris_flow": "泥石流", "subsidence": "地面塌陷",
              "chemical": "危化品", "dyke_weak_section": "堤防险段", "reservoir": "病险水库", "dangerous_house": "危房",
              "crowded_place": "密集场所", "forest_fire": "森林火灾", "other": "其他"}
# light fills for table cells: flagged comparisons by direction, significant trends by sign
FLAG_FILL = {"model_high": "#e3d7ef", "record_high": "#cde8e4"}
TREND_FILL = {"increasing": "#f7d4cc", "decreasing": "#d5ead3"}
FLAGGED_NAME_FILL = "#f4cccc"
P_FORMAT = "{:.3f}"


def _p(v) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(x):
        return "—"
    return "<0.001" if x < 0.001 else P_FORMAT.format(x)


def _p_is(v) -> str:
    """"p = 0.028" or "p < 0.001"."""
    text = _p(v)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def _signed(x) -> str:
    return "0" if x == 0 else f"{x:+.3g}"


def _wan_year(v) -> str:
    """CNY per year in 万元 for the comparison table: dash for missing, '<0.1' for crumbs."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(x):
        return "—"
    if x == 0:
        return "0"
    return "<0.1" if abs(x) < 1e3 else fmt.num(x / 1e4, 1)


# ------------------------------------------------------------------------------------------------------
# hidden dangers

def _kind_zh(kind: str) -> str:
    from risk.threat_zones import KIND_ZH

    return KIND_ZH.get(str(kind), str(kind))


def short_reason(row) -> str:
    """The rank's reason without what the table's own columns already say (the threatened people and
    buildings, the remediation status)."""
    from risk.threat_zones import REMEDIATION_ZH

    parts = [p for p in str(row.get("reason_zh") or "").split("；") if p]
    rem = REMEDIATION_ZH.get(str(row.get("remediation")), None)
    out = []
    for i, p in enumerate(parts):
        if i == 0 and p.startswith("威胁"):
            continue
        if rem and p == rem:
            continue
        out.append(p)
    return "；".join(out) or "—"


def _priority_cell(row) -> Cell:
    from mapping.dangers import priority_style

    p = int(row["priority"])
    word = {1: "一级", 2: "二级", 3: "三级"}.get(p, str(p))
    return Cell(f"{word} {float(row['score']):.1f}", priority_style(p).colour)


def _score_level(row) -> int:
    """The level the score used: the more severe of the site's and the zone's (docs §1.4)."""
    site, zone = int(row.get("level") or 0), int(row.get("zone_level") or 0)
    if zone > 0 and (site == 0 or zone < site):
        return zone
    return site


def danger_facts(src: MapSource) -> dict:
    """The chapter's figures (also used by the summary)."""
    from mapping.dangers import distinct_people

    s = src.danger_sites
    people, exact = distinct_people(src)
    pr = s["priority"].astype(int)
    p1 = s[pr == 1]
    untreated1 = p1[p1["remediation"].astype(str) == "untreated"]
    by_town = p1.groupby("township_name").size().sort_values(ascending=False)
    untreated_by_town = untreated1.groupby("township_name").size().sort_values(ascending=False)
    check = s["reason_zh"].astype(str).str.contains("需现场核实")
    return {"sites": len(s), "p1": int((pr == 1).sum()), "p2": int((pr == 2).sum()), "p3": int((pr == 3).sum()),
            "people": people, "exact": exact, "schools": int(s["schools"].sum()), "hospitals": int(s["hospitals"].sum()),
            "welfare": int(s["welfare_homes"].sum()), "untreated_p1": len(untreated1),
            "p1_townships": [(str(n), int(c)) for n, c in by_town.items()], "to_check": int(check.sum()),
            "untreated_p1_townships": [(str(n), int(c)) for n, c in untreated_by_town.items()],
            "top": s.iloc[0].to_dict() if len(s) else None,
            "risk_levels": bool((s["level_kind"].astype(str) == "risk").any())}


def _kind_table(src: MapSource, num: ReportNumbers) -> TableBlock:
    s = src.danger_sites.copy()
    s["kind_zh"] = [_kind_zh(k) for k in s["kind"]]
    rows = []
    for kind, g in sorted(s.groupby("kind_zh"), key=lambda kv: (-len(kv[1]), kv[0])):
        pr = g["priority"].astype(int)
        rows.append([kind, fmt.num(len(g)), fmt.num((pr == 1).sum()), fmt.num((pr == 2).sum()), fmt.num((pr == 3).sum()),
                     fmt.num((g["remediation"].astype(str) == "untreated").sum()), fmt.num(g["people"].sum()),
                     fmt.num(g["schools"].sum()), fmt.num(g["hospitals"].sum())])
    pr = s["priority"].astype(int)
    total = ["合计", fmt.num(len(s)), fmt.num((pr == 1).sum()), fmt.num((pr == 2).sum()), fmt.num((pr == 3).sum()),
             fmt.num((s["remediation"].astype(str) == "untreated").sum()), fmt.num(s["people"].sum()),
             fmt.num(s["schools"].sum()), fmt.num(s["hospitals"].sum())]
    cols = (Column("隐患类型", 1.5, "left"), Column("处数", 0.55), Column("一级", 0.55), Column("二级", 0.55),
            Column("三级", 0.55), Column("未治理", 0.6), Column("威胁人数", 0.85), Column("学校/幼儿园", 0.75),
            Column("医院/卫生院", 0.75))
    return TableBlock(num.next_table("重点隐患分类型统计"), cols, rows, total,
                      note="威胁人数按各隐患分别统计后相加，威胁范围重叠处重复计算；学校、医院为威胁范围内的所数。")


def _top_table(src: MapSource, num: ReportNumbers, n: int = TOP_N) -> TableBlock:
    s = src.danger_sites.head(n)
    kind_word = "风险" if (s["level_kind"].astype(str) == "risk").any() else "危险性"
    rows = []
    for r in s.to_dict("records"):
        rows.append([str(int(r["rank_county"])), r["township_name"], str(r["name"]),
                     KIND_SHORT.get(str(r["kind"]), _kind_zh(r["kind"])),
                     fmt.num(r["people"]), fmt.num(r["schools"]), fmt.num(r["hospitals"]), fmt.num(r["welfare_homes"]),
                     level_cell(_score_level(r)), REMEDIATION_SHORT.get(str(r["remediation"]), str(r["remediation"])),
                     _priority_cell(r), short_reason(r)])
    cols = (Column("排序", 0.36, "center"), Column("乡镇（街道）", 0.75, "left"), Column("隐患点", 0.95, "left"),
            Column("类型", 0.62, "center"), Column("威胁人数", 0.55), Column("学校", 0.4), Column("医院", 0.4),
            Column("养老院", 0.45), Column(f"{kind_word}等级", 0.45, "center"), Column("治理状态", 0.5, "center"),
            Column("优先级 得分", 0.66, "center"), Column("排序理由（人数、治理状态见左列）", 2.0, "left"))
    return TableBlock(num.next_table(f"全县重点隐患整治清单（前 {len(s)} 位）"), cols, rows, size=7.6,
                      note=f"{kind_word}等级取隐患点所在位置与威胁范围所及的较高等级；学校含幼儿园，医院含卫生院（室）；"
                           "优先级：一级（≥60 分）优先排查治理，二级（40—60 分）限期排查，三级（<40 分）常规巡查。"
                           "完整清单及各乡镇排序见 census risk dangers 输出的电子表格。")


def _township_table(src: MapSource, num: ReportNumbers) -> TableBlock:
    s = src.danger_sites
    rows = []
    stats = []
    for code, g in s.groupby("township_code"):
        pr = g["priority"].astype(int)
        first = g.sort_values("rank_county").iloc[0]
        open1 = int(((pr == 1) & (g["remediation"].astype(str) == "untreated")).sum())
        stats.append((open1, int((pr == 1).sum()), float(g["score"].max()), code, g, first))
    # untreated priority-1 sites first (where a team is needed), then priority-1 sites, then the best score
    for _open1, n1, _best, _code, g, first in sorted(stats, key=lambda t: (-t[0], -t[1], -t[2], t[3])):
        pr = g["priority"].astype(int)
        name = str(first["township_name"])
        rows.append([Cell(name, FLAGGED_NAME_FILL) if n1 else name, fmt.num(len(g)), fmt.num(n1),
                     fmt.num((pr == 2).sum()), fmt.num((pr == 3).sum()),
                     fmt.num(((pr == 1) & (g["remediation"].astype(str) == "untreated")).sum()), fmt.num(g["people"].sum()),
                     f"{int(first['rank_county'])}. {first['name']}（{float(first['score']):.1f} 分）"])
    cols = (Column("乡镇（街道）", 1.0, "left"), Column("隐患", 0.48), Column("一级", 0.48), Column("二级", 0.48),
            Column("三级", 0.48), Column("一级未治理", 0.7), Column("威胁人数", 0.8), Column("首要隐患（全县排序）", 2.3, "left"))
    return TableBlock(num.next_table("各乡镇（街道）重点隐患与整治优先级"), cols, rows,
                      note="按未治理的一级隐患数、一级隐患数、最高得分排列；有一级隐患的乡镇（街道）名称以浅红色标出，"
                           "为下一轮排查的首选。")


def _dispatch_text(f: dict) -> str:
    """Where the next inspection teams should go first: the untreated priority-1 sites, by township."""
    towns = f["untreated_p1_townships"]
    if f["untreated_p1"]:
        where = "、".join(f"{n}（{c} 处）" for n, c in towns[:6]) + (f"等 {len(towns)} 个乡镇（街道）" if len(towns) > 6 else "")
        text = (f"建议下一轮排查首先覆盖尚未治理的一级隐患 {f['untreated_p1']} 处，分布在{where}；"
                "其余一级隐患已在治理或监测中，应核实工程和监测措施是否有效。")
    elif f["p1"]:
        text = "一级隐患均已在治理或监测中，下一轮排查以核实治理进度和监测措施为主。"
    else:
        text = "没有一级隐患，二级隐患宜在汛期前完成排查。"
    if f["to_check"]:
        text += f"另有 {f['to_check']} 处上报威胁人数与估算相差 3 倍以上（排序理由注明“需现场核实”），宜随排查一并核实。"
    return text


def danger_blocks(src: MapSource, num: ReportNumbers, *, with_map: bool = True) -> list[Block]:
    if not len(src.danger_sites):
        return [num.chapter("重点隐患评估与整治清单"),
                Paragraph("县级数据库中没有登记重点隐患（地质灾害隐患点、重点隐患排查对象、堤防险工险段、危险化学品企业和排查"
                          "对象均无有效记录），整治清单为空。请核实各乡镇是否已填报重点隐患调查表。")]
    f = danger_facts(src)
    top = f["top"]
    level_txt = ("所在位置等级为风险评估（census risk assess）格网的风险等级。" if f["risk_levels"] else
                 "尚未进行风险评估，所在位置等级为致灾危险性等级（不是风险等级）。")
    people_txt = f"威胁范围内共约 {fmt.num(f['people'])} 人" + ("（范围重叠处只计一次）" if f["exact"] else "（各隐患相加）")
    paras = [
        (f"县级数据库登记的重点隐患（地质灾害隐患点、重点隐患排查对象、堤防险工险段、危险化学品企业和排查对象）共 "
         f"{fmt.num(f['sites'])} 处。对每处隐患按类型和规模划定威胁范围，统计范围内的人口、房屋、学校和医院，再按威胁人数、"
         f"学校医院、规模与稳定性、所在位置等级和治理状态综合评分（满分 100，方法见“方法与数据来源”）。{level_txt}"),
        f"评分结果：一级（优先排查治理）{f['p1']} 处，二级（限期排查）{f['p2']} 处，三级（常规巡查）{f['p3']} 处；"
        f"{people_txt}，涉及学校（幼儿园）{f['schools']} 所、医院（卫生院）{f['hospitals']} 所、养老院 {f['welfare']} 所。"
        + (f"全县排序第一的是{top['township_name']}{top['name']}（{float(top['score']):.1f} 分）：{top['reason_zh']}。"
           if top is not None else ""),
        _dispatch_text(f),
    ]
    blocks: list[Block] = [num.chapter("重点隐患评估与整治清单"), *[Paragraph(p) for p in paras],
                           _kind_table(src, num),
                           section(1, "全县整治清单（前 20 位）"),
                           Paragraph("下表为全县综合得分最高的隐患，即下一轮排查、治理应首先派出力量的地点；“排序理由”"
                                     "说明其得分来自哪些方面。", keep_with_next=True),
                           _top_table(src, num),
                           section(2, "各乡镇（街道）整治优先级"),
                           Paragraph("按乡镇（街道）汇总，便于把排查组分派到乡镇；每个乡镇的完整排序见整治清单电子表格中该乡镇的工作表。",
                                     keep_with_next=True),
                           _township_table(src, num)]
    if with_map:
        from mapping.dangers import danger_map

        caption = num.next_figure(f"{src.county_name}重点隐患分布与整治优先级图")
        blocks.append(FullPage(map_page(lambda ax: danger_map(src, ax=ax), caption), styles.A4_LANDSCAPE,
                               toc_text=caption))
    return blocks


# ------------------------------------------------------------------------------------------------------
# historical disasters

def _trend_word(trend: str, significant: int) -> str:
    if not int(significant):
        return "无显著趋势"
    return {"increasing": "显著上升", "decreasing": "显著下降"}.get(str(trend), "无显著趋势")


def _trend_cell(row) -> Cell:
    word = _trend_word(row["trend"], row["significant"])
    fill = TREND_FILL.get(str(row["trend"])) if int(row["significant"]) else None
    return Cell(word, fill)


def _trend_table(src: MapSource, num: ReportNumbers) -> TableBlock | None:
    t = src.history_trends
    if not len(t):
        return None
    loss = t[t["metric"] == "direct_loss_2020"].copy()
    others = {(r["hazard_type"], r["metric"]): r for r in t.to_dict("records")}
    loss["order"] = np.where(loss["hazard_type"] == "all", 1, 0)
    loss = loss.sort_values(["order", "total"], ascending=[True, False])
    rows, total = [], None
    for r in loss.to_dict("records"):
        slope = _signed(r["sen_slope"])
        ci = "0" if r["slope_low"] == 0 == r["slope_high"] else f"{_signed(r['slope_low'])}～{_signed(r['slope_high'])}"
        aff = others.get((r["hazard_type"], "affected_people"))
        dead = others.get((r["hazard_type"], "dead_missing"))
        row = [r["hazard_zh"], f"{int(r['years_with_records'])}/{int(r['n_years'])}", fmt.num(r["mean"], 1),
               _trend_cell(r), _p(r["p_value"]), _p(r["p_hamed_rao"]), slope, ci,
               _trend_cell(aff) if aff else "—", _trend_cell(dead) if dead else "—"]
        if r["hazard_type"] == "all":
            total = row
        else:
            rows.append(row)
    cols = (Column("灾害种类", 1.0, "left"), Column("有损失年数", 0.62, "center"), Column("年均损失（万元）", 0.78),
            Column("损失趋势", 0.78, "center"), Column("MK p", 0.52), Column("Hamed–Rao p", 0.62),
            Column("Sen 斜率（万元/年）", 0.7), Column("斜率 95% 区间", 1.0, "center"),
            Column("受灾人口趋势", 0.78, "center"), Column("死亡失踪趋势", 0.78, "center"))
    return TableBlock(num.next_table("各灾种历史灾害趋势检验（1978—2020 年，直接经济损失按 2020 年价）"), cols, rows,
                      total, size=7.8,
                      note="Mann–Kendall 检验（α = 0.05，结的方差校正）；Hamed–Rao 为考虑序列自相关的修正检验；Theil–Sen 斜率及其 95% "
                           "置信区间。无记录的年份按零损失计。检验显著而斜率为 0 者，反映的是有损失年份的增多或减少。")


def _weights_table(src: MapSource, num: ReportNumbers) -> tuple[TableBlock | None, dict[str, float]]:
    w = src.history_weights
    if not len(w):
        return None, {}
    notes = src.latest_run.get("notes") if src.has("risk_runs") else {}
    used = (notes or {}).get("weights") if isinstance(notes, dict) else None
    used_word = "本次评估所用权重" if used else "默认权重"
    used = used or {str(r["risk_hazard"]): float(r["default_weight"]) for r in w.to_dict("records")}
    labels = _hazard_type_names()
    rows = []
    for r in w.sort_values("weight", ascending=False).to_dict("records"):
        types = "、".join(labels.get(x, x) for x in str(r.get("hazard_types") or "").split(",") if x) or "—"
        rows.append([r["name_zh"], types, fmt.num(r["loss_2020_wan"], 1), fmt.pct(100 * r["weight"]),
                     fmt.pct(100 * r["share_dead_missing"]), fmt.pct(100 * r["share_affected"]),
                     fmt.num(used.get(str(r["risk_hazard"])), 2)])
    total = ["合计", "", fmt.num(w["loss_2020_wan"].sum(), 1), fmt.pct(100 * w["weight"].sum()), "", "",
             fmt.num(sum(used.get(str(h), 0.0) for h in w["risk_hazard"]), 2)]
    t = src.history_trends
    unm = t[(t["metric"] == "direct_loss_2020") & (t["hazard_type"] != "all")
            & (t["risk_hazard"].fillna("").astype(str) == "")] if len(t) else t
    unm_txt = ("；未对应风险评估灾种而未计入权重的：" + "、".join(f"{r['hazard_zh']} {fmt.num(r['total'], 1)} 万元"
                                                    for r in unm.to_dict("records") if r["total"] > 0)
               if len(unm) and (unm["total"] > 0).any() else "")
    basis = str(w["weight_basis"].iloc[0]) if "weight_basis" in w.columns else ""
    basis_zh = "按 1978—2020 年记录的直接经济损失（2020 年价）占比" if basis.startswith("recorded") else \
        "无损失记录，取默认权重归一化"
    cols = (Column("风险评估灾种", 0.95, "left"), Column("包含的普查灾害类型", 1.5, "left"),
            Column("记录损失（万元）", 0.95), Column("损失占比（建议权重）", 0.95), Column("死亡失踪占比", 0.8),
            Column("受灾人口占比", 0.8), Column(used_word, 0.8))
    table = TableBlock(num.next_table("各灾种历史损失占比与综合风险权重建议"), cols, rows, total,
                       note=f"建议权重：{basis_zh}{unm_txt}。地震等低频灾种在 43 年记录中可能没有损失，其权重不宜据此降为零；"
                            "采用何种权重由县级普查办公室决定。")
    return table, used


def _hazard_type_names() -> dict[str, str]:
    from risk.history import HAZARD_ZH

    return dict(HAZARD_ZH)


def _weights_chart(weights: pd.DataFrame, used: dict[str, float], used_word: str, ax) -> None:
    from mapping.charts import weights_chart

    weights_chart(weights, used, used_label=used_word, ax=ax)


def _events_table(src: MapSource, num: ReportNumbers) -> TableBlock | None:
    e = src.history_events
    if not len(e):
        return None
    rows = []
    for r in e.to_dict("records"):
        dates = str(r.get("start_date") or "")
        if r.get("end_date") and str(r["end_date"]) not in ("None", "nan", dates):
            dates += f"～{str(r['end_date'])[5:]}"
        rows.append([chr(0x245F + int(r["rank"])) if int(r["rank"]) <= 20 else str(int(r["rank"])), r["event_name"],
                     r["hazard_zh"], dates, str(r.get("township_names") or "—").replace(",", "、"),
                     fmt.num(r["affected_people"]), fmt.num(float(r["deaths"]) + float(r["missing"])),
                     fmt.num(r["collapsed_houses"]), fmt.num(r["direct_loss_wan"], 1), fmt.num(r["direct_loss_2020_wan"], 1)])
    cols = (Column("序", 0.3, "center"), Column("事件", 1.45, "left"), Column("灾种", 0.5, "center"),
            Column("日期", 1.05, "center"), Column("受灾乡镇", 1.0, "left"), Column("受灾人口", 0.7),
            Column("死亡失踪", 0.5), Column("倒塌房屋（间）", 0.6), Column("直接损失（万元，当年价）", 0.85),
            Column("折 2020 年价（万元）", 0.8))
    return TableBlock(num.next_table("最大历史灾害事件（1949—2020 年，按 2020 年价损失排序）"), cols, rows, size=7.8,
                      note="同名同灾种、由多个乡镇分别填报的记录合为一次事件；损失按居民消费价格指数折算为 2020 年价"
                           "（1978 年以前按 1978 年价）。")


def _comparison_rows(src: MapSource) -> tuple[list, list[str]]:
    from mapping.history_maps import flag_direction, systematic_hazards
    from risk.registry import RISK_HAZARDS

    comp = src.history_comparison
    hazards = [h for h in RISK_HAZARDS if h.is_loss and f"{h.id}_model_cny" in comp.columns]
    systematic = set(systematic_hazards(src))
    recs = comp.to_dict("records")

    def key(r):
        ratio = r.get("log10_ratio")
        mag = abs(float(ratio)) if ratio is not None and np.isfinite(float(ratio)) else 9.0
        return (-int(r.get("flag") or 0), -mag if int(r.get("flag") or 0) else 0, str(r["township_code"]))

    rows = []
    for r in sorted(recs, key=key):
        d = flag_direction(r)
        name = str(r.get("township_name") or r["township_code"])
        cells: list = [Cell(name, FLAGGED_NAME_FILL) if d else name, fmt.num(r.get("years_recorded"))]
        for h in hazards:
            m, rec = r.get(f"{h.id}_model_cny"), r.get(f"{h.id}_recorded_cny")
            text = f"{_wan_year(m)}/{_wan_year(rec)}"
            fill = None
            if int(r.get(f"{h.id}_flag") or 0):
                hd = "model_high" if (float(m or 0) > float(rec or 0)) else "record_high"
                fill = FLAG_FILL[hd] if h.id not in systematic else "#eeeeee"
            cells.append(Cell(text, fill))
        ratio = r.get("log10_ratio")
        times = _ratio_text(ratio)
        cells += [Cell(f"{_wan_year(r.get('model_total_cny'))}/{_wan_year(r.get('recorded_total_cny'))}",
                       FLAG_FILL[d] if d else None), times, str(r.get("verdict_zh") or "—")]
        rows.append(cells)
    return rows, [h.name_zh for h in hazards]


def _ratio_text(log10_ratio) -> str:
    """model ÷ record: "16", "2.4", "0.45", "1/42" (a fraction reads better than 0.024)."""
    try:
        x = float(log10_ratio)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(x):
        return "—"
    v = 10 ** x
    if v >= 10:
        return fmt.num(v, 0)
    if v >= 1:
        return f"{v:.1f}"
    if v >= 0.1:
        return f"{v:.2f}"
    return f"1/{fmt.num(1 / v, 0)}"


def _comparison_table(src: MapSource, num: ReportNumbers) -> TableBlock | None:
    if not len(src.history_comparison):
        return None
    rows, names = _comparison_rows(src)
    cols = (Column("乡镇（街道）", 0.85, "left"), Column("记录年数", 0.45, "center"),
            *[Column(f"{n}\n模型/记录", 0.78, "center") for n in names],
            Column("合计（地震除外）模型/记录", 0.9, "center"), Column("模型÷记录", 0.55, "center"),
            Column("判断", 2.0, "left"))
    return TableBlock(num.next_table("各乡镇（街道）模型期望年损失与历史记录年均损失对比（万元/年，2020 年价）"), cols, rows,
                      size=7.4,
                      note="模型为风险评估的房屋期望年损失；记录为 1978—2020 年历史灾害年度统计的年均直接经济损失（含农业、"
                           "基础设施等，故模型略低属正常）。相差≥10 倍（一个数量级）的单元格着色：紫色为模型高于记录，青色为记录"
                           "高于模型，灰色为多数乡镇同向相差的灾种（模型的系统性差异）；名称着浅红色的乡镇为合计相差≥10 倍。"
                           "地震为低频灾种，43 年记录不足以检验，不计入合计。")


def _trend_sentence(sig: pd.DataFrame) -> str:
    """"干旱（+0.72 万元/年，p = 0.028）、暴雨（…）显著上升；冰雹（…）显著下降" from the significant rows."""
    def item(r) -> str:
        slope = (f"Theil–Sen 斜率 {r['sen_slope']:+.3g} 万元/年" if r["sen_slope"] != 0 else "有损失年份增减，斜率为 0")
        return f"{r['hazard_zh']}（{slope}，{_p_is(r['p_value'])}）"

    parts = []
    for trend, word in (("increasing", "显著上升"), ("decreasing", "显著下降")):
        rows = [r for r in sig.to_dict("records") if r["trend"] == trend and r["hazard_type"] != "all"]
        if rows:
            parts.append("、".join(item(r) for r in rows) + word)
    total = [r for r in sig.to_dict("records") if r["hazard_type"] == "all"]
    if total:
        r = total[0]
        parts.append(f"全部灾种合计{_trend_word(r['trend'], 1)}（{_signed(r['sen_slope'])} 万元/年，{_p_is(r['p_value'])}）")
    return ("1978—2020 年直接经济损失（2020 年价）：" + "；".join(parts) + "；其余灾种无显著趋势。"
            "Mann–Kendall 检验对个别大灾年份不敏感，反映的是多年的整体变化。")


def history_blocks(src: MapSource, num: ReportNumbers, *, with_map: bool = True) -> list[Block]:
    t = src.history_trends
    sig = t[(t["metric"] == "direct_loss_2020") & (t["significant"] == 1)] if len(t) else t
    blocks: list[Block] = [num.chapter("历史灾害评估")]
    intro = ("在历史灾害年度统计（1978—2020 年）和历史灾害事件（1949—2020 年）的基础上，检验各灾种损失、受灾人口和"
             "死亡失踪人口的变化趋势，计算各灾种损失占比作为综合风险权重的参考，列出最大历史灾害事件，并把各乡镇（街道）"
             "风险评估的期望年损失与历史记录的年均损失对比，找出两者相差一个数量级以上、需要核查的乡镇。")
    blocks.append(Paragraph(intro))
    blocks.append(section(1, "灾害趋势"))
    if len(sig):
        blocks.append(Paragraph(_trend_sentence(sig), keep_with_next=True))
    else:
        blocks.append(Paragraph("各灾种直接经济损失（2020 年价）在 1978—2020 年均无显著趋势（Mann–Kendall 检验，α = 0.05）。",
                                keep_with_next=True))
    tt = _trend_table(src, num)
    if tt is not None:
        blocks.append(tt)
    wt, used = _weights_table(src, num)
    if wt is not None:
        w = src.history_weights
        top = w.sort_values("weight", ascending=False).iloc[0]
        used_word = "本次评估所用权重" if src.has("risk_runs") and (src.latest_run.get("notes") or {}).get("weights") \
            else "默认权重"
        blocks += [section(2, "损失占比与综合风险权重建议"),
                   Paragraph(f"1978—2020 年记录的直接经济损失中，{top['name_zh']}占 {top['weight'] * 100:.1f}%，为损失最大的灾种。"
                             "按损失占比给出的权重可作为综合风险指数各灾种权重的参考，与本次评估所用权重的差异见下表和下图。",
                             keep_with_next=True),
                   wt,
                   FigureBlock(3.0, lambda ax: _weights_chart(w, used, used_word, ax),
                               num.next_figure("各灾种历史损失占比与综合风险权重"))]
    et = _events_table(src, num)
    blocks.append(section(3, "最大历史灾害事件"))
    if et is not None:
        e = src.history_events
        blocks += [Paragraph(f"按 2020 年价计，1949—2020 年损失最大的 {len(e)} 次灾害事件如下，其中最大的是"
                             f"{e.iloc[0]['event_name']}（{fmt.num(e.iloc[0]['direct_loss_2020_wan'])} 万元，"
                             f"{str(e.iloc[0]['township_names']).replace(',', '、')}）。", keep_with_next=True), et]
    else:
        blocks.append(Paragraph("县级数据库中没有历史灾害事件记录（disaster_event）。"))
    blocks.append(section(4, "模型期望损失与历史记录对比"))
    ag = src.history_agreement
    if len(ag):
        blocks.append(Paragraph("各灾种的对比结论：" + "；".join(str(x) for x in ag["text_zh"]) + "。", keep_with_next=True))
    ct = _comparison_table(src, num)
    if ct is not None:
        blocks.append(ct)
    if with_map:
        from mapping.history_maps import history_map

        caption = num.next_figure(f"{src.county_name}最大历史灾害事件与模型—记录对比图")
        blocks.append(FullPage(map_page(lambda ax: history_map(src, ax=ax), caption), styles.A4_LANDSCAPE,
                               toc_text=caption))
    return blocks


# ------------------------------------------------------------------------------------------------------
# summary and methods

def _most_p1(towns: list[tuple[str, int]]) -> str:
    """"，一级隐患最多的是甲镇、乙乡（各 2 处）" — every township tied at the top."""
    if not towns:
        return ""
    top = towns[0][1]
    names = [n for n, c in towns if c == top]
    if len(names) == 1:
        return f"，一级隐患最多的是{names[0]}（{top} 处）"
    shown = "、".join(names[:4]) + ("等" if len(names) > 4 else "")
    return f"，一级隐患最多的是{shown}（各 {top} 处）"


def summary_paragraphs(src: MapSource) -> list[str]:
    """What the assessments found, or which commands would add them to the report."""
    out = []
    missing = []
    if src.has_dangers() and not len(src.danger_sites):
        out.append("重点隐患评估已运行，但县级数据库中没有登记重点隐患，整治清单为空。")
    elif src.has_dangers():
        f = danger_facts(src)
        top = f["top"]
        out.append(f"重点隐患 {fmt.num(f['sites'])} 处，其中一级（优先排查治理）{f['p1']} 处、二级 {f['p2']} 处，威胁范围内约 "
                   f"{fmt.num(f['people'])} 人"
                   + (f"；排序第一的是{top['township_name']}{top['name']}（{float(top['score']):.1f} 分）" if top else "")
                   + _most_p1(f["p1_townships"])
                   + "（见“重点隐患评估与整治清单”）。")
    else:
        missing.append(f"`census risk dangers --gpkg {src.db_label} --hazards 致灾因子目录 --out 整治清单.xlsx`"
                       "（重点隐患评估与整治清单）")
    if src.has_history():
        t = src.history_trends
        comp = src.history_comparison
        sig = t[(t["metric"] == "direct_loss_2020") & (t["significant"] == 1) & (t["hazard_type"] != "all")] \
            if len(t) else t
        ups = "、".join(sig[sig["trend"] == "increasing"]["hazard_zh"])
        downs = "、".join(sig[sig["trend"] == "decreasing"]["hazard_zh"])
        flagged = comp[comp["flag"].astype(int) == 1]["township_name"].tolist() if len(comp) else []
        out.append("历史灾害评估：" + (f"直接经济损失显著上升的有{ups}" if ups else "各灾种损失无显著上升趋势")
                   + (f"，显著下降的有{downs}" if downs else "")
                   + (f"；模型期望年损失与历史记录相差一个数量级以上的乡镇（街道）{len(flagged)} 个（{'、'.join(flagged)}），"
                      "需核查其历史统计或评估数据" if flagged else "；各乡镇模型与记录的合计损失量级一致")
                   + "（见“历史灾害评估”）。")
    else:
        missing.append(f"`census risk history --gpkg {src.db_label}`（历史灾害评估）")
    if missing:
        out.append("本报告尚未包含以下评估，运行相应命令后重新生成报告即可加入：" + "；".join(missing) + "。")
    return out


def methods_paragraphs(src: MapSource) -> list[str]:
    out = []
    if src.has_dangers():
        from risk.threat_zones import SCORE_WEIGHTS as w

        out.append(f"重点隐患：威胁范围按隐患类型和规模划定（滑坡、崩塌、泥石流以 Corominas（1996）到达角沿数字高程模型向坡下推算，"
                   "只向下坡方向扩展，不越过山脊；危险化学品按 GB 18218 重大危险源等级或安全风险类别取 300—1500 米缓冲；堤防险工险段"
                   "和病险水库取其后方与之连通的洪水淹没区；其他按规模缓冲）。综合得分满分 100：威胁人数 "
                   f"{w.people:g}、学校医院养老院 {w.facilities:g}、规模与稳定性 {w.severity:g}、所在位置等级 {w.risk:g}、"
                   f"治理状态 {w.remediation:g}；≥60 分为一级，40—60 分为二级。各假定值及依据见 docs/HIDDEN_DANGERS_HISTORY.md。")
    if src.has_history():
        out.append("历史灾害：损失按国家统计局居民消费价格指数折算为 2020 年价；趋势用 Mann–Kendall 检验（Hamed–Rao 自相关修正）"
                   "和 Theil–Sen 斜率；损失占比按风险评估灾种归并；模型与记录对比取各乡镇期望年损失与 1978—2020 年记录年均损失之比，"
                   "相差≥10 倍者标记（地震为低频灾种不检验）。详见 docs/HIDDEN_DANGERS_HISTORY.md。")
    return out


def assessment_map_ids(src: MapSource) -> list[str]:
    """Map ids of the assessment chapters (for ``census report --maps``)."""
    return [*(["dangers"] if src.has_dangers() else []), *(["history"] if src.has_history() else [])]


def wants_map(map_id: str, only: Sequence[str] | None) -> bool:
    return only is None or map_id in set(only)
