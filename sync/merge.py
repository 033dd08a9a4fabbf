"""Merge rules: how incoming revisions change what the county holds for one record.

A record is a tree of revisions linked by ``parent_revision_id``; the county keeps every revision it
receives. Its **tips** are the revisions no other known revision points at (minus tips a reviewer set
aside when resolving a conflict). Then, per record:

- new record → insert it; its only tip is current;
- a revision whose parent is the current one (or a descendant chain of it) → advance current to the tip;
- a revision already known (same ``revision_id``) → nothing;
- two or more tips → a **conflict** that keeps every version; current stays where it was (or follows
  its own branch), nothing is overwritten, a reviewer decides.

Merging is by revision ids, never by package sequence or clock: applying the same revisions in any
order gives the same tips. An older revision arriving after its descendants only fills in history.
Everything here is pure (no I/O); :mod:`sync.county_import` loads the state and stores the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping


@dataclass(frozen=True)
class Node:
    revision_id: str
    parent_revision_id: str | None
    created_at: str = ""


@dataclass
class RecordState:
    """What the county already holds for one record."""

    record_uuid: str
    form_id: str
    township: str
    current_revision_id: str
    nodes: dict[str, Node]                 # every stored revision of the record
    set_aside: frozenset[str] = frozenset()  # tips a reviewer resolved against
    open_conflict: tuple[str, ...] | None = None  # the tips of the open conflict, if any


@dataclass
class MergeOutcome:
    record_uuid: str
    kind: str                     # new | advanced | history | known | conflict
    current_revision_id: str
    previous_revision_id: str | None
    stored: list[str] = field(default_factory=list)     # revision ids to store (new to the county)
    known: list[str] = field(default_factory=list)      # revision ids already held
    tips: tuple[str, ...] = ()
    conflict_opened: bool = False
    conflict_changed: bool = False
    conflict_closed: bool = False   # a gap in the chain was filled and the record has one tip again

    @property
    def current_changed(self) -> bool:
        return self.current_revision_id != self.previous_revision_id

    @property
    def in_conflict(self) -> bool:
        return len(self.tips) > 1


def tips_of(nodes: Mapping[str, Node], set_aside: Iterable[str] = ()) -> list[str]:
    """Revisions no other known revision points at, oldest first (then by id, for a stable order)."""
    parents = {n.parent_revision_id for n in nodes.values() if n.parent_revision_id}
    aside = set(set_aside)
    tips = [rid for rid in nodes if rid not in parents and rid not in aside]
    if not tips:  # a cycle of forged parent links: every revision is somebody's parent; keep them all
        tips = [rid for rid in nodes if rid not in aside] or list(nodes)
    return sorted(tips, key=lambda r: (nodes[r].created_at, r))


def descends_from(nodes: Mapping[str, Node], tip: str, ancestor: str) -> bool:
    seen: set[str] = set()
    cur: str | None = tip
    while cur is not None and cur not in seen:
        if cur == ancestor:
            return True
        seen.add(cur)
        node = nodes.get(cur)
        cur = node.parent_revision_id if node else None
    return False


def merge_record(state: RecordState | None, incoming: Iterable[Node], record_uuid: str) -> MergeOutcome:
    """Apply ``incoming`` revisions of one record to ``state`` (None: the county has never seen it)."""
    nodes: dict[str, Node] = dict(state.nodes) if state else {}
    stored: list[str] = []
    known: list[str] = []
    for n in incoming:
        if n.revision_id in nodes:
            known.append(n.revision_id)
            continue
        nodes[n.revision_id] = n
        stored.append(n.revision_id)
    previous = state.current_revision_id if state else None
    if not stored:
        tips = tuple(tips_of(nodes, state.set_aside)) if state else ()
        return MergeOutcome(record_uuid, "known", previous or "", previous, [], known, tips)

    tips = tips_of(nodes, state.set_aside if state else ())
    if len(tips) == 1:
        current = tips[0]
        if state is None:
            kind = "new"
        elif current != previous:
            kind = "advanced"
        else:
            kind = "history"   # older revisions filled in below the current one
        closed = bool(state and state.open_conflict)
        return MergeOutcome(record_uuid, kind, current, previous, stored, known, tuple(tips), conflict_closed=closed)

    # several tips: keep every version, decide nothing
    # current follows its own branch when exactly one tip descends from it; otherwise it stays on the
    # last version everyone agreed on (a brand-new record in conflict shows its oldest tip)
    mine = [t for t in tips if previous and descends_from(nodes, t, previous)]
    if previous in tips:
        current = previous
    elif len(mine) == 1:
        current = mine[0]
    elif previous:
        current = previous
    else:
        current = tips[0]
    opened = not (state and state.open_conflict)
    changed = bool(state and state.open_conflict and tuple(sorted(state.open_conflict)) != tuple(sorted(tips)))
    return MergeOutcome(record_uuid, "conflict", current, previous, stored, known, tuple(tips),
                        conflict_opened=opened, conflict_changed=changed)
