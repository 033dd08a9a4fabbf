"""Return packages (township → county), enrolment files and feedback files: build, sign, open, verify.

:func:`build_package` writes one ``.censuspkg`` ZIP from final revisions, signed by the device key and
with confidential forms encrypted to the county. :func:`open_package` trusts nothing: it checks size
and entry limits, entry names (zip slip), the manifest's signature against the enrolled device key,
jurisdiction (county, township, revoked devices), every file's length and SHA-256, the JSON of every
line, schema versions, and decrypts confidential files with the county key. Any failure raises
:class:`PackageRejected` with a ``reason`` code and zh/en text naming the file; nothing is half-read.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import uuid
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from schemas.errors import CensusError
from schemas.unicode_text import has_lone_surrogate

from . import keys as K
from .zipfmt import Entry, ZipFormatError, read_directory, read_entry, write_zip
from .formats import (DATA_DIR, ENCRYPTED_SUFFIX, ENROLMENT_FORMAT, MANIFEST_NAME, MAX_COMPRESSION_RATIO,
                      MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_PACKAGE_BYTES, PLAIN_SUFFIX, SIGNATURE_NAME,
                      Enrolment, Feedback, FeedbackItem, FileEntry, FormatError, FORM_ID_RE, Manifest,
                      Revision, canonical_bytes, canonical_json, data_path, enrolment_signed_payload,
                      feedback_signed_payload, package_filename, utc_now)

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class PackageError(CensusError):
    """A package could not be built (the township's side)."""


class PackageRejected(CensusError):
    """The county refuses a package; ``reason`` is a stable code, the messages say why and what to do."""

    def __init__(self, reason: str, message_zh: str, message_en: str):
        super().__init__(message_zh, message_en)
        self.reason = reason


@dataclass(frozen=True)
class DeviceInfo:
    """An enrolled device as the county knows it."""

    device_id: str
    county: str
    township: str
    enumerator: str
    public_key: str      # base64 raw Ed25519
    revoked: bool = False


@dataclass
class OpenedPackage:
    path: Path
    sha256: str
    size: int
    manifest: Manifest
    device: DeviceInfo
    revisions: list[Revision]                 # every revision, in file order, forms in manifest order
    # each revision's JSON line, the UTF-8 bytes exactly as received (hashed and stored as they are)
    raw_bytes: list[bytes] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


# ---------------------------------------------------------------------------------------------------
# Building (township side)

def _forms(forms: Mapping | None) -> Mapping:
    if forms is not None:
        return forms
    from schemas.catalogue import all_forms
    return all_forms()


def _as_enrolment(enrolment: Enrolment | Mapping | str | os.PathLike) -> Enrolment:
    if isinstance(enrolment, Enrolment):
        return enrolment
    if isinstance(enrolment, Mapping):
        return Enrolment.from_dict(enrolment)
    return load_enrolment(enrolment)


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, fsync, then rename: a crash leaves no half file."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    """Make the rename durable. Only POSIX can open and fsync a folder; some file systems (FAT on a USB
    stick) refuse, and then the file's own fsync above is all there is — which is reported as a
    warning, not an error, because the package file itself is complete either way."""
    if os.name != "posix":
        return
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    except OSError as e:
        import warnings
        warnings.warn(f"could not fsync folder {folder}: {e}", RuntimeWarning, stacklevel=3)
    finally:
        os.close(dfd)


def build_package(revisions: Iterable[Revision | Mapping], *, enrolment: Enrolment | Mapping | str | os.PathLike,
                  sequence: int, out_dir: str | os.PathLike, acknowledged_through: int = 0,
                  forms: Mapping | None = None, created_at: str | None = None,
                  compress: bool = False) -> Path:
    """Write ``{county}_{township}_{device8}_{seq:06d}.censuspkg`` into ``out_dir`` and return its path.

    ``revisions`` are final revisions of this township (drafts never leave it); confidential forms are
    encrypted to the county's X25519 key with a fresh package key. The file appears atomically.
    Entries are stored uncompressed by default so that every byte of the file is covered by a hash or a
    checked header field (``compress=True`` deflates them; see :mod:`sync.zipfmt`).
    """
    enr = _as_enrolment(enrolment)
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise PackageError("包序号必须是正整数", "the package sequence must be a positive integer")
    if acknowledged_through < 0 or acknowledged_through >= sequence:
        raise PackageError("已确认序号应小于本包序号", "acknowledged_through must be below the package sequence")
    catalogue = _forms(forms)
    by_form: dict[str, list[str]] = {}
    versions: dict[str, str] = {}
    seen: set[str] = set()
    for i, r in enumerate(revisions, start=1):
        rev = r if isinstance(r, Revision) else Revision.from_dict(r)
        if rev.status != "final":
            raise PackageError(f"第 {i} 条修订是草稿：草稿不能导出", f"revision {i} is a draft; drafts are never exported")
        if rev.township != enr.township:
            raise PackageError(f"第 {i} 条修订属于乡镇 {rev.township}，本设备登记在 {enr.township}",
                               f"revision {i} belongs to township {rev.township}; this device is enrolled for {enr.township}")
        if rev.form_id not in catalogue:
            raise PackageError(f"第 {i} 条修订的表单“{rev.form_id}”不存在", f"revision {i}: unknown form '{rev.form_id}'")
        if rev.revision_id in seen:
            raise PackageError(f"修订 {rev.revision_id} 重复", f"revision {rev.revision_id} appears twice")
        seen.add(rev.revision_id)
        v = versions.setdefault(rev.form_id, rev.form_version)
        if v != rev.form_version:
            raise PackageError(f"表单 {rev.form_id} 的修订版本不一致（{v} 与 {rev.form_version}），请先升级记录",
                               f"form {rev.form_id}: revisions of versions {v} and {rev.form_version}; upgrade them first")
        by_form.setdefault(rev.form_id, []).append(rev.to_json_line())

    package_key = None
    files: dict[str, bytes] = {}
    encrypted: list[str] = []
    for form_id in sorted(by_form):
        body = ("\n".join(by_form[form_id]) + "\n").encode("utf-8")
        secret = bool(getattr(catalogue[form_id], "confidential", False))
        if secret:
            if package_key is None:
                package_key = K.new_package_key()
            body = K.encrypt(package_key, body)
            encrypted.append(form_id)
        files[data_path(form_id, secret)] = body
    key_wrap = K.wrap_key(package_key, enr.county_encrypt_public_key) if package_key else None
    manifest = Manifest(
        county=enr.county, township=enr.township, device_id=enr.device_id, enumerator=enr.enumerator,
        sequence=sequence, created_at=created_at or utc_now(), schema_versions=dict(sorted(versions.items())),
        counts={f: len(lines) for f, lines in sorted(by_form.items())},
        files={p: FileEntry(hashlib.sha256(b).hexdigest(), len(b)) for p, b in files.items()},
        encrypted_forms=encrypted, key_wrap=key_wrap, acknowledged_through=acknowledged_through)
    mbytes = manifest.to_bytes()
    sig = K.sign(enr.device_private_key, mbytes)

    blob = write_zip([(MANIFEST_NAME, mbytes), (SIGNATURE_NAME, sig.encode("ascii")), *files.items()], deflate=compress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / package_filename(enr.county, enr.township, enr.device_id, sequence)
    if path.exists():
        raise PackageError(f"{path} 已存在：每个序号只导出一次", f"{path} already exists: each sequence is exported once")
    write_atomic(path, blob)
    return path


# ---------------------------------------------------------------------------------------------------
# Opening (county side)

def _reject(reason: str, name: str, zh: str, en: str) -> PackageRejected:
    return PackageRejected(reason, f"{name}：{zh}", f"{name}: {en}")


def _no_constants(c: str) -> Any:
    raise ValueError(f"{c} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)   # built once: a package has many lines


_SCAN = _DECODER.scan_once


try:   # about three times faster than the standard library on revision lines
    import orjson as _orjson
except ImportError:  # pragma: no cover - the standard library alone gives the same values
    _orjson = None


# For the guard below: digits → "0", what may end a number token (",", "]", "}", JSON whitespace) → "d",
# everything else → "x". An integer token of 19+ digits then shows as 19 "0" and a "d"; a string of
# digits ends in a quote instead, so the building ids of a work map do not trip it.
_DIGIT_TABLE = bytes((0x30 if 0x30 <= b <= 0x39 else 0x64 if b in b",]} \t\n\r" else 0x78) for b in range(256))
_LONG_INT_MARK = b"0" * 19 + b"d"


def _strict_json(text: str | bytes, raw: bytes | None = None) -> Any:
    """JSON without NaN/Infinity (which no other JSON reader accepts). ``raw``: ``text`` as UTF-8 bytes
    when the caller has them (it enables the faster reader, see below)."""
    if type(text) is str:
        # the common case, one value filling the line, read by the C scanner directly; anything else
        # (whitespace around it, an error) goes through decode(), which gives the same value or error
        if text and text[0] in "{[":
            if _orjson is not None and raw is not None and _LONG_INT_MARK not in raw.translate(_DIGIT_TABLE):
                # orjson is stricter than the standard library (no NaN, no lone surrogates, bounded
                # depth) and gives the same values for what it accepts — except integers beyond 64 bits,
                # which it turns into floats: a line that may hold an integer of 19+ digits is left to
                # the standard library, as is anything orjson refuses, so inputs, values and messages stay
                try:
                    return _orjson.loads(text)
                except _orjson.JSONDecodeError:
                    pass
            try:
                obj, end = _SCAN(text, 0)
            except (StopIteration, ValueError):
                obj, end = None, -1
            if end == len(text):
                return obj
        if not text.startswith("\ufeff"):
            return _DECODER.decode(text)
    return json.loads(text, parse_constant=_no_constants)


def _allowed_name(n: str, top_level: tuple[str, ...] = (MANIFEST_NAME, SIGNATURE_NAME)) -> bool:
    """A name a package may hold: its top-level files, or data/FORM_ID.jsonl[.enc] (upward packages add files)."""
    if n in top_level:
        return True
    if not n.startswith(DATA_DIR):
        return False
    rest = n[len(DATA_DIR):]
    for suffix in (ENCRYPTED_SUFFIX, PLAIN_SUFFIX):
        if rest.endswith(suffix):
            return bool(FORM_ID_RE.match(rest[: -len(suffix)]))
    return False


_ZIP_REASONS = {
    "truncated": ("不是完整的回传包（文件被截断或损坏），请重新复制或重新导出",
                  "not a complete return package (truncated or damaged); copy or export it again"),
    "not_canonical": ("包的结构被改动（{detail}），请重新导出", "the package structure was altered ({detail}); export it again"),
    "too_many_entries": ("包内文件过多（{detail}）", "too many entries ({detail})"),
    "too_large": ("包内文件解压后过大（{detail}）", "an entry is too large uncompressed ({detail})"),
    "zip_bomb": ("包内文件压缩比异常，疑似压缩炸弹（{detail}）", "abnormal compression ratio, a zip bomb? ({detail})"),
    "corrupt": ("包内文件已损坏（{detail}），请重新导出", "an entry is damaged ({detail}); export it again"),
    "bad_entry": ("包内有不允许的文件（{detail}）", "unexpected entry ({detail})"),
}


def _zip_reject(name: str, e: ZipFormatError) -> PackageRejected:
    zh, en = _ZIP_REASONS.get(e.reason, _ZIP_REASONS["not_canonical"])
    return _reject(e.reason, name, zh.format(detail=e.detail), en.format(detail=e.detail))


def _read_entry(data: bytes, entry: Entry, name: str, limit: int) -> bytes:
    try:
        return read_entry(data, entry, limit=limit)
    except ZipFormatError as e:
        raise _zip_reject(name, e) from e


def open_package(path: str | os.PathLike, *, county_keys: "K.CountyKeys | None",
                 devices: Mapping[str, DeviceInfo] | Callable[[str], DeviceInfo | None],
                 county: str | None = None, forms: Mapping | None = None,
                 data: bytes | None = None) -> OpenedPackage:
    """Open and check a package completely; return its revisions or raise :class:`PackageRejected`.

    ``devices`` maps device ids to the county's enrolment records (or is a lookup function);
    ``county_keys`` decrypts confidential forms (None: a package with encrypted forms is rejected);
    ``county`` defaults to ``county_keys.county``; ``forms`` to the form catalogue.
    """
    path = Path(path)
    name = path.name
    county = county or (county_keys.county if county_keys else None)
    lookup = devices if callable(devices) else devices.get
    catalogue = _forms(forms)

    # 1. size, then the bytes themselves (hashed once, parsed from memory)
    if data is None:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise FileNotFoundError(2, "找不到文件 / file not found", str(path)) from None
        if not stat.S_ISREG(st.st_mode):
            raise _reject("not_file", name, "不是普通文件", "not a regular file")
        if st.st_size > MAX_PACKAGE_BYTES:
            raise _reject("too_large", name, f"文件过大（{st.st_size} 字节，上限 256 MiB），请分批导出",
                          f"too large ({st.st_size} bytes, limit 256 MiB); export in smaller batches")
        with open(path, "rb") as fh:
            data = fh.read(MAX_PACKAGE_BYTES + 1)
    if len(data) > MAX_PACKAGE_BYTES:
        raise _reject("too_large", name, "文件过大（上限 256 MiB）", "too large (limit 256 MiB)")
    sha = hashlib.sha256(data).hexdigest()

    # 2. the container: every header byte canonical, entry count, names (zip slip), sizes, ratios
    seen: set[str] = set()

    def check_name(n: str) -> None:
        if "\\" in n or n.startswith("/") or ".." in n.split("/") or (len(n) > 1 and n[1] == ":"):
            raise _reject("zip_slip", name, f"包内路径“{n[:80]}”试图写到包外，已拒收",
                          f"entry path '{n[:80]}' points outside the package; refused")
        if not _allowed_name(n):
            raise _reject("bad_entry", name, f"包内有不允许的文件“{n[:80]}”", f"unexpected entry '{n[:80]}'")
        if n in seen:
            raise _reject("bad_entry", name, f"包内文件“{n}”重复", f"entry '{n}' appears twice")
        seen.add(n)

    try:
        directory = read_directory(data, max_entries=MAX_ENTRIES, max_entry_bytes=MAX_ENTRY_BYTES,
                                   max_ratio=MAX_COMPRESSION_RATIO, check_name=check_name)
    except ZipFormatError as e:
        raise _zip_reject(name, e) from e
    entries = {e.name: e for e in directory}
    for required in (MANIFEST_NAME, SIGNATURE_NAME):
        if required not in entries:
            raise _reject("missing_entry", name, f"缺少 {required}，不是完整的回传包",
                          f"{required} is missing; not a complete return package")

    # 3. manifest: who claims to have sent it, then the signature by that device's enrolled key
    mbytes = _read_entry(data, entries[MANIFEST_NAME], name, MAX_MANIFEST_BYTES)
    sig = _read_entry(data, entries[SIGNATURE_NAME], name, 1024)
    try:
        raw_manifest = _strict_json(mbytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _reject("malformed_json", name, f"manifest.json 不是有效的 JSON（{str(e)[:80]}）",
                      f"manifest.json is not valid JSON ({str(e)[:80]})") from e
    if not isinstance(raw_manifest, dict):
        raise _reject("malformed_json", name, "manifest.json 应为 JSON 对象", "manifest.json must be a JSON object")
    if has_lone_surrogate(mbytes, raw_manifest):
        raise _reject("bad_text", name, "manifest.json 含无法保存的文本（孤立的 \\ud800–\\udfff 转义），请重新导出",
                      "manifest.json holds text that cannot be stored (a lone \\ud800–\\udfff escape); export it again")
    claimed_county = raw_manifest.get("county")
    if county is not None and claimed_county != county:
        raise _reject("wrong_county", name, f"该包属于县 {str(claimed_county)[:12]}，不是本县 {county}，已拒收",
                      f"the package is for county {str(claimed_county)[:12]}, not this county {county}; refused")
    device_id = raw_manifest.get("device_id")
    device = lookup(device_id) if isinstance(device_id, str) else None
    if device is None:
        raise _reject("unknown_device", name, f"设备 {str(device_id)[:40]} 未在本县登记，已拒收；请用本县签发的登记文件",
                      f"device {str(device_id)[:40]} is not enrolled in this county; refused: use an enrolment issued by this county")
    try:
        sig_text = sig.decode("ascii").strip()
    except UnicodeDecodeError:
        sig_text = ""
    if not K.verify(device.public_key, mbytes, sig_text):
        raise _reject("bad_signature", name, "签名无效：包清单被改动，或不是该设备签发的；请重新导出",
                      "invalid signature: the manifest was altered or not signed by that device; export it again")
    try:
        manifest = Manifest.from_dict(raw_manifest)
    except FormatError as e:
        raise _reject("bad_manifest", name, e.message_zh, e.message_en) from e
    if device.revoked:
        raise _reject("revoked_device", name, f"设备 {device.device_id} 已被注销，已拒收",
                      f"device {device.device_id} has been revoked; refused")
    if device.county != manifest.county:
        raise _reject("wrong_county", name, f"设备登记在县 {device.county}，包声称属于 {manifest.county}",
                      f"the device is enrolled in county {device.county}, the package claims {manifest.county}")
    if device.township != manifest.township:
        raise _reject("wrong_township", name,
                      f"设备 {device.device_id[:8]} 登记在乡镇 {device.township}，不能报送乡镇 {manifest.township} 的数据",
                      f"device {device.device_id[:8]} is enrolled for township {device.township}, "
                      f"not {manifest.township}")

    # 4. the file list must match exactly, forms must be known at those versions
    data_entries = {n for n in entries if n.startswith(DATA_DIR)}
    if data_entries != set(manifest.files):
        extra = sorted(data_entries - set(manifest.files)) + sorted(set(manifest.files) - data_entries)
        raise _reject("files_mismatch", name, f"包内文件与清单不符：{', '.join(extra)[:120]}",
                      f"entries do not match the manifest: {', '.join(extra)[:120]}")
    forms_in_files: dict[str, str] = {}
    for p in manifest.files:
        enc = p.endswith(ENCRYPTED_SUFFIX)
        fid = p[len(DATA_DIR):-len(ENCRYPTED_SUFFIX if enc else PLAIN_SUFFIX)]
        if fid in forms_in_files:
            raise _reject("files_mismatch", name, f"表单 {fid} 有两个数据文件", f"form {fid} has two data files")
        forms_in_files[fid] = p
        if enc != (fid in manifest.encrypted_forms):
            raise _reject("files_mismatch", name, f"表单 {fid} 的加密标记与文件不符",
                          f"form {fid}: encryption flag does not match its file")
    if set(forms_in_files) != set(manifest.counts) or set(manifest.schema_versions) != set(manifest.counts):
        raise _reject("files_mismatch", name, "清单中的表单、计数与文件不一致",
                      "the manifest's forms, counts and files do not agree")
    for fid, version in manifest.schema_versions.items():
        form = catalogue.get(fid)
        if form is None:
            raise _reject("unknown_form", name, f"本县没有表单“{fid}”，请先安装该表单",
                          f"this county has no form '{fid}'; install it first")
        if form.version != version:
            raise _reject("schema_version", name,
                          f"表单 {fid} 的版本 {version} 与本县 {form.version} 不同，请统一表单版本后重新导出",
                          f"form {fid} is version {version}, this county has {form.version}; align versions and export again")
        if getattr(form, "confidential", False) and fid not in manifest.encrypted_forms:
            raise _reject("not_encrypted", name, f"涉密表单 {fid} 未加密，已拒收", f"confidential form {fid} is not encrypted; refused")
    if manifest.encrypted_forms and manifest.key_wrap is None:
        raise _reject("bad_manifest", name, "清单缺少加密密钥封装 key_wrap", "the manifest lacks its key_wrap")

    package_key = None
    if manifest.encrypted_forms:
        if county_keys is None:
            raise _reject("no_county_key", name, "包含加密的涉密表单，但没有县级私钥，无法解密；请在县普查办电脑上导入",
                          "holds encrypted confidential forms but no county private key is available; "
                          "import it on the county office PC")
        try:
            package_key = K.unwrap_key(manifest.key_wrap, county_keys.encrypt_private)
        except K.DecryptionError as e:
            raise _reject("decrypt", name, e.message_zh, e.message_en) from e

    # 5. every file: length, hash, decryption, strict JSON lines, revision format
    revisions: list[Revision] = []
    raw_bytes: list[bytes] = []
    ids: set[str] = set()
    for fid, p in forms_in_files.items():
        entry: FileEntry = manifest.files[p]
        blob = _read_entry(data, entries[p], name, min(MAX_ENTRY_BYTES, entry.bytes))
        if len(blob) != entry.bytes or hashlib.sha256(blob).hexdigest() != entry.sha256:
            raise _reject("hash_mismatch", name, f"{p} 的内容与清单中的哈希不符：包被改动或损坏",
                          f"{p} does not match its hash in the manifest: the package was altered or damaged")
        if package_key is not None and p.endswith(ENCRYPTED_SUFFIX):
            try:
                blob = K.decrypt(package_key, blob, what=p)
            except K.DecryptionError as e:
                raise _reject("decrypt", name, e.message_zh, e.message_en) from e
        blines = blob.split(b"\n")   # b"\n" never occurs inside a multi-byte UTF-8 sequence
        if blines and blines[-1] == b"":
            blines.pop()
        revs = _file_revisions_fast(blob, blines, fid, manifest, ids)
        if revs is None:   # some line is not plain: line by line, naming the first problem
            revs = _file_revisions_checked(blob, blines, fid, p, name, manifest, ids)
        revisions.extend(revs)
        raw_bytes.extend(blines)
    return OpenedPackage(path=path, sha256=sha, size=len(data), manifest=manifest, device=device,
                         revisions=revisions, raw_bytes=raw_bytes)


def _file_revisions_fast(blob: bytes, blines: list[bytes], fid: str, manifest: Manifest, ids: set[str]) -> list[Revision] | None:
    """One data file's revisions when every line is plain (the common case), read and checked for the
    whole file at once; None → :func:`_file_revisions_checked`, which accepts exactly the same files and
    names the first bad line. orjson reads each line (it refuses invalid UTF-8, NaN, lone surrogates and
    deep nesting, which then go the checked way); a file that may hold an integer of 19+ digits, which
    orjson would turn into a float, is left to the checked way too."""
    if _orjson is None or len(blines) != manifest.counts[fid] or _LONG_INT_MARK in blob.translate(_DIGIT_TABLE):
        return None
    loads = _orjson.loads
    try:
        objs = [loads(b) for b in blines]
    except _orjson.JSONDecodeError:
        return None
    fast = Revision.fast
    revs = [fast(o) for o in objs]
    if not all(revs):   # (a Revision is always true; None marks a line for the checked way)
        return None
    if not revs:
        return revs
    rids = list(map(_REVISION_ID, revs))
    if set(map(_AGREES, revs)) != {(fid, manifest.township, "final", manifest.schema_versions[fid])} \
            or len(set(rids)) != len(rids) or not ids.isdisjoint(rids):
        return None
    ids.update(rids)
    return revs


_REVISION_ID = attrgetter("revision_id")
_AGREES = attrgetter("form_id", "township", "status", "form_version")   # what every line shares with the manifest


def _file_revisions_checked(blob: bytes, blines: list[bytes], fid: str, p: str, name: str, manifest: Manifest,
                            ids: set[str]) -> list[Revision]:
    """One data file's revisions, line by line; the first problem raises :class:`PackageRejected` naming
    the file and line."""
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _reject("malformed_json", name, f"{p} 不是 UTF-8 文本", f"{p} is not UTF-8 text") from e
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != manifest.counts[fid]:
        raise _reject("count_mismatch", name, f"{p} 有 {len(lines)} 条修订，清单写的是 {manifest.counts[fid]} 条",
                      f"{p} holds {len(lines)} revisions, the manifest says {manifest.counts[fid]}")
    revisions: list[Revision] = []
    for ln, (line, bline) in enumerate(zip(lines, blines), start=1):
        try:
            obj = _strict_json(line, bline)
        except ValueError as e:
            raise _reject("malformed_json", name, f"{p} 第 {ln} 行不是有效的 JSON（{str(e)[:60]}）",
                          f"{p} line {ln} is not valid JSON ({str(e)[:60]})") from e
        try:
            rev = Revision.from_dict(obj)
        except FormatError as e:
            raise _reject("bad_revision", name, f"{p} 第 {ln} 行：{e.message_zh}",
                          f"{p} line {ln}: {e.message_en}") from e
        if rev.form_id != fid or rev.township != manifest.township or rev.status != "final" \
                or rev.form_version != manifest.schema_versions[fid]:
            raise _reject("bad_revision", name,
                          f"{p} 第 {ln} 行的表单、乡镇、状态或版本与清单不符",
                          f"{p} line {ln}: form, township, status or version disagrees with the manifest")
        if has_lone_surrogate(bline, obj):
            raise _reject("bad_text", name,
                          f"{p} 第 {ln} 行含无法保存的文本（孤立的 \\ud800–\\udfff 转义，不是有效的 Unicode 字符），请在乡镇端修正后重新导出",
                          f"{p} line {ln} holds text that cannot be stored (a lone \\ud800–\\udfff escape, not a "
                          "Unicode character); correct it on the township laptop and export again")
        if rev.revision_id in ids:
            raise _reject("bad_revision", name, f"{p} 第 {ln} 行：修订 {rev.revision_id} 重复",
                          f"{p} line {ln}: revision {rev.revision_id} appears twice")
        ids.add(rev.revision_id)
        revisions.append(rev)
    return revisions


# ---------------------------------------------------------------------------------------------------
# Enrolment files

def make_enrolment(county_keys: "K.CountyKeys", *, county_name: str, township: str, township_name: str,
                   enumerator: str, divisions: Mapping | None = None, workmap_sha256: str | None = None,
                   device_id: str | None = None) -> tuple[Enrolment, DeviceInfo]:
    """A new device key pair and the county-signed enrolment binding it to one township and enumerator."""
    priv, pub = K.new_device_keypair()
    device_id = device_id or str(uuid.uuid4())
    body = {"format": ENROLMENT_FORMAT, "county": county_keys.county, "county_name": county_name,
            "township": township, "township_name": township_name, "enumerator": enumerator,
            "device_id": device_id, "issued_at": utc_now(), "device_private_key": priv,
            "device_public_key": pub, "county_sign_public_key": county_keys.sign_public_b64,
            "county_encrypt_public_key": county_keys.encrypt_public_b64, "divisions": dict(divisions or {})}
    if workmap_sha256:
        body["workmap_sha256"] = workmap_sha256
    body["signature"] = county_keys.sign(enrolment_signed_payload(body))
    enr = Enrolment.from_dict(body)
    return enr, DeviceInfo(device_id, county_keys.county, township, enumerator, pub)


def verify_enrolment(enr: Enrolment, *, county_sign_public_key: str | None = None) -> Enrolment:
    """Check the county's signature (against ``county_sign_public_key`` when the caller knows it) and
    that the device key pair matches; return the enrolment or raise :class:`FormatError`."""
    trusted = county_sign_public_key or enr.county_sign_public_key
    if county_sign_public_key and county_sign_public_key != enr.county_sign_public_key:
        raise FormatError("登记文件不是本县签发的", "the enrolment file was not issued by this county")
    if not K.verify(trusted, enr.signed_payload(), enr.signature):
        raise FormatError("登记文件的县级签名无效：文件被改动，请向县普查办重新申领",
                          "the enrolment's county signature is invalid: the file was altered; ask the county for a new one")
    try:
        pub = K.b64e(K.public_bytes(K.signing_key_from_b64(enr.device_private_key)))
    except (K.KeyProblem, ValueError) as e:
        raise FormatError("登记文件中的设备私钥无效", "the enrolment's device private key is invalid") from e
    if pub != enr.device_public_key:
        raise FormatError("登记文件中的设备公私钥不匹配", "the enrolment's device keys do not match")
    return enr


def load_enrolment(path: str | os.PathLike, *, verify: bool = True) -> Enrolment:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "找不到登记文件 / enrolment file not found", str(path))
    try:
        d = _strict_json(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"{path.name}：登记文件不是有效的 JSON", f"{path.name}: the enrolment file is not valid JSON") from e
    enr = Enrolment.from_dict(d)
    return verify_enrolment(enr) if verify else enr


def write_enrolment(enr: Enrolment, path: str | os.PathLike) -> Path:
    """Write the enrolment (it holds the device's private key: mode 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(enr.to_dict(), ensure_ascii=False, indent=2).encode("utf-8")
    write_atomic(path, data)
    os.chmod(path, 0o600)
    return path


# ---------------------------------------------------------------------------------------------------
# Feedback files

def make_feedback(county_keys: "K.CountyKeys", *, township: str, acknowledged_through: Mapping[str, int],
                  items: Iterable[FeedbackItem | Mapping]) -> Feedback:
    fb = Feedback(county=county_keys.county, township=township, issued_at=utc_now(),
                  acknowledged_through=dict(sorted(acknowledged_through.items())),
                  items=[i if isinstance(i, FeedbackItem) else FeedbackItem.from_dict(i) for i in items])
    sig = county_keys.sign(fb.signed_payload())
    return Feedback(fb.county, fb.township, fb.issued_at, fb.acknowledged_through, fb.items, sig)


def write_feedback(fb: Feedback, out_dir: str | os.PathLike) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stamp = fb.issued_at.replace(":", "").replace("-", "").replace("+0000", "Z")[:16]
    path = out / f"feedback_{fb.county}_{fb.township}_{stamp}.json"
    k = 2
    while path.exists():
        path = out / f"feedback_{fb.county}_{fb.township}_{stamp}_{k}.json"
        k += 1
    write_atomic(path, json.dumps(fb.to_dict(), ensure_ascii=False, indent=2).encode("utf-8"))
    return path


def load_feedback(path: str | os.PathLike, *, county_sign_public_key: str) -> Feedback:
    """Read a feedback file and check the county's signature; raise :class:`FormatError` if it fails."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "找不到反馈文件 / feedback file not found", str(path))
    try:
        d = _strict_json(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"{path.name}：反馈文件不是有效的 JSON", f"{path.name}: the feedback file is not valid JSON") from e
    fb = Feedback.from_dict(d)
    if not K.verify(county_sign_public_key, feedback_signed_payload(d), fb.signature):
        raise FormatError(f"{path.name}：反馈文件的县级签名无效（被改动或不是本县签发）",
                          f"{path.name}: the feedback's county signature is invalid (altered, or not from this county)")
    return fb


__all__ = ["DeviceInfo", "OpenedPackage", "PackageError", "PackageRejected", "build_package", "open_package",
           "make_enrolment", "verify_enrolment", "load_enrolment", "write_enrolment", "make_feedback",
           "write_feedback", "load_feedback", "canonical_bytes", "canonical_json"]
