"""Test-wide settings: no display, no interactive plotting backend."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")
# side files of server databases (keys, received packages) go to a scratch folder, never ~/.local
import tempfile  # noqa: E402

os.environ["CENSUS_HOME"] = tempfile.mkdtemp(prefix="census-home-")


# ---------------------------------------------------------------------------------------------------
# PostgreSQL + PostGIS for the PostGIS backend: .ci/run starts a server and sets CENSUS_TEST_PG;
# without it, the first test that asks starts one with scripts/pg_server.py (never skipped: a machine
# without the server programs fails those tests and says what to install).
import subprocess  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

_ROOT = Path(__file__).resolve().parent.parent
PG_TEMPLATE = "census_test_template"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """URL of the test server's maintenance database (``…/postgres``)."""
    url = os.environ.get("CENSUS_TEST_PG")
    if not url:
        out = subprocess.run([sys.executable, str(_ROOT / "scripts" / "pg_server.py"), "start"],
                             check=True, capture_output=True, text=True)
        url = out.stdout.strip().splitlines()[-1]
        os.environ["CENSUS_TEST_PG"] = url
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_TEMPLATE,)).fetchone():
            try:
                conn.execute(f'CREATE DATABASE "{PG_TEMPLATE}"')
            except psycopg.errors.DuplicateDatabase:
                pass
            with psycopg.connect(url.rsplit("/", 1)[0] + "/" + PG_TEMPLATE, autocommit=True) as t:
                t.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def fresh_database(pg_server: str, *, template: str = PG_TEMPLATE, prefix: str = "census_t_"):
    """Create a database on the test server from ``template``, yield its URL, drop it afterwards (a
    generator for fixtures to ``yield from``)."""
    import psycopg
    name = prefix + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield pg_server.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_server: str):
    """A fresh, empty database (PostGIS installed) for one test; dropped afterwards."""
    yield from fresh_database(pg_server)


@pytest.fixture
def pg_url2(pg_server: str):
    """A second one, for tests that need two (a county's beside a city's)."""
    yield from fresh_database(pg_server)


@pytest.fixture
def other_db(pg_server: str):
    """An extra database without PostGIS (created from template0), dropped afterwards."""
    yield from fresh_database(pg_server, template="template0", prefix="census_np_")
