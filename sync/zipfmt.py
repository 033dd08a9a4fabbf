"""The package container: a canonical ZIP, written and read byte for byte by this module.

A return package must be *unalterable*: flipping any byte anywhere in the file must make the county
reject it. The signature covers ``manifest.json``, which holds the SHA-256 of every data file; that
leaves the ZIP's own bytes (headers, times, attributes, the central directory) — a general ZIP reader
ignores many of them. So the writer emits exactly one canonical layout, and the reader accepts only
that layout, checking every header field:

- entries in order: local file header (no extra field, DOS time 00:00 and date 1980-01-01, UTF-8 flag
  off, version needed 20), then the data; then the central directory (version made by 20, no comments,
  external attributes 0o644 « 16) and an end-of-central-directory record without comment; no gaps, no
  trailing bytes, no ZIP64 (the limits keep packages far below 4 GiB);
- method 0 (stored, what :func:`write_zip` writes by default: every stored byte is then hashed) or 8
  (raw deflate, allowed for compactness; the stream must end exactly at the entry's end).

Reading never trusts a size before checking it against the limits, and inflates with a bound.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Iterable

LFH = struct.Struct("<IHHHHHIIIHH")        # local file header (30 bytes)
CDH = struct.Struct("<IHHHHHHIIIHHHHHII")  # central directory header (46 bytes)
EOCD = struct.Struct("<IHHHHIIH")          # end of central directory (22 bytes)
LFH_SIG, CDH_SIG, EOCD_SIG = 0x04034B50, 0x02014B50, 0x06054B50
VERSION = 20
DOS_TIME, DOS_DATE = 0, (0 << 9) | (1 << 5) | 1     # 1980-01-01 00:00:00
EXTERNAL_ATTR = 0o100644 << 16
STORED, DEFLATED = 0, 8


class ZipFormatError(ValueError):
    """The bytes are not a canonical package container; ``reason`` says which check failed."""

    def __init__(self, reason: str, detail: str, name: str | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.name = name


@dataclass(frozen=True)
class Entry:
    name: str
    method: int
    crc: int
    compressed_size: int
    size: int
    data_offset: int


def write_zip(members: Iterable[tuple[str, bytes]], *, deflate: bool = False) -> bytes:
    """The canonical container for ``(name, content)`` pairs (names are ASCII)."""
    out = bytearray()
    central = bytearray()
    count = 0
    for name, content in members:
        raw = name.encode("ascii")
        crc = zlib.crc32(content) & 0xFFFFFFFF
        method = STORED
        body = content
        if deflate:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            packed = c.compress(content) + c.flush()
            if len(packed) < len(content):
                method, body = DEFLATED, packed
        offset = len(out)
        out += LFH.pack(LFH_SIG, VERSION, 0, method, DOS_TIME, DOS_DATE, crc, len(body), len(content), len(raw), 0)
        out += raw
        out += body
        central += CDH.pack(CDH_SIG, VERSION, VERSION, 0, method, DOS_TIME, DOS_DATE, crc, len(body), len(content),
                            len(raw), 0, 0, 0, 0, EXTERNAL_ATTR, offset)
        central += raw
        count += 1
    cd_offset = len(out)
    out += central
    out += EOCD.pack(EOCD_SIG, 0, 0, count, count, len(central), cd_offset, 0)
    return bytes(out)


def read_directory(data: bytes, *, max_entries: int, max_entry_bytes: int, max_ratio: int,
                   check_name) -> list[Entry]:
    """Parse and check the whole container; return its entries in order.

    ``check_name(name)`` raises for a forbidden name (it runs before anything else about that entry, so a
    zip-slip path is reported as such). Any other deviation raises :class:`ZipFormatError`.
    """
    n = len(data)
    if n < EOCD.size:
        raise ZipFormatError("truncated", "too short to be a package")
    sig, disk, cd_disk, count_disk, count, cd_size, cd_offset, comment_len = EOCD.unpack_from(data, n - EOCD.size)
    if sig != EOCD_SIG:
        # a general ZIP (comment, zip64, trailing bytes) or a cut-off file
        if data.rfind(struct.pack("<I", EOCD_SIG)) < 0:
            raise ZipFormatError("truncated", "no end-of-archive record: the file is cut off or not a package")
        raise ZipFormatError("not_canonical", "bytes after the end-of-archive record")
    if count > max_entries or count_disk > max_entries:
        raise ZipFormatError("too_many_entries", f"{max(count, count_disk)} entries (limit {max_entries})")
    if disk or cd_disk or comment_len or count_disk != count:
        raise ZipFormatError("not_canonical", "end-of-archive record fields are not canonical")
    if cd_offset + cd_size != n - EOCD.size:
        raise ZipFormatError("truncated" if cd_offset + cd_size > n - EOCD.size else "not_canonical",
                             "central directory does not end where the end-of-archive record begins")
    pos = cd_offset
    entries: list[Entry] = []
    headers: list[tuple] = []
    # pass 1: walk the directory and judge every name first (a zip-slip path is reported as such)
    for _ in range(count):
        if pos + CDH.size > n - EOCD.size:
            raise ZipFormatError("truncated", "central directory is cut off")
        h = CDH.unpack_from(data, pos)
        if h[0] != CDH_SIG:
            raise ZipFormatError("not_canonical", "central directory entry signature is wrong")
        name_len, extra_len, comment_len2 = h[10], h[11], h[12]
        raw = data[pos + CDH.size: pos + CDH.size + name_len]
        try:
            name = raw.decode("ascii")
        except UnicodeDecodeError:
            name = raw.decode("utf-8", "replace")
            check_name(name)
            raise ZipFormatError("bad_entry", "entry name is not ASCII", name) from None
        check_name(name)
        headers.append((name, raw, h))
        pos += CDH.size + name_len + extra_len + comment_len2
    # pass 2: sizes and ratios, then every field canonical
    for name, raw, h in headers:
        method, csize, usize = h[4], h[8], h[9]
        if usize > max_entry_bytes:
            raise ZipFormatError("too_large", f"entry {name} exceeds {max_entry_bytes} bytes uncompressed", name)
        if method == DEFLATED and usize > max_ratio * max(csize, 1):
            raise ZipFormatError("zip_bomb", f"entry {name} has an abnormal compression ratio", name)
    for name, raw, h in headers:
        method, csize, usize = h[4], h[8], h[9]
        if (h[1] != VERSION or h[2] != VERSION or h[3] != 0 or method not in (STORED, DEFLATED)
                or h[5] != DOS_TIME or h[6] != DOS_DATE or h[11] or h[12] or h[13] or h[14]
                or h[15] != EXTERNAL_ATTR or (method == STORED and csize != usize)):
            raise ZipFormatError("not_canonical", f"central directory header of {name} is not canonical", name)
    if pos != n - EOCD.size:
        raise ZipFormatError("not_canonical", "central directory size mismatch")
    expect = 0
    for name, raw, h in headers:
        method, crc, csize, usize, offset = h[4], h[7], h[8], h[9], h[16]
        if offset != expect or offset + LFH.size > cd_offset:
            raise ZipFormatError("not_canonical", f"entry {name} is not where the directory says", name)
        l = LFH.unpack_from(data, offset)
        if l != (LFH_SIG, VERSION, 0, method, DOS_TIME, DOS_DATE, crc, csize, usize, len(raw), 0):
            raise ZipFormatError("not_canonical", f"local header of {name} differs from the directory", name)
        start = offset + LFH.size
        if data[start:start + len(raw)] != raw:
            raise ZipFormatError("not_canonical", f"local name of {name} differs from the directory", name)
        data_offset = start + len(raw)
        expect = data_offset + csize
        if expect > cd_offset:
            raise ZipFormatError("truncated", f"entry {name} runs past the end of the data", name)
        entries.append(Entry(name, method, crc, csize, usize, data_offset))
    if expect != cd_offset:
        raise ZipFormatError("not_canonical", "bytes between the last entry and the central directory")
    return entries


def read_entry(data: bytes, e: Entry, *, limit: int) -> bytes:
    """The content of one entry: bounded, exactly its size, CRC checked, nothing left over."""
    if e.size > limit:
        raise ZipFormatError("too_large", f"entry {e.name} is too large", e.name)
    body = data[e.data_offset:e.data_offset + e.compressed_size]
    if e.method == STORED:
        out = body
    else:
        d = zlib.decompressobj(-15)
        try:
            out = d.decompress(body, e.size + 1)
        except zlib.error:
            raise ZipFormatError("corrupt", f"entry {e.name} does not decompress", e.name) from None
        if not d.eof or d.unused_data or d.unconsumed_tail:
            raise ZipFormatError("corrupt", f"entry {e.name}: compressed stream does not end with the entry", e.name)
    if len(out) != e.size or (zlib.crc32(out) & 0xFFFFFFFF) != e.crc:
        raise ZipFormatError("corrupt", f"entry {e.name}: size or CRC does not match", e.name)
    return bytes(out)
