"""The compiler and validator on small forms built in code."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.compiler import compile_choice_list, compile_form
from schemas.errors import Code, FormDefinitionError
from schemas.validator import DivisionRegister, ValidationContext, Validator

LISTS = {"yes_no": compile_choice_list({"name": "yes_no", "label": {"zh": "是否", "en": "Yes/No"},
                                        "choices": [{"name": "1", "zh": "是", "en": "Yes"},
                                                    {"name": "0", "zh": "否", "en": "No"}]}),
         "kind": compile_choice_list({"name": "kind", "label": {"zh": "类型", "en": "Kind"},
                                      "choices": [{"name": "a", "zh": "甲", "en": "A"},
                                                  {"name": "b", "zh": "乙", "en": "B"},
                                                  {"name": "none", "zh": "无", "en": "None"}]})}


def L(zh, en=None):
    return {"zh": zh, "en": en or zh}


FORM = {
    "id": "t", "version": "1", "block": "exposure", "title": L("测试", "Test"),
    "fields": [
        {"name": "village_code", "type": "text", "label": L("村代码", "Village code"), "division": "village",
         "required": True},
        {"name": "year_built", "type": "integer", "label": L("建造年份", "Year built"), "required": True,
         "reference": "year", "min_year": 1900},
        {"name": "event_date", "type": "date", "label": L("发生日期", "Event date"), "reference": "event"},
        {"name": "area", "type": "decimal", "label": L("面积", "Area"),
         "constraint": {"expr": ". > 0", "message": L("应大于0", "must be above 0")}},
        {"name": "retrofitted", "type": "select_one", "choices": "yes_no", "label": L("加固", "Retrofitted"),
         "required": True},
        {"name": "retrofit_year", "type": "integer", "label": L("加固年份", "Retrofit year"),
         "relevant": "${retrofitted} = '1'", "required": True,
         "constraint": {"expr": ". >= ${year_built}", "message": L("不能早于建造年份", "not before year built")}},
        {"name": "kinds", "type": "select_multiple", "choices": "kind", "label": L("种类", "Kinds")},
        {"name": "age", "type": "calculate", "calculation": "2020 - ${year_built}"},
        {"name": "where", "type": "geopoint", "label": L("位置", "Location")},
        {"name": "shape", "type": "geoshape", "label": L("轮廓", "Outline")},
        {"name": "info", "type": "group", "label": L("分组", "Group"), "relevant": "${area} > 100",
         "fields": [{"name": "big_note", "type": "text", "label": L("大面积说明", "Why so big"), "required": True}]},
        {"name": "members", "type": "repeat", "label": L("成员", "Members"), "min": 1, "max": 3,
         "fields": [{"name": "m_age", "type": "integer", "label": L("年龄", "Age"), "required": True,
                     "constraint": ". >= 0 and . <= 120"}]},
        {"name": "member_count", "type": "integer", "label": L("成员数", "Member count"),
         "constraint": {"expr": ". = count(${m_age})", "message": L("应等于成员条数", "must equal members listed")}},
    ],
}

VALID = {"village_code": "211481100201", "year_built": 1995, "retrofitted": "0", "members": [{"m_age": 40}],
         "member_count": 1}
SQUARE = {"type": "Polygon", "coordinates": [[[120.5, 40.5], [120.5001, 40.5], [120.5001, 40.5001],
                                              [120.5, 40.5001], [120.5, 40.5]]]}


@pytest.fixture(scope="module")
def validator():
    return Validator(compile_form(FORM, LISTS).form, ValidationContext(county_code="211481"))


def test_valid_record_passes_and_calculation_is_filled(validator):
    res = validator.validate(VALID)
    assert res.ok, res.problems
    assert res.record["age"] == 25


@pytest.mark.parametrize("change, code, path", [
    ({"year_built": 2021}, Code.REFERENCE_DATE, "year_built"),
    ({"year_built": 1899}, Code.REFERENCE_DATE, "year_built"),
    ({"year_built": "一九九五"}, Code.TYPE_INTEGER, "year_built"),
    ({"year_built": None}, Code.REQUIRED, "year_built"),
    ({"event_date": "2021-01-05"}, Code.REFERENCE_DATE, "event_date"),
    ({"event_date": "2020-02-30"}, Code.TYPE_DATE, "event_date"),
    ({"area": -1}, Code.CONSTRAINT, "area"),
    ({"area": "abc"}, Code.TYPE_DECIMAL, "area"),
    ({"retrofitted": "2"}, Code.CHOICE_UNKNOWN, "retrofitted"),
    ({"retrofitted": "1"}, Code.REQUIRED, "retrofit_year"),
    ({"retrofitted": "1", "retrofit_year": 1990}, Code.CONSTRAINT, "retrofit_year"),
    ({"kinds": ["a", "zzz"]}, Code.CHOICE_UNKNOWN, "kinds"),
    ({"village_code": "21148110020"}, Code.DIVISION_CODE, "village_code"),
    ({"village_code": "210000100201"}, Code.DIVISION_OUTSIDE, "village_code"),
    ({"where": "91 120.5"}, Code.GEOMETRY_OUTSIDE, "where"),
    ({"where": "forty north"}, Code.GEOMETRY_PARSE, "where"),
    ({"where": {"type": "Point", "coordinates": [float("nan"), 40.5]}}, Code.GEOMETRY_PARSE, "where"),
    ({"shape": {"type": "Polygon", "coordinates": [[[120.5, 40.5], [120.6, 40.6], [120.6, 40.5],
                                                    [120.5, 40.6], [120.5, 40.5]]]}}, Code.GEOMETRY_INVALID, "shape"),
    ({"area": 150}, Code.REQUIRED, "big_note"),
    ({"members": [], "member_count": 0}, Code.REPEAT_MIN, "members"),
    ({"members": [{"m_age": 1}] * 4, "member_count": 4}, Code.REPEAT_MAX, "members"),
    ({"members": [{"m_age": 1}, {"m_age": 130}], "member_count": 2}, Code.CONSTRAINT, "members[2].m_age"),
    ({"members": [{"m_age": 1}, {}], "member_count": 2}, Code.REQUIRED, "members[2].m_age"),
    ({"members": "x", "member_count": 0}, Code.REPEAT_NOT_LIST, "members"),
    ({"member_count": 2}, Code.CONSTRAINT, "member_count"),
])
def test_invalid_values_get_their_code_on_their_path(validator, change, code, path):
    res = validator.validate({**VALID, **change})
    assert not res.ok
    assert [(p.code, p.path) for p in res.errors] == [(code, path)]
    p = res.errors[0]
    assert p.message_zh and p.message_en


def test_reference_point_is_named_in_the_message(validator):
    (p,) = validator.validate({**VALID, "year_built": 2021}).errors
    assert "2020-12-31" in p.message_zh and "建造年份" in p.message_zh
    assert "reference point" in p.message_en and "Year built" in p.message_en
    (p,) = validator.validate({**VALID, "event_date": "2021-01-05"}).errors
    assert "2020-12-31" in p.message_zh and "发生日期" in p.message_zh


def test_irrelevant_answers_are_cleared_not_validated(validator):
    res = validator.validate({**VALID, "retrofitted": "0", "retrofit_year": 1800})
    assert res.ok
    assert "retrofit_year" not in res.record
    res = validator.validate({**VALID, "area": 50, "big_note": 123})
    assert res.ok and "big_note" not in res.record


def test_values_are_coerced_as_a_spreadsheet_gives_them(validator):
    res = validator.validate({**VALID, "year_built": "1995", "area": "1,200.5", "kinds": "a b",
                              "event_date": dt.datetime(2019, 5, 1, 8, 0), "big_note": "大",
                              "where": "40.6 120.6", "shape": SQUARE})
    assert res.ok, res.problems
    assert res.record["area"] == 1200.5
    assert res.record["kinds"] == ["a", "b"]
    assert res.record["event_date"] == "2019-05-01"
    assert res.record["where"] == {"type": "Point", "coordinates": [120.6, 40.6]}


def test_unknown_fields_are_warnings_not_errors(validator):
    res = validator.validate({**VALID, "colour": "red", "_uuid": "x"})
    assert res.ok
    assert [(p.code, p.severity, p.path) for p in res.problems] == [(Code.UNKNOWN_FIELD, "warning", "colour")]


def test_register_membership_and_boundary():
    form = compile_form(FORM, LISTS).form
    boundary = shapely.box(120.4, 40.4, 120.8, 40.8)
    ctx = ValidationContext(county_code="211481", boundary=boundary,
                            divisions=DivisionRegister(villages=frozenset({"211481100201"})))
    v = Validator(form, ctx)
    assert v.validate(VALID).ok
    assert [p.code for p in v.validate({**VALID, "village_code": "211481100999"}).errors] == [Code.DIVISION_UNKNOWN]
    assert [p.code for p in v.validate({**VALID, "where": "40.9 120.5"}).errors] == [Code.GEOMETRY_OUTSIDE]
    assert v.validate({**VALID, "where": "40.5 120.5"}).ok


def test_rows_are_numbered_as_the_file_numbers_them(validator):
    results = validator.validate_many([VALID, {**VALID, "year_built": 2030}], rows=[2, 3])
    assert results[0].ok
    assert results[1].errors[0].row == 3
    assert "row 3" in results[1].errors[0].line("f.csv") and "f.csv" in results[1].errors[0].line("f.csv")


def test_not_a_record(validator):
    assert [p.code for p in validator.validate(["a"]).errors] == [Code.RECORD_NOT_OBJECT]


@pytest.mark.parametrize("change, code", [
    ({"fields": [{"name": "a", "type": "wibble", "label": L("甲")}]}, Code.FORM_UNKNOWN_TYPE),
    ({"fields": [{"name": "a", "type": "text", "label": L("甲")}, {"name": "a", "type": "text", "label": L("乙")}]},
     Code.FORM_DUPLICATE_NAME),
    ({"fields": [{"name": "a", "type": "select_one", "choices": "nope", "label": L("甲")}]}, Code.FORM_UNKNOWN_CHOICES),
    ({"fields": [{"name": "a", "type": "text", "label": L("甲"), "relevant": "${b} = 1"}]}, Code.FORM_UNKNOWN_REFERENCE),
    ({"fields": [{"name": "a", "type": "text", "label": L("甲"), "constraint": "__import__('os')"}]},
     Code.FORM_BAD_EXPRESSION),
    ({"fields": [{"name": "a", "type": "text", "label": {"zh": "甲"}}]}, Code.FORM_MISSING_LABEL),
    ({"block": "weather"}, Code.FORM_INVALID),
])
def test_bad_form_definitions_are_reported_with_codes(change, code):
    with pytest.raises(FormDefinitionError) as info:
        compile_form({**FORM, **change}, LISTS)
    assert code in [p.code for p in info.value.problems]
    assert info.value.message_zh


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
FIELD_NAMES = [f["name"] for f in FORM["fields"]] + ["m_age", "big_note"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=12)))
def test_validator_never_crashes_on_arbitrary_json(validator, record):
    res = validator.validate(record)
    assert isinstance(res.ok, bool)
    for p in res.problems:
        assert p.code in Code and p.message_zh


def test_calculation_that_divides_by_zero_stores_no_value():
    form = compile_form({**FORM, "fields": FORM["fields"] + [
        {"name": "ratio", "type": "calculate", "calculation": "${area} div 0"}]}, LISTS).form
    res = Validator(form).validate({**VALID, "area": 5})
    assert res.ok and res.record.get("ratio") is None


def test_skipped_repeat_entries_are_cleared_not_validated():
    form = compile_form({**FORM, "fields": [
        {"name": "has", "type": "select_one", "choices": "yes_no", "label": L("有", "Has"), "required": True},
        {"name": "items", "type": "repeat", "label": L("条目", "Items"), "relevant": "${has} = '1'", "min": 1,
         "fields": [{"name": "qty", "type": "integer", "label": L("数量", "Qty"), "required": True}]},
        {"name": "total", "type": "calculate", "calculation": "sum(${qty})"},
    ]}, LISTS).form
    v = Validator(form)
    res = v.validate({"has": "0", "items": [{"qty": "x"}, {}]})
    assert res.ok, res.problems
    assert "items" not in res.record and res.record["total"] == 0
    res = v.validate({"has": "1", "items": [{"qty": 2}, {"qty": 3}]})
    assert res.ok and res.record["total"] == 5


def test_village_must_lie_in_the_records_township():
    form = compile_form({**FORM, "fields": [
        {"name": "township_code", "type": "text", "label": L("乡镇代码", "Township"), "division": "township"},
        {"name": "village_code", "type": "text", "label": L("村代码", "Village"), "division": "village"},
    ]}, LISTS).form
    v = Validator(form, ValidationContext(county_code="211481"))
    assert v.validate({"township_code": "211481100", "village_code": "211481100201"}).ok
    res = v.validate({"township_code": "211481100", "village_code": "211481101201"})
    assert [(p.code, p.path) for p in res.errors] == [(Code.DIVISION_MISMATCH, "village_code")]


def test_bare_names_are_refused_outside_choice_filters():
    with pytest.raises(FormDefinitionError) as info:
        compile_form({**FORM, "fields": [{"name": "a", "type": "integer", "label": L("甲"), "constraint": "b > 1"}]},
                     LISTS)
    assert Code.FORM_BAD_EXPRESSION in [p.code for p in info.value.problems]


def test_a_comma_that_split_a_yaml_label_is_reported():
    with pytest.raises(FormDefinitionError) as info:
        compile_form({**FORM, "fields": [{"name": "a", "type": "text",
                                          "label": {"zh": "甲", "en": "Integrated", "closed management": None}}]},
                     LISTS)
    assert any("quote" in p.message_en for p in info.value.problems)


def test_choice_filter_is_enforced():
    lists = {**LISTS, "htype": compile_choice_list({"name": "htype", "label": L("灾种", "Hazard"), "choices": [
        {"name": "landslide", "zh": "滑坡", "en": "Landslide", "family": "geological"},
        {"name": "earthquake", "zh": "地震", "en": "Earthquake", "family": "earthquake"}]})}
    form = compile_form({**FORM, "fields": [
        {"name": "fam", "type": "text", "label": L("类别", "Family")},
        {"name": "t", "type": "select_one", "choices": "htype", "label": L("灾种", "Hazard"),
         "choice_filter": "family = ${fam}"}]}, lists).form
    v = Validator(form)
    assert v.validate({"fam": "geological", "t": "landslide"}).ok
    res = v.validate({"fam": "geological", "t": "earthquake"})
    assert [(p.code, p.path) for p in res.errors] == [(Code.CHOICE_NOT_OFFERED, "t")]


def test_conditionally_required_repeat():
    form = compile_form({**FORM, "fields": [
        {"name": "has", "type": "select_one", "choices": "yes_no", "label": L("有", "Has")},
        {"name": "items", "type": "repeat", "label": L("条目", "Items"), "required": "${has} = '1'",
         "fields": [{"name": "qty", "type": "integer", "label": L("数量", "Qty")}]}]}, LISTS).form
    v = Validator(form)
    assert v.validate({"has": "0"}).ok
    assert [p.code for p in v.validate({"has": "1"}).errors] == [Code.REPEAT_MIN]
