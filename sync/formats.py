"""The shared file formats between township laptops and the county: revisions, enrolment, packages, feedback.

Constants, the canonical-JSON helper and plain dataclasses only (no crypto, no file I/O here):

- a **revision** is one edit of one record (one JSONL line in a package);
- the **enrolment** file (county → township) binds one device to one township and enumerator;
- the **return package** (township → county) is one ZIP: ``manifest.json``, ``manifest.sig`` and
  ``data/{form_id}.jsonl`` or ``data/{form_id}.jsonl.enc``;
- the **feedback** file (county → township) lists records with issues or conflicts.

Signing, encryption and key handling live in :mod:`sync.keys`; building and opening packages, and
reading/verifying enrolment and feedback files, in :mod:`sync.package`; merge rules in :mod:`sync.merge`.

Every ``from_dict`` checks types strictly and raises :class:`FormatError` (zh/en) on the first bad
field; a revision's ``data`` is not validated here (that is the schemas' validator's job).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from schemas.errors import CensusError

# ---------------------------------------------------------------------------------------------------
# Format names and constants

ENROLMENT_FORMAT = "census-enrolment/1"
RETURN_FORMAT = "census-return/1"
FEEDBACK_FORMAT = "census-feedback/1"

PACKAGE_SUFFIX = ".censuspkg"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
DATA_DIR = "data/"
PLAIN_SUFFIX = ".jsonl"
ENCRYPTED_SUFFIX = ".jsonl.enc"

KEY_WRAP_ALG = "X25519-HKDF-SHA256-A256GCM"
KEY_WRAP_INFO = b"census-package-key"
NONCE_BYTES = 12          # AES-GCM nonce, prefixed to every encrypted file and used in key_wrap
PACKAGE_KEY_BYTES = 32    # AES-256

# Limits the county enforces on a package before trusting a byte of it.
MAX_PACKAGE_BYTES = 256 * 1024 * 1024
MAX_ENTRIES = 64
MAX_ENTRY_BYTES = 1024 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200

REVISION_STATUSES = ("draft", "final")
REVIEW_STATES = ("received", "has_issues", "approved", "rejected")
FEEDBACK_STATES = ("has_issues", "conflict", "rejected")

FORM_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
COUNTY_RE = re.compile(r"^\d{6}$")
TOWNSHIP_RE = re.compile(r"^\d{9}$")
VILLAGE_RE = re.compile(r"^\d{12}$")


class FormatError(CensusError):
    """A revision, manifest, enrolment or feedback document does not follow its format."""


# ---------------------------------------------------------------------------------------------------
# Canonical JSON (the bytes that are signed and hashed)

def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text kept as is (ensure_ascii False), NaN/Infinity refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_bytes(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8")


def utc_now() -> str:
    """ISO-8601 UTC with a ``Z``-free ``+00:00`` offset, second precision (what every format uses)."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def package_filename(county: str, township: str, device_id: str, sequence: int) -> str:
    """``{county}_{township}_{device8}_{seq:06d}.censuspkg``."""
    return f"{county}_{township}_{device_id.replace('-', '')[:8]}_{sequence:06d}{PACKAGE_SUFFIX}"


def data_path(form_id: str, encrypted: bool) -> str:
    return DATA_DIR + form_id + (ENCRYPTED_SUFFIX if encrypted else PLAIN_SUFFIX)


# ---------------------------------------------------------------------------------------------------
# Small strict checkers

def _fail(what: str, name: str, expected_zh: str, expected_en: str) -> FormatError:
    return FormatError(f"{what}：字段“{name}”应为{expected_zh}", f"{what}: field '{name}' must be {expected_en}")


def _req(d: Mapping, what: str, name: str, typ: type | tuple, zh: str, en: str, *, optional: bool = False) -> Any:
    if name not in d:
        if optional:
            return None
        raise FormatError(f"{what}：缺少字段“{name}”", f"{what}: field '{name}' is missing")
    v = d[name]
    if v is None and optional:
        return None
    if isinstance(v, bool) and typ is not bool and bool not in (typ if isinstance(typ, tuple) else (typ,)):
        raise _fail(what, name, zh, en)
    if not isinstance(v, typ):
        raise _fail(what, name, zh, en)
    return v


def _uuid(d: Mapping, what: str, name: str, *, optional: bool = False) -> str | None:
    v = _req(d, what, name, str, " UUID 文本", "a UUID string", optional=optional)
    if v is None:
        return None
    try:
        parsed = uuid.UUID(v)
    except ValueError:
        raise _fail(what, name, " UUID（如 1b4e28ba-2fa1-11d2-883f-0016d3cca427）", "a UUID") from None
    if str(parsed) != v:
        raise _fail(what, name, "标准格式的 UUID", "a UUID in canonical form")
    return v


def _code(d: Mapping, what: str, name: str, pattern: re.Pattern, digits: int) -> str:
    v = _req(d, what, name, str, f" {digits} 位数字代码", f"a {digits}-digit code")
    if not pattern.match(v):
        raise _fail(what, name, f" {digits} 位数字代码", f"a {digits}-digit code")
    return v


def _timestamp(d: Mapping, what: str, name: str) -> str:
    v = _req(d, what, name, str, " ISO-8601 时间", "an ISO-8601 time")
    try:
        dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(what, name, " ISO-8601 时间（如 2021-03-01T08:00:00+00:00）",
                    "an ISO-8601 time (e.g. 2021-03-01T08:00:00+00:00)") from None
    return v


def _b64(d: Mapping, what: str, name: str) -> str:
    import base64
    import binascii

    v = _req(d, what, name, str, " base64 文本", "base64 text")
    try:
        base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(what, name, " base64 文本", "base64 text") from None
    return v


def _form_id(v: Any, what: str, name: str) -> str:
    if not isinstance(v, str) or not FORM_ID_RE.match(v):
        raise _fail(what, name, "表单编号（字母开头，字母数字下划线）", "a form id (letters, digits, underscore)")
    return v


# ---------------------------------------------------------------------------------------------------
# Revision

REVISION_KEYS = ("record_uuid", "revision_id", "parent_revision_id", "form_id", "form_version", "township",
                 "status", "created_at", "created_by", "device_id", "data", "problems")


@dataclass(frozen=True)
class Revision:
    """One edit of one record.  ``data`` is the validated record (``RecordResult.record``)."""

    record_uuid: str
    revision_id: str
    parent_revision_id: str | None
    form_id: str
    form_version: str
    township: str
    status: str
    created_at: str
    created_by: str
    device_id: str
    data: dict
    problems: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in REVISION_KEYS}

    def to_json_line(self) -> str:
        return canonical_json(self.to_dict())

    @staticmethod
    def fast(d: Any) -> "Revision | None":
        """The revision ``d`` holds when it is plainly well formed (cheap checks); None → :meth:`from_dict`,
        which accepts exactly the same and says what is wrong with the rest."""
        return _fast_revision(d)

    @classmethod
    def from_dict(cls, d: Any, *, what: str = "修订记录/revision") -> "Revision":
        fast = _fast_revision(d)
        if fast is not None:
            return fast
        return cls._checked(d, what)

    @classmethod
    def _checked(cls, d: Any, what: str) -> "Revision":
        if not isinstance(d, Mapping):
            raise FormatError("修订记录应为 JSON 对象", "a revision must be a JSON object")
        w = "修订记录" if what == "修订记录/revision" else what
        extra = sorted(set(d) - set(REVISION_KEYS))
        if extra:
            raise FormatError(f"{w}：有多余字段 {', '.join(extra)[:80]}", f"{w}: unexpected fields {', '.join(extra)[:80]}")
        status = _req(d, w, "status", str, "“draft”或“final”", "'draft' or 'final'")
        if status not in REVISION_STATUSES:
            raise _fail(w, "status", "“draft”或“final”", "'draft' or 'final'")
        problems = _req(d, w, "problems", list, "列表", "a list")
        if not all(isinstance(p, Mapping) for p in problems):
            raise _fail(w, "problems", "对象列表", "a list of objects")
        rev = cls(
            record_uuid=_uuid(d, w, "record_uuid"),
            revision_id=_uuid(d, w, "revision_id"),
            parent_revision_id=_uuid(d, w, "parent_revision_id", optional=True),
            form_id=_form_id(d.get("form_id"), w, "form_id"),
            form_version=_req(d, w, "form_version", str, "文本", "text"),
            township=_code(d, w, "township", TOWNSHIP_RE, 9),
            status=status,
            created_at=_timestamp(d, w, "created_at"),
            created_by=_req(d, w, "created_by", str, "文本", "text"),
            device_id=_uuid(d, w, "device_id"),
            data=_req(d, w, "data", dict, "对象", "an object"),
            problems=list(problems),
        )
        if rev.parent_revision_id == rev.revision_id:
            raise FormatError(f"{w}：修订不能以自身为上一版本", f"{w}: a revision cannot be its own parent")
        return rev


# exactly the canonical form _uuid() accepts (``$`` would also let a trailing newline through)
_UUID_FULL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_REVISION_KEYSET = frozenset(REVISION_KEYS)
_N_KEYS = len(REVISION_KEYS)


def _fast_revision(d: Any) -> "Revision | None":
    """The common case checked with cheap tests (a package holds many revisions); None → take the slow,
    message-giving path, which accepts or rejects exactly the same inputs."""
    if type(d) is not dict or len(d) != _N_KEYS:
        return None
    try:   # twelve keys, each of the twelve names: exactly the revision's fields
        ru, ri, pr, fid, fv, tw, st, ca, cb, dev, data, probs = (
            d["record_uuid"], d["revision_id"], d["parent_revision_id"], d["form_id"], d["form_version"],
            d["township"], d["status"], d["created_at"], d["created_by"], d["device_id"], d["data"], d["problems"])
    except KeyError:
        return None
    m = _UUID_FULL
    if not (type(ru) is str and type(ri) is str and m(ru) and m(ri)
            and (pr is None or (type(pr) is str and pr != ri and m(pr)))
            and type(st) is str and st in REVISION_STATUSES and type(data) is dict
            and type(probs) is list and (not probs or all(type(p) is dict for p in probs))):
        return None
    # the fields a package's revisions share (device, form, township, enumerator, often the time) are
    # checked once per distinct combination
    same = (dev, fid, fv, tw, cb, ca)
    try:
        seen = same in _SHARED_SEEN
    except TypeError:   # something unhashable where text belongs
        return None
    if not seen:
        if not (type(dev) is str and m(dev) and type(fid) is str and FORM_ID_RE.match(fid) and type(fv) is str
                and type(tw) is str and TOWNSHIP_RE.match(tw) and type(cb) is str and type(ca) is str):
            return None
        if ca not in _TS_SEEN:   # a package's revisions share few timestamps: each is checked once
            if not _TS_RE.match(ca):
                return None
            try:
                dt.datetime.fromisoformat(ca.replace("Z", "+00:00"))
            except ValueError:
                return None
            if len(_TS_SEEN) > 100_000:
                _TS_SEEN.clear()
            _TS_SEEN.add(ca)
        if len(_SHARED_SEEN) > 100_000:
            _SHARED_SEEN.clear()
        _SHARED_SEEN.add(same)
    # the frozen dataclass filled directly (its __init__ sets each field through object.__setattr__)
    rev = object.__new__(Revision)
    rev.__dict__.update(d)
    return rev


_SHARED_SEEN: set[tuple] = set()
_TS_SEEN: set[str] = set()


# ---------------------------------------------------------------------------------------------------
# Enrolment

ENROLMENT_SIGNED_EXCLUDE = ("device_private_key", "signature")


@dataclass(frozen=True)
class Enrolment:
    county: str
    county_name: str
    township: str
    township_name: str
    enumerator: str
    device_id: str
    issued_at: str
    device_private_key: str          # base64 raw Ed25519 private bytes (stays on the laptop)
    device_public_key: str           # base64 raw Ed25519 public bytes
    county_sign_public_key: str      # base64 raw Ed25519
    county_encrypt_public_key: str   # base64 raw X25519
    signature: str                   # county Ed25519 over signed_payload()
    divisions: dict = field(default_factory=dict)   # {"townships": {code: name}, "villages": {code: {name, township}}}
    workmap_sha256: str | None = None

    def to_dict(self) -> dict:
        d = {
            "format": ENROLMENT_FORMAT, "county": self.county, "county_name": self.county_name,
            "township": self.township, "township_name": self.township_name, "enumerator": self.enumerator,
            "device_id": self.device_id, "issued_at": self.issued_at,
            "device_private_key": self.device_private_key, "device_public_key": self.device_public_key,
            "county_sign_public_key": self.county_sign_public_key,
            "county_encrypt_public_key": self.county_encrypt_public_key,
            "divisions": self.divisions, "signature": self.signature,
        }
        if self.workmap_sha256 is not None:
            d["workmap_sha256"] = self.workmap_sha256
        return d

    def signed_payload(self) -> bytes:
        return enrolment_signed_payload(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any) -> "Enrolment":
        w = "登记文件"
        if not isinstance(d, Mapping):
            raise FormatError("登记文件应为 JSON 对象", "an enrolment file must be a JSON object")
        if d.get("format") != ENROLMENT_FORMAT:
            raise FormatError(f"不是普查设备登记文件（format 应为 {ENROLMENT_FORMAT}）",
                              f"not a census enrolment file (format must be {ENROLMENT_FORMAT})")
        divisions = _req(d, w, "divisions", dict, "对象", "an object", optional=True) or {}
        wm = _req(d, w, "workmap_sha256", str, " 64 位十六进制", "64 hex digits", optional=True)
        return cls(
            county=_code(d, w, "county", COUNTY_RE, 6),
            county_name=_req(d, w, "county_name", str, "文本", "text"),
            township=_code(d, w, "township", TOWNSHIP_RE, 9),
            township_name=_req(d, w, "township_name", str, "文本", "text"),
            enumerator=_req(d, w, "enumerator", str, "文本", "text"),
            device_id=_uuid(d, w, "device_id"),
            issued_at=_timestamp(d, w, "issued_at"),
            device_private_key=_b64(d, w, "device_private_key"),
            device_public_key=_b64(d, w, "device_public_key"),
            county_sign_public_key=_b64(d, w, "county_sign_public_key"),
            county_encrypt_public_key=_b64(d, w, "county_encrypt_public_key"),
            signature=_b64(d, w, "signature"),
            divisions=dict(divisions),
            workmap_sha256=wm,
        )


def enrolment_signed_payload(d: Mapping) -> bytes:
    """The bytes the county signs: canonical JSON of every field but the private key and the signature."""
    return canonical_bytes({k: v for k, v in d.items() if k not in ENROLMENT_SIGNED_EXCLUDE})


# ---------------------------------------------------------------------------------------------------
# Return package manifest

@dataclass(frozen=True)
class KeyWrap:
    ephemeral_public: str   # base64 X25519 public key
    nonce: str              # base64 12 bytes
    wrapped_key: str        # base64 AES-GCM(package key) with tag
    alg: str = KEY_WRAP_ALG

    def to_dict(self) -> dict:
        return {"alg": self.alg, "ephemeral_public": self.ephemeral_public, "nonce": self.nonce,
                "wrapped_key": self.wrapped_key}

    @classmethod
    def from_dict(cls, d: Any) -> "KeyWrap":
        w = "清单 key_wrap"
        if not isinstance(d, Mapping):
            raise FormatError("清单的 key_wrap 应为对象", "the manifest's key_wrap must be an object")
        if d.get("alg") != KEY_WRAP_ALG:
            raise FormatError(f"不支持的密钥封装算法（应为 {KEY_WRAP_ALG}）",
                              f"unsupported key-wrap algorithm (must be {KEY_WRAP_ALG})")
        return cls(ephemeral_public=_b64(d, w, "ephemeral_public"), nonce=_b64(d, w, "nonce"),
                   wrapped_key=_b64(d, w, "wrapped_key"))


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    bytes: int

    def to_dict(self) -> dict:
        return {"sha256": self.sha256, "bytes": self.bytes}


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Manifest:
    county: str
    township: str
    device_id: str
    enumerator: str
    sequence: int
    created_at: str
    schema_versions: dict          # {form_id: version}
    counts: dict                   # {form_id: number of revisions}
    files: dict                    # {path: FileEntry}
    encrypted_forms: list
    key_wrap: KeyWrap | None
    acknowledged_through: int = 0

    def to_dict(self) -> dict:
        return {
            "format": RETURN_FORMAT, "county": self.county, "township": self.township,
            "device_id": self.device_id, "enumerator": self.enumerator, "sequence": self.sequence,
            "created_at": self.created_at, "schema_versions": dict(self.schema_versions),
            "counts": dict(self.counts), "files": {p: e.to_dict() for p, e in self.files.items()},
            "encrypted_forms": list(self.encrypted_forms),
            "key_wrap": self.key_wrap.to_dict() if self.key_wrap else None,
            "acknowledged_through": self.acknowledged_through,
        }

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_dict())

    @property
    def total_revisions(self) -> int:
        return sum(self.counts.values())

    @classmethod
    def from_dict(cls, d: Any) -> "Manifest":
        w = "包清单"
        if not isinstance(d, Mapping):
            raise FormatError("包清单 manifest.json 应为 JSON 对象", "manifest.json must be a JSON object")
        if d.get("format") != RETURN_FORMAT:
            raise FormatError(f"不是普查回传包（format 应为 {RETURN_FORMAT}）",
                              f"not a census return package (format must be {RETURN_FORMAT})")
        seq = _req(d, w, "sequence", int, "正整数", "a positive integer")
        if seq < 1:
            raise _fail(w, "sequence", "正整数", "a positive integer")
        ack = _req(d, w, "acknowledged_through", int, "非负整数", "a non-negative integer", optional=True) or 0
        if ack < 0:
            raise _fail(w, "acknowledged_through", "非负整数", "a non-negative integer")
        sv = _req(d, w, "schema_versions", dict, "对象", "an object")
        for k, v in sv.items():
            _form_id(k, w, "schema_versions")
            if not isinstance(v, str):
                raise _fail(w, "schema_versions", "{表单: 版本文本}", "{form: version text}")
        counts = _req(d, w, "counts", dict, "对象", "an object")
        for k, v in counts.items():
            _form_id(k, w, "counts")
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise _fail(w, "counts", "{表单: 非负整数}", "{form: non-negative integer}")
        files_raw = _req(d, w, "files", dict, "对象", "an object")
        files: dict[str, FileEntry] = {}
        for p, e in files_raw.items():
            if not isinstance(e, Mapping) or not isinstance(e.get("sha256"), str) or not _HEX64.match(e["sha256"]) \
                    or not isinstance(e.get("bytes"), int) or isinstance(e.get("bytes"), bool) or e["bytes"] < 0:
                raise _fail(w, "files", "{路径: {sha256, bytes}}", "{path: {sha256, bytes}}")
            files[p] = FileEntry(e["sha256"], e["bytes"])
        enc = _req(d, w, "encrypted_forms", list, "表单编号列表", "a list of form ids")
        for f in enc:
            _form_id(f, w, "encrypted_forms")
        kw = d.get("key_wrap")
        return cls(
            county=_code(d, w, "county", COUNTY_RE, 6),
            township=_code(d, w, "township", TOWNSHIP_RE, 9),
            device_id=_uuid(d, w, "device_id"),
            enumerator=_req(d, w, "enumerator", str, "文本", "text"),
            sequence=seq,
            created_at=_timestamp(d, w, "created_at"),
            schema_versions=dict(sv), counts=dict(counts), files=files, encrypted_forms=list(enc),
            key_wrap=KeyWrap.from_dict(kw) if kw is not None else None,
            acknowledged_through=ack,
        )


# ---------------------------------------------------------------------------------------------------
# Feedback

@dataclass(frozen=True)
class FeedbackItem:
    record_uuid: str
    revision_id: str
    form_id: str
    state: str                     # has_issues | conflict | rejected
    problems: list
    message_zh: str
    message_en: str

    def to_dict(self) -> dict:
        return {"record_uuid": self.record_uuid, "revision_id": self.revision_id, "form_id": self.form_id,
                "state": self.state, "problems": list(self.problems), "message_zh": self.message_zh,
                "message_en": self.message_en}

    @classmethod
    def from_dict(cls, d: Any) -> "FeedbackItem":
        w = "反馈条目"
        if not isinstance(d, Mapping):
            raise FormatError("反馈条目应为 JSON 对象", "a feedback item must be a JSON object")
        state = _req(d, w, "state", str, "状态文本", "a state")
        if state not in FEEDBACK_STATES:
            raise _fail(w, "state", "has_issues、conflict 或 rejected", "has_issues, conflict or rejected")
        return cls(record_uuid=_uuid(d, w, "record_uuid"), revision_id=_uuid(d, w, "revision_id"),
                   form_id=_form_id(d.get("form_id"), w, "form_id"), state=state,
                   problems=list(_req(d, w, "problems", list, "列表", "a list")),
                   message_zh=_req(d, w, "message_zh", str, "文本", "text"),
                   message_en=_req(d, w, "message_en", str, "文本", "text"))


@dataclass(frozen=True)
class Feedback:
    county: str
    township: str
    issued_at: str
    acknowledged_through: dict     # {device_id: highest sequence imported}
    items: list                    # [FeedbackItem]
    signature: str = ""

    def to_dict(self, *, with_signature: bool = True) -> dict:
        d = {"format": FEEDBACK_FORMAT, "county": self.county, "township": self.township,
             "issued_at": self.issued_at, "acknowledged_through": dict(self.acknowledged_through),
             "items": [i.to_dict() for i in self.items]}
        if with_signature:
            d["signature"] = self.signature
        return d

    def signed_payload(self) -> bytes:
        return canonical_bytes(self.to_dict(with_signature=False))

    @classmethod
    def from_dict(cls, d: Any) -> "Feedback":
        w = "反馈文件"
        if not isinstance(d, Mapping):
            raise FormatError("反馈文件应为 JSON 对象", "a feedback file must be a JSON object")
        if d.get("format") != FEEDBACK_FORMAT:
            raise FormatError(f"不是普查反馈文件（format 应为 {FEEDBACK_FORMAT}）",
                              f"not a census feedback file (format must be {FEEDBACK_FORMAT})")
        ack = _req(d, w, "acknowledged_through", dict, "{设备: 序号}", "{device: sequence}")
        for k, v in ack.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise _fail(w, "acknowledged_through", "{设备: 非负整数}", "{device: non-negative integer}")
        return cls(county=_code(d, w, "county", COUNTY_RE, 6), township=_code(d, w, "township", TOWNSHIP_RE, 9),
                   issued_at=_timestamp(d, w, "issued_at"), acknowledged_through=dict(ack),
                   items=[FeedbackItem.from_dict(i) for i in _req(d, w, "items", list, "列表", "a list")],
                   signature=_b64(d, w, "signature"))


def feedback_signed_payload(d: Mapping) -> bytes:
    return canonical_bytes({k: v for k, v in d.items() if k != "signature"})
