"""A county and its city, built once per session and copied for each test — on both backends.

``site`` runs each test twice: county and city as GeoPackages, and both on PostGIS (databases made
from template databases). Tests that are about files as such (the GDAL validator, the CLI's file
handling, the demo and the report) ask for ``gpkg_site``.
"""

import uuid

import pytest

from tests.city import kit_city


@pytest.fixture(scope="session")
def site_template(tmp_path_factory):
    return kit_city.make_template(tmp_path_factory.mktemp("city_template"))


@pytest.fixture(scope="session")
def pg_site_template(tmp_path_factory, pg_server):
    import psycopg

    names = ["census_tpl_county_" + uuid.uuid4().hex[:8], "census_tpl_city_" + uuid.uuid4().hex[:8]]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for n in names:
            conn.execute(f'CREATE DATABASE "{n}" TEMPLATE census_test_template')
    base = pg_server.rsplit("/", 1)[0]
    yield kit_city.make_template(tmp_path_factory.mktemp("pg_city_template"),
                                 county_url=f"{base}/{names[0]}", city_url=f"{base}/{names[1]}")
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for n in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')


@pytest.fixture
def gpkg_site(site_template, tmp_path):
    return kit_city.copy_site(site_template, tmp_path / "site")


@pytest.fixture(params=("gpkg", "postgis"))
def site(request, tmp_path):
    if request.param == "gpkg":
        yield kit_city.copy_site(request.getfixturevalue("site_template"), tmp_path / "site")
        return
    import psycopg

    pg_server = request.getfixturevalue("pg_server")
    base = pg_server.rsplit("/", 1)[0]
    urls = [f"{base}/census_t_county_{uuid.uuid4().hex[:10]}", f"{base}/census_t_city_{uuid.uuid4().hex[:10]}"]
    yield kit_city.copy_site(request.getfixturevalue("pg_site_template"), tmp_path / "site",
                             county_url=urls[0], city_url=urls[1])
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for u in urls:
            conn.execute(f'DROP DATABASE IF EXISTS "{u.rsplit("/", 1)[1]}" WITH (FORCE)')
