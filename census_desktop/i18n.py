"""The app's own words, Chinese first.  ``tr(key)`` gives them in the current language.

Form labels and validation messages come from the schemas (``Text.get(lang)``, ``message_zh``); this
table holds only the shell's text.  No Qt here.
"""

from __future__ import annotations

LANGS = ("zh", "en")
_lang = "zh"

TEXT: dict[str, tuple[str, str]] = {
    "app_title": ("自然灾害综合风险普查 · 乡镇填报", "Natural-disaster risk census · township entry"),
    "menu_file": ("文件(&F)", "&File"),
    "open_db": ("打开数据库…", "Open database…"),
    "open_enrolment": ("用注册文件新建数据库…", "New database from enrolment file…"),
    "export_package": ("导出回传包…", "Export return package…"),
    "quit": ("退出", "Quit"),
    "menu_lang": ("语言/Language", "语言/Language"),
    "lang_zh": ("中文", "中文"),
    "lang_en": ("English", "English"),
    "township": ("乡镇", "Township"),
    "enumerator": ("普查员", "Enumerator"),
    "refdate": ("标准时点", "Reference date"),
    "assigned": ("底图房屋", "Work-map footprints"),
    "catalogue": ("调查表", "Forms"),
    "completeness": ("各村进度", "Villages"),
    "village": ("行政村", "Village"),
    "filled": ("已完成/分配", "Filled/assigned"),
    "search": ("搜索编号、村名、状态…", "Search ID, village, status…"),
    "all_states": ("全部状态", "All states"),
    "new_record": ("新建记录", "New record"),
    "open_record": ("打开", "Open"),
    "rows_shown": ("显示 {shown} / 共 {total} 条", "{shown} of {total} shown"),
    "no_db": ("尚未打开数据库。请从“文件”菜单打开乡镇数据库，或用注册文件新建。",
              "No database open. Use the File menu to open a township database or create one from an enrolment file."),
    "choose_form": ("请在左侧选择一张调查表", "Choose a form on the left"),
    "save_draft": ("保存草稿", "Save draft"),
    "finish": ("完成", "Complete"),
    "close": ("关闭", "Close"),
    "add": ("添加", "Add"),
    "remove": ("删除", "Remove"),
    "entry": ("第 {n} 条", "Entry {n}"),
    "required_note": ("带红色 * 的为必填项", "Fields marked with a red * are required"),
    "autosaved": ("已自动保存草稿 {time}", "Draft autosaved {time}"),
    "saved_draft": ("已保存草稿 {time}", "Draft saved {time}"),
    "saved_final": ("已完成并保存 {time}", "Completed and saved {time}"),
    "demoted": ("还有 {n} 处需要修改，已保存为草稿。改好后再点“完成”。",
                "{n} problem(s) left; saved as a draft. Fix them and press Complete again."),
    "all_good": ("全部填写正确", "Everything is filled in correctly"),
    "n_problems": ("还有 {n} 处需要修改", "{n} problem(s) to fix"),
    "choose": ("— 请选择 —", "— choose —"),
    "date_hint": ("年-月-日，例如 2021-06-01", "year-month-day, e.g. 2021-06-01"),
    "geometry_none": ("（无图形）", "(no geometry)"),
    "geometry_shape": ("多边形，{n} 个顶点", "polygon, {n} vertices"),
    "geometry_trace": ("线，{n} 个点", "line, {n} points"),
    "undo": ("撤销", "Undo"),
    "redo": ("重做", "Redo"),
    "font_missing": ("未找到中文字体（文泉驿、Noto CJK、微软雅黑或黑体），中文可能显示为方框。请安装 fonts-wqy-microhei 或 fonts-noto-cjk。",
                     "No CJK font found (WenQuanYi, Noto CJK, Microsoft YaHei or SimHei); Chinese may show as boxes. "
                     "Install fonts-wqy-microhei or fonts-noto-cjk."),
    "exported": ("已导出回传包：{path}（{n} 条修订）", "Return package written: {path} ({n} revisions)"),
    "error": ("出错了", "Error"),
    "records_of": ("{title} · {n} 条", "{title} · {n}"),
    "ready": ("就绪", "Ready"),
    "opened": ("已打开 {path}", "Opened {path}"),
    # map
    "map_title": ("调查底图", "Work map"),
    "place_point": ("放点新建", "Place new"),
    "place_point_tip": ("在地图上点击，新建一条“{form}”记录", "Click the map to add a “{form}” record there"),
    "place_prompt": ("在地图上点击要新建“{form}”的位置", "Click where the new “{form}” is"),
    "pick_prompt": ("在地图上点击要放置的位置", "Click the map where it is"),
    "pick_prompt_field": ("在地图上点击“{field}”的位置", "Click the map where “{field}” is"),
    "zoom_in": ("放大（+）", "Zoom in (+)"),
    "zoom_out": ("缩小（-）", "Zoom out (-)"),
    "zoom_all": ("全图", "All"),
    "zoom_all_tip": ("显示整个乡镇（0）", "Show the whole township (0)"),
    "map_loading": ("正在加载底图", "Loading the map"),
    "map_reload": ("重新加载地图", "Reload map"),
    "map_cancelled": ("地图加载已取消。", "Map loading cancelled."),
    "map_failed": ("地图加载失败：{error}", "The map could not be loaded: {error}"),
    "map_ready": ("{n} 个房屋图斑 · 滚轮缩放，拖动平移，点击图斑填表", "{n} footprints · wheel to zoom, drag to pan, click a footprint to fill it"),
    "map_not_ready": ("地图还在加载，请稍候", "The map is still loading"),
    "map_step_read": ("读取数据库", "reading the database"),
    "map_step_outlines": ("读取村界", "reading village outlines"),
    "map_step_parse": ("解析图斑", "reading footprints"),
    "map_step_project": ("投影", "projecting"),
    "map_step_index": ("建立索引", "indexing"),
    "map_step_done": ("绘制", "drawing"),
    "village_derived": ("（村界按房屋图斑推算，仅示意）", "(village outline drawn round its footprints, approximate)"),
    "lon": ("经度", "Lon"),
    "lat": ("纬度", "Lat"),
    "pick_on_map": ("地图选点", "Pick on map"),
    "pick_on_map_tip": ("点此后在主窗口地图上点击位置；也可直接输入经纬度（度，CGCS2000）",
                        "Press, then click the place on the main window's map; or type longitude and latitude (degrees)"),
    "county_says": ("县级意见", "County's note"),
    # jobs
    "cancel": ("取消", "Cancel"),
    "cancelling": ("正在取消…（当前这一批写完即停）", "Cancelling… (stops after the current batch)"),
    "job_cancelled": ("已取消", "Cancelled"),
    # bulk import
    "menu_data": ("数据(&D)", "&Data"),
    "bulk_import": ("批量导入（Excel/CSV）…", "Bulk import (Excel/CSV)…"),
    "bulk_import_short": ("批量导入…", "Import…"),
    "import_title": ("批量导入", "Bulk import"),
    "import_file": ("文件", "File"),
    "browse": ("浏览…", "Browse…"),
    "import_form": ("导入到调查表", "Into form"),
    "import_hint": ("支持 .xlsx、.csv、.json。第一行是字段名（与导出的调查表模板相同）。"
                    "正确的行保存为“已完成”；有问题的行保存为草稿，导入后逐条列出，双击即可修改。"
                    "同一编号的行更新原记录，重复导入同一文件不会产生重复记录。",
                    ".xlsx, .csv or .json; the first row holds the field names (as in the exported form template). "
                    "Valid rows are saved as complete; rows with problems are kept as drafts and listed afterwards — "
                    "double-click one to fix it. A row with a known ID updates that record; importing a file twice "
                    "makes no duplicates."),
    "import_start": ("导入", "Import"),
    "importing": ("正在导入 {file}", "Importing {file}"),
    "import_rows_done": ("已处理 {done} / {total} 行", "{done} of {total} rows done"),
    "import_report_title": ("导入结果", "Import report"),
    "import_summary": ("共 {rows} 行：正确 {valid} 行（已保存为已完成），有问题 {invalid} 行（已保存为草稿，请修改）。"
                       "新建 {created}，更新 {updated}，未变 {unchanged}。",
                       "{rows} rows: {valid} valid (saved as complete), {invalid} with problems (kept as drafts to fix). "
                       "{created} new, {updated} updated, {unchanged} unchanged."),
    "import_unknown_columns": ("这些列不是本表的字段，已忽略：{cols}", "These columns are not fields of the form and were ignored: {cols}"),
    "import_col_row": ("行", "Row"),
    "import_col_field": ("字段", "Field"),
    "import_col_message": ("问题", "Problem"),
    "import_open_hint": ("双击一行打开该记录修改", "Double-click a line to open its record"),
    "import_done": ("导入完成：{rows} 行，正确 {valid}，有问题 {invalid}", "Imported {rows} rows: {valid} valid, {invalid} with problems"),
    "import_cancelled": ("导入已取消：前 {done} 行（共 {total} 行）已保存。再次导入同一文件即可接着完成，已保存的行不会重复。",
                         "Import cancelled: the first {done} of {total} rows were saved. Import the same file again to "
                         "finish; saved rows are not duplicated."),
    "import_cancelled_none": ("导入已取消，没有保存任何行。", "Import cancelled; no rows were saved."),
    "whole_record": ("整条记录", "whole record"),
    # sync
    "import_feedback": ("导入县级反馈…", "Import county feedback…"),
    "choose_export_folder": ("选择导出文件夹（U 盘或共享文件夹）", "Choose the export folder (USB stick or shared folder)"),
    "exporting": ("正在导出回传包", "Exporting the return package"),
    "export_step_collect": ("收集已完成的记录", "collecting completed records"),
    "export_step_write": ("签名并写出 {n} 条修订", "signing and writing {n} revisions"),
    "export_step_record": ("登记数据包", "recording the package"),
    "export_cancelled": ("导出已取消，没有写出数据包。", "Export cancelled; no package was written."),
    "applying_feedback": ("正在应用县级反馈", "Applying county feedback"),
    "feedback_tab": ("县级反馈（{n}）", "Feedback ({n})"),
    "feedback_none": ("没有需要处理的县级意见。", "Nothing from the county to fix."),
    "feedback_count": ("县级标出 {n} 条记录需要处理：", "The county flagged {n} records:"),
    "feedback_open_hint": ("双击打开记录修改，改好保存后即从列表移除", "Double-click to open and fix; a saved record leaves the list"),
    "feedback_summary": ("县级已确认收到第 {ack} 号及以前的数据包；需处理 {n} 条。",
                         "The county acknowledged packages up to {ack}; {n} records to look at."),
    "feedback_unknown": ("其中 {n} 条记录不在本机（可能来自其他设备）。", "{n} of them are not in this store (another device's?)."),
    "feedback_again": ("（此反馈文件此前已应用过）", "(this feedback file was applied before)"),
}


def set_language(lang: str) -> None:
    global _lang
    if lang not in LANGS:
        raise ValueError(f"language must be one of {LANGS}")
    _lang = lang


def language() -> str:
    return _lang


def tr(key: str, **values) -> str:
    zh, en = TEXT[key]
    text = en if _lang == "en" else zh
    return text.format(**values) if values else text
