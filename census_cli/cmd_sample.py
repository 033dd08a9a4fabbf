"""`census sample …`: the generated sample county (real boundaries, everything inside generated)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import EXIT_USAGE, CommandFailed, callback_progress, emit_json, handle_errors, progress


@click.group()
def sample() -> None:
    """样例县数据 / The generated sample county.

    \b
    Example:
      census sample build --out sample_out --quicklook
      census sample build --out jianchang --county 211422 --buildings 5000
    """


@sample.command("build")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="输出目录 / output folder.")
@click.option("--county", default=None, metavar="CODE",
              help="内置边界中的县级区划代码，默认 211481 兴城市 / shipped county code (default 211481).")
@click.option("--boundary", type=click.Path(dir_okay=False), default=None, metavar="FILE.geojson",
              help="含一个县边界多边形（带 adcode、name 属性）的文件 / one county polygon with adcode and name.")
@click.option("--sea", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="该县的海域多边形（内置县已自带）/ sea polygons next to the county (shipped counties have one).")
@click.option("--buildings", default=30000, show_default=True, type=click.IntRange(min=1),
              help="房屋图斑数量 / building footprints on the work map.")
@click.option("--seed", default=2020, show_default=True, type=click.IntRange(min=0),
              help="随机种子，同一种子结果完全相同 / random seed; same seed, same sample.")
@click.option("--quicklook", is_flag=True, help="每个图层输出一张快览图 PNG / one PNG per layer.")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / machine-readable output.")
@handle_errors
def build(out_dir: str, county: str | None, boundary: str | None, sea: str | None, buildings: int, seed: int,
          quicklook: bool, as_json: bool) -> None:
    """生成样例县：乡镇村、地形、房屋底图、设施、致灾因子图层 / Build a sample county.

    边界是真实的（葫芦岛市及所辖六个县级单位），其余内容按种子确定性生成。
    Boundaries are real (葫芦岛市 and its six county-level units); everything inside is generated,
    the same for the same --seed.

    \b
    Example:
      census sample build --out sample_out --quicklook
      census sample build --out suizhong --county 211421 --seed 7
      census sample build --out mine --boundary my_county.geojson --sea my_sea.geojson --buildings 2000
    """
    from sample_data.boundaries import shipped_counties
    from sample_data.build import build_sample

    if county and boundary:
        raise CommandFailed("--county 与 --boundary 只能选一个", "give either --county or --boundary, not both",
                            EXIT_USAGE)
    if county is not None and county.strip() not in shipped_counties():
        valid = ", ".join(f"{c} {n}" for c, n in shipped_counties().items())
        raise CommandFailed(f"--county“{county}”不在内置边界中；可用的有：{valid}；其他县请用 --boundary FILE.geojson",
                            f"--county '{county}' is not in the shipped boundaries; valid: {valid}; "
                            f"for another county use --boundary FILE.geojson", EXIT_USAGE)
    for opt, path in (("--boundary", boundary), ("--sea", sea)):
        if path is not None and not Path(path).exists():
            raise CommandFailed(f"{opt} 文件不存在：{path}；请检查路径", f"{opt} file not found: {path}; check the path",
                                EXIT_USAGE)
    with progress("生成样例县 / building the sample county", total=None) as advance:
        cb = callback_progress(advance)
        result = build_sample(out_dir, county=(county or "211481").strip(), boundary=boundary, sea=sea,
                              buildings=buildings, seed=seed, quicklook=quicklook,
                              progress=lambda step, done, total: cb(done, total))
    if as_json:
        emit_json(result.as_dict())
        return
    click.echo(f"样例县已生成 / sample built: {result.out_dir}  ({result.seconds:.1f} s)")
    click.echo(f"  {result.summary_zh()}")
    click.echo(f"  {result.summary_en()}")
    click.echo(f"  GeoPackage: {result.gpkg}")
    click.echo(f"  致灾因子 / hazards: {result.out_dir / 'hazards'}")
    if result.quicklooks:
        click.echo(f"  快览图 / quicklooks: {result.out_dir / 'quicklook'} ({len(result.quicklooks)} PNG)")
    click.echo(f"  清单 / manifest: {result.manifest}")


# simulate-fieldwork lives in its own module (it drives the township side); it belongs to this group
from .cmd_fieldwork import simulate_fieldwork  # noqa: E402

sample.add_command(simulate_fieldwork)
