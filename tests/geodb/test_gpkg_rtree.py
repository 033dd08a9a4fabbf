"""GeoPackage R-trees filled in bulk (geodb.gpkg.rtree_*) and the county's R-tree entries written at commit.

Whatever way entries go in (SQLite's own inserts, a packed new tree, new leaves beside the old ones), the
R-tree must pass SQLite's own check (``rtreecheck``), hold exactly the boxes SQLite would have stored,
answer window queries as a scan would, and keep working under SQLite's own inserts and deletes.
"""

import sqlite3
import subprocess
import sys

import numpy as np
import pyogrio
import pytest
import shapely

from geodb import gpkg
from geodb.county import CountyDB
from tests.sync import kit


def _tree(conn, name="t"):
    conn.execute(f"CREATE VIRTUAL TABLE {name} USING rtree(id, minx, maxx, miny, maxy)")


def _boxes(rng, n, x0=120.3, x1=120.7):
    x = rng.uniform(x0, x1, n)
    y = rng.uniform(40.4, 40.7, n)
    return np.stack([x, x + 1e-4, y, y + 1e-4], axis=1)


def _check(conn, name, ids, boxes32, rng):
    assert conn.execute(f"SELECT rtreecheck('{name}')").fetchone()[0] == "ok"
    rows = np.array(conn.execute(f"SELECT id, minx, maxx, miny, maxy FROM {name} ORDER BY id").fetchall(),
                    dtype=np.float64).reshape(-1, 5)
    o = np.argsort(ids)
    assert rows[:, 0].astype(np.int64).tolist() == np.asarray(ids)[o].tolist()
    assert np.array_equal(rows[:, 1:], np.asarray(boxes32, dtype=np.float64)[o])
    b = np.asarray(boxes32, dtype=np.float64)
    for _ in range(25):
        qx, qy = rng.uniform(120.3, 120.7), rng.uniform(40.4, 40.7)
        q = (qx, qx + 0.02, qy, qy + 0.02)
        got = sorted(r[0] for r in conn.execute(
            f"SELECT id FROM {name} WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?", q))
        want = sorted(np.asarray(ids)[(b[:, 1] >= q[0]) & (b[:, 0] <= q[1]) & (b[:, 3] >= q[2]) & (b[:, 2] <= q[3])]
                      .tolist())
        assert got == want


def test_rtree_values_are_the_floats_sqlite_stores():
    rng = np.random.default_rng(1)
    conn = sqlite3.connect(":memory:")
    _tree(conn)
    x = np.concatenate([rng.uniform(-180, 180, 3000), rng.normal(0, 1e-3, 3000), rng.uniform(-1e7, 1e7, 3000),
                        [0.0, -0.0, 1e-40, -1e-40, 120.1, 40.3]])
    env = np.stack([x, x + np.abs(rng.normal(0, 1e-4, len(x))), x, x + 1e-3], axis=1)
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [(i + 1, *e) for i, e in enumerate(env.tolist())])
    stored = np.array(conn.execute("SELECT minx, maxx, miny, maxy FROM t ORDER BY id").fetchall())
    assert np.array_equal(gpkg.rtree_values(env).astype(np.float64), stored)
    # and every stored box contains the exact one (SQLite's rounding cannot promise it for denormal floats)
    normal = np.abs(env[:, 0]) > 1e-30
    assert (stored[normal, 0] <= env[normal, 0]).all() and (stored[normal, 1] >= env[normal, 1]).all()


def test_rtree_entries_reads_a_tree_sqlite_built():
    rng = np.random.default_rng(2)
    conn = sqlite3.connect(":memory:")
    _tree(conn)
    env = _boxes(rng, 5000)
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [(3 * i + 1, *e) for i, e in enumerate(env.tolist())])
    ids, boxes = gpkg.rtree_entries(conn, "t")
    o = np.argsort(ids)
    assert ids[o].tolist() == [3 * i + 1 for i in range(5000)]
    assert np.array_equal(boxes[o], gpkg.rtree_values(env))


@pytest.mark.parametrize("n", [1, 51, 52, 2601, 2602, 20000])
def test_a_packed_tree_is_valid_answers_queries_and_takes_sqlite_edits(n):
    rng = np.random.default_rng(n)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    _tree(conn)
    env = _boxes(rng, n)
    ids = np.arange(1, n + 1) * 2
    conn.execute("BEGIN")
    assert gpkg.rtree_add(conn, "t", ids, env) == "packed"
    conn.execute("COMMIT")
    _check(conn, "t", ids, gpkg.rtree_values(env), rng)
    # SQLite's own inserts and deletes on the packed tree
    extra = _boxes(rng, 700)
    eids = np.arange(1, 701) * 2 + 1
    dele = ids[::3]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [(int(i), *e) for i, e in zip(eids, extra.tolist())])
    conn.executemany("DELETE FROM t WHERE id = ?", [(int(i),) for i in dele])
    conn.execute("COMMIT")
    keep = ~np.isin(ids, dele)
    _check(conn, "t", np.concatenate([ids[keep], eids]),
           np.concatenate([gpkg.rtree_values(env)[keep], gpkg.rtree_values(extra)]), rng)


@pytest.mark.parametrize("strips", [False, True])
def test_batches_as_new_leaves_then_a_repack_when_leaves_overlap_too_much(strips):
    rng = np.random.default_rng(7)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    _tree(conn)
    all_ids, all_boxes, ways = np.empty(0, np.int64), np.empty((0, 4), np.float32), []
    nxt = 1
    for k in range(6):
        env = _boxes(rng, 6000, 120.3 + 0.06 * k, 120.36 + 0.06 * k) if strips else _boxes(rng, 6000)
        ids = np.arange(nxt, nxt + len(env))
        nxt += len(env)
        conn.execute("BEGIN")
        ways.append(gpkg.rtree_add(conn, "t", ids, env))
        conn.execute("COMMIT")
        all_ids, all_boxes = np.concatenate([all_ids, ids]), np.concatenate([all_boxes, gpkg.rtree_values(env)])
        _check(conn, "t", all_ids, all_boxes, rng)
        conn.execute("BEGIN")   # SQLite's own deletes between batches
        gone = all_ids[rng.choice(len(all_ids), 100, replace=False)]
        conn.executemany("DELETE FROM t WHERE id = ?", [(int(i),) for i in gone])
        conn.execute("COMMIT")
        keep = ~np.isin(all_ids, gone)
        all_ids, all_boxes = all_ids[keep], all_boxes[keep]
        _check(conn, "t", all_ids, all_boxes, rng)
    assert ways[0] == "packed" and ways[1] == "appended"
    if strips:      # batches side by side: the leaves never overlap, so the tree is never rebuilt
        assert ways[1:] == ["appended"] * 5
    else:           # batches over the same area: the tree is packed anew once the overlap grows
        assert "packed" in ways[2:]


def test_an_id_already_there_is_replaced_and_a_small_batch_goes_through_sqlite():
    rng = np.random.default_rng(3)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    _tree(conn)
    env = _boxes(rng, 3000)
    ids = np.arange(1, 3001)
    gpkg.rtree_add(conn, "t", ids, env)
    again = _boxes(rng, 2000)
    ids2 = np.arange(2001, 4001)            # 1000 of them replace boxes already there
    assert gpkg.rtree_add(conn, "t", ids2, again) == "packed"
    want = np.concatenate([gpkg.rtree_values(env)[:2000], gpkg.rtree_values(again)])
    _check(conn, "t", np.arange(1, 4001), want, rng)
    few = _boxes(rng, 10)
    assert gpkg.rtree_add(conn, "t", np.arange(5001, 5011), few) == "inserted"
    _check(conn, "t", np.concatenate([np.arange(1, 4001), np.arange(5001, 5011)]),
           np.concatenate([want, gpkg.rtree_values(few)]), rng)
    # the same id twice in one batch: the last box wins, as with one insert after the other
    gpkg.rtree_add(conn, "t", [6001, 6001], [[120.4, 120.41, 40.5, 40.51], [120.5, 120.51, 40.6, 40.61]],
                   rebuild_share=0)
    assert conn.execute("SELECT minx > 120.49 FROM t WHERE id = 6001").fetchone() == (1,)
    assert conn.execute("SELECT rtreecheck('t')").fetchone() == ("ok",)


# ---------------------------------------------------------------------------------------------------
# The county's feature layers: R-tree entries written at commit

def _county(tmp_path):
    return kit.init_county(tmp_path)


def _rows(db, n, x0=120.35, y0=40.45):
    """Feature rows for rural_house (geometry, no form columns, system columns) and their envelopes."""
    geoms = [shapely.box(x0 + 0.0003 * (i % 100), y0 + 0.0003 * (i // 100), x0 + 0.0003 * (i % 100) + 1e-4,
                         y0 + 0.0003 * (i // 100) + 1e-4) for i in range(n)]
    blobs = gpkg.encode(geoms)
    rows = [[b, f"u{i}", f"r{i}", kit.T1, "received", 0, 1] for i, b in enumerate(blobs)]
    return rows, [gpkg.envelope(b) for b in blobs]


def _rtree_matches_layer(conn):
    assert conn.execute("SELECT rtreecheck('rtree_rural_house_geom')").fetchone() == ("ok",)
    got = conn.execute("SELECT id, minx, maxx, miny, maxy FROM rtree_rural_house_geom ORDER BY id").fetchall()
    feats = conn.execute("SELECT fid, geom FROM rural_house WHERE geom IS NOT NULL ORDER BY fid").fetchall()
    want = gpkg.rtree_values([gpkg.envelope(g) for _, g in feats]) if feats else np.empty((0, 4))
    assert [r[0] for r in got] == [f for f, _ in feats]
    assert np.array_equal(np.array([r[1:] for r in got]).reshape(-1, 4), want.astype(np.float64))


def _triggers(conn):
    return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type='trigger' ORDER BY name"))


def test_insert_features_writes_the_rtree_at_commit_with_gdal_triggers_unchanged(tmp_path):
    county = _county(tmp_path)
    with CountyDB.open(county) as db:
        spec = db.layer_specs()["rural_house"]
        before = _triggers(db.conn)
        rows, envs = _rows(db, 300)
        names = []
        with db.transaction():
            fids = db.insert_features(spec, rows[:200], envs[:200], columns=names)
            # waiting for the commit: not in the R-tree yet, the triggers already back
            assert db.conn.execute("SELECT count(*) FROM rtree_rural_house_geom").fetchone() == (0,)
            assert _triggers(db.conn) == before
            db.insert_features(spec, rows[200:], np.array(envs[200:]), columns=names)   # envelopes as an array
        assert len(fids) == 200
        assert db.conn.execute("SELECT count(*) FROM rtree_rural_house_geom").fetchone() == (300,)
        _rtree_matches_layer(db.conn)
        assert _triggers(db.conn) == before
        assert db.conn.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name='rural_house'") \
            .fetchone() == (300,)
    r = subprocess.run([sys.executable, "-m", "osgeo_utils.samples.validate_gpkg", "-k", "--extra", str(county)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    # GDAL finds the features through the R-tree
    gdf = pyogrio.read_dataframe(county, layer="rural_house", bbox=(120.3499, 40.4499, 120.3651, 40.4502))
    assert len(gdf) == 51


def test_a_rolled_back_savepoint_or_transaction_takes_its_rtree_entries_along(tmp_path):
    county = _county(tmp_path)
    with CountyDB.open(county) as db:
        spec = db.layer_specs()["rural_house"]
        rows, envs = _rows(db, 90)
        db.begin()
        with db.savepoint():
            kept = db.insert_features(spec, rows[:30], envs[:30], columns=[])
        with pytest.raises(RuntimeError):
            with db.savepoint():
                db.insert_features(spec, rows[30:60], envs[30:60], columns=[])
                raise RuntimeError("this package fails")
        db.commit()
        assert [r[0] for r in db.conn.execute("SELECT id FROM rtree_rural_house_geom ORDER BY id")] == kept
        _rtree_matches_layer(db.conn)
        db.begin()
        db.insert_features(spec, rows[60:], envs[60:], columns=[])
        db.rollback()
        db.commit()   # nothing waits any more
        _rtree_matches_layer(db.conn)
        assert db.conn.execute("SELECT count(*) FROM rtree_rural_house_geom").fetchone() == (30,)


def test_a_feature_rewritten_before_the_commit_keeps_its_new_box(tmp_path):
    county = _county(tmp_path)
    with CountyDB.open(county) as db:
        spec = db.layer_specs()["rural_house"]
        rows, envs = _rows(db, 40)
        full = len(spec.columns)
        with db.transaction():
            fids = db.insert_features(spec, rows, envs, columns=[])
            moved = gpkg.encode([shapely.box(120.6, 40.6, 120.61, 40.61), None])
            db.replace_features(spec, [[moved[0], *([None] * full), "u0", "r0b", kit.T1, "received", 0, 1],
                                       [moved[1], *([None] * full), "u1", "r1b", kit.T1, "received", 0, 1]],
                                fids[:2])
        _rtree_matches_layer(db.conn)
        assert db.conn.execute("SELECT minx > 120.59 FROM rtree_rural_house_geom WHERE id=?", (fids[0],)).fetchone() \
            == (1,)
        assert db.conn.execute("SELECT count(*) FROM rtree_rural_house_geom WHERE id=?", (fids[1],)).fetchone() == (0,)


def test_features_inserted_outside_a_transaction_are_indexed_at_once(tmp_path):
    county = _county(tmp_path)
    with CountyDB.open(county) as db:
        spec = db.layer_specs()["rural_house"]
        rows, envs = _rows(db, 25)
        assert not db.conn.in_transaction
        db.insert_features(spec, rows, envs, columns=[])
        assert db.conn.execute("SELECT count(*) FROM rtree_rural_house_geom").fetchone() == (25,)
        _rtree_matches_layer(db.conn)


def test_new_fids_and_record_ids_are_the_rows_really_inserted_even_after_a_gap(tmp_path):
    county = _county(tmp_path)
    with CountyDB.open(county) as db:
        spec = db.layer_specs()["rural_house"]
        rows, envs = _rows(db, 60)
        with db.transaction():
            first = db.insert_features(spec, rows[:30], envs[:30], columns=[])
        with db.transaction():   # the newest features go: AUTOINCREMENT does not hand their fids out again
            db.conn.execute('DELETE FROM "rural_house" WHERE fid > ?', (first[19],))
        with db.transaction():
            again = db.insert_features(spec, rows[30:], envs[30:], columns=[])
        assert again == list(range(first[-1] + 1, first[-1] + 31))
        got = [f for (f,) in db.conn.execute('SELECT fid FROM "rural_house" WHERE fid > ? ORDER BY fid', (first[19],))]
        assert got == again
        _rtree_matches_layer(db.conn)
        with db.transaction():
            ids = db.insert_records([(f"u{i}", "rural_house", kit.T1, None, f"r{i}", "received", 0, 1, 1, 1,
                                      "2021-06-01T00:00:00+00:00", f) for i, f in enumerate(again)])
        assert ids == [i for (i,) in db.conn.execute("SELECT id FROM census_records WHERE feature_fid >= ? ORDER BY id",
                                                     (again[0],))]


def test_large_feature_ids_are_packed_too():
    rng = np.random.default_rng(11)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    _tree(conn)
    env = _boxes(rng, 3000)
    ids = 2 ** 33 + np.arange(3000) * 5          # beyond what fits beside a node number in one 64-bit value
    assert gpkg.rtree_add(conn, "t", ids, env) == "packed"
    _check(conn, "t", ids, gpkg.rtree_values(env), rng)
    more = _boxes(rng, 3000)
    ids2 = 2 ** 33 + 20000 + np.arange(3000) * 5
    assert gpkg.rtree_add(conn, "t", ids2, more) == "appended"
    _check(conn, "t", np.concatenate([ids, ids2]), np.concatenate([gpkg.rtree_values(env), gpkg.rtree_values(more)]),
           rng)
