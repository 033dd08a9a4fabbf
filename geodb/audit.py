"""The hash-chained audit log shared by the township store and the county geodatabase.

Every audit row carries ``prev_hash`` (the previous row's ``hash``; :data:`GENESIS` for the first row)
and ``hash = sha256(prev_hash + "\\n" + canonical JSON of the row without prev_hash/hash)``. Editing,
deleting, inserting or reordering a row behind the tool's back breaks the chain from that row on, and
:func:`verify_chain` says where. Keeping the last hash elsewhere (a package ledger, a receipt) also
catches truncation of the tail: pass it as ``expected_head``.

Rows are hashed exactly as they are stored: callers keep ``detail`` as the JSON text they write to the
table (see :func:`detail_text`), not as a dict, so reading a row back and verifying it needs no
re-encoding guesswork. Values must be JSON scalars (str, int, None; no floats: they do not round-trip
identically everywhere).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

GENESIS = "0" * 64
HASH_FIELDS = ("prev_hash", "hash")


def canonical_json(value: Any) -> str:
    """The project's canonical JSON: sorted keys, no spaces, UTF-8 text kept as is, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def detail_text(detail: Mapping[str, Any] | None) -> str:
    """The text to store in an audit row's ``detail`` column (canonical, so it hashes the same everywhere)."""
    return canonical_json(dict(detail or {}))


def chain_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of one audit row given the previous row's hash (``row``'s own hash fields are ignored)."""
    body = {k: v for k, v in row.items() if k not in HASH_FIELDS}
    for k, v in body.items():
        if isinstance(v, float):
            raise TypeError(f"audit field {k!r} is a float; store it as text or an integer")
    data = (prev_hash + "\n" + canonical_json(body)).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    seq: Any          # the row's sequence number (or position when it has none)
    reason: str       # "hash" | "prev_hash" | "sequence" | "head"
    message_zh: str
    message_en: str

    def line(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


@dataclass
class ChainReport:
    rows: int = 0
    head: str = GENESIS
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_bad(self) -> Any:
        return self.breaks[0].seq if self.breaks else None


def verify_chain(rows: Iterable[Mapping[str, Any]], *, seq_field: str = "seq",
                 expected_head: str | None = None, start_hash: str = GENESIS) -> ChainReport:
    """Recompute the chain over ``rows`` (in sequence order) and report every break.

    Checks per row: the sequence number follows the previous one by 1 (when rows have ``seq_field``),
    ``prev_hash`` equals the previous row's stored hash, and the stored ``hash`` equals the recomputed
    one. After a break the check continues from the stored hash, so one edited row is reported once
    (its own hash), not as a cascade.
    """
    report = ChainReport(head=start_hash)
    prev_hash = start_hash
    prev_seq = None
    for i, row in enumerate(rows):
        seq = row.get(seq_field, i + 1)
        report.rows += 1
        if prev_seq is not None and isinstance(seq, int) and isinstance(prev_seq, int) and seq != prev_seq + 1:
            report.breaks.append(ChainBreak(
                seq, "sequence",
                f"审计日志第 {seq} 条前缺少或多出记录（上一条为第 {prev_seq} 条）",
                f"audit row {seq} does not follow row {prev_seq}: rows were deleted or inserted"))
        if row.get("prev_hash") != prev_hash:
            report.breaks.append(ChainBreak(
                seq, "prev_hash",
                f"审计日志第 {seq} 条的前序哈希不符：日志被删改或重排",
                f"audit row {seq}: prev_hash does not match the previous row; the log was edited or reordered"))
        recomputed = chain_hash(str(row.get("prev_hash")), row)
        if row.get("hash") != recomputed:
            report.breaks.append(ChainBreak(
                seq, "hash",
                f"审计日志第 {seq} 条的内容与其哈希不符：该条被篡改",
                f"audit row {seq}: its content does not match its hash; the row was altered"))
        prev_hash = str(row.get("hash"))
        prev_seq = seq
    report.head = prev_hash
    if expected_head is not None and expected_head != prev_hash:
        report.breaks.append(ChainBreak(
            prev_seq, "head",
            "审计日志末尾与已记录的链头不符：日志末尾被删除或替换",
            "the audit log's last hash does not match the recorded head: rows at the end were removed or replaced"))
    return report
