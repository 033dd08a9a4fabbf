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
    "completeness": ("各村完成情况", "Completeness by village"),
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
    "latlon_hint": ("纬度 经度，例如 40.61 120.72", "latitude longitude, e.g. 40.61 120.72"),
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
