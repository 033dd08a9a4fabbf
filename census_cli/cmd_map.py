"""`census map …`: print-ready maps from the county GeoPackage — zoning, hazard, exposure, capacity,
hidden dangers and historical disasters.

Thin shells over :mod:`mapping`. The output format follows the file name: .png (300 dpi) or .pdf (vector).
Zoning maps need the risk layers (`census risk assess`); the dangers and history maps the layers of
`census risk dangers` and `census risk history`; hazard, exposure and capacity maps need none.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from .common import emit_json, handle_errors

GPKG_OPTION = click.option("--gpkg", "gpkg", required=True, type=click.Path(dir_okay=False),
                           help="县级地理数据库 / the county GeoPackage (COUNTY.gpkg).")
OUT_OPTION = click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
                          help="输出文件：.png（300 dpi）或 .pdf（矢量）/ output file: .png (300 dpi) or .pdf (vector).")
CITY_OPTION = click.option("--city", type=click.Path(dir_okay=False), default=None,
                           help="上级市界文件（位置示意图用；默认取数据库 city 图层或内置边界）/ city outline for the "
                                "locator inset (default: layer 'city' of the GeoPackage, or the shipped boundaries).")
DPI_OPTION = click.option("--dpi", default=300, show_default=True, type=click.IntRange(72, 1200),
                          help="PNG 分辨率 / PNG resolution.")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="输出 JSON / machine-readable output.")


def _zoning_choices() -> list[str]:
    from risk.registry import RISK_HAZARD_IDS

    return [*RISK_HAZARD_IDS, "comprehensive", "prevention"]


def _save(fig, out: str, dpi: int, kind: str, t0: float, as_json: bool) -> None:
    from mapping.layout import save_figure

    path = save_figure(fig, out, dpi=dpi)
    seconds = round(time.perf_counter() - t0, 2)
    if as_json:
        emit_json({"path": str(path), "map": kind, "format": Path(path).suffix[1:], "dpi": dpi, "seconds": seconds})
    else:
        click.echo(f"已生成 {kind} 图：{path}（{seconds} 秒）/ map written: {path} ({seconds} s)")


def _source(gpkg: str, city: str | None, hazards: str | None = None):
    from mapping.fonts import use_cjk_font
    from mapping.source import MapSource

    use_cjk_font()  # before any work: no CJK font → a clear error, never a map with boxes
    return MapSource(gpkg, city=city, hazards_dir=hazards)


@click.group("map")
def map_group() -> None:
    """区划图与专题图 / Zoning and thematic maps (PNG 300 dpi or vector PDF).

    \b
    Example:
      census map zoning --gpkg county.gpkg --hazard comprehensive --out comprehensive.png
      census map zoning --gpkg county.gpkg --hazard prevention --out prevention.pdf
      census map hazard --gpkg county.gpkg --layer eq_pga_475 --hazards sample/hazards --out pga.png
      census map dangers --gpkg county.gpkg --out dangers.png
      census map history --gpkg county.gpkg --out history.pdf
    """


@map_group.command("zoning")
@GPKG_OPTION
@click.option("--hazard", required=True, type=click.Choice(_zoning_choices()),
              help="灾种、综合风险或综合防治区划 / a hazard id, comprehensive, or prevention.")
@OUT_OPTION
@click.option("--unit", default="grid", show_default=True, type=click.Choice(["grid", "townships"]),
              help="评估单元：格网或乡镇 / zoning unit: grid cells or townships.")
@CITY_OPTION
@DPI_OPTION
@JSON_OPTION
@handle_errors
def zoning_cmd(gpkg: str, hazard: str, out: str, unit: str, city: str | None, dpi: int, as_json: bool) -> None:
    """风险区划图（需先运行 census risk assess）/ Risk zoning map (run `census risk assess` first).

    Five levels 高 较高 中 较低 低 with the registry's colours for one hazard or comprehensive risk;
    `prevention` draws the key / secondary / general prevention zones.

    \b
    Example:
      census map zoning --gpkg county.gpkg --hazard comprehensive --out comprehensive.png
      census map zoning --gpkg county.gpkg --hazard earthquake --unit townships --out eq.pdf
    """
    from mapping.zoning import zoning_map

    t0 = time.perf_counter()
    src = _source(gpkg, city)
    fig = zoning_map(src, hazard, unit=unit)
    _save(fig, out, dpi, f"zoning:{hazard}", t0, as_json)


@map_group.command("hazard")
@GPKG_OPTION
@click.option("--layer", required=True, help="致灾因子图层 ID（如 eq_pga_475）/ hazard layer id, e.g. eq_pga_475.")
@click.option("--hazards", type=click.Path(file_okay=False), default=None,
              help="致灾因子 GeoTIFF 目录（默认取最近一次风险评估所用目录）/ folder of hazard GeoTIFFs "
                   "(default: the one the latest risk run used).")
@OUT_OPTION
@CITY_OPTION
@DPI_OPTION
@JSON_OPTION
@handle_errors
def hazard_cmd(gpkg: str, layer: str, hazards: str | None, out: str, city: str | None, dpi: int,
               as_json: bool) -> None:
    """致灾因子分级图（无需风险评估）/ Hazard-intensity map in five hazard levels (no risk run needed).

    \b
    Example:
      census map hazard --gpkg county.gpkg --layer eq_pga_475 --hazards sample/hazards --out pga.png
      census map hazard --gpkg county.gpkg --layer flood_depth_rp100 --hazards sample/hazards --out flood.pdf
    """
    from mapping.thematic import hazard_map

    t0 = time.perf_counter()
    src = _source(gpkg, city, hazards)
    fig = hazard_map(src, layer)
    _save(fig, out, dpi, f"hazard:{layer}", t0, as_json)


@map_group.command("exposure")
@GPKG_OPTION
@click.option("--kind", default="floor_area", show_default=True,
              type=click.Choice(["floor_area", "buildings", "population"]),
              help="建筑面积、房屋栋数或常住人口密度 / floor area, building count or resident density.")
@click.option("--cell-km", default=1.0, show_default=True, type=click.FloatRange(0.1, 50),
              help="格网大小（千米）/ grid cell size in km (floor_area, buildings).")
@OUT_OPTION
@CITY_OPTION
@DPI_OPTION
@JSON_OPTION
@handle_errors
def exposure_cmd(gpkg: str, kind: str, cell_km: float, out: str, city: str | None, dpi: int, as_json: bool) -> None:
    """承灾体密度图（无需风险评估）/ Exposure density map (no risk run needed).

    \b
    Example:
      census map exposure --gpkg county.gpkg --kind floor_area --out floor_area.png
      census map exposure --gpkg county.gpkg --kind population --out population.pdf
    """
    from mapping.thematic import exposure_map

    t0 = time.perf_counter()
    src = _source(gpkg, city)
    fig = exposure_map(src, kind, cell_km=cell_km)
    _save(fig, out, dpi, f"exposure:{kind}", t0, as_json)


@map_group.command("capacity")
@GPKG_OPTION
@click.option("--indicator", default="shelter_per_1000", show_default=True,
              type=click.Choice(["shelter_per_1000", "staff_per_10000", "rescue_per_1000", "capacity_index"]),
              help="减灾能力指标（capacity_index 需先做风险评估）/ capacity indicator "
                   "(capacity_index needs the risk run).")
@OUT_OPTION
@CITY_OPTION
@DPI_OPTION
@JSON_OPTION
@handle_errors
def capacity_cmd(gpkg: str, indicator: str, out: str, city: str | None, dpi: int, as_json: bool) -> None:
    """乡镇综合减灾能力图 / Township disaster-reduction capacity map.

    \b
    Example:
      census map capacity --gpkg county.gpkg --indicator shelter_per_1000 --out shelters.png
    """
    from mapping.thematic import capacity_map

    t0 = time.perf_counter()
    src = _source(gpkg, city)
    fig = capacity_map(src, indicator)
    _save(fig, out, dpi, f"capacity:{indicator}", t0, as_json)


@map_group.command("dangers")
@GPKG_OPTION
@OUT_OPTION
@click.option("--top", default=10, show_default=True, type=click.IntRange(0, 100),
              help="标注名称的前 N 位隐患 / label the top N sites with rank and name.")
@click.option("--numbered", default=20, show_default=True, type=click.IntRange(0, 500),
              help="标注排序号的前 N 位隐患（报告整治清单为前 20 位）/ label sites down to this rank with their rank "
                   "(the report's list has 20).")
@CITY_OPTION
@DPI_OPTION
@JSON_OPTION
@handle_errors
def dangers_cmd(gpkg: str, out: str, top: int, numbered: int, city: str | None, dpi: int, as_json: bool) -> None:
    """重点隐患分布与整治优先级图（需先运行 census risk dangers）/ Hidden dangers by remediation priority.

    Threat zones filled by the priority of their site, site symbols by kind (shape) and priority (colour,
    size), the top sites labelled with their county rank and name, houses as grey dots. Needs the layers
    of `census risk dangers`; without them exits 1 and says what to run.

    \b
    Example:
      census map dangers --gpkg county.gpkg --out dangers.png
      census map dangers --gpkg county.gpkg --top 15 --out dangers.pdf
    """
    from mapping.dangers import danger_map

    t0 = time.perf_counter()
    src = _source(gpkg, city)
    fig = danger_map(src, top=top, numbered=max(numbered, top))
    _save(fig, out, dpi, "dangers", t0, as_json)


@map_group.command("history")
@GPKG_OPTION
@OUT_OPTION
@CITY_OPTION
@DPI_OPTION
@JSON_OPTION
@handle_errors
def history_cmd(gpkg: str, out: str, city: str | None, dpi: int, as_json: bool) -> None:
    """最大历史灾害事件与模型—记录对比图（需先运行 census risk history）/ Largest historical events and the
    townships where modelled and recorded losses disagree.

    Townships filled by the loss of the largest listed event that struck them (2020 prices), events
    labelled with rank, name and loss; townships whose modelled expected annual loss and recorded annual
    mean differ tenfold or more are hatched (purple: model higher; teal: record higher). Needs the layers
    of `census risk history`; without them exits 1 and says what to run.

    \b
    Example:
      census map history --gpkg county.gpkg --out history.png
      census map history --gpkg county.gpkg --out history.pdf --json
    """
    from mapping.history_maps import history_map

    t0 = time.perf_counter()
    src = _source(gpkg, city)
    fig = history_map(src)
    _save(fig, out, dpi, "history", t0, as_json)
