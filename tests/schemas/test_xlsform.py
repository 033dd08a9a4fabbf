"""XLSForm out and in: every catalogue form exports to an XLSForm that pyxform converts and ODK Validate
accepts, imports back to the same model, and counties' own XLSForms (Excel/Kobo style) import to forms
the validator runs.

ODK Validate starts a JVM per call (~0.6 s); the module runs it once for every exported form together
(:func:`schemas.xlsform.check_xlsforms`), and once through pyxform's own ``convert(validate=True)``.
"""

from __future__ import annotations

import dataclasses
import io

import openpyxl
import pytest

from schemas.catalogue import all_forms, load_form_file, shared_codelists
from schemas.compiler import compile_form
from schemas.errors import Code, FormDefinitionError
from schemas.model import Block, Field, FieldType, Form, Text
from schemas.validator import Validator
from schemas.xlsform import (LANG_EN, LANG_ZH, XLSFormError, check_xlsforms, export_xlsform, form_to_dict,
                             import_xlsform, write_form_yaml, xlsform_bytes, xlsform_to_dict)

try:  # a broken catalogue fails one test below, not the collection of this whole module
    FORMS = all_forms()
    CATALOGUE_ERROR: FormDefinitionError | None = None
except FormDefinitionError as _e:
    FORMS, CATALOGUE_ERROR = {}, _e


def L(zh, en=None):
    return {"zh": zh, "en": en or zh}


# A form that uses every attribute the model has, including those the catalogue may not (yet) use.
SINK = {
    "id": "kitchen_sink", "version": "3.2", "block": "hazard", "title": L("全要素测试表", "Every feature"),
    "description": L("说明：含逗号, 冒号: 与“引号”", "Notes: commas, colons: and 'quotes'"),
    "confidential": True, "geometry_field": "where", "key_field": "site_id", "hazard_family": "geological",
    "source": "测试 test, #1",
    "choice_lists": [
        {"name": "kind", "label": L("类型", "Kind"), "choices": [
            {"name": "a", "zh": "甲", "en": "A", "family": "x"},
            {"name": "b", "zh": "乙", "en": "B", "family": "y", "colour": "#ff0000"},
            {"name": "none", "zh": "无", "en": "None"}]},
        {"name": "unused_local", "label": L("未用", "Unused"), "choices": [{"name": "1", "zh": "是", "en": "Yes"}]},
    ],
    "fields": [
        {"name": "site_id", "type": "text", "label": L("编号", "ID"), "required": True, "read_only": True,
         "max_length": 20, "default": "S-001", "appearance": "numbers"},
        {"name": "note_top", "type": "note", "label": L("=请注意：先填编号", "=Fill in the ID first")},
        {"name": "family", "type": "select_one", "choices": "kind", "label": L("类别", "Family"),
         "hint": L("先选类别", "Pick the family")},
        {"name": "picked", "type": "select_multiple", "choices": "kind", "label": L("选项", "Picks"),
         "choice_filter": "family = ${family}", "required": "${family} != ''",
         "required_message": L("选了类别就要选项", "pick once the family is set"),
         "constraint": {"expr": "not(selected(., 'none') and count-selected(.) > 1)",
                        "message": L("“无”不能与其他同选", "'none' stands alone")}},
        {"name": "township", "type": "text", "label": L("乡镇代码", "Township code"), "division": "township"},
        {"name": "built", "type": "integer", "label": L("年份", "Year"), "reference": "year", "min_year": 1950,
         "unit": "年"},
        {"name": "seen", "type": "date", "label": L("日期", "Date"), "reference": "event"},
        {"name": "area", "type": "decimal", "label": L("面积", "Area"), "unit": "m²",
         "constraint": {"expr": ". > 0 and . <= 1000", "code": "YEAR_RANGE"}},
        {"name": "ratio", "type": "decimal", "label": L("比值", "Ratio"), "constraint": ". >= 0"},
        {"name": "where", "type": "geopoint", "label": L("位置", "Location")},
        {"name": "line", "type": "geotrace", "label": L("线", "Line")},
        {"name": "outline", "type": "geoshape", "label": L("面", "Outline"), "relevant": "${area} > 10"},
        {"name": "double", "type": "calculate", "calculation": "${area} * 2"},
        {"name": "grp", "type": "group", "label": L("分组", "Group"), "relevant": "${family} = 'a'",
         "hint": L("组提示", "Group hint"),
         "fields": [{"name": "inner", "type": "text", "label": L("组内", "Inside"), "required": True}]},
        {"name": "rows", "type": "repeat", "label": L("明细", "Rows"), "min": 1, "max": 5,
         "fields": [{"name": "qty", "type": "integer", "label": L("数量", "Quantity"), "required": True,
                     "constraint": {"expr": ". >= ${built} - 3000", "message": L("太小", "too small")}},
                    {"name": "sub", "type": "repeat", "label": L("子明细", "Sub rows"), "max": 2,
                     "fields": [{"name": "sub_note", "type": "text", "label": L("备注", "Note")}]}]},
        {"name": "total", "type": "integer", "label": L("合计", "Total"),
         "constraint": {"expr": ". = sum(${qty})", "message": L("应等于明细之和", "must equal the rows' sum"),
                        "code": "CONSTRAINT"}},
    ],
}


def sink_form() -> Form:
    return compile_form(SINK, shared_codelists()).form


# ---------------------------------------------------------------------------------------------------
# A county's own XLSForm, as made in Excel or Kobo: Chinese + English labels with Kobo-style language
# columns, ODK metadata rows, a select with its choices, skip logic, a constraint with its message and
# a repeat.  Rows in comments are Excel row numbers.

COUNTY_SURVEY = [
    ["type", "name", "label::Chinese (zh)", "label::English", "hint::zh", "required", "relevant", "constraint",
     "constraint_message::Chinese (zh)", "constraint_message::English", "repeat_count"],       # 1
    ["start", "start", None, None, None, None, None, None, None, None, None],                  # 2
    ["end", "end", None, None, None, None, None, None, None, None, None],                      # 3
    ["text", "village_name", "村名", "Village name", "行政村全称", "yes", None, None, None, None, None],   # 4
    ["select_one house_kind", "kind", "房屋类型", "House type", None, "yes", None, None, None, None, None],  # 5
    ["text", "kind_other", "其他类型", "Other type", None, "yes", "${kind} = 'other'", None, None, None, None],
    ["integer", "households", "户数", "Households", None, "yes", None, ". >= 1 and . <= 5000",
     "户数应在1至5000之间", "between 1 and 5000 households", None],                              # 7
    ["begin_repeat", "residents", "居民", "Residents", None, None, None, None, None, None, None],  # 8
    ["integer", "age", "年龄", "Age", None, "yes", None, ". >= 0 and . <= 120", "年龄应在0至120岁之间",
     "age must be 0 to 120", None],                                                             # 9
    ["end_repeat", None, None, None, None, None, None, None, None, None, None],                 # 10
]
COUNTY_CHOICES = [
    ["list_name", "name", "label::Chinese (zh)", "label::English"],
    ["house_kind", "brick", "砖房", "Brick"],
    ["house_kind", "wood", "木房", "Timber"],
    ["house_kind", "other", "其他", "Other"],
]
COUNTY_SETTINGS = [["form_title", "form_id", "version"], ["村情摸底表", "village_check", 2021]]


def workbook_bytes(sheets: dict[str, list[list]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def county_bytes() -> bytes:
    return workbook_bytes({"survey": COUNTY_SURVEY, "choices": COUNTY_CHOICES, "settings": COUNTY_SETTINGS})


# ---------------------------------------------------------------------------------------------------
# Fixtures: every form exported once; pyxform + ODK Validate run once over all of them.

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("xlsforms")
    paths = {fid: export_xlsform(form, d / f"{fid}.xlsx") for fid, form in FORMS.items()}
    paths["__sink__"] = export_xlsform(sink_form(), d / "kitchen_sink.xlsx")
    county = d / "village_check.xlsx"
    county.write_bytes(county_bytes())
    paths["__county__"] = county
    # two that must fail, so that a silent pass of the batch check would show: ODK rejects the first
    # (an unknown function in a calculation), pyxform the second (a select without a choices sheet)
    paths["__odk_broken__"] = _write(d / "odk_broken.xlsx", workbook_bytes({"survey": [
        ["type", "name", "label", "calculation"], ["integer", "a", "A", None], ["calculate", "c", None, "foo(${a})"]]}))
    paths["__pyxform_broken__"] = _write(d / "pyxform_broken.xlsx", workbook_bytes({"survey": [
        ["type", "name", "label"], ["select_one nolist", "a", "A"]]}))
    return paths


@pytest.fixture(scope="module")
def odk(exported):
    keys = list(exported)
    return dict(zip(keys, check_xlsforms([exported[k] for k in keys])))


def _diff(a: Form, b: Form) -> list[str]:
    """Where two forms differ, for a readable failure."""
    out = [f"form.{f.name}" for f in dataclasses.fields(a)
           if f.name != "fields" and getattr(a, f.name) != getattr(b, f.name)]
    fa, fb = list(a.walk()), list(b.walk())
    if [f.name for f in fa] != [f.name for f in fb]:
        out.append(f"field names {[f.name for f in fa]} != {[f.name for f in fb]}")
    for x, y in zip(fa, fb):
        for f in dataclasses.fields(Field):
            if f.name != "children" and getattr(x, f.name) != getattr(y, f.name):
                out.append(f"{x.name}.{f.name}: {getattr(x, f.name)!r} != {getattr(y, f.name)!r}")
    return out


# ---------------------------------------------------------------------------------------------------
# Every catalogue form (and the kitchen sink): ODK Validate passes, round trips are exact.

ALL_KEYS = [*FORMS, "__sink__"]


def test_catalogue_loads():
    assert CATALOGUE_ERROR is None, str(CATALOGUE_ERROR)
    assert FORMS


def _form(key: str) -> Form:
    return sink_form() if key == "__sink__" else FORMS[key]


@pytest.mark.parametrize("key", ALL_KEYS)
def test_export_passes_odk_validate(key, odk):
    check = odk[key]
    for w in check.warnings:
        print(f"{key}: {w}")
    assert check.ok, f"{key}: " + "\n".join(check.errors)
    assert "census::" not in check.xform and "<h:title>" in check.xform  # our extra columns stay out of ODK


@pytest.mark.parametrize("key", ALL_KEYS)
def test_export_import_round_trip(key, exported):
    form = _form(key)
    result = import_xlsform(exported[key])
    assert result.form == form, _diff(form, result.form)
    assert result.warnings == ()


def _walk_dicts(fields):
    for f in fields:
        yield f
        yield from _walk_dicts(f.get("fields", []))


@pytest.mark.parametrize("key", ALL_KEYS)
def test_dict_and_yaml_round_trip(key, tmp_path):
    form = _form(key)
    d = form_to_dict(form)
    keys = set(d) | {k for f in _walk_dicts(d["fields"]) for k in f}
    assert not keys & {"reference", "min_year"}  # explicit: the shorthands are written out
    assert all(f.get("division") is None or "constraint" in f for f in _walk_dicts(d["fields"]))
    used = {f.choices for f in form.walk() if f.choices}
    assert used <= {cl["name"] for cl in d.get("choice_lists", [])}
    assert compile_form(d).form == form  # inline code lists: compiles without the shared lists
    path = write_form_yaml(form, tmp_path / f"{form.id}.yaml")
    assert load_form_file(path) == form


def test_the_batch_check_reports_failures(odk):
    broken = odk["__odk_broken__"]
    assert not broken.ok and any("foo" in e for e in broken.errors), broken
    assert not any(e.startswith("\tat ") for e in broken.errors)  # no Java stack frames
    assert not odk["__pyxform_broken__"].ok and odk["__pyxform_broken__"].errors[0].startswith("pyxform:")


def test_pyxform_convert_with_validate_accepts_an_export(exported):
    """pyxform's own path (a JVM per form), once, as a user of ``xls2xform`` would run it."""
    from pyxform.xls2xform import convert

    result = convert(xlsform=str(exported[next(iter(FORMS), "__sink__")]), validate=True)
    for w in result.warnings:
        print(w)
    assert "<h:title>" in result.xform


def test_exported_workbook_layout():
    form = sink_form()
    wb = openpyxl.load_workbook(io.BytesIO(xlsform_bytes(form)))
    assert wb.sheetnames[:3] == ["survey", "choices", "settings"]
    survey = [list(r) for r in wb["survey"].iter_rows(values_only=True)]
    head = survey[0]
    assert head[:4] == ["type", "name", f"label::{LANG_ZH}", f"label::{LANG_EN}"]
    for col in ("hint::中文 (zh)", "constraint_message::English (en)", "required_message::中文 (zh)",
                "census::constraint_code", "census::unit", "census::division", "census::max_length",
                "census::repeat_min", "census::repeat_max", "choice_filter", "default", "read_only", "appearance"):
        assert col in head, col
    rows = {r[1]: dict(zip(head, r)) for r in survey[1:] if not r[0].startswith("end_")}
    assert rows["family"]["type"] == "select_one kind"
    assert rows["picked"]["type"] == "select_multiple kind" and rows["picked"]["required"] == "${family} != ''"
    assert rows["township"]["constraint"] == "regex(., '^[0-9]{9}$')"
    assert rows["township"]["census::constraint_code"] == "DIVISION_CODE"
    assert rows["seen"]["constraint"] == ". <= date('2020-12-31')"
    assert rows["rows"]["type"] == "begin_repeat" and rows["rows"]["census::repeat_min"] == "1"
    assert [r[0] for r in survey if r[0] and r[0].startswith("end_")] == ["end_group", "end_repeat", "end_repeat"]
    note = wb["survey"].cell(row=[r[1] for r in survey].index("note_top") + 1, column=3)
    assert note.data_type == "s" and note.value.startswith("=")  # text, not a formula
    settings = dict(zip(*[list(r) for r in wb["settings"].iter_rows(values_only=True)]))
    assert settings["default_language"] == LANG_ZH
    assert settings["form_id"] == "kitchen_sink" and settings["version"] == "3.2"
    assert settings["form_title"] == "全要素测试表" and settings["census::block"] == "hazard"
    choices = [list(r) for r in wb["choices"].iter_rows(values_only=True)]
    assert choices[0] == ["list_name", "name", f"label::{LANG_ZH}", f"label::{LANG_EN}", "colour", "family"]


def test_expressions_are_written_for_odk_and_read_back_exactly():
    """``today()`` means the census reference date to us; ODK gets that date, import gets today() back."""
    data = {"id": "t_today", "version": "1", "block": "history", "title": L("测试", "Test"),
            "fields": [{"name": "d", "type": "date", "label": L("日期", "Date"),
                        "constraint": {"expr": ". <= today()", "message": L("不能晚于今天", "not after today")}},
                       {"name": "n", "type": "integer", "label": L("数", "N"), "relevant": "${d} < today()"}]}
    form = compile_form(data).form
    blob = xlsform_bytes(form)
    ws = openpyxl.load_workbook(io.BytesIO(blob))["survey"]
    head = [c.value for c in ws[1]]
    row = dict(zip(head, [c.value for c in ws[2]]))
    assert "today()" not in row["constraint"] and "2020-12-31" in row["constraint"]
    assert row["census::constraint"] == ". <= today()"
    assert import_xlsform(blob).form == form
    # someone edits the ODK column in Excel: the edit wins over the stale original
    ws.cell(row=2, column=head.index("constraint") + 1, value=". <= date('2019-12-31')")
    buf = io.BytesIO()
    ws.parent.save(buf)
    assert import_xlsform(buf.getvalue()).form.field("d").constraint.expression == ". <= date('2019-12-31')"


# ---------------------------------------------------------------------------------------------------
# A county's own XLSForm

def test_county_xlsform_imports_and_validates_records(odk):
    result = import_xlsform(county_bytes(), block="capacity")
    form = result.form
    assert form.id == "village_check" and form.version == "2021" and form.block is Block.CAPACITY
    assert form.title == Text("村情摸底表", "村情摸底表")
    assert {w.path for w in result.warnings} == {"start", "end"}  # ODK metadata rows skipped, said so
    assert all(w.severity == "warning" for w in result.warnings)
    assert form.field("village_name").label == Text("村名", "Village name")
    assert form.field("village_name").hint == Text("行政村全称", "行政村全称")
    assert form.field("kind").type is FieldType.SELECT_ONE and form.field("kind").choices == "house_kind"
    assert form.choice_list("house_kind").label_of("wood") == Text("木房", "Timber")
    c = form.field("households").constraint
    assert c.expression == ". >= 1 and . <= 5000" and c.code == "CONSTRAINT"
    assert c.message == Text("户数应在1至5000之间", "between 1 and 5000 households")
    residents = form.field("residents")
    assert residents.type is FieldType.REPEAT and [f.name for f in residents.children] == ["age"]
    assert odk["__county__"].ok, odk["__county__"].errors

    v = Validator(form)
    good = {"village_name": "前所村", "kind": "brick", "households": 120, "residents": [{"age": 40}, {"age": 7}]}
    assert v.validate(good).ok, [p.line() for p in v.validate(good).problems]
    assert v.validate({**good, "kind": "other", "kind_other": "石房"}).ok

    bad = v.validate({"village_name": "前所村", "kind": "stone", "households": 0,
                      "residents": [{"age": 40}, {"age": 130}]})
    assert not bad.ok
    got = {(p.code, p.path) for p in bad.errors}
    assert (Code.CHOICE_UNKNOWN, "kind") in got
    assert (Code.CONSTRAINT, "households") in got
    assert (Code.CONSTRAINT, "residents[2].age") in got
    msg = next(p for p in bad.errors if p.path == "households")
    assert "户数应在1至5000之间" in msg.message_zh and "between 1 and 5000" in msg.message_en

    other = v.validate({**good, "kind": "other"})
    assert [(p.code, p.path) for p in other.errors] == [(Code.REQUIRED, "kind_other")]


def test_county_form_round_trips_through_our_export():
    form = import_xlsform(county_bytes()).form
    assert form.block is Block.EXPOSURE  # no block anywhere: the default
    assert import_xlsform(xlsform_bytes(form)).form == form


def test_block_argument_wins_over_the_workbook():
    blob = xlsform_bytes(FORMS["rural_house"] if "rural_house" in FORMS else sink_form())
    assert xlsform_to_dict(blob)["block"] in {b.value for b in Block}
    assert xlsform_to_dict(blob, block="single_risk")["block"] == "single_risk"


def test_kobo_style_single_language_form():
    """Plain ``label``, spaced type names, aliases: one language gives the same zh and en."""
    survey = [["type", "name", "label", "jr:constraintMsg", "constraint", "required", "read_only"],
              ["begin group", "hh", "户情", None, None, None, None],
              ["int", "people", "人口数", "应为正数", ". > 0", "TRUE", None],
              ["select one yn", "has_well", "有无水井", None, None, "no", "yes"],
              ["select_multiple yn", "checks", "核查项", None, None, None, None],
              ["end group", None, None, None, None, None, None],
              ["gps", "spot", "位置", None, None, None, None]]
    choices = [["list name", "name", "label", "$kuid", "$autovalue"], ["yn", 1, "是", "k1", "1"],
               ["yn", 0, "否", "k2", "0"]]
    blob = workbook_bytes({"survey": survey, "choices": choices,
                           "settings": [["form_title", "form_id"], ["户情表", "hh_form"]]})
    form = import_xlsform(blob).form
    people = form.field("people")
    assert people.type is FieldType.INTEGER and people.required is True
    assert people.label == Text("人口数", "人口数") and people.constraint.message == Text("应为正数", "应为正数")
    assert form.field("has_well").read_only is True and form.field("has_well").required is False
    assert form.choice_list("yn").names() == {"1", "0"}  # numeric cells read as codes
    assert all(c.filters == () for c in form.choice_list("yn").choices)  # Kobo's $kuid is no filter
    assert form.field("spot").type is FieldType.GEOPOINT
    assert form.field("hh").type is FieldType.GROUP
    assert form.title == Text("户情表", "户情表")


@pytest.mark.parametrize("zh_col,en_col", [
    ("label::中文 (zh)", "label::English (en)"), ("label::Chinese (zh)", "label::English (en)"),
    ("label::zh", "label::en"), ("label::Chinese", "label::English"), ("label::中文", "label::英文"),
])
def test_language_column_variants(zh_col, en_col):
    blob = workbook_bytes({"survey": [["type", "name", en_col, zh_col], ["text", "a", "Name", "名称"]],
                           "settings": [["form_id"], ["lang_test"]]})
    assert import_xlsform(blob).form.field("a").label == Text("名称", "Name")


def test_plain_label_follows_default_language_and_streams_are_read():
    blob = workbook_bytes({"survey": [["type", "name", "label", "label::中文 (zh)"], ["text", "a", "Name", "名称"]],
                           "settings": [["form_id", "default_language"], ["lang_default", "English (en)"]]})
    assert import_xlsform(io.BytesIO(blob)).form.field("a").label == Text("名称", "Name")


def test_shared_code_lists_may_be_left_off_the_choices_sheet():
    blob = workbook_bytes({"survey": [["type", "name", "label"], ["select_one yes_no", "ok", "是否合格"]],
                           "settings": [["form_id"], ["shared_test"]]})
    with pytest.raises(XLSFormError):
        import_xlsform(blob)
    form = import_xlsform(blob, shared_codelists()).form
    assert form.choice_list("yes_no") == shared_codelists()["yes_no"]


# ---------------------------------------------------------------------------------------------------
# Malformed workbooks: XLSFormError, Chinese first, naming sheet, row and column

def _chinese_first(e: XLSFormError) -> None:
    assert str(e).startswith(e.message_zh)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in e.message_zh)
    assert e.problems and e.problems[0].message_zh


def test_not_an_xlsx(tmp_path):
    for source in (b"this is not a workbook", _write(tmp_path / "form.xlsx", b"PK\x03\x04 broken zip")):
        with pytest.raises(XLSFormError) as ei:
            import_xlsform(source)
        assert ei.value.code is Code.FILE_UNREADABLE and ".xlsx" in ei.value.message_zh
        _chinese_first(ei.value)
    with pytest.raises(XLSFormError) as ei:
        xlsform_to_dict(tmp_path / "missing.xlsx")
    assert ei.value.code is Code.FILE_UNREADABLE


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_no_survey_sheet():
    with pytest.raises(XLSFormError) as ei:
        import_xlsform(workbook_bytes({"Sheet1": [["type", "name"], ["text", "a"]]}))
    e = ei.value
    assert e.sheet == "survey" and "survey" in e.message_zh and "Sheet1" in e.message_zh
    _chinese_first(e)


def test_unknown_type_names_sheet_row_and_column():
    survey = [["name", "type", "label"], ["a", "text", "甲"], ["b", "integer", "乙"], ["c", "date", "丙"],
              ["d", "barcode", "条码"]]  # Excel row 5
    with pytest.raises(XLSFormError) as ei:
        import_xlsform(workbook_bytes({"survey": survey}))
    e = ei.value
    assert (e.sheet, e.row, e.column) == ("survey", 5, "type")
    assert e.code is Code.FORM_UNKNOWN_TYPE
    assert "工作表“survey”第5行“type”列（B列）" in e.message_zh and "barcode" in e.message_zh
    assert "sheet 'survey', row 5, column 'type' (B)" in e.message_en
    assert e.problems[0].row == 5
    _chinese_first(e)


def test_select_with_a_missing_list():
    survey = [["type", "name", "label"], ["text", "a", "甲"], ["select_one nowhere", "b", "乙"]]
    choices = [["list_name", "name", "label"], ["elsewhere", "1", "一"]]
    with pytest.raises(XLSFormError) as ei:
        import_xlsform(workbook_bytes({"survey": survey, "choices": choices}))
    e = ei.value
    assert (e.sheet, e.row, e.column) == ("survey", 3, "type") and e.code is Code.FORM_UNKNOWN_CHOICES
    assert "nowhere" in e.message_zh and "第3行" in e.message_zh and "row 3" in e.message_en
    _chinese_first(e)


@pytest.mark.parametrize("rows,row,column,fragment", [
    ([["end_group", None, None]], 2, "type", "begin_group"),
    ([["begin_group", "g", "组"], ["text", "a", "甲"]], 2, "type", "end_group"),
    ([["text", "a", "甲"], ["integer", "a", "乙"]], 3, "name", "第2行"),
    ([["text", None, "甲"]], 2, "name", "name"),
    ([[None, "a", "甲"]], 2, "type", "type"),
    ([["select_one", "a", "甲"]], 2, "type", "代码表"),
    ([["select_one l or_other", "a", "甲"]], 2, "type", "or_other"),
])
def test_structural_errors_name_the_row(rows, row, column, fragment):
    with pytest.raises(XLSFormError) as ei:
        import_xlsform(workbook_bytes({"survey": [["type", "name", "label"], *rows],
                                       "choices": [["list_name", "name", "label"], ["l", "1", "一"]]}))
    e = ei.value
    assert (e.sheet, e.row, e.column) == ("survey", row, column), e
    assert fragment in e.message_zh + e.message_en
    _chinese_first(e)


def test_bad_census_column_and_choice_rows():
    with pytest.raises(XLSFormError) as ei:
        import_xlsform(workbook_bytes({"survey": [["type", "name", "label", "census::max_length"],
                                                  ["text", "a", "甲", "long"]]}))
    assert (ei.value.row, ei.value.column) == (2, "census::max_length")
    with pytest.raises(XLSFormError) as ei:
        import_xlsform(workbook_bytes({"survey": [["type", "name", "label"], ["select_one l", "a", "甲"]],
                                       "choices": [["list_name", "name", "label"], ["l", "1", "一"],
                                                   ["l", "two words", "二"]]}))
    assert (ei.value.sheet, ei.value.row, ei.value.column) == ("choices", 3, "name")


def test_compile_problems_are_located_on_the_survey_sheet():
    survey = [["type", "name", "label", "relevant", "census::constraint_code", "constraint"],
              ["text", "a", "甲", None, None, None],
              ["integer", "b", "乙", "${nowhere} = 1", None, None],
              ["integer", "c", "丙", None, "NOT_A_CODE", ". > 1"]]
    with pytest.raises(XLSFormError) as ei:
        import_xlsform(workbook_bytes({"survey": survey, "settings": [["form_id"], ["located"]]}))
    e = ei.value
    assert isinstance(e, FormDefinitionError)
    assert {p.row for p in e.problems} == {3, 4}
    assert {p.code for p in e.problems} == {Code.FORM_UNKNOWN_REFERENCE, Code.FORM_INVALID}
    assert (e.sheet, e.row) == ("survey", 3)
    assert "工作表“survey”第3行" in e.message_zh and "nowhere" in e.message_zh
    _chinese_first(e)
