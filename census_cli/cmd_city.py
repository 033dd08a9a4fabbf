"""`census city …` and the county's upward commands: bulk approval and reporting to the city (逐级上报).

Thin shells over :mod:`sync.approval`, :mod:`sync.upward`, :mod:`sync.city`, :mod:`sync.city_import`,
:mod:`hazards.mosaic`, :mod:`risk.city`, :mod:`mapping.city` and :mod:`mapping.city_report`. Objects to register:
``city`` (a group, in ``census_cli.main``), ``approve`` and ``export_approved`` (commands of ``census county``).
"""

from __future__ import annotations

from pathlib import Path

import click

from .common import (
    need,
    report_verification,
    EXIT_PARTIAL,
    CommandFailed,
    callback_progress,
    echo_err,
    emit_json,
    handle_errors,
    progress,
)

CITY_GPKG = click.option("--gpkg", "gpkg", required=True, type=click.Path(dir_okay=False),
                         help="市级地理数据库 / the city GeoPackage (CITY.gpkg).")
COUNTY_GPKG = click.option("--gpkg", "gpkg", required=True, type=click.Path(dir_okay=False),
                           help="县级地理数据库 / the county GeoPackage (COUNTY.gpkg).")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="只输出 JSON / machine-readable output.")


_need = need


# ---------------------------------------------------------------------------------------------------
# county side: `census county approve`, `census county export-approved`

@click.command("approve")
@COUNTY_GPKG
@click.option("--township", default=None, help="只审核该乡镇 / only this township (9 digits).")
@click.option("--form", "form_id", default=None, help="只审核该表单 / only this form, e.g. rural_house.")
@click.option("--note", default=None, help="审核意见（写入审计日志）/ reviewer's note for the audit log.")
@JSON_OPTION
@handle_errors
def approve(gpkg: str, township: str | None, form_id: str | None, note: str | None, as_json: bool) -> None:
    """批量审核通过 / Approve every valid, conflict-free record at once (one transaction, one audit row).

    Records with issues, in conflict, rejected or already approved are left as they are and counted.

    \b
    Example:
      census county approve --gpkg county.gpkg
      census county approve --gpkg county.gpkg --township 211481100 --form rural_house
    """
    from sync.approval import approve_records

    _need(gpkg)
    r = approve_records(gpkg, township=township, form=form_id, note=note)
    if as_json:
        emit_json(r.as_dict())
    else:
        click.echo(r.line())


@click.command("export-approved")
@COUNTY_GPKG
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="输出目录 / output folder.")
@click.option("--city-enrolment", default=None, type=click.Path(dir_okay=False),
              help="市级登记文件（首次上报时需要）/ the city's enrolment of this county (needed once).")
@click.option("--receipt", default=None, type=click.Path(dir_okay=False),
              help="市级回执：已确认的记录不再重复上报 / the city's receipt; what it holds is left out.")
@JSON_OPTION
@handle_errors
def export_approved(gpkg: str, out_dir: str, city_enrolment: str | None, receipt: str | None, as_json: bool) -> None:
    """导出上报市级的数据包 / Write the county's next signed upward package: approved records only.

    It carries each approved record's current version, the county's divisions and its ledger summary
    (packages, counts per township and form, completeness, audit head). Prints the package path.

    \b
    Example:
      census county export-approved --gpkg county.gpkg --out usb/ --city-enrolment 211481_city_enrolment.json
      census county export-approved --gpkg county.gpkg --out usb/ --receipt receipt_211481_000001.json
    """
    from sync.upward import export_approved as _export

    _need(gpkg)
    for p in (city_enrolment, receipt):
        if p:
            _need(p)
    r = _export(gpkg, out_dir, city_enrolment=city_enrolment, receipt=receipt)
    if as_json:
        emit_json(r.as_dict())
        return
    click.echo(str(r.path))
    echo_err(r.line())


# ---------------------------------------------------------------------------------------------------
# city side

@click.group("city")
def city() -> None:
    """市级普查地理数据库：汇总各县上报数据、评估与区划 / The city office: county returns, assessment, maps.

    \b
    Example:
      census city init --gpkg city.gpkg --city 2114 --sample-root counties/
      census city enrol-county --gpkg city.gpkg --county-keys 211481.gpkg.keys.json
      census city import --gpkg city.gpkg usb/*.censusup
      census city status --gpkg city.gpkg
      census city report --gpkg city.gpkg --out city_report.pdf
      census city demo --out city_demo --buildings 300
    """


@city.command("init")
@CITY_GPKG
@click.option("--city", "city_code", required=True, help="市级代码 / city code: 2114 or 211400.")
@click.option("--sample-root", type=click.Path(file_okay=False), default=None,
              help="各县样例目录的上级目录（含 */sample.gpkg）/ folder holding the counties' sample folders.")
@click.option("--boundaries", type=click.Path(dir_okay=False), default=None,
              help="区划边界文件（6/9/12 位代码）/ division boundaries with 6-, 9- and 12-digit codes.")
@click.option("--name", "city_name", default=None, help="市名 / city name override.")
@JSON_OPTION
@handle_errors
def init_cmd(gpkg: str, city_code: str, sample_root: str | None, boundaries: str | None, city_name: str | None,
             as_json: bool) -> None:
    """创建市级地理数据库与市级密钥 / Create the city GeoPackage (all counties' divisions) and the city's keys.

    \b
    Example:
      census city init --gpkg city.gpkg --city 2114 --sample-root counties/
      census city init --gpkg city.gpkg --city 211400 --boundaries huludao_divisions.geojson
    """
    from sync.city import init_city

    for p in (sample_root, boundaries):
        if p is not None:
            _need(p)
    if (sample_root is None) == (boundaries is None):
        raise CommandFailed("请给出 --sample-root 或 --boundaries 之一", "give exactly one of --sample-root or --boundaries", 2)
    r = init_city(gpkg, city=city_code, sample_root=sample_root, boundaries=boundaries, city_name=city_name)
    if as_json:
        emit_json(r.as_dict())
        return
    click.echo(f"已创建 {r.gpkg}：{r.city} {r.city_name}，县级行政区 {r.counties} 个，乡镇 {r.townships} 个，村 {r.villages} 个，"
               f"表单 {r.forms} 张 / created {r.gpkg}")
    click.echo(f"市级私钥 / city private keys: {r.keys_path}")


@city.command("enrol-county")
@CITY_GPKG
@click.option("--county-keys", required=True, type=click.Path(dir_okay=False),
              help="县级密钥文件 COUNTY.gpkg.keys.json（只读取公钥）或县级公钥文件 / the county's key or public-key file.")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="市级登记文件（交给县普查办）/ the enrolment file for the county (default: enrolments/ beside the gpkg).")
@JSON_OPTION
@handle_errors
def enrol_county_cmd(gpkg: str, county_keys: str, out: str | None, as_json: bool) -> None:
    """登记一个县：记录其签名公钥，签发市级登记文件 / Register a county's signing key; write its city enrolment.

    \b
    Example:
      census city enrol-county --gpkg city.gpkg --county-keys 211481.gpkg.keys.json
    """
    from sync.city import enrol_county

    _need(gpkg)
    _need(county_keys)
    doc, path = enrol_county(gpkg, county_keys, out=out)
    if as_json:
        emit_json({"county": doc["county"], "county_name": doc["county_name"], "file": str(path)})
        return
    click.echo(str(path))
    echo_err(f"已登记县 {doc['county']} {doc['county_name']}；请把登记文件交给县普查办 / county enrolled; "
             f"hand the file to the county office")


@city.command("import")
@CITY_GPKG
@click.argument("packages", nargs=-1, required=True, type=click.Path(dir_okay=False))
@JSON_OPTION
@handle_errors
def import_cmd(gpkg: str, packages: tuple[str, ...], as_json: bool) -> None:
    """导入各县上报包 / Import the counties' upward packages; each applies atomically or not at all.

    One line per package; exit 0 when all were accepted (a duplicate counts as accepted), 3 when some
    were rejected (copied to quarantine/ with a .reason.txt). Receipts for the counties go to receipts/.

    \b
    Example:
      census city import --gpkg city.gpkg usb/*.censusup
    """
    from sync.city_import import import_upward

    _need(gpkg)
    with progress("导入上报包 / importing", total=len(packages)) as advance:
        results, receipts = import_upward(gpkg, list(packages), progress=callback_progress(advance))
    rejected = [r for r in results if r.outcome == "rejected"]
    if as_json:
        emit_json({"packages": [r.as_dict() for r in results], "receipts": [str(p) for p in receipts],
                   "accepted": sum(r.outcome == "accepted" for r in results),
                   "duplicates": sum(r.outcome == "duplicate" for r in results), "rejected": len(rejected)})
    else:
        for r in results:
            click.echo(r.line())
        for p in receipts:
            echo_err(f"回执/receipt: {p}")
    if rejected:
        raise SystemExit(EXIT_PARTIAL)


def _pct(v) -> str:
    return "-" if v is None else f"{v:.1f}%"


@city.command("status")
@CITY_GPKG
@JSON_OPTION
@handle_errors
def status_cmd(gpkg: str, as_json: bool) -> None:
    """各县上报进度 / Per county: completeness and approval (from its ledger summary), last package, townships.

    \b
    Example:
      census city status --gpkg city.gpkg
      census city status --gpkg city.gpkg --json
    """
    from sync.city import city_status

    _need(gpkg)
    rep = city_status(gpkg)
    if as_json:
        emit_json(rep)
        return
    click.echo(f"{rep['city']} {rep['city_name']}")
    click.echo(f"{'县/county':<16}{'登记':>4}{'包':>4}{'完成度':>9}{'审核通过':>16}{'通过率':>9}{'乡镇报送':>10}"
               f"{'市级记录':>9}{'冲突':>5}  最后上报/last package")
    for r in rep["counties"]:
        appr = f"{r['records_approved'] or 0}/{r['records_total'] or 0}"
        towns = f"{r['townships_reporting']}/{r['townships_total']}"
        last = f"#{r['last_sequence']} {r['last_received']}" if r["last_sequence"] else "-"
        click.echo(f"{r['county']} {r['name'][:5]:<9}{'是' if r['enrolled'] else '否':>4}{r['packages_accepted']:>4}"
                   f"{_pct(r['completeness_pct']):>9}{appr:>16}{_pct(r['approval_pct']):>9}{towns:>10}"
                   f"{r['records_at_city']:>9}{r['conflicts_at_city']:>5}  {last}")


@city.command("verify")
@CITY_GPKG
@JSON_OPTION
@handle_errors
def verify_cmd(gpkg: str, as_json: bool) -> None:
    """核验市级审计链与上报包台账 / Recompute the city's audit chain and check the ledger. Exit 0 or 1.

    \b
    Example:
      census city verify --gpkg city.gpkg
    """
    from sync.city import verify_city

    _need(gpkg)
    report_verification(verify_city(gpkg), as_json, packages_zh="上报包")


def sources_from_samples(sample_root: Path, city_gpkg: Path | None = None):
    """A mosaic source per ``…/sample/hazards`` folder under ``sample_root`` (county from its manifest),
    owning its county's polygon (from the city GeoPackage's ``counties`` layer, else the sample's)."""
    import json

    import pyogrio
    import shapely

    from hazards.mosaic import MosaicSource

    polys = {}
    if city_gpkg is not None:
        c = pyogrio.read_dataframe(city_gpkg, layer="counties")
        polys = {str(k): g for k, g in zip(c["code"], c.geometry)}
    out = []
    for manifest in sorted(Path(sample_root).rglob("manifest.json")):
        hz = manifest.parent / "hazards"
        if not hz.is_dir():
            continue
        code = str(json.loads(manifest.read_text(encoding="utf-8"))["county"]["adcode"])
        area = polys.get(code)
        if area is None and (manifest.parent / "sample.gpkg").is_file():
            area = shapely.union_all(pyogrio.read_dataframe(manifest.parent / "sample.gpkg", layer="county").geometry.values)
        out.append(MosaicSource(hz, area, code))
    return out


@city.command("mosaic")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="输出目录 / output folder.")
@click.option("--sample-root", type=click.Path(file_okay=False), default=None,
              help="各县样例目录的上级目录（*/hazards 与 manifest.json）/ folder of the counties' sample folders.")
@click.option("--source", "sources", type=(str, click.Path(file_okay=False)), multiple=True,
              help="县级代码与其致灾因子目录（可重复）/ a county code and its hazards folder (repeatable).")
@click.option("--gpkg", "gpkg", default=None, type=click.Path(dir_okay=False),
              help="市级地理数据库：各县边界决定像元归属 / the city GeoPackage: county polygons own their pixels.")
@click.option("--resolution", type=float, default=None, help="像元大小（度，默认取最细）/ pixel size in degrees.")
@JSON_OPTION
@handle_errors
def mosaic_cmd(out_dir: str, sample_root: str | None, sources: tuple, gpkg: str | None, resolution: float | None,
               as_json: bool) -> None:
    """拼接各县致灾因子图层为全市图层 / Merge the counties' hazard GeoTIFFs into city-wide ones.

    \b
    Example:
      census city mosaic --out city_hazards --sample-root counties/ --gpkg city.gpkg
      census city mosaic --out city_hazards --source 211481 xc/hazards --source 211421 sz/hazards
    """
    import pyogrio

    from hazards.mosaic import MosaicSource, mosaic_hazards

    if not sample_root and not sources:
        raise CommandFailed("请给出 --sample-root 或至少一个 --source", "give --sample-root or at least one --source", 2)
    srcs = []
    if sample_root:
        _need(sample_root)
        srcs += sources_from_samples(Path(sample_root), Path(gpkg) if gpkg else None)
    polys = {}
    if gpkg and sources:
        c = pyogrio.read_dataframe(gpkg, layer="counties")
        polys = {str(k): g for k, g in zip(c["code"], c.geometry)}
    for code, d in sources:
        _need(d)
        srcs.append(MosaicSource(Path(d), polys.get(code), code))
    r = mosaic_hazards(srcs, out_dir, resolution=resolution)
    info = {"out": str(r.out_dir), "layers": {k: str(v) for k, v in r.layers.items()}, "rows": r.shape[0],
            "cols": r.shape[1], "resolution": r.resolution, "bounds": r.bounds, "sources": [s.name for s in srcs]}
    if as_json:
        emit_json(info)
        return
    click.echo(f"{r.out_dir}: {len(r.layers)} 个图层 / layers, {r.shape[0]}×{r.shape[1]} @ {r.resolution:g}°, "
               f"{len(srcs)} 个县 / counties")


@city.command("assess")
@CITY_GPKG
@click.option("--hazards", required=True, type=click.Path(file_okay=False),
              help="全市致灾因子图层目录（census city mosaic 的输出）/ city-wide hazard GeoTIFFs.")
@click.option("--grid-m", default=1000.0, show_default=True, type=float, help="格网边长（米）/ grid cell size (m).")
@click.option("--method", default="fixed", show_default=True,
              type=click.Choice(["fixed", "fisher_jenks", "quantiles"]), help="分级方法 / zoning breaks.")
@JSON_OPTION
@handle_errors
def assess_cmd(gpkg: str, hazards: str, grid_m: float, method: str, as_json: bool) -> None:
    """全市一张网评估与区划，汇总到乡镇与县 / Assess the whole city on one grid; aggregate to townships
    and county-level units (risk_counties).

    \b
    Example:
      census city assess --gpkg city.gpkg --hazards city_hazards --grid-m 1000
    """
    from risk.city import assess_city

    _need(gpkg)
    _need(hazards)
    with progress("全市风险评估 / assessing the city", total=7) as advance:
        r = assess_city(gpkg, hazards, grid_m=grid_m, method=method, progress=callback_progress(advance))
    if as_json:
        emit_json(r.to_dict())
        return
    click.echo(r.assessment.summary_zh)
    level_zh = {1: "高", 2: "较高", 3: "中", 4: "较低", 5: "低"}
    for c in r.counties:
        click.echo(f"  {c['county']} {c['name']}：房屋 {c['buildings']}，年期望损失 {c['total_loss'] / 1e4:,.1f} 万元，"
                   f"综合风险 {level_zh.get(c['comprehensive_level'], '-')}（{c['comprehensive_index']:.3f}）")


@city.command("map")
@CITY_GPKG
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="输出文件 / FILE.png or FILE.pdf.")
@click.option("--hazard", default="comprehensive", show_default=True, help="comprehensive 或灾种 / or a hazard id.")
@click.option("--unit", default="grid", show_default=True, type=click.Choice(["grid", "townships", "counties"]),
              help="区划单元 / zoning unit.")
@handle_errors
def map_cmd(gpkg: str, out: str, hazard: str, unit: str) -> None:
    """全市风险区划图 / The city zoning map: all counties zoned, county boundaries and names.

    \b
    Example:
      census city map --gpkg city.gpkg --out city_comprehensive.png
      census city map --gpkg city.gpkg --hazard flood --unit counties --out city_flood.pdf
    """
    from mapping.city import city_zoning_map
    from mapping.layout import save_figure

    _need(gpkg)
    fig = city_zoning_map(gpkg, hazard, unit=unit)
    click.echo(str(save_figure(fig, out)))


@city.command("report")
@CITY_GPKG
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="输出 PDF / output PDF file.")
@click.option("--maps", default=None,
              help="只附这些图（逗号分隔：comprehensive,comprehensive:counties,prevention,灾种ID）/ "
                   "only these maps, comma-separated (a quicker draft).")
@JSON_OPTION
@handle_errors
def report_cmd(gpkg: str, out: str, maps: str | None, as_json: bool) -> None:
    """市级风险普查成果报告（PDF，中文）/ The city's risk census report (Chinese PDF).

    Cover, contents, 概况 (county-level units, townships, buildings, each county's reporting and
    approval status), 综合风险评估结果 (levels per county and hazard, township counts per level,
    expected annual loss per county and township), 重点防治区, the city's zoning maps (comprehensive,
    prevention, each hazard) and the methods with sources and zoning breaks. Run `census city assess` first.

    \b
    Example:
      census city report --gpkg city.gpkg --out city_report.pdf
      census city report --gpkg city.gpkg --out draft.pdf --maps comprehensive,prevention
    """
    from mapping.city_report import make_city_report

    _need(gpkg)
    only = [m.strip() for m in maps.split(",") if m.strip()] if maps else None
    with progress("生成市级报告 / writing the city report", total=None) as advance:
        r = make_city_report(gpkg, out, maps=only, progress=callback_progress(advance))
    if as_json:
        emit_json({"path": str(r.path), "pages": r.pages, "maps": r.maps, "tables": r.tables,
                   "seconds": round(r.seconds, 1)})
        return
    click.echo(f"报告已生成：{r.path}（{r.pages} 页，{r.maps} 幅图，{r.tables} 张表，{r.seconds:.1f} 秒）/ "
               f"report written: {r.path} ({r.pages} pages, {r.maps} maps, {r.tables} tables)")


from .city_demo import demo

city.add_command(demo)

__all__ = ["approve", "city", "export_approved"]
