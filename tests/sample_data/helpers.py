"""Shared helpers for the sample_data tests (no conftest: plain functions and module fixtures)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import shapely

FAST_RES = 0.004  # coarse raster keeps each build around a second or two


def synthetic_boundary(path: Path, adcode: str = "999999", name: str = "样例县") -> Path:
    """A county polygon nobody has seen: an irregular heptagon in Henan."""
    ring = [[112.0, 34.0], [112.35, 34.02], [112.42, 34.2], [112.3, 34.38], [112.05, 34.33], [111.95, 34.15],
            [112.0, 34.0]]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"adcode": adcode, "name": name},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def synthetic_sea(path: Path) -> Path:
    """Sea to the east of the synthetic county, touching its eastern edge."""
    county = shapely.Polygon([(112.0, 34.0), (112.35, 34.02), (112.42, 34.2), (112.3, 34.38), (112.05, 34.33),
                              (111.95, 34.15)])
    sea = shapely.difference(shapely.box(112.3, 33.9, 112.8, 34.5), county)
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "sea"}, "geometry": shapely.geometry.mapping(sea)}]}
    path.write_text(json.dumps(fc), encoding="utf-8")
    return path


def assert_exact_tiling(parts, whole, rel: float = 1e-9) -> None:
    """``parts`` (geometries) cover ``whole`` with no gap and no overlap, to floating-point noise."""
    geoms = np.asarray(list(parts), dtype=object)
    union = shapely.union_all(geoms)
    area = whole.area
    assert shapely.symmetric_difference(union, whole).area <= rel * area
    assert abs(sum(g.area for g in geoms) - area) <= rel * area
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    overlap = shapely.area(shapely.intersection(geoms[a[keep]], geoms[b[keep]])).sum() if keep.any() else 0.0
    assert overlap <= rel * area


def gpkg_validators() -> list[list[str]]:
    """Commands that run GDAL's GeoPackage validator: the venv's (gdal-utils, no osgeo bindings: skips the
    WKB-parsing checks) and, when the system Python has the GDAL bindings (Debian python3-gdal), that one
    too for the full set of checks."""
    cmds = []
    if importlib.util.find_spec("osgeo_utils") is not None:
        cmds.append([sys.executable, "-m", "osgeo_utils.samples.validate_gpkg"])
    system = Path("/usr/bin/python3")
    if system.exists():
        probe = subprocess.run([str(system), "-c", "import osgeo.ogr, osgeo_utils.samples.validate_gpkg"],
                               capture_output=True)
        if probe.returncode == 0:
            cmds.append([str(system), "-m", "osgeo_utils.samples.validate_gpkg"])
    return cmds
