"""A county and its city, built once per session and copied for each test."""

import pytest

from tests.city import kit_city


@pytest.fixture(scope="session")
def site_template(tmp_path_factory):
    return kit_city.make_template(tmp_path_factory.mktemp("city_template"))


@pytest.fixture
def site(site_template, tmp_path):
    return kit_city.copy_site(site_template, tmp_path / "site")
