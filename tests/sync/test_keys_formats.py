"""Keys, signatures, key wrapping and the shared document formats."""

import json
import os
import stat
import uuid

import pytest

from sync import keys as K
from sync.formats import (Enrolment, FormatError, Manifest, Revision, canonical_json, enrolment_signed_payload,
                          package_filename)
from sync.package import load_enrolment, make_enrolment, make_feedback, verify_enrolment, write_enrolment, write_feedback, load_feedback


def _rev(**kw):
    d = {"record_uuid": str(uuid.uuid4()), "revision_id": str(uuid.uuid4()), "parent_revision_id": None,
         "form_id": "rural_house", "form_version": "2020.1", "township": "211481100", "status": "final",
         "created_at": "2021-06-01T08:00:00+00:00", "created_by": "张三", "device_id": str(uuid.uuid4()),
         "data": {"building_id": "B1"}, "problems": []}
    d.update(kw)
    return d


def test_sign_verify_and_tampered_data_fails():
    priv, pub = K.new_device_keypair()
    sig = K.sign(priv, b"manifest")
    assert K.verify(pub, b"manifest", sig)
    assert not K.verify(pub, b"manifesT", sig)
    assert not K.verify(pub, b"manifest", sig[:-4] + "AAA=")
    assert not K.verify("not base64!", b"manifest", sig)
    assert not K.verify(pub, b"manifest", "@@@")


def test_wrap_unwrap_and_wrong_key_fails():
    county = K.generate_county_keys("211481")
    other = K.generate_county_keys("211481")
    key = K.new_package_key()
    wrap = K.wrap_key(key, county.encrypt_public_b64)
    assert K.unwrap_key(wrap, county.encrypt_private) == key
    with pytest.raises(K.DecryptionError) as e:
        K.unwrap_key(wrap, other.encrypt_private)
    assert "本县" in e.value.message_zh and "county" in e.value.message_en
    blob = K.encrypt(key, b"secret rows")
    assert K.decrypt(key, blob) == b"secret rows"
    with pytest.raises(K.DecryptionError):
        K.decrypt(key, blob[:-1] + bytes([blob[-1] ^ 1]))


def test_county_keys_file_is_owner_only_and_round_trips(tmp_path):
    keys = K.generate_county_keys("211481")
    path = K.save_county_keys(keys, tmp_path / "c.gpkg.keys.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = K.load_county_keys(path)
    assert again.sign_public_b64 == keys.sign_public_b64 and again.encrypt_public_b64 == keys.encrypt_public_b64
    with pytest.raises(K.KeyProblem):
        K.save_county_keys(keys, path)  # never overwritten
    d = json.loads(path.read_text())
    d["sign_public"] = K.generate_county_keys("211481").sign_public_b64
    path.write_text(json.dumps(d))
    with pytest.raises(K.KeyProblem):
        K.load_county_keys(path)


def test_enrolment_signed_and_tamper_detected(tmp_path):
    keys = K.generate_county_keys("211481")
    enr, dev = make_enrolment(keys, county_name="兴城市", township="211481100", township_name="城东街道",
                              enumerator="张三", divisions={"townships": {"211481100": "城东街道"}, "villages": {}})
    path = write_enrolment(enr, tmp_path / "e.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = load_enrolment(path)
    assert loaded.device_id == dev.device_id and loaded.device_public_key == dev.public_key
    # the signature covers everything but the private key
    d = json.loads(path.read_text())
    assert K.verify(keys.sign_public_b64, enrolment_signed_payload(d), d["signature"])
    d["township"] = "211481101"
    path.write_text(json.dumps(d, ensure_ascii=False))
    with pytest.raises(FormatError) as e:
        load_enrolment(path)
    assert "签名" in e.value.message_zh and "signature" in e.value.message_en
    with pytest.raises(FormatError):
        verify_enrolment(enr, county_sign_public_key=K.generate_county_keys("211481").sign_public_b64)


def test_feedback_signed_and_tamper_detected(tmp_path):
    keys = K.generate_county_keys("211481")
    fb = make_feedback(keys, township="211481100", acknowledged_through={str(uuid.uuid4()): 3}, items=[])
    path = write_feedback(fb, tmp_path)
    assert load_feedback(path, county_sign_public_key=keys.sign_public_b64).acknowledged_through == fb.acknowledged_through
    d = json.loads(path.read_text())
    d["acknowledged_through"] = {k: 9 for k in d["acknowledged_through"]}
    path.write_text(json.dumps(d))
    with pytest.raises(FormatError):
        load_feedback(path, county_sign_public_key=keys.sign_public_b64)


def test_revision_fast_and_checked_paths_agree():
    good = _rev()
    assert Revision.from_dict(good).to_dict() == good
    bad_cases = [
        {**good, "record_uuid": "not-a-uuid"},
        {**good, "revision_id": good["revision_id"].upper()},
        {**good, "parent_revision_id": good["revision_id"]},
        {**good, "township": "21148110"},
        {**good, "status": "pending"},
        {**good, "created_at": "yesterday"},
        {**good, "data": []},
        {**good, "problems": ["x"]},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "device_id"},
        {**good, "form_id": "../x"},
        {**good, "created_at": "2021-02-30T08:00:00+00:00"},
    ]
    for case in bad_cases:
        with pytest.raises(FormatError) as e:
            Revision.from_dict(case)
        assert e.value.message_zh and e.value.message_en


def test_canonical_json_is_stable_and_refuses_nan():
    assert canonical_json({"b": 1, "a": "兴城"}) == '{"a":"兴城","b":1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_package_filename():
    assert package_filename("211481", "211481100", "0c6fa41d-aaaa-bbbb-cccc-000000000000", 7) == \
        "211481_211481100_0c6fa41d_000007.censuspkg"


def test_manifest_rejects_bad_fields():
    base = {"format": "census-return/1", "county": "211481", "township": "211481100", "device_id": str(uuid.uuid4()),
            "enumerator": "张三", "sequence": 1, "created_at": "2021-06-01T08:00:00+00:00",
            "schema_versions": {"rural_house": "2020.1"}, "counts": {"rural_house": 1},
            "files": {"data/rural_house.jsonl": {"sha256": "0" * 64, "bytes": 1}}, "encrypted_forms": [],
            "key_wrap": None, "acknowledged_through": 0}
    assert Manifest.from_dict(base).sequence == 1
    for bad in ({"sequence": 0}, {"sequence": True}, {"counts": {"rural_house": -1}}, {"format": "zip"},
                {"files": {"x": {"sha256": "zz", "bytes": 1}}}, {"county": "21148"}):
        with pytest.raises(FormatError):
            Manifest.from_dict({**base, **bad})
    assert Enrolment  # the dataclass is importable by the township side
