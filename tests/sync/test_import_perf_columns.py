"""The county import reads validated answers column by column (Validator.validate_columns) and turns them into
layer rows without a dict per record (Flattener.columns_kept): the same values, problems and geometries as
the record-by-record results."""

import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodb.county import Flattener, layer_spec
from schemas.compiler import compile_form
from schemas.validator import ColumnBatch, ValidationContext, Validator
from tests.schemas.test_validator import BOX, FLAT_FORM, FORM, LISTS, SQUARE, VALID, flat_record, flat_validator


def _same_as_results(batch: ColumnBatch, results, validator):
    assert len(batch) == len(results)
    assert [[p.as_dict() for p in pr] for pr in batch.problems] == [[p.as_dict() for p in r.problems] for r in results]
    names = [p.name for p in validator._plans]
    assert list(batch.columns) == names
    for name in names:
        assert batch.columns[name] == [r.record.get(name) for r in results], name
    for name, shapes in batch.geometries.items():
        want = [r.geometries.get(name) if r.geometries else None for r in results]
        assert [None if g is None else g.wkb for g in shapes] == [None if g is None else g.wkb for g in want]
    # and back again: the record dicts, fields in document order
    again = batch.results()
    assert [list(r.record.items()) for r in again] == [list(r.record.items()) for r in results]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(flat_record().map(lambda r: {**VALID, **r} if len(r) % 2 else r), st.just("x")),
                min_size=8, max_size=40))
def test_columns_hold_exactly_what_the_records_hold(records):
    v = flat_validator()
    _same_as_results(v.validate_columns(records, first_row=2), v.validate_many(records, first_row=2), v)


def test_columns_of_a_large_batch_in_slices_and_of_a_form_with_repeats(monkeypatch):
    import schemas.validator as V

    monkeypatch.setattr(V, "COLUMNAR_SLICE", 8)
    form = compile_form(FLAT_FORM, LISTS).form
    v = Validator(form, ValidationContext(county_code="211481", boundary=BOX))
    outside = {"type": "Polygon", "coordinates": [[[121.5, 41.5], [121.6, 41.5], [121.6, 41.6], [121.5, 41.5]]]}
    records = [{**VALID, "year_built": 1990 + i, "shape": outside if i % 7 == 0 else SQUARE} for i in range(30)]
    records[5] = "not a record"
    batch = v.validate_columns(records)
    _same_as_results(batch, v.validate_many(records), v)
    assert batch.columns["shape"][0] is None and batch.columns["shape"][1] == SQUARE      # outside: dropped
    assert batch.geometries["shape"][0] is None and batch.geometries["shape"][1].equals(shapely.geometry.shape(SQUARE))
    assert any(p.path == "shape" for p in batch.problems[0]) and batch.problems[5]
    # repeats: no columnar path, the columns come from the records
    rv = Validator(compile_form(FORM, LISTS).form, ValidationContext(county_code="211481"))
    recs = [dict(VALID, members=[{"m_age": 30 + i}], shape=SQUARE) for i in range(10)]
    _same_as_results(rv.validate_columns(recs), rv.validate_many(recs), rv)


def test_columns_to_layer_rows_as_from_records():
    from schemas.catalogue import get_form

    form = get_form("rural_house")
    v = Validator(form, ValidationContext(county_code="211481"))
    base = {"building_id": "B1", "village_code": "211481100201", "footprint": SQUARE, "use": "other",
            "use_other": "仓房", "structure_type": "masonry", "floors": 2, "floor_area": 88.5, "year_built": 1999,
            "construction_method": "craftsman", "professional_design": "0", "seismic_measures": ["ring_beam"],
            "retrofitted": "1", "retrofit_year": 2010, "damage": ["none"], "survey_date": "2021-06-01"}
    records = [dict(base, floors=i % 4, remarks=None if i % 3 else f"备注{i}") for i in range(20)]
    records[3].pop("use_other")
    flat = Flattener(layer_spec(form))
    results = v.validate_many(records)
    kept, rows = flat.rows_kept([r.record for r in results])
    batch = v.validate_columns(records)
    assert flat.columns_kept(batch.columns, len(records)) == (kept, rows)
    blobs = [shapely.to_wkb(shapely.box(0, 0, i, i)) for i in range(1, 21)]
    assert flat.columns_kept(batch.columns, len(records), first=blobs) == (kept, [[b, *r] for b, r in zip(blobs, rows)])
    # a column every record leaves empty is left out; none at all: rows of the first value only
    assert flat.columns_kept({}, 3) == ([], [[], [], []])
    assert flat.columns_kept({}, 2, first=["g1", "g2"]) == ([], [["g1"], ["g2"]])
    assert flat.rows_kept([{}, {}]) == ([], [[], []])


def test_answers_are_read_per_key_group_as_one_at_a_time():
    from collections import UserDict

    from schemas.validator import _answer_columns

    names = ["a", "b", "c", "geo"]
    g = {"type": "Point", "coordinates": [1.0, 2.0]}
    shapes = [{"a": 1, "b": [1, 2]}, {"b": "x", "a": None}, {"a": 2, "b": [3], "geo": g}, {}, {"c": [[1, 2]]},
              {"a": 3, "b": [4, 5]}]
    for recs in (shapes, [shapes[0]] * 5, [dict(shapes[2]) for _ in range(3)], [{"k%d" % i: i} for i in range(12)],
                 [*shapes, UserDict({"a": 9})], []):
        got = _answer_columns(recs, names)
        assert got == {n: [r.get(n) for r in recs] for n in names}
        assert all(type(col) is list for col in got.values())
        assert got["geo"][2:3] == ([g] if recs is shapes else got["geo"][2:3])
