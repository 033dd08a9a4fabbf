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


# --- the columnar batch path gives exactly what record-by-record validation gives --------------------

FLAT_FIELDS = [f for f in FORM["fields"] if f["name"] not in ("members", "member_count")] + [
    {"name": "township_code", "type": "text", "label": L("乡镇代码", "Township"), "division": "township"},
    {"name": "fam", "type": "text", "label": L("类别", "Family")},
    {"name": "pick", "type": "select_one", "choices": "kind", "label": L("选一", "Pick"),
     "choice_filter": "name != ${fam}"},
    {"name": "label_all", "type": "calculate", "calculation": "concat(${kinds}, '/', ${area}, '/', ${year_built})"},
    {"name": "odd", "type": "calculate", "calculation": "${area} div (${year_built} - 2000)"},
    {"name": "must_if", "type": "text", "label": L("条件必填", "Required if"), "required": "${area} > 10",
     "max_length": 3},
]
FLAT_FORM = {**FORM, "fields": FLAT_FIELDS}
BOX = shapely.box(120.4, 40.4, 120.8, 40.8)


def flat_validator() -> Validator:
    """The flat form's validator in the county context the batch tests share (box boundary, one village)."""
    ctx = ValidationContext(county_code="211481", boundary=BOX,
                            divisions=DivisionRegister(villages=frozenset({"211481100201"})))
    return Validator(compile_form(FLAT_FORM, LISTS).form, ctx)

scalar_answers = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-5, max_value=2030), st.sampled_from([1995, 2021, 1800, 0]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1.0, 150.5, -2.0, 1e300]),
    st.sampled_from(["", " ", "a", "b", "none", "1", "0", "a b", "none a", "1995", "1,200.5", "2019-05-01",
                     "2021-01-05", "211481100201", "211481101201", "211481100", "21148110020", "x" * 5,
                     "40.6 120.6", "40.9 120.5", "geological", "{bad json"]),
    st.text(max_size=6))
geo_answers = st.one_of(
    st.just(SQUARE),
    st.just({"type": "Polygon", "coordinates": [[[120.5, 40.5], [120.9, 40.5], [120.9, 40.9], [120.5, 40.5]]]}),
    st.just({"type": "Polygon", "coordinates": [[[120.6, 40.6], [120.7, 40.7], [120.7, 40.6], [120.6, 40.7],
                                                  [120.6, 40.6]]]}),
    st.just({"type": "Polygon", "coordinates": [[[120.5, 40.5], [120.6, 40.5], [120.5, 40.5]]]}),
    st.just({"type": "Polygon", "coordinates": [[[120.5, 40.5, 3.0], [120.6, 40.5, 1], [120.6, 40.6, 2],
                                                  [120.5, 40.5, 0]]]}),
    st.just({"type": "Polygon", "coordinates": [[[120.5, True], [120.6, 40.5], [120.6, 40.6], [120.5, True]]]}),
    st.just({"type": "Polygon", "coordinates": [[[120.5, "40.5"], [120.6, 40.5], [120.6, 40.6], [120.5, 40.5]]]}),
    st.just({"type": "Polygon", "coordinates": [[]]}), st.just({"type": "Polygon", "coordinates": []}),
    st.just({"type": "Point", "coordinates": [120.5, 40.5]}),
    st.just({"type": "Point", "coordinates": [120.5, 40.5]}), st.just({"type": "Point", "coordinates": [130.0, 40.5]}),
    st.just({"type": "Point", "coordinates": [120.5, float("nan")]}), st.just([120.5, 40.5]))
list_answers = st.lists(st.sampled_from(["a", "b", "none", " a", "", "c", 1, True, None]), max_size=3)


def flat_record():
    names = [f["name"] for f in FLAT_FIELDS] + ["big_note", "extra_field", "_meta"]
    return st.dictionaries(st.sampled_from(names), st.one_of(scalar_answers, geo_answers, list_answers), max_size=14)


def _same(batch, one):
    assert [r.record for r in batch] == [r.record for r in one]
    assert [[p.as_dict() for p in r.problems] for r in batch] == [[p.as_dict() for p in r.problems] for r in one]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(flat_record().map(lambda r: {**VALID, **r} if len(r) % 2 else r), st.just("x")),
                min_size=8, max_size=40))
def test_batches_give_exactly_what_one_record_at_a_time_gives(records):
    v = flat_validator()
    _same(v.validate_many(records, first_row=2), [v.validate(r, row=i + 2) for i, r in enumerate(records)])
    _same(v.validate_many(records), [v.validate(r) for r in records])   # and again, from the remembered results


def test_batches_of_the_catalogue_forms_match_one_at_a_time():
    from tests.schemas.formcases import example
    from schemas.catalogue import get_form

    rural = {"building_id": "B1", "village_code": "211481100201", "footprint": SQUARE, "use": "other",
             "use_other": "仓房", "structure_type": "masonry", "floors": 2, "floor_area": 88.5, "year_built": 1999,
             "construction_method": "craftsman", "professional_design": "0", "seismic_measures": ["ring_beam"],
             "retrofitted": "1", "retrofit_year": 2010, "damage": ["none"], "survey_date": "2021-06-01"}
    for form_id in ("rural_house", "urban_house", "public_facility", "geohazard_site", "road",
                    "village_population", "disaster_annual", "key_hidden_danger", "comprehensive_zoning_result"):
        v = Validator(get_form(form_id), ValidationContext(county_code="211481"))
        base = rural if form_id == "rural_house" else example(form_id)
        records = []
        for i, name in enumerate(list(base) * 2):
            rec = dict(base)
            rec[name] = [None, "", "zz", 2021, -1, 1.5, ["zz"], {"type": "Point", "coordinates": [1, 2]}][i % 8]
            records.append(rec)
        records.append(dict(base))
        _same(v.validate_many(records), [v.validate(r) for r in records])
        assert v.validate_many(records)[-1].ok, form_id


def test_remembered_results_keep_values_of_different_types_apart():
    # x is the integer 1 in one batch and true() in the next: equal as dict keys, different as text
    form = compile_form({**FORM, "fields": [
        {"name": "t", "type": "text", "label": L("甲")},
        {"name": "x", "type": "calculate", "calculation": "if(${t} = 'i', 1, true())"},
        {"name": "y", "type": "calculate", "calculation": "concat(${x}, '')"}]}, LISTS).form
    v = Validator(form)
    ints = v.validate_many([{"t": "i"}] * 10)
    bools = v.validate_many([{"t": "b"}] * 10)
    assert {r.record["y"] for r in ints} == {v.validate({"t": "i"}).record["y"]}
    assert {r.record["y"] for r in bools} == {v.validate({"t": "b"}).record["y"]}
    assert ints[0].record["y"] != bools[0].record["y"]


def test_a_batch_is_validated_in_slices_with_its_row_numbers(monkeypatch):
    import schemas.validator as V

    monkeypatch.setattr(V, "COLUMNAR_SLICE", 8)
    v = Validator(compile_form(FLAT_FORM, LISTS).form, ValidationContext(county_code="211481"))
    records = [{**VALID, "year_built": 1990 + i} for i in range(40)]   # 31 valid, then years after 2020
    rows = list(range(100, 140))
    batch = v.validate_many(records, rows=rows)
    _same(batch, [v.validate(r, row=n) for r, n in zip(records, rows)])
    assert [r.ok for r in batch] == [1990 + i <= 2020 for i in range(40)]
    assert batch[39].errors[0].row == 139
