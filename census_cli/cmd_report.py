"""`census report`: the county's Chinese report (PDF) from the county GeoPackage. Thin shell over
:func:`mapping.report.make_report`; needs the risk layers (`census risk assess`), and adds the hidden-danger
and historical-disaster chapters when `census risk dangers` / `census risk history` have been run."""

from __future__ import annotations

import click

from .common import callback_progress, emit_json, handle_errors, progress


@click.command("report")
@click.option("--gpkg", "gpkg", required=True, type=click.Path(dir_okay=False),
              help="县级地理数据库 / the county GeoPackage (COUNTY.gpkg).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="输出 PDF / output PDF file.")
@click.option("--hazard-maps", is_flag=True,
              help="附加各灾种致灾因子分级图（需致灾因子目录）/ add a hazard-intensity map per hazard.")
@click.option("--hazards", type=click.Path(file_okay=False), default=None,
              help="致灾因子 GeoTIFF 目录（默认取最近一次风险评估所用目录）/ folder of hazard GeoTIFFs.")
@click.option("--city", type=click.Path(dir_okay=False), default=None,
              help="上级市界文件（位置示意图用）/ city outline for the locator insets.")
@click.option("--maps", default=None,
              help="只附这些图（逗号分隔：comprehensive,prevention,灾种ID,exposure:floor_area,exposure:population,"
                   "capacity,hazard:图层ID,dangers,history）/ only these maps, comma-separated (a quicker draft).")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / machine-readable output.")
@handle_errors
def report(gpkg: str, out: str, hazard_maps: bool, hazards: str | None, city: str | None, maps: str | None,
           as_json: bool) -> None:
    """县级风险普查成果报告（PDF，中文）/ The county's risk census report (Chinese PDF).

    Cover, contents, summary, completeness per township, exposure and risk statistics per hazard and
    township, prevention zoning, historical losses 1978–2020, the zoning maps, and the methods with
    their sources and zoning breaks. Run `census risk assess` first. After `census risk dangers` the
    report adds 重点隐患评估与整治清单 (top-20 remediation list, townships by priority, the danger map);
    after `census risk history` 历史灾害评估 (trends, loss-share weights, largest events and their map,
    modelled vs recorded losses per township). Without them the summary says which command adds them.

    \b
    Example:
      census report --gpkg county.gpkg --out report.pdf
      census report --gpkg county.gpkg --out report.pdf --hazard-maps --hazards sample/hazards
      census report --gpkg county.gpkg --out draft.pdf --maps comprehensive,prevention
      census risk dangers --gpkg county.gpkg --hazards sample/hazards --out 整治清单.xlsx
      census risk history --gpkg county.gpkg && census report --gpkg county.gpkg --out report.pdf
    """
    from mapping.fonts import use_cjk_font
    from mapping.report import make_report
    from mapping.source import MapSource

    use_cjk_font()
    src = MapSource(gpkg, city=city, hazards_dir=hazards)
    with progress("生成报告 / writing the report", total=None) as advance:
        only = [m.strip() for m in maps.split(",") if m.strip()] if maps else None
        result = make_report(src, out, hazard_maps=hazard_maps, maps=only, progress=callback_progress(advance))
    if as_json:
        emit_json({"path": str(result.path), "pages": result.pages, "maps": result.maps, "tables": result.tables,
                   "seconds": round(result.seconds, 1)})
    else:
        click.echo(f"报告已生成：{result.path}（{result.pages} 页，{result.maps} 幅图，{result.tables} 张表，"
                   f"{result.seconds:.1f} 秒）/ report written: {result.path} ({result.pages} pages, "
                   f"{result.maps} maps, {result.tables} tables, {result.seconds:.1f} s)")
