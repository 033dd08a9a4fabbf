"""Derive the Bohai sea polygon next to 葫芦岛市 from the shipped city boundary (reproducible).

Run ``python -m sample_data.derive_sea`` to rewrite ``sample_data/data/huludao_sea.geojson``.

How (see also ``sample_data/README.md``):

1. Take the exterior ring of the largest part of the city polygon (211400 葫芦岛市).
2. Cut out the stretch of that ring that is shoreline: it runs clockwise from the north-eastern end of the
   shore on 锦州湾 (where the ring turns inland into the land border with 锦州市, just north of the
   digitised jetties near 121.035 E, 40.943 N) round the 龙港 peninsula and down the whole coast to the
   south-western end at the Hebei border (山海关, 119.854 E, 39.988 N). Both ends were chosen by looking
   at the ring and are fixed below; the script snaps them to the nearest ring vertex.
3. Close that shoreline seawards with a few straight lines through open water of 辽东湾/渤海 (a
   generous box reaching 121.8 E and 39.4 N).
4. Subtract the whole city polygon, so islands (觉华岛 …) become holes and the sea shares the shore
   vertices with the land exactly.

The result is good along the 葫芦岛 coast, which is all the sample needs; beyond the city's shoreline it
is a crude box (it ignores the 锦州 and 秦皇岛 coasts).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

CITY_CODE = "211400"
NE_SHORE_END = (121.0347, 40.9434)  # shore meets the 锦州 land border (锦州湾, north of the jetties)
SW_SHORE_END = (119.854252, 39.988478)  # shore meets the 秦皇岛 (Hebei) land border
# seaward closing points, from the south-western end round to the north-eastern end (lon, lat)
SEAWARD = [(119.854252, 39.4), (121.8, 39.4), (121.8, 40.55), (121.12, 40.80)]


def derive_sea(city: BaseGeometry) -> BaseGeometry:
    """The sea polygon next to ``city`` (the 葫芦岛市 polygon), as described in the module docstring."""
    main = max(getattr(city, "geoms", [city]), key=lambda p: p.area)
    ring = np.asarray(main.exterior.coords)[:-1]
    if shapely.is_ccw(main.exterior):
        ring = ring[::-1]  # walk clockwise: north-east end → peninsula → south-west end
    i_ne = int(np.argmin(np.hypot(*(ring - NE_SHORE_END).T)))
    i_sw = int(np.argmin(np.hypot(*(ring - SW_SHORE_END).T)))
    if i_sw >= i_ne:
        shore = ring[i_ne:i_sw + 1]
    else:
        shore = np.concatenate([ring[i_ne:], ring[:i_sw + 1]])
    outline = np.concatenate([shore, np.asarray(SEAWARD), shore[:1]])
    sea = shapely.make_valid(shapely.Polygon(outline))
    sea = shapely.difference(sea, city)
    parts = [p for p in getattr(sea, "geoms", [sea]) if p.geom_type == "Polygon"]
    return max(parts, key=lambda p: p.area)


def main(out: str | Path | None = None) -> Path:
    from .boundaries import BOUNDARIES_FILE, SEA_FILE

    out = Path(out) if out else SEA_FILE
    data = json.loads(Path(BOUNDARIES_FILE).read_text(encoding="utf-8"))
    city = next(shapely.geometry.shape(f["geometry"]) for f in data["features"]
                if str(f["properties"]["adcode"]) == CITY_CODE)
    sea = derive_sea(city)
    feature = {
        "type": "Feature",
        "properties": {
            "name": "渤海（辽东湾西岸）", "name_en": "Bohai Sea (west shore of Liaodong Bay)",
            "derived_from": "huludao_boundaries.geojson (211400)", "method": "sample_data/derive_sea.py",
        },
        "geometry": shapely.geometry.mapping(sea),
    }
    fc = {"type": "FeatureCollection", "name": "huludao_sea", "features": [feature]}
    out.write_text(json.dumps(fc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return out


if __name__ == "__main__":
    print(main())
