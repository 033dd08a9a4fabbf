"""Writing the sample: GeoPackage layers (GPKG 1.2, explicit geometry types), the manifest, hashes."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

CENSUS_DATE = "2020-12-31T00:00:00.000Z"  # 普查标准时点, also the GeoPackage "last_change" stamp

GEOMETRY_TYPES = {
    "county": "MultiPolygon", "city": "MultiPolygon", "townships": "MultiPolygon", "villages": "MultiPolygon",
    "rivers": "MultiLineString", "roads": "MultiLineString", "sea": "MultiPolygon", "buildings": "Polygon",
    "facilities": "Point", "faults": "LineString",
}


@contextmanager
def fixed_timestamp(stamp: str = CENSUS_DATE):
    """GDAL stamps each GeoPackage table with the current time; pin it so a build is byte-reproducible."""
    import pyogrio

    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def write_layer(gdf, path: Path, layer: str) -> None:
    """One layer into a GeoPackage (created as GPKG 1.2), with its geometry type stated explicitly so an
    empty layer still opens as a spatial layer."""
    import pyogrio

    gtype = GEOMETRY_TYPES[layer]
    pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", geometry_type=gtype,
                            promote_to_multi=gtype.startswith("Multi"),
                            dataset_options={"VERSION": "1.2"}, layer_options={"SPATIAL_INDEX": "YES"})


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(path: Path, content: dict, files: list[Path], root: Path) -> Path:
    entries = []
    for f in sorted(files, key=lambda p: str(p.relative_to(root))):
        entries.append({"path": f.relative_to(root).as_posix(), "sha256": sha256(f), "bytes": f.stat().st_size})
    data = dict(content)
    data["files"] = entries
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path
