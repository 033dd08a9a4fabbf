"""The county GeoPackage: GDAL's validator, QGIS-facing structure, geometry blobs, layer specs."""

import json
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
import pyogrio
import shapely

from geodb import gpkg
from geodb.county import CountyDB, Flattener, geojson_to_shapes, layer_spec
from tests.sync import kit


def _validate(path):
    r = subprocess.run([sys.executable, "-m", "osgeo_utils.samples.validate_gpkg", "-k", "--extra", str(path)],
                       capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr


def test_county_gpkg_passes_gdal_validator_after_init_and_import(tmp_path):
    county = kit.init_county(tmp_path)
    rc, out = _validate(county)
    assert rc == 0, out
    a = kit.enrol(county, kit.T1)
    b = kit.enrol(county, kit.T1, "李四")
    houses = a.houses(30)
    a.revise(kit.house("BAD", kit.VILLAGES[kit.T1][0], 125.0, 40.5, year_built=2030))   # invalid, outside
    r = houses[0]
    b.revisions.append(r)
    b.revise(kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.41, 40.51, floors=3),
             record_uuid=r["record_uuid"], parent=r["revision_id"])                        # a conflict
    a.revise(kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.41, 40.51, floors=1),
             record_uuid=r["record_uuid"], parent=r["revision_id"])
    forms = kit.forms()
    if "chemical_danger_site" in forms:
        a.revise({"site_id": "C1", "location": {"type": "Point", "coordinates": [120.45, 40.55]}},
                 form_id="chemical_danger_site", form_version=forms["chemical_danger_site"].version)
    res = kit.import_(county, [a.export(tmp_path / "p"), b.export(tmp_path / "p")])
    assert all(x.outcome == "accepted" for x in res)
    rc, out = _validate(county)
    assert rc == 0, out
    # GDAL reads every layer; counts and extents agree with what was written
    layers = dict(pyogrio.list_layers(county))
    for name in ("county", "townships", "villages", "workmap_buildings", "rural_house", "census_ledger",
                 "census_audit", "census_conflicts", "census_records"):
        assert name in layers, name
    assert layers["rural_house"] == "Polygon"
    info = pyogrio.read_info(county, layer="rural_house")
    assert info["features"] == 31 and info["crs"] == "EPSG:4490"
    gdf = pyogrio.read_dataframe(county, layer="rural_house")
    assert len(gdf) == 31 and gdf.geometry.notna().sum() == 30
    assert kit.rows(county, "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name='rural_house'") == [(31,)]
    assert kit.rows(county, "SELECT count(*) FROM rtree_rural_house_geom") == [(30,)]
    # GDAL's triggers are all back in place after the bulk insert
    triggers = {t for (t,) in kit.rows(county, "SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert {"rtree_rural_house_geom_insert", "trigger_insert_feature_count_rural_house"} <= triggers
    # a spatial query through GDAL uses the R-tree
    near = pyogrio.read_dataframe(county, layer="rural_house", bbox=(120.40, 40.50, 120.45, 40.60))
    assert 0 < len(near) <= 30
    ((minx, miny, maxx, maxy),) = kit.rows(county, "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents "
                                                   "WHERE table_name='rural_house'")
    assert minx <= gdf.total_bounds[0] and maxx >= gdf.total_bounds[2]


def test_private_keys_never_inside_the_gpkg(tmp_path):
    county = kit.init_county(tmp_path)
    keys = json.loads((tmp_path / "county" / "county.gpkg.keys.json").read_text())
    blob = county.read_bytes()
    for k in ("sign_private", "encrypt_private"):
        assert keys[k].encode() not in blob
    with CountyDB.open(county, readonly=True) as db:
        assert db.setting("county_sign_public_key") == keys["sign_public"]


def test_writes_through_plain_sqlite_work_with_registered_functions(tmp_path):
    county = kit.init_county(tmp_path)
    shapes = geojson_to_shapes([{"type": "Polygon", "coordinates": [[[120.41, 40.51], [120.42, 40.51], [120.42, 40.52],
                                                                    [120.41, 40.51]]]}])
    blob = gpkg.encode(shapes)[0]
    # plain sqlite3 without the functions fails on GDAL's trigger, our connection succeeds
    raw = sqlite3.connect(county)
    try:
        raw.execute("INSERT INTO rural_house (geom, census_uuid) VALUES (?, 'x')", (blob,))
        failed = False
    except sqlite3.OperationalError:
        failed = True
    raw.close()
    assert failed
    conn = gpkg.connect(county)
    conn.execute("INSERT INTO rural_house (geom, census_uuid) VALUES (?, 'y')", (blob,))
    assert conn.execute("SELECT count(*) FROM rtree_rural_house_geom").fetchone() == (1,)
    conn.close()


def test_geometry_blobs_round_trip():
    geoms = [shapely.Point(120.5, 40.5), shapely.box(120, 40, 121, 41), None, shapely.LineString([(1, 2), (3, 4)]),
             shapely.Polygon()]
    blobs = gpkg.encode(np.array(geoms, dtype=object))
    assert blobs[2] is None
    for g, b in zip(geoms, blobs):
        if g is None:
            continue
        assert b[:2] == b"GP"
        back = gpkg.decode(b)
        assert back.equals(g) or (back.is_empty and g.is_empty)
    assert gpkg.envelope(blobs[1]) == (120.0, 121.0, 40.0, 41.0)
    assert gpkg.envelope(blobs[0]) == (120.5, 120.5, 40.5, 40.5)
    assert gpkg.envelope(blobs[4]) is None


def test_layer_spec_flattens_forms():
    forms = kit.forms()
    spec = layer_spec(forms["rural_house"])
    assert spec.geometry_type == "Polygon" and spec.geometry_field == "footprint" and spec.table == "rural_house"
    names = spec.column_names
    assert "footprint" not in names and "building_id" in names and "seismic_measures" in names
    row = Flattener(spec).row(kit.house("B1", "211481100201", 120.4, 40.5, seismic_measures=["ring_beam", "tie_column"]))
    assert row[names.index("seismic_measures")] == "ring_beam tie_column"
    assert row[names.index("floors")] == 2
    for f in forms.values():
        s = layer_spec(f)
        assert len(set(s.column_names)) == len(s.column_names)
        assert not set(s.column_names) & {"fid", "geom", "census_uuid"}


def test_status_and_verify_read_a_copy_on_read_only_media(tmp_path):
    county = kit.init_county(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    shutil.copy(county, ro / "county.gpkg")
    (ro / "county.gpkg").chmod(0o444)
    with CountyDB.open(ro / "county.gpkg", readonly=True) as db:
        assert db.county == kit.COUNTY and len(db.townships()) == 2


def test_rows_kept_leaves_out_only_columns_empty_in_every_record():
    spec = layer_spec(kit.forms()["rural_house"])
    flat = Flattener(spec)
    recs = [kit.house("B1", "211481100201", 120.4, 40.5), kit.house("B2", "211481100201", 120.41, 40.5, floors=2)]
    recs[1]["retrofitted"] = "1"
    recs[0].pop("retrofitted", None)
    full = flat.rows(recs)
    kept, rows = flat.rows_kept(recs)
    assert kept is not None and len(kept) < len(spec.columns)
    empty = [k for k in range(len(spec.columns)) if all(r[k] is None for r in full)]
    assert sorted(set(range(len(spec.columns))) - set(kept)) == empty
    assert rows == [[r[k] for k in kept] for r in full]
    col = spec.column_names.index("retrofitted")
    assert col in kept                                  # answered in one record only: kept, None in the other
    assert flat.rows_kept([]) == (None, [])


def test_insert_features_with_a_subset_of_columns_and_byte_content(tmp_path):
    county = kit.init_county(tmp_path)
    db = CountyDB.open(county)
    try:
        spec = db.layer_specs()["rural_house"]
        flat = Flattener(spec)
        rec = kit.house("B9", "211481100201", 120.4, 40.5)
        kept, (row,) = flat.rows_kept([rec])
        blob = gpkg.encode(geojson_to_shapes([rec["footprint"]]))[0]
        with db.transaction():
            (fid,) = db.insert_features(spec, [[bytearray(blob), *row, "u", "r", "211481100", "received", 0, 1]],
                                        columns=[spec.columns[k][0] for k in kept])
            db.insert_revisions([(1, "r", "u", "", "rural_house", "1", "211481100", "d", "2021-01-01T00:00:00Z", "x",
                                  1, 1, "[]", bytearray("{\"名\":1}".encode("utf-8")), "h")])
        got = dict(zip(["geom"] + spec.column_names, db.conn.execute(f'SELECT * FROM rural_house WHERE fid={fid}').fetchone()[1:]))
        assert got == {"geom": blob, **dict(zip(spec.column_names, flat.row(rec)))}
        assert db.conn.execute("SELECT count(*) FROM rtree_rural_house_geom WHERE id=?", (fid,)).fetchone() == (1,)
        assert db.conn.execute("SELECT content, typeof(content), parent_revision_id FROM census_revisions "
                               "WHERE revision_id='r'").fetchone() == ('{"名":1}', "text", None)
    finally:
        db.close()
