"""GeoTIFF and NetCDF round trips, CRS refusal, missing files."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from hazards.errors import CRSMismatchError, RasterFormatError, RasterNotFoundError
from hazards.io import (STORAGE_CRS, get_transform, make_dataarray, read_netcdf, read_raster, write_geotiff,
                        write_netcdf_stack)
from schemas.errors import CensusError

# 0.001° pixels over part of 兴城市 (north-up, origin at the NW corner).
TRANSFORM = Affine(0.001, 0.0, 120.30, 0.0, -0.001, 40.80)


def _layer(height=300, width=520, seed=0, dtype="float32", nodata=-9999.0, **attrs):
    rng = np.random.default_rng(seed)
    data = rng.random((height, width)).astype(dtype)
    data[min(5, height - 1), min(7, width - 1)] = nodata
    return make_dataarray(data, TRANSFORM, nodata=nodata, name=attrs.get("layer_id", "layer"), attrs=attrs)


def test_make_dataarray_coords_are_pixel_centres():
    da = _layer(4, 3)
    assert da.dims == ("y", "x")
    np.testing.assert_allclose(da.x.values, [120.3005, 120.3015, 120.3025])
    np.testing.assert_allclose(da.y.values, [40.7995, 40.7985, 40.7975, 40.7965])
    assert da.attrs["crs"] == STORAGE_CRS and da.attrs["nodata"] == -9999.0
    assert get_transform(da) == TRANSFORM
    # without attrs the transform is recovered from the coordinates
    assert get_transform(da.assign_attrs(transform=None)).almost_equals(TRANSFORM)


def test_geotiff_round_trip_float(tmp_path):
    da = _layer(layer_id="drought", unit="1")
    da.values[10, 10] = np.nan  # NaN is written as nodata
    path = write_geotiff(da, tmp_path / "drought.tif")
    assert path == tmp_path / "drought.tif"
    with rasterio.open(path) as src:
        prof = src.profile
        assert prof["tiled"] and prof["blockxsize"] == 256 and prof["blockysize"] == 256
        assert prof["compress"] == "deflate"
        assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
        assert src.crs.to_epsg() == 4490 and src.transform == TRANSFORM and src.nodata == -9999.0
        assert src.tags()["layer_id"] == "drought" and src.tags()["unit"] == "1"
        # x/y coordinates agree with GDAL's pixel centres
        assert src.xy(0, 0) == pytest.approx((float(da.x[0]), float(da.y[0])))
    back = read_raster(path)
    assert back.dtype == np.float32 and back.dims == ("y", "x")
    expected = np.where(np.isnan(da.values), -9999.0, da.values)
    np.testing.assert_array_equal(back.values, expected)
    assert get_transform(back) == TRANSFORM
    assert back.attrs["crs"] == "EPSG:4490" and back.attrs["nodata"] == -9999.0
    assert back.attrs["layer_id"] == "drought" and back.attrs["unit"] == "1"
    np.testing.assert_allclose(back.x.values, da.x.values)
    masked = read_raster(path, masked=True)
    assert np.isnan(masked.values[5, 7]) and np.isnan(masked.values[10, 10])
    assert np.isnan(masked.attrs["nodata"])


def test_geotiff_round_trip_uint8_and_open_dataset(tmp_path):
    data = np.arange(1, 6, dtype="uint8")[np.arange(40) % 5].reshape(8, 5)
    data[0, 0] = 0
    da = make_dataarray(data, TRANSFORM, nodata=0, name="geo_susceptibility",
                        attrs={"layer_id": "geo_susceptibility"})
    path = write_geotiff(da, tmp_path / "sub" / "geo_susceptibility.tif")
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"
        back = read_raster(src)  # an open dataset works too
    assert back.dtype == np.uint8 and back.attrs["nodata"] == 0
    np.testing.assert_array_equal(back.values, data)


def test_write_refuses_other_crs_and_3d(tmp_path):
    da = _layer(4, 4)
    with pytest.raises(CRSMismatchError):
        write_geotiff(da.assign_attrs(crs="EPSG:4326"), tmp_path / "x.tif")
    stack = make_dataarray(np.zeros((2, 3, 3), "float32"), TRANSFORM)
    with pytest.raises(RasterFormatError):
        write_geotiff(stack, tmp_path / "y.tif")


def test_read_refuses_other_crs_with_chinese_message(tmp_path):
    path = tmp_path / "wgs84.tif"
    with rasterio.open(path, "w", driver="GTiff", height=3, width=3, count=1, dtype="float32",
                       crs="EPSG:4326", transform=TRANSFORM) as dst:
        dst.write(np.ones((1, 3, 3), "float32"))
    with pytest.raises(CRSMismatchError) as info:
        read_raster(path)
    err = info.value
    assert isinstance(err, CensusError) and isinstance(err, ValueError)
    assert "坐标系" in err.message_zh and "wgs84.tif" in err.message_zh
    assert "EPSG:4326" in err.message_zh and "EPSG:4490" in err.message_zh
    assert "reproject" in err.message_en
    # explicitly accepting any CRS reads it untouched
    assert read_raster(path, expected_crs=None).attrs["crs"] == "EPSG:4326"


def test_read_without_crs_is_refused(tmp_path):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", height=2, width=2, count=1, dtype="uint8",
                       transform=TRANSFORM) as dst:
        dst.write(np.ones((1, 2, 2), "uint8"))
    with pytest.raises(CRSMismatchError, match="无坐标系"):
        read_raster(path)


def test_missing_file_names_it(tmp_path):
    missing = tmp_path / "nope.tif"
    with pytest.raises(RasterNotFoundError) as info:
        read_raster(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, CensusError)
    assert "nope.tif" in info.value.message_zh and "找不到" in info.value.message_zh
    with pytest.raises(RasterNotFoundError):
        read_netcdf(tmp_path / "nope.nc")


def test_read_missing_band(tmp_path):
    path = write_geotiff(_layer(3, 3), tmp_path / "a.tif")
    with pytest.raises(RasterFormatError, match="波段"):
        read_raster(path, band=2)


def _flood_stack():
    base = np.linspace(0, 4, 12 * 9, dtype="float32").reshape(12, 9)
    out = {}
    for rp in (100, 10, 50, 20):  # unordered on purpose
        data = base * (rp / 100)
        data[0, 0] = -9999.0
        out[rp] = make_dataarray(data, TRANSFORM, nodata=-9999.0, name="flood_depth",
                                 attrs={"layer_id": f"flood_depth_rp{rp}", "unit": "m"})
    return out


def test_netcdf_round_trip_with_return_period(tmp_path):
    arrays = _flood_stack()
    path = write_netcdf_stack(arrays, tmp_path / "flood_depth.nc")
    da = read_netcdf(path)
    assert da.dims == ("return_period", "y", "x")
    assert da.name == "flood_depth"
    assert da["return_period"].values.tolist() == [10, 20, 50, 100]
    for rp in (10, 20, 50, 100):
        np.testing.assert_array_equal(da.sel(return_period=rp).values, arrays[rp].values)
    assert da.dtype == np.float32
    assert get_transform(da) == TRANSFORM
    assert da.attrs["crs"] == "EPSG:4490" and da.attrs["nodata"] == -9999.0 and da.attrs["unit"] == "m"
    np.testing.assert_allclose(da.x.values, arrays[10].x.values)
    np.testing.assert_allclose(da.y.values, arrays[10].y.values)
    # GDAL reads the same grid from the CF/GDAL attributes
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 4490
        assert src.transform.almost_equals(TRANSFORM)
        assert src.count == 4
    # and the result can be written again (e.g. after slicing one return period)
    one = da.sel(return_period=50).drop_vars("return_period")
    back = read_raster(write_geotiff(one, tmp_path / "rp50.tif"))
    np.testing.assert_array_equal(back.values, arrays[50].values)


def test_netcdf_read_checks_crs_and_variable(tmp_path):
    path = write_netcdf_stack(_flood_stack(), tmp_path / "f.nc")
    with pytest.raises(CRSMismatchError, match="NetCDF"):
        read_netcdf(path, expected_crs="EPSG:4549")
    with pytest.raises(RasterFormatError, match="rain"):
        read_netcdf(path, var="rain")


def test_netcdf_refuses_mismatched_grids(tmp_path):
    arrays = _flood_stack()
    shifted = arrays[20]
    arrays[20] = make_dataarray(shifted.values, TRANSFORM @ Affine.translation(1, 0), nodata=-9999.0)
    with pytest.raises(RasterFormatError, match="网格"):
        write_netcdf_stack(arrays, tmp_path / "bad.nc")
