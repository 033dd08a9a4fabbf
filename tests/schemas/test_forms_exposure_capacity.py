"""Forms of the exposure (承灾体) and capacity (综合减灾资源（能力）) blocks: each example passes, each mutation
fails with the expected code on the expected path, and irrelevant answers are cleared rather than validated."""

from __future__ import annotations


import pytest
import yaml

from schemas.catalogue import CODELISTS_DIR, FORMS_DIR, all_forms, shared_codelists
from schemas.errors import Code
from schemas.model import FieldType

from .formcases import assert_fails_with, BAD_PHONE, BOWTIE, DROP, FAR_POINT, example, mutate, validator

FORMS = {  # form id → (block, confidential, geometry type or None)
    "urban_house": ("exposure", False, FieldType.GEOSHAPE),
    "public_facility": ("exposure", False, FieldType.GEOPOINT),
    "road": ("exposure", False, FieldType.GEOTRACE),
    "bridge": ("exposure", False, FieldType.GEOPOINT),
    "reservoir": ("exposure", False, FieldType.GEOPOINT),
    "dyke": ("exposure", False, FieldType.GEOTRACE),
    "hazardous_chemical_enterprise": ("exposure", True, FieldType.GEOPOINT),
    "industrial_enterprise": ("exposure", False, FieldType.GEOPOINT),
    "village_population": ("exposure", False, None),
    "township_capacity": ("capacity", False, FieldType.GEOPOINT),
    "village_capacity": ("capacity", False, FieldType.GEOPOINT),
    "household_survey": ("capacity", True, FieldType.GEOPOINT),
    "shelter": ("capacity", False, FieldType.GEOPOINT),
    "rescue_team": ("capacity", False, FieldType.GEOPOINT),
    "material_reserve": ("capacity", False, FieldType.GEOPOINT),
    "social_force": ("capacity", False, FieldType.GEOPOINT),
}
MY_CODELISTS = ("exposure.yaml", "capacity.yaml")



def with_item(form_id: str, repeat: str, index: int, change: dict) -> dict:
    """The example with one repeat instance changed (DROP removes an answer)."""
    rec = example(form_id)
    inst = rec[repeat][index]
    for k, v in change.items():
        if v is DROP:
            inst.pop(k, None)
        else:
            inst[k] = v
    return rec


def members(n: int) -> list[dict]:
    head = {"member_relation": "head", "member_sex": "male", "member_age": 40, "member_health": "healthy"}
    child = {"member_relation": "child", "member_sex": "female", "member_age": 12, "member_health": "healthy"}
    return [head] + [dict(child) for _ in range(n - 1)]


# ---------------------------------------------------------------------------------------------------
def test_catalogue_compiles_every_form():
    forms = all_forms()
    assert set(FORMS) <= set(forms)
    for form_id, (block, confidential, geometry) in FORMS.items():
        f = forms[form_id]
        assert f.block.value == block
        assert f.confidential is confidential
        assert f.field_count() >= 12
        assert f.title.zh and f.title.en and f.source
        if geometry is None:
            assert f.geometry_field is None
        else:
            assert f.field(f.geometry_field).type is geometry
        assert f.key_field and f.field(f.key_field).required
        # a township fills every one of these forms: a required township division field
        assert f.field("township_code").division.value == "township"
        assert f.field("township_code").required


@pytest.mark.parametrize("path", [*(FORMS_DIR / f"{f}.yaml" for f in FORMS), *(CODELISTS_DIR / n for n in MY_CODELISTS)],
                         ids=lambda p: p.name)
def test_bilingual_texts_are_whole(path):
    """A YAML flow mapping like {zh: …, en: a, b} silently splits at the comma; every text must be {zh, en}."""
    def walk(node, where):
        if isinstance(node, dict):
            if "zh" in node or "en" in node:
                assert node.get("zh") and node.get("en"), f"{where}: {node}"
                assert all(v is not None for v in node.values()), f"{where}: {node}"
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")
    walk(yaml.safe_load(path.read_text(encoding="utf-8")), path.name)


def test_code_lists():
    lists = shared_codelists()
    assert [c.name for c in lists["facility_type"].choices] == [
        "school", "kindergarten", "hospital", "clinic", "welfare_home", "stadium", "cultural_venue",
        "religious_venue", "tourist_site", "hotel", "shopping_centre"]
    assert lists["road_grade"].names() == {"expressway", "class1", "class2", "class3", "class4", "substandard"}
    assert lists["reservoir_scale"].names() == {"large", "medium", "small_1", "small_2"}
    assert [c.name for c in lists["bridge_condition"].choices] == ["1", "2", "3", "4", "5"]
    assert [c.name for c in lists["dyke_grade"].choices] == ["1", "2", "3", "4", "5"]
    assert [c.name for c in lists["major_hazard_level"].choices] == ["1", "2", "3", "4"]
    assert {"6", "7", "8", "9"} <= lists["seismic_intensity"].names()
    assert {"non_coal_mine", "coal_mine", "tailings_pond"} <= lists["industry_type"].names()
    assert {"broadcast", "loudspeaker", "gong", "sms", "wechat"} <= lists["warning_means"].names()
    assert {"tent", "quilt"} <= lists["reserve_item"].names()
    # my lists do not shadow anyone else's (the catalogue merges all code-list files into one namespace)
    mine = [item["name"] for n in MY_CODELISTS for item in yaml.safe_load((CODELISTS_DIR / n).read_text("utf-8"))]
    others = [item["name"] for p in CODELISTS_DIR.glob("*.yaml") if p.name not in MY_CODELISTS
              for item in yaml.safe_load(p.read_text("utf-8"))]
    assert len(mine) == len(set(mine)) and not set(mine) & set(others)


@pytest.mark.parametrize("form_id", sorted(FORMS))
def test_example_is_valid(form_id):
    res = validator(form_id).validate(example(form_id))
    assert res.ok, [p.line() for p in res.problems]
    assert not res.problems, [p.line() for p in res.problems]  # no warnings either (no unknown fields)


# (form, change, expected code, expected path)
CASES = [
    # urban_house
    ("urban_house", {"building_id": DROP}, Code.REQUIRED, "building_id"),
    ("urban_house", {"year_built": 2021}, Code.REFERENCE_DATE, "year_built"),
    ("urban_house", {"year_built": 1899}, Code.REFERENCE_DATE, "year_built"),
    ("urban_house", {"retrofit_year": 2021}, Code.REFERENCE_DATE, "retrofit_year"),
    ("urban_house", {"retrofit_year": 1990}, Code.REFERENCE_DATE, "retrofit_year"),  # before it was built
    ("urban_house", {"structure_type": "bamboo"}, Code.CHOICE_UNKNOWN, "structure_type"),
    ("urban_house", {"use": "palace"}, Code.CHOICE_UNKNOWN, "use"),
    ("urban_house", {"floors": 101}, Code.CONSTRAINT, "floors"),
    ("urban_house", {"floors": 12}, Code.CONSTRAINT, "floors"),  # 12 storeys of brick-concrete
    ("urban_house", {"underground_floors": -1}, Code.CONSTRAINT, "underground_floors"),
    ("urban_house", {"height": 61}, Code.CONSTRAINT, "height"),  # over 10 m a storey
    ("urban_house", {"floor_area": 0}, Code.CONSTRAINT, "floor_area"),
    ("urban_house", {"fortification_intensity": "10"}, Code.CHOICE_UNKNOWN, "fortification_intensity"),
    ("urban_house", {"fortification_intensity": DROP}, Code.REQUIRED, "fortification_intensity"),
    ("urban_house", {"professional_design": "0", "retrofitted": "0"}, Code.CONSTRAINT, "fortification_intensity"),
    ("urban_house", {"design_code": "gb50011_2010"}, Code.CONSTRAINT, "design_code"),  # built 1998
    ("urban_house", {"use": "other"}, Code.REQUIRED, "use_other"),
    ("urban_house", {"dwelling_units": DROP}, Code.REQUIRED, "dwelling_units"),
    ("urban_house", {"damage": ["none", "tilt"]}, Code.CONSTRAINT, "damage"),
    ("urban_house", {"damage_note": DROP}, Code.REQUIRED, "damage_note"),
    ("urban_house", {"village_code": "21148100100"}, Code.DIVISION_CODE, "village_code"),
    ("urban_house", {"township_code": "211482001"}, Code.DIVISION_OUTSIDE, "township_code"),
    ("urban_house", {"footprint": BOWTIE}, Code.GEOMETRY_INVALID, "footprint"),
    ("urban_house", {"footprint": DROP}, Code.REQUIRED, "footprint"),
    ("urban_house", {"survey_date": "2021-02-30"}, Code.TYPE_DATE, "survey_date"),
    # public_facility
    ("public_facility", {"facility_type": "prison"}, Code.CHOICE_UNKNOWN, "facility_type"),
    ("public_facility", {"facility_type": DROP}, Code.REQUIRED, "facility_type"),
    ("public_facility", {"students": DROP}, Code.REQUIRED, "students"),
    ("public_facility", {"staff": 0}, Code.CONSTRAINT, "staff"),
    ("public_facility", {"facility_type": "hospital"}, Code.REQUIRED, "beds"),
    ("public_facility", {"facility_type": "hospital", "beds": 12, "hospital_grade": "grade2"}, Code.CONSTRAINT,
     "beds"),
    ("public_facility", {"facility_type": "hospital", "beds": 300}, Code.REQUIRED, "hospital_grade"),
    ("public_facility", {"facility_type": "welfare_home", "beds": 80, "residents": 90,
                         "residents_bedridden": 10}, Code.CONSTRAINT, "residents"),
    ("public_facility", {"facility_type": "welfare_home", "beds": 80, "residents": 60,
                         "residents_bedridden": 61}, Code.CONSTRAINT, "residents_bedridden"),
    ("public_facility", {"facility_type": "hotel"}, Code.REQUIRED, "beds"),
    ("public_facility", {"facility_type": "stadium"}, Code.REQUIRED, "seats"),
    ("public_facility", {"facility_type": "tourist_site", "tourist_rating": "a4"}, Code.REQUIRED,
     "daily_visitors"),
    ("public_facility", {"facility_type": "shopping_centre", "daily_visitors": 8000, "peak_visitors": 5000},
     Code.CONSTRAINT, "peak_visitors"),
    ("public_facility", {"building_count": 0}, Code.CONSTRAINT, "building_count"),  # a school has buildings
    ("public_facility", {"year_built": 2021}, Code.REFERENCE_DATE, "year_built"),
    ("public_facility", {"plan_year": 2021}, Code.REFERENCE_DATE, "plan_year"),
    ("public_facility", {"shelter_capacity": DROP}, Code.REQUIRED, "shelter_capacity"),
    ("public_facility", {"contact_phone": BAD_PHONE}, Code.CONSTRAINT, "contact_phone"),
    ("public_facility", {"location": FAR_POINT}, Code.GEOMETRY_OUTSIDE, "location"),
    ("public_facility", {"village_code": DROP}, Code.REQUIRED, "village_code"),
    # road
    ("road", {"grade": "class5"}, Code.CHOICE_UNKNOWN, "grade"),
    ("road", {"grade": "expressway"}, Code.CONSTRAINT, "grade"),  # a county road
    ("road", {"admin_class": "national", "grade": "expressway"}, Code.CONSTRAINT, "lanes"),  # 2 lanes
    ("road", {"lanes": 0}, Code.CONSTRAINT, "lanes"),
    ("road", {"length_km": 0}, Code.CONSTRAINT, "length_km"),
    ("road", {"route_code": "x205"}, Code.CONSTRAINT, "route_code"),
    ("road", {"prone_length_km": 6.0}, Code.CONSTRAINT, "prone_length_km"),
    ("road", {"prone_hazards": ["lava"]}, Code.CHOICE_UNKNOWN, "prone_hazards"),
    ("road", {"prone_hazards": DROP}, Code.REQUIRED, "prone_hazards"),
    ("road", {"opened_year": 2021}, Code.REFERENCE_DATE, "opened_year"),
    ("road", {"trace": DROP}, Code.REQUIRED, "trace"),
    ("road", {"trace": {"type": "Point", "coordinates": [120.6, 40.6]}}, Code.GEOMETRY_PARSE, "trace"),
    ("road", {"township_code": "2114811040"}, Code.DIVISION_CODE, "township_code"),
    # bridge
    ("bridge", {"condition_class": "6"}, Code.CHOICE_UNKNOWN, "condition_class"),
    ("bridge", {"condition_class": DROP}, Code.REQUIRED, "condition_class"),
    ("bridge", {"year_built": 2021}, Code.REFERENCE_DATE, "year_built"),
    ("bridge", {"inspection_date": "2021-01-05"}, Code.REFERENCE_DATE, "inspection_date"),
    ("bridge", {"max_span_m": 130}, Code.CONSTRAINT, "max_span_m"),  # longer than the bridge
    ("bridge", {"span_count": 1}, Code.CONSTRAINT, "max_span_m"),  # 1 × 20 m for 126 m
    ("bridge", {"span_count": 0}, Code.CONSTRAINT, "span_count"),
    ("bridge", {"length_m": 3}, Code.CONSTRAINT, "length_m"),
    ("bridge", {"structure": "pontoon"}, Code.CHOICE_UNKNOWN, "structure"),
    ("bridge", {"reinforce_year": 1990}, Code.REFERENCE_DATE, "reinforce_year"),
    ("bridge", {"reinforce_year": 2021}, Code.REFERENCE_DATE, "reinforce_year"),
    ("bridge", {"location": DROP}, Code.REQUIRED, "location"),
    # reservoir
    ("reservoir", {"scale": "small_3"}, Code.CHOICE_UNKNOWN, "scale"),
    ("reservoir", {"total_capacity": 520.0}, Code.CONSTRAINT, "total_capacity"),  # too small for medium
    ("reservoir", {"scale": "large"}, Code.CONSTRAINT, "total_capacity"),
    ("reservoir", {"scale": "small_2", "total_capacity": 8.0, "flood_control_capacity": 2.0}, Code.CONSTRAINT,
     "total_capacity"),
    ("reservoir", {"flood_control_capacity": 3000.0}, Code.CONSTRAINT, "flood_control_capacity"),
    ("reservoir", {"check_flood_rp": 50}, Code.CONSTRAINT, "check_flood_rp"),
    ("reservoir", {"dam_height": 0}, Code.CONSTRAINT, "dam_height"),
    ("reservoir", {"dam_type": "beaver"}, Code.CHOICE_UNKNOWN, "dam_type"),
    ("reservoir", {"downstream_population": DROP}, Code.REQUIRED, "downstream_population"),
    ("reservoir", {"reinforce_year": 2021}, Code.REFERENCE_DATE, "reinforce_year"),
    ("reservoir", {"reinforce_year": DROP}, Code.REQUIRED, "reinforce_year"),
    ("reservoir", {"appraisal_year": 1970}, Code.REFERENCE_DATE, "appraisal_year"),
    ("reservoir", {"year_built": 2021}, Code.REFERENCE_DATE, "year_built"),
    # dyke
    ("dyke", {"grade": "6"}, Code.CHOICE_UNKNOWN, "grade"),
    ("dyke", {"design_flood_rp": 50}, Code.CONSTRAINT, "design_flood_rp"),  # grade 4 is 20–29 years
    ("dyke", {"grade": "1"}, Code.CONSTRAINT, "design_flood_rp"),
    ("dyke", {"length_km": 0}, Code.CONSTRAINT, "length_km"),
    ("dyke", {"weak_sections": []}, Code.REPEAT_MIN, "weak_sections"),
    ("dyke", {"weak_sections": [{"weak_location": "K0+100", "weak_length_m": 10, "weak_problem": "crack",
                                 "weak_point": {"type": "Point", "coordinates": [120.52, 40.46]}}] * 51},
     Code.REPEAT_MAX, "weak_sections"),
    ("dyke", {"year_built": 2021}, Code.REFERENCE_DATE, "year_built"),
    ("dyke", {"trace": DROP}, Code.REQUIRED, "trace"),
    ("dyke", {"bank": "middle"}, Code.CHOICE_UNKNOWN, "bank"),
    # hazardous_chemical_enterprise
    ("hazardous_chemical_enterprise", {"credit_code": "91211481MA0XY8123"}, Code.CONSTRAINT, "credit_code"),
    ("hazardous_chemical_enterprise", {"credit_code": "91211481MA0XYO1234"}, Code.CONSTRAINT, "credit_code"),
    ("hazardous_chemical_enterprise", {"credit_code": DROP}, Code.REQUIRED, "credit_code"),
    ("hazardous_chemical_enterprise", {"major_hazard_level": "5"}, Code.CHOICE_UNKNOWN, "major_hazard_level"),
    ("hazardous_chemical_enterprise", {"major_hazard_level": DROP}, Code.REQUIRED, "major_hazard_level"),
    ("hazardous_chemical_enterprise", {"major_hazard_count": 0}, Code.CONSTRAINT, "major_hazard_count"),
    ("hazardous_chemical_enterprise", {"chemical_categories": ["toxic", "radioactive"]}, Code.CHOICE_UNKNOWN,
     "chemical_categories"),
    ("hazardous_chemical_enterprise", {"chemical_categories": DROP}, Code.REQUIRED, "chemical_categories"),
    ("hazardous_chemical_enterprise", {"max_storage_t": -1}, Code.CONSTRAINT, "max_storage_t"),
    ("hazardous_chemical_enterprise", {"employees": 0}, Code.CONSTRAINT, "employees"),
    ("hazardous_chemical_enterprise", {"distance_residential_m": 1500}, Code.CONSTRAINT, "people_within_1km"),
    ("hazardous_chemical_enterprise", {"drills_2020": 0}, Code.CONSTRAINT, "drills_2020"),  # has a major hazard
    ("hazardous_chemical_enterprise", {"plan_year": 2021}, Code.REFERENCE_DATE, "plan_year"),
    ("hazardous_chemical_enterprise", {"in_chemical_park": "1"}, Code.REQUIRED, "park_name"),
    ("hazardous_chemical_enterprise", {"contact_phone": BAD_PHONE}, Code.CONSTRAINT, "contact_phone"),
    ("hazardous_chemical_enterprise", {"location": DROP}, Code.REQUIRED, "location"),
    # industrial_enterprise
    ("industrial_enterprise", {"industry_type": "oil_rig"}, Code.CHOICE_UNKNOWN, "industry_type"),
    ("industrial_enterprise", {"output_value_2020": DROP}, Code.REQUIRED, "output_value_2020"),
    ("industrial_enterprise", {"output_value_2020": -5}, Code.CONSTRAINT, "output_value_2020"),
    ("industrial_enterprise", {"employees": "many"}, Code.TYPE_INTEGER, "employees"),
    ("industrial_enterprise", {"mining_method": DROP}, Code.REQUIRED, "mining_method"),
    ("industrial_enterprise", {"mining_method": "dredging"}, Code.CHOICE_UNKNOWN, "mining_method"),
    ("industrial_enterprise", {"production_capacity": 0}, Code.CONSTRAINT, "production_capacity"),
    ("industrial_enterprise", {"industry_type": "tailings_pond"}, Code.REQUIRED, "pond_grade"),
    ("industrial_enterprise", {"industry_type": "tailings_pond", "pond_grade": "3", "dam_height": 40,
                               "pond_capacity": 500, "head_of_valley": "1", "downstream_population": 0,
                               "pond_in_use": "1"}, Code.CONSTRAINT, "downstream_population"),
    ("industrial_enterprise", {"industry_type": "other"}, Code.REQUIRED, "industry_other"),
    ("industrial_enterprise", {"location": FAR_POINT}, Code.GEOMETRY_OUTSIDE, "location"),
    # village_population
    ("village_population", {"over65": 1900}, Code.CONSTRAINT, "over65"),  # + under 14 > residents
    ("village_population", {"under14": 2200}, Code.CONSTRAINT, "under14"),
    ("village_population", {"households": 2500}, Code.CONSTRAINT, "households"),
    ("village_population", {"households": 0}, Code.CONSTRAINT, "households"),
    ("village_population", {"disabled": 3000}, Code.CONSTRAINT, "disabled"),
    ("village_population", {"left_behind": 700}, Code.CONSTRAINT, "left_behind"),
    ("village_population", {"low_income_households": 900}, Code.CONSTRAINT, "low_income_households"),
    ("village_population", {"resident_population": DROP}, Code.REQUIRED, "resident_population"),
    ("village_population", {"collective_income_2020": DROP}, Code.REQUIRED, "collective_income_2020"),
    ("village_population", {"per_capita_income_2020": 500}, Code.CONSTRAINT, "per_capita_income_2020"),
    ("village_population", {"arable_land": -1}, Code.CONSTRAINT, "arable_land"),
    ("village_population", {"village_kind": "hamlet"}, Code.CHOICE_UNKNOWN, "village_kind"),
    ("village_population", {"village_code": "211481100"}, Code.DIVISION_CODE, "village_code"),
    # township_capacity
    ("township_capacity", {"fulltime_staff": 0, "parttime_staff": 0}, Code.CONSTRAINT, "parttime_staff"),
    ("township_capacity", {"info_officers": 0}, Code.CONSTRAINT, "info_officers"),
    ("township_capacity", {"plan_revised_year": 2021}, Code.REFERENCE_DATE, "plan_revised_year"),
    ("township_capacity", {"plan_revised_year": DROP}, Code.REQUIRED, "plan_revised_year"),
    ("township_capacity", {"drill_participants_2020": 2}, Code.CONSTRAINT, "drill_participants_2020"),
    ("township_capacity", {"drill_participants_2020": DROP}, Code.REQUIRED, "drill_participants_2020"),
    ("township_capacity", {"shelters_capacity": DROP}, Code.REQUIRED, "shelters_capacity"),
    ("township_capacity", {"warning_means": ["broadcast", "carrier_pigeon"]}, Code.CHOICE_UNKNOWN, "warning_means"),
    ("township_capacity", {"warning_means": ["sms", "other"]}, Code.REQUIRED, "warning_other"),
    ("township_capacity", {"warehouse_area": 0}, Code.CONSTRAINT, "warehouse_area"),
    ("township_capacity", {"township_code": "211481"}, Code.DIVISION_CODE, "township_code"),
    ("township_capacity", {"filler_phone": BAD_PHONE}, Code.CONSTRAINT, "filler_phone"),
    ("township_capacity", {"reserve_items": [{"item_type": "tent", "item_quantity": 1}] * 31}, Code.REPEAT_MAX,
     "reserve_items"),
    ("township_capacity", {"rescue_teams": "35人"}, Code.REPEAT_NOT_LIST, "rescue_teams"),
    # village_capacity
    ("village_capacity", {"demo_year": 2021}, Code.REFERENCE_DATE, "demo_year"),
    ("village_capacity", {"demo_year": 2005}, Code.REFERENCE_DATE, "demo_year"),
    ("village_capacity", {"demo_level": DROP}, Code.REQUIRED, "demo_level"),
    ("village_capacity", {"demo_level": "global"}, Code.CHOICE_UNKNOWN, "demo_level"),
    ("village_capacity", {"plan_revised_year": 2021}, Code.REFERENCE_DATE, "plan_revised_year"),
    ("village_capacity", {"drill_participants_2020": 5000}, Code.CONSTRAINT, "drill_participants_2020"),
    ("village_capacity", {"shelters_count": -1}, Code.CONSTRAINT, "shelters_count"),
    ("village_capacity", {"risk_map": DROP}, Code.REQUIRED, "risk_map"),
    ("village_capacity", {"warning_means": DROP}, Code.REQUIRED, "warning_means"),
    ("village_capacity", {"village_kind": DROP}, Code.REQUIRED, "village_kind"),
    ("village_capacity", {"rescue_teams": [{"team_type": "volunteer", "team_members": 3000}]}, Code.CONSTRAINT,
     "rescue_teams[1].team_members"),
    ("village_capacity", {"office_location": "40.62 220.71"}, Code.GEOMETRY_OUTSIDE, "office_location"),
    # household_survey
    ("household_survey", {"household_size": 4}, Code.CONSTRAINT, "household_size"),
    ("household_survey", {"household_size": DROP}, Code.REQUIRED, "household_size"),
    ("household_survey", {"members": [], "household_size": 0}, Code.REPEAT_MIN, "members"),
    ("household_survey", {"members": members(21), "household_size": 21}, Code.REPEAT_MAX, "members"),
    ("household_survey", {"members": members(21), "household_size": 21}, Code.CONSTRAINT, "household_size"),
    ("household_survey", {"knows_evacuation_route": DROP}, Code.REQUIRED, "knows_evacuation_route"),
    ("household_survey", {"emergency_kit": ["none", "water"]}, Code.CONSTRAINT, "emergency_kit"),
    ("household_survey", {"emergency_kit": ["water", "gold"]}, Code.CHOICE_UNKNOWN, "emergency_kit"),
    ("household_survey", {"insurance_types": DROP}, Code.REQUIRED, "insurance_types"),
    ("household_survey", {"worst_loss_year": 2021}, Code.REFERENCE_DATE, "worst_loss_year"),
    ("household_survey", {"worst_loss_year": 2009}, Code.REFERENCE_DATE, "worst_loss_year"),
    ("household_survey", {"loss_events": 1}, Code.CONSTRAINT, "loss_events"),  # 2 hazards in 1 event
    ("household_survey", {"worst_loss_amount": DROP}, Code.REQUIRED, "worst_loss_amount"),
    ("household_survey", {"local_hazards": DROP}, Code.REQUIRED, "local_hazards"),
    ("household_survey", {"house_period": "7"}, Code.CHOICE_UNKNOWN, "house_period"),
    ("household_survey", {"survey_date": "2021-13-01"}, Code.TYPE_DATE, "survey_date"),
    ("household_survey", {"village_code": "211481100"}, Code.DIVISION_CODE, "village_code"),
    # shelter
    ("shelter", {"capacity_people": 30000}, Code.CONSTRAINT, "capacity_people"),  # < 1 m² each
    ("shelter", {"effective_area_m2": 50000}, Code.CONSTRAINT, "effective_area_m2"),
    ("shelter", {"area_m2": 50}, Code.CONSTRAINT, "area_m2"),
    ("shelter", {"facilities": ["none", "water"]}, Code.CONSTRAINT, "facilities"),
    ("shelter", {"facilities": ["lighting", "signage"]}, Code.CONSTRAINT, "facilities"),  # class II: no water
    ("shelter", {"facilities": ["sauna"]}, Code.CHOICE_UNKNOWN, "facilities"),
    ("shelter", {"shelter_class": "4"}, Code.CHOICE_UNKNOWN, "shelter_class"),
    ("shelter", {"built_year": 2021}, Code.REFERENCE_DATE, "built_year"),
    ("shelter", {"location": DROP}, Code.REQUIRED, "location"),
    ("shelter", {"boundary": BOWTIE}, Code.GEOMETRY_INVALID, "boundary"),
    ("shelter", {"contact_phone": BAD_PHONE}, Code.CONSTRAINT, "contact_phone"),
    # rescue_team
    ("rescue_team", {"members": 0}, Code.CONSTRAINT, "members"),
    ("rescue_team", {"fulltime_members": 36}, Code.CONSTRAINT, "fulltime_members"),
    ("rescue_team", {"team_type": "navy"}, Code.CHOICE_UNKNOWN, "team_type"),
    ("rescue_team", {"team_type": "other"}, Code.REQUIRED, "team_type_other"),
    ("rescue_team", {"established_year": 2021}, Code.REFERENCE_DATE, "established_year"),
    ("rescue_team", {"equipment": DROP}, Code.REQUIRED, "equipment"),
    ("rescue_team", {"equipment": ["boat", "other"]}, Code.REQUIRED, "equipment_other"),
    ("rescue_team", {"vehicles": 0}, Code.CONSTRAINT, "vehicles"),  # a rescue vehicle is listed
    ("rescue_team", {"training_days_2020": 400}, Code.CONSTRAINT, "training_days_2020"),
    ("rescue_team", {"leader_phone": BAD_PHONE}, Code.CONSTRAINT, "leader_phone"),
    ("rescue_team", {"base_location": FAR_POINT}, Code.GEOMETRY_OUTSIDE, "base_location"),
    # material_reserve
    ("material_reserve", {"items": []}, Code.REPEAT_MIN, "items"),
    ("material_reserve", {"items": [{"item_type": "tent", "item_quantity": 1}] * 41}, Code.REPEAT_MAX, "items"),
    ("material_reserve", {"reserve_level": "national"}, Code.CHOICE_UNKNOWN, "reserve_level"),
    ("material_reserve", {"floor_area": 0}, Code.CONSTRAINT, "floor_area"),
    ("material_reserve", {"storage_volume": 50000}, Code.CONSTRAINT, "storage_volume"),
    ("material_reserve", {"built_year": 2021}, Code.REFERENCE_DATE, "built_year"),
    ("material_reserve", {"keeper_phone": BAD_PHONE}, Code.CONSTRAINT, "keeper_phone"),
    # social_force
    ("social_force", {"force_type": "army"}, Code.CHOICE_UNKNOWN, "force_type"),
    ("social_force", {"credit_code": "52211481MJ567890IX"}, Code.CONSTRAINT, "credit_code"),
    ("social_force", {"credit_code": DROP}, Code.REQUIRED, "credit_code"),
    ("social_force", {"members": 0}, Code.CONSTRAINT, "members"),
    ("social_force", {"certified_members": 69}, Code.CONSTRAINT, "certified_members"),
    ("social_force", {"specialties": DROP}, Code.REQUIRED, "specialties"),
    ("social_force", {"specialties": ["other"]}, Code.REQUIRED, "specialty_other"),
    ("social_force", {"missions_2020": -1}, Code.CONSTRAINT, "missions_2020"),
    ("social_force", {"contact_phone": BAD_PHONE}, Code.CONSTRAINT, "contact_phone"),
]


@pytest.mark.parametrize("form_id, change, code, path", CASES,
                         ids=[f"{c[0]}-{c[3]}-{c[2].value}-{i}" for i, c in enumerate(CASES)])
def test_mutation_fails(form_id, change, code, path):
    assert_fails_with(form_id, mutate(form_id, change), code, path)


# mutations inside a repeat instance: (form, repeat, index, change, code, path)
REPEAT_CASES = [
    ("dyke", "weak_sections", 0, {"weak_problem": "termites"}, Code.CHOICE_UNKNOWN, "weak_sections[1].weak_problem"),
    ("dyke", "weak_sections", 1, {"weak_length_m": 4000}, Code.CONSTRAINT, "weak_sections[2].weak_length_m"),
    ("dyke", "weak_sections", 0, {"weak_point": DROP}, Code.REQUIRED, "weak_sections[1].weak_point"),
    ("dyke", "weak_sections", 0, {"weak_point": FAR_POINT}, Code.GEOMETRY_OUTSIDE, "weak_sections[1].weak_point"),
    ("dyke", "weak_sections", 0, {"weak_problem": "other"}, Code.REQUIRED, "weak_sections[1].weak_problem_other"),
    ("township_capacity", "reserve_items", 1, {"item_quantity": 0}, Code.CONSTRAINT, "reserve_items[2].item_quantity"),
    ("township_capacity", "reserve_items", 0, {"item_type": "yacht"}, Code.CHOICE_UNKNOWN,
     "reserve_items[1].item_type"),
    ("township_capacity", "rescue_teams", 0, {"team_members": DROP}, Code.REQUIRED, "rescue_teams[1].team_members"),
    ("township_capacity", "rescue_teams", 1, {"team_type": "navy"}, Code.CHOICE_UNKNOWN, "rescue_teams[2].team_type"),
    ("village_capacity", "reserve_items", 1, {"item_other": DROP}, Code.REQUIRED, "reserve_items[2].item_other"),
    ("household_survey", "members", 2, {"member_age": 130}, Code.CONSTRAINT, "members[3].member_age"),
    ("household_survey", "members", 0, {"member_age": 12}, Code.CONSTRAINT, "members[1].member_age"),  # head < 16
    ("household_survey", "members", 1, {"member_sex": "x"}, Code.CHOICE_UNKNOWN, "members[2].member_sex"),
    ("household_survey", "members", 1, {"member_relation": DROP}, Code.REQUIRED, "members[2].member_relation"),
    ("household_survey", "members", 2, {"member_health": "ill"}, Code.CHOICE_UNKNOWN, "members[3].member_health"),
    ("material_reserve", "items", 0, {"item_quantity": 0}, Code.CONSTRAINT, "items[1].item_quantity"),
    ("material_reserve", "items", 3, {"item_type": DROP}, Code.REQUIRED, "items[4].item_type"),
    ("material_reserve", "items", 2, {"item_value": -1}, Code.CONSTRAINT, "items[3].item_value"),
]


@pytest.mark.parametrize("form_id, repeat, index, change, code, path", REPEAT_CASES,
                         ids=[f"{c[0]}-{c[5]}-{c[4].value}" for c in REPEAT_CASES])
def test_repeat_mutation_fails(form_id, repeat, index, change, code, path):
    res = validator(form_id).validate(with_item(form_id, repeat, index, change))
    assert (code, path) in [(p.code, p.path) for p in res.errors], [p.line() for p in res.problems]


# (form, change, a field whose answer must be cleared, not validated)
CLEARED = [
    ("urban_house", {"retrofitted": "0", "retrofit_year": 2030}, "retrofit_year"),
    ("urban_house", {"use": "office", "dwelling_units": -4}, "dwelling_units"),
    ("urban_house", {"professional_design": "0", "fortification_intensity": "0", "design_code": "bogus"},
     "design_code"),
    ("urban_house", {"damage": ["none"], "damage_note": "x" * 900}, "damage_note"),
    ("public_facility", {"beds": -1, "seats": -1, "daily_visitors": -1}, "beds"),
    ("public_facility", {"facility_type": "kindergarten", "boarding": "9"}, "boarding"),
    ("public_facility", {"is_shelter": "0", "shelter_capacity": 0}, "shelter_capacity"),
    ("public_facility", {"emergency_plan": "0", "plan_year": 2030, "drills_2020": -1}, "plan_year"),
    ("road", {"prone_to_disaster": "0", "prone_length_km": 99}, "prone_length_km"),
    ("bridge", {"reinforced": "0", "reinforce_year": 1800}, "reinforce_year"),
    ("reservoir", {"reinforced": "0", "reinforce_year": 2030}, "reinforce_year"),
    ("reservoir", {"safety_class": "none", "appraisal_year": 2030}, "appraisal_year"),
    ("dyke", {"has_weak_sections": "0"}, "weak_sections"),  # the example's two sections are dropped
    ("hazardous_chemical_enterprise", {"major_hazard": "0", "major_hazard_level": "9", "major_hazard_count": 0},
     "major_hazard_level"),
    ("hazardous_chemical_enterprise", {"emergency_plan": "0", "plan_year": 2031, "plan_filed": "x"}, "plan_year"),
    ("industrial_enterprise", {"industry_type": "manufacturing", "mining_method": "dredging"}, "mining_method"),
    ("industrial_enterprise", {"pond_grade": "9"}, "pond_grade"),
    ("township_capacity", {"has_warehouse": "0", "warehouse_area": -5}, "warehouse_area"),
    ("township_capacity", {"drills_2020": 0, "drill_participants_2020": -3}, "drill_participants_2020"),
    ("township_capacity", {"emergency_plan": "0", "plan_revised_year": 2050}, "plan_revised_year"),
    ("village_capacity", {"demo_community": "0", "demo_level": "global", "demo_year": 2030}, "demo_year"),
    ("village_capacity", {"shelters_count": 0, "shelters_capacity": 99999999}, "shelters_capacity"),
    ("household_survey", {"losses_since_2010": "0", "worst_loss_year": 2030, "loss_hazards": ["lava"],
                          "loss_events": 0, "worst_loss_amount": -1, "casualties": -1}, "worst_loss_year"),
    ("household_survey", {"has_insurance": "0", "insurance_types": ["unicorn"]}, "insurance_types"),
    ("household_survey", {"receives_warnings": "0", "warning_channels": ["pigeon"]}, "warning_channels"),
    ("rescue_team", {"equipment": ["boat", "pump"], "equipment_other": "x" * 500}, "equipment_other"),
    ("social_force", {"registered": "0", "credit_code": "not a code"}, "credit_code"),
]


@pytest.mark.parametrize("form_id, change, field", CLEARED, ids=[f"{c[0]}-{c[2]}" for c in CLEARED])
def test_irrelevant_answer_is_cleared(form_id, change, field):
    res = validator(form_id).validate(mutate(form_id, change))
    assert res.ok, [p.line() for p in res.problems]
    assert field not in res.record


@pytest.mark.parametrize("form_id, change", [
    ("urban_house", {"floors": 33, "structure_type": "rc_frame", "height": 99.5, "design_code": "gb50011_2010",
                     "year_built": 2015, "retrofitted": "0"}),
    ("urban_house", {"floors": 100, "structure_type": "steel", "height": 400, "retrofitted": "0"}),
    ("urban_house", {"year_built": 1900, "professional_design": "0", "retrofitted": "0",
                     "fortification_intensity": "0"}),
    ("urban_house", {"year_built": 2020, "retrofit_year": 2020, "design_code": "gb50011_2010"}),
    ("urban_house", {"footprint": "40.6142 120.7185;40.6142 120.7188;40.6144 120.7188;40.6142 120.7185"}),
    ("public_facility", {"facility_type": "tourist_site", "tourist_rating": "a4", "daily_visitors": 3500,
                         "building_count": 0, "floor_area": DROP, "main_structure": DROP, "year_built": DROP}),
    ("public_facility", {"facility_type": "hospital", "beds": 20, "hospital_grade": "grade2"}),
    ("public_facility", {"facility_type": "welfare_home", "beds": 80, "residents": 80, "residents_bedridden": 80}),
    ("road", {"admin_class": "national", "grade": "expressway", "lanes": 4}),
    ("road", {"prone_to_disaster": "0", "prone_hazards": DROP, "prone_length_km": DROP}),
    ("bridge", {"length_m": 1200, "max_span_m": 160, "span_count": 8}),
    ("reservoir", {"scale": "small_2", "total_capacity": 10.0, "flood_control_capacity": 3.0}),
    ("reservoir", {"scale": "large", "total_capacity": 10000.0}),
    ("dyke", {"grade": "1", "design_flood_rp": 100}),
    ("dyke", {"grade": "5", "design_flood_rp": 10}),
    ("dyke", {"has_weak_sections": "0", "weak_sections": DROP}),
    ("hazardous_chemical_enterprise", {"credit_code": "12211481A12345678B"}),
    ("hazardous_chemical_enterprise", {"major_hazard": "0", "major_hazard_count": DROP,
                                       "major_hazard_level": DROP, "drills_2020": 0}),
    ("hazardous_chemical_enterprise", {"distance_residential_m": 1500, "people_within_1km": 0}),
    ("village_population", {"under14": 1000, "over65": 1105}),
    ("village_population", {"village_kind": "community", "arable_land": 0}),
    ("township_capacity", {"shelters_count": 0, "shelters_capacity": DROP, "reserve_items": [],
                           "rescue_teams": DROP, "drills_2020": 0, "drill_participants_2020": DROP}),
    ("household_survey", {"members": members(1), "household_size": 1}),
    ("household_survey", {"members": members(20), "household_size": 20}),
    ("household_survey", {"emergency_kit": ["none"], "worst_loss_year": 2010}),
    ("shelter", {"shelter_class": "3", "facilities": ["none"], "boundary": DROP}),
    ("shelter", {"capacity_people": 26000}),
    ("rescue_team", {"equipment": ["boat", "drone"], "vehicles": 0}),
    ("material_reserve", {"storage_volume": DROP}),
    ("social_force", {"registered": "0", "credit_code": DROP, "equipment": DROP}),
])
def test_boundary_values_pass(form_id, change):
    res = validator(form_id).validate(mutate(form_id, change))
    assert res.ok, [p.line() for p in res.problems]


def test_calculations():
    rec = validator("bridge").validate(example("bridge")).record
    assert rec["size_class"] == "large" and rec["dangerous"] == "0"
    rec = validator("bridge").validate(mutate("bridge", {"condition_class": "5", "length_m": 25,
                                                         "max_span_m": 8, "span_count": 3})).record
    assert rec["size_class"] == "small" and rec["dangerous"] == "1"
    assert validator("urban_house").validate(example("urban_house")).record["year_band"] == "3"
    pop = validator("village_population").validate(example("village_population")).record
    assert pop["age15_64"] == 2105 - 268 - 412
    assert float(pop["dependency_ratio"]) == pytest.approx((268 + 412) * 100 / (2105 - 268 - 412))
    assert float(validator("dyke").validate(example("dyke")).record["weak_total_m"]) == 600
    assert float(validator("township_capacity").validate(example("township_capacity")).record[
        "team_members_total"]) == 85
    assert float(validator("material_reserve").validate(example("material_reserve")).record[
        "total_value"]) == pytest.approx(132.0)
