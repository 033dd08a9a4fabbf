"""A data file is read in one of two ways: all lines at once when every line is plain (the fast way),
or line by line (the checked way, which names the first bad line). Both must give the same revisions and
bytes; anything the fast way cannot read exactly goes the checked way."""

import json

import pytest

from sync import keys as K
from sync import package as P
from sync.package import DeviceInfo, open_package
from tests.sync import kit


def _open(county, path, enr):
    keys = K.load_county_keys(kit.keys_file(county))
    dev = DeviceInfo(enr["device_id"], enr["county"], enr["township"], enr["enumerator"], enr["device_public_key"])
    return open_package(path, county_keys=keys, devices={dev.device_id: dev}, forms=kit.forms())


def _both_ways(county, path, enr, monkeypatch):
    calls = []
    checked = P._file_revisions_checked
    monkeypatch.setattr(P, "_file_revisions_checked", lambda *a: calls.append(1) or checked(*a))
    fast = _open(county, path, enr)
    took_checked = bool(calls)
    monkeypatch.setattr(P, "_file_revisions_fast", lambda *a: None)
    slow = _open(county, path, enr)
    assert [r.to_dict() for r in fast.revisions] == [r.to_dict() for r in slow.revisions]
    assert json.dumps([r.to_dict() for r in fast.revisions]) == json.dumps([r.to_dict() for r in slow.revisions])
    assert fast.raw_bytes == slow.raw_bytes
    return fast, took_checked


@pytest.fixture
def gpkg_county(county_template, tmp_path):
    return kit.copy_county(county_template, tmp_path / "county")


def test_plain_file_read_the_fast_way_gives_the_checked_result(gpkg_county, tmp_path, monkeypatch):
    dev = kit.enrol(gpkg_county)
    dev.houses(40)
    path = dev.export(tmp_path / "out")
    opened, took_checked = _both_ways(gpkg_county, path, dev.enrolment, monkeypatch)
    assert not took_checked and len(opened.revisions) == 40


@pytest.mark.parametrize("value, checked", [(12345678901234567890123, True), (-9223372036854775809, True),
                                            (2 ** 53 + 1, False), ("\U0001F600", False)])
def test_values_the_fast_reader_cannot_hold_exactly_go_the_checked_way(gpkg_county, tmp_path, monkeypatch, value,
                                                                      checked):
    """Integers beyond 64 bits (orjson would make them floats) go the checked way; a 62-bit integer and a
    character written as a pair of \\u escapes are read the fast way. Either way the values are the same."""
    dev = kit.enrol(gpkg_county)
    dev.houses(5)
    dev.revisions[2]["data"]["note"] = value
    # written by hand, every character above ASCII escaped
    body = ("\n".join(json.dumps(r, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
                       for r in dev.revisions) + "\n").encode("ascii")
    path = kit.forge_package(tmp_path / "out", dev.enrolment, {"data/rural_house.jsonl": body})
    opened, took_checked = _both_ways(gpkg_county, path, dev.enrolment, monkeypatch)
    assert took_checked == checked
    got = opened.revisions[2].data["note"]
    assert got == value and type(got) is type(value)


def test_a_bad_line_is_named_after_good_ones(gpkg_county, tmp_path):
    """The fast way gives up on the whole file; the checked way names the line."""
    dev = kit.enrol(gpkg_county)
    dev.houses(3)
    lines = kit.jsonl(dev.revisions).split(b"\n")
    lines[1] = lines[1].replace(b'"floors":', b'"floors":NaN,"x":', 1)
    path = kit.forge_package(tmp_path / "out", dev.enrolment, {"data/rural_house.jsonl": b"\n".join(lines)})
    with pytest.raises(P.PackageRejected) as e:
        _open(gpkg_county, path, dev.enrolment)
    assert e.value.reason == "malformed_json" and "line 2" in e.value.message_en and "第 2 行" in e.value.message_zh
