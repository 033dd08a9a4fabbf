"""Scale-out benchmark: N buildings (default 20,000,000) assessed in dask partitions; prints peak memory.

The sample county's buildings are tiled to N rows (bench_risk.tile: random draws with jittered points),
one partition at a time inside the dask graph (``dask.dataframe.from_map``), so no more than a couple of
partitions exist at once. Each partition is sampled against every hazard layer, damaged, turned into
EAL/indices (risk.compute.building_risk) and reduced to additive sums per 1 km cell and township
(risk.aggregate.partial_sums); dask sums the partials (tree reduction). Goal: peak RSS ≤ 8 GB.

``--check N`` also runs N buildings through both paths (one pandas frame vs dask partitions) and reports the
largest relative difference of the sums.

Run:  .venv/bin/python benchmarks/bench_risk_scale.py [--n 20000000] [--partition 1000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_risk import DEFAULT_COUNTY, DEFAULT_HAZARDS, base_buildings, setup, tile


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2   # ru_maxrss is KiB on Linux


def partition_sums(df, ctx, spec):
    """Grid and township sums of one partition in one frame, keyed 'g<cell>' / 't<township>'."""
    import pandas as pd

    from risk.aggregate import partial_sums
    from risk.compute import building_risk
    from risk.grid import project

    x, y = project(df["lon"].to_numpy(), df["lat"].to_numpy(), spec.crs)
    res = building_risk(df, ctx)
    g = partial_sums(df, res, spec.keys(x, y), ctx)
    g.index = "g" + g.index.astype(str)
    t = partial_sums(df, res, df["township_code"].astype(str).to_numpy(), ctx)
    t.index = "t" + t.index.astype(str)
    out = pd.concat([g, t])
    out.index.name = "key"
    return out.reset_index()


def run(n: int, partition: int, workers: int, base, ctx, spec, seed0: int = 100):
    import dask
    import dask.dataframe as dd

    sizes = [min(partition, n - i * partition) for i in range(math.ceil(n / partition))]

    def make(i: int):
        return tile(base, sizes[i], seed=seed0 + i)

    meta = partition_sums(make(0).head(50), ctx, spec).iloc[:0]
    with dask.config.set({"dataframe.convert-string": False}):
        ddf = dd.from_map(make, range(len(sizes)), meta=tile(base, 1, 0).iloc[:0], enforce_metadata=False)
        parts = ddf.map_partitions(partition_sums, ctx, spec, meta=meta, enforce_metadata=False)
        sums = parts.groupby("key").sum().compute(scheduler="threads", num_workers=workers)
    return sums.reset_index()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--county", type=Path, default=DEFAULT_COUNTY)
    ap.add_argument("--hazards", type=Path, default=DEFAULT_HAZARDS)
    ap.add_argument("--n", type=int, default=20_000_000)
    ap.add_argument("--partition", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--check", type=int, default=0, help="also compare pandas vs dask on this many buildings")
    args = ap.parse_args(argv)
    if not args.county.exists() or not args.hazards.is_dir():
        print("need a county geodatabase and hazard folder; make them with `census demo --out /tmp/demo3` "
              "or pass --county/--hazards", file=sys.stderr)
        return 2
    stack, ctx, spec = setup(args.county, args.hazards)
    base = base_buildings(args.county)
    print(f"base: {len(base):,} buildings; peak RSS after loading: {peak_rss_gb():.2f} GB")
    if args.check:
        import pandas as pd
        from bench_risk import assess_frame

        m = args.check
        part = max(1, m // 4)
        frames = [tile(base, min(part, m - i * part), seed=100 + i) for i in range(math.ceil(m / part))]
        g, t, _ = assess_frame(pd.concat(frames, ignore_index=True), ctx, spec)
        d = run(m, part, args.workers, base, ctx, spec).set_index("key")
        g.index = "g" + g.index.astype(str)
        t.index = "t" + t.index.astype(str)
        ref = pd.concat([g, t]).sort_index()
        d = d.reindex(ref.index)[ref.columns]
        rel = np.nanmax(np.abs(d.to_numpy() - ref.to_numpy()) / np.maximum(np.abs(ref.to_numpy()), 1e-9))
        print(f"check on {m:,} buildings: pandas one frame vs dask {math.ceil(m / part)} partitions — "
              f"largest relative difference of the sums {rel:.1e}")
    t0 = time.perf_counter()
    sums = run(args.n, args.partition, args.workers, base, ctx, spec)
    dt = time.perf_counter() - t0
    grid = sums[sums["key"].str.startswith("g")]
    town = sums[sums["key"].str.startswith("t")]
    print(f"buildings: {args.n:,} in {math.ceil(args.n / args.partition)} partitions of ≤{args.partition:,}, "
          f"{args.workers} threads: {dt:.1f} s ({args.n / dt:,.0f} buildings/s)")
    print(f"grid cells: {len(grid):,}; townships: {len(town)}; buildings counted: grid {grid['buildings'].sum():,.0f}, "
          f"townships {town['buildings'].sum():,.0f}; EAL {grid['total_loss'].sum() / 1e8:,.2f} 亿元/yr")
    print(f"peak memory (max RSS of the process): {peak_rss_gb():.2f} GB  [goal ≤ 8 GB]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
