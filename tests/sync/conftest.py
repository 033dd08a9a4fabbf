"""A pristine county GeoPackage built once per session and copied for each test."""


import pytest

from tests.sync import kit


@pytest.fixture(scope="session")
def county_template(tmp_path_factory):
    return kit.init_county(tmp_path_factory.mktemp("county_template"))


@pytest.fixture
def county(county_template, tmp_path):
    return kit.copy_county(county_template, tmp_path / "county")
