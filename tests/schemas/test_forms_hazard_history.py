"""Forms of the hazard, history, hidden-danger and zoning blocks: each example passes, each mutation fails
with the expected code on the expected path, and irrelevant answers are cleared rather than validated."""

from __future__ import annotations


import pytest

from schemas.catalogue import all_forms, shared_codelists
from schemas.errors import Code

from .formcases import assert_fails_with, BAD_PHONE, BOWTIE, DROP, FAR_POINT, example, mutate, validator

FORMS = {  # form id → (block, hazard family, confidential)
    "geohazard_site": ("hazard", "geological", False),
    "flood_mark": ("hazard", "flood", False),
    "storm_surge_mark": ("hazard", "marine", False),
    "fire_source": ("hazard", "fire", False),
    "active_fault": ("hazard", "earthquake", False),
    "meteorological_observation": ("hazard", "meteorological", False),
    "disaster_annual": ("history", None, False),
    "disaster_event": ("history", None, False),
    "key_hidden_danger": ("hidden_danger", None, True),
    "chemical_danger_site": ("hidden_danger", None, True),
    "hazard_zoning_result": ("single_risk", None, False),
    "comprehensive_zoning_result": ("comprehensive_risk", None, False),
}



# ---------------------------------------------------------------------------------------------------
def test_catalogue_compiles_every_form():
    forms = all_forms()
    assert "rural_house" in forms
    for form_id, (block, family, confidential) in FORMS.items():
        f = forms[form_id]
        assert f.block.value == block
        assert f.hazard_family == family
        assert f.confidential is confidential
        assert f.field_count() >= 10
        if f.geometry_field:
            assert f.field(f.geometry_field).type.is_geometry
        if f.key_field:
            assert f.field(f.key_field).required


def test_hazard_code_lists():
    lists = shared_codelists()
    families = {c.name for c in lists["hazard_family"].choices}
    assert families == {"earthquake", "geological", "meteorological", "flood", "marine", "fire"}
    by_family: dict[str, set[str]] = {}
    for c in lists["hazard_type"].choices:
        by_family.setdefault(dict(c.filters)["family"], set()).add(c.name)
    assert set(by_family) == families
    assert by_family["geological"] == {"landslide", "collapse", "debris_flow", "subsidence"}
    assert by_family["flood"] == {"flood", "drought_hydro"}
    assert by_family["fire"] == {"forest_fire", "grassland_fire"}
    assert by_family["marine"] == {"storm_surge", "waves", "sea_ice", "tsunami", "sea_level_rise"}
    assert {"rainstorm", "drought", "typhoon", "strong_wind", "hail", "heat", "cold", "snow"} == by_family["meteorological"]
    assert [c.name for c in lists["risk_level"].choices] == ["1", "2", "3", "4", "5"]
    assert lists["risk_level"].label_of("1").zh.startswith("高")
    assert {"key", "general"} <= lists["prevention_zone"].names()


@pytest.mark.parametrize("form_id", sorted(FORMS))
def test_example_is_valid(form_id):
    res = validator(form_id).validate(example(form_id))
    assert res.ok, [p.line() for p in res.problems]
    assert not res.problems, [p.line() for p in res.problems]  # no warnings either (no unknown fields)


# (form, change, expected code, expected path)
CASES = [
    # geohazard_site
    ("geohazard_site", {"site_id": DROP}, Code.REQUIRED, "site_id"),
    ("geohazard_site", {"hazard_type": "earthquake"}, Code.CHOICE_NOT_OFFERED, "hazard_type"),  # the choice filter offers geological types only
    ("geohazard_site", {"hazard_type": "tornado"}, Code.CHOICE_UNKNOWN, "hazard_type"),
    ("geohazard_site", {"volume": 50}, Code.CONSTRAINT, "volume"),  # 50 万m³ is not a small landslide
    ("geohazard_site", {"scale": "giant"}, Code.CONSTRAINT, "volume"),
    ("geohazard_site", {"hazard_type": "subsidence"}, Code.REQUIRED, "subsidence_area"),
    ("geohazard_site", {"threatened_households": 40}, Code.CONSTRAINT, "threatened_households"),
    ("geohazard_site", {"threatened_people": -1}, Code.CONSTRAINT, "threatened_people"),
    ("geohazard_site", {"monitor_phone": BAD_PHONE}, Code.CONSTRAINT, "monitor_phone"),
    ("geohazard_site", {"monitor_phone": "1390429123"}, Code.CONSTRAINT, "monitor_phone"),
    ("geohazard_site", {"monitoring": ["none", "warning_sign"]}, Code.CONSTRAINT, "monitoring"),
    ("geohazard_site", {"triggers": ["rainfall", "other"]}, Code.REQUIRED, "trigger_other"),
    ("geohazard_site", {"discovered_date": "2021-01-05"}, Code.REFERENCE_DATE, "discovered_date"),
    ("geohazard_site", {"last_inspected": "2021-01-05"}, Code.REFERENCE_DATE, "last_inspected"),
    ("geohazard_site", {"township_code": "21148110"}, Code.DIVISION_CODE, "township_code"),
    ("geohazard_site", {"village_code": "211482100201"}, Code.DIVISION_OUTSIDE, "village_code"),
    ("geohazard_site", {"location": FAR_POINT}, Code.GEOMETRY_OUTSIDE, "location"),
    ("geohazard_site", {"stability": DROP}, Code.REQUIRED, "stability"),
    # flood_mark
    ("flood_mark", {"event_year": 2021}, Code.REFERENCE_DATE, "event_year"),
    ("flood_mark", {"event_year": 1948}, Code.REFERENCE_DATE, "event_year"),
    ("flood_mark", {"event_date": "2021-01-05"}, Code.REFERENCE_DATE, "event_date"),
    ("flood_mark", {"mark_height": 25}, Code.CONSTRAINT, "mark_height"),
    ("flood_mark", {"mark_type": "paint"}, Code.CHOICE_UNKNOWN, "mark_type"),
    ("flood_mark", {"river": DROP}, Code.REQUIRED, "river"),
    ("flood_mark", {"location": DROP}, Code.REQUIRED, "location"),
    ("flood_mark", {"info_source": "other"}, Code.REQUIRED, "source_other"),
    ("flood_mark", {"water_level": 4000}, Code.CONSTRAINT, "water_level"),
    # storm_surge_mark
    ("storm_surge_mark", {"event_year": 2021}, Code.REFERENCE_DATE, "event_year"),
    ("storm_surge_mark", {"event_date": "2021-01-05"}, Code.REFERENCE_DATE, "event_date"),
    ("storm_surge_mark", {"tide_level": 30}, Code.CONSTRAINT, "tide_level"),
    ("storm_surge_mark", {"tide_level": DROP}, Code.REQUIRED, "tide_level"),
    ("storm_surge_mark", {"surge_kind": "tsunami"}, Code.CHOICE_UNKNOWN, "surge_kind"),
    ("storm_surge_mark", {"seawall_overtopped": "2"}, Code.CHOICE_UNKNOWN, "seawall_overtopped"),
    ("storm_surge_mark", {"info_source": "witness"}, Code.REQUIRED, "informant"),
    # fire_source
    ("fire_source", {"grave_count": DROP}, Code.REQUIRED, "grave_count"),
    ("fire_source", {"distance_to_forest": 6000}, Code.CONSTRAINT, "distance_to_forest"),
    ("fire_source", {"area": 0}, Code.CONSTRAINT, "area"),
    ("fire_source", {"last_fire_date": "2021-01-05"}, Code.REFERENCE_DATE, "last_fire_date"),
    ("fire_source", {"last_fire_date": "2009-12-31"}, Code.REFERENCE_DATE, "last_fire_date"),
    ("fire_source", {"vegetation": "bamboo"}, Code.CHOICE_UNKNOWN, "vegetation"),
    ("fire_source", {"keeper_phone": BAD_PHONE}, Code.CONSTRAINT, "keeper_phone"),
    ("fire_source", {"source_type": "other"}, Code.REQUIRED, "source_type_other"),
    ("fire_source", {"prevention": ["none", "firebreak"]}, Code.CONSTRAINT, "prevention"),
    # active_fault
    ("active_fault", {"survey_year": 2021}, Code.REFERENCE_DATE, "survey_year"),
    ("active_fault", {"strike": 360}, Code.CONSTRAINT, "strike"),
    ("active_fault", {"dip": 95}, Code.CONSTRAINT, "dip"),
    ("active_fault", {"activity_era": "jurassic"}, Code.CHOICE_UNKNOWN, "activity_era"),
    ("active_fault", {"trace": DROP}, Code.REQUIRED, "trace"),
    ("active_fault", {"county_code": "211482"}, Code.DIVISION_OUTSIDE, "county_code"),
    ("active_fault", {"trench_count": DROP}, Code.REQUIRED, "trench_count"),
    ("active_fault", {"fault_length": 0}, Code.CONSTRAINT, "fault_length"),
    # meteorological_observation
    ("meteorological_observation", {"start_year": 1950}, Code.REFERENCE_DATE, "start_year"),
    ("meteorological_observation", {"end_year": 2021}, Code.REFERENCE_DATE, "end_year"),
    ("meteorological_observation", {"end_year": 1951}, Code.REFERENCE_DATE, "end_year"),  # before start
    ("meteorological_observation", {"max_daily_precip_date": "2021-07-01"}, Code.REFERENCE_DATE,
     "max_daily_precip_date"),
    ("meteorological_observation", {"station_id": "5445"}, Code.CONSTRAINT, "station_id"),
    ("meteorological_observation", {"min_temperature": 40}, Code.CONSTRAINT, "min_temperature"),
    ("meteorological_observation", {"max_gust": DROP}, Code.REQUIRED, "max_gust"),
    ("meteorological_observation", {"max_gust": "大风"}, Code.TYPE_DECIMAL, "max_gust"),
    ("meteorological_observation", {"station_type": "ship"}, Code.CHOICE_UNKNOWN, "station_type"),
    # disaster_annual
    ("disaster_annual", {"year": 1977}, Code.REFERENCE_DATE, "year"),
    ("disaster_annual", {"year": 2021}, Code.REFERENCE_DATE, "year"),
    ("disaster_annual", {"deaths": 20000}, Code.CONSTRAINT, "deaths"),
    ("disaster_annual", {"missing": 18498}, Code.CONSTRAINT, "missing"),
    ("disaster_annual", {"relocated": -1}, Code.CONSTRAINT, "relocated"),
    ("disaster_annual", {"crop_failure_area": 3200.5}, Code.CONSTRAINT, "crop_failure_area"),
    ("disaster_annual", {"hazard_type": "volcano"}, Code.CHOICE_UNKNOWN, "hazard_type"),
    ("disaster_annual", {"township_code": DROP}, Code.REQUIRED, "township_code"),
    ("disaster_annual", {"division_level": "county"}, Code.REQUIRED, "county_code"),
    ("disaster_annual", {"direct_loss": DROP}, Code.REQUIRED, "direct_loss"),
    ("disaster_annual", {"data_source": "other"}, Code.REQUIRED, "data_source_note"),
    # disaster_event
    ("disaster_event", {"start_date": "1948-12-31"}, Code.REFERENCE_DATE, "start_date"),
    ("disaster_event", {"start_date": "2021-01-05", "end_date": "2021-01-06"}, Code.REFERENCE_DATE, "start_date"),
    ("disaster_event", {"end_date": "2021-01-05"}, Code.REFERENCE_DATE, "end_date"),
    ("disaster_event", {"end_date": "1994-08-14"}, Code.REFERENCE_DATE, "end_date"),  # before the start
    ("disaster_event", {"secondary_hazards": ["flood"]}, Code.CONSTRAINT, "secondary_hazards"),
    ("disaster_event", {"deaths": 60000}, Code.CONSTRAINT, "deaths"),
    ("disaster_event", {"affected_people": 20000}, Code.CONSTRAINT, "affected_people"),  # < townships' sum
    ("disaster_event", {"affected_area": DROP, "affected_divisions": []}, Code.REQUIRED, "affected_area"),
    ("disaster_event", {"affected_divisions": [{"affected_township_code": "2114811"}]}, Code.DIVISION_CODE,
     "affected_divisions[1].affected_township_code"),
    ("disaster_event", {"affected_divisions": [{"affected_township_code": "211481100"}] * 61}, Code.REPEAT_MAX,
     "affected_divisions"),
    ("disaster_event", {"description": DROP}, Code.REQUIRED, "description"),
    ("disaster_event", {"hazard_type": "meteor"}, Code.CHOICE_UNKNOWN, "hazard_type"),
    ("disaster_event", {"affected_area": BOWTIE}, Code.GEOMETRY_INVALID, "affected_area"),
    # key_hidden_danger
    ("key_hidden_danger", {"danger_type": "mine"}, Code.CHOICE_UNKNOWN, "danger_type"),
    ("key_hidden_danger", {"risk_level": "6"}, Code.CHOICE_UNKNOWN, "risk_level"),
    ("key_hidden_danger", {"risk_level": DROP}, Code.REQUIRED, "risk_level"),
    ("key_hidden_danger", {"remediation_status": "treated"}, Code.REQUIRED, "treated_date"),
    ("key_hidden_danger", {"remediation_status": "treated", "treated_date": "2021-01-05"}, Code.REFERENCE_DATE,
     "treated_date"),
    ("key_hidden_danger", {"deadline": "2040-01-01"}, Code.CONSTRAINT, "deadline"),
    ("key_hidden_danger", {"deadline": DROP}, Code.REQUIRED, "deadline"),
    ("key_hidden_danger", {"threatened_schools": 400}, Code.CONSTRAINT, "threatened_schools"),
    ("key_hidden_danger", {"threatened_people": DROP}, Code.REQUIRED, "threatened_people"),
    ("key_hidden_danger", {"responsible_phone": BAD_PHONE}, Code.CONSTRAINT, "responsible_phone"),
    ("key_hidden_danger", {"discovered_date": "2021-01-05"}, Code.REFERENCE_DATE, "discovered_date"),
    ("key_hidden_danger", {"measures": ["none", "monitoring"]}, Code.CONSTRAINT, "measures"),
    ("key_hidden_danger", {"danger_type": "other"}, Code.REQUIRED, "danger_type_other"),
    # chemical_danger_site
    ("chemical_danger_site", {"credit_code": "91211481MA0XYZ1234"}, Code.CONSTRAINT, "credit_code"),
    ("chemical_danger_site", {"credit_code": DROP}, Code.REQUIRED, "credit_code"),
    ("chemical_danger_site", {"site_kind": "chemical_park"}, Code.REQUIRED, "park_area"),
    ("chemical_danger_site", {"site_kind": "park_utility"}, Code.REQUIRED, "utility_kinds"),
    ("chemical_danger_site", {"key_hazards": ["none", "major_hazard"]}, Code.CONSTRAINT, "key_hazards"),
    ("chemical_danger_site", {"online_monitoring": DROP}, Code.REQUIRED, "online_monitoring"),
    ("chemical_danger_site", {"major_danger_count": 7}, Code.CONSTRAINT, "major_danger_count"),
    ("chemical_danger_site", {"rectified_count": 7}, Code.CONSTRAINT, "rectified_count"),
    ("chemical_danger_site", {"disposal": "keep", "major_danger_count": 1}, Code.CONSTRAINT, "disposal"),
    ("chemical_danger_site", {"rectification_progress": "completed"}, Code.CONSTRAINT, "rectification_progress"),
    ("chemical_danger_site", {"rectification_deadline": "2023-03-01"}, Code.CONSTRAINT, "rectification_deadline"),
    ("chemical_danger_site", {"inspection_date": "2021-01-05"}, Code.REFERENCE_DATE, "inspection_date"),
    ("chemical_danger_site", {"safety_grade": "E"}, Code.CHOICE_UNKNOWN, "safety_grade"),
    ("chemical_danger_site", {"sensitive_targets": ["none", "school"]}, Code.CONSTRAINT, "sensitive_targets"),
    ("chemical_danger_site", {"safety_issues": ["other"]}, Code.REQUIRED, "safety_issue_other"),
    ("chemical_danger_site", {"environment_issues": ["other"]}, Code.REQUIRED, "environment_issue_other"),
    ("chemical_danger_site", {"contact_phone": BAD_PHONE}, Code.CONSTRAINT, "contact_phone"),
    # hazard_zoning_result
    ("hazard_zoning_result", {"risk_level": "6"}, Code.CHOICE_UNKNOWN, "risk_level"),
    ("hazard_zoning_result", {"risk_level": DROP}, Code.REQUIRED, "risk_level"),
    ("hazard_zoning_result", {"method": "jenks"}, Code.CHOICE_UNKNOWN, "method"),
    ("hazard_zoning_result", {"method": "fixed_thresholds"}, Code.REQUIRED, "threshold_basis"),
    ("hazard_zoning_result", {"class_breaks": "0.1,0.2"}, Code.CONSTRAINT, "class_breaks"),
    ("hazard_zoning_result", {"class_breaks": "0.1;0.2;0.3;0.4"}, Code.CONSTRAINT, "class_breaks"),
    ("hazard_zoning_result", {"approval_date": "2022-05-01"}, Code.CONSTRAINT, "approval_date"),
    ("hazard_zoning_result", {"assessment_date": "2019-05-01"}, Code.CONSTRAINT, "assessment_date"),
    ("hazard_zoning_result", {"approval_state": "pending"}, Code.CHOICE_UNKNOWN, "approval_state"),
    ("hazard_zoning_result", {"division_level": "county"}, Code.REQUIRED, "county_code"),
    ("hazard_zoning_result", {"area": 0}, Code.CONSTRAINT, "area"),
    ("hazard_zoning_result", {"hazard_type": DROP}, Code.REQUIRED, "hazard_type"),
    # comprehensive_zoning_result
    ("comprehensive_zoning_result", {"prevention_zone": "general"}, Code.CONSTRAINT, "prevention_zone"),
    ("comprehensive_zoning_result", {"prevention_zone": "buffer"}, Code.CHOICE_UNKNOWN, "prevention_zone"),
    ("comprehensive_zoning_result", {"comprehensive_risk_level": "9"}, Code.CHOICE_UNKNOWN,
     "comprehensive_risk_level"),
    ("comprehensive_zoning_result", {"dominant_hazards": ["flood", "landslide", "storm_surge", "typhoon", "hail",
                                                          "forest_fire"]}, Code.CONSTRAINT, "dominant_hazards"),
    ("comprehensive_zoning_result", {"dominant_hazards": ["volcano"]}, Code.CHOICE_UNKNOWN, "dominant_hazards"),
    ("comprehensive_zoning_result", {"dominant_hazards": DROP}, Code.REQUIRED, "dominant_hazards"),
    ("comprehensive_zoning_result", {"measures": ["engineering", "other"]}, Code.REQUIRED, "measures_other"),
    ("comprehensive_zoning_result", {"zone_shape": BOWTIE}, Code.GEOMETRY_INVALID, "zone_shape"),
    ("comprehensive_zoning_result", {"approval_state": "approved"}, Code.REQUIRED, "approved_by"),
    ("comprehensive_zoning_result", {"township_code": "211481"}, Code.DIVISION_CODE, "township_code"),
]


@pytest.mark.parametrize("form_id, change, code, path", CASES,
                         ids=[f"{c[0]}-{c[3]}-{c[2].value}-{i}" for i, c in enumerate(CASES)])
def test_mutation_fails(form_id, change, code, path):
    assert_fails_with(form_id, mutate(form_id, change), code, path)


# (form, change, a field whose answer must be cleared, not validated)
CLEARED = [
    ("geohazard_site", {"subsidence_area": -5}, "subsidence_area"),
    ("geohazard_site", {"hazard_type": "subsidence", "subsidence_area": 0.3, "volume": -1}, "volume"),
    ("flood_mark", {"info_source": "hydro_station"}, "informant"),
    ("flood_mark", {"info_source": "archive", "source_other": "x" * 900}, "source_other"),
    ("storm_surge_mark", {"typhoon_name": "利奇马"}, "typhoon_name"),
    ("fire_source", {"fires_since_2010": 0, "last_fire_date": "2021-05-01"}, "last_fire_date"),
    ("fire_source", {"source_type": "farm_burning", "grave_count": -3}, "grave_count"),
    ("active_fault", {"survey_methods": ["remote_sensing"], "trench_count": 0}, "trench_count"),
    ("disaster_annual", {"division_level": "county", "county_code": "211481", "township_code": "999"},
     "township_code"),
    ("disaster_event", {"data_source": ["disaster_statistics"]}, "data_source_note"),
    ("key_hidden_danger", {"remediation_status": "treated", "treated_date": "2020-06-30", "deadline": "2099-01-01"},
     "deadline"),
    ("chemical_danger_site", {"site_kind": "storage", "in_dense_area": "5"}, "in_dense_area"),
    ("chemical_danger_site", {"key_hazards": ["key_chemical"], "online_monitoring": "7"}, "online_monitoring"),
    ("chemical_danger_site", {"disposal": "close", "rectification_deadline": "2030-01-01"}, "rectification_deadline"),
    ("hazard_zoning_result", {"threshold_basis": "DB21/T 0000"}, "threshold_basis"),
    ("hazard_zoning_result", {"approval_state": "draft", "approval_date": "2000-01-01"}, "approval_date"),
    ("comprehensive_zoning_result", {"approved_by": "某单位", "approval_date": "2000-01-01"}, "approval_date"),
]


@pytest.mark.parametrize("form_id, change, field", CLEARED, ids=[f"{c[0]}-{c[2]}" for c in CLEARED])
def test_irrelevant_answer_is_cleared(form_id, change, field):
    res = validator(form_id).validate(mutate(form_id, change))
    assert res.ok, [p.line() for p in res.problems]
    assert field not in res.record


def test_chemical_park_needs_no_enterprise_answers():
    rec = mutate("chemical_danger_site", {
        "site_kind": "chemical_park", "credit_code": "not a code", "park_area": 12.5, "enterprise_count": 23,
        "access_conditions": "1", "prohibited_catalogue": "1", "plan_eia_done": "1", "chemical_manager": "0",
        "safety_agency": "1", "fire_rescue": "1", "closed_management": "0", "monitoring_platform": "0"})
    res = validator("chemical_danger_site").validate(rec)
    assert res.ok, [p.line() for p in res.problems]
    for gone in ("credit_code", "key_hazards", "automation_in_use", "distance_compliant", "staff_qualified"):
        assert gone not in res.record
    assert res.record["park_area"] == 12.5


@pytest.mark.parametrize("people, property_, level", [
    (36, 180, "small"), (150, 0, "medium"), (20, 600, "medium"), (600, 0, "large"), (1200, 10, "giant"),
    (10, 12000, "giant")])
def test_geohazard_danger_level_is_calculated(people, property_, level):
    rec = mutate("geohazard_site", {"threatened_people": people, "threatened_households": min(people, 11),
                                    "threatened_property": property_})
    res = validator("geohazard_site").validate(rec)
    assert res.ok, [p.line() for p in res.problems]
    assert res.record["danger_level"] == level


@pytest.mark.parametrize("form_id, change", [
    ("geohazard_site", {"monitor_phone": "0429-5123456"}),
    ("geohazard_site", {"monitor_phone": "04295123456"}),
    ("geohazard_site", {"hazard_type": "collapse", "scale": "medium", "volume": 3}),
    ("geohazard_site", {"hazard_type": "debris_flow", "scale": "large", "volume": 25}),
    ("geohazard_site", {"location": "40.658 120.612"}),  # ODK "lat lon"
    ("disaster_annual", {"year": 1978}),
    ("disaster_annual", {"year": "2020", "crop_failure_area": 3200}),
    ("disaster_event", {"start_date": "1949-01-01", "end_date": "1949-01-01"}),
    ("disaster_event", {"end_date": "2020-12-31", "start_date": "2020-12-31"}),
    ("disaster_event", {"affected_area": DROP}),  # townships listed instead of a shape
    ("disaster_event", {"affected_divisions": DROP}),  # a shape instead of townships
    ("meteorological_observation", {"station_id": "D1234", "station_type": "regional", "start_year": 2005}),
    ("key_hidden_danger", {"risk_level": "5", "deadline": "2020-12-31"}),
    ("hazard_zoning_result", {"assessment_date": "2022-12-30", "approval_date": "2023-02-01"}),
    ("hazard_zoning_result", {"division_level": "county", "county_code": "211481", "township_code": DROP}),
    ("comprehensive_zoning_result", {"comprehensive_risk_level": "4", "prevention_zone": "general"}),
])
def test_boundary_values_pass(form_id, change):
    res = validator(form_id).validate(mutate(form_id, change))
    assert res.ok, [p.line() for p in res.problems]
