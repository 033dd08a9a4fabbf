"""The township store: one enrolled laptop's census records in a single SQLite file (sqlite-utils).

What it guarantees
------------------
- A record is keyed by a UUID that never changes. Every save is a new **revision** pointing at its
  parent; nothing is updated in place except ``records.current_revision_id`` (and the record's derived
  status columns). Drafts and final revisions live side by side; drafts never leave the laptop.
- Every change is written in **one transaction together with its audit row**. The audit log is
  append-only and hash-chained (:mod:`geodb.audit`); each save's audit row carries the SHA-256 of the
  revision's data, so :meth:`TownshipStore.verify` also catches a revision edited behind the tool's back.
- Crash safety: WAL journal, ``synchronous=FULL``, ``BEGIN IMMEDIATE`` … ``COMMIT``. A process killed at
  any moment leaves each record fully saved with its audit row, or absent.
- Export is incremental on acknowledgement: a package carries every final revision of this device that
  the county has not acknowledged yet (from feedback), so a lost USB stick costs nothing — the next
  package carries the same revisions again and the county's merge ignores what it already has.

Tables: ``meta`` (the enrolment, minus the private key), ``records``, ``revisions``, ``workmap`` (the
township's footprints from the sample/county work map), ``audit``, ``feedback`` and ``feedback_files``
(what the county said), ``packages`` (what was exported).

The device's private key is **not** in the database: it lives beside it in ``TOWN.db.key`` (mode 0600).
The database is data people copy — backups, a colleague's laptop, a support request, the county
office — and a copy of the data must not be able to sign packages as this device. The key file is a
credential, handled like an SSH key; if it is lost, ``TownshipStore.restore_key`` (``census township
init`` with the same enrolment file) puts it back.

Package building, signing and encryption belong to the ``sync`` layer, above this one; :meth:`export`
takes the builder as an argument (``sync.package.build_package``) so the layering holds. Verifying the
county's signature on an enrolment or feedback file is a few lines of ``cryptography`` and is done here,
so no caller can forget it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import sqlite3
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from schemas.catalogue import get_form
from schemas.errors import CensusError, Code, HasProblems, Problem, problem
from schemas.model import Form
from schemas.validator import DivisionRegister, RecordResult, ValidationContext, Validator

from .audit import GENESIS, ChainReport, canonical_json, chain_hash, detail_text, verify_chain
from .closed import ClosedConnection

STORE_FORMAT = "census-township-store/1"
ENROLMENT_FORMAT = "census-enrolment/1"
FEEDBACK_FORMAT = "census-feedback/1"
KEY_SUFFIX = ".key"
BOUNDARY_BUFFER_DEG = 0.01   # ≈1 km: a footprint on the township edge is not "outside"
RECORD_STATES = ("draft", "final", "has_issues", "conflict", "rejected")
COUNTY_STATES = ("has_issues", "rejected", "conflict")  # in rising precedence when one record has several
BATCH = 2000


# ---------------------------------------------------------------------------------------------------
# Errors

class TownshipError(CensusError):
    """A township-store operation could not be done; the message says why and what to do."""


class StoreNotFound(TownshipError, FileNotFoundError):
    pass


class EnrolmentError(TownshipError):
    pass


class KeyFileError(TownshipError):
    pass


class FeedbackError(TownshipError):
    pass


class RecordNotFound(TownshipError, KeyError):
    pass


class DuplicateRecord(TownshipError):
    pass


class NothingToExport(TownshipError):
    pass


class StoreClosed(TownshipError):
    """The store was closed while something still held it (a pending autosave, a callback)."""


# ---------------------------------------------------------------------------------------------------
# Results

@dataclass
class SaveResult(HasProblems):
    record_uuid: str
    revision_id: str | None      # None when nothing changed (no new revision)
    status: str                  # the record's status after the save
    problems: list[Problem] = field(default_factory=list)
    created: bool = False        # a new record
    unchanged: bool = False      # identical to the current revision: nothing written
    demoted: bool = False        # asked for final, kept as draft because of errors


@dataclass
class ImportReport:
    form_id: str
    path: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0                  # rows kept as drafts with their problems
    problems: list[Problem] = field(default_factory=list)   # every error, with the file's row number
    unknown_columns: list[str] = field(default_factory=list)
    results: list[SaveResult] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return self.rows - self.invalid

    @property
    def ok(self) -> bool:
        return self.invalid == 0

    def as_dict(self) -> dict:
        return {"form": self.form_id, "file": self.path, "rows": self.rows, "valid": self.valid,
                "invalid": self.invalid, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "unknown_columns": self.unknown_columns,
                "problems": [p.as_dict() for p in self.problems]}


@dataclass
class ExportResult:
    path: Path
    sequence: int
    revisions: int
    counts: dict[str, int]
    acknowledged_through: int
    sha256: str


@dataclass
class FeedbackItem:
    record_uuid: str
    revision_id: str | None
    form_id: str | None
    state: str
    message_zh: str
    message_en: str
    problems: list[dict]
    key: str | None = None           # e.g. the building ID, when the record is known here
    known: bool = True               # the record exists in this store
    current: bool = True             # the feedback is about the record's current revision

    def line(self) -> str:
        where = f"{self.form_id or '?'} {self.key or self.record_uuid}"
        stale = "" if self.current else "（已有更新的修订 / already edited since）"
        unknown = "" if self.known else "（本机没有该记录 / not in this store）"
        return f"{where}: [{self.state}] {self.message_zh} / {self.message_en}{stale}{unknown}"


@dataclass
class FeedbackReport:
    path: str
    issued_at: str
    acknowledged_through: int
    newly_acknowledged: int          # revisions that became acknowledged with this file
    items: list[FeedbackItem] = field(default_factory=list)
    already_applied: bool = False

    def as_dict(self) -> dict:
        return {"file": self.path, "issued_at": self.issued_at, "acknowledged_through": self.acknowledged_through,
                "newly_acknowledged": self.newly_acknowledged, "already_applied": self.already_applied,
                "items": [{"record_uuid": i.record_uuid, "revision_id": i.revision_id, "form_id": i.form_id,
                           "key": i.key, "state": i.state, "known": i.known, "current": i.current,
                           "message_zh": i.message_zh, "message_en": i.message_en, "problems": i.problems}
                          for i in self.items]}


@dataclass
class VerifyReport:
    chain: ChainReport
    problems: list[str] = field(default_factory=list)   # zh / en lines beyond the chain itself

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    def lines(self) -> list[str]:
        return [b.line() for b in self.chain.breaks] + list(self.problems)


# ---------------------------------------------------------------------------------------------------
# Helpers

def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, sort_keys=True, allow_nan=False, separators=(",", ":"))


def _loose_json(v: Any) -> str:
    """Raw user input (may hold datetimes, NaN from spreadsheets): kept for the user, never hashed."""
    return json.dumps(v, ensure_ascii=False, default=str, separators=(",", ":"))


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _b64decode(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (ValueError, TypeError) as e:
        raise EnrolmentError(f"注册文件中的 {what} 不是有效的 base64", f"{what} in the enrolment is not valid base64") from e


def _signed_bytes(doc: Mapping[str, Any], exclude: Iterable[str]) -> bytes:
    skip = set(exclude)
    return canonical_json({k: v for k, v in doc.items() if k not in skip}).encode("utf-8")


def _verify_ed25519(public_b64: str, signature_b64: Any, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
        key.verify(base64.b64decode(str(signature_b64), validate=True), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _public_of(private_raw: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    priv = Ed25519PrivateKey.from_private_bytes(private_raw)
    return priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def read_enrolment(path_or_doc: str | Path | Mapping[str, Any]) -> dict:
    """Read and check an enrolment file: format, codes, the county's signature, the device key pair."""
    if isinstance(path_or_doc, Mapping):
        doc = dict(path_or_doc)
        where = "enrolment"
    else:
        p = Path(path_or_doc)
        if not p.is_file():
            raise FileNotFoundError(2, "找不到注册文件 / enrolment file not found", str(p))
        try:
            doc = json.loads(p.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise EnrolmentError(f"{p}: 注册文件不是有效的 JSON", f"{p}: the enrolment file is not valid JSON") from e
        where = str(p)
    if not isinstance(doc, dict) or doc.get("format") != ENROLMENT_FORMAT:
        raise EnrolmentError(f"{where}: 不是普查设备注册文件（format 应为 {ENROLMENT_FORMAT}）",
                             f"{where}: not a census enrolment file (format must be {ENROLMENT_FORMAT})")
    needed = ("county", "township", "enumerator", "device_id", "device_private_key", "device_public_key",
              "county_sign_public_key", "county_encrypt_public_key", "signature")
    missing = [k for k in needed if not doc.get(k)]
    if missing:
        raise EnrolmentError(f"{where}: 注册文件缺少 {', '.join(missing)}，请向县普查办重新申请",
                             f"{where}: the enrolment lacks {', '.join(missing)}; ask the county office for a new one")
    county, township = str(doc["county"]), str(doc["township"])
    if not (len(county) == 6 and county.isdigit() and len(township) == 9 and township.isdigit()
            and township.startswith(county)):
        raise EnrolmentError(f"{where}: 区县代码 {county} 或乡镇代码 {township} 不正确",
                             f"{where}: county code {county} or township code {township} is malformed")
    if not _verify_ed25519(doc["county_sign_public_key"], doc["signature"],
                           _signed_bytes(doc, ("signature", "device_private_key"))):
        raise EnrolmentError(f"{where}: 注册文件的县级签名无效（文件被改动或损坏），请向县普查办重新申请",
                             f"{where}: the county's signature on the enrolment is invalid (altered or damaged); "
                             "ask the county office for a new one")
    private = _b64decode(doc["device_private_key"], "device_private_key")
    try:
        public = _public_of(private)
    except ValueError as e:
        raise EnrolmentError(f"{where}: 设备私钥无效", f"{where}: the device private key is invalid") from e
    if base64.b64encode(public).decode() != doc["device_public_key"]:
        raise EnrolmentError(f"{where}: 设备私钥与公钥不匹配", f"{where}: the device private and public keys do not match")
    return doc


# ---------------------------------------------------------------------------------------------------
# Schema

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    record_uuid TEXT PRIMARY KEY,
    form_id TEXT NOT NULL,
    key TEXT,
    current_revision_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft','final','has_issues','conflict','rejected')),
    local_status TEXT NOT NULL CHECK (local_status IN ('draft','final','has_issues')),
    error_count INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    exported_seq INTEGER,
    county_state TEXT,
    county_revision_id TEXT,
    county_message_zh TEXT,
    county_message_en TEXT,
    county_problems TEXT
);
CREATE INDEX IF NOT EXISTS records_form ON records(form_id, status, updated_at);
CREATE INDEX IF NOT EXISTS records_status ON records(status, updated_at);
CREATE INDEX IF NOT EXISTS records_key ON records(form_id, key);
CREATE INDEX IF NOT EXISTS records_updated ON records(updated_at);
CREATE TABLE IF NOT EXISTS revisions (
    revision_id TEXT PRIMARY KEY,
    record_uuid TEXT NOT NULL REFERENCES records(record_uuid),
    parent_revision_id TEXT,
    export_parent_id TEXT,
    form_id TEXT NOT NULL,
    form_version TEXT NOT NULL,
    township TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft','final')),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    device_id TEXT NOT NULL,
    data TEXT NOT NULL,
    data_sha256 TEXT NOT NULL,
    problems TEXT NOT NULL,
    input TEXT,
    exported_in_seq INTEGER
);
CREATE INDEX IF NOT EXISTS revisions_record ON revisions(record_uuid);
CREATE INDEX IF NOT EXISTS revisions_pending ON revisions(status, device_id, exported_in_seq);
CREATE TABLE IF NOT EXISTS workmap (
    building_id TEXT PRIMARY KEY,
    township_code TEXT NOT NULL,
    village_code TEXT,
    urban INTEGER NOT NULL DEFAULT 0,
    kind TEXT,
    area_m2 REAL,
    geometry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS workmap_village ON workmap(village_code);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    record_uuid TEXT,
    revision_id TEXT,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_revision ON audit(revision_id);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS feedback_files (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    acknowledged_through INTEGER NOT NULL,
    items INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    feedback_sha256 TEXT NOT NULL REFERENCES feedback_files(sha256),
    record_uuid TEXT NOT NULL,
    revision_id TEXT,
    form_id TEXT,
    state TEXT NOT NULL,
    problems TEXT NOT NULL,
    message_zh TEXT NOT NULL,
    message_en TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_record ON feedback(record_uuid);
CREATE TABLE IF NOT EXISTS packages (
    sequence INTEGER PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('building','written')),
    path TEXT,
    sha256 TEXT,
    created_at TEXT NOT NULL,
    revisions INTEGER NOT NULL DEFAULT 0,
    counts TEXT NOT NULL DEFAULT '{}'
);
"""

_REVISION_FIELDS = ("record_uuid", "revision_id", "parent_revision_id", "form_id", "form_version", "township",
                    "status", "created_at", "created_by", "device_id", "data", "problems")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


# ---------------------------------------------------------------------------------------------------

class TownshipStore:
    """One township laptop's records.  Open with :meth:`init` (first time) or :meth:`open`."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, clock: Callable[[], dt.datetime] | None = None,
                 new_id: Callable[[], str] | None = None):
        self.path = Path(path)
        self.conn = conn
        self.clock = clock or utc_now
        self.new_id = new_id or (lambda: str(uuid.uuid4()))
        self._validators: dict[str, Validator] = {}
        self._forms: dict[str, Form] = {}
        self._meta_cache: dict[str, Any] | None = None
        self._enrolment: dict | None = None
        self._context: ValidationContext | None = None
        meta = self.meta
        if meta.get("format") != STORE_FORMAT:
            raise TownshipError(f"{path}: 不是乡镇普查数据库", f"{path}: not a township census store")

    # -- lifecycle ------------------------------------------------------------------------------------
    @classmethod
    def init(cls, path: str | Path, enrolment: str | Path | Mapping[str, Any], workmap_dir: str | Path | None = None,
             *, workmap: "Workmap | None" = None, **kw) -> "TownshipStore":
        """Create the store for an enrolment (checked: format, county signature, key pair).

        ``workmap_dir`` holds ``sample.gpkg`` (or any GeoPackage with a ``buildings`` layer); the
        township's footprints are loaded into ``workmap`` and its boundary into the validation context
        (or pass ``workmap``, from :func:`load_workmaps`, when setting up many townships at once).
        The device private key goes to ``PATH.key`` (0600), never into the database.
        """
        path = Path(path)
        doc = read_enrolment(enrolment)
        if path.exists():
            raise TownshipError(f"{path} 已存在；如需恢复密钥文件，请用 restore_key",
                                f"{path} already exists; to put back a lost key file use restore_key")
        key_path = cls.key_path_for(path)
        if key_path.exists():
            raise KeyFileError(f"{key_path} 已存在，请先移走", f"{key_path} already exists; move it away first")
        if workmap is None and workmap_dir is not None:
            workmap = load_workmap(workmap_dir, doc["township"])
        if workmap is not None and any(r["township_code"] != doc["township"] for r in workmap.rows):
            raise TownshipError("调查底图中有其他乡镇的图斑", "the work map holds footprints of another township")
        workmap_rows = workmap.rows if workmap is not None else []
        boundary = workmap.boundary if workmap is not None else None
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(path)
        try:
            conn.executescript(_SCHEMA)
            now = iso((kw.get("clock") or utc_now)())
            public_doc = {k: v for k, v in doc.items() if k != "device_private_key"}
            meta = {"format": STORE_FORMAT, "enrolment": canonical_json(public_doc), "created_at": now,
                    "acknowledged_through": "0", "boundary": _json(boundary) if boundary else "",
                    "workmap_source": str(Path(workmap_dir).resolve()) if workmap_dir is not None else ""}
            workmap_rows = [{"kind": None, **r} for r in workmap_rows]
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", list(meta.items()))
                conn.executemany(
                    "INSERT INTO workmap(building_id, township_code, village_code, urban, kind, area_m2, geometry) "
                    "VALUES (:building_id, :township_code, :village_code, :urban, :kind, :area_m2, :geometry)",
                    workmap_rows)
                cls._append_audit(conn, None, now, doc["enumerator"], "init", None, None,
                                  {"county": doc["county"], "township": doc["township"], "device_id": doc["device_id"],
                                   "enumerator": doc["enumerator"], "workmap_buildings": len(workmap_rows)})
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except BaseException:
            conn.close()
            for p in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
                if p.exists():
                    p.unlink()
            raise
        _write_key_file(key_path, doc)
        return cls(path, conn, **kw)

    @classmethod
    def open(cls, path: str | Path, **kw) -> "TownshipStore":
        path = Path(path)
        if not path.is_file():
            raise StoreNotFound(f"找不到乡镇数据库 {path}，请先运行 census township init",
                                f"township store {path} not found; run census township init first")
        conn = _connect(path)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as e:
            conn.close()
            raise TownshipError(f"{path}: 不是有效的数据库文件", f"{path}: not a valid database file") from e
        if "meta" not in names:
            conn.close()
            raise TownshipError(f"{path}: 不是乡镇普查数据库", f"{path}: not a township census store")
        return cls(path, conn, **kw)

    @staticmethod
    def key_path_for(path: str | Path) -> Path:
        return Path(str(path) + KEY_SUFFIX)

    @classmethod
    def restore_key(cls, path: str | Path, enrolment: str | Path | Mapping[str, Any]) -> Path:
        """Put back a lost ``PATH.key`` from the enrolment file this store was initialised with."""
        store = cls.open(path)
        try:
            doc = read_enrolment(enrolment)
            if doc["device_id"] != store.device_id or doc["device_public_key"] != store.enrolment["device_public_key"]:
                raise KeyFileError("该注册文件不是本数据库的注册文件", "this enrolment file is not the one this store was made with")
            key_path = cls.key_path_for(path)
            if key_path.exists():
                store._load_private_key()  # checks it matches
                return key_path
            _write_key_file(key_path, doc)
            with store._tx():
                store._audit("key_restored", None, None, {"device_id": store.device_id})
            return key_path
        finally:
            store.close()

    @property
    def db(self):
        """A sqlite-utils view of the store for reading (tables, counts, ad-hoc queries). Writes go
        through this class only: sqlite-utils' ``insert``/``upsert`` commit on their own, which would
        split a record from its audit row."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def close(self) -> None:
        """Close the connection; later use raises :class:`StoreClosed` (see :mod:`geodb.closed`)."""
        if not isinstance(self.conn, ClosedConnection):
            conn, self.conn = self.conn, ClosedConnection(self.path, StoreClosed)
            conn.close()

    @property
    def closed(self) -> bool:
        return isinstance(self.conn, ClosedConnection)

    def __enter__(self) -> "TownshipStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- metadata -------------------------------------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        if self._meta_cache is None:
            self._meta_cache = {r["key"]: r["value"] for r in self.conn.execute("SELECT key, value FROM meta")}
        return self._meta_cache

    @property
    def enrolment(self) -> dict:
        """The enrolment without the private key (parsed once: it never changes)."""
        if self._enrolment is None:
            self._enrolment = json.loads(self.meta["enrolment"])
        return self._enrolment

    @property
    def county(self) -> str:
        return self.enrolment["county"]

    @property
    def township(self) -> str:
        return self.enrolment["township"]

    @property
    def device_id(self) -> str:
        return self.enrolment["device_id"]

    @property
    def enumerator(self) -> str:
        return self.enrolment["enumerator"]

    @property
    def acknowledged_through(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key='acknowledged_through'").fetchone()
        return int(row[0]) if row else 0

    def boundary(self):
        """The township boundary (buffered ≈1 km) from the work map, as a shapely geometry, or None."""
        text = self.meta.get("boundary")
        if not text:
            return None
        import shapely
        return shapely.from_geojson(text)

    def _load_private_key(self) -> str:
        key_path = self.key_path_for(self.path)
        if not key_path.is_file():
            raise KeyFileError(f"找不到设备密钥文件 {key_path}；请用注册文件恢复：census township init --db {self.path} --enrolment 注册文件.json",
                               f"device key file {key_path} is missing; restore it from the enrolment file: "
                               f"census township init --db {self.path} --enrolment ENROLMENT.json")
        try:
            doc = json.loads(key_path.read_text(encoding="utf-8"))
            private = base64.b64decode(doc["device_private_key"], validate=True)
            public = base64.b64encode(_public_of(private)).decode()
        except (ValueError, KeyError, TypeError) as e:
            raise KeyFileError(f"设备密钥文件 {key_path} 已损坏", f"device key file {key_path} is damaged") from e
        if doc.get("device_id") != self.device_id or public != self.enrolment["device_public_key"]:
            raise KeyFileError(f"设备密钥文件 {key_path} 不属于本数据库", f"device key file {key_path} does not belong to this store")
        return doc["device_private_key"]

    def signing_enrolment(self) -> dict:
        """The full enrolment including the device private key (for the package builder only)."""
        return {**self.enrolment, "device_private_key": self._load_private_key()}

    # -- validation -----------------------------------------------------------------------------------
    def form(self, form_id: str) -> Form:
        if form_id not in self._forms:
            self._forms[form_id] = get_form(form_id)
        return self._forms[form_id]

    def validation_context(self) -> ValidationContext:
        """County code, this township's division codes (a neighbour's village is flagged here already),
        and the township boundary when a work map was loaded."""
        if self._context is not None:
            return self._context
        enr = self.enrolment
        divisions = enr.get("divisions") or {}
        villages = frozenset(code for code, v in (divisions.get("villages") or {}).items()
                             if not isinstance(v, Mapping) or v.get("township") in (None, self.township))
        register = DivisionRegister(townships=frozenset({self.township}), villages=villages)
        self._context = ValidationContext(county_code=self.county, divisions=register, boundary=self.boundary(),
                                          report_unknown_fields=False)
        return self._context

    def validator(self, form_id: str) -> Validator:
        if form_id not in self._validators:
            self._validators[form_id] = Validator(self.form(form_id), self.validation_context())
        return self._validators[form_id]

    # -- transactions and audit -----------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        self._head: tuple[int, str] | None = None
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._head = None
            self._meta_cache = None

    @staticmethod
    def _append_audit(conn: sqlite3.Connection, head: tuple[int, str] | None, at: str, actor: str, action: str,
                      record_uuid: str | None, revision_id: str | None, detail: Mapping[str, Any]) -> tuple[int, str]:
        if head is None:
            row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            head = (row[0], row[1]) if row else (0, GENESIS)
        seq = head[0] + 1
        row = {"seq": seq, "at": at, "actor": actor, "action": action, "record_uuid": record_uuid,
               "revision_id": revision_id, "detail": detail_text(detail)}
        h = chain_hash(head[1], row)
        conn.execute("INSERT INTO audit(seq, at, actor, action, record_uuid, revision_id, detail, prev_hash, hash) "
                     "VALUES (:seq, :at, :actor, :action, :record_uuid, :revision_id, :detail, :prev_hash, :hash)",
                     {**row, "prev_hash": head[1], "hash": h})
        return seq, h

    def _audit(self, action: str, record_uuid: str | None, revision_id: str | None, detail: Mapping[str, Any],
               *, at: str | None = None, actor: str | None = None) -> None:
        self._head = self._append_audit(self.conn, self._head, at or iso(self.clock()), actor or self.enumerator,
                                        action, record_uuid, revision_id, detail)

    # -- saving ---------------------------------------------------------------------------------------
    def save(self, form_id: str, data: Mapping[str, Any], *, record_uuid: str | None = None, final: bool = True,
             force: bool = False) -> SaveResult:
        """Validate and save one record: a new record (``record_uuid=None``) or a new revision of one.

        ``final=True`` with errors keeps the revision as a **draft** with its problems (``demoted``),
        unless ``force=True``: then it is final and marked ``has_issues`` (the enumerator submits it as
        is; the county sees the same problems). A save identical to the current revision writes nothing.
        """
        return self.save_many(form_id, [data], record_uuids=[record_uuid], final=final, force=force)[0]

    def save_many(self, form_id: str, items: Sequence[Mapping[str, Any]], *,
                  record_uuids: Sequence[str | None] | None = None, final: bool | Sequence[bool] = True,
                  force: bool = False, rows: Sequence[int] | None = None, match_key: bool = False,
                  source: str | None = None, checked: Sequence[RecordResult] | None = None) -> list[SaveResult]:
        """Validate a batch in one pass and save it in one transaction (each revision with its audit row).

        ``match_key``: a new item whose natural key (e.g. ``building_id``) matches an existing record
        becomes a revision of that record instead of a duplicate (file imports); otherwise such an item
        raises :class:`DuplicateRecord` before anything is written.
        ``checked``: the results of ``self.validator(form_id).validate_many(items)`` when the caller has
        just computed them (bulk generators), so the batch is not validated twice.
        """
        form = self.form(form_id)
        n = len(items)
        uuids = list(record_uuids) if record_uuids is not None else [None] * n
        finals = [final] * n if isinstance(final, bool) else list(final)
        if len(uuids) != n or len(finals) != n:
            raise ValueError("record_uuids/final must match items")
        if checked is None:
            checked = self.validator(form_id).validate_many(list(items), rows=rows)
        elif len(checked) != n:
            raise ValueError("checked must hold one result per item")
        key_field = form.key_field
        # resolve targets before writing anything
        currents: dict[str, sqlite3.Row] = {}
        targets: list[str | None] = []
        seen_keys: dict[str, int] = {}
        for i, (ru, res) in enumerate(zip(uuids, checked)):
            key = _key_of(res.record, items[i], key_field)
            if ru is None and key is not None:
                if key in seen_keys:
                    if not match_key:
                        raise DuplicateRecord(f"同一批中“{key}”出现两次（表单 {form_id}）",
                                              f"'{key}' appears twice in one batch (form {form_id})")
                    ru = targets[seen_keys[key]] or f"pending:{seen_keys[key]}"
                else:
                    existing = self.conn.execute("SELECT record_uuid FROM records WHERE form_id=? AND key=? "
                                                 "ORDER BY created_at LIMIT 1", (form_id, key)).fetchone()
                    if existing is not None:
                        if not match_key:
                            raise DuplicateRecord(
                                f"表单 {form_id} 中已有“{key}”的记录（{existing[0]}），请编辑该记录",
                                f"form {form_id} already has a record for '{key}' ({existing[0]}); edit that record")
                        ru = existing[0]
                    seen_keys[key] = i
            if ru is not None and not ru.startswith("pending:") and ru not in currents:
                cur = self.conn.execute(
                    "SELECT r.record_uuid, r.form_id, r.status, r.local_status, r.current_revision_id, "
                    "v.data, v.problems, v.status AS rev_status, v.export_parent_id "
                    "FROM records r JOIN revisions v ON v.revision_id = r.current_revision_id "
                    "WHERE r.record_uuid = ?", (ru,)).fetchone()
                if cur is None:
                    raise RecordNotFound(f"没有记录 {ru}", f"no record {ru}")
                if cur["form_id"] != form_id:
                    raise TownshipError(f"记录 {ru} 属于表单 {cur['form_id']}，不是 {form_id}",
                                        f"record {ru} belongs to form {cur['form_id']}, not {form_id}")
                currents[ru] = cur
            targets.append(ru)
        out: list[SaveResult] = []
        created_in_batch: dict[int, str] = {}
        with self._tx():
            now = iso(self.clock())
            for i, res in enumerate(checked):
                ru = targets[i]
                if ru is not None and ru.startswith("pending:"):
                    ru = created_in_batch[int(ru.split(":")[1])]
                errors = [p for p in res.problems if p.severity == "error"]
                status = "final" if finals[i] and (not errors or force) else "draft"
                problems = [p.as_dict() for p in res.problems]
                data_text = _json(res.record)
                problems_text = _json(problems)
                key = _key_of(res.record, items[i], key_field)
                local_status = "draft" if status == "draft" else ("has_issues" if errors else "final")
                cur = currents.get(ru) if ru else None
                if cur is not None and cur["data"] == data_text and cur["problems"] == problems_text \
                        and cur["rev_status"] == status:
                    out.append(SaveResult(ru, None, cur["status"], list(res.problems), unchanged=True,
                                          demoted=finals[i] and status == "draft"))
                    continue
                revision_id = self.new_id()
                created = ru is None
                if created:
                    ru = self.new_id()
                    created_in_batch[i] = ru
                    parent = None
                    export_parent = None
                else:
                    parent = cur["current_revision_id"]
                    export_parent = parent if cur["rev_status"] == "final" else cur["export_parent_id"]
                changed = _changed_fields(json.loads(cur["data"]) if cur is not None else {}, res.record)
                sha = _sha256_text(data_text)
                if created:
                    self.conn.execute(
                        "INSERT INTO records(record_uuid, form_id, key, current_revision_id, status, local_status, "
                        "error_count, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                        (ru, form_id, key, revision_id, local_status, local_status, len(errors), now, now))
                self.conn.execute(
                    "INSERT INTO revisions(revision_id, record_uuid, parent_revision_id, export_parent_id, form_id, "
                    "form_version, township, status, created_at, created_by, device_id, data, data_sha256, problems, "
                    "input) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (revision_id, ru, parent, export_parent, form_id, form.version, self.township, status, now,
                     self.enumerator, self.device_id, data_text, sha, problems_text,
                     _loose_json(dict(items[i])) if res.problems and isinstance(items[i], Mapping) else None))
                if not created:
                    self.conn.execute(
                        "UPDATE records SET current_revision_id=?, status=?, local_status=?, error_count=?, key=?, "
                        "updated_at=?, exported_seq=NULL, county_state=NULL, county_revision_id=NULL, county_message_zh=NULL, "
                        "county_message_en=NULL, county_problems=NULL WHERE record_uuid=?",
                        (revision_id, local_status, local_status, len(errors), key, now, ru))
                detail = {"form_id": form_id, "form_version": form.version, "status": status, "parent": parent,
                          "data_sha256": sha, "changed": changed, "errors": len(errors)}
                if source:
                    detail["source"] = source
                if rows is not None:
                    detail["row"] = rows[i]
                self._audit("create" if created else "revise", ru, revision_id, detail, at=now)
                currents[ru] = _FakeRow(record_uuid=ru, form_id=form_id, status=local_status, local_status=local_status,
                                        current_revision_id=revision_id, data=data_text, problems=problems_text,
                                        rev_status=status, export_parent_id=export_parent)
                out.append(SaveResult(ru, revision_id, local_status, list(res.problems), created=created,
                                      demoted=finals[i] and status == "draft"))
        return out

    def add_file(self, form_id: str, path: str | Path, *, progress: Callable[[int, int], None] | None = None
                 ) -> ImportReport:
        """Import a .json/.csv/.xlsx file: every row saved; valid rows final, invalid rows kept as drafts
        with their problems (row and field) so they can be fixed in the app — nothing typed is lost and
        nothing invalid goes to the county unnoticed. A row whose key (e.g. building_id) matches a
        record becomes a new revision of it; an identical row writes nothing (re-importing is safe).
        A ``_record_uuid`` column targets a record explicitly."""
        from schemas.records_io import read_records

        form = self.form(form_id)
        path = Path(path)
        all_rows = list(read_records(path, sheet=form.id))
        report = ImportReport(form_id, str(path), rows=len(all_rows))
        known = {f.name for f in form.walk()}
        columns = {k for r in all_rows if isinstance(r.record, dict) for k in r.record}
        report.unknown_columns = sorted(str(c) for c in columns
                                        if c not in known and not str(c).startswith(("_", "meta")))
        for r in all_rows:
            if not isinstance(r.record, Mapping):  # reported, not stored: there is nothing to keep
                report.invalid += 1
                report.problems.append(problem(Code.RECORD_NOT_OBJECT, "", row=r.row))
        objects = [r for r in all_rows if isinstance(r.record, Mapping)]
        for start in range(0, len(objects), BATCH):
            batch = objects[start:start + BATCH]
            uuids = []
            for r in batch:
                ru = r.record.get("_record_uuid") if isinstance(r.record, dict) else None
                uuids.append(str(ru) if ru else None)
            results = self.save_many(form_id, [r.record for r in batch], record_uuids=uuids, final=True, rows=[r.row for r in batch], match_key=True,
                                     source=path.name)
            for res in results:
                report.results.append(res)
                if res.errors:
                    report.invalid += 1
                    report.problems.extend(res.errors)
                if res.unchanged:
                    report.unchanged += 1
                elif res.created:
                    report.created += 1
                else:
                    report.updated += 1
            if progress is not None:
                progress(min(start + BATCH, len(objects)), len(objects))
        return report

    def adopt_revisions(self, revisions: Iterable[Mapping[str, Any]]) -> int:
        """Take in revisions made on another device (a colleague's laptop, a copied store): they keep
        their ids, become current when they extend the local chain, and are never exported from here.
        Returns how many were new."""
        n = 0
        with self._tx():
            now = iso(self.clock())
            for rev in revisions:
                if self.conn.execute("SELECT 1 FROM revisions WHERE revision_id=?", (rev["revision_id"],)).fetchone():
                    continue
                form = self.form(rev["form_id"])
                data_text = _json(rev["data"])
                problems_text = _json(list(rev.get("problems") or []))
                errors = sum(1 for p in rev.get("problems") or [] if p.get("severity", "error") == "error")
                status = rev["status"]
                local_status = "draft" if status == "draft" else ("has_issues" if errors else "final")
                key = _key_of(rev["data"], rev["data"], form.key_field)
                rec = self.conn.execute("SELECT current_revision_id FROM records WHERE record_uuid=?",
                                        (rev["record_uuid"],)).fetchone()
                if rec is None:
                    self.conn.execute(
                        "INSERT INTO records(record_uuid, form_id, key, current_revision_id, status, local_status, "
                        "error_count, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                        (rev["record_uuid"], rev["form_id"], key, rev["revision_id"], local_status, local_status,
                         errors, now, now))
                elif rec[0] == rev.get("parent_revision_id"):
                    self.conn.execute("UPDATE records SET current_revision_id=?, status=?, local_status=?, "
                                      "error_count=?, updated_at=?, exported_seq=NULL WHERE record_uuid=?",
                                      (rev["revision_id"], local_status, local_status, errors, now, rev["record_uuid"]))
                self.conn.execute(
                    "INSERT INTO revisions(revision_id, record_uuid, parent_revision_id, export_parent_id, form_id, "
                    "form_version, township, status, created_at, created_by, device_id, data, data_sha256, problems) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (rev["revision_id"], rev["record_uuid"], rev.get("parent_revision_id"),
                     rev.get("parent_revision_id"), rev["form_id"], rev.get("form_version") or form.version,
                     rev.get("township") or self.township, status, rev.get("created_at") or now,
                     rev.get("created_by") or "", rev.get("device_id") or "", data_text, _sha256_text(data_text),
                     problems_text))
                self._audit("adopt", rev["record_uuid"], rev["revision_id"],
                            {"form_id": rev["form_id"], "from_device": rev.get("device_id"),
                             "data_sha256": _sha256_text(data_text), "status": status}, at=now)
                n += 1
        return n

    # -- reading --------------------------------------------------------------------------------------
    def get(self, record_uuid: str) -> dict:
        """The record's current revision (format of a return-package revision) plus its store columns."""
        row = self.conn.execute(
            "SELECT r.*, v.* , r.status AS record_status, v.status AS revision_status, r.created_at AS record_created "
            "FROM records r JOIN revisions v ON v.revision_id = r.current_revision_id WHERE r.record_uuid=?",
            (record_uuid,)).fetchone()
        if row is None:
            raise RecordNotFound(f"没有记录 {record_uuid}", f"no record {record_uuid}")
        out = _revision_dict(row)
        out["status"] = row["revision_status"]
        out.update(record_status=row["record_status"], key=row["key"], county_state=row["county_state"],
                   county_message_zh=row["county_message_zh"], county_message_en=row["county_message_en"],
                   county_problems=json.loads(row["county_problems"]) if row["county_problems"] else [],
                   input=json.loads(row["input"]) if row["input"] else None)
        return out

    def history(self, record_uuid: str) -> list[dict]:
        """Every revision of a record, oldest first. ``parent_revision_id`` is the nearest *final*
        ancestor (what the county sees); ``local_parent_revision_id`` the actual parent (maybe a draft)."""
        rows = self.conn.execute("SELECT * FROM revisions WHERE record_uuid=? ORDER BY rowid", (record_uuid,)).fetchall()
        if not rows:
            raise RecordNotFound(f"没有记录 {record_uuid}", f"no record {record_uuid}")
        return [dict(_revision_dict(r), exported_in_seq=r["exported_in_seq"], local_parent_revision_id=r["parent_revision_id"])
                for r in rows]

    def records(self, form_id: str | None = None, status: str | Sequence[str] | None = None, *,
                limit: int | None = None, offset: int = 0, include_data: bool = False) -> list[dict]:
        """Records (newest first), filtered by form and status; ``include_data`` adds the current data
        and problems."""
        where, params = [], []
        if form_id:
            where.append("r.form_id = ?")
            params.append(form_id)
        if status:
            states = [status] if isinstance(status, str) else list(status)
            where.append(f"r.status IN ({','.join('?' * len(states))})")
            params.extend(states)
        cols = "r.*" + (", v.data, v.problems" if include_data else "")
        join = " JOIN revisions v ON v.revision_id = r.current_revision_id" if include_data else ""
        sql = f"SELECT {cols} FROM records r{join}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.updated_at DESC, r.rowid DESC"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [int(limit), int(offset)]
        out = []
        for r in self.conn.execute(sql, params):
            d = dict(r)
            if include_data:
                d["data"] = json.loads(d["data"])
                d["problems"] = json.loads(d["problems"])
            if d.get("county_problems"):
                d["county_problems"] = json.loads(d["county_problems"])
            out.append(d)
        return out

    def count(self, form_id: str | None = None, status: str | None = None) -> int:
        where, params = [], []
        if form_id:
            where.append("form_id=?")
            params.append(form_id)
        if status:
            where.append("status=?")
            params.append(status)
        sql = "SELECT count(*) FROM records" + (" WHERE " + " AND ".join(where) if where else "")
        return self.conn.execute(sql, params).fetchone()[0]

    def workmap(self, *, village_code: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM workmap", []
        if village_code:
            sql += " WHERE village_code=?"
            params.append(village_code)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY building_id", params)]

    def summary(self) -> dict:
        """Per form and status counts, work-map completeness, what is pending, the last package."""
        by_form: dict[str, dict[str, int]] = {}
        for r in self.conn.execute("SELECT form_id, status, count(*) AS n FROM records GROUP BY form_id, status"):
            by_form.setdefault(r["form_id"], {})[r["status"]] = r["n"]
        assigned = self.conn.execute("SELECT count(*) FROM workmap").fetchone()[0]
        filled = self.conn.execute(
            "SELECT count(DISTINCT w.building_id) FROM workmap w JOIN records r ON r.key = w.building_id "
            "AND r.form_id IN ('rural_house','urban_house') AND r.status != 'draft'").fetchone()[0]
        last = self.conn.execute("SELECT * FROM packages WHERE status='written' ORDER BY sequence DESC LIMIT 1").fetchone()
        return {"county": self.county, "township": self.township,
                "township_name": self.enrolment.get("township_name"), "device_id": self.device_id,
                "enumerator": self.enumerator, "records": by_form,
                "workmap": {"assigned": assigned, "filled": filled},
                "pending_revisions": self._pending_count(), "acknowledged_through": self.acknowledged_through,
                "last_package": dict(last) if last else None}

    # -- export ---------------------------------------------------------------------------------------
    def _pending_sql(self) -> tuple[str, tuple]:
        return ("FROM revisions WHERE status='final' AND device_id=? AND "
                "(exported_in_seq IS NULL OR exported_in_seq > ?)", (self.device_id, self.acknowledged_through))

    def _pending_count(self) -> int:
        sql, params = self._pending_sql()
        return self.conn.execute("SELECT count(*) " + sql, params).fetchone()[0]

    def pending_revisions(self) -> list[dict]:
        """Final revisions of this device the county has not acknowledged, in the order they were made,
        in the return-package format (a draft parent is skipped: the parent is the nearest final one)."""
        sql, params = self._pending_sql()
        return [_revision_dict(r) for r in self.conn.execute("SELECT * " + sql + " ORDER BY rowid", params)]

    def export(self, out_dir: str | Path, *, build_package: Callable[..., Path]) -> ExportResult:
        """Write the next return package with every unacknowledged final revision.

        ``build_package`` is ``sync.package.build_package(revisions, *, enrolment, sequence, out_dir,
        acknowledged_through)``. The sequence number is reserved (committed) before building, so a crash
        mid-export never reuses a number for different contents.
        """
        revisions = self.pending_revisions()
        if not revisions:
            raise NothingToExport("没有需要导出的新数据（县级已确认收到全部已完成记录）",
                                  "nothing to export: the county has acknowledged every final record")
        enrolment = self.signing_enrolment()
        ack = self.acknowledged_through
        with self._tx():
            row = self.conn.execute("SELECT max(sequence) FROM packages").fetchone()
            sequence = (row[0] or 0) + 1
            self.conn.execute("INSERT INTO packages(sequence, status, created_at) VALUES (?, 'building', ?)",
                              (sequence, iso(self.clock())))
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            path = Path(build_package(revisions, enrolment=enrolment, sequence=sequence, out_dir=out_dir,
                                      acknowledged_through=ack))
        except BaseException:
            with self._tx():  # nothing was written: give the number back
                self.conn.execute("DELETE FROM packages WHERE sequence=? AND status='building'", (sequence,))
            raise
        sha = _sha256_file(path)
        counts: dict[str, int] = {}
        for r in revisions:
            counts[r["form_id"]] = counts.get(r["form_id"], 0) + 1
        ids = [r["revision_id"] for r in revisions]
        with self._tx():
            now = iso(self.clock())
            for start in range(0, len(ids), 900):
                chunk = ids[start:start + 900]
                marks = ",".join("?" * len(chunk))
                self.conn.execute(f"UPDATE revisions SET exported_in_seq=? WHERE exported_in_seq IS NULL "
                                  f"AND revision_id IN ({marks})", (sequence, *chunk))
                self.conn.execute(f"UPDATE records SET exported_seq=? WHERE current_revision_id IN ({marks})",
                                  (sequence, *chunk))
            self.conn.execute("UPDATE packages SET status='written', path=?, sha256=?, revisions=?, counts=?, "
                              "created_at=? WHERE sequence=?",
                              (str(path), sha, len(ids), _json(counts), now, sequence))
            self._audit("export", None, None, {"sequence": sequence, "sha256": sha, "revisions": len(ids),
                                               "counts": counts, "acknowledged_through": ack,
                                               "revision_ids_sha256": _sha256_text("\n".join(ids)),
                                               "file": path.name}, at=now)
        return ExportResult(path, sequence, len(ids), counts, ack, sha)

    def packages(self) -> list[dict]:
        return [dict(r, counts=json.loads(r["counts"])) for r in
                self.conn.execute("SELECT * FROM packages ORDER BY sequence")]

    # -- feedback -------------------------------------------------------------------------------------
    def read_feedback(self, path: str | Path) -> tuple[dict, str]:
        """Read a county feedback file and check it: format, county signature, county and township."""
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(2, "找不到反馈文件 / feedback file not found", str(p))
        raw = p.read_bytes()
        if len(raw) > 256 * 1024 * 1024:
            raise FeedbackError(f"{p}: 反馈文件过大", f"{p}: the feedback file is too large")
        try:
            doc = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise FeedbackError(f"{p}: 反馈文件不是有效的 JSON", f"{p}: the feedback file is not valid JSON") from e
        if not isinstance(doc, dict) or doc.get("format") != FEEDBACK_FORMAT:
            raise FeedbackError(f"{p}: 不是县级反馈文件（format 应为 {FEEDBACK_FORMAT}）",
                                f"{p}: not a county feedback file (format must be {FEEDBACK_FORMAT})")
        if not _verify_ed25519(self.enrolment["county_sign_public_key"], doc.get("signature"),
                               _signed_bytes(doc, ("signature",))):
            raise FeedbackError(f"{p}: 反馈文件的县级签名无效（被改动、损坏或来自其他县），未作任何更改",
                                f"{p}: the county signature on the feedback is invalid (altered, damaged or from "
                                "another county); nothing was changed")
        if doc.get("county") != self.county or doc.get("township") != self.township:
            raise FeedbackError(f"{p}: 该反馈属于 {doc.get('county')}/{doc.get('township')}，不是本乡镇 "
                                f"{self.county}/{self.township}",
                                f"{p}: this feedback is for {doc.get('county')}/{doc.get('township')}, not this "
                                f"township {self.county}/{self.township}")
        items = doc.get("items")
        ack = doc.get("acknowledged_through")
        if not isinstance(items, list) or not isinstance(ack, dict):
            raise FeedbackError(f"{p}: 反馈文件缺少 items 或 acknowledged_through",
                                f"{p}: the feedback lacks items or acknowledged_through")
        return doc, hashlib.sha256(raw).hexdigest()

    def apply_feedback(self, path: str | Path) -> FeedbackReport:
        """Verify and apply a county feedback file: record the acknowledgement (revisions up to that
        sequence are no longer exported), mark each listed record with the county's state and messages
        (only while the feedback is about its current revision), and list them. Re-applying is harmless."""
        doc, sha = self.read_feedback(path)
        ack_map = doc["acknowledged_through"]
        raw_ack = ack_map.get(self.device_id, 0)
        ack = raw_ack if isinstance(raw_ack, int) and not isinstance(raw_ack, bool) and raw_ack >= 0 else 0
        written = self.conn.execute("SELECT max(sequence) FROM packages WHERE status='written'").fetchone()[0] or 0
        if ack > written:
            raise FeedbackError(f"{path}: 反馈确认收到第 {ack} 号数据包，但本机只导出到第 {written} 号",
                                f"{path}: the feedback acknowledges package {ack} but this device exported only up to {written}")
        before_pending = self._pending_count()
        report = FeedbackReport(str(path), str(doc.get("issued_at", "")), max(ack, self.acknowledged_through), 0)
        already = self.conn.execute("SELECT 1 FROM feedback_files WHERE sha256=?", (sha,)).fetchone() is not None
        report.already_applied = already
        marked: dict[str, int] = {}
        with self._tx():
            now = iso(self.clock())
            if ack > self.acknowledged_through:
                self.conn.execute("UPDATE meta SET value=? WHERE key='acknowledged_through'", (str(ack),))
            if not already:
                self.conn.execute("INSERT INTO feedback_files(sha256, path, issued_at, applied_at, acknowledged_through, "
                                  "items) VALUES (?,?,?,?,?,?)",
                                  (sha, str(path), str(doc.get("issued_at", "")), now, ack, len(doc["items"])))
            for it in doc["items"]:
                if not isinstance(it, Mapping) or not it.get("record_uuid"):
                    continue
                state = str(it.get("state", "has_issues"))
                if state not in COUNTY_STATES:
                    state = "has_issues"
                ru, rev = str(it["record_uuid"]), it.get("revision_id")
                problems = [p for p in (it.get("problems") or []) if isinstance(p, Mapping)]
                msg_zh, msg_en = str(it.get("message_zh") or ""), str(it.get("message_en") or "")
                rec = self.conn.execute("SELECT form_id, key, current_revision_id FROM records WHERE record_uuid=?",
                                        (ru,)).fetchone()
                item = FeedbackItem(ru, rev, it.get("form_id") or (rec["form_id"] if rec else None), state, msg_zh,
                                    msg_en, problems, key=rec["key"] if rec else None, known=rec is not None)
                if rec is not None:
                    current_rev = rec["current_revision_id"]
                    item.current = rev is None or rev == current_rev or _is_ancestor_chain_final(
                        self.conn, current_rev, rev)
                    rank = COUNTY_STATES.index(state)
                    if item.current and not already and rank >= marked.get(ru, -1):  # conflict wins
                        marked[ru] = rank
                        self.conn.execute("UPDATE records SET status=?, county_state=?, county_revision_id=?, "
                                          "county_message_zh=?, county_message_en=?, county_problems=? "
                                          "WHERE record_uuid=?",
                                          (state, state, rev, msg_zh, msg_en, _json(problems), ru))
                if not already:
                    self.conn.execute("INSERT INTO feedback(feedback_sha256, record_uuid, revision_id, form_id, state, "
                                      "problems, message_zh, message_en, received_at) VALUES (?,?,?,?,?,?,?,?,?)",
                                      (sha, ru, rev, item.form_id, state, _json(problems), msg_zh, msg_en, now))
                report.items.append(item)
            if not already:
                self._audit("feedback", None, None, {"sha256": sha, "issued_at": str(doc.get("issued_at", "")),
                                                     "acknowledged_through": ack, "items": len(report.items)}, at=now)
        report.newly_acknowledged = before_pending - self._pending_count()
        return report

    # -- integrity ------------------------------------------------------------------------------------
    def verify(self) -> VerifyReport:
        """Recompute the audit chain; check every revision against its audit row (data hash) and every
        record's current revision against the log."""
        rows = (dict(r) for r in self.conn.execute(
            "SELECT seq, at, actor, action, record_uuid, revision_id, detail, prev_hash, hash FROM audit ORDER BY seq"))
        chain = verify_chain(rows)
        report = VerifyReport(chain)
        audited: dict[str, str] = {}
        for r in self.conn.execute("SELECT revision_id, detail FROM audit WHERE revision_id IS NOT NULL "
                                   "AND action IN ('create','revise','adopt')"):
            try:
                audited[r["revision_id"]] = json.loads(r["detail"]).get("data_sha256")
            except ValueError:
                audited[r["revision_id"]] = None
        for r in self.conn.execute("SELECT revision_id, record_uuid, data, data_sha256 FROM revisions"):
            sha = _sha256_text(r["data"])
            if r["revision_id"] not in audited:
                report.problems.append(f"修订 {r['revision_id']}（记录 {r['record_uuid']}）没有审计记录：被绕过工具写入 / "
                                       f"revision {r['revision_id']} (record {r['record_uuid']}) has no audit row: "
                                       "written behind the tool's back")
            elif sha != audited[r["revision_id"]] or sha != r["data_sha256"]:
                report.problems.append(f"修订 {r['revision_id']}（记录 {r['record_uuid']}）的内容与审计记录不符：被篡改 / "
                                       f"revision {r['revision_id']} (record {r['record_uuid']}) does not match its "
                                       "audit row: the data was altered")
        for r in self.conn.execute("SELECT r.record_uuid, r.current_revision_id, v.record_uuid AS owner FROM records r "
                                   "LEFT JOIN revisions v ON v.revision_id = r.current_revision_id"):
            if r["owner"] != r["record_uuid"]:
                report.problems.append(f"记录 {r['record_uuid']} 的当前修订 {r['current_revision_id']} 不存在或不属于它 / "
                                       f"record {r['record_uuid']}: current revision {r['current_revision_id']} is "
                                       "missing or belongs to another record")
        return report


class _FakeRow(dict):
    """The bits of a records⋈revisions row kept in memory for the rest of a batch."""

    def __init__(self, **kw):
        super().__init__(**kw)


def _is_ancestor_chain_final(conn: sqlite3.Connection, current: str, target: str) -> bool:
    """True when ``target`` is the current revision's nearest final ancestor (only drafts in between):
    feedback about it still describes what the county holds as current."""
    row = conn.execute("SELECT status, export_parent_id FROM revisions WHERE revision_id=?", (current,)).fetchone()
    return row is not None and row["status"] == "draft" and row["export_parent_id"] == target


def _key_of(record: Mapping[str, Any], raw: Any, key_field: str | None) -> str | None:
    if not key_field:
        return None
    v = record.get(key_field)
    if v is None and isinstance(raw, Mapping):
        v = raw.get(key_field)
    if v is None or v == "":
        return None
    return str(v).strip() or None


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _revision_dict(r: Mapping[str, Any]) -> dict:
    return {"record_uuid": r["record_uuid"], "revision_id": r["revision_id"],
            "parent_revision_id": r["export_parent_id"], "form_id": r["form_id"], "form_version": r["form_version"],
            "township": r["township"], "status": r["status"], "created_at": r["created_at"],
            "created_by": r["created_by"], "device_id": r["device_id"], "data": json.loads(r["data"]),
            "problems": json.loads(r["problems"])}


def _write_key_file(key_path: Path, doc: Mapping[str, Any]) -> None:
    body = json.dumps({"format": "census-device-key/1", "device_id": doc["device_id"], "county": doc["county"],
                       "township": doc["township"], "device_private_key": doc["device_private_key"]},
                      ensure_ascii=False, indent=1).encode("utf-8")
    tmp = key_path.with_name(key_path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, key_path)


# ---------------------------------------------------------------------------------------------------
# Work map

def _workmap_gpkg(workmap_dir: str | Path) -> Path:
    p = Path(workmap_dir)
    if p.is_file():
        return p
    cand = p / "sample.gpkg"
    if cand.is_file():
        return cand
    found = sorted(p.glob("*.gpkg")) if p.is_dir() else []
    if found:
        return found[0]
    raise FileNotFoundError(2, "找不到调查底图（sample.gpkg）/ work map (sample.gpkg) not found", str(p))


@dataclass
class Workmap:
    """One township's part of the work map: footprint rows for the ``workmap`` table and the
    township boundary (buffered, GeoJSON) for the validation context."""

    rows: list[dict]
    boundary: dict | None


def load_workmaps(workmap_dir: str | Path, townships: Iterable[str] | None = None) -> dict[str, Workmap]:
    """Work maps of several townships (all when ``townships`` is None), reading the GeoPackage once."""
    import pyogrio
    import shapely

    wanted = None if townships is None else {str(t) for t in townships}
    for t in wanted or ():
        if not (len(t) == 9 and t.isdigit()):
            raise TownshipError(f"乡镇代码 {t} 不正确", f"township code {t} is malformed")
    gpkg = _workmap_gpkg(workmap_dir)
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    if "buildings" not in layers:
        raise TownshipError(f"{gpkg}: 缺少 buildings 图层", f"{gpkg}: no buildings layer")
    where = None
    if wanted is not None:
        where = "township_code IN (" + ",".join(f"'{t}'" for t in sorted(wanted)) + ")"  # digits only, checked
    b = pyogrio.read_dataframe(gpkg, layer="buildings", where=where)
    if b.crs is not None and b.crs.to_epsg() not in (4490, None):
        b = b.to_crs(4490)
    n = len(b)
    areas = b.geometry.to_crs(4549).area.to_numpy() if n else []
    geo = shapely.to_geojson(b.geometry.to_numpy()) if n else []
    cols = set(b.columns)
    ids = b["building_id"].astype(str).tolist() if n else []
    tcodes = b["township_code"].astype(str).tolist() if n else []
    vcodes = b["village_code"].tolist() if "village_code" in cols else [None] * n
    urban = b["urban"].tolist() if "urban" in cols else [0] * n
    kinds = b["form"].tolist() if "form" in cols else [None] * n
    out: dict[str, Workmap] = {t: Workmap([], None) for t in (wanted or set(tcodes))}
    for i in range(n):
        out.setdefault(tcodes[i], Workmap([], None)).rows.append({
            "building_id": ids[i], "township_code": tcodes[i],
            "village_code": str(vcodes[i]) if vcodes[i] else None, "urban": int(bool(urban[i])),
            "kind": str(kinds[i]) if kinds[i] else None, "area_m2": round(float(areas[i]), 2),
            "geometry": str(geo[i])})
    if "townships" in layers:
        t = pyogrio.read_dataframe(gpkg, layer="townships")
        if t.crs is not None and t.crs.to_epsg() not in (4490, None):
            t = t.to_crs(4490)
        for code, geom in zip(t["code"].astype(str), t.geometry):
            if code in out and geom is not None:
                out[code].boundary = json.loads(shapely.to_geojson(geom.buffer(BOUNDARY_BUFFER_DEG)))
    return out


def load_workmap(workmap_dir: str | Path, township: str) -> Workmap:
    """One township's work map (see :func:`load_workmaps`)."""
    return load_workmaps(workmap_dir, [township])[str(township)]
