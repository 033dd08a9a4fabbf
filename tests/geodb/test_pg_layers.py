"""geodb.pg_layers: PostGIS layers with pyogrio's GeoPackage semantics (each test gets a fresh database)."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyogrio
import pytest
import shapely
from pandas.testing import assert_frame_equal

from geodb import pg_layers as P
from schemas.errors import CensusError

NOT_REJECTED = "census_state IS NULL OR census_state <> 'rejected'"


def sample_frame() -> gpd.GeoDataFrame:
    """Every dtype the project writes, each with a NULL somewhere (and one geometry missing)."""
    df = pd.DataFrame({
        "code": ["211481100", "211481101", None, "211481103"],
        "n_int": np.array([1, 2, 3, 4], dtype="int64"),
        "n_int32": np.array([5, 6, 7, 8], dtype="int32"),
        "n_null": pd.array([1, None, 3, 4], dtype="Int64"),
        "n_small": np.array([1, 2, 3, 250], dtype="uint8"),
        "ratio": np.array([0.5, np.nan, 0.25, 1.0], dtype="float32"),
        "area": [1.5, np.nan, 3.25, 0.0],
        "flag": [True, False, True, False],
        "flag_null": pd.array([True, None, False, True], dtype="boolean"),
        "when": pd.to_datetime(["2020-01-01 10:00:00", "2021-02-03 00:00:00", None, "2020-12-31 23:59:59"]),
        "census_state": ["approved", "rejected", None, "submitted"],
        "name_zh": ["甲", "乙", "丙", "丁"],
    })
    geoms = [shapely.Point(120.1, 40.1), shapely.Point(120.2, 40.2), None, shapely.Point(120.4, 40.4)]
    return gpd.GeoDataFrame(df, geometry=geoms, crs="EPSG:4490")


def polygons(n: int = 5, x0: float = 120.0) -> gpd.GeoDataFrame:
    boxes = [shapely.box(x0 + i * 0.01, 40.0, x0 + i * 0.01 + 0.005, 40.005) for i in range(n)]
    return gpd.GeoDataFrame({"house_id": [f"h{i}" for i in range(n)], "floors": np.arange(1, n + 1)},
                            geometry=boxes, crs="EPSG:4490")


def gpkg_roundtrip(tmp_path, frame, layer="L", **read):
    path = tmp_path / "same.gpkg"
    pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG")
    return pyogrio.read_dataframe(path, layer=layer, **read)


def assert_same_frames(a, b):
    """Same columns, dtypes and values; geometries compared exactly (None where missing)."""
    assert list(a.columns) == list(b.columns)
    assert list(a.dtypes.astype(str)) == list(b.dtypes.astype(str))
    geo = [c for c in a.columns if str(a[c].dtype) == "geometry"]
    assert_frame_equal(pd.DataFrame(a.drop(columns=geo)), pd.DataFrame(b.drop(columns=geo)))
    for c in geo:
        assert list(shapely.to_wkb(np.asarray(a[c].values))) == list(shapely.to_wkb(np.asarray(b[c].values)))
    if geo:
        assert a.crs == b.crs


# ---------------------------------------------------------------------------------------------------
# Round trips and dtypes

def test_points_round_trip_matches_pyogrio_on_geopackage(pg_url, tmp_path):
    g = sample_frame()
    P.write_layer(pg_url, g, "points", description="测试点")
    got = P.read_dataframe(pg_url, "points")
    want = gpkg_roundtrip(tmp_path, g)
    assert isinstance(got, gpd.GeoDataFrame) and got.geometry.name == "geometry"
    assert_same_frames(got, want)
    # the promises spelled out (pyogrio's own choices, mirrored)
    d = got.dtypes.astype(str).to_dict()
    assert d["n_int"] == "int64" and d["n_int32"] == "int32"
    assert d["n_null"] == "float64" and np.isnan(got["n_null"][1])
    assert d["n_small"] == "int16" and d["ratio"] == "float32"
    assert d["area"] == "float64" and d["flag"] == "bool"
    assert d["flag_null"] == "float64" and got["flag_null"].tolist()[:1] == [1.0]
    assert d["when"] == "datetime64[ms]" and pd.isna(got["when"][2])
    assert pd.isna(got["code"][2]) and got["name_zh"].tolist() == ["甲", "乙", "丙", "丁"]
    assert got.geometry[2] is None
    assert got.crs.to_epsg() == 4490
    assert isinstance(got.index, pd.RangeIndex)


def test_filters_match_pyogrio(pg_url, tmp_path):
    g = sample_frame()
    P.write_layer(pg_url, g, "points")
    for kw in ({"where": NOT_REJECTED}, {"columns": ["census_state", "code"]},
               {"where": "n_int >= 2", "columns": ["n_null", "no_such_field"]},
               {"read_geometry": False}, {"where": "n_int > 100"}):
        got = P.read_dataframe(pg_url, "points", **kw)
        want = gpkg_roundtrip(tmp_path, g, **kw)
        assert type(got) is type(want), kw
        assert_same_frames(got, want)


def test_where_and_columns(pg_url):
    P.write_layer(pg_url, sample_frame(), "points")
    kept = P.read_dataframe(pg_url, "points", where=NOT_REJECTED)
    assert kept["n_int"].tolist() == [1, 3, 4]
    # the layer's column order, unknown names ignored, geometry still there
    sub = P.read_dataframe(pg_url, "points", columns=["flag", "code", "nope"])
    assert list(sub.columns) == ["code", "flag", "geometry"]
    only_geom = P.read_dataframe(pg_url, "points", columns=[])
    assert list(only_geom.columns) == ["geometry"] and len(only_geom) == 4
    plain = P.read_dataframe(pg_url, "points", read_geometry=False, where="census_state = 'approved'")
    assert type(plain) is pd.DataFrame and "geometry" not in plain.columns and len(plain) == 1
    # the filtered result decides the dtype: no NULL left → integers stay integers
    ints = P.read_dataframe(pg_url, "points", where="n_null IS NOT NULL", columns=["n_null"])
    assert str(ints["n_null"].dtype) == "int64"


def test_where_cannot_write(pg_url):
    P.write_layer(pg_url, sample_frame(), "points")
    # reads run in a read-only transaction: a filter can compute, never change anything
    with pytest.raises(CensusError, match="read-only"):
        P.read_dataframe(pg_url, "points", where="nextval('points_fid_seq') > 0")
    assert len(P.read_dataframe(pg_url, "points")) == 4


def test_polygons_and_multipolygons(pg_url, tmp_path):
    g = polygons(4)
    P.write_layer(pg_url, g, "plain")
    assert P.read_info(pg_url, "plain")["geometry_type"] == "Polygon"
    assert set(P.read_dataframe(pg_url, "plain").geom_type) == {"Polygon"}

    mixed = g.copy()
    mixed.loc[1, "geometry"] = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])
    P.write_layer(pg_url, mixed, "mixed")      # Polygon + MultiPolygon → MultiPolygon, as pyogrio on GPKG
    got = P.read_dataframe(pg_url, "mixed")
    assert P.read_info(pg_url, "mixed")["geometry_type"] == "MultiPolygon"
    assert_same_frames(got, gpkg_roundtrip(tmp_path, mixed))
    assert got.geometry[1].equals(mixed.geometry[1])

    P.write_layer(pg_url, g, "promoted", geometry_type="MultiPolygon", promote_to_multi=True)
    got = P.read_dataframe(pg_url, "promoted")
    assert set(got.geom_type) == {"MultiPolygon"}
    assert all(a.equals(b) for a, b in zip(got.geometry, g.geometry))

    with pytest.raises(CensusError):   # told not to promote, PostGIS refuses single rows in a Multi* column
        P.write_layer(pg_url, g, "refused", geometry_type="MultiPolygon", promote_to_multi=False)
    assert "refused" not in P.list_layers(pg_url)

    odd = gpd.GeoDataFrame({"k": [1, 2]}, geometry=[shapely.box(0, 0, 1, 1), shapely.Point(5, 5)], crs="EPSG:4490")
    P.write_layer(pg_url, odd, "odd")
    assert P.read_info(pg_url, "odd")["geometry_type"] == "Unknown"
    assert P.read_dataframe(pg_url, "odd").geom_type.tolist() == ["Polygon", "Point"]


def test_time_zones_and_datetime_objects(pg_url):
    df = pd.DataFrame({
        "aware": pd.to_datetime(["2020-01-01 08:00+08:00", None]),
        "objects": pd.Series([dt.datetime(2021, 3, 4, 5, 6, 7), None], dtype=object),
    })
    P.write_layer(pg_url, df, "times")
    got = P.read_dataframe(pg_url, "times")
    assert str(got["aware"].dtype) == "datetime64[ms, UTC]"
    assert got["aware"][0] == pd.Timestamp("2020-01-01 00:00", tz="UTC") and pd.isna(got["aware"][1])
    assert str(got["objects"].dtype) == "datetime64[ms]" and got["objects"][0] == pd.Timestamp("2021-03-04 05:06:07")


def test_3d_points_and_other_crs(pg_url):
    g = gpd.GeoDataFrame({"h": [1.0, 2.0]}, geometry=[shapely.Point(1, 2, 3), shapely.Point(4, 5, 6)],
                         crs="EPSG:4326")
    P.write_layer(pg_url, g, "z")
    got = P.read_dataframe(pg_url, "z")
    assert P.read_info(pg_url, "z")["geometry_type"] == "Point Z"
    assert got.crs.to_epsg() == 4326 and got.geometry[1].z == 6


def test_attribute_table_with_nulls(pg_url, tmp_path):
    df = pd.DataFrame({"year": [2018, 2019, 2020], "deaths": pd.array([0, None, 2], dtype="Int64"),
                       "loss": [1.5, None, 0.25], "note": ["a", None, "c"], "ok": [True, True, False]})
    P.write_layer(pg_url, df, "annual", description="年度灾情")
    got = P.read_dataframe(pg_url, "annual")
    assert type(got) is pd.DataFrame
    assert_same_frames(got, gpkg_roundtrip(tmp_path, df, layer="annual"))
    assert P.field_names(pg_url, "annual") == ["year", "deaths", "loss", "note", "ok"]
    assert P.read_info(pg_url, "annual")["geometry_type"] is None
    assert P.read_dataframe(pg_url, "annual", columns=[]).empty     # as pyogrio: nothing asked, nothing given


# ---------------------------------------------------------------------------------------------------
# Replace, append, empty

def test_replace_drops_old_rows_and_columns(pg_url):
    P.write_layer(pg_url, polygons(5), "houses", description="旧")
    new = polygons(2, x0=121.0).rename(columns={"floors": "storeys"})
    P.write_layer(pg_url, new, "houses")
    got = P.read_dataframe(pg_url, "houses")
    assert got["house_id"].tolist() == ["h0", "h1"] and list(got.columns) == ["house_id", "storeys", "geometry"]
    assert got.geometry[0].bounds[0] == pytest.approx(121.0)
    # a replaced layer is a new layer: its description is what this write gave (none), as GDAL's overwrite
    assert P.read_info(pg_url, "houses")["description"] is None
    with psycopg.connect(pg_url) as conn:
        idx = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'houses'").fetchall()
        leftovers = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE '_census_new%'").fetchall()
    assert {r[0] for r in idx} == {"houses_pkey", "houses_geom_idx"} and leftovers == []


def test_failed_replace_leaves_the_old_layer(pg_url):
    P.write_layer(pg_url, polygons(3), "houses")
    bad = polygons(6)
    bad["house_id"] = bad["house_id"].astype(object)
    bad.loc[4, "house_id"] = "nul\x00byte"        # PostgreSQL text cannot hold NUL: the COPY fails late
    with pytest.raises(CensusError) as e:
        P.write_layer(pg_url, bad, "houses")
    assert "houses" in e.value.message_zh and "houses" in e.value.message_en
    assert P.read_dataframe(pg_url, "houses")["house_id"].tolist() == ["h0", "h1", "h2"]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE '_census_new%'").fetchone()[0] == 0


def test_readers_see_old_layer_until_replace_commits(pg_url, monkeypatch):
    P.write_layer(pg_url, polygons(3), "houses")
    seen = {}
    real = P._relation

    def relation(conn, layer):
        # called by the replace just before it drops the old table: the new one is complete but not
        # committed, and another session still sees only the old layer
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS and not seen:
            monkeypatch.setattr(P, "_relation", real)          # the peeking reads use the real one
            seen["count"] = len(P.read_dataframe(pg_url, "houses"))
            seen["layers"] = P.list_layers(pg_url)
        return real(conn, layer)

    monkeypatch.setattr(P, "_relation", relation)
    P.write_layer(pg_url, polygons(7), "houses")
    assert seen == {"count": 3, "layers": ["houses"]}
    assert len(P.read_dataframe(pg_url, "houses")) == 7


def test_append_adds_rows_and_accepts_frames_read_back(pg_url):
    P.write_layer(pg_url, sample_frame(), "points", description="点")
    back = P.read_dataframe(pg_url, "points")             # ints with NULL came back float64, bools too
    P.write_layer(pg_url, back.iloc[:2], "points", append=True)
    got = P.read_dataframe(pg_url, "points")
    assert len(got) == 6 and got["n_int"].tolist() == [1, 2, 3, 4, 1, 2]
    assert got["flag_null"][4] == 1.0 and np.isnan(got["flag_null"][5])
    assert got["n_null"][4] == 1.0 and np.isnan(got["n_null"][5])
    assert P.read_info(pg_url, "points")["description"] == "点"          # kept when append gives none
    # fewer columns: the others are NULL; no geometry column in the frame: NULL geometry
    P.write_layer(pg_url, pd.DataFrame({"n_int": [9], "n_int32": [9], "flag": [False]}), "points", append=True)
    last = P.read_dataframe(pg_url, "points").iloc[-1]
    assert last["n_int"] == 9 and pd.isna(last["code"]) and last["geometry"] is None


def test_append_errors(pg_url):
    P.write_layer(pg_url, sample_frame(), "points")
    extra = sample_frame().assign(new_field=1)
    with pytest.raises(CensusError, match="new_field"):
        P.write_layer(pg_url, extra, "points", append=True)
    frac = sample_frame().assign(n_int=[1.0, 2.5, 3.0, 4.0])
    with pytest.raises(CensusError, match="n_int"):
        P.write_layer(pg_url, frac, "points", append=True)
    with pytest.raises(CensusError, match="EPSG:4490"):
        P.write_layer(pg_url, sample_frame().to_crs("EPSG:4326"), "points", append=True)
    assert len(P.read_dataframe(pg_url, "points")) == 4        # nothing half-appended


def test_append_creates_missing_layer_and_promotes(pg_url):
    P.write_layer(pg_url, polygons(2), "zones", geometry_type="MultiPolygon", append=True, description="区")
    P.write_layer(pg_url, polygons(3, x0=121), "zones", append=True)      # Polygon rows into MultiPolygon
    got = P.read_dataframe(pg_url, "zones")
    assert len(got) == 5 and set(got.geom_type) == {"MultiPolygon"}
    assert P.read_info(pg_url, "zones")["description"] == "区"


def test_fid_column_gives_feature_ids(pg_url):
    g = polygons(3).assign(fid=[10, 20, 30])
    P.write_layer(pg_url, g, "ids")
    assert "fid" not in P.field_names(pg_url, "ids")
    P.write_layer(pg_url, polygons(1), "ids", append=True)
    with psycopg.connect(pg_url) as conn:
        fids = [r[0] for r in conn.execute("SELECT fid FROM ids ORDER BY fid")]
    assert fids == [10, 20, 30, 31]


def test_empty_frames_create_typed_layers(pg_url, tmp_path):
    empty = gpd.GeoDataFrame({"code": pd.Series([], dtype=object), "n": pd.Series([], dtype="int64"),
                              "x": pd.Series([], dtype="float64")},
                             geometry=gpd.GeoSeries([], crs="EPSG:4490"), crs="EPSG:4490")
    P.write_layer(pg_url, empty, "nothing", geometry_type="MultiPolygon", description="空")
    info = P.read_info(pg_url, "nothing")
    assert info["geometry_type"] == "MultiPolygon" and info["features"] == 0 and info["description"] == "空"
    got = P.read_dataframe(pg_url, "nothing")
    path = tmp_path / "e.gpkg"
    pyogrio.write_dataframe(empty, path, layer="nothing", geometry_type="MultiPolygon")
    assert_same_frames(got, pyogrio.read_dataframe(path, layer="nothing"))
    P.write_layer(pg_url, polygons(2)[["geometry"]], "nothing", append=True)
    assert set(P.read_dataframe(pg_url, "nothing").geom_type) == {"MultiPolygon"}

    P.write_layer(pg_url, pd.DataFrame({"a": pd.Series([], dtype="int64")}), "no_rows")
    assert P.field_names(pg_url, "no_rows") == ["a"] and P.read_dataframe(pg_url, "no_rows").empty


# ---------------------------------------------------------------------------------------------------
# Listing, names, errors

def test_list_layers_and_field_names(pg_url):
    assert P.list_layers(pg_url) == []
    P.write_layer(pg_url, polygons(2), "houses")
    P.write_layer(pg_url, pd.DataFrame({"k": [1]}), "ledger")
    names = P.list_layers(pg_url)
    assert names == ["houses", "ledger"]        # no spatial_ref_sys, no census_layer_info
    assert P.field_names(pg_url, "houses") == ["house_id", "floors"]
    info = P.read_info(pg_url, "houses")
    assert info["fid_column"] == "fid" and info["geometry_name"] == "geom" and info["features"] == 2
    with psycopg.connect(pg_url) as conn:
        cols = conn.execute("SELECT f_geometry_column, srid, type FROM geometry_columns "
                            "WHERE f_table_name = 'houses'").fetchall()
        gist = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'houses_geom_idx'").fetchone()[0]
        reg = conn.execute("SELECT table_name, geometry_type FROM census_layer_info ORDER BY 1").fetchall()
    assert cols == [("geom", 4490, "POLYGON")] and "gist" in gist.lower()
    assert reg == [("houses", "Polygon"), ("ledger", None)]


def test_tables_made_by_sql_are_layers_too(pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE ledger (entry_id TEXT PRIMARY KEY, amount NUMERIC, info JSONB, "
                     "at TIMESTAMPTZ, day DATE)")
        conn.execute("INSERT INTO ledger VALUES ('a', 1.25, '{\"k\": 1}', '2020-01-01 08:00+08', '2020-01-02'), "
                     "('b', NULL, NULL, NULL, NULL)")
    assert P.list_layers(pg_url) == ["ledger"]
    assert P.field_names(pg_url, "ledger") == ["entry_id", "amount", "info", "at", "day"]   # text key is a field
    got = P.read_dataframe(pg_url, "ledger")
    assert got["amount"].dtype == "float64" and got["amount"][0] == 1.25
    assert got["info"][0] == '{"k": 1}' and got["at"][0] == pd.Timestamp("2020-01-01 00:00", tz="UTC")
    assert got["day"].dtype == "datetime64[ms]" and got["day"][0] == pd.Timestamp("2020-01-02")
    # appending into types without a binary form here (numeric, jsonb) goes through text COPY
    P.write_layer(pg_url, pd.DataFrame({"entry_id": ["c"], "amount": [2.5], "info": [{"k": "值"}],
                                        "day": [dt.date(2021, 5, 6)]}), "ledger", append=True)
    got = P.read_dataframe(pg_url, "ledger", where="entry_id = 'c'")
    assert got["amount"][0] == 2.5 and '"值"' in got["info"][0] and got["day"][0] == pd.Timestamp("2021-05-06")


def test_missing_layer_error_is_bilingual_and_names_it(pg_url):
    P.write_layer(pg_url, polygons(1), "houses")
    for call in (lambda: P.read_dataframe(pg_url, "no_such_layer"), lambda: P.field_names(pg_url, "no_such_layer"),
                 lambda: P.read_dataframe(pg_url, "spatial_ref_sys")):
        with pytest.raises(CensusError) as e:
            call()
        assert "图层" in e.value.message_zh and "houses" in e.value.message_en
        assert ("no_such_layer" in e.value.message_en) or ("spatial_ref_sys" in e.value.message_en)


def test_bad_names_and_bad_where(pg_url):
    for bad in ("houses; DROP TABLE x", "1st", 'a"b', "x" * 64, "spatial_ref_sys", "census_layer_info"):
        with pytest.raises(CensusError):
            P.write_layer(pg_url, polygons(1), bad)
    with pytest.raises(CensusError, match="bad-name"):
        P.write_layer(pg_url, pd.DataFrame({"bad-name": [1]}), "t")
    P.write_layer(pg_url, polygons(1), "houses")
    with pytest.raises(CensusError) as e:
        P.read_dataframe(pg_url, "houses", where="no_such_column = 1")
    assert "houses" in e.value.message_en and "no_such_column" in e.value.message_en
    assert P.list_layers(pg_url) == ["houses"]


def test_description_kept_and_updated(pg_url):
    P.write_layer(pg_url, polygons(1), "houses", description="农村住房")
    assert P.read_info(pg_url, "houses")["layer_metadata"] == {"DESCRIPTION": "农村住房"}
    P.write_layer(pg_url, polygons(1), "houses", append=True)
    assert P.read_info(pg_url, "houses")["description"] == "农村住房"
    P.write_layer(pg_url, polygons(1), "houses", append=True, description="农村住房（更新）")
    assert P.read_info(pg_url, "houses")["description"] == "农村住房（更新）"
    P.write_layer(pg_url, polygons(1), "houses", description="重建")
    assert P.read_info(pg_url, "houses")["description"] == "重建"


def test_drop_layer(pg_url):
    P.write_layer(pg_url, polygons(1), "houses", description="d")
    P.drop_layer(pg_url, ["houses", "never_there"])
    assert P.list_layers(pg_url) == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM census_layer_info").fetchone()[0] == 0
