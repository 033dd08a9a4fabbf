"""Outputs of ``census risk dangers``: the two GeoPackage layers and the XLSX remediation list (整治清单).

- ``danger_threat_zones`` (MultiPolygon) and ``danger_remediation`` (Point, ranked), replacing earlier runs;
- the spreadsheet: sheet 全县 (ranked), one sheet per township (ranked within it), sheet 说明 (scoring,
  methods, notes); priority 一级 rows red, 二级 orange.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from exposure.footprints import STORAGE_CRS
from risk import threat_zones as tz
from geodb import layers as L

if TYPE_CHECKING:  # pragma: no cover
    from risk.hidden_dangers import DangerAssessment

ZONES_LAYER = "danger_threat_zones"
LIST_LAYER = "danger_remediation"


LIST_COLUMNS = ("rank_county", "rank_township", "priority", "priority_zh", "score", "danger_uid", "source_layer",
                "source_id", "name", "kind", "township_code", "township_name", "village_code", "scale",
                "severity", "severity_zh", "stability", "remediation", "buildings", "people", "residents",
                "schools", "hospitals", "welfare_homes", "facility_people", "facility_types", "facility_names",
                "reported_people", "level", "level_kind", "level_source", "zone_level", "hazard_level",
                "risk_level", "zone_method", "zone_radius_m", "reach_angle_deg", "volume_m3", "zone_area_km2",
                "score_people", "score_facilities", "score_severity", "score_risk", "score_remediation",
                "reason_zh", "also_reported_as", "census_uuid", "rule_source")

# spreadsheet columns: (column, Chinese header)
SHEET_COLUMNS = (("rank_county", "全县排序"), ("rank_township", "乡镇内排序"), ("priority_zh", "整治优先级"),
                 ("score", "综合得分"), ("name", "隐患名称"), ("kind_zh", "隐患类型"), ("source_id", "编号"),
                 ("township_name", "乡镇（街道）"), ("village_code", "行政村代码"), ("people", "威胁人数（估算）"),
                 ("buildings", "威胁房屋（栋）"), ("schools", "学校/幼儿园（所）"), ("hospitals", "医院/卫生院（所）"),
                 ("welfare_homes", "养老院/福利院（所）"), ("reported_people", "上报威胁人数"),
                 ("level_label", "所在位置等级"), ("remediation_zh", "治理状态"), ("reason_zh", "排序理由"),
                 ("zone_label", "威胁范围"), ("lon", "经度"), ("lat", "纬度"))


def _sheet_frame(sites):
    import pandas as pd
    from hazards.registry import RISK_LEVELS

    names = {lvl: zh for lvl, zh, _en, _c in RISK_LEVELS}
    df = pd.DataFrame(sites.drop(columns="geometry"))
    df["kind_zh"] = df["kind"].map(tz.KIND_ZH).fillna(df["kind"])
    df["remediation_zh"] = df["remediation"].map(tz.REMEDIATION_ZH).fillna(df["remediation"])
    df["level_label"] = [(f"{names[int(l)]}（{'风险' if k == 'risk' else '危险性'}{int(l)}级）" if int(l) > 0 else "—")
                         for l, k in zip(df["level"], df["level_kind"])]

    def zone_label(r):
        if r["zone_method"] == "runout":
            return f"坡下运动范围（到达角 {r['reach_angle_deg']:.1f}°，{r['zone_area_km2']:.2f} km²）"
        if r["zone_method"] == "flood_strip":
            return f"险段后方淹没区（{r['zone_radius_m']:.0f} m 内，{r['zone_area_km2']:.2f} km²）"
        return f"半径 {r['zone_radius_m']:.0f} m 缓冲区" + ("" if r["zone_method"] == "buffer" else f"（{r['zone_method']}）")

    df["zone_label"] = [zone_label(r) for r in df.to_dict("records")]
    df["lon"] = np.round(sites.geometry.x.to_numpy(), 6)
    df["lat"] = np.round(sites.geometry.y.to_numpy(), 6)
    df["people"] = np.round(df["people"].astype(float), 0)
    return df


def write_spreadsheet(assessment: DangerAssessment, path: str | Path, notes: list[str] | None = None) -> Path:
    """整治清单 as XLSX: one sheet for the county, one per township (ranked within it), one of notes."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = _sheet_frame(assessment.sites)
    wb = Workbook()
    head_font = Font(bold=True)
    fills = {1: PatternFill("solid", fgColor="F4CCCC"), 2: PatternFill("solid", fgColor="FCE5CD"),
             3: PatternFill("solid", fgColor="FFFFFF")}
    widths = {"name": 22, "reason_zh": 70, "zone_label": 30, "township_name": 14, "priority_zh": 18}

    def fill_sheet(ws, frame, title_zh: str):
        ws.append([title_zh])
        ws["A1"].font = Font(bold=True, size=13)
        ws.append([h for _c, h in SHEET_COLUMNS])
        for cell in ws[2]:
            cell.font = head_font
            cell.alignment = Alignment(wrap_text=True, vertical="center")
        for r in frame.to_dict("records"):
            vals = []
            for c, _h in SHEET_COLUMNS:
                v = r.get(c)
                if isinstance(v, float) and math.isnan(v):
                    v = None
                vals.append(v)
            ws.append(vals)
            for cell in ws[ws.max_row]:
                cell.fill = fills.get(int(r["priority"]), fills[3])
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        for j, (c, _h) in enumerate(SHEET_COLUMNS, start=1):
            ws.column_dimensions[get_column_letter(j)].width = widths.get(c, 11)
        ws.freeze_panes = "A3"

    ws = wb.active
    ws.title = "全县"
    fill_sheet(ws, df.sort_values("rank_county"), "重点隐患整治清单（全县，按综合得分排序）")
    used = {"全县", "说明"}
    for code, part in df.sort_values(["township_code", "rank_township"]).groupby("township_code", sort=True):
        name = assessment.townships.get(str(code), str(code))
        title = _sheet_title(f"{name}", used, str(code))
        fill_sheet(wb.create_sheet(title), part, f"重点隐患整治清单（{name} {code}）")
    info = wb.create_sheet("说明")
    w = tz.SCORE_WEIGHTS
    lines = [
        f"评分（满分 100）：威胁人数 {w.people:g}（对数，{tz.PEOPLE_FULL:g} 人满分）+ 学校/医院/养老院 {w.facilities:g} + "
        f"隐患规模与稳定性 {w.severity:g} + 所在位置风险（或危险性）等级 {w.risk:g} + 治理状态 {w.remediation:g}；"
        "威胁范围内无人无设施者减半。",
        "优先级：≥60 一级（优先排查治理），40–60 二级（限期排查），<40 三级（常规巡查）。",
        "威胁范围：滑坡、崩塌、泥石流按数字高程模型沿坡向下的到达角范围（Corominas 1996）；危险化学品按重大危险源"
        "等级或安全风险类别的缓冲区；堤防险工险段为险段后方连通的淹没区；其他按规模缓冲区（见 docs/HIDDEN_DANGERS_HISTORY.md）。",
        "所在位置等级："
        + ("风险等级取自 census risk assess 的 risk_grid 图层。" if assessment.level_kind == "risk" else
           "尚未运行风险评估，显示的是致灾危险性等级，不是风险等级。"),
        *(notes or []), *assessment.notes,
    ]
    for line in lines:
        info.append([line])
    info.column_dimensions["A"].width = 160
    wb.save(path)
    return path


def _sheet_title(name: str, used: set[str], code: str) -> str:
    bad = '[]:*?/\\'
    title = "".join("_" if ch in bad else ch for ch in name)[:31] or code[-9:]
    if title in used:
        title = f"{title[:22]}{code[-9:]}"[:31]
    used.add(title)
    return title


def write_dangers(assessment: DangerAssessment, gpkg: str | Path) -> None:
    """Write ``danger_threat_zones`` (MultiPolygon) and ``danger_remediation`` (Point, ranked) to ``gpkg``,
    replacing earlier runs."""
    import geopandas as gpd

    sites = assessment.sites
    cols = [c for c in LIST_COLUMNS if c in sites.columns]
    pts = gpd.GeoDataFrame(sites[cols].copy(), geometry=sites.geometry.values, crs=STORAGE_CRS)
    for c in ("rank_county", "rank_township", "priority", "buildings", "schools", "hospitals", "welfare_homes",
              "level", "zone_level", "hazard_level", "risk_level"):
        if c in pts.columns:
            pts[c] = pts[c].astype("int32")
    zones = assessment.zones[assessment.zones.geometry.notna()].copy()
    for c in ("rank_county", "rank_township", "priority", "buildings", "schools", "hospitals", "welfare_homes",
              "level"):
        zones[c] = zones[c].astype("int32")
    L.write_layer(gpkg, zones, ZONES_LAYER, geometry_type="MultiPolygon", promote_to_multi=True,
                   description="重点隐患威胁范围 / threat zones of key hidden dangers (census risk dangers)")
    L.write_layer(gpkg, pts, LIST_LAYER, geometry_type="Point",
                   description="重点隐患整治清单 / ranked remediation list of key hidden dangers (census risk dangers)")
