"""`census county import`: return packages into the county geodatabase, each atomically.

Per package, in the order given:

1. **prepare** (pure, may run in worker processes): read the bytes once, open and check the package
   (:func:`sync.package.open_package`: limits, canonical container, zip slip, signature by the enrolled
   device, jurisdiction, hashes, JSON, schema versions, decryption), validate every revision with the
   schemas' validator (county code, division register, county boundary) and flatten it into its row;
2. **apply** (this process, inside one SAVEPOINT): a package whose SHA-256 was accepted before is a
   *duplicate* (a ledger row, nothing else changes); otherwise the revisions are merged by id
   (:mod:`sync.merge`), stored with their validation result, records advanced, conflicts opened, the
   feature layers refreshed, the ledger row and the hash-chained audit row written — all or nothing.

Packages are committed in groups (:class:`Importer`): bookkeeping and feature layers of a package are
always in the same SQLite transaction, and a crash (kill -9, power loss) rolls the open group back on
the next open, so every package is either fully applied or absent; a rerun applies what is missing.

A rejected package is copied to ``quarantine/`` beside the GeoPackage with a ``.reason.txt`` and gets
a ledger row (``outcome='rejected'``); an accepted one is archived in ``received/`` so that
``census county verify`` can re-hash it. Invalid records are stored and marked, never dropped.
"""

from __future__ import annotations

import gc
import hashlib
import shutil
from hashlib import sha256
import json
import os
from contextlib import contextmanager
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from geodb.county import CountyDB, CountyDBError, Flattener, LayerSpec, geojson_to_shapes
from geodb import gpkg as gp
from geodb.target import anchor_path, open_county

from . import keys as K
from .formats import utc_now
from .merge import MergeOutcome, Node, RecordState, merge_record
from .package import DeviceInfo, PackageRejected, write_atomic, open_package

QUARANTINE_DIR = "quarantine"
ARCHIVE_DIR = "received"


def side_dir(gpkg_path: str | Path, name: str) -> Path:
    """``quarantine/`` and ``received/`` live beside the GeoPackage."""
    p = Path(gpkg_path)
    return p.parent / name


# ---------------------------------------------------------------------------------------------------
# Results

@dataclass
class ImportOutcome:
    """What became of one package at an import (county or city): the fields and lines both share."""
    path: str
    outcome: str                    # accepted | duplicate | rejected
    sha256: str = ""
    reason_code: str | None = None
    message_zh: str = ""
    message_en: str = ""
    sequence: int | None = None
    revisions: int = 0
    stored: int = 0
    known: int = 0
    new_records: int = 0
    advanced: int = 0
    conflicts: int = 0
    out_of_order: bool = False
    ledger_id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def accepted(self) -> bool:
        return self.outcome in ("accepted", "duplicate")

    def settled_line(self) -> str | None:
        """The line of a rejected or duplicate package (None when accepted: each importer says that)."""
        if self.outcome == "rejected":
            return f"拒收/rejected {self.name}: {self.message_zh} / {self.message_en} [{self.reason_code}]"
        if self.outcome == "duplicate":
            return (f"重复/duplicate {self.name}: 该包已于台账第 {self.ledger_id} 条接收，未做任何改动 / "
                    f"already accepted (ledger {self.ledger_id}); nothing changed")
        return None


@dataclass
class PackageResult(ImportOutcome):
    township: str | None = None
    device_id: str | None = None
    invalid: int = 0

    def line(self) -> str:
        settled = self.settled_line()
        if settled:
            return settled
        note = ""
        if self.notes:
            note = " — " + "; ".join(self.notes)
        return (f"接收/accepted {self.name}: 修订 {self.revisions} 条（新记录 {self.new_records}，更新 {self.advanced}，"
                f"已有 {self.known}，冲突 {self.conflicts}，有问题 {self.invalid}） / {self.revisions} revisions "
                f"(new {self.new_records}, advanced {self.advanced}, known {self.known}, conflicts {self.conflicts}, "
                f"with issues {self.invalid}){note}")

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("path", "outcome", "sha256", "reason_code", "message_zh", "message_en",
                                            "township", "device_id", "sequence", "revisions", "stored", "known",
                                            "new_records", "advanced", "conflicts", "invalid", "out_of_order",
                                            "ledger_id", "notes")}
        d["name"] = self.name
        return d


# ---------------------------------------------------------------------------------------------------
# Prepare (no database access; picklable in and out)

@dataclass
class PrepareConfig:
    county: str
    sign_private: bytes | None
    encrypt_private: bytes | None
    devices: dict[str, DeviceInfo]
    townships: frozenset[str]
    villages: frozenset[str]
    boundary_wkb: bytes | None
    specs: dict[str, LayerSpec]
    forms_path: str | None = None
    archive_dir: str | None = None   # where a worker stages the archive copy of a package it accepts
    spool_dir: str | None = None     # a folder in memory (tmpfs) where a worker leaves its packed result


@dataclass
class Prepared:
    """One package checked, validated and turned into the columns the county stores.

    Per revision, in revision-id order (the order revisions are stored in, and the ledger's digest
    follows), ``cols`` holds one list per value (see :data:`REV_FIELDS`; a column whose every value is
    the same travels as ``("=", value)``). Per form, ``forms[form_id]`` holds the form's revisions in
    record-uuid order (``order``: positions in the revision lists; the order features and records are
    inserted in), the layer columns of those features (``fcols``: the geometry blob first when spatial,
    then the ``kept`` form columns) and their R-tree boxes (``env``). The writing process zips these
    into the rows it inserts, filling in only what the database assigns (:meth:`Importer._store_all_new`);
    :meth:`rev_rows`, :meth:`keys` and :meth:`layer_rows` give per-revision rows for the general path."""
    path: str
    data: bytes | None          # None: not read (missing, or above the size limit), or left in the worker
    sha256: str
    rejection: tuple[str, str, str] | None = None
    township: str | None = None
    device_id: str | None = None
    sequence: int | None = None
    acknowledged_through: int = 0
    created_at: str | None = None
    county: str | None = None
    size: int | None = None     # bytes of the file (None: not read)
    n: int = 0                  # revisions
    cols: dict[str, Any] = field(default_factory=dict)
    forms: dict[str, dict] = field(default_factory=dict)
    bounds: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    # form → indices of the layer columns the rows carry (None: all); the others are empty in every row
    kept: dict[str, list[int] | None] = field(default_factory=dict)
    digest: str = ""            # sha256 over every revision's content hash, in revision-id order
    invalid: int = 0            # revisions stored with problems
    packed: bytes | None = None   # cols and forms marshalled (from a worker, see _unpack) …
    packed_path: str | None = None  # … or the file in the spool folder holding them
    staged: str | None = None     # archive copy written by the worker (see _stage_archive)

    def col(self, name: str) -> list:
        """A per-revision column as a list (a constant one expanded)."""
        c = self.cols[name]
        return [c[1]] * self.n if type(c) is tuple else c

    def rev_rows(self) -> list[list]:
        """Per revision: its row in ``CountyDB.REVISION_COLUMNS`` order (``record_id`` and ``package_id``
        0, no parent as '')."""
        n = self.n
        return list(map(list, zip([0] * n, *[self.col(f) for f in REV_FIELDS[:9]], [0] * n,
                                  *[self.col(f) for f in REV_FIELDS[9:13]])))

    def keys(self) -> list[str | None]:
        return self.col("key")

    def layer_rows(self) -> list[list | None]:
        """Per revision: its layer row (geometry blob first when spatial, then the ``kept`` columns)."""
        out: list[list | None] = [None] * self.n
        for f in self.forms.values():
            for i, row in zip(f["order"], map(list, zip(*f["fcols"])) if f["fcols"] else ([] for _ in f["order"])):
                out[i] = row
        return out

    def envelopes(self):
        """Per revision: (minx, maxx, miny, maxy), NaN without a geometry."""
        import numpy as np

        env = np.full((self.n, 4), np.nan)
        for f in self.forms.values():
            if f["env"] is not None and len(f["order"]):
                env[f["order"]] = f["env"]
        return env


# the per-revision columns of a prepared package; the first 9 and the next 4 are census_revisions' columns
# around record_id and package_id (CountyDB.REVISION_COLUMNS)
REV_FIELDS = ("rid", "uuid", "parent", "form", "version", "township", "device", "created_at", "created_by",
              "valid", "problems", "content", "sha", "key")
_REV_ATTRS = attrgetter("revision_id", "record_uuid", "parent_revision_id", "form_id", "form_version", "township",
                        "device_id", "created_at", "created_by")   # the first nine REV_FIELDS


# positions in a prepared revision row (CountyDB.REVISION_COLUMNS)
R_RECORD, R_ID, R_UUID, R_PARENT, R_FORM, R_VERSION, R_TOWNSHIP, R_DEVICE, R_CREATED, R_BY, R_PACKAGE, R_VALID, \
    R_PROBLEMS, R_CONTENT, R_SHA = range(15)
STATES = ("has_issues", "received")   # review state of a new record by its validity


_cache: dict[str, Any] = {}


def _validator(cfg: PrepareConfig, forms: Mapping, form_id: str):
    """Validators built once per process and county context (the same for every package of a run)."""
    key = (cfg.county, hash(cfg.boundary_wkb), hash(cfg.townships), hash(cfg.villages))
    if _cache.get("key") != key:
        import shapely
        from schemas.validator import DivisionRegister, ValidationContext

        boundary = shapely.from_wkb(cfg.boundary_wkb) if cfg.boundary_wkb else None
        _cache.clear()
        _cache["key"] = key
        _cache["ctx"] = ValidationContext(county_code=cfg.county,
                                          divisions=DivisionRegister(townships=cfg.townships, villages=cfg.villages),
                                          boundary=boundary, report_unknown_fields=False)
        _cache["validators"] = {}
    vals = _cache["validators"]
    form = forms[form_id]
    v = vals.get(form_id)
    if v is None or (v.form.id, v.form.version) != (form.id, form.version):
        from schemas.validator import Validator
        v = vals[form_id] = Validator(form, _cache["ctx"])
    return v


def _county_keys(cfg: PrepareConfig) -> "K.CountyKeys | None":
    if cfg.sign_private is None or cfg.encrypt_private is None:
        return None
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    return K.CountyKeys(cfg.county, Ed25519PrivateKey.from_private_bytes(cfg.sign_private),
                        X25519PrivateKey.from_private_bytes(cfg.encrypt_private))


def _merge_problems(county: list[dict], township: list) -> list[dict]:
    """The county's problems, with the township's own (more specific) report where they name the same field.

    A township drops an invalid answer from ``data`` and lists why in ``problems``; the county then sees
    the answer missing (REQUIRED). The township's message is the useful one, so it wins for that path.
    """
    out = [p for p in township if isinstance(p, dict) and p.get("severity", "error") == "error"]
    paths = {p.get("path") for p in out}
    out.extend(p for p in county if p.get("path") not in paths)
    return out


@contextmanager
def gc_paused() -> Iterator[None]:
    """Preparing or applying a package makes hundreds of thousands of small objects that live on until
    the package is done; the cyclic collector would rescan all of them again and again meanwhile. None
    of them forms a cycle (reference counting frees them), so the collector rests for that time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def prepare_package(path: str, cfg: PrepareConfig, *, forms: Mapping | None = None) -> Prepared:
    """Read, check, validate and flatten one package. Never raises for a bad package: it comes back
    with ``rejection`` set."""
    with gc_paused():
        return _prepare_package(path, cfg, forms)


def _prepare_package(path: str, cfg: PrepareConfig, forms: Mapping | None) -> Prepared:
    if forms is None:
        from schemas.catalogue import all_forms
        forms = all_forms([cfg.forms_path] if cfg.forms_path else ())
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        return Prepared(path, None, "", ("missing", f"找不到文件 {p}", f"file not found: {p}"))
    from .formats import MAX_PACKAGE_BYTES
    if size > MAX_PACKAGE_BYTES:
        return Prepared(path, None, "", ("too_large", f"{p.name}：文件过大（{size} 字节，上限 256 MiB），请分批导出",
                                        f"{p.name}: too large ({size} bytes, limit 256 MiB); export in smaller batches"))
    data = p.read_bytes()
    try:
        opened = open_package(p, county_keys=_county_keys(cfg), devices=cfg.devices, county=cfg.county, forms=forms,
                              data=data)
    except PackageRejected as e:
        return Prepared(path, data, hashlib.sha256(data).hexdigest(), (e.reason, e.message_zh, e.message_en),
                        size=len(data))
    sha = opened.sha256   # of these very bytes (open_package hashes what it is given)
    import numpy as np

    m = opened.manifest
    prep = Prepared(path, data, sha, None, m.township, m.device_id, m.sequence, m.acknowledged_through,
                    m.created_at, m.county, size=len(data))
    revisions = opened.revisions
    n = len(revisions)
    prep.n = n
    # the revisions' own fields in one pass over them (in file order, as they lie in memory)
    fields = list(zip(*map(_REV_ATTRS, revisions))) if n else [[] for _ in range(9)]
    # every column in revision-id order: position of the i-th revision of the file
    by_id = sorted(range(n), key=fields[0].__getitem__)
    pos = [0] * n
    for k, i in enumerate(by_id):
        pos[i] = k
    pick = (lambda c: list(itemgetter(*by_id)(c))) if n > 1 else list
    cols: dict[str, Any] = dict(zip(REV_FIELDS[:9], map(pick, fields)))
    cols["parent"] = [p or "" for p in cols["parent"]]
    raw = opened.raw_bytes   # stored as received (bytes: no re-encoding here, in transit or in SQLite)
    content = pick(raw)
    cols["content"] = content
    cols["sha"] = [sha256(line).hexdigest() for line in content]
    valid = [1] * n
    problems_col = ["[]"] * n
    keys: list[str | None] = [None] * n
    # group by form (revisions arrive form by form, but do not rely on it)
    by_form: dict[str, list[int]] = {}
    for i, r in enumerate(revisions):
        by_form.setdefault(r.form_id, []).append(i)
    dumps = json.dumps
    uuids = cols["uuid"]
    for form_id, idx in by_form.items():
        spec = cfg.specs[form_id]
        # the form's revisions in record-uuid order: the order its features and records are inserted in
        idx.sort(key=lambda i: uuids[pos[i]])
        frevs = [revisions[i] for i in idx]
        batch = _validator(cfg, forms, form_id).validate_columns([r.data for r in frevs])
        blobs = None
        env = None
        if spec.geometry_type:
            import shapely

            gf = spec.geometry_field
            shapes = np.empty(len(frevs), dtype=object)
            values = batch.columns.get(gf) or [None] * len(frevs)
            checked = batch.geometries.get(gf) or [None] * len(frevs)
            again = []   # kept geometries the validator did not hand back (none expected): build them here
            for k, (v, g) in enumerate(zip(values, checked)):
                if v is not None:
                    if g is None:
                        again.append(k)
                    else:
                        shapes[k] = g
            if again:
                shapes[again] = geojson_to_shapes([values[k] for k in again])
            bb = shapely.bounds(shapes)               # NaN for a missing or empty geometry (no R-tree entry)
            blobs = gp.encode(shapes, bounds=bb)
            ok = np.isfinite(bb).all(axis=1)
            if ok.any():
                b = bb[ok]
                prep.bounds[form_id] = (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()),
                                        float(b[:, 3].max()))
            env = np.ascontiguousarray(bb[:, [0, 2, 1, 3]])
        kept, fcols = Flattener(spec).columns_kept_columns(batch.columns, len(frevs), first=blobs)
        prep.kept[form_id] = kept
        key_field = spec.key_field
        for i, r, probs in zip(idx, frevs, batch.problems):
            if probs or r.problems:
                problems = _merge_problems([pr.as_dict() for pr in probs if pr.severity == "error"], r.problems)
                if problems:
                    k = pos[i]
                    valid[k] = 0
                    problems_col[k] = dumps(problems, ensure_ascii=False, separators=(",", ":"))
            if key_field:
                kv = r.data.get(key_field)
                if kv is not None:
                    keys[pos[i]] = str(kv)
        prep.forms[form_id] = {"order": [pos[i] for i in idx], "kept": kept, "fcols": fcols, "env": env}
    cols["valid"] = valid
    cols["problems"] = problems_col
    cols["key"] = keys
    prep.invalid = n - sum(valid)
    prep.digest = hashlib.sha256("".join(cols["sha"]).encode("ascii")).hexdigest()
    # columns whose every value is the same travel as one value
    for name, c in cols.items():
        if n and c.count(c[0]) == n and type(c[0]) is not bytes:
            cols[name] = ("=", c[0])
    prep.cols = cols
    return prep


# ---------------------------------------------------------------------------------------------------
# Apply (main process, one transaction per package)

class _Reject(Exception):
    def __init__(self, reason: str, zh: str, en: str):
        super().__init__(en)
        self.reason, self.zh, self.en = reason, zh, en


REV_COLS = 13  # length of a prepared revision tuple (see prepare_package)
# what SQLite says when a record or revision is already stored (the all-new attempt then gives way)
def covered_through(packages: Sequence[tuple[int, int]]) -> int:
    """Highest sequence s such that the county holds every revision the device made up to package s.

    Package s carries every final revision made after the package it says was acknowledged
    (``acknowledged_through``), so s is covered when it was accepted and its acknowledged package is
    covered (or it acknowledged nothing)."""
    acks = {s: a for s, a in packages}
    covered: dict[int, bool] = {}

    def ok(s: int) -> bool:
        if s == 0:
            return True
        if s in covered:
            return covered[s]
        covered[s] = False  # guards forged cycles
        a = acks.get(s)
        covered[s] = a is not None and a < s and ok(a)
        return covered[s]

    return max((s for s in acks if ok(s)), default=0)


def _write_quarantine(gpkg_path: Path, prep: Prepared, reason: tuple[str, str, str], at: str) -> Path | None:
    qdir = side_dir(gpkg_path, QUARANTINE_DIR)
    qdir.mkdir(parents=True, exist_ok=True)
    stem = f"{prep.sha256[:12]}_{Path(prep.path).name}" if prep.sha256 else Path(prep.path).name
    target = qdir / stem
    if prep.data is not None:
        write_atomic(target, prep.data)
    text = (f"file: {prep.path}\nsha256: {prep.sha256}\nrejected_at: {at}\nreason: {reason[0]}\n"
            f"原因: {reason[1]}\nwhy: {reason[2]}\n")
    write_atomic(qdir / (stem + ".reason.txt"), text.encode("utf-8"))
    return target if prep.data is not None else None


def _archive_name(prep: Prepared) -> str:
    return f"{prep.sha256[:16]}_{Path(prep.path).name}"


def _archived(target: Path, prep: Prepared) -> bool:
    """Does ``target`` already hold exactly the package's bytes?"""
    return (target.is_file() and target.stat().st_size == prep.size
            and hashlib.sha256(target.read_bytes()).hexdigest() == prep.sha256)


def _stage_archive(adir: Path, prep: Prepared) -> str | None:
    """In a worker: write the archive copy of a package beside its final place (``.tmp-*``, synced), so
    that the writing process only renames it and the bytes need not travel to it. "" when the archive
    already holds these bytes; None when nothing could be staged (the writer then writes it itself)."""
    import tempfile

    try:
        if _archived(adir / _archive_name(prep), prep):
            return ""
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".censuspkg", dir=adir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(prep.data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp
    except OSError:
        return None


def _package_bytes(prep: Prepared) -> bytes:
    """The package's bytes: kept from preparing, or read again (a worker kept them) and checked."""
    if prep.data is not None:
        return prep.data
    name = Path(prep.path).name
    try:
        data = Path(prep.path).read_bytes()
    except OSError:
        data = b""
    if hashlib.sha256(data).hexdigest() != prep.sha256:
        raise _Reject("changed", f"{name}：导入过程中该包被改动或移走，请重新导入",
                      f"{name}: the package was changed or moved during the import; import it again")
    return data


def _archive(gpkg_path: Path, prep: Prepared, unsynced: set[Path] | None = None) -> str:
    """Archive an accepted package in ``received/`` (before its ledger row is committed). A staged copy
    is renamed into place; the folder holding the rename is synced at once, or, given ``unsynced``,
    added to it for the caller to sync before its commit (one sync for a group of packages)."""
    from .package import _sync_dir

    adir = side_dir(gpkg_path, ARCHIVE_DIR)
    adir.mkdir(parents=True, exist_ok=True)
    name = _archive_name(prep)
    target = adir / name
    staged, prep.staged = prep.staged, None
    if staged:
        try:
            os.replace(staged, target)
        except FileNotFoundError:   # removed meanwhile (another run's clean-up): written from the source below
            pass
        else:
            if unsynced is None:
                _sync_dir(adir)
            else:
                unsynced.add(adir)
            return f"{ARCHIVE_DIR}/{name}"
    if not _archived(target, prep):
        write_atomic(target, _package_bytes(prep))
    return f"{ARCHIVE_DIR}/{name}"


def _unstage(prep: Prepared) -> None:
    if prep.staged:
        Path(prep.staged).unlink(missing_ok=True)
        prep.staged = None
    if prep.packed_path:
        Path(prep.packed_path).unlink(missing_ok=True)
        prep.packed_path = None


SPOOL_ROOT = Path("/dev/shm")   # memory-backed on Linux; elsewhere results come through the pipe
SPOOL_PREFIX = "census-import-"


def _spool_dir() -> Path | None:
    """A folder in memory for this run's worker results (removed at the end of the run), or None. A run
    killed outright leaves its folder; the next run removes every one whose process is gone."""
    import tempfile

    if os.name != "posix" or not SPOOL_ROOT.is_dir() or not os.access(SPOOL_ROOT, os.W_OK):
        return None
    for old in SPOOL_ROOT.glob(SPOOL_PREFIX + "*"):
        try:
            pid = int(old.name[len(SPOOL_PREFIX):].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except (ValueError, OSError):
            pass
    try:
        return Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", dir=SPOOL_ROOT))
    except OSError:
        return None


def _clean_temp(gpkg_path: Path) -> None:
    """Half-written copies left by a crash (``.tmp-*``) are removed; they were never referenced."""
    for d in (QUARANTINE_DIR, ARCHIVE_DIR):
        dd = side_dir(gpkg_path, d)
        if dd.is_dir():
            for f in dd.glob(".tmp-*"):
                f.unlink(missing_ok=True)


GROUP_REVISIONS = 200_000   # commit after this many stored revisions …
GROUP_PACKAGES = 50         # … or this many packages …
GROUP_SECONDS = 20.0        # … or this long, whichever comes first (and at the end of the run)


class Importer:
    """Applies prepared packages to an open county geodatabase.

    Each package is applied inside its own SAVEPOINT: it goes in entirely or not at all. Several
    packages share one transaction (group commit, see :meth:`due`): with random UUID keys every
    package touches most pages of the large indexes, and committing them once per group instead of
    once per package is what keeps a million-record county fast. A crash loses at most the current
    group, never part of a package, and a rerun applies what is missing (the rest are duplicates).
    Results are handed out (``on_commit``) only once their group is committed.
    """

    def __init__(self, db: CountyDB, specs: Mapping[str, LayerSpec], *,
                 on_commit: Callable[[PackageResult], None] | None = None, group_revisions: int = GROUP_REVISIONS,
                 group_packages: int = GROUP_PACKAGES, group_seconds: float = GROUP_SECONDS):
        self.db = db
        self.specs = dict(specs)
        self.on_commit = on_commit
        self.group_revisions = group_revisions
        self.group_packages = group_packages
        self.group_seconds = group_seconds
        self.pending: list[PackageResult] = []
        self._unsynced: set[Path] = set()     # folders with archive renames not yet synced
        self._revisions = 0
        self._started: float | None = None

    # -- grouping ---------------------------------------------------------------------------------------
    def due(self) -> bool:
        import time
        if not self.pending:
            return False
        return (self._revisions >= self.group_revisions or len(self.pending) >= self.group_packages
                or (self._started is not None and time.monotonic() - self._started >= self.group_seconds))

    def commit(self) -> list[PackageResult]:
        from .package import _sync_dir

        while self._unsynced:   # the group's archive renames are durable before its ledger rows
            _sync_dir(self._unsynced.pop())
        self.db.commit()
        done, self.pending, self._revisions, self._started = self.pending, [], 0, None
        for r in done:
            if self.on_commit:
                self.on_commit(r)
        return done

    def abort(self) -> None:
        self.db.rollback()
        self.pending, self._revisions, self._started = [], 0, None
        self._unsynced.clear()

    def apply_and_maybe_commit(self, prep: "Prepared") -> None:
        with gc_paused():
            self.apply(prep)
        if self.due():
            self.commit()

    # -- the ledger path for duplicates and rejections --------------------------------------------------
    def _ledger_only(self, prep: Prepared, outcome: str, reason: tuple[str, str, str] | None, at: str,
                     extra: Mapping[str, Any] | None = None) -> int:
        row = {"file_name": Path(prep.path).name, "file_sha256": prep.sha256 or "-",
               "file_bytes": prep.size,
               "county": prep.county, "township": prep.township, "device_id": prep.device_id,
               "sequence": prep.sequence, "acknowledged_through": prep.acknowledged_through,
               "created_at": prep.created_at, "received_at": at, "outcome": outcome,
               "reason_code": reason[0] if reason else None, "reason": f"{reason[1]} / {reason[2]}" if reason else None,
               "revisions": prep.n}
        row.update(extra or {})
        lid = self.db.add_ledger(row)
        seq, h = self.db.append_audit(outcome, Path(prep.path).name,
                                      {"ledger_id": lid, "sha256": row["file_sha256"], "outcome": outcome,
                                       "reason_code": row["reason_code"], "township": prep.township,
                                       "device_id": prep.device_id, "sequence": prep.sequence}, at=at)
        self.db.update_ledger(lid, {"audit_seq": seq, "audit_hash": h})
        return lid

    def apply(self, prep: Prepared) -> PackageResult:
        """Apply one package inside the open group (its own savepoint); see :meth:`commit`."""
        import time

        at = utc_now()
        if self._started is None:
            self._started = time.monotonic()
        res = PackageResult(prep.path, "rejected", prep.sha256, township=prep.township, device_id=prep.device_id,
                            sequence=prep.sequence, revisions=prep.n)
        self.pending.append(res)
        if prep.rejection is None:
            # a duplicate is answered before anything else (no copy, no merge) — asked under the write lock,
            # so that a second importer working at the same time cannot accept the same package in between
            self.db.begin()
            dup = self.db.accepted_package(prep.sha256)
            if dup is not None:
                _unstage(prep)
                with self.db.savepoint():
                    lid = self._ledger_only(prep, "duplicate", None, at,
                                            {"reason": f"与台账第 {dup['id']} 条相同 / same as ledger {dup['id']}"})
                res.outcome, res.ledger_id = "duplicate", dup["id"]
                res.notes.append(f"ledger {lid}")
                return res
            archive = None
            try:
                archive = _archive(self.db.path, prep, self._unsynced)
                with self.db.savepoint():
                    self._apply_accepted(prep, res, at, archive)
                self._revisions += res.stored
                return res
            except _Reject as e:
                prep.rejection = (e.reason, e.zh, e.en)
                _unstage(prep)
                if archive is not None:   # only accepted packages are archived
                    copy = self.db.path.parent / archive
                    if prep.data is None:   # the bytes for the quarantine copy
                        try:
                            prep.data = copy.read_bytes()
                        except OSError:
                            pass
                    copy.unlink(missing_ok=True)
        # rejected: keep a copy and say why, then the ledger row
        reason = prep.rejection
        _write_quarantine(self.db.path, prep, reason, at)
        with self.db.savepoint():
            res.ledger_id = self._ledger_only(prep, "rejected", reason, at)
        res.outcome, res.reason_code, res.message_zh, res.message_en = "rejected", reason[0], reason[1], reason[2]
        return res

    @staticmethod
    def _merge(u: str, idx: list[int], revs: list[list], rec: dict | None, nodes: Mapping, conflicts: Mapping,
               form_id: str, township: str) -> MergeOutcome:
        incoming = [Node(revs[i][R_ID], revs[i][R_PARENT] or None, revs[i][R_CREATED]) for i in idx]
        state = None
        if rec is not None:
            mine = nodes.get(rec["id"], [])
            ns = {rid: Node(rid, par, ca) for rid, par, ca, _ in mine}
            aside = frozenset(rid for rid, _, _, a in mine if a)
            oc = conflicts.get(u)
            state = RecordState(u, form_id, township, rec["current_revision_id"], ns, aside,
                                tuple(json.loads(oc["revision_ids"])) if oc else None)
        return merge_record(state, incoming, u)

    def _apply_accepted(self, prep: Prepared, res: PackageResult, at: str, archive: str) -> None:
        db = self.db
        name = Path(prep.path).name
        earlier = db.device_packages(prep.device_id)
        # ledger row first: the partial unique index makes a second acceptance of the same bytes impossible
        lid = db.add_ledger({"file_name": name, "file_sha256": prep.sha256, "file_bytes": prep.size,
                             "county": prep.county, "township": prep.township, "device_id": prep.device_id,
                             "sequence": prep.sequence, "acknowledged_through": prep.acknowledged_through,
                             "created_at": prep.created_at, "received_at": at, "outcome": "accepted",
                             "revisions": prep.n, "archive": archive})
        res.ledger_id = lid
        if earlier:
            top = max(s for s, _ in earlier)
            if prep.sequence < top:
                res.out_of_order = True
                res.notes.append(f"较新的第 {top} 号包已先到 / older than package {top}, already received")
            if any(s == prep.sequence for s, _ in earlier):
                res.notes.append(f"序号 {prep.sequence} 曾以不同内容收到 / sequence {prep.sequence} seen before with other content")

        uuids = prep.col("uuid") if prep.n else []
        if uuids and len(set(uuids)) == len(uuids) and not db.records_by_uuid(uuids[:1]) \
                and not db.known_revisions(prep.col("rid")[:1]):
            # the common case: every record is new and has one revision here, so each is inserted and
            # current (what merge_record says for it). Tried first without looking anything up: the UNIQUE
            # indexes on record_uuid and revision_id refuse a record or revision the county already holds,
            # and then this attempt is undone and the general path below decides (a package sent again
            # under other bytes is caught by its first revision without trying)
            try:
                with db.savepoint("all_new"):
                    counts, digest, touched = self._store_all_new(prep, lid, at)
            except db.IntegrityError as e:
                if not db.known_key_clash(e):
                    raise
            else:
                self._finish(prep, res, counts, digest, touched, lid, at, name)
                return
        revs = prep.rev_rows()
        known = db.known_revisions([r[R_ID] for r in revs])
        if known:
            for r in revs:
                owner = known.get(r[R_ID])
                if owner is not None and owner != r[R_UUID]:
                    raise _Reject("record_identity", f"{name}：修订 {r[R_ID]} 已属于另一条记录 {owner}，包内容不可信",
                                  f"{name}: revision {r[R_ID]} already belongs to record {owner}; the package cannot be trusted")
        existing = db.records_by_uuid(uuids)
        by_record: dict[str, list[int]] = {}
        for i, u in enumerate(uuids):
            by_record.setdefault(u, []).append(i)
        for u, rec in existing.items():
            r = revs[by_record[u][0]]
            if rec["form_id"] != r[R_FORM] or rec["township"] != r[R_TOWNSHIP]:
                raise _Reject("record_identity",
                              f"{name}：记录 {u} 在县级库中属于 {rec['township']} 的表单 {rec['form_id']}，包中却是 "
                              f"{r[R_TOWNSHIP]} 的 {r[R_FORM]}",
                              f"{name}: record {u} is form {rec['form_id']} of township {rec['township']} at the county, "
                              f"but form {r[R_FORM]} of {r[R_TOWNSHIP]} in the package")
        need = [u for u in existing if any(revs[i][R_ID] not in known for i in by_record[u])]
        nodes = db.revision_nodes([existing[u]["id"] for u in need]) if need else {}
        conflicts = db.open_conflicts(need) if need else {}

        stored: list[tuple[str, int]] = []               # (record_uuid, revision index) in store order
        new_records: dict[str, list] = {}                # form → [record row without feature_fid]
        new_features: dict[str, list] = {}               # form → [feature row]
        new_rows: dict[str, list] = {}                   # form → [revision index of each new feature]
        record_updates: list[dict] = []
        conflict_ops: list[tuple[str, dict]] = []
        feat_replace: dict[str, tuple[list, list]] = {}  # form → (rows, fids)
        feat_state: dict[str, list] = {}
        row_of = {r[R_ID]: i for i, r in enumerate(revs)}
        counts = {"stored": 0, "known": 0, "new_records": 0, "advanced": 0, "conflicts": 0, "invalid": 0}

        keys, layer = prep.keys(), prep.layer_rows()
        for u, idx in by_record.items():
            first = revs[idx[0]]
            form_id, township = first[R_FORM], first[R_TOWNSHIP]
            rec = existing.get(u)
            if rec is None and len(idx) == 1:
                # the common case, a record seen for the first time with one revision: it is inserted and
                # current (what merge_record says for it), without building the merge objects
                i = idx[0]
                stored.append((u, i))
                cur_valid = first[R_VALID]
                if not cur_valid:
                    counts["invalid"] += 1
                state_name = "received" if cur_valid else "has_issues"
                new_records.setdefault(form_id, []).append(
                    [u, form_id, township, keys[i], first[R_ID], state_name, 0, cur_valid, lid, lid, at])
                new_features.setdefault(form_id, []).append(
                    [*self._full_row(prep, form_id, layer[i]), u, first[R_ID], township, state_name, 0, cur_valid])
                new_rows.setdefault(form_id, []).append(i)
                counts["new_records"] += 1
                continue
            if rec is not None and all(revs[i][R_ID] in known for i in idx):
                counts["known"] += len(idx)      # nothing new for this record: no need to load its history
                continue
            out = self._merge(u, idx, revs, rec, nodes, conflicts, form_id, township)
            counts["known"] += len(out.known)
            if not out.stored:
                continue
            for rid in out.stored:
                i = row_of[rid]
                stored.append((u, i))
                if not revs[i][R_VALID]:
                    counts["invalid"] += 1
            cur = out.current_revision_id
            ci = row_of.get(cur)
            in_conflict = 1 if out.in_conflict else 0
            if rec is None:
                cur_valid = revs[ci][R_VALID]
                state_name = "received" if cur_valid else "has_issues"
                new_records.setdefault(form_id, []).append(
                    [u, form_id, township, keys[ci], cur, state_name, in_conflict, cur_valid, lid, lid, at])
                new_features.setdefault(form_id, []).append(
                    [*self._full_row(prep, form_id, layer[ci]), u, cur, township, state_name, in_conflict, cur_valid])
                new_rows.setdefault(form_id, []).append(ci)
                counts["new_records"] += 1
            elif out.current_changed:
                cur_valid = revs[ci][R_VALID]
                state_name = "received" if cur_valid else "has_issues"
                record_updates.append({"record_uuid": u, "current_revision_id": cur, "review_state": state_name,
                                       "has_conflict": in_conflict, "valid": cur_valid, "key_value": keys[ci],
                                       "last_package_id": lid, "updated_at": at})
                rows, fids = feat_replace.setdefault(form_id, ([], []))
                rows.append([*self._full_row(prep, form_id, layer[ci]), u, cur, township, state_name, in_conflict,
                             cur_valid])
                fids.append(rec["feature_fid"])
                counts["advanced"] += 1
            elif in_conflict != rec["has_conflict"] or rec["review_state"] == "approved":
                # an approval covered the versions known then: a new version needs review again
                state_name = rec["review_state"]
                if state_name == "approved":
                    state_name = "received" if rec["valid"] else "has_issues"
                record_updates.append({"record_uuid": u, "current_revision_id": cur, "review_state": state_name,
                                       "has_conflict": in_conflict, "valid": rec["valid"],
                                       "key_value": rec["key_value"], "last_package_id": lid, "updated_at": at})
                feat_state.setdefault(form_id, []).append((state_name, in_conflict, rec["feature_fid"]))
            if out.in_conflict:
                counts["conflicts"] += 1
                if out.conflict_opened:
                    conflict_ops.append(("open", {"record_uuid": u, "form_id": form_id, "township": township,
                                                  "revision_ids": json.dumps(list(out.tips)), "status": "open",
                                                  "opened_at": at, "opened_package_id": lid, "updated_at": at}))
                elif out.conflict_changed:
                    conflict_ops.append(("update", {"id": conflicts[u]["id"],
                                                    "revision_ids": json.dumps(list(out.tips)), "updated_at": at}))
            elif out.conflict_closed and u in conflicts:
                conflict_ops.append(("close", {"id": conflicts[u]["id"], "status": "resolved", "resolved_at": at,
                                               "resolution": "chain_completed", "resolved_by": "import",
                                               "updated_at": at}))

        # features first (their fids go into the records), then records (their ids go into the revisions)
        # Rows go in sorted by their random UUID keys: consecutive inserts then meet neighbouring index
        # pages (the order of ids within a package means nothing; the ledger digest follows it).
        record_id = {u: rec["id"] for u, rec in existing.items()}
        envs = prep.envelopes()
        for form_id, rows in new_features.items():
            recs_f = new_records[form_id]
            order = sorted(range(len(recs_f)), key=lambda k: recs_f[k][0])
            recs_f = [recs_f[k] for k in order]
            env = envs[[new_rows[form_id][k] for k in order]]
            fids = db.insert_features(self.specs[form_id], [rows[k] for k in order], env)
            ids = db.insert_records([[*r, f] for r, f in zip(recs_f, fids)])
            record_id.update((r[0], i) for r, i in zip(recs_f, ids))
        stored.sort(key=lambda t: t[1])        # the prepared lists are in revision-id order
        digest = hashlib.sha256()
        rev_rows = []
        for u, i in stored:
            r = revs[i]
            row = list(r)
            row[R_RECORD], row[R_PACKAGE] = record_id[u], lid
            rev_rows.append(row)
            digest.update(r[R_SHA].encode("ascii"))
        db.insert_revisions(rev_rows)
        db.update_records(record_updates)
        for op, row in conflict_ops:
            if op == "open":
                db.insert_conflict(row)
            else:
                cid = row.pop("id")
                db.update_conflict(cid, row)
        for form_id, (rows, fids) in feat_replace.items():
            db.replace_features(self.specs[form_id], rows, fids)
        for form_id, rows in feat_state.items():
            db.set_feature_state(self.specs[form_id], rows)
        touched = set(new_features) | set(feat_replace) | set(feat_state)
        counts["stored"] = len(stored)
        self._finish(prep, res, counts, digest.hexdigest(), touched, lid, at, name)

    def _full_row(self, prep: Prepared, form_id: str, row: list) -> list:
        """A prepared layer row with every layer column (the empty ones left out in preparing put back)."""
        kept = prep.kept.get(form_id)
        if kept is None:
            return row
        spec = self.specs[form_id]
        g = 1 if spec.geometry_type else 0
        full = [None] * (g + len(spec.columns))
        full[:g] = row[:g]
        for k, v in zip(kept, row[g:]):
            full[g + k] = v
        return full

    def _store_all_new(self, prep: Prepared, lid: int, at: str) -> tuple[dict, str, set[str]]:
        """Insert every revision of ``prep`` as a new record (features, records, revisions; rows in
        record-uuid order, revisions in revision-id order as the general path does). The prepared columns
        are zipped into rows as they are: only what the database assigns is filled in."""
        db = self.db
        n = prep.n
        col = prep.col
        rid, uuid, township, valid = col("rid"), col("uuid"), col("township"), col("valid")
        state = [STATES[v] for v in valid]
        keys = col("key")
        record_id = [0] * n
        ba = bytearray
        for form_id, f in prep.forms.items():
            idx = f["order"]
            k = len(idx)
            if not k:
                continue
            spec = self.specs[form_id]
            kept = f["kept"]
            names = None if kept is None else [spec.columns[j][0] for j in kept]
            pick = itemgetter(*idx) if k > 1 else (lambda c, i=idx[0]: (c[i],))
            u, r, tw, st, va = pick(uuid), pick(rid), pick(township), pick(state), pick(valid)
            fcols = list(f["fcols"])
            if spec.geometry_type and fcols:
                # blobs as bytearray: SQLite's driver binds those directly, bytes (like None) take a slow lookup
                fcols[0] = [None if b is None else ba(b) for b in fcols[0]]
            zeros = [0] * k
            rows = list(map(list, zip(*fcols, u, r, tw, st, zeros, va)))
            fids = db.insert_features(spec, rows, f["env"], columns=names)
            del rows, fcols
            lids = [lid] * k
            kv = pick(keys)
            rows_of = lambda: list(zip(u, [form_id] * k, tw, kv, r, st, zeros, va, lids, lids,  # noqa: E731
                                       [at] * k, fids))
            if any(x is not None for x in kv):
                ids = db.insert_records(rows_of())
            else:   # every value of the records is in their feature rows or shared
                ids = db.insert_records_of_features(spec, fids, {"form_id": form_id, "first_package_id": lid,
                                                                 "last_package_id": lid, "updated_at": at}, rows_of)
            for i, one in zip(idx, ids):
                record_id[i] = one
        # revision columns: those the package's revisions share are written once, the others per row
        values = dict(zip(REV_FIELDS[:13], (prep.cols[f] for f in REV_FIELDS[:13])))
        values["content"] = [ba(c) for c in col("content")]
        per_row = {"record_id": record_id, "package_id": ("=", lid)}
        per_row.update(zip(CountyDB.REVISION_COLUMNS[1:10], (values[f] for f in REV_FIELDS[:9])))
        per_row.update(zip(CountyDB.REVISION_COLUMNS[11:], (values[f] for f in REV_FIELDS[9:13])))
        names = [c for c in CountyDB.REVISION_COLUMNS if type(per_row[c]) is not tuple]
        shared = {c: v[1] for c, v in per_row.items() if type(v) is tuple}

        def full() -> list:
            return list(zip(*[[v[1]] * n if type(v) is tuple else v
                              for v in (per_row[c] for c in CountyDB.REVISION_COLUMNS)]))

        db.insert_revisions_shared(names, list(zip(*[per_row[c] for c in names])), shared, full)
        counts = {"stored": n, "known": 0, "new_records": n, "advanced": 0, "conflicts": 0,
                  "invalid": prep.invalid}
        return counts, prep.digest, {f for f, v in prep.forms.items() if v["order"]}

    def _finish(self, prep: Prepared, res: PackageResult, counts: dict, revisions_sha: str, touched: set[str],
                lid: int, at: str, name: str) -> None:
        """Extents, result counts, the audit row and the ledger's totals of an accepted package."""
        db = self.db
        db.grow_extents({f: prep.bounds[f] for f in touched if f in prep.bounds}, [self.specs[f] for f in touched])
        res.outcome = "accepted"
        res.stored, res.known = counts["stored"], counts["known"]
        res.new_records, res.advanced = counts["new_records"], counts["advanced"]
        res.conflicts, res.invalid = counts["conflicts"], counts["invalid"]
        seq, h = db.append_audit("import", name, {
            "ledger_id": lid, "sha256": prep.sha256, "outcome": "accepted", "township": prep.township,
            "device_id": prep.device_id, "sequence": prep.sequence, "revisions": prep.n, **counts,
            "revisions_sha256": revisions_sha, "out_of_order": int(res.out_of_order)}, at=at)
        db.update_ledger(lid, {**counts, "revisions_sha256": revisions_sha, "out_of_order": int(res.out_of_order),
                               "reason": "; ".join(res.notes) or None, "audit_seq": seq, "audit_hash": h})


# ---------------------------------------------------------------------------------------------------
# The whole run

def prepare_config(db: CountyDB, specs: Mapping[str, LayerSpec], keys: "K.CountyKeys | None",
                   forms_path: str | None = None) -> PrepareConfig:
    import shapely

    devices = {d["device_id"]: DeviceInfo(d["device_id"], d["county"], d["township"], d["enumerator"],
                                          d["public_key"], bool(d["revoked"])) for d in db.devices()}
    boundary = db.boundary()
    return PrepareConfig(
        county=db.county,
        sign_private=K.private_bytes(keys.sign_private) if keys else None,
        encrypt_private=K.private_bytes(keys.encrypt_private) if keys else None,
        devices=devices, townships=frozenset(db.townships()), villages=frozenset(db.villages()),
        boundary_wkb=shapely.to_wkb(boundary) if boundary is not None else None, specs=dict(specs),
        forms_path=forms_path)


def _prepare_in_worker(path: str, cfg: PrepareConfig, forms: Mapping) -> Prepared:
    """:func:`prepare_package` in a worker process; the per-revision lists travel back as one marshal
    blob (several times cheaper to write than pickling ten thousand tuples and lists)."""
    import marshal

    prep = prepare_package(path, cfg, forms=forms)
    if prep.rejection is None:
        if cfg.archive_dir:
            prep.staged = _stage_archive(Path(cfg.archive_dir), prep)
            if prep.staged is not None:
                prep.data = None   # staged (or archived before): the writer needs only the path
        for f in prep.forms.values():
            if f["env"] is not None:
                f["env"] = f["env"].tobytes()
        prep.packed = marshal.dumps((prep.cols, prep.forms))
        prep.cols, prep.forms = {}, {}
        if cfg.spool_dir:
            # a file in memory: one copy in, one copy out, instead of many through a 64 KiB pipe
            import tempfile

            spool = None
            try:
                fd, spool = tempfile.mkstemp(prefix=".tmp-", dir=cfg.spool_dir)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(prep.packed)
            except OSError:   # full or gone: through the pipe after all
                if spool:
                    Path(spool).unlink(missing_ok=True)
            else:
                prep.packed, prep.packed_path = None, spool
    return prep


_shared: dict[str, Any] = {}


def _prepare_shared(path: str, shared: bytes) -> Prepared:
    """:func:`_prepare_in_worker` with the run's configuration and form catalogue pickled once for the
    whole run (``shared``): a worker unpickles them for its first package only."""
    if _shared.get("blob") != shared:
        import pickle

        _shared["args"] = pickle.loads(shared)
        _shared["blob"] = shared
    cfg, forms = _shared["args"]
    return _prepare_in_worker(path, cfg, forms)


def _unpack(prep: Prepared) -> Prepared:
    if prep.packed_path is not None:
        spool = Path(prep.packed_path)
        prep.packed, prep.packed_path = spool.read_bytes(), None
        spool.unlink(missing_ok=True)
    if prep.packed is not None:
        import marshal

        with gc_paused():
            import numpy as np

            prep.cols, prep.forms = marshal.loads(prep.packed)
            for f in prep.forms.values():
                if f["env"] is not None:
                    f["env"] = np.frombuffer(f["env"], dtype="float64").reshape(-1, 4)
        prep.packed = None
    return prep


WORKER_NICE = 10   # how much lower the checking processes run than the writer (POSIX only)
PREFETCH = 4       # packages prepared ahead per worker (they keep working while the writer commits)


def _worker_init(nice: int = 0) -> None:
    """In each worker process: a fresh validator cache, and a lower scheduling priority. The writing
    process applies packages one after another (the pipeline's serial part); when it competes with
    the workers for the CPUs, it should win, and the workers use what it leaves."""
    _cache.clear()
    _shared.clear()
    if nice and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError:   # not allowed here: run at the same priority
            pass


def _mp_context():
    """fork where there is one (workers start before the database is opened, so none inherits an open
    SQLite connection — SQLite forbids carrying one across fork()); spawn elsewhere (Windows)."""
    import multiprocessing as mp

    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def _noop() -> int:
    return os.getpid()


def import_packages(gpkg_path: str | Path, packages: Sequence[str | Path], *, keys_path: str | Path | None = None,
                    workers: int | None = None, progress: Callable[[int, int], None] | None = None,
                    on_result: Callable[[PackageResult], None] | None = None,
                    forms: Mapping | None = None, group: Mapping[str, Any] | None = None) -> list[PackageResult]:
    """Import ``packages`` in order into the county GeoPackage; one result per package.

    ``workers``: processes that check and validate packages while this process writes (default: one per
    CPU, up to 6, when there are three packages or more; 0 = everything in this process).
    ``forms``: the form catalogue (default: :func:`schemas.catalogue.all_forms`).
    ``group``: group-commit limits for :class:`Importer` (``group_revisions``, ``group_packages``,
    ``group_seconds``); ``{"group_packages": 1}`` commits every package on its own.
    ``on_result`` is called for each package once it is committed.
    """
    from schemas.catalogue import all_forms

    target, gpkg_path = gpkg_path, anchor_path(gpkg_path)
    paths = [str(p) for p in packages]
    n = len(paths)
    if workers is None:
        # checking and validating costs more than writing: one worker per CPU (capped), the writer shares
        workers = min(os.cpu_count() or 1, 6) if n >= 3 else 0
    pool = None
    if workers >= 1 and n > 1:
        # start every worker now, before the database is opened
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init, initargs=(WORKER_NICE,),
                                   mp_context=_mp_context())
        for f in [pool.submit(_noop) for _ in range(workers)]:
            f.result()
    futures: list[Future | None] = []
    cfg: PrepareConfig | None = None
    try:
        db = open_county(target)
    except BaseException:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        raise
    try:
        keys_file = Path(keys_path) if keys_path else K.keys_path_for(gpkg_path)
        keys = K.load_county_keys(keys_file) if keys_file.is_file() else None
        if keys is not None and keys.county != db.county:
            raise K.KeyProblem(f"密钥文件 {keys_file} 属于县 {keys.county}，不是 {db.county}",
                               f"key file {keys_file} belongs to county {keys.county}, not {db.county}")
        _clean_temp(gpkg_path)
        forms = dict(forms) if forms is not None else all_forms()
        specs = db.ensure_layers(forms.values())
        cfg = prepare_config(db, specs, keys)
        if pool is not None:
            adir = side_dir(gpkg_path, ARCHIVE_DIR)
            adir.mkdir(parents=True, exist_ok=True)
            cfg.archive_dir = str(adir)
            spool = _spool_dir()
            cfg.spool_dir = str(spool) if spool else None
        results: list[PackageResult] = []
        applied = [0]

        def committed(r: PackageResult) -> None:
            results.append(r)
            if on_result:
                on_result(r)

        importer = Importer(db, specs, on_commit=committed, **(group or {}))

        def apply(prep: Prepared) -> None:
            importer.apply_and_maybe_commit(prep)
            applied[0] += 1
            if progress:
                progress(applied[0], n)

        # the run makes millions of short-lived objects and no reference cycles: the cyclic collector
        # would only rescan what is alive (the open group's rows) again and again
        with gc_paused():
            try:
                if pool is None:
                    for p in paths:
                        apply(prepare_package(p, cfg, forms=forms))
                else:
                    import pickle

                    window = max(2, workers * PREFETCH)
                    shared = pickle.dumps((cfg, forms), protocol=pickle.HIGHEST_PROTOCOL)
                    nxt = 0
                    for i in range(n):
                        while nxt < n and nxt < i + window:
                            futures.append(pool.submit(_prepare_shared, paths[nxt], shared))
                            nxt += 1
                        prep = _unpack(futures[i].result())
                        futures[i] = None   # free the bytes
                        apply(prep)
                importer.commit()
            except db.DatabaseError as e:
                importer.abort()
                raise CountyDBError(f"写入县级地理数据库失败（{e}）：本组尚未提交的包均未写入，可直接重新导入",
                                    f"writing the county geodatabase failed ({e}); the packages of the uncommitted group "
                                    "were not written — import them again") from e
            except BaseException:
                importer.abort()
                raise
        return results
    finally:
        db.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
            for f in futures:   # prepared but never applied (the run stopped): their staged copies go
                if f is not None and f.done() and not f.cancelled() and f.exception() is None:
                    _unstage(f.result())
            if cfg is not None and cfg.spool_dir:
                shutil.rmtree(cfg.spool_dir, ignore_errors=True)
