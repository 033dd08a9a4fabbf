"""City-wide hazard layers from county ones: one grid, owners first, never blended."""

import numpy as np
import pytest
import shapely

from hazards.io import make_dataarray, read_raster, write_geotiff
from hazards.mosaic import MosaicSource, mosaic_hazards


def _layer(path, west, north, values, res=0.1, nodata=-9999.0):
    arr = np.asarray(values, dtype="float32")
    da = make_dataarray(arr, (res, 0, west, 0, -res, north), nodata=nodata, name="flood_depth_rp100",
                        attrs={"layer_id": "flood_depth_rp100", "unit": "m"})
    return write_geotiff(da, path)


def test_owner_wins_in_the_overlap_and_gaps_are_filled(tmp_path):
    # county A covers x 120.0–120.4, county B x 120.2–120.6 (both 0.2° tall); they overlap in 120.2–120.4
    _layer(tmp_path / "a" / "flood_depth_rp100.tif", 120.0, 40.2, np.full((2, 4), 1.0))
    _layer(tmp_path / "b" / "flood_depth_rp100.tif", 120.2, 40.2, [[2, 2, 2, -9999], [2, 2, 2, 2]])
    a_area = shapely.box(120.0, 40.0, 120.3, 40.2)      # A owns up to 120.3, B from 120.3
    b_area = shapely.box(120.3, 40.0, 120.6, 40.2)
    r = mosaic_hazards([MosaicSource(tmp_path / "a", a_area, "A"), MosaicSource(tmp_path / "b", b_area, "B")],
                       tmp_path / "city")
    assert r.shape == (2, 6) and r.resolution == pytest.approx(0.1) and r.sources == {"flood_depth_rp100": 2}
    da = read_raster(r.layers["flood_depth_rp100"])
    assert da.attrs["layer_id"] == "flood_depth_rp100" and da.attrs["unit"] == "m"
    v = np.asarray(da.values)
    # columns: 120.0-120.1 … 120.5-120.6; centres 120.25 → A (owner), 120.35 → B (owner)
    assert v[1].tolist() == [1, 1, 1, 2, 2, 2]
    # B has no value at 120.5 (row 0): nobody else covers it, so it stays nodata; never invented
    assert v[0].tolist() == [1, 1, 1, 2, 2, -9999]


def test_no_layers_is_an_error(tmp_path):
    from hazards.errors import RasterFormatError

    (tmp_path / "empty").mkdir()
    with pytest.raises(RasterFormatError):
        mosaic_hazards([MosaicSource(tmp_path / "empty")], tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        mosaic_hazards([MosaicSource(tmp_path / "missing")], tmp_path / "out")
