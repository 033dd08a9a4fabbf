"""`census risk scenario-damage`: OpenQuake-format scenario damage (exposure, fragility NRML, GMF CSV).

The `risk` group (census_cli/cmd_risk.py) adds this command object.
"""

from __future__ import annotations

from pathlib import Path

import click

from .common import EXIT_USAGE, CommandFailed, callback_progress, emit_json, handle_errors, progress


@click.command("scenario-damage")
@click.option("--exposure", "exposure_path", required=True, type=click.Path(dir_okay=False),
              metavar="EXPOSURE.csv|.xml",
              help="OpenQuake 暴露模型：CSV（id, lon, lat, taxonomy, number, …）或引用 CSV 的 NRML XML / "
                   "OpenQuake exposure: CSV (id, lon, lat, taxonomy, number, …) or NRML XML (inline or naming CSVs).")
@click.option("--fragility", "fragility_path", required=True, type=click.Path(dir_okay=False),
              metavar="FRAGILITY.xml",
              help="易损性模型 NRML（0.4/0.5，连续或离散）/ fragility model NRML (0.4/0.5, continuous or discrete).")
@click.option("--gmf", "gmf_path", required=True, type=click.Path(dir_okay=False), metavar="GMF.csv",
              help="地震动场 CSV（sid/site_id, eid/event_id, gmv_<IMT>）/ ground-motion fields CSV.")
@click.option("--sites", "sites_path", type=click.Path(dir_okay=False), default=None, metavar="SITES.csv",
              help="场点 CSV（site_id, lon, lat）；地震动文件自带 lon/lat 时可省略 / "
                   "sites CSV (site_id, lon, lat); optional when the GMF has lon/lat columns.")
@click.option("--taxonomy-mapping", "mapping_path", type=click.Path(dir_okay=False), default=None,
              metavar="MAPPING.csv",
              help="分类映射 CSV（taxonomy, conversion|risk_id, weight）/ OpenQuake taxonomy mapping CSV.")
@click.option("--max-distance", "max_distance", type=click.FloatRange(min=0, min_open=True), default=15.0,
              show_default=True, metavar="KM",
              help="资产到最近场点的最大距离（OpenQuake asset_hazard_distance），超出者不计 / "
                   "assets farther than this from every site are left out (OpenQuake's asset_hazard_distance).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="输出目录 / output folder.")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON 摘要 / print a JSON summary only.")
@handle_errors
def scenario_damage(exposure_path: str, fragility_path: str, gmf_path: str, sites_path: str | None,
                    mapping_path: str | None, max_distance: float, out_dir: str, as_json: bool) -> None:
    """情景地震破坏（OpenQuake 格式）/ Scenario damage from OpenQuake inputs.

    每个资产取最近场点的地震动，按易损性函数计算各破坏状态的建筑数（事件平均），
    结果与 OpenQuake scenario_damage 计算器一致，输出 OpenQuake 格式的 CSV：
    avg_damages.csv（每资产平均）、dmg_by_asset.csv（均值与标准差）、dmg_by_event.csv、
    dmg_total.csv（合计）、dmg_by_taxon.csv（按分类）。

    Each asset takes the ground motion of its nearest site; damage-state building counts are averaged
    over events exactly as OpenQuake's scenario_damage calculator does, and written in its CSV layouts.

    \b
    Example:
      census risk scenario-damage --exposure exposure_model.xml --fragility fragility.xml \\
          --gmf gmf_data.csv --sites sitemesh.csv --out damage_out
      census risk scenario-damage --exposure assets.csv --fragility fragility.xml \\
          --gmf gmf_data.csv --sites sites.csv --max-distance 20 --out out --json
    """
    from risk.openquake import run_scenario_damage

    for opt, path in (("--exposure", exposure_path), ("--fragility", fragility_path), ("--gmf", gmf_path),
                      ("--sites", sites_path), ("--taxonomy-mapping", mapping_path)):
        if path is not None and not Path(path).is_file():
            raise CommandFailed(f"{opt} 文件不存在：{path}；请检查路径", f"{opt} file not found: {path}; check the path",
                                EXIT_USAGE)
    with progress("计算破坏 / computing damage", total=None) as advance:
        run = run_scenario_damage(exposure_path, fragility_path, gmf_path, out_dir, sites_path=sites_path,
                                  taxonomy_mapping_path=mapping_path, max_distance_km=max_distance,
                                  progress=callback_progress(advance))
    summary = run.summary()
    if as_json:
        emit_json(summary)
        return
    r = run.result
    click.echo(f"情景破坏已完成 / scenario damage done: {summary['assets']} 个资产 assets, "
               f"{summary['events']} 个事件 events, {summary['sites']} 个场点 sites")
    if r.dropped:
        click.echo(f"  {len(r.dropped)} 个资产距最近场点超过 {max_distance:g} km，未计入 / "
                   f"{len(r.dropped)} assets farther than {max_distance:g} km from any site were left out")
    totals = ", ".join(f"{ds} {v:,.1f}" for ds, v in summary["total_mean"].items())
    click.echo(f"  事件平均建筑数 / mean buildings per damage state: {totals}")
    for name, path in run.files.items():
        click.echo(f"  {name}: {path}")
