"""Vectorised point sampling against rasterio's own ``sample()``."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import given, settings, strategies as st

from hazards.errors import CRSMismatchError, RasterFormatError
from hazards.io import make_dataarray, write_geotiff
from hazards.sampling import pixel_index, sample_many, sample_points

TRANSFORM = Affine(0.002, 0.0, 120.40, 0.0, -0.002, 40.75)
H, W = 60, 80
WEST, NORTH = 120.40, 40.75
EAST, SOUTH = WEST + W * 0.002, NORTH - H * 0.002


def _layer(seed=0, dtype="float32", nodata=-9999.0, transform=TRANSFORM, shape=(H, W)):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        data = (rng.random(shape) * 10).astype(dtype)
    else:
        data = rng.integers(1, 6, shape).astype(dtype)
    data[rng.random(shape) < 0.1] = nodata  # 10 % nodata
    return make_dataarray(data, transform, nodata=nodata, name=f"l{seed}")


def _points(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    # a margin outside the grid on every side
    lon = rng.uniform(WEST - 0.02, EAST + 0.02, n)
    lat = rng.uniform(SOUTH - 0.02, NORTH + 0.02, n)
    return lon, lat


def _reference(path, lon, lat):
    """Brute force: one rasterio ``sample()`` call per point; outside/nodata → NaN."""
    out = np.full(lon.size, np.nan)
    with rasterio.open(path) as src:
        for i, (x, y) in enumerate(zip(lon, lat)):
            if not (src.bounds.left <= x < src.bounds.right and src.bounds.bottom < y <= src.bounds.top):
                continue
            (v,) = next(src.sample([(x, y)], indexes=1))
            if v != src.nodata:
                out[i] = v
    return out


@pytest.mark.parametrize("dtype,nodata", [("float32", -9999.0), ("uint8", 0), ("int16", -1)])
def test_nearest_matches_rasterio_sample(tmp_path, dtype, nodata):
    da = _layer(dtype=dtype, nodata=nodata)
    path = write_geotiff(da, tmp_path / "layer.tif")
    lon, lat = _points()
    got = sample_points(da, lon, lat)
    ref = _reference(path, lon, lat)
    assert got.dtype == np.float64
    assert np.isnan(got).sum() > 100  # outside and nodata points exercised
    np.testing.assert_array_equal(got, ref)


def test_sample_many_equals_sample_points_and_handles_several_grids():
    other = Affine(0.005, 0.0, 120.38, 0.0, -0.005, 40.77)
    arrays = {f"l{i}": _layer(seed=i) for i in range(4)}
    arrays["coarse"] = _layer(seed=9, transform=other, shape=(30, 40))
    lon, lat = _points()
    many = sample_many(arrays, lon, lat)
    assert list(many) == list(arrays)
    for key, da in arrays.items():
        np.testing.assert_array_equal(many[key], sample_points(da, lon, lat))


def test_nan_and_edge_points():
    da = _layer()
    lon = np.array([np.nan, WEST, EAST + 1e-9, WEST + 0.001, 120.0])
    lat = np.array([40.7, NORTH - 0.001, 40.7, NORTH, np.nan])
    got = sample_points(da, lon, lat)
    assert np.isnan(got[0]) and np.isnan(got[2]) and np.isnan(got[4])  # NaN / east of the grid
    v00 = da.values[0, 0]
    expected = np.nan if v00 == -9999.0 else v00
    np.testing.assert_equal(got[1], expected)  # left edge belongs to column 0
    np.testing.assert_equal(got[3], expected)  # top edge belongs to row 0


def test_stack_and_shape_are_kept():
    stack = make_dataarray(np.stack([np.full((H, W), rp, "float32") for rp in (10, 20, 50)]), TRANSFORM,
                           nodata=-9999.0)
    lon = np.array([[120.41, 120.42], [120.43, 130.0]])
    lat = np.full((2, 2), 40.7)
    got = sample_points(stack, lon, lat)
    assert got.shape == (3, 2, 2)
    np.testing.assert_array_equal(got[:, 0, 0], [10, 20, 50])
    assert np.isnan(got[:, 1, 1]).all()


def test_bilinear_on_a_plane_is_exact_and_respects_nodata():
    yy, xx = np.mgrid[0:H, 0:W]
    plane = (2.0 * xx + 3.0 * yy).astype("float64")
    da = make_dataarray(plane, TRANSFORM, nodata=-9999.0)
    rng = np.random.default_rng(3)
    # interior points only (between pixel centres), where bilinear reproduces a plane
    lon = rng.uniform(WEST + 0.001, EAST - 0.001, 500)
    lat = rng.uniform(SOUTH + 0.001, NORTH - 0.001, 500)
    col = (lon - WEST) / 0.002 - 0.5
    row = (NORTH - lat) / 0.002 - 0.5
    np.testing.assert_allclose(sample_points(da, lon, lat, method="bilinear"), 2 * col + 3 * row, atol=1e-9)
    plane[10, 10] = -9999.0
    da2 = make_dataarray(plane, TRANSFORM, nodata=-9999.0)
    x_c, y_c = WEST + 10.5 * 0.002, NORTH - 10.5 * 0.002  # centre of the nodata pixel
    assert np.isnan(sample_points(da2, [x_c + 0.0005], [y_c - 0.0005], method="bilinear")[0])
    with pytest.raises(RasterFormatError):
        sample_points(da, lon, lat, method="cubic")


def test_crs_is_checked():
    da = _layer()
    lon, lat = _points(10)
    with pytest.raises(CRSMismatchError, match="坐标系"):
        sample_points(da.assign_attrs(crs="EPSG:4549"), lon, lat)
    with pytest.raises(CRSMismatchError):
        sample_many({"a": da}, lon, lat, points_crs="EPSG:4326")
    # opting out of the check
    assert sample_points(da.assign_attrs(crs="EPSG:4549"), lon, lat, points_crs=None).shape == (10,)


def test_mismatched_lon_lat():
    with pytest.raises(RasterFormatError):
        sample_points(_layer(), np.zeros(3), np.zeros(4))


@settings(max_examples=200, deadline=None)
@given(st.floats(0, W - 1e-6), st.floats(0, H - 1e-6))
def test_nearest_picks_the_containing_pixel(col_f, row_f):
    data = np.arange(H * W, dtype="float64").reshape(H, W)
    da = make_dataarray(data, TRANSFORM, nodata=None)
    lon = WEST + col_f * 0.002
    lat = NORTH - row_f * 0.002
    row, col = pixel_index(da, [lon], [lat])
    value = sample_points(da, [lon], [lat])[0]
    assert value == data[row[0], col[0]]
    assert abs(row[0] - row_f) <= 1 and abs(col[0] - col_f) <= 1  # float rounding at edges only
