"""`census risk`: risk assessment and zoning from the county geodatabase and hazard layers."""

from __future__ import annotations

import click

from census_cli.common import (
    callback_progress,
    echo_err,
    emit_json,
    handle_errors,
    progress,
)
from risk.assess import ENGINES, assess_county
from risk.zoning import METHODS


@click.group("risk")
def risk() -> None:
    """风险评估与区划 / Risk assessment and zoning.

    \b
    Example:
      census risk assess --gpkg county/211481.gpkg --hazards sample/hazards
    """


@risk.command("assess")
@click.option("--gpkg", "gpkg", required=True, type=click.Path(dir_okay=False),
              help="县级数据库 / county GeoPackage (results are written into it).")
@click.option("--hazards", "hazards", required=True, type=click.Path(file_okay=False),
              help="致灾因子图层目录 / folder with the hazard GeoTIFFs (eq_pga_475.tif, flood_depth_rp100.tif, …).")
@click.option("--grid-m", "grid_m", default=1000.0, show_default=True, type=float,
              help="格网边长（米）/ grid cell size in metres (Gauss-Krüger zone of the county).")
@click.option("--method", type=click.Choice(METHODS), default="fixed", show_default=True,
              help="分级方法 / zoning breaks for grid and townships: fixed thresholds, exact Fisher–Jenks or quantiles.")
@click.option("--engine", type=click.Choice(ENGINES), default="pandas", show_default=True,
              help="计算引擎 / pandas in memory, or dask partitions (same numbers).")
@click.option("--json", "as_json", is_flag=True, help="只输出 JSON / print JSON only.")
@handle_errors
def assess(gpkg: str, hazards: str, grid_m: float, method: str, engine: str, as_json: bool) -> None:
    """评估各灾种与综合风险并区划，结果写入县级数据库 / Assess every hazard and the comprehensive risk;
    write risk_buildings, risk_grid, risk_townships, risk_villages, risk_breaks, risk_runs into the
    GeoPackage and level/loss GeoTIFFs into <gpkg folder>/risk/. Re-running replaces them.

    \b
    Example:
      census risk assess --gpkg county/211481.gpkg --hazards sample/hazards
      census risk assess --gpkg county/211481.gpkg --hazards sample/hazards --method fisher_jenks --json
    """
    with progress("风险评估 / assessing", total=7) as advance:
        result = assess_county(gpkg, hazards, grid_m=grid_m, method=method, engine=engine,
                               progress=callback_progress(advance))
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(result.summary_zh)
    click.echo(result.summary_en)
    for note in result.notes:
        echo_err(f"注意/note: {note}")


from census_cli.cmd_scenario_damage import scenario_damage

risk.add_command(scenario_damage)

from census_cli.cmd_risk_extra import dangers, history

risk.add_command(dangers)
risk.add_command(history)
