"""Upward reporting county → city (逐级上报): the approved-data package, the city's enrolment of a county,
and the city's receipts.

Three signed documents, each checked byte for byte by the side that receives it:

- **city enrolment** (city → county, JSON, ``census-city-enrolment/1``): the city registers a county's
  signing key and hands the county the city's own keys (to check receipts, and to encrypt confidential
  forms to the city). Signed by the city. The county keeps it (``census_settings.upward_city``) and
  refuses a later enrolment with other city keys.
- **upward package** (county → city, ``{county}_{city}_up_{seq}.censusup``, ``census-upward/1``): the
  same canonical ZIP as a return package (:mod:`sync.zipfmt`) holding ``manifest.json`` (signed by the
  county's Ed25519 key in ``manifest.sig``), ``summary.json`` (the county's ledger summary: packages,
  counts per township and form, completeness, the audit head), ``divisions.json`` and
  ``data/FORM.jsonl`` — one line per **approved** record: its current revision verbatim (``content``,
  as the township sent it) with its id, parent, the chain of ancestor ids, township and form.
  Confidential forms are ``data/FORM.jsonl.enc``, AES-256-GCM under a package key wrapped to the city's
  X25519 key, exactly as township packages are to the county.
- **receipt** (city → county, JSON, ``census-city-receipt/1``): which sequences the city holds, and the
  highest sequence through which it holds everything (``acknowledged_through``). Signed by the city.

Packages are incremental: package *s* carries every approved current revision not carried by a package
the city acknowledged; a package the city never got is therefore covered by the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geodb.target import open_county

from schemas.errors import CensusError
from schemas.unicode_text import has_lone_surrogate

from . import keys as K
from .formats import (
    COUNTY_RE,
    DATA_DIR,
    ENCRYPTED_SUFFIX,
    FORM_ID_RE,
    MANIFEST_NAME,
    MAX_COMPRESSION_RATIO,
    MAX_ENTRIES,
    PLAIN_SUFFIX,
    SIGNATURE_NAME,
    TOWNSHIP_RE,
    FormatError,
    KeyWrap,
    canonical_bytes,
    canonical_json,
    data_path,
    utc_now,
)
from .package import PackageRejected, _allowed_name, write_atomic
from .zipfmt import ZipFormatError, read_directory, read_entry, write_zip

UPWARD_FORMAT = "census-upward/1"
CITY_ENROLMENT_FORMAT = "census-city-enrolment/1"
RECEIPT_FORMAT = "census-city-receipt/1"
COUNTY_PUBLIC_FORMAT = "census-county-public/1"
UPWARD_SUFFIX = ".censusup"
SUMMARY_NAME = "summary.json"
DIVISIONS_NAME = "divisions.json"
MAX_UPWARD_BYTES = 512 * 1024 * 1024       # a county of ~300,000 approved records, compressed
MAX_UPWARD_ENTRY_BYTES = 2 * 1024 * 1024 * 1024
MAX_SMALL_ENTRY = 64 * 1024 * 1024          # manifest, summary, divisions
CITY_RE = re.compile(r"^\d{4}(00)?$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LINE_KEYS = ("record_uuid", "revision_id", "parent_revision_id", "ancestors", "set_aside", "form_id", "form_version",
             "township", "created_at", "approved_at", "approved_by", "content", "content_sha256")

SETTING_CITY = "upward_city"                  # the city enrolment the county holds (canonical JSON)
SETTING_ACK = "upward_acknowledged_through"   # highest sequence the city confirmed holding everything of


def _no_constants(c: str) -> Any:
    raise ValueError(f"{c} is not valid JSON")


def _strict_json(text: str) -> Any:
    """JSON without NaN/Infinity (which other JSON readers refuse) and without lone surrogate escapes
    (which no UTF-8 text column can hold)."""
    value = json.loads(text, parse_constant=_no_constants)
    if has_lone_surrogate(text, value):
        raise ValueError("a lone \\ud800-\\udfff escape is not a character")
    return value


class UpwardError(CensusError):
    """An upward document cannot be made or used; the message says why and what to do."""


def normalise_city(code: str) -> str:
    """``2114`` or ``211400`` → ``211400`` (the 6-digit GB/T 2260 code of the prefecture-level city)."""
    code = str(code).strip()
    if not CITY_RE.match(code) or code.startswith("00"):
        raise UpwardError(f"市级代码“{code}”应为 4 位（如 2114）或以 00 结尾的 6 位数字（如 211400）",
                          f"city code '{code}' must be 4 digits (e.g. 2114) or 6 digits ending in 00 (e.g. 211400)")
    return code[:4] + "00"


def county_in_city(county: str, city: str) -> bool:
    """A county-level unit belongs to a city when its code starts with the city's 4-digit prefix."""
    return bool(COUNTY_RE.match(str(county))) and county[:4] == city[:4] and county != city


def upward_filename(county: str, city: str, sequence: int) -> str:
    return f"{county}_{city}_up_{sequence:06d}{UPWARD_SUFFIX}"


# ---------------------------------------------------------------------------------------------------
# Public keys of a county, city enrolment, receipts

@dataclass(frozen=True)
class CountyPublic:
    county: str
    county_name: str
    sign_public_key: str

    def to_dict(self) -> dict:
        return {"format": COUNTY_PUBLIC_FORMAT, "county": self.county, "county_name": self.county_name,
                "sign_public_key": self.sign_public_key}


def read_county_public(path: str | os.PathLike) -> CountyPublic:
    """The county's code and signing public key from ``COUNTY.gpkg.keys.json`` (only the public part is
    used) or from a ``census-county-public/1`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "找不到县级密钥文件 / county key file not found", str(path))
    try:
        d = _strict_json(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        raise UpwardError(f"{path.name} 不是有效的 JSON", f"{path.name} is not valid JSON") from None
    if not isinstance(d, dict):
        raise UpwardError(f"{path.name} 不是县级密钥文件", f"{path.name} is not a county key file")
    if d.get("format") == K.KEYS_FORMAT:
        keys = K.load_county_keys(path)       # checks the pair matches
        return CountyPublic(keys.county, str(d.get("county_name") or ""), keys.sign_public_b64)
    if d.get("format") == COUNTY_PUBLIC_FORMAT:
        county, pub = d.get("county"), d.get("sign_public_key")
        if not isinstance(county, str) or not COUNTY_RE.match(county) or not isinstance(pub, str):
            raise UpwardError(f"{path.name}：县级公钥文件缺少 county 或 sign_public_key",
                              f"{path.name}: the county public-key file lacks county or sign_public_key")
        K.verify_key_from_b64(pub)
        return CountyPublic(county, str(d.get("county_name") or ""), pub)
    raise UpwardError(f"{path.name} 不是县级密钥文件（census-county-keys/1）或县级公钥文件（{COUNTY_PUBLIC_FORMAT}）",
                      f"{path.name} is neither a county key file nor a county public-key file")


def _signed(d: Mapping) -> bytes:
    return canonical_bytes({k: v for k, v in d.items() if k != "signature"})


def make_city_enrolment(city_keys: K.CountyKeys, *, city_name: str, county: CountyPublic) -> dict:
    body = {"format": CITY_ENROLMENT_FORMAT, "city": city_keys.county, "city_name": city_name,
            "county": county.county, "county_name": county.county_name,
            "county_sign_public_key": county.sign_public_key, "city_sign_public_key": city_keys.sign_public_b64,
            "city_encrypt_public_key": city_keys.encrypt_public_b64, "issued_at": utc_now()}
    body["signature"] = city_keys.sign(_signed(body))
    return body


def check_city_enrolment(d: Any, *, what: str = "市级登记文件/city enrolment") -> dict:
    """Format and the city's signature (by the key it names; the county pins that key on first use)."""
    if not isinstance(d, dict) or d.get("format") != CITY_ENROLMENT_FORMAT:
        raise UpwardError(f"{what} 不是市级登记文件（format 应为 {CITY_ENROLMENT_FORMAT}）",
                          f"{what} is not a city enrolment (format must be {CITY_ENROLMENT_FORMAT})")
    for k in ("city", "city_name", "county", "county_name", "county_sign_public_key", "city_sign_public_key",
              "city_encrypt_public_key", "issued_at", "signature"):
        if not isinstance(d.get(k), str):
            raise UpwardError(f"{what} 缺少字段 {k}", f"{what}: field {k} is missing")
    normalise_city(d["city"])
    if not county_in_city(d["county"], d["city"]):
        raise UpwardError(f"{what}：县 {d['county']} 不属于市 {d['city']}", f"{what}: county {d['county']} is not in city {d['city']}")
    if not K.verify(d["city_sign_public_key"], _signed(d), d["signature"]):
        raise UpwardError(f"{what} 的市级签名无效：文件被改动，请向市普查办重新申领",
                          f"{what}: the city's signature is invalid (the file was altered); ask the city for a new one")
    K.encrypt_public_from_b64(d["city_encrypt_public_key"])
    return d


def write_json(path: str | os.PathLike, d: Mapping) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(d, ensure_ascii=False, indent=2).encode("utf-8"))
    return path


def load_json(path: str | os.PathLike, what_zh: str, what_en: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, f"找不到{what_zh} / {what_en} not found", str(path))
    try:
        return _strict_json(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        raise UpwardError(f"{path.name}：{what_zh}不是有效的 JSON", f"{path.name}: the {what_en} is not valid JSON") from None


def make_receipt(city_keys: K.CountyKeys, *, county: str, acknowledged_through: int, received: list[int]) -> dict:
    body = {"format": RECEIPT_FORMAT, "city": city_keys.county, "county": county,
            "acknowledged_through": int(acknowledged_through), "received": sorted({int(s) for s in received}),
            "issued_at": utc_now()}
    body["signature"] = city_keys.sign(_signed(body))
    return body


def check_receipt(d: Any, *, city_sign_public_key: str, county: str, name: str = "receipt") -> dict:
    if not isinstance(d, dict) or d.get("format") != RECEIPT_FORMAT:
        raise UpwardError(f"{name} 不是市级回执（format 应为 {RECEIPT_FORMAT}）",
                          f"{name} is not a city receipt (format must be {RECEIPT_FORMAT})")
    ack = d.get("acknowledged_through")
    if not isinstance(ack, int) or isinstance(ack, bool) or ack < 0 or not isinstance(d.get("received"), list):
        raise UpwardError(f"{name}：acknowledged_through 或 received 格式不对", f"{name}: acknowledged_through or received is malformed")
    if not K.verify(city_sign_public_key, _signed(d), str(d.get("signature", ""))):
        raise UpwardError(f"{name}：回执的市级签名无效（被改动，或不是本县登记的市级签发的）",
                          f"{name}: the receipt's signature is invalid (altered, or not from the city this county reports to)")
    if d.get("county") != county:
        raise UpwardError(f"{name}：回执属于县 {d.get('county')}，不是本县 {county}",
                          f"{name}: the receipt is for county {d.get('county')}, not {county}")
    return d


# ---------------------------------------------------------------------------------------------------
# Building the package (county side)

def build_upward_package(county_keys: K.CountyKeys, *, county_name: str, city: str, city_encrypt_public_key: str,
                         sequence: int, acknowledged_through: int, lines: list[dict], summary: Mapping,
                         divisions: Mapping, forms: Mapping, out_dir: str | os.PathLike,
                         created_at: str | None = None) -> Path:
    """Write one signed upward package; ``lines`` are data lines (:data:`LINE_KEYS`). Appears atomically."""
    if not isinstance(sequence, int) or sequence < 1 or not 0 <= acknowledged_through < sequence:
        raise UpwardError("上报包序号应为正整数，已确认序号应小于它", "sequence must be positive and above acknowledged_through")
    by_form: dict[str, list[str]] = {}
    versions: dict[str, str] = {}
    for ln in lines:
        fid = ln["form_id"]
        if fid not in forms:
            raise UpwardError(f"表单“{fid}”不在表单目录中", f"form '{fid}' is not in the catalogue")
        if versions.setdefault(fid, ln["form_version"]) != ln["form_version"]:
            raise UpwardError(f"表单 {fid} 的记录版本不一致，请先统一表单版本",
                              f"form {fid}: records of several form versions; align them first")
        by_form.setdefault(fid, []).append(canonical_json({k: ln[k] for k in LINE_KEYS}))
    files: dict[str, bytes] = {SUMMARY_NAME: canonical_bytes(dict(summary)),
                               DIVISIONS_NAME: canonical_bytes(dict(divisions))}
    package_key = None
    encrypted: list[str] = []
    for fid in sorted(by_form):
        body = ("\n".join(by_form[fid]) + "\n").encode("utf-8")
        secret = bool(getattr(forms[fid], "confidential", False))
        if secret:
            package_key = package_key or K.new_package_key()
            body = K.encrypt(package_key, body)
            encrypted.append(fid)
        files[data_path(fid, secret)] = body
    key_wrap = K.wrap_key(package_key, city_encrypt_public_key).to_dict() if package_key else None
    manifest = {"format": UPWARD_FORMAT, "city": city, "county": county_keys.county, "county_name": county_name,
                "sequence": sequence, "acknowledged_through": acknowledged_through,
                "created_at": created_at or utc_now(), "schema_versions": dict(sorted(versions.items())),
                "counts": {f: len(v) for f, v in sorted(by_form.items())},
                "files": {p: {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)} for p, b in files.items()},
                "encrypted_forms": encrypted, "key_wrap": key_wrap}
    mbytes = canonical_bytes(manifest)
    sig = county_keys.sign(mbytes)
    blob = write_zip([(MANIFEST_NAME, mbytes), (SIGNATURE_NAME, sig.encode("ascii")), *files.items()], deflate=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / upward_filename(county_keys.county, city, sequence)
    if path.exists():
        raise UpwardError(f"{path} 已存在：每个序号只导出一次", f"{path} already exists: each sequence is exported once")
    write_atomic(path, blob)
    return path


# ---------------------------------------------------------------------------------------------------
# Opening the package (city side): trust nothing

@dataclass
class OpenedUpward:
    path: Path
    sha256: str
    size: int
    manifest: dict
    lines: list[dict]           # parsed data lines, forms in manifest order
    summary: dict
    divisions: dict

    @property
    def county(self) -> str:
        return self.manifest["county"]

    @property
    def sequence(self) -> int:
        return self.manifest["sequence"]


def _reject(reason: str, name: str, zh: str, en: str) -> PackageRejected:
    return PackageRejected(reason, f"{name}：{zh}", f"{name}: {en}")


def _allowed(n: str) -> bool:
    return _allowed_name(n, (MANIFEST_NAME, SIGNATURE_NAME, SUMMARY_NAME, DIVISIONS_NAME))


def _is_int(v: Any, lo: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _check_manifest(m: Any, name: str) -> dict:
    bad = lambda field: _reject("bad_manifest", name, f"清单字段“{field}”缺失或格式不对",
                                f"manifest field '{field}' is missing or malformed")
    if not isinstance(m, dict) or m.get("format") != UPWARD_FORMAT:
        raise _reject("bad_manifest", name, f"不是县级上报包（format 应为 {UPWARD_FORMAT}）",
                      f"not a county upward package (format must be {UPWARD_FORMAT})")
    for k in ("city", "county", "county_name", "created_at"):
        if not isinstance(m.get(k), str):
            raise bad(k)
    if not _is_int(m.get("sequence"), 1):
        raise bad("sequence")
    if not _is_int(m.get("acknowledged_through")) or m["acknowledged_through"] >= m["sequence"]:
        raise bad("acknowledged_through")
    for k in ("schema_versions", "counts", "files"):
        if not isinstance(m.get(k), dict):
            raise bad(k)
    if any(not FORM_ID_RE.match(str(f)) or not isinstance(v, str) for f, v in m["schema_versions"].items()):
        raise bad("schema_versions")
    if any(not _is_int(v) for v in m["counts"].values()) or set(m["counts"]) != set(m["schema_versions"]):
        raise bad("counts")
    for e in m["files"].values():
        if not isinstance(e, dict) or not isinstance(e.get("sha256"), str) or not re.match(r"^[0-9a-f]{64}$", e["sha256"]) \
                or not _is_int(e.get("bytes")):
            raise bad("files")
    if not isinstance(m.get("encrypted_forms"), list) or any(f not in m["counts"] for f in m["encrypted_forms"]):
        raise bad("encrypted_forms")
    if m["encrypted_forms"] and not isinstance(m.get("key_wrap"), dict):
        raise bad("key_wrap")
    return m


def _check_line(obj: Any, *, name: str, where: str, form_id: str, version: str, county: str,
                townships: frozenset[str]) -> dict:
    def bad(zh: str, en: str) -> PackageRejected:
        return _reject("bad_record", name, f"{where}：{zh}", f"{where}: {en}")

    if not isinstance(obj, dict) or set(obj) != set(LINE_KEYS):
        raise bad("记录字段不完整或有多余字段", "fields missing or unexpected")
    for k in ("record_uuid", "revision_id"):
        if not isinstance(obj[k], str) or not UUID_RE.match(obj[k]):
            raise bad(f"{k} 不是 UUID", f"{k} is not a UUID")
    par, anc, aside = obj["parent_revision_id"], obj["ancestors"], obj["set_aside"]
    if par is not None and (not isinstance(par, str) or not UUID_RE.match(par)):
        raise bad("parent_revision_id 不是 UUID", "parent_revision_id is not a UUID")
    for lst, k in ((anc, "ancestors"), (aside, "set_aside")):
        if not isinstance(lst, list) or any(not isinstance(a, str) or not UUID_RE.match(a) for a in lst):
            raise bad(f"{k} 应为 UUID 列表", f"{k} must be a list of UUIDs")
    if obj["revision_id"] in anc or len(set(anc)) != len(anc) or (anc[-1] if anc else None) != par:
        raise bad("祖先链与上一版本不符", "the ancestor chain does not end at the parent revision")
    if obj["form_id"] != form_id or obj["form_version"] != version:
        raise bad("表单或版本与清单不符", "form or version disagrees with the manifest")
    t = obj["township"]
    if not isinstance(t, str) or not TOWNSHIP_RE.match(t) or not t.startswith(county):
        raise _reject("wrong_township", name, f"{where}：乡镇 {str(t)[:12]} 不属于县 {county}",
                      f"{where}: township {str(t)[:12]} is not within county {county}")
    if t not in townships:
        raise _reject("unknown_township", name, f"{where}：乡镇 {t} 不在本市区划中，请先更新市级区划",
                      f"{where}: township {t} is not in the city's divisions; update the city's divisions first")
    for k in ("created_at", "approved_at", "approved_by", "content", "content_sha256"):
        if not isinstance(obj[k], str):
            raise bad(f"{k} 应为文本", f"{k} must be text")
    if hashlib.sha256(obj["content"].encode("utf-8")).hexdigest() != obj["content_sha256"]:
        raise _reject("hash_mismatch", name, f"{where}：记录内容与其哈希不符", f"{where}: the record content does not match its hash")
    try:
        content = _strict_json(obj["content"])
    except ValueError:
        raise bad("记录内容不是有效的 JSON", "the record content is not valid JSON") from None
    if not isinstance(content, dict) or not isinstance(content.get("data"), dict) or any(
            content.get(k) != obj[k] for k in ("record_uuid", "revision_id", "parent_revision_id", "form_id",
                                               "form_version", "township")):
        raise bad("记录内容与其标识（记录、版本、表单、乡镇）不符", "the record content disagrees with its ids, form or township")
    obj["data"] = content["data"]
    return obj


def open_upward_package(path: str | os.PathLike, *, city: str, county_key: Callable[[str], str | None],
                        city_keys: K.CountyKeys | None, forms: Mapping,
                        townships_of: Callable[[str], frozenset[str]], data: bytes | None = None) -> OpenedUpward:
    """Open and check an upward package completely, or raise :class:`PackageRejected` with a reason code.

    Order: size, container, manifest, **city** (this city?), **jurisdiction** (a county of this city?),
    **enrolment** (``county_key(county)`` gives its enrolled signing key, None when not enrolled), the
    signature, then every file's length and hash, decryption, and every line.
    """
    path = Path(path)
    name = path.name
    if data is None:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise _reject("missing", name, "找不到文件", "file not found") from None
        if size > MAX_UPWARD_BYTES:
            raise _reject("too_large", name, f"文件过大（{size} 字节）", f"too large ({size} bytes)")
        data = path.read_bytes()
    if len(data) > MAX_UPWARD_BYTES:
        raise _reject("too_large", name, "文件过大", "too large")
    sha = hashlib.sha256(data).hexdigest()
    seen: set[str] = set()

    def check_name(n: str) -> None:
        if "\\" in n or n.startswith("/") or ".." in n.split("/") or (len(n) > 1 and n[1] == ":"):
            raise _reject("zip_slip", name, f"包内路径“{n[:80]}”试图写到包外，已拒收", f"entry path '{n[:80]}' points outside the package")
        if not _allowed(n) or n in seen:
            raise _reject("bad_entry", name, f"包内有不允许或重复的文件“{n[:80]}”", f"unexpected or repeated entry '{n[:80]}'")
        seen.add(n)

    try:
        entries = {e.name: e for e in read_directory(data, max_entries=MAX_ENTRIES, max_entry_bytes=MAX_UPWARD_ENTRY_BYTES,
                                                     max_ratio=MAX_COMPRESSION_RATIO, check_name=check_name)}
    except ZipFormatError as e:
        raise _reject(e.reason, name, f"不是完整、未被改动的上报包（{e.detail}），请重新复制或重新导出",
                      f"not a complete, unaltered upward package ({e.detail}); copy or export it again") from e

    def entry(n: str, limit: int) -> bytes:
        try:
            return read_entry(data, entries[n], limit=limit)
        except ZipFormatError as e:
            raise _reject(e.reason, name, f"包内文件 {n} 已损坏（{e.detail}）", f"entry {n} is damaged ({e.detail})") from e

    for required in (MANIFEST_NAME, SIGNATURE_NAME, SUMMARY_NAME, DIVISIONS_NAME):
        if required not in entries:
            raise _reject("missing_entry", name, f"缺少 {required}，不是完整的上报包", f"{required} is missing")
    mbytes = entry(MANIFEST_NAME, MAX_SMALL_ENTRY)
    sig = entry(SIGNATURE_NAME, 1024)
    try:
        raw = _strict_json(mbytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _reject("malformed_json", name, "manifest.json 不是有效的 JSON", "manifest.json is not valid JSON") from None
    if not isinstance(raw, dict):
        raise _reject("malformed_json", name, "manifest.json 应为 JSON 对象", "manifest.json must be a JSON object")
    claimed_city, county = raw.get("city"), raw.get("county")
    if claimed_city != city:
        raise _reject("wrong_city", name, f"该包报送给市 {str(claimed_city)[:12]}，不是本市 {city}，已拒收",
                      f"the package is addressed to city {str(claimed_city)[:12]}, not this city {city}; refused")
    if not isinstance(county, str) or not county_in_city(county, city):
        raise _reject("outside_city", name, f"县 {str(county)[:12]} 不属于本市 {city}，已拒收",
                      f"county {str(county)[:12]} is not within this city {city}; refused")
    public = county_key(county)
    if public is None:
        raise _reject("unknown_county", name, f"县 {county} 未在本市登记，已拒收；请先运行 census city enrol-county",
                      f"county {county} is not enrolled in this city; refused — run census city enrol-county first")
    try:
        sig_text = sig.decode("ascii").strip()
    except UnicodeDecodeError:
        sig_text = ""
    if not K.verify(public, mbytes, sig_text):
        raise _reject("bad_signature", name, "签名无效：清单被改动，或不是该县的密钥签发的；请重新导出",
                      "invalid signature: the manifest was altered or not signed by that county's key; export it again")
    m = _check_manifest(raw, name)

    data_entries = {n for n in entries if n.startswith(DATA_DIR)}
    expected = set(m["files"])
    if data_entries | {SUMMARY_NAME, DIVISIONS_NAME} != expected:
        raise _reject("files_mismatch", name, "包内文件与清单不符", "entries do not match the manifest")
    blobs: dict[str, bytes] = {}
    for p, e in m["files"].items():
        b = entry(p, min(MAX_UPWARD_ENTRY_BYTES, e["bytes"]))
        if len(b) != e["bytes"] or hashlib.sha256(b).hexdigest() != e["sha256"]:
            raise _reject("hash_mismatch", name, f"{p} 的内容与清单中的哈希不符：包被改动或损坏",
                          f"{p} does not match its hash in the manifest: the package was altered or damaged")
        blobs[p] = b
    try:
        summary = _strict_json(blobs[SUMMARY_NAME].decode("utf-8"))
        divisions = _strict_json(blobs[DIVISIONS_NAME].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _reject("malformed_json", name, "summary.json 或 divisions.json 不是有效的 JSON",
                      "summary.json or divisions.json is not valid JSON") from None
    if not isinstance(summary, dict) or not isinstance(divisions, dict):
        raise _reject("malformed_json", name, "summary.json 与 divisions.json 应为 JSON 对象",
                      "summary.json and divisions.json must be JSON objects")

    paths: dict[str, str] = {}
    for p in data_entries:
        enc = p.endswith(ENCRYPTED_SUFFIX)
        fid = p[len(DATA_DIR):-len(ENCRYPTED_SUFFIX if enc else PLAIN_SUFFIX)]
        if fid in paths or enc != (fid in m["encrypted_forms"]):
            raise _reject("files_mismatch", name, f"表单 {fid} 的数据文件或加密标记与清单不符",
                          f"form {fid}: data file or encryption flag disagrees with the manifest")
        paths[fid] = p
    if set(paths) != set(m["counts"]):
        raise _reject("files_mismatch", name, "清单中的表单与数据文件不一致", "the manifest's forms and data files disagree")
    for fid, version in m["schema_versions"].items():
        form = forms.get(fid)
        if form is None:
            raise _reject("unknown_form", name, f"本市没有表单“{fid}”，请先安装该表单", f"this city has no form '{fid}'")
        if form.version != version:
            raise _reject("schema_version", name, f"表单 {fid} 的版本 {version} 与本市 {form.version} 不同",
                          f"form {fid} is version {version}, this city has {form.version}")
        if getattr(form, "confidential", False) and fid not in m["encrypted_forms"]:
            raise _reject("not_encrypted", name, f"涉密表单 {fid} 未加密，已拒收", f"confidential form {fid} is not encrypted; refused")
    package_key = None
    if m["encrypted_forms"]:
        if city_keys is None:
            raise _reject("no_city_key", name, "包含加密的涉密表单，但没有市级私钥，无法解密",
                          "holds encrypted confidential forms but the city's private key is not available")
        try:
            package_key = K.unwrap_key(KeyWrap.from_dict(m["key_wrap"]), city_keys.encrypt_private)
        except (K.DecryptionError, FormatError) as e:
            raise _reject("decrypt", name, e.message_zh, e.message_en) from e
    townships = townships_of(county)
    lines: list[dict] = []
    ids: set[str] = set()
    for fid in m["counts"]:
        p = paths[fid]
        blob = blobs[p]
        if package_key is not None and p.endswith(ENCRYPTED_SUFFIX):
            try:
                blob = K.decrypt(package_key, blob, what=p)
            except K.DecryptionError as e:
                raise _reject("decrypt", name, e.message_zh, e.message_en) from e
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError:
            raise _reject("malformed_json", name, f"{p} 不是 UTF-8 文本", f"{p} is not UTF-8 text") from None
        rows = text.split("\n")
        if rows and rows[-1] == "":
            rows.pop()
        if len(rows) != m["counts"][fid]:
            raise _reject("count_mismatch", name, f"{p} 有 {len(rows)} 条记录，清单写的是 {m['counts'][fid]} 条",
                          f"{p} holds {len(rows)} records, the manifest says {m['counts'][fid]}")
        for ln, row in enumerate(rows, start=1):
            try:
                obj = _strict_json(row)
            except ValueError:
                raise _reject("malformed_json", name, f"{p} 第 {ln} 行不是有效的 JSON", f"{p} line {ln} is not valid JSON") from None
            obj = _check_line(obj, name=name, where=f"{p} 第 {ln} 行/line {ln}", form_id=fid,
                              version=m["schema_versions"][fid], county=county, townships=townships)
            if obj["revision_id"] in ids:
                raise _reject("bad_record", name, f"{p} 第 {ln} 行：版本 {obj['revision_id']} 重复",
                              f"{p} line {ln}: revision {obj['revision_id']} appears twice")
            ids.add(obj["revision_id"])
            lines.append(obj)
    return OpenedUpward(path, sha, len(data), m, lines, summary, divisions)


# ---------------------------------------------------------------------------------------------------
# The county's export

@dataclass
class ExportResult:
    path: Path
    city: str
    county: str
    sequence: int
    acknowledged_through: int
    records: int                    # approved current revisions in this package
    by_form: dict[str, int] = field(default_factory=dict)
    already_acknowledged: int = 0   # approved records the city already holds (left out)
    approved_total: int = 0
    sha256: str = ""

    def as_dict(self) -> dict:
        return {"path": str(self.path), "city": self.city, "county": self.county, "sequence": self.sequence,
                "acknowledged_through": self.acknowledged_through, "records": self.records, "by_form": self.by_form,
                "already_acknowledged": self.already_acknowledged, "approved_total": self.approved_total,
                "sha256": self.sha256}

    def line(self) -> str:
        return (f"已导出上报包 {self.path.name}：第 {self.sequence} 号，审核通过记录 {self.records} 条（市级已确认 "
                f"{self.already_acknowledged} 条不再重复）/ exported {self.path.name}: sequence {self.sequence}, "
                f"{self.records} approved records ({self.already_acknowledged} already acknowledged by the city left out)")


def ancestry(links: Mapping[str, tuple[str | None, int]], revision_id: str) -> list[str]:
    """Ancestor ids of a revision, oldest first, by its parent links (an unknown parent ends the chain
    after that parent's id)."""
    chain: list[str] = []
    seen = {revision_id}
    parent = links.get(revision_id, (None, 0))[0]
    while parent is not None and parent not in seen:
        chain.append(parent)
        seen.add(parent)
        parent = links.get(parent, (None, 0))[0]
    chain.reverse()
    return chain


def ledger_summary(db) -> dict:
    """What the city shows for this county: packages, counts per township and form, audit head."""
    from geodb.county_upward import approved_counts

    rows = db.status_rows()
    per_form = approved_counts(db)
    ledger = db.ledger()
    outcomes: dict[str, int] = {}
    per_t_packages: dict[str, int] = {}
    for r in ledger:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
        if r["outcome"] == "accepted" and r["township"]:
            per_t_packages[r["township"]] = per_t_packages.get(r["township"], 0) + 1
    townships = {}
    for r in rows:
        forms = {}
        for f, v in r["forms"].items():
            c = per_form.get(r["township"], {}).get(f, {})
            forms[f] = {"expected": v["expected"], "records": v["received"], "valid": v["valid"],
                        "approved": c.get("approved", 0), "conflicts": v["conflicts"]}
        townships[r["township"]] = {
            "name": r["name"], "expected": r["expected"], "received_expected": r["received_expected"],
            "records": r["received"], "valid": r["valid"], "has_issues": r["has_issues"], "approved": r["approved"],
            "rejected": r["rejected"], "conflicts": r["conflicts"], "last_package": r["last_package"],
            "packages": per_t_packages.get(r["township"], 0), "forms": forms}
    seq, head = db.audit_head()
    tot = lambda k: sum(t[k] for t in townships.values())
    return {"county": db.county, "county_name": db.county_name, "made_at": utc_now(),
            "packages": outcomes, "records": {k: tot(k) for k in ("records", "valid", "has_issues", "approved",
                                                                   "rejected", "conflicts")},
            "expected": tot("expected"), "received_expected": tot("received_expected"),
            "townships": townships, "audit_head": {"seq": seq, "hash": head}}


def _pinned_city(db, enrolment: dict | None) -> dict:
    """The city enrolment this county reports under: pinned on first use, refused if the keys change."""
    pinned_text = db.setting(SETTING_CITY)
    pinned = json.loads(pinned_text) if pinned_text else None
    if enrolment is not None:
        check_city_enrolment(enrolment)
        if enrolment["county"] != db.county:
            raise UpwardError(f"市级登记文件属于县 {enrolment['county']}，不是本县 {db.county}",
                              f"the city enrolment is for county {enrolment['county']}, not this county {db.county}")
        if enrolment["county_sign_public_key"] != db.setting("county_sign_public_key"):
            raise UpwardError("市级登记的县级公钥与本县密钥不符：请用本县的 COUNTY.gpkg.keys.json 重新登记",
                              "the city enrolled another signing key for this county; enrol again with this county's keys")
        if pinned and (pinned["city"], pinned["city_sign_public_key"]) != (enrolment["city"],
                                                                           enrolment["city_sign_public_key"]):
            raise UpwardError(f"本县已向市 {pinned['city']} 上报，新登记文件的市级密钥不同，已拒绝（防止冒充市级）",
                              f"this county already reports to city {pinned['city']} under other keys; the new "
                              "enrolment is refused (it could impersonate the city)")
        return enrolment
    if pinned is None:
        raise UpwardError("本县尚未取得市级登记文件：请用 --city-enrolment 指定市普查办签发的文件",
                          "this county has no city enrolment yet; give the file the city issued with --city-enrolment")
    return pinned


def export_approved(county_gpkg: str | os.PathLike, out_dir: str | os.PathLike, *,
                    city_enrolment: str | os.PathLike | Mapping | None = None,
                    receipt: str | os.PathLike | Mapping | None = None, keys_path: str | os.PathLike | None = None,
                    forms: Mapping | None = None, actor: str | None = None) -> ExportResult:
    """Write the county's next upward package into ``out_dir`` (module doc); logged and audited at the county.

    ``city_enrolment``: the city's enrolment of this county (needed once; then kept in the GeoPackage).
    ``receipt``: the city's latest receipt — approved records the city confirms holding are left out.
    """
    from geodb import county_upward as CU

    if forms is None:
        from schemas.catalogue import all_forms
        forms = all_forms()
    enr = load_json(city_enrolment, "市级登记文件", "city enrolment") if isinstance(city_enrolment, (str, os.PathLike)) \
        else (dict(city_enrolment) if city_enrolment is not None else None)
    rec = load_json(receipt, "市级回执", "city receipt") if isinstance(receipt, (str, os.PathLike)) \
        else (dict(receipt) if receipt is not None else None)
    with open_county(county_gpkg) as db:
        keys = K.load_county_keys(Path(keys_path) if keys_path else K.keys_path_for(db.path))
        if keys.county != db.county or keys.sign_public_b64 != db.setting("county_sign_public_key"):
            raise K.KeyProblem(f"密钥文件不属于县级库 {db.path.name}", f"the key file does not belong to {db.path.name}")
        at = utc_now()
        path: Path | None = None
        try:
            with db.transaction():
                city = _pinned_city(db, enr)
                if enr is not None and db.setting(SETTING_CITY) != canonical_json(enr):
                    db.set_setting(SETTING_CITY, canonical_json(enr))
                    db.append_audit("upward_enrol", city["city"], {"city": city["city"], "issued_at": city["issued_at"],
                                                                   "city_sign_public_key": city["city_sign_public_key"]},
                                    actor=actor, at=at)
                CU.ensure_upward_tables(db)
                exports = CU.upward_exports(db)
                top = max((e["sequence"] for e in exports), default=0)
                ack = int(db.setting(SETTING_ACK) or 0)
                if rec is not None:
                    check_receipt(rec, city_sign_public_key=city["city_sign_public_key"], county=db.county,
                                  name=Path(str(receipt)).name if not isinstance(receipt, Mapping) else "receipt")
                    if rec["acknowledged_through"] > top:
                        raise UpwardError(f"回执确认到第 {rec['acknowledged_through']} 号，但本县只导出到第 {top} 号",
                                          f"the receipt acknowledges sequence {rec['acknowledged_through']}, but this county "
                                          f"exported only up to {top}")
                    if rec["acknowledged_through"] > ack:
                        ack = rec["acknowledged_through"]
                        db.set_setting(SETTING_ACK, str(ack))
                        db.append_audit("upward_receipt", city["city"], {"acknowledged_through": ack,
                                                                         "received": rec["received"],
                                                                         "issued_at": rec["issued_at"]}, actor=actor, at=at)
                held = CU.reported_revisions(db, ack)
                approved = CU.approved_current(db)
                todo = [r for r in approved if r["revision_id"] not in held]
                links = CU.revision_links(db, [r["record_uuid"] for r in todo])
                lines = []
                for r in todo:
                    lk = links.get(r["record_uuid"], {})
                    lines.append({"record_uuid": r["record_uuid"], "revision_id": r["revision_id"],
                                  "parent_revision_id": r["parent_revision_id"],
                                  "ancestors": ancestry(lk, r["revision_id"]),
                                  "set_aside": sorted(k for k, (_, aside) in lk.items() if aside),
                                  "form_id": r["form_id"], "form_version": r["form_version"], "township": r["township"],
                                  "created_at": r["created_at"], "approved_at": r["approved_at"],
                                  "approved_by": r["reviewed_by"] or "", "content": r["content"],
                                  "content_sha256": r["content_sha256"]})
                seq = top + 1
                summary = ledger_summary(db)
                divisions = {"townships": db.townships(), "villages": db.villages()}
                path = build_upward_package(keys, county_name=db.county_name, city=city["city"],
                                            city_encrypt_public_key=city["city_encrypt_public_key"], sequence=seq,
                                            acknowledged_through=ack, lines=lines, summary=summary,
                                            divisions=divisions, forms=forms, out_dir=out_dir, created_at=at)
                sha = hashlib.sha256(path.read_bytes()).hexdigest()
                eid = CU.add_upward_export(db, {"sequence": seq, "acknowledged_through": ack, "created_at": at,
                                                "city": city["city"], "file_name": path.name, "file_sha256": sha,
                                                "records": len(lines)},
                                           [(ln["record_uuid"], ln["revision_id"]) for ln in lines])
                aseq, ahash = db.append_audit("export_up", path.name, {
                    "city": city["city"], "sequence": seq, "acknowledged_through": ack, "records": len(lines),
                    "sha256": sha}, actor=actor, at=at)
                CU.set_upward_audit(db, eid, aseq, ahash)
        except BaseException:
            if path is not None:
                path.unlink(missing_ok=True)   # nothing was logged: the file must not exist either
            raise
    by_form: dict[str, int] = {}
    for ln in lines:
        by_form[ln["form_id"]] = by_form.get(ln["form_id"], 0) + 1
    return ExportResult(path, city["city"], keys.county, seq, ack, len(lines), by_form, len(approved) - len(todo),
                        len(approved), sha)


__all__ = [
    "CITY_ENROLMENT_FORMAT",
    "RECEIPT_FORMAT",
    "UPWARD_FORMAT",
    "CountyPublic",
    "ExportResult",
    "OpenedUpward",
    "UpwardError",
    "ancestry",
    "build_upward_package",
    "check_city_enrolment",
    "check_receipt",
    "county_in_city",
    "export_approved",
    "ledger_summary",
    "load_json",
    "make_city_enrolment",
    "make_receipt",
    "normalise_city",
    "open_upward_package",
    "read_county_public",
    "write_json",
]
