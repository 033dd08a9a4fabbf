"""Public service facilities (公共服务设施) as points with capacities.

What a county typically has, scaled by its townships and villages:

* county level, in the county seat: people's hospital, TCM hospital, maternal and child hospital; middle
  schools; a stadium and a gymnasium; library, cultural centre, museum; social welfare home; shopping
  centres and hotels;
* every 街道 community: kindergarten, community health station (clinic); a primary school for every two;
* every 镇/乡 seat: central primary school, junior middle school (镇), central kindergarten, health centre
  (卫生院, a hospital), old people's home (敬老院, welfare home), cultural station;
* villages: a clinic (卫生室) in each, primary school teaching points and kindergartens in some;
* temples in the hills, a church in town; tourist sites on the highest peak, on beaches of a coastal
  county and in the old town; hotels by the beaches.

Each facility stands on (and names the ``building_id`` of) a building of its village when the work map
has one there, otherwise at the village seat. Capacity is students, children, beds, seats or persons
(``capacity_unit``).
"""

from __future__ import annotations

import numpy as np
import shapely

from .grid import rasterize
from .names import URBAN_WORDS, NameMaker

FACILITY_TYPES = ("school", "kindergarten", "hospital", "clinic", "welfare_home", "stadium", "cultural_venue",
                  "religious_venue", "tourist_site", "hotel", "shopping_centre")
UNITS = {"school": "students", "kindergarten": "children", "hospital": "beds", "clinic": "beds",
         "welfare_home": "beds", "stadium": "seats", "cultural_venue": "persons", "religious_venue": "persons",
         "tourist_site": "persons", "hotel": "beds", "shopping_centre": "persons"}
_ORDINAL = "一二三四五六七八九十"


def _short(name: str) -> str:
    for suffix in ("社区", "街道", "村", "镇", "乡"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def build_facilities(county, townships, villages, buildings, terrain, rng: np.random.Generator, names: NameMaker):
    """GeoDataFrame facility_id, facility_type, name, capacity, capacity_unit, township_code, village_code,
    building_id, geometry (points)."""
    import geopandas as gpd

    rows: list[dict] = []
    county_stem = county.name[:-1] if len(county.name) > 2 else county.name
    tkind = dict(zip(townships["code"], townships["kind"]))
    vrows = {c: r for c, r in zip(villages["code"], villages.itertuples(index=False))}
    # buildings per village, preferring big urban forms for big facilities
    bcent = shapely.centroid(buildings.geometry.values) if len(buildings) else np.array([])
    by_village: dict[str, np.ndarray] = {}
    if len(buildings):
        vc = buildings["village_code"].to_numpy()
        order = np.argsort(vc, kind="stable")
        codes, starts = np.unique(vc[order], return_index=True)
        ends = np.r_[starts[1:], order.size]
        by_village = {c: order[s:e] for c, s, e in zip(codes.tolist(), starts, ends)}
    used_buildings: set[int] = set()

    def place(vcode: str, ftype: str, name: str, capacity: int, lonlat=None) -> None:
        v = vrows[vcode]
        bid = None
        if lonlat is not None:
            lon, lat = lonlat
        else:
            cand = [i for i in by_village.get(vcode, np.array([], int)).tolist() if i not in used_buildings]
            if cand:
                i = cand[int(rng.integers(min(len(cand), 40)))]  # among the first (central) ones
                used_buildings.add(i)
                p = bcent[i]
                lon, lat, bid = p.x, p.y, buildings["building_id"].iat[i]
            else:
                lon = v.seat_lon + rng.uniform(-3e-4, 3e-4)
                lat = v.seat_lat + rng.uniform(-3e-4, 3e-4)
        rows.append(dict(facility_type=ftype, name=name, capacity=int(capacity), capacity_unit=UNITS[ftype],
                         township_code=v.township_code, village_code=vcode, building_id=bid, lon=lon, lat=lat))

    comms = villages[villages["kind"] == "community"]
    # the urban core: every 街道 community; in a county (no 街道) the seat town's (镇 100) communities
    core = [c for c in comms["code"] if tkind.get(c[:9]) == "街道"]
    if not core:
        core = list(comms[comms["township_code"] == f"{county.adcode}100"]["code"]) or list(villages["code"][:1])

    def pick_core(k: int) -> str:
        return core[k % len(core)]

    n_core = len(core)
    # county-level facilities
    place(pick_core(0), "hospital", f"{county_stem}人民医院", rng.integers(450, 900))
    place(pick_core(1), "hospital", f"{county_stem}中医院", rng.integers(180, 400))
    place(pick_core(2), "hospital", f"{county_stem}妇幼保健院", rng.integers(60, 150))
    n_ms = int(np.clip(round(n_core / 3), 2, 8))
    for k in range(n_ms):
        place(pick_core(3 + k), "school", f"{county_stem}第{_ORDINAL[k]}高级中学" if k < 2 else
              f"{county_stem}第{_ORDINAL[k]}初级中学", rng.integers(1200, 3200))
    place(pick_core(4), "school", f"{county_stem}职业教育中心", rng.integers(800, 2000))
    place(pick_core(5), "stadium", f"{county_stem}体育场", rng.integers(8000, 20000))
    place(pick_core(6), "stadium", f"{county_stem}体育馆", rng.integers(2000, 4500))
    for k, nm in enumerate(("图书馆", "文化馆", "博物馆")):
        place(pick_core(7 + k), "cultural_venue", f"{county_stem}{nm}", rng.integers(200, 900))
    place(pick_core(10), "welfare_home", f"{county_stem}社会福利院", rng.integers(150, 320))
    place(pick_core(11), "welfare_home", f"{names.community()[:-2]}老年公寓", rng.integers(60, 200))
    for k in range(int(np.clip(n_core // 2, 2, 6))):
        place(pick_core(12 + k), "shopping_centre", f"{URBAN_WORDS[int(rng.integers(len(URBAN_WORDS)))]}"
              f"{['购物中心', '商场', '百货大楼', '商业广场'][k % 4]}", rng.integers(2000, 15000))
    for k in range(int(np.clip(n_core // 2, 3, 10))):
        place(pick_core(13 + 2 * k), "hotel", f"{URBAN_WORDS[int(rng.integers(len(URBAN_WORDS)))]}"
              f"{['宾馆', '大酒店', '酒店', '快捷酒店'][k % 4]}", rng.integers(60, 420))
    place(pick_core(1), "religious_venue", f"{county_stem}基督教堂", rng.integers(150, 500))
    # communities of 街道 and towns
    for k, vcode in enumerate(comms["code"]):
        short = _short(vrows[vcode].name)
        place(vcode, "kindergarten", f"{short}幼儿园", rng.integers(90, 360))
        place(vcode, "clinic", f"{short}社区卫生服务站", rng.integers(2, 10))
        if k % 2 == 0 and tkind.get(vcode[:9]) == "街道":
            place(vcode, "school", f"{short}小学", rng.integers(600, 2000))
    # township seats
    for t in townships.itertuples(index=False):
        mine = villages[villages["township_code"] == t.code]
        if not len(mine):
            continue
        seat_v = mine.iloc[0]["code"]  # communities first, numbered outward from the seat
        if t.kind == "街道":
            place(seat_v, "cultural_venue", f"{_short(t.name)}街道文化站", rng.integers(80, 250))
            continue
        short = _short(t.name)
        place(seat_v, "school", f"{short}{t.kind}中心小学", rng.integers(400, 1300))
        if t.kind == "镇" or rng.random() < 0.4:
            place(seat_v, "school", f"{short}{t.kind}初级中学", rng.integers(400, 1500))
        place(seat_v, "kindergarten", f"{short}{t.kind}中心幼儿园", rng.integers(100, 320))
        place(seat_v, "hospital", f"{short}{t.kind}卫生院", rng.integers(20, 90))
        place(seat_v, "welfare_home", f"{short}{t.kind}敬老院", rng.integers(30, 120))
        place(seat_v, "cultural_venue", f"{short}{t.kind}综合文化站", rng.integers(100, 300))
    # villages
    dem = terrain.dem
    grid = terrain.grid
    rural = villages[villages["kind"] == "village"]
    for k, v in enumerate(rural.itertuples(index=False)):
        short = _short(v.name)
        place(v.code, "clinic", f"{short}村卫生室", rng.integers(1, 4))
        if rng.random() < 0.25:
            place(v.code, "school", f"{short}小学", rng.integers(60, 420))
        if rng.random() < 0.15:
            place(v.code, "kindergarten", f"{short}幼儿园", rng.integers(30, 120))
        r, c, _ = grid.rowcol(np.array([v.seat_lon]), np.array([v.seat_lat]))
        if dem[r[0], c[0]] > 120 and rng.random() < 0.12:
            place(v.code, "religious_venue", f"{short}{['寺', '庙', '观', '娘娘庙', '关帝庙'][k % 5]}",
                  rng.integers(80, 800))
    # tourist sites: the highest peak, beaches, the old town
    in_c = rasterize([county.geometry], grid).astype(bool) & ~terrain.sea
    if in_c.any():
        peak = int(np.argmax(np.where(in_c, dem, -np.inf)))
        pr, pc = np.divmod(peak, grid.width)
        lon, lat = grid.cell_centre(pr, pc)
        vcode = _village_at(villages, lon, lat)
        if vcode:
            place(vcode, "tourist_site", f"{names.village_stem()[:2]}山风景区", rng.integers(2000, 12000), (lon, lat))
    if county.coastal and in_c.any():
        shore = in_c & (terrain.coast_km < 0.25) & (dem < 6)
        cells = np.flatnonzero(shore)
        if cells.size:
            picks = rng.choice(cells, size=min(3, cells.size), replace=False)
            for k, cell in enumerate(sorted(picks.tolist())):
                pr, pc = np.divmod(cell, grid.width)
                lon, lat = grid.cell_centre(pr, pc)
                vcode = _village_at(villages, lon, lat)
                if vcode:
                    word = URBAN_WORDS[int(rng.integers(len(URBAN_WORDS)))]
                    place(vcode, "tourist_site", f"{word}海滨浴场", rng.integers(5000, 30000), (lon, lat))
                    place(vcode, "hotel", f"{word}海景酒店", rng.integers(80, 300))
    place(pick_core(0), "tourist_site", f"{county_stem}老城历史文化街区", rng.integers(3000, 15000))
    if not rows:
        return gpd.GeoDataFrame({k: [] for k in ("facility_id", "facility_type", "name", "capacity",
                                                 "capacity_unit", "township_code", "village_code", "building_id")},
                                geometry=[], crs="EPSG:4490")
    df = gpd.GeoDataFrame(rows, geometry=shapely.points([r["lon"] for r in rows], [r["lat"] for r in rows]),
                          crs="EPSG:4490").drop(columns=["lon", "lat"])
    df = df.sort_values(["village_code"], kind="stable").reset_index(drop=True)
    serial = df.groupby("village_code").cumcount() + 1
    df.insert(0, "facility_id", ["F" + v + f"{s:03d}" for v, s in zip(df["village_code"], serial)])
    return df


def _village_at(villages, lon: float, lat: float) -> str | None:
    p = shapely.Point(lon, lat)
    hit = villages[villages.geometry.intersects(p)]
    if len(hit):
        return str(hit["code"].iloc[0])
    return None
