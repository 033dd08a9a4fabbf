"""Coverage-weighted zonal statistics, checked against hand-computed values."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from hazards.errors import CRSMismatchError, RasterFormatError, RasterNotFoundError
from hazards.io import make_dataarray, write_geotiff
from hazards.zonal import zonal_stats

# 4×4 pixels of 0.25° from (120.0 E, 41.0 N): binary fractions, so coverage is exact.
TRANSFORM = Affine(0.25, 0.0, 120.0, 0.0, -0.25, 41.0)
VALUES = np.array([[2, 6, 1, 3],
                   [4, 8, 5, 7],
                   [9, 10, 11, 12],
                   [13, 14, 15, -9999]], dtype="float32")


def _raster():
    return make_dataarray(VALUES.copy(), TRANSFORM, nodata=-9999.0, name="test")


def _polygons(crs="EPSG:4490"):
    return gpd.GeoDataFrame(
        {"code": ["half_two", "one_and_half", "tiny", "with_nodata", "outside"]},
        geometry=[
            box(120.125, 40.75, 120.375, 41.0),   # right half of (0,0)=2 and left half of (0,1)=6
            box(120.0, 40.5, 120.25, 40.875),     # all of (1,0)=4 and the lower half of (0,0)=2
            box(120.30, 40.30, 120.31, 40.31),    # far smaller than pixel (2,1)=10
            box(120.5, 40.0, 121.0, 40.25),       # (3,2)=15 and the nodata pixel (3,3)
            box(125.0, 45.0, 126.0, 46.0),        # off the raster
        ],
        crs=crs, index=[11, 12, 13, 14, 15],
    )


def _check(df):
    assert list(df.columns) == ["code", "mean", "max", "min", "sum", "count"]
    assert list(df.index) == [11, 12, 13, 14, 15]
    half, one_half, tiny, nodata, outside = (df.loc[i] for i in df.index)
    # half of two pixels: (0.5·2 + 0.5·6) / (0.5 + 0.5)
    assert half["mean"] == pytest.approx(4.0)
    assert half["sum"] == pytest.approx(4.0) and half["count"] == pytest.approx(1.0)
    assert (half["min"], half["max"]) == (2.0, 6.0)
    # (1·4 + 0.5·2) / 1.5
    assert one_half["mean"] == pytest.approx(5.0 / 1.5)
    assert one_half["count"] == pytest.approx(1.5) and one_half["sum"] == pytest.approx(5.0)
    # a sub-pixel polygon gets its pixel's value, not an empty result
    assert tiny["mean"] == pytest.approx(10.0) and tiny["min"] == tiny["max"] == 10.0
    assert tiny["count"] == pytest.approx((0.01 / 0.25) ** 2)
    # nodata is ignored, not averaged in as -9999
    assert nodata["mean"] == pytest.approx(15.0) and nodata["count"] == pytest.approx(1.0)
    assert np.isnan(outside["mean"]) and outside["count"] == 0


def test_zonal_stats_in_memory_matches_hand_computation():
    _check(zonal_stats(_raster(), _polygons(), id_column="code"))


def test_zonal_stats_from_path_and_open_dataset(tmp_path):
    path = write_geotiff(_raster(), tmp_path / "test.tif")
    _check(zonal_stats(path, _polygons(), id_column="code"))
    with rasterio.open(path) as src:
        _check(zonal_stats(src, _polygons(), id_column="code"))


def test_nan_cells_are_nodata_too():
    values = VALUES.copy()
    values[0, 1] = np.nan
    da = make_dataarray(values, TRANSFORM, nodata=-9999.0)
    df = zonal_stats(da, _polygons().iloc[:1], stats=["mean", "count"])
    assert list(df.columns) == ["mean", "count"]
    assert df["mean"].iloc[0] == pytest.approx(2.0) and df["count"].iloc[0] == pytest.approx(0.5)


def test_polygons_in_another_crs_are_refused():
    with pytest.raises(CRSMismatchError, match="坐标系"):
        zonal_stats(_raster(), _polygons().to_crs("EPSG:4549"))
    with pytest.raises(CRSMismatchError):
        zonal_stats(_raster(), _polygons().set_crs(None, allow_override=True))


def test_empty_polygons_and_bad_inputs(tmp_path):
    empty = _polygons().iloc[:0]
    df = zonal_stats(_raster(), empty, id_column="code")
    assert list(df.columns) == ["code", "mean", "max", "min", "sum", "count"] and len(df) == 0
    with pytest.raises(RasterFormatError, match="没有字段"):
        zonal_stats(_raster(), _polygons(), id_column="township")
    with pytest.raises(RasterNotFoundError):
        zonal_stats(tmp_path / "missing.tif", _polygons())
    stack = make_dataarray(np.zeros((2, 4, 4), "float32"), TRANSFORM)
    with pytest.raises(RasterFormatError, match="二维"):
        zonal_stats(stack, _polygons())
