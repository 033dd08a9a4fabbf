"""Return packages: build/open round trip and every way a package must be refused.

Each refusal asserts a clear zh/en reason naming the file, a quarantined copy with its reason, a ledger
row, county tables byte-for-byte unchanged, and `verify` still clean (see ``kit.assert_rejected``).
"""

import json
import os
import zipfile

import pytest

from sync import keys as K
from sync.formats import MAX_ENTRIES, MAX_PACKAGE_BYTES
from sync.package import PackageError, build_package, make_enrolment
from sync.zipfmt import write_zip
from tests.sync import kit


SECRET_SITE = "C1-confidential-site-7f3a9c"


def test_round_trip_plain_and_encrypted(county, tmp_path):
    dev = kit.enrol(county)
    dev.houses(3)
    forms = kit.forms()
    if "chemical_danger_site" in forms:
        # a marker long enough that random ciphertext cannot contain it by chance ("C1" did, about 1 run in 200)
        dev.revise({"site_id": SECRET_SITE}, form_id="chemical_danger_site", form_version=forms["chemical_danger_site"].version)
    path = dev.export(tmp_path / "out")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[:2] == ["manifest.json", "manifest.sig"]
        if "chemical_danger_site" in forms:
            assert "data/chemical_danger_site.jsonl.enc" in names
            assert SECRET_SITE.encode() not in zf.read("data/chemical_danger_site.jsonl.enc")
    [res] = kit.import_(county, [path])
    assert res.outcome == "accepted" and res.stored == len(dev.revisions)
    # the county stored the confidential revision decrypted, verbatim
    if "chemical_danger_site" in forms:
        (content,) = kit.rows(county, "SELECT content FROM census_revisions WHERE form_id='chemical_danger_site'")[0]
        assert f'"site_id":"{SECRET_SITE}"' in content


def test_builder_refuses_drafts_and_other_townships(county, tmp_path):
    dev = kit.enrol(county)
    rev = dev.houses(1)[0]
    with pytest.raises(PackageError):
        build_package([{**rev, "status": "draft"}], enrolment=dev.enrolment, sequence=1, out_dir=tmp_path,
                      forms=kit.forms())
    with pytest.raises(PackageError):
        build_package([{**rev, "township": kit.T2}], enrolment=dev.enrolment, sequence=1, out_dir=tmp_path,
                      forms=kit.forms())


def test_one_flipped_byte_rejected_every_time(county, tmp_path):
    """Flip one byte (all bits, one bit low, one bit high) at 120 offsets spread over the whole file,
    including every header: each time the package is refused and nothing changes."""
    dev = kit.enrol(county)
    dev.houses(4)
    path = dev.export(tmp_path / "out")
    data = path.read_bytes()
    offsets = sorted(set(list(range(0, 64)) + list(range(len(data) - 120, len(data)))
                         + [int(i * (len(data) - 1) / 40) for i in range(41)]))
    assert len(offsets) >= 120
    before = kit.checksums(county)
    flipped = tmp_path / "flipped" / path.name
    flipped.parent.mkdir()
    for i, off in enumerate(offsets):
        mask = (0xFF, 0x01, 0x80)[i % 3]
        b = bytearray(data)
        b[off] ^= mask
        flipped.write_bytes(bytes(b))
        [res] = kit.import_(county, [flipped])
        assert res.outcome == "rejected", f"offset {off} mask {mask:#x} accepted"
        assert kit.has_cjk(res.message_zh) and res.message_en
    assert kit.checksums(county) == before
    assert all(r["outcome"] == "rejected" for r in kit.ledger(county))
    # and the intact package still goes in
    assert kit.import_(county, [path])[0].outcome == "accepted"


def test_wrong_device_or_county_rejected(county, tmp_path):
    dev = kit.enrol(county, kit.T1)
    dev.houses(2)
    # 1. a device enrolled for township T1 claiming township T2
    other_town = {**dev.enrolment, "township": kit.T2}
    revs = [{**r, "township": kit.T2} for r in dev.revisions]
    p1 = build_package(revs, enrolment=other_town, sequence=1, out_dir=tmp_path / "a", forms=kit.forms())
    res = kit.assert_rejected(county, p1, "wrong_township")
    assert kit.T1 in res.message_zh and kit.T2 in res.message_en
    # 2. a device enrolled by another county office (same county code, other keys)
    stranger_keys = K.generate_county_keys(kit.COUNTY)
    enr, _ = make_enrolment(stranger_keys, county_name="兴城市", township=kit.T1, township_name="x", enumerator="李四")
    p2 = build_package(dev.revisions, enrolment=enr.to_dict(), sequence=1, out_dir=tmp_path / "b",
                       forms=kit.forms())
    kit.assert_rejected(county, p2, "unknown_device")
    # 3. a package of another county altogether
    other_keys = K.generate_county_keys("211402")
    enr3, _ = make_enrolment(other_keys, county_name="连山区", township="211402001", township_name="x", enumerator="王五")
    revs3 = [{**r, "township": "211402001"} for r in dev.revisions]
    p3 = build_package(revs3, enrolment=enr3.to_dict(), sequence=1, out_dir=tmp_path / "c", forms=kit.forms())
    res = kit.assert_rejected(county, p3, "wrong_county")
    assert "211402" in res.message_zh
    # 4. a revoked device
    from geodb.target import open_county
    with open_county(county) as db, db.transaction():
        assert db.revoke_device(dev.device_id, "2021-06-01T00:00:00+00:00")
    p4 = dev.export(tmp_path / "d")
    kit.assert_rejected(county, p4, "revoked_device")
    # 5. the right device but signed with another key
    forged = kit.forge_package(tmp_path / "e", dev.enrolment, {"data/rural_house.jsonl": kit.jsonl(dev.revisions)},
                               sign_with=K.new_device_keypair()[0])
    kit.assert_rejected(county, forged, "bad_signature")


def test_encrypted_package_without_county_key(county, tmp_path):
    forms = kit.forms()
    if "chemical_danger_site" not in forms:
        pytest.fail("the confidential form chemical_danger_site is needed for this test")
    dev = kit.enrol(county)
    dev.revise({"site_id": "C1"}, form_id="chemical_danger_site", form_version=forms["chemical_danger_site"].version)
    path = dev.export(tmp_path / "out")
    keys_file = kit.keys_file(county)
    # 1. the county key file is not there (e.g. the package is opened on another PC)
    hidden = keys_file.with_name("hidden.keys.json")
    os.replace(keys_file, hidden)
    res = kit.assert_rejected(county, path, "no_county_key")
    assert "私钥" in res.message_zh and "private key" in res.message_en
    # 2. a key of the same county code that is not this county's key
    impostor = K.save_county_keys(K.generate_county_keys(kit.COUNTY), tmp_path / "impostor.keys.json")
    res = kit.assert_rejected(county, path, "decrypt", keys_path=impostor)
    os.replace(hidden, keys_file)
    assert kit.import_(county, [path])[0].outcome == "accepted"


@pytest.mark.parametrize("evil", ["../../evil.jsonl", "data/../../evil.jsonl", "/tmp/evil.jsonl",
                                  "data\\..\\evil.jsonl", "C:/evil.jsonl"])
def test_zip_slip(county, tmp_path, evil):
    dev = kit.enrol(county)
    dev.houses(1)
    good = dev.export(tmp_path / "good")
    with zipfile.ZipFile(good) as zf:
        members = [(n, zf.read(n)) for n in zf.namelist()]
    path = tmp_path / "slip" / good.name
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in members:
            zf.writestr(n, b)
        zf.writestr(evil, b'{"x": 1}\n')
    res = kit.assert_rejected(county, path, "zip_slip")
    assert "包外" in res.message_zh and "outside" in res.message_en
    assert not (tmp_path / "evil.jsonl").exists() and not (kit.side(county).parent / "evil.jsonl").exists()


def test_oversized_package(county, tmp_path):
    dev = kit.enrol(county)
    dev.houses(1)
    # 1. a file above 256 MiB (sparse: costs no disk)
    big = tmp_path / "big" / "211481_211481100_aaaaaaaa_000001.censuspkg"
    big.parent.mkdir()
    with open(big, "wb") as fh:
        fh.truncate(MAX_PACKAGE_BYTES + 1)
    res = kit.assert_rejected(county, big, "too_large")
    assert "256" in res.message_zh
    # 2. too many entries
    many = tmp_path / "many" / "211481_211481100_aaaaaaaa_000002.censuspkg"
    many.parent.mkdir()
    many.write_bytes(write_zip([(f"data/f{i}.jsonl", b"{}\n") for i in range(MAX_ENTRIES + 1)]))
    kit.assert_rejected(county, many, "too_many_entries")
    # 3. a zip bomb: a small entry that inflates 1000-fold
    bomb = tmp_path / "bomb" / "211481_211481100_aaaaaaaa_000003.censuspkg"
    bomb.parent.mkdir()
    bomb.write_bytes(write_zip([("manifest.json", b"{}"), ("manifest.sig", b"x"),
                                ("data/rural_house.jsonl", b" " * 5_000_000)], deflate=True))
    kit.assert_rejected(county, bomb, "zip_bomb")


@pytest.mark.parametrize("keep", [0, 10, 21, 100, 0.5, -22, -1])
def test_truncated_package(county, tmp_path, keep):
    dev = kit.enrol(county)
    dev.houses(3)
    path = dev.export(tmp_path / "out")
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else (keep if keep >= 0 else len(data) + keep)
    t = tmp_path / "cut" / path.name
    t.parent.mkdir()
    t.write_bytes(data[:cut])
    res = kit.assert_rejected(county, t, ("truncated", "not_canonical", "corrupt"))
    assert "截断" in res.message_zh or "改动" in res.message_zh or "损坏" in res.message_zh


def test_lone_surrogate_escape_rejected_by_line(county, tmp_path):
    """JSON may escape a lone UTF-16 surrogate ("\\ud800"); no UTF-8 text column can hold it. It used to
    abort the whole import group with a UnicodeEncodeError while writing the layer; now the package is
    refused naming the line, and a proper pair (one emoji) still goes in."""
    dev = kit.enrol(county)
    revs = dev.houses(3)
    revs[1]["data"]["owner_name"] = "王\ud800五"
    body = ("\n".join(json.dumps(r, ensure_ascii=True, sort_keys=True, separators=(",", ":")) for r in revs)
            + "\n").encode("ascii")
    assert b"\\ud800" in body
    path = kit.forge_package(tmp_path / "a", dev.enrolment, {"data/rural_house.jsonl": body})
    res = kit.assert_rejected(county, path, "bad_text")
    assert "第 2 行" in res.message_zh and "line 2" in res.message_en
    # a surrogate pair is one character (😀): accepted, stored as that character
    revs[1]["data"]["owner_name"] = "王\U0001F600五"
    body = ("\n".join(json.dumps(r, ensure_ascii=True, sort_keys=True, separators=(",", ":")) for r in revs)
            + "\n").encode("ascii")
    assert b"\\ud83d\\ude00" in body
    path = kit.forge_package(tmp_path / "b", dev.enrolment, {"data/rural_house.jsonl": body})
    [res] = kit.import_(county, [path])
    assert res.outcome == "accepted", res.line()
    assert ("王\U0001F600五",) in kit.rows(county, "SELECT owner_name FROM rural_house")


def test_lone_surrogate_in_the_manifest_rejected(county, tmp_path):
    dev = kit.enrol(county)
    revs = dev.houses(1)
    path = kit.forge_package(tmp_path / "a", dev.enrolment, {"data/rural_house.jsonl": kit.jsonl(revs)})
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    m = json.loads(entries["manifest.json"])
    m["enumerator"] = "张\udfff"
    mbytes = json.dumps(m, ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode("ascii")
    sig = K.sign(dev.enrolment["device_private_key"], mbytes)
    path.write_bytes(write_zip([("manifest.json", mbytes), ("manifest.sig", sig.encode()),
                                ("data/rural_house.jsonl", entries["data/rural_house.jsonl"])]))
    res = kit.assert_rejected(county, path, "bad_text")
    assert "manifest.json" in res.message_en


def test_malformed_json(county, tmp_path):
    dev = kit.enrol(county)
    revs = dev.houses(3)
    good = kit.jsonl(revs)
    lines = good.split(b"\n")
    # 1. a line that is not JSON at all, signed by the right device: the line number is named
    broken = b"\n".join([lines[0], lines[1][:-20], lines[2]]) + b"\n"
    p1 = kit.forge_package(tmp_path / "a", dev.enrolment, {"data/rural_house.jsonl": broken})
    res = kit.assert_rejected(county, p1, "malformed_json")
    assert "第 2 行" in res.message_zh and "line 2" in res.message_en
    # 2. a line that is JSON but not a revision
    p2 = kit.forge_package(tmp_path / "b", dev.enrolment, {"data/rural_house.jsonl": lines[0] + b"\n[1,2]\n"})
    kit.assert_rejected(county, p2, "bad_revision")
    # 3. the manifest itself is not JSON (but correctly signed)
    from sync.zipfmt import write_zip as wz
    sig = K.sign(dev.enrolment["device_private_key"], b"{not json")
    p3 = tmp_path / "c" / "211481_211481100_aaaaaaaa_000009.censuspkg"
    p3.parent.mkdir()
    p3.write_bytes(wz([("manifest.json", b"{not json"), ("manifest.sig", sig.encode())]))
    kit.assert_rejected(county, p3, "malformed_json")
    # 4. counts that disagree with the file
    p4 = kit.forge_package(tmp_path / "d", dev.enrolment, {"data/rural_house.jsonl": good},
                           counts={"rural_house": 2})
    kit.assert_rejected(county, p4, "count_mismatch")
    # 5. an unknown schema version
    p5 = kit.forge_package(tmp_path / "e", dev.enrolment, {"data/rural_house.jsonl": good},
                           manifest={"schema_versions": {"rural_house": "1999.9"}})
    res = kit.assert_rejected(county, p5, "schema_version")
    assert "1999.9" in res.message_zh
