"""Benchmark (P2): 1,000,000 buildings × all hazard layers → sampled, damaged, aggregated.

The buildings are the sample county's (attributes, value, occupants from exposure.buildings) tiled to N
rows with their points jittered by up to ±0.003° so they land on other pixels. One run of the risk core:
``risk.compute.building_risk`` (sampling of the 13 layers, HAZUS/Huizinga/Emanuel damage, EAL, indices,
levels) and ``risk.aggregate.partial_sums`` to the 1 km grid and to townships. Goal: ≤ 10 s on 2 cores.

Baselines for the sampling step (the part a naive implementation spends its time in):
  * a rasterio ``DatasetReader.sample()`` loop, timed on 20,000 points per layer and extrapolated
    linearly to N (the full loop would take many minutes) — said so in the output;
  * bare numpy fancy indexing ``arr.flat[idx]`` with the flat pixel indices computed beforehand (the floor).

Run:  .venv/bin/python benchmarks/bench_risk.py [--county COUNTY.gpkg --hazards DIR] [--n 1000000]
      (defaults: the demo county of `census demo --out /tmp/demo3`)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_COUNTY = Path("/tmp/demo3/county/211481.gpkg")
DEFAULT_HAZARDS = Path("/tmp/demo3/sample/hazards")
N_LOOP = 20_000
JITTER_DEG = 0.003


def base_buildings(county: Path):
    """The county's buildings as a plain frame (no geometry) with a capacity of 0.5 each."""
    import pandas as pd

    from exposure.buildings import load_exposure

    b = load_exposure(county).buildings
    b = pd.DataFrame(b.drop(columns="geometry"))
    b = b[np.isfinite(b["lon"]) & np.isfinite(b["lat"])].reset_index(drop=True)
    b["capacity"] = 0.5
    return b


def tile(base, n: int, seed: int):
    """``n`` buildings drawn from ``base`` with jittered points (a deterministic function of ``seed``)."""
    rng = np.random.default_rng(seed)
    out = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
    out["lon"] = out["lon"].to_numpy() + rng.uniform(-JITTER_DEG, JITTER_DEG, n)
    out["lat"] = out["lat"].to_numpy() + rng.uniform(-JITTER_DEG, JITTER_DEG, n)
    return out


def setup(county: Path, hazards: Path):
    from exposure.buildings import read_layer
    from risk.compute import RiskContext
    from risk.grid import make_grid
    from risk.hazard_layers import load_hazard_layers

    stack = load_hazard_layers(hazards)
    ctx = RiskContext.build(stack.hazards, stack.arrays)
    spec = make_grid(read_layer(county, "townships"), 1000)
    return stack, ctx, spec


def assess_frame(df, ctx, spec):
    """Sample, damage, aggregate one frame; returns (grid sums, township sums, seconds per stage)."""
    from risk.aggregate import partial_sums
    from risk.compute import building_risk
    from risk.grid import project

    t0 = time.perf_counter()
    x, y = project(df["lon"].to_numpy(), df["lat"].to_numpy(), spec.crs)
    keys = spec.keys(x, y)
    t1 = time.perf_counter()
    res = building_risk(df, ctx)
    t2 = time.perf_counter()
    g = partial_sums(df, res, keys, ctx)
    t = partial_sums(df, res, df["township_code"].astype(str).to_numpy(), ctx)
    t3 = time.perf_counter()
    return g, t, {"grid keys": t1 - t0, "sample+damage+index": t2 - t1, "aggregate": t3 - t2}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--county", type=Path, default=DEFAULT_COUNTY)
    ap.add_argument("--hazards", type=Path, default=DEFAULT_HAZARDS)
    ap.add_argument("--n", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    if not args.county.exists() or not args.hazards.is_dir():
        print(f"need a county geodatabase and hazard folder; make them with `census demo --out /tmp/demo3` "
              f"or pass --county/--hazards (missing: {args.county} / {args.hazards})", file=sys.stderr)
        return 2
    import rasterio

    from hazards.sampling import sample_many

    stack, ctx, spec = setup(args.county, args.hazards)
    base = base_buildings(args.county)
    df = tile(base, args.n, seed=1)
    assess_frame(tile(base, 10_000, seed=2), ctx, spec)          # warm-up (imports, caches)

    t0 = time.perf_counter()
    g, t, stages = assess_frame(df, ctx, spec)
    total = time.perf_counter() - t0

    layers = {lid: stack.arrays[lid] for lid in stack.arrays}
    lon, lat = df["lon"].to_numpy(), df["lat"].to_numpy()
    ts = time.perf_counter()
    sample_many(layers, lon, lat)
    t_ours = time.perf_counter() - ts

    # bare numpy: indices precomputed, then one fancy-index per layer (the floor)
    flat_idx = {}
    for lid, da in layers.items():
        tr = da.attrs["transform"]
        col = np.clip(((lon - tr[2]) / tr[0]).astype(np.int64), 0, da.shape[1] - 1)
        row = np.clip(((lat - tr[5]) / tr[4]).astype(np.int64), 0, da.shape[0] - 1)
        flat_idx[lid] = row * da.shape[1] + col
    ts = time.perf_counter()
    for lid, da in layers.items():
        np.asarray(da.values).ravel()[flat_idx[lid]]
    t_numpy = time.perf_counter() - ts

    # rasterio sample() loop on N_LOOP points per layer, extrapolated to N
    k = min(N_LOOP, args.n)
    pts = list(zip(lon[:k], lat[:k]))
    ts = time.perf_counter()
    for lid in layers:
        src_path = Path(args.hazards) / f"{lid}.tif"
        with rasterio.open(src_path) as src:
            for _ in src.sample(pts):
                pass
    t_loop = (time.perf_counter() - ts) * args.n / k

    n = args.n
    print(f"buildings: {n:,} × {len(layers)} hazard layers, {len(ctx.hazards)} hazards; "
          f"{len(g):,} grid cells, {len(t)} townships")
    print(f"total (sample, damage, EAL, indices, aggregate): {total:.2f} s  [goal ≤ 10 s]  "
          + ", ".join(f"{k_}: {v:.2f} s" for k_, v in stages.items()))
    print(f"sampling only — ours (hazards.sampling.sample_many): {t_ours:.2f} s; bare numpy floor: {t_numpy:.2f} s "
          f"(ours/numpy = {t_ours / t_numpy:.1f}×); rasterio sample() loop: {t_loop:.0f} s "
          f"(timed on {k:,} points per layer, extrapolated to {n:,}) → {t_loop / t_ours:.0f}× slower than ours")
    naive = t_loop + (total - t_ours)
    print(f"whole pipeline with a rasterio loop instead of vectorised sampling: ~{naive:.0f} s "
          f"→ ours is {naive / total:.0f}× faster; vs bare-numpy sampling + our damage: "
          f"{(t_numpy + total - t_ours) / total:.2f}× of ours")
    print(f"check: value {g['value_cny'].sum() / 1e8:,.1f} 亿元 in grid = {t['value_cny'].sum() / 1e8:,.1f} in "
          f"townships; EAL {g['total_loss'].sum() / 1e4:,.0f} 万元/yr")
    return 0


if __name__ == "__main__":
    sys.exit(main())
