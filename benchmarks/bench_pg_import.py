"""County import into PostGIS against the GeoPackage path: the same 100 packages × 10,000 rural-house
revisions (1,000,000) merged into a county database on a PostgreSQL + PostGIS server on loopback and
into a county GeoPackage. Prints both times and the ratio (PostGIS speed / GeoPackage speed).

The packages are those of ``bench_county_import.py`` (built once, reused with ``--keep``). The PostGIS
county is made with ``census county init`` on a fresh database, then given the GeoPackage county's keys
and enrolled devices, so that the very same signed packages are accepted by both.

    .venv/bin/python benchmarks/bench_pg_import.py                 # 1,000,000; starts scripts/pg_server.py
    .venv/bin/python benchmarks/bench_pg_import.py --n 50000 --keep
    .venv/bin/python benchmarks/bench_pg_import.py --server postgresql://census@127.0.0.1:55432/postgres
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "scripts")]

import bench_county_import as B  # noqa: E402


def pg_county(server: str, name: str, tpl_gpkg: Path, boundaries: Path) -> str:
    """A PostGIS county holding the GeoPackage template's keys and devices."""
    import psycopg

    from geodb.target import anchor_path, open_county
    from sync import keys as K
    from sync.county import init_county

    base = server.rsplit("/", 1)[0]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    K.keys_path_for(anchor_path(url)).unlink(missing_ok=True)
    init_county(url, county=B.COUNTY, boundaries=boundaries)
    with open_county(tpl_gpkg, readonly=True) as src:
        settings = src.settings()
        devices = src.devices()
    with open_county(url) as db, db.transaction():
        for key in ("county_sign_public_key", "county_encrypt_public_key"):
            db.set_setting(key, settings[key])
        for d in devices:
            db.add_device(device_id=d["device_id"], county=d["county"], township=d["township"],
                          enumerator=d["enumerator"], public_key=d["public_key"], issued_at=d["issued_at"])
    shutil.copy(str(tpl_gpkg) + ".keys.json", K.keys_path_for(anchor_path(url)))
    return url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--packages", type=int, default=100)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_county_import"))
    ap.add_argument("--keep", action="store_true", help="reuse packages built by an earlier run of the same size")
    ap.add_argument("--server", default=None, help="maintenance URL of a server (default: start scripts/pg_server.py)")
    ap.add_argument("--no-gpkg", action="store_true", help="skip the GeoPackage run")
    args = ap.parse_args()

    from sync.county import verify_county
    from sync.county_import import import_packages

    server = args.server
    if server is None:
        import pg_server
        server = pg_server.start()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    built = work / "built.json"
    if args.keep and built.is_file() and json.loads(built.read_text())["n"] == args.n:
        paths = [Path(p) for p in json.loads(built.read_text())["packages"]]
        tpl_gpkg = work / "template" / "county.gpkg"
    else:
        tpl_gpkg, paths = B.build(work, args.n, args.packages)

    times = {}
    url = pg_county(server, "census_bench_import", tpl_gpkg, work / "divisions.geojson")
    targets = [("PostGIS", url)]
    if not args.no_gpkg:
        run = work / "run_gpkg"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir()
        gpkg = run / "county.gpkg"
        shutil.copy(tpl_gpkg, gpkg)
        shutil.copy(str(tpl_gpkg) + ".keys.json", str(gpkg) + ".keys.json")
        targets.append(("GeoPackage", gpkg))
    for label, target in targets:
        t0 = time.perf_counter()
        results = import_packages(target, paths)
        dt = time.perf_counter() - t0
        stored = sum(r.stored for r in results)
        ok = all(r.outcome == "accepted" for r in results)
        times[label] = dt
        print(f"{label}: {len(paths)} packages, {stored:,} revisions stored: {dt:.1f} s = {stored / dt:,.0f} revisions/s "
              f"({'all accepted' if ok else 'NOT all accepted'}; load {os.getloadavg()[0]:.1f})")
        if not ok:
            for r in results:
                if r.outcome != "accepted":
                    print(r.line(), file=sys.stderr)
            sys.exit(1)
        t0 = time.perf_counter()
        rep = verify_county(target)
        print(f"{label} verify: {'clean' if rep.ok else [f.code for f in rep.findings[:3]]} in "
              f"{time.perf_counter() - t0:.1f} s")
    if "GeoPackage" in times:
        print(f"ratio (PostGIS speed / GeoPackage speed): {times['GeoPackage'] / times['PostGIS']:.2f}×")


if __name__ == "__main__":
    main()
