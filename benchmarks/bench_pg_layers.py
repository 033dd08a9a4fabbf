"""PostGIS layers (geodb.pg_layers) against pyogrio on a GeoPackage: write and read N footprint polygons.

N rural-house footprints (small rotated rectangles over a county-sized box) with the attributes a
census layer carries (codes, integers with NULLs, floats, text, a review state) are written as one
layer and read back whole, then read with the project's usual filter
(``census_state IS NULL OR census_state <> 'rejected'``). The baseline is pyogrio (GDAL) on a
GeoPackage, the backend the project uses on a county PC; both get the same frame, built beforehand and
not timed. Each step is timed ``--runs`` times, the best run is printed. The server is
scripts/pg_server.py's (started if needed); a scratch database is created and dropped.

    .venv/bin/python benchmarks/bench_pg_layers.py              # N = 200,000
    .venv/bin/python benchmarks/bench_pg_layers.py --n 50000 --runs 1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOT_REJECTED = "census_state IS NULL OR census_state <> 'rejected'"


def footprints(n: int, seed: int = 7):
    """A GeoDataFrame of n footprints (EPSG:4490) with census-like attributes."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    rng = np.random.default_rng(seed)
    x = rng.uniform(120.30, 120.70, n)
    y = rng.uniform(40.40, 40.70, n)
    w = rng.uniform(0.00005, 0.00015, n)
    h = rng.uniform(0.00005, 0.00012, n)
    boxes = shapely.box(x - w / 2, y - h / 2, x + w / 2, y + h / 2)
    # rotate each footprint a little (vectorised: rotate ring coordinates about the centre)
    ang = rng.uniform(-0.5, 0.5, n)
    coords, idx = shapely.get_coordinates(boxes, return_index=True)
    cx, cy, c, s = x[idx], y[idx], np.cos(ang)[idx], np.sin(ang)[idx]
    dx, dy = coords[:, 0] - cx, coords[:, 1] - cy
    rot = np.column_stack([cx + dx * c - dy * s, cy + dx * s + dy * c])
    polys = shapely.set_coordinates(boxes.copy(), rot)
    township = rng.integers(0, 12, n)
    floors = rng.integers(1, 4, n).astype("float64")
    floors[rng.random(n) < 0.05] = np.nan            # missing answers: integers with NULLs
    state = np.array(["submitted", "approved", "rejected"], dtype=object)[rng.integers(0, 3, n)]
    state[rng.random(n) < 0.2] = None
    df = pd.DataFrame({
        "record_id": [f"r{i:07d}" for i in range(n)],
        "township_code": np.array([f"211481{100 + t:03d}" for t in range(12)], dtype=object)[township],
        "village_code": [f"211481{100 + t:03d}{200 + v:03d}" for t, v in zip(township, rng.integers(0, 20, n))],
        "build_year": rng.integers(1960, 2021, n),
        "floors": floors,
        "area_m2": rng.uniform(40, 300, n).round(2),
        "structure": np.array(["砖混", "砖木", "土木", "钢混", "其他"], dtype=object)[rng.integers(0, 5, n)],
        "retrofitted": rng.random(n) < 0.3,
        "census_state": state,
    })
    return gpd.GeoDataFrame(df, geometry=polys, crs="EPSG:4490")


def best(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def server_url() -> str:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "pg_server.py"), "start"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args(argv)

    import psycopg
    import pyogrio

    from geodb import pg_layers

    gdf = footprints(a.n)
    admin = server_url()
    db = "census_bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = admin.rsplit("/", 1)[0] + "/" + db
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        with tempfile.TemporaryDirectory() as tmp:
            gpkg = Path(tmp) / "bench.gpkg"
            rows = []

            def gpkg_write():
                pyogrio.write_dataframe(gdf, gpkg, layer="rural_house", driver="GPKG", geometry_type="Polygon")

            t_gw, _ = best(gpkg_write, a.runs)
            t_gr, g_all = best(lambda: pyogrio.read_dataframe(gpkg, layer="rural_house"), a.runs)
            t_gf, g_f = best(lambda: pyogrio.read_dataframe(gpkg, layer="rural_house", where=NOT_REJECTED), a.runs)

            t_pw, _ = best(lambda: pg_layers.write_layer(url, gdf, "rural_house", geometry_type="Polygon"), a.runs)
            t_pr, p_all = best(lambda: pg_layers.read_dataframe(url, "rural_house"), a.runs)
            t_pf, p_f = best(lambda: pg_layers.read_dataframe(url, "rural_house", where=NOT_REJECTED), a.runs)

            assert len(p_all) == len(g_all) == a.n and len(p_f) == len(g_f)
            assert list(p_all.dtypes.astype(str)) == list(g_all.dtypes.astype(str)), (p_all.dtypes, g_all.dtypes)
            rows += [("write", t_gw, t_pw), ("read all", t_gr, t_pr), ("read filtered", t_gf, t_pf)]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    print(f"N = {a.n:,} footprint polygons, best of {a.runs}; baseline pyogrio {pyogrio.__version__} "
          f"(GDAL {pyogrio.__gdal_version_string__}) on a GeoPackage")
    print(f"{'step':<15}{'GeoPackage (pyogrio)':>22}{'PostGIS (pg_layers)':>22}{'PG/GPKG':>9}")
    for name, tg, tp in rows:
        print(f"{name:<15}{tg:>20.2f} s{tp:>20.2f} s{tp / tg:>8.2f}x")
    print(f"filtered read keeps {len(p_f):,} rows; dtypes of both reads are identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
