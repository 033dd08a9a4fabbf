"""The desktop app's widget-independent logic (no Qt here)."""

from __future__ import annotations

from types import SimpleNamespace

from census_desktop.app import find_cjk_font
from census_desktop.logic import (
    STATUS_TODO,
    clear_irrelevant,
    evaluate_form,
    filter_rows,
    problems_by_path,
    record_rows,
    sort_rows,
    to_record,
    village_progress,
)
from schemas.catalogue import get_form


def test_skip_logic_use_other_relevant_only_for_other():
    form = get_form("rural_house")
    assert evaluate_form(form, {"use": "residence"}).relevant["use_other"] is False
    assert evaluate_form(form, {"use": "other"}).relevant["use_other"] is True
    # a broken or empty answer leaves the field hidden, not an exception
    assert evaluate_form(form, {}).relevant["use_other"] is False


def test_clear_irrelevant_blanks_hidden_answers():
    form = get_form("rural_house")
    values = {"use": "residence", "use_other": "仓库", "retrofitted": "0", "retrofit_year": 2001}
    state = evaluate_form(form, values)
    cleared = clear_irrelevant(form, values, state)
    assert sorted(cleared) == ["retrofit_year", "use_other"]
    assert values["use_other"] is None and values["retrofit_year"] is None


def test_calculation_follows_its_inputs():
    form = get_form("rural_house")
    assert evaluate_form(form, {"year_built": 1975}).calculated["year_band"] == "1"
    assert evaluate_form(form, {"year_built": 2012}).calculated["year_band"] == "5"


def test_repeat_entries_get_their_own_paths():
    form = get_form("household_survey")
    state = evaluate_form(form, {"members": [{"member_relation": "head"}, {}]})
    assert "members[1].member_age" in state.relevant
    assert "members[2].member_age" in state.relevant


def test_problems_by_path_and_to_record():
    p1 = SimpleNamespace(code="REQUIRED", path="floors", message_zh="必填", message_en="required")
    p2 = SimpleNamespace(code="REFERENCE_DATE", path="year_built", message_zh="不能晚于", message_en="not after")
    assert problems_by_path([p1, p2]) == {"floors": ["必填"], "year_built": ["不能晚于"]}
    assert problems_by_path([p1, p2], lang="en", skip_codes=["REQUIRED"]) == {"year_built": ["not after"]}
    import datetime as dt
    rec = to_record(get_form("rural_house"), {"a": None, "b": "", "c": [], "d": dt.date(2021, 6, 1), "e": 3,
                                              "m": [{"x": None, "y": 1}]})
    assert rec == {"d": "2021-06-01", "e": 3, "m": [{"y": 1}]}


def _records():
    return [{"record_uuid": "u1", "key": "B1", "status": "final", "error_count": 0, "updated_at": "2021-06-01T08:00",
             "exported_seq": 1},
            {"record_uuid": "u2", "key": "B2", "status": "draft", "error_count": 2, "updated_at": "2021-06-02T08:00"}]


WORKMAP = [{"building_id": "B1", "village_code": "V1", "urban": 0}, {"building_id": "B2", "village_code": "V1", "urban": 0},
           {"building_id": "B3", "village_code": "V2", "urban": 0}, {"building_id": "B4", "village_code": "V2", "urban": 1}]


def test_rows_include_unfilled_footprints_of_the_right_kind():
    rows = record_rows(_records(), "rural_house", workmap=WORKMAP, village_names={"V1": "一村", "V2": "二村"})
    assert [(r.key, r.status, r.village) for r in rows] == [("B1", "exported", "一村"), ("B2", "draft", "一村"),
                                                            ("B3", STATUS_TODO, "二村")]
    assert [rows[i].key for i in filter_rows(rows, "二村")] == ["B3"]
    assert [rows[i].key for i in filter_rows(rows, "", ["draft"])] == ["B2"]
    assert [rows[i].key for i in filter_rows(rows, "未填")] == ["B3"]
    assert [rows[i].key for i in sort_rows(rows, [0, 1, 2], "key", descending=True)] == ["B3", "B2", "B1"]
    assert [rows[i].key for i in sort_rows(rows, [0, 1, 2], "status")] == ["B2", "B3", "B1"]


def test_village_progress_counts_filled_over_assigned():
    recs = _records() + [{"record_uuid": "u3", "key": "B2", "status": "has_issues"}]
    prog = {p.code: p for p in village_progress(WORKMAP, recs, {"V1": "一村"})}
    assert (prog["V1"].filled, prog["V1"].assigned, prog["V1"].name) == (2, 2, "一村")
    assert (prog["V2"].filled, prog["V2"].assigned, prog["V2"].drafts) == (0, 2, 0)


def test_find_cjk_font():
    assert find_cjk_font(["DejaVu Sans", "WenQuanYi Micro Hei"]) == "WenQuanYi Micro Hei"
    assert find_cjk_font(["Noto Sans CJK JP"]) == "Noto Sans CJK JP"
    assert find_cjk_font(["DejaVu Sans", "Liberation Serif"]) is None


def test_local_minute_reads_utc_stamps():
    import datetime as dt

    from census_desktop.logic import local_minute

    want = dt.datetime(2021, 6, 1, 8, 0, tzinfo=dt.timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M")
    assert local_minute("2021-06-01T08:00:00.000Z") == want
    assert local_minute("") == ""


def test_calculated_code_is_shown_by_the_label_of_the_list_it_comes_from():
    from census_desktop.logic import calculation_choice_list, calculation_results

    house = get_form("rural_house")
    # compared literals are inputs, not results
    assert calculation_results("if(${c} = '4' or ${c} = '5', '1', '0')") == {"1", "0"}
    assert calculation_results("${a} - ${b}") == frozenset()
    band = calculation_choice_list(house, house.field("year_band"))
    assert band.name == "year_band" and band.label_of("3").zh == "1991—2000年"
    bridge = get_form("bridge")
    assert calculation_choice_list(bridge, bridge.field("size_class")).name == "bridge_size_class"
    assert calculation_choice_list(bridge, bridge.field("dangerous")).label_of("1").zh == "是"
    village = get_form("village_population")
    assert calculation_choice_list(village, village.field("age15_64")) is None
