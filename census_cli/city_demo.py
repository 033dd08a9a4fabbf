"""`census city demo`: the six county-level units of 葫芦岛市 report up, and the city is zoned.

Per county: sample (real boundary, generated content) → county geodatabase → simulated fieldwork →
import → bulk approval → the city's enrolment → the first upward package. Then the city imports them
all; the counties' reviewers settle their conflicts and approve, and send a second, incremental package
(with the city's receipt, so nothing the city holds is sent again); the city imports that, checks
itself, merges the hazard layers, assesses the whole city on one grid, draws the zoning maps and writes
the city report (``city_report.pdf``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from .common import EXIT_OK, handle_errors, progress

CITY = "211400"


def huludao_counties() -> dict[str, str]:
    from sample_data.boundaries import shipped_boundaries

    gdf = shipped_boundaries()
    rows = gdf[(gdf["level"] == "county") & (gdf["parent"].astype(str) == CITY)].sort_values("adcode")
    return dict(zip(rows["adcode"].astype(str), rows["name"].astype(str)))


def _pick_counties(codes: Sequence[str] | None) -> dict[str, str]:
    allc = huludao_counties()
    if not codes:
        return allc
    unknown = [c for c in codes if c not in allc]
    if unknown:
        from schemas.errors import CensusError

        raise CensusError(f"{', '.join(unknown)} 不是葫芦岛市的县级行政区；可选：{', '.join(allc)}",
                          f"{', '.join(unknown)} are not county-level units of 葫芦岛市; choose from {', '.join(allc)}")
    return {c: allc[c] for c in allc if c in set(codes)}


def _county_step(code: str, name: str, d: Path, buildings: int, seed: int, resolution: float) -> dict:
    """One county, from its sample to bulk approval (independent of the others: may run in a worker)."""
    from sample_data.build import build_sample
    from sample_data.fieldwork import simulate_fieldwork
    from sync.approval import approve_records
    from sync.county import init_county
    from sync.county_import import import_packages

    build_sample(d / "sample", county=code, buildings=buildings, seed=seed, resolution=resolution)
    gpkg = d / f"{code}.gpkg"
    init_county(gpkg, county=code, sample=d / "sample")
    fw = simulate_fieldwork(d / "sample", d / "fieldwork", seed=seed, county_gpkg=gpkg, conflicts=2)
    res = import_packages(gpkg, fw.packages, workers=0)
    appr = approve_records(gpkg)
    return {"county": code, "name": name, "packages": len(res), "records": sum(r.new_records for r in res),
            "approved_first": appr.approved, "conflicts": appr.conflicts, "with_issues": appr.with_issues}


def run_city_demo(out: str | Path, *, buildings: int = 300, seed: int = 2020, resolution: float = 0.005,
                  grid_m: float = 1000.0, dpi: int = 200, workers: int = 1, counties: Sequence[str] | None = None,
                  log: Callable[[str], None] = lambda s: None) -> dict:
    """Run the city flow into ``out`` (module doc); returns the summary written to ``city_demo_summary.json``.
    ``workers`` > 1 runs the six counties' own steps in that many processes (they are independent).
    ``counties`` (codes) runs only those of the six, for a quicker run: the city keeps its whole outline, but
    its divisions, assessment and maps cover only those counties (as when the others have not reported)."""
    from census_cli.cmd_demo import _resolve_conflicts_keep_latest
    from hazards.mosaic import mosaic_hazards
    from mapping.city import city_zoning_map
    from mapping.city_report import make_city_report
    from mapping.fonts import use_cjk_font
    from mapping.layout import save_figure
    from risk.city import assess_city
    from sync.approval import approve_records
    from sync.city import city_status, enrol_county, init_city, verify_city
    from sync.city_import import import_upward
    from sync.county import verify_county
    from sync.upward import export_approved

    from .cmd_city import sources_from_samples

    out = Path(out)
    if (out / "city").exists() or (out / "counties").exists():
        import shutil

        for d in ("city", "counties", "upward"):
            shutil.rmtree(out / d, ignore_errors=True)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    counties = _pick_counties(counties)

    t = time.perf_counter()
    jobs = [(code, name, out / "counties" / code, buildings, seed, resolution) for code, name in counties.items()]
    if workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
            county_rows = list(pool.map(_county_step, *zip(*jobs)))
    else:
        county_rows = [_county_step(*job) for job in jobs]
    for row in county_rows:
        log(f"  {row['county']} {row['name']}: {row['packages']} 个回传包，审核通过 {row['approved_first']} 条（冲突 "
            f"{row['conflicts']}，有问题 {row['with_issues']}）/ {row['approved_first']} approved")
    timings["counties"] = time.perf_counter() - t

    t = time.perf_counter()
    city_gpkg = out / "city" / f"{CITY}.gpkg"
    init = init_city(city_gpkg, city=CITY, sample_root=out / "counties")
    first = []
    for code in counties:
        gpkg = out / "counties" / code / f"{code}.gpkg"
        _, enrol_path = enrol_county(city_gpkg, str(gpkg) + ".keys.json")
        first.append(export_approved(gpkg, out / "upward", city_enrolment=enrol_path))
    results1, receipts = import_upward(city_gpkg, [e.path for e in first])
    again, _ = import_upward(city_gpkg, [e.path for e in first], receipts=False)     # idempotent: duplicates
    log(f"  市级导入第 1 批：{sum(r.outcome == 'accepted' for r in results1)} 个包接收，重复导入 "
        f"{sum(r.outcome == 'duplicate' for r in again)} 个均为重复 / first batch imported; re-import = duplicates")
    receipt_of = {p.name.split("_")[1]: p for p in receipts}
    second = []
    for row in county_rows:
        gpkg = out / "counties" / row["county"] / f"{row['county']}.gpkg"
        row["conflicts_resolved"] = _resolve_conflicts_keep_latest(gpkg)
        row["approved_second"] = approve_records(gpkg).approved
        second.append(export_approved(gpkg, out / "upward", receipt=receipt_of[row["county"]]))
        row["county_verify_ok"] = verify_county(gpkg).ok
    results2, _ = import_upward(city_gpkg, [e.path for e in second])
    status = city_status(city_gpkg)
    verify = verify_city(city_gpkg)
    timings["city_import"] = time.perf_counter() - t

    t = time.perf_counter()
    hazards = out / "city" / "hazards"
    mosaic = mosaic_hazards(sources_from_samples(out / "counties", city_gpkg), hazards)
    assessed = assess_city(city_gpkg, hazards, grid_m=grid_m)
    timings["assess"] = time.perf_counter() - t

    t = time.perf_counter()
    use_cjk_font()
    maps = {}
    import matplotlib.pyplot as plt

    for unit in ("grid", "counties"):
        fig = city_zoning_map(city_gpkg, "comprehensive", unit=unit)
        maps[unit] = str(save_figure(fig, out / "maps" / f"city_comprehensive_{unit}.png", dpi=dpi))
        plt.close(fig)
    timings["maps"] = time.perf_counter() - t

    t = time.perf_counter()
    report = make_city_report(city_gpkg, out / "city_report.pdf")
    log(f"  市级报告 {report.path}：{report.pages} 页，{report.maps} 幅图，{report.tables} 张表 / city report written")
    timings["report"] = time.perf_counter() - t

    summary = {
        "out": str(out), "city": CITY, "city_name": init.city_name, "buildings_per_county": buildings,
        "resolution_deg": resolution, "grid_m": grid_m, "counties": county_rows,
        "first_packages": [e.as_dict() for e in first], "second_packages": [e.as_dict() for e in second],
        "city_import": {"first": [r.as_dict() for r in results1], "second": [r.as_dict() for r in results2],
                        "reimport_outcomes": [r.outcome for r in again]},
        "status": status, "verify_ok": verify.ok, "verify_findings": [f.line() for f in verify.findings],
        "mosaic": {"layers": sorted(mosaic.layers), "shape": list(mosaic.shape), "resolution": mosaic.resolution},
        "assessment": {"summary_zh": assessed.assessment.summary_zh, "summary_en": assessed.assessment.summary_en,
                       "buildings": assessed.assessment.buildings, "cells": assessed.assessment.cells,
                       "townships": assessed.assessment.townships, "counties": assessed.counties},
        "maps": maps, "report": {"path": str(report.path), "pages": report.pages, "maps": report.maps,
                                 "tables": report.tables}, "seconds": {k: round(v, 1) for k, v in {**timings, "total": time.perf_counter() - t0}.items()},
    }
    (out / "city_demo_summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str),
                                                encoding="utf-8")
    return summary


@click.command("demo")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="输出目录 / output folder.")
@click.option("--buildings", default=300, show_default=True, type=click.IntRange(min=20),
              help="每县房屋图斑数 / building footprints per county.")
@click.option("--resolution", default=0.005, show_default=True, type=click.FloatRange(0.0002, 0.02),
              help="样例栅格分辨率（度）/ raster cell size of the samples in degrees.")
@click.option("--grid-m", default=1000.0, show_default=True, type=float, help="评估格网（米）/ assessment grid (m).")
@click.option("--seed", default=2020, show_default=True, type=int, help="随机种子 / random seed.")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="并行处理各县的进程数（默认按 CPU）/ processes for the counties' own steps (default: CPUs).")
@click.option("--counties", "county_codes", default=None,
              help="只演示这些县（逗号分隔的代码，默认六个全部）/ only these counties, comma-separated codes (default: all six).")
@handle_errors
def demo(out_dir: str, buildings: int, resolution: float, grid_m: float, seed: int, workers: int | None,
         county_codes: str | None) -> None:
    """葫芦岛市六县（市、区）逐级上报与全市区划演示 / The six Huludao counties report up; the city is zoned
    and its report written (maps/, city_report.pdf, city_demo_summary.json).

    \b
    Example:
      census city demo --out city_demo
      census city demo --out city_small --buildings 100 --resolution 0.01 --grid-m 2000
      census city demo --out city_two --counties 211402,211403 --buildings 60
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with progress("葫芦岛市演示 / city demo", total=None):
        s = run_city_demo(out, buildings=buildings, seed=seed, resolution=resolution, grid_m=grid_m,
                          workers=workers or min(os.cpu_count() or 1, 6), log=lambda line: click.echo(line),
                          counties=[c.strip() for c in county_codes.split(",") if c.strip()] if county_codes else None)
    t = s["status"]["totals"]
    click.echo(f"演示完成，用时 {s['seconds']['total']} 秒 / city demo finished in {s['seconds']['total']} s")
    click.echo(f"  ✔ {len(s['counties'])} 个县级单位上报；市级收到审核通过记录 {t['records_at_city']} 条（各县审核通过 "
               f"{t['records_approved']}/{t['records_total']}），核验{'完好' if s['verify_ok'] else '发现问题'} / "
               f"{t['records_at_city']} approved records at the city")
    click.echo(f"  ✔ {s['assessment']['summary_zh']}")
    for path in s["maps"].values():
        click.echo(f"  ✔ {path}")
    click.echo(f"  ✔ {s['report']['path']}（市级报告 {s['report']['pages']} 页 / city report, {s['report']['pages']} pages）")
    raise SystemExit(EXIT_OK)
