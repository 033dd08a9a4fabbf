"""`census county migrate` and `census city migrate`: move a GeoPackage geodatabase to a PostGIS server.

Thin shells over :mod:`sync.migrate`. Objects to register (``census_cli.main``): ``county_migrate`` in the
``county`` group and ``city_migrate`` in the ``city`` group, both named ``migrate``.
"""

from __future__ import annotations

import click

from .common import callback_progress, echo_err, emit_json, handle_errors, need, progress

TO_OPTION = click.option("--to", "url", required=True, metavar="URL",
                         help="目标：一个空的 PostgreSQL + PostGIS 数据库 / the target: an empty PostgreSQL + PostGIS "
                              "database, postgresql://user@host:5432/db.")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="只输出 JSON / machine-readable output.")


def _run(fn, gpkg: str, url: str, as_json: bool, kind: str) -> None:
    from geodb.target import is_server

    from .common import EXIT_USAGE, CommandFailed

    if not is_server(url):
        raise CommandFailed(f"--to 应为 PostgreSQL 连接地址（postgresql://用户@主机/数据库），而不是“{url}”",
                            f"--to must be a PostgreSQL URL (postgresql://user@host/db), not '{url}'", EXIT_USAGE)
    need(gpkg)
    with progress("迁移 / migrating", total=None) as advance:
        r = fn(gpkg, url, progress=callback_progress(advance))
    if as_json:
        emit_json(r.as_dict())
        return
    click.echo(r.line())
    for note in r.notes:
        echo_err(f"注意/note: {note}")
    from pathlib import Path

    marker = Path(r.marker).name if r.marker else ""
    echo_err("原 GeoPackage 未改动，可留作备份"
             + (f"（旁边的 {marker} 使它不再被写入）" if marker else "")
             + f"；此后请使用 --gpkg {r.target}（附属文件在 {r.side_folder}）/ "
             f"the GeoPackage was not changed — keep it as a backup"
             + (f" ({marker} beside it stops any further writes to it)" if marker else "")
             + f"; from now on use --gpkg {r.target} (side files in {r.side_folder}). "
             f"Check: census {kind} verify --gpkg {r.target}")


@click.command("migrate")
@click.option("--gpkg", "gpkg", required=True, type=click.Path(dir_okay=False),
              help="要迁移的县级 GeoPackage / the county GeoPackage to move (COUNTY.gpkg).")
@TO_OPTION
@JSON_OPTION
@handle_errors
def county_migrate(gpkg: str, url: str, as_json: bool) -> None:
    """把县级地理数据库迁移到 PostGIS 服务器 / Move the county GeoPackage into an empty PostGIS database.

    Everything moves in one server transaction, nothing altered: every table with its ids, the audit
    chain as it is (plus one "migrate" row naming the file and its SHA-256), every layer with its fids,
    and the side files (keys, received/, quarantine/) into the server database's local folder. The
    GeoPackage is only read. A database that is not empty is refused.

    \b
    Example:
      census county migrate --gpkg county.gpkg --to postgresql://census@dbserver/county_211481
      census county verify --gpkg postgresql://census@dbserver/county_211481
    """
    from sync.migrate import migrate_county

    _run(migrate_county, gpkg, url, as_json, "county")


@click.command("migrate")
@click.option("--gpkg", "gpkg", required=True, type=click.Path(dir_okay=False),
              help="要迁移的市级 GeoPackage / the city GeoPackage to move (CITY.gpkg).")
@TO_OPTION
@JSON_OPTION
@handle_errors
def city_migrate(gpkg: str, url: str, as_json: bool) -> None:
    """把市级地理数据库迁移到 PostGIS 服务器 / Move the city GeoPackage into an empty PostGIS database.

    The same as census county migrate, one level up: every table, layer and audit row, the city's keys,
    received/, quarantine/, receipts/ and enrolments/; one server transaction; the GeoPackage only read.

    \b
    Example:
      census city migrate --gpkg city.gpkg --to postgresql://census@dbserver/city_2114
      census city verify --gpkg postgresql://census@dbserver/city_2114
    """
    from sync.migrate import migrate_city

    _run(migrate_city, gpkg, url, as_json, "city")


__all__ = ["city_migrate", "county_migrate"]
