"""Benchmark: sampling every hazard layer at 1,000,000 points.

Compares :func:`hazards.sampling.sample_many` with two baselines:
  * bare numpy fancy indexing ``arr[rows, cols]`` with row/col indices computed beforehand (the floor);
  * a rasterio ``DatasetReader.sample()`` loop (the usual way), timed on 20,000 points per layer and
    extrapolated linearly to 1,000,000, because the full loop would take minutes.
Goals: ≥ 50× faster than the rasterio loop, ≤ 3× the bare numpy time.

Run:  .venv/bin/python benchmarks/bench_hazard_sampling.py   (about 30 s; writes only to a temp dir)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from hazards.io import make_dataarray, read_raster, write_geotiff
from hazards.registry import LAYERS
from hazards.sampling import sample_many

N_POINTS = 1_000_000
N_LOOP = 20_000
RES = 0.0008
WEST, NORTH = 120.20, 40.90          # roughly 兴城市 and its coast
WIDTH, HEIGHT = round(0.9 / RES), round(0.7 / RES)
REPEATS = 5


def best_of(fn, repeats=REPEATS):
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def build_layers(tmp: Path, rng: np.random.Generator) -> dict[str, Path]:
    transform = Affine(RES, 0.0, WEST, 0.0, -RES, NORTH)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    paths = {}
    for i, spec in enumerate(LAYERS):
        field = np.sin(xx / (40 + 7 * i)) + np.cos(yy / (55 + 3 * i)) + rng.normal(0, 0.1, (HEIGHT, WIDTH))
        if spec.dtype == "uint8":
            data = np.clip(np.round(3 + field), 1, 5).astype("uint8")
        else:
            data = np.abs(field).astype(spec.dtype)
        data[rng.random((HEIGHT, WIDTH)) < 0.02] = spec.nodata  # sprinkle nodata
        da = make_dataarray(data, transform, nodata=spec.nodata, name=spec.id,
                            attrs={"layer_id": spec.id, "unit": spec.unit})
        paths[spec.id] = write_geotiff(da, tmp / f"{spec.id}.tif")
    return paths


def main() -> None:
    rng = np.random.default_rng(20201231)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        paths = build_layers(tmp, rng)
        arrays = {k: read_raster(p) for k, p in paths.items()}
        print(f"grid {WIDTH}×{HEIGHT} px at {RES}°, {len(arrays)} layers written and read in "
              f"{time.perf_counter() - t0:.1f} s")

        # 1 % of the points fall outside the grid, as stray GPS fixes do
        lon = rng.uniform(WEST - 0.005, WEST + WIDTH * RES + 0.005, N_POINTS)
        lat = rng.uniform(NORTH - HEIGHT * RES - 0.005, NORTH + 0.005, N_POINTS)
        print(f"{N_POINTS:,} random points")

        # (a) the library
        t_lib, result = best_of(lambda: sample_many(arrays, lon, lat))

        # (b) bare numpy fancy indexing, indices precomputed outside the timing
        cols = np.clip(((lon - WEST) / RES).astype(np.int64), 0, WIDTH - 1)
        rows = np.clip(((NORTH - lat) / RES).astype(np.int64), 0, HEIGHT - 1)
        raw = [np.asarray(da.values) for da in arrays.values()]
        t_np, _ = best_of(lambda: [a[rows, cols] for a in raw])
        flat = rows * WIDTH + cols
        raveled = [a.ravel() for a in raw]
        t_take, _ = best_of(lambda: [np.take(a, flat) for a in raveled])

        # (c) rasterio DatasetReader.sample() loop, on a subset, extrapolated
        sub = list(zip(lon[:N_LOOP].tolist(), lat[:N_LOOP].tolist()))
        t0 = time.perf_counter()
        loop_vals = {}
        for key, path in paths.items():
            with rasterio.open(path) as src:
                loop_vals[key] = np.array([v[0] for v in src.sample(sub, indexes=1)], dtype="float64")
        t_loop_sub = time.perf_counter() - t0
        t_loop = t_loop_sub * (N_POINTS / N_LOOP)
        print(f"rasterio sample() loop timed on {N_LOOP:,} points × {len(paths)} layers = {t_loop_sub:.2f} s; "
              f"extrapolated linearly ×{N_POINTS // N_LOOP} to {N_POINTS:,} points")

        # sanity: same values as rasterio where the point is inside and not nodata
        for key, vals in loop_vals.items():
            ours = result[key][:N_LOOP]
            ok = ~np.isnan(ours)
            if not np.array_equal(ours[ok], vals[ok]):
                raise SystemExit(f"MISMATCH with rasterio on layer {key}")
        print("values agree with rasterio on the subset")

        n_layers = len(arrays)
        print()
        print(f"(a) sample_many                  {t_lib * 1e3:9.1f} ms   ({n_layers} layers, best of {REPEATS})")
        print(f"(b) bare numpy fancy indexing    {t_np * 1e3:9.1f} ms   (indices precomputed, best of {REPEATS})")
        print(f"    numpy np.take on flat index  {t_take * 1e3:9.1f} ms   (tighter floor, for reference)")
        print(f"(c) rasterio sample() loop       {t_loop * 1e3:9.1f} ms   (extrapolated)")
        speedup = t_loop / t_lib
        overhead = t_lib / t_np
        print()
        print(f"rasterio loop / sample_many = {speedup:7.1f}×   goal ≥ 50×: {'MET' if speedup >= 50 else 'NOT MET'}")
        print(f"sample_many / bare numpy    = {overhead:7.2f}×   goal ≤ 3×:  {'MET' if overhead <= 3 else 'NOT MET'}")
        print(f"sample_many / np.take floor = {t_lib / t_take:7.2f}×   (includes index arithmetic, nodata and "
              f"outside masking, float64 output)")


if __name__ == "__main__":
    main()
