"""CountyDB.insert_records_of_features: the new records of features just inserted, copied from the feature
rows inside SQLite, are exactly the rows insert_records would have written; other backends (a subclass with
its own insert_records) and features that are not one run of fids take the rows given."""

import shapely

from geodb import gpkg
from geodb.county import CountyDB
from tests.sync import kit

AT = "2021-06-01T08:00:00+00:00"


def _features(db, spec, n, start=0):
    blobs = gpkg.encode([shapely.box(120.4 + 0.001 * i, 40.5, 120.4 + 0.001 * i + 1e-4, 40.5001) for i in range(n)])
    rows = [[b, f"u{start + i:04d}", f"r{start + i:04d}", kit.T1, "has_issues" if i % 3 else "received", 0,
             0 if i % 3 else 1] for i, b in enumerate(blobs)]
    fids = db.insert_features(spec, rows, columns=[])
    records = [(r[1], "rural_house", r[3], None, r[2], r[4], r[5], r[6], 7, 7, AT, f) for r, f in zip(rows, fids)]
    return fids, records


def _table(db):
    return db.conn.execute("SELECT * FROM census_records ORDER BY id").fetchall()


def test_records_copied_from_features_equal_the_rows_given(tmp_path):
    a = kit.init_county(tmp_path / "a")
    b = kit.copy_county(a, tmp_path / "b")
    common = {"form_id": "rural_house", "first_package_id": 7, "last_package_id": 7, "updated_at": AT}
    with CountyDB.open(a) as one, CountyDB.open(b) as two:
        spec = one.layer_specs()["rural_house"]
        with one.transaction():
            fids, records = _features(one, spec, 40)
            asked = []
            ids1 = one.insert_records_of_features(spec, fids, common, lambda: asked.append(1) or records)
        assert not asked          # copied inside SQLite: the rows were never built
        with two.transaction():
            fids2, records2 = _features(two, spec, 40)
            ids2 = two.insert_records(records2)
        assert fids == fids2 and ids1 == ids2
        assert _table(one) == _table(two)
        assert one.table_checksums(["census_records"]) == two.table_checksums(["census_records"])


def test_other_backends_and_scattered_fids_take_the_rows_given(tmp_path):
    county = kit.init_county(tmp_path)
    common = {"form_id": "rural_house", "first_package_id": 7, "last_package_id": 7, "updated_at": AT}

    class Other(CountyDB):
        calls = 0

        def insert_records(self, rows):
            Other.calls += 1
            return super().insert_records(rows)

    with CountyDB.open(county) as db:
        spec = db.layer_specs()["rural_house"]
        with db.transaction():
            fids, records = _features(db, spec, 30)
            # not one run of fids (every other feature): the rows given
            ids = db.insert_records_of_features(spec, fids[::2], common, lambda: records[::2])
        assert [r[-1] for r in db.conn.execute("SELECT id, feature_fid FROM census_records ORDER BY id")] == fids[::2]
        assert len(ids) == 15
    other = Other.open(county)
    try:
        spec = other.layer_specs()["rural_house"]
        with other.transaction():
            fids, records = _features(other, spec, 10, start=100)
            other.insert_records_of_features(spec, fids, common, lambda: records)
        assert Other.calls == 1
        assert other.conn.execute("SELECT count(*) FROM census_records").fetchone() == (25,)
    finally:
        other.close()


def _revisions(n, by):
    cols = CountyDB.REVISION_COLUMNS
    rows = [[i + 1, f"r{i:04d}", f"u{i:04d}", "" if i % 2 else f"p{i}", "rural_house", "2020.1", kit.T1, "dev",
             AT, by, 7, i % 2, "[]" if i % 2 else '[{"code": "X"}]', bytearray(f'{{"n":{i}}}'.encode()), "ab" * 32]
            for i in range(n)]
    shared = {c: rows[0][k] for k, c in enumerate(cols)
              if c not in ("record_id", "revision_id", "record_uuid", "content", "content_sha256", "valid", "problems",
                           "parent_revision_id")}
    names = [c for c in cols if c not in shared]
    part = [[r[cols.index(c)] for c in names] for r in rows]
    return rows, names, part, shared


def _revision_table(db):
    return db.conn.execute("SELECT * FROM census_revisions ORDER BY id").fetchall()


def test_shared_revision_values_written_once_store_what_binding_every_row_stores(tmp_path):
    a = kit.init_county(tmp_path / "a")
    for k, by in enumerate(["普查员 O'Brien", "普查员\x00零", "张三"]):
        b = kit.copy_county(a, tmp_path / f"b{k}")
        with CountyDB.open(a) as one, CountyDB.open(b) as two:
            one.conn.execute("DELETE FROM census_revisions")
            two.conn.execute("DELETE FROM census_revisions")
            rows, names, part, shared = _revisions(25, by)
            asked = []
            with one.transaction():
                one.insert_revisions_shared(names, part, shared, lambda: asked.append(1) or rows)
            with two.transaction():
                two.insert_revisions(rows)
            assert _revision_table(one) == _revision_table(two)
            # a value SQLite's statement text cannot hold (NUL) is bound after all, through the full rows
            assert asked == ([1] if "\x00" in by else [])
            assert ("\x00" in by) == (k == 1)
            # shared columns may include the parent ('' = none) and the problems
            rows2, names2, part2, shared2 = _revisions(6, "甲")
            for r in rows2:
                r[1], r[3], r[12] = "s" + r[1], "", "[]"
            shared2.update({"parent_revision_id": "", "problems": "[]"})
            names2 = [c for c in CountyDB.REVISION_COLUMNS if c not in shared2]
            part2 = [[r[CountyDB.REVISION_COLUMNS.index(c)] for c in names2] for r in rows2]
            with one.transaction():
                one.insert_revisions_shared(names2, part2, shared2, lambda: rows2)
            with two.transaction():
                two.insert_revisions(rows2)
            assert _revision_table(one) == _revision_table(two)


def test_other_backends_get_the_full_revision_rows(tmp_path):
    county = kit.init_county(tmp_path)

    class Other(CountyDB):
        got: list = []

        def insert_revisions(self, rows):
            rows = list(rows)
            Other.got.append(len(rows))
            return super().insert_revisions(rows)

    rows, names, part, shared = _revisions(9, "乙")
    other = Other.open(county)
    try:
        with other.transaction():
            other.insert_revisions_shared(names, part, shared, lambda: rows)
        assert Other.got == [9]
        assert other.conn.execute("SELECT count(*) FROM census_revisions WHERE created_by = '乙'").fetchone() == (9,)
    finally:
        other.close()
