"""A pristine county geodatabase built once per session and copied for each test — on both backends.

Every test that takes ``county`` runs twice: on a GeoPackage (``county`` is its Path) and on PostGIS
(``county`` is a ``postgresql://`` URL of a database made from a template database). The behaviour
asked of the two is the same; the few places where a test must reach behind the tool (tampering) go
through :mod:`tests.sync.kit` helpers that know both.
"""

import uuid

import pytest

from tests.sync import kit

BACKENDS = ("gpkg", "postgis")


@pytest.fixture(scope="session")
def county_template(tmp_path_factory):
    return kit.init_county(tmp_path_factory.mktemp("county_template"))


@pytest.fixture(scope="session")
def pg_county_template(tmp_path_factory, pg_server):
    import psycopg

    name = "census_tpl_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE census_test_template')
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    kit.init_county(tmp_path_factory.mktemp("pg_county_template"), url=url)
    yield url
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def county(backend, request, tmp_path):
    if backend == "gpkg":
        yield kit.copy_county(request.getfixturevalue("county_template"), tmp_path / "county")
        return
    pg_server = request.getfixturevalue("pg_server")
    url = pg_server.rsplit("/", 1)[0] + "/census_t_" + uuid.uuid4().hex[:12]
    yield kit.copy_county(request.getfixturevalue("pg_county_template"), tmp_path / "county", url=url)
    import psycopg
    with psycopg.connect(pg_server, autocommit=True) as conn:
        for u in [url, *kit.CLONES]:
            conn.execute(f'DROP DATABASE IF EXISTS "{u.rsplit("/", 1)[1]}" WITH (FORCE)')
    kit.CLONES.clear()
