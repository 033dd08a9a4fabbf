"""`census sample simulate-fieldwork`: fill a sample county's work map in township stores, export packages.

Attach to the ``sample`` group: ``sample.add_command(simulate_fieldwork)``.
"""

from __future__ import annotations

from pathlib import Path

import click

from .common import emit_json, handle_errors, progress


@click.command("simulate-fieldwork")
@click.option("--sample", "sample_dir", required=True, type=click.Path(file_okay=False),
              help="样例县目录（sample.gpkg、manifest.json、hazards/）/ the sample county folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="输出目录：OUT/townships/ 与 OUT/packages/ / output folder.")
@click.option("--gpkg", "county_gpkg", type=click.Path(dir_okay=False), default=None,
              help="县级地理数据库：在其中为各乡镇登记设备，county import 即可接收数据包 / "
                   "enrol the devices in this county GeoPackage so `census county import` accepts the packages.")
@click.option("--error-rate", type=click.FloatRange(0.0, 1.0), default=0.02, show_default=True,
              help="故意填错的记录比例 / share of records made invalid on purpose.")
@click.option("--conflicts", type=click.IntRange(0, None), default=5, show_default=True,
              help="两台设备同时修改的记录数 / records edited on two devices.")
@click.option("--seed", type=int, default=0, show_default=True, help="随机种子 / random seed.")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / machine-readable output.")
@handle_errors
def simulate_fieldwork(sample_dir: str, out_dir: str, county_gpkg: str | None, error_rate: float, conflicts: int,
                       seed: int, as_json: bool) -> None:
    """模拟乡镇外业调查 / Simulate township fieldwork on a sample county.

    One township store per township in OUT/townships/ (a second device's store where conflicts are
    made), every footprint and village filled with realistic answers, a share of invalid values, and
    each device's signed return package — nothing else — in OUT/packages/.

    \b
    Example:
      census sample build --out sample
      census county init --gpkg county.gpkg --county 211481 --sample sample
      census sample simulate-fieldwork --sample sample --out field --gpkg county.gpkg
      census county import --gpkg county.gpkg field/packages/*.censuspkg
    """
    from sample_data.fieldwork import simulate_fieldwork as run

    if not Path(sample_dir).is_dir():
        raise FileNotFoundError(2, "not found", sample_dir)
    if county_gpkg is not None and not Path(county_gpkg).is_file():
        raise FileNotFoundError(2, "not found", county_gpkg)
    with progress("模拟外业 / fieldwork") as advance:
        state = {"done": 0}

        def cb(step: str, done: int, total: int) -> None:
            advance(done - state["done"], total=total)
            state["done"] = done

        result = run(sample_dir, out_dir, error_rate=error_rate, conflicts=conflicts, seed=seed,
                     county_gpkg=county_gpkg, progress=cb)
    if as_json:
        emit_json(result.as_dict())
        return
    total = sum(result.records.values())
    bad = sum(result.invalid.values())
    click.echo(f"{len(result.packages)} 个数据包 / packages in {Path(out_dir) / 'packages'}")
    click.echo(f"{len({d.township for d in result.devices})} 个乡镇、{len(result.devices)} 台设备、{total} 条记录"
               f"（故意填错 {bad} 条，冲突 {result.conflicts} 条），用时 {result.seconds:.1f} 秒 / "
               f"{len({d.township for d in result.devices})} townships, {len(result.devices)} devices, {total} records "
               f"({bad} invalid on purpose, {result.conflicts} conflicts) in {result.seconds:.1f} s", err=True)
    if result.skipped_forms:
        click.echo(f"警告/warning: 表单目录中没有 {', '.join(result.skipped_forms)}，未生成 / "
                   f"not in the form catalogue, not generated: {', '.join(result.skipped_forms)}", err=True)
    if result.not_repaired:
        click.echo(f"警告/warning: {result.not_repaired} 条本应有效的记录未通过校验 / "
                   f"{result.not_repaired} records meant to be valid did not validate", err=True)
