"""Tiny city fixtures built in code on top of tests.sync.kit: county 211481 (two townships) in city 211400.

A session template holds the county GeoPackage, the city GeoPackage (divisions from the county's
sample), both key files and the city's enrolment of the county; each test copies it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.sync import kit

CITY = "211400"
CHEMICAL_SITE = {   # a valid chemical_danger_site record (a confidential form) in township T1
    "site_id": "211481100-SIT47318", "site_name": "园区或企业名称（模拟）", "site_kind": "storage",
    "credit_code": "PX018923TD8R7CKH20", "park_name": "魏珍波", "township_code": "211481100",
    "village_code": "211481100201", "location": {"type": "Point", "coordinates": [120.45, 40.55]},
    "safety_grade": "B", "four_lists": ["hidden_danger_list", "result_list"], "key_hazards": ["none"],
    "distance_compliant": "0", "staff_qualified": "1", "has_discharge_permit": "1", "nearest_residential": 940.76,
    "people_within_1km": 266, "sensitive_targets": ["none"], "safety_issues": ["automation_missing"],
    "environment_issues": ["emissions_exceed"], "danger_count": 279, "major_danger_count": 21, "rectified_count": 0,
    "rectification_progress": "not_started", "disposal": "suspend", "rectification_deadline": "2020-11-17",
    "inspection_date": "2013-11-15", "inspection_unit": "排查单位（模拟）", "contact_person": "丁涛",
    "contact_phone": "13823855659", "remarks": "备注（模拟）"}


@dataclass
class Site:
    county: Path
    city: Path
    enrolment: Path
    tmp: Path

    def up(self, **kw) -> Path:
        """The county's next upward package (the enrolment is passed; it is pinned on first use)."""
        from sync.upward import export_approved

        kw.setdefault("forms", kit.forms())
        kw.setdefault("city_enrolment", self.enrolment)
        return export_approved(self.county, self.tmp / "up", **kw).path

    def city_import(self, paths, **kw):
        from sync.city_import import import_upward

        kw.setdefault("forms", kit.forms())
        return import_upward(self.city, [Path(p) for p in paths], **kw)[0]


def make_template(tmp: Path, *, county_url: str | None = None, city_url: str | None = None) -> Site:
    """The template site: both databases as GeoPackages, or both on PostGIS (``county_url``, ``city_url``)."""
    from sync.city import enrol_county, init_city

    county = kit.init_county(tmp, url=county_url)
    city = city_url or tmp / "city" / "city.gpkg"
    init_city(city, city="2114", sample_root=tmp / "sample", forms=kit.forms())
    _, enrolment = enrol_county(city, kit.keys_file(county))
    return Site(county, city, enrolment, tmp)


def copy_site(t: Site, dest: Path, *, county_url: str | None = None, city_url: str | None = None) -> Site:
    dest.mkdir(parents=True, exist_ok=True)
    county = kit.copy_county(t.county, dest / "county", url=county_url)
    if city_url:
        city = kit.copy_county(t.city, dest / "city", url=city_url)   # a database from the template's
    else:
        (dest / "city").mkdir()
        city = dest / "city" / "city.gpkg"
        shutil.copy(t.city, city)
        shutil.copy(str(t.city) + ".keys.json", str(city) + ".keys.json")
    enrolment = dest / "enrolment.json"
    shutil.copy(t.enrolment, enrolment)
    return Site(county, city, enrolment, dest)


def approved_houses(site: Site, n: int, township: str = kit.T1, enumerator: str = "张三"):
    """A device, ``n`` houses imported into the county and approved; returns (device, revisions)."""
    from sync.approval import approve_records

    dev = kit.enrol(site.county, township, enumerator)
    revs = dev.houses(n)
    [res] = kit.import_(site.county, [dev.export(site.tmp / "pk")])
    assert res.outcome == "accepted", res.line()
    approve_records(site.county)
    return dev, revs


CITY_TABLES = ("census_records", "census_revisions", "census_conflicts", "census_counties", "census_settings",
               "census_layers", "rural_house", "chemical_danger_site", "townships", "villages", "counties", "city")


def city_checksums(city: Path) -> dict[str, str]:
    from geodb.target import open_city

    with open_city(city, readonly=True) as db:
        have = set(db.layer_specs()) | {"census_records", "census_revisions", "census_conflicts", "census_counties",
                                        "census_settings", "census_layers", "townships", "villages", "counties", "city"}
        return db.table_checksums([t for t in CITY_TABLES if t in have])


def city_ledger(city: Path) -> list[dict]:
    from geodb.target import open_city

    with open_city(city, readonly=True) as db:
        return db.ledger()
