"""`census city import`: the counties' upward packages into the city geodatabase, each atomically.

The same guarantees as township → county (:mod:`sync.county_import`), one level up. Per package:

1. **open** (:func:`sync.upward.open_upward_package`): size and canonical container, the city it is
   addressed to, jurisdiction (a county of this city), enrolment (the county's registered key), the
   signature, every file's hash, decryption of confidential forms, every line (ids, ancestor chain,
   township within the county and in the city's divisions, content hash);
2. **apply** in one transaction: a package whose bytes were accepted before is a *duplicate* (a ledger
   row, nothing else); otherwise each record's revisions are merged by id (:func:`merge_city_record`),
   new revisions stored verbatim, records advanced, diverging versions kept as a conflict, the feature
   layers refreshed, the ledger row (with the county's ledger summary) and the hash-chained audit row
   written — all or nothing.

A rejected package is copied to ``quarantine/`` beside the GeoPackage with a ``.reason.txt`` and a
ledger row; an accepted one is archived in ``received/``; after each run the city writes a signed
receipt per county into ``receipts/`` (what it holds), which the county gives to its next export.

Merging uses each revision's **ancestor chain** (the county sends only approved current revisions, so
the intermediate versions are known to the city by id only): a revision is superseded when it is an
ancestor of another; the versions no other version descends from are the tips; two tips = a conflict.
The result does not depend on the order packages arrive in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from geodb import gpkg as gp
from geodb.target import anchor_path, open_city
from geodb.city import CITY_RECORD_STATE, CityDB
from geodb.county import Flattener, LayerSpec, geojson_to_shapes

from . import keys as K
from .county_import import ImportOutcome, covered_through
from .formats import utc_now
from .merge import MergeOutcome
from .package import PackageRejected, write_atomic
from .upward import make_receipt, open_upward_package, write_json

QUARANTINE_DIR = "quarantine"
ARCHIVE_DIR = "received"
RECEIPT_DIR = "receipts"


# ---------------------------------------------------------------------------------------------------
# Merge (pure)

@dataclass(frozen=True)
class CityNode:
    revision_id: str
    ancestors: tuple[str, ...]     # oldest first, ending at the parent
    created_at: str = ""


@dataclass
class CityState:
    record_uuid: str
    current_revision_id: str
    nodes: dict[str, CityNode]
    set_aside: frozenset[str] = frozenset()
    open_conflict: tuple[str, ...] | None = None


def city_tips(nodes: Mapping[str, CityNode], set_aside: frozenset[str] = frozenset()) -> list[str]:
    """Stored revisions that are no other stored revision's ancestor (minus set-aside), oldest first."""
    superseded = {a for n in nodes.values() for a in n.ancestors}
    tips = [r for r in nodes if r not in superseded and r not in set_aside]
    if not tips:   # forged cyclic chains: keep everything rather than pick
        tips = [r for r in nodes if r not in set_aside] or list(nodes)
    return sorted(tips, key=lambda r: (nodes[r].created_at, r))


def merge_city_record(state: CityState | None, incoming: Sequence[CityNode], record_uuid: str) -> MergeOutcome:
    """Apply incoming approved revisions of one record (the rules of :mod:`sync.merge`, by ancestry)."""
    nodes = dict(state.nodes) if state else {}
    stored, known = [], []
    for n in incoming:
        if n.revision_id in nodes:
            known.append(n.revision_id)
            continue
        nodes[n.revision_id] = n
        stored.append(n.revision_id)
    previous = state.current_revision_id if state else None
    aside = state.set_aside if state else frozenset()
    if not stored:
        return MergeOutcome(record_uuid, "known", previous or "", previous, [], known,
                            tuple(city_tips(nodes, aside)) if state else ())
    tips = city_tips(nodes, aside)
    if len(tips) == 1:
        cur = tips[0]
        kind = "new" if state is None else ("advanced" if cur != previous else "history")
        return MergeOutcome(record_uuid, kind, cur, previous, stored, known, tuple(tips),
                            conflict_closed=bool(state and state.open_conflict))
    mine = [t for t in tips if previous and previous in nodes[t].ancestors]
    if previous in tips:
        cur = previous
    elif len(mine) == 1:
        cur = mine[0]
    else:
        cur = previous or tips[0]
    opened = not (state and state.open_conflict)
    changed = bool(state and state.open_conflict and sorted(state.open_conflict) != sorted(tips))
    return MergeOutcome(record_uuid, "conflict", cur, previous, stored, known, tuple(tips),
                        conflict_opened=opened, conflict_changed=changed)


# ---------------------------------------------------------------------------------------------------
# Results

@dataclass
class CityPackageResult(ImportOutcome):
    county: str | None = None

    def line(self) -> str:
        settled = self.settled_line()
        if settled:
            return settled
        note = (" — " + "; ".join(self.notes)) if self.notes else ""
        return (f"接收/accepted {self.name}: 县 {self.county} 第 {self.sequence} 号，记录 {self.revisions} 条（新 "
                f"{self.new_records}，更新 {self.advanced}，已有 {self.known}，冲突 {self.conflicts}）/ county "
                f"{self.county} #{self.sequence}: {self.revisions} records (new {self.new_records}, advanced "
                f"{self.advanced}, known {self.known}, conflicts {self.conflicts}){note}")

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["name"] = self.name
        return d


class _Reject(Exception):
    def __init__(self, reason: str, zh: str, en: str):
        super().__init__(en)
        self.reason, self.zh, self.en = reason, zh, en


# ---------------------------------------------------------------------------------------------------
# Files beside the GeoPackage

def _quarantine(gpkg_path: Path, src: Path, data: bytes | None, sha: str, reason: tuple[str, str, str], at: str) -> None:
    qdir = gpkg_path.parent / QUARANTINE_DIR
    qdir.mkdir(parents=True, exist_ok=True)
    stem = f"{sha[:12]}_{src.name}" if sha else src.name
    if data is not None:
        write_atomic(qdir / stem, data)
    text = (f"file: {src}\nsha256: {sha}\nrejected_at: {at}\nreason: {reason[0]}\n原因: {reason[1]}\nwhy: {reason[2]}\n")
    write_atomic(qdir / (stem + ".reason.txt"), text.encode("utf-8"))


def _archive(gpkg_path: Path, src: Path, data: bytes, sha: str) -> str:
    adir = gpkg_path.parent / ARCHIVE_DIR
    adir.mkdir(parents=True, exist_ok=True)
    name = f"{sha[:16]}_{src.name}"
    target = adir / name
    if not (target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha):
        write_atomic(target, data)
    return f"{ARCHIVE_DIR}/{name}"


# ---------------------------------------------------------------------------------------------------
# Applying one opened package

class CityImporter:
    def __init__(self, db: CityDB, specs: Mapping[str, LayerSpec]):
        self.db = db
        self.specs = dict(specs)

    def ledger_only(self, name: str, sha: str, size: int | None, outcome: str, at: str, *, county=None, sequence=None,
                    ack=None, created_at=None, reason: tuple[str, str, str] | None = None, note: str | None = None) -> int:
        db = self.db
        lid = db.add_ledger({"file_name": name, "file_sha256": sha or "-", "file_bytes": size, "county": county,
                             "sequence": sequence, "acknowledged_through": ack, "created_at": created_at,
                             "received_at": at, "outcome": outcome, "reason_code": reason[0] if reason else None,
                             "reason": f"{reason[1]} / {reason[2]}" if reason else note})
        seq, h = db.append_audit(outcome, name, {"ledger_id": lid, "sha256": sha or "-", "outcome": outcome,
                                                 "reason_code": reason[0] if reason else None, "county": county,
                                                 "sequence": sequence}, at=at)
        db.update_ledger(lid, {"audit_seq": seq, "audit_hash": h})
        return lid

    def apply(self, opened, res: CityPackageResult, at: str, archive: str) -> None:
        """Inside the caller's transaction; raises :class:`_Reject` to refuse the package."""
        db = self.db
        m = opened.manifest
        county, seq = m["county"], m["sequence"]
        earlier = db.county_packages(county)
        summary_text = json.dumps(opened.summary, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        lid = db.add_ledger({"file_name": opened.path.name, "file_sha256": opened.sha256, "file_bytes": opened.size,
                             "county": county, "sequence": seq, "acknowledged_through": m["acknowledged_through"],
                             "created_at": m["created_at"], "received_at": at, "outcome": "accepted",
                             "revisions": len(opened.lines), "summary": summary_text,
                             "divisions": json.dumps(opened.divisions, ensure_ascii=False, sort_keys=True),
                             "archive": archive})
        res.ledger_id = lid
        if earlier:
            top = max(s for s, _ in earlier)
            if seq < top:
                res.out_of_order = True
                res.notes.append(f"较新的第 {top} 号包已先到 / older than package {top}, already received")
            if any(s == seq for s, _ in earlier):
                res.notes.append(f"序号 {seq} 曾以不同内容收到 / sequence {seq} seen before with other content")

        lines = opened.lines
        known = db.known_revisions([ln["revision_id"] for ln in lines])
        for ln in lines:
            owner = known.get(ln["revision_id"])
            if owner is not None and owner != ln["record_uuid"]:
                raise _Reject("record_identity", f"{opened.path.name}：版本 {ln['revision_id']} 已属于另一条记录 {owner}",
                              f"{opened.path.name}: revision {ln['revision_id']} already belongs to record {owner}")
        by_record: dict[str, list[int]] = {}
        for i, ln in enumerate(lines):
            by_record.setdefault(ln["record_uuid"], []).append(i)
        existing = db.records_by_uuid(list(by_record))
        for u, rec in existing.items():
            ln = lines[by_record[u][0]]
            if (rec["form_id"], rec["county"], rec["township"]) != (ln["form_id"], county, ln["township"]):
                raise _Reject("record_identity",
                              f"{opened.path.name}：记录 {u} 在市级库中属于县 {rec['county']} {rec['township']} 的表单 "
                              f"{rec['form_id']}，包中却不同",
                              f"{opened.path.name}: record {u} is form {rec['form_id']} of {rec['township']} "
                              f"(county {rec['county']}) at the city, but differs in the package")
        need = [u for u in existing if any(lines[i]["revision_id"] not in known for i in by_record[u])]
        nodes = db.city_nodes([existing[u]["id"] for u in need]) if need else {}
        conflicts = db.open_conflicts(need) if need else {}

        stored: list[tuple[str, int]] = []
        new_records: dict[str, list] = {}       # form → [(record row, line index)]
        replace: dict[str, list] = {}           # form → [(line index, fid, state)]
        feat_state: dict[str, list] = {}
        record_updates: list[dict] = []
        conflict_ops: list[tuple[str, dict]] = []
        counts = {"stored": 0, "known": 0, "new_records": 0, "advanced": 0, "conflicts": 0}
        for u, idx in by_record.items():
            first = lines[idx[0]]
            form_id, township = first["form_id"], first["township"]
            rec = existing.get(u)
            if rec is not None and all(lines[i]["revision_id"] in known for i in idx):
                counts["known"] += len(idx)
                continue
            incoming = [CityNode(lines[i]["revision_id"], tuple(lines[i]["ancestors"]), lines[i]["created_at"]) for i in idx]
            state = None
            if rec is not None:
                mine = nodes.get(rec["id"], [])
                oc = conflicts.get(u)
                state = CityState(u, rec["current_revision_id"],
                                  {r: CityNode(r, tuple(a), at_) for r, a, at_, _ in mine},
                                  frozenset(r for r, _, _, aside in mine if aside),
                                  tuple(json.loads(oc["revision_ids"])) if oc else None)
            out = merge_city_record(state, incoming, u)
            counts["known"] += len(out.known)
            if not out.stored:
                continue
            row_of = {lines[i]["revision_id"]: i for i in idx}
            stored.extend((u, row_of[r]) for r in out.stored)
            cur = out.current_revision_id
            conflict = 1 if out.in_conflict else 0
            if rec is None:
                new_records.setdefault(form_id, []).append(
                    ([u, form_id, county, township, None, cur, CITY_RECORD_STATE, conflict, 1, lid, lid, at], row_of[cur]))
                counts["new_records"] += 1
            elif out.current_changed:
                record_updates.append({"record_uuid": u, "current_revision_id": cur, "has_conflict": conflict,
                                       "last_package_id": lid, "updated_at": at})
                replace.setdefault(form_id, []).append((row_of[cur], rec["feature_fid"], conflict))
                counts["advanced"] += 1
            else:
                record_updates.append({"record_uuid": u, "current_revision_id": cur, "has_conflict": conflict,
                                       "last_package_id": lid, "updated_at": at})
                if conflict != rec["has_conflict"]:
                    feat_state.setdefault(form_id, []).append((CITY_RECORD_STATE, conflict, rec["feature_fid"]))
            if out.in_conflict:
                counts["conflicts"] += 1
                if out.conflict_opened:
                    conflict_ops.append(("open", {"record_uuid": u, "form_id": form_id, "county": county,
                                                  "township": township, "revision_ids": json.dumps(list(out.tips)),
                                                  "status": "open", "opened_at": at, "opened_package_id": lid,
                                                  "updated_at": at}))
                elif out.conflict_changed:
                    conflict_ops.append(("update", {"id": conflicts[u]["id"], "revision_ids": json.dumps(list(out.tips)),
                                                    "updated_at": at}))
            elif out.conflict_closed and u in conflicts:
                conflict_ops.append(("update", {"id": conflicts[u]["id"], "status": "resolved", "resolved_at": at,
                                                "resolution": "chain_completed", "resolved_by": "import",
                                                "updated_at": at}))

        # features first (their fids go into the records), then records, then revisions
        record_id = {u: rec["id"] for u, rec in existing.items()}
        bounds: dict[str, list] = {}
        for form_id, items in new_records.items():
            items.sort(key=lambda t: t[0][0])
            spec = self.specs[form_id]
            rows = self._feature_rows(spec, [lines[i] for _, i in items], [r[7] for r, _ in items], bounds)
            fids = db.insert_features(spec, rows)
            ids = db.insert_records([[*r, f] for (r, _), f in zip(items, fids)])
            record_id.update((r[0], i) for (r, _), i in zip(items, ids))
        stored.sort(key=lambda t: lines[t[1]]["revision_id"])
        digest = hashlib.sha256()
        rev_rows = []
        for u, i in stored:
            ln = lines[i]
            rev_rows.append((record_id[u], ln["revision_id"], u, ln["parent_revision_id"], json.dumps(ln["ancestors"]),
                             json.dumps(ln["set_aside"]), ln["form_id"], ln["form_version"], county, ln["township"],
                             ln["created_at"], ln["approved_at"], ln["approved_by"], lid, ln["content"],
                             ln["content_sha256"]))
            digest.update(ln["content_sha256"].encode("ascii"))
        db.insert_revisions(rev_rows)
        db.update_records(record_updates)
        for op, row in conflict_ops:
            if op == "open":
                db.insert_conflict(row)
            else:
                db.update_conflict(row.pop("id"), row)
        for form_id, items in replace.items():
            spec = self.specs[form_id]
            rows = self._feature_rows(spec, [lines[i] for i, _, _ in items], [c for _, _, c in items], bounds)
            db.replace_features(spec, rows, [f for _, f, _ in items])
        for form_id, rows in feat_state.items():
            db.set_feature_state(self.specs[form_id], rows)
        touched = set(new_records) | set(replace) | set(feat_state)
        db.grow_extents({f: tuple(b) for f, b in bounds.items()}, [self.specs[f] for f in touched])

        counts["stored"] = len(stored)
        res.outcome = "accepted"
        res.stored, res.known, res.new_records = counts["stored"], counts["known"], counts["new_records"]
        res.advanced, res.conflicts = counts["advanced"], counts["conflicts"]
        revisions_sha = digest.hexdigest()
        aseq, h = db.append_audit("import", opened.path.name, {
            "ledger_id": lid, "sha256": opened.sha256, "outcome": "accepted", "county": county, "sequence": seq,
            "revisions": len(lines), **counts, "revisions_sha256": revisions_sha,
            "summary_sha256": hashlib.sha256(summary_text.encode("utf-8")).hexdigest(),
            "out_of_order": int(res.out_of_order)}, at=at)
        db.update_ledger(lid, {**counts, "revisions_sha256": revisions_sha, "out_of_order": int(res.out_of_order),
                               "reason": "; ".join(res.notes) or None, "audit_seq": aseq, "audit_hash": h})

    @staticmethod
    def _feature_rows(spec: LayerSpec, lines: list[dict], conflicts: list[int], bounds: dict) -> list[list]:
        """Layer rows in the county layout for the lines' records (geometry blob first when spatial)."""
        flat = Flattener(spec)
        datas = [ln["data"] for ln in lines]
        rows = [flat.row(d) for d in datas]
        if spec.geometry_type:
            import numpy as np
            import shapely

            shapes = geojson_to_shapes([flat.geometry(d) for d in datas])
            blobs = gp.encode(shapes)
            bb = shapely.bounds(shapes)
            ok = np.isfinite(bb).all(axis=1)
            if ok.any():
                b = bb[ok]
                cur = bounds.get(spec.form_id)
                new = [float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())]
                bounds[spec.form_id] = new if cur is None else [min(cur[0], new[0]), min(cur[1], new[1]),
                                                                max(cur[2], new[2]), max(cur[3], new[3])]
            rows = [[blob, *r] for blob, r in zip(blobs, rows)]
        return [[*r, ln["record_uuid"], ln["revision_id"], ln["township"], CITY_RECORD_STATE, c, 1]
                for r, ln, c in zip(rows, lines, conflicts)]


# ---------------------------------------------------------------------------------------------------
# The whole run

def import_upward(gpkg_path: str | Path, packages: Sequence[str | Path], *, keys_path: str | Path | None = None,
                  forms: Mapping | None = None, progress: Callable[[int, int], None] | None = None,
                  receipts: bool = True) -> tuple[list[CityPackageResult], list[Path]]:
    """Import ``packages`` in order; one result per package, and the receipts written (one per county
    that sent an accepted or duplicate package)."""
    from schemas.catalogue import all_forms

    from .city import city_keys

    target, gpkg_path = gpkg_path, anchor_path(gpkg_path)
    forms = dict(forms) if forms is not None else all_forms()
    results: list[CityPackageResult] = []
    touched: set[str] = set()
    with open_city(target) as db:
        keys = city_keys(db, keys_path)
        specs = db.ensure_layers(forms.values())
        importer = CityImporter(db, specs)
        t_by_c = {c: frozenset(ts) for c, ts in db.townships_by_county().items()}
        for k, p in enumerate(packages, start=1):
            res = _import_one(db, importer, Path(p), keys, forms, t_by_c, gpkg_path)
            results.append(res)
            if res.accepted and res.county:
                touched.add(res.county)
            if progress:
                progress(k, len(packages))
        written = [issue_receipt(db, c, keys) for c in sorted(touched)] if receipts else []
    return results, written


def _import_one(db: CityDB, importer: CityImporter, path: Path, keys: K.CountyKeys, forms: Mapping,
                t_by_c: Mapping[str, frozenset], gpkg_path: Path) -> CityPackageResult:
    at = utc_now()
    data = None
    sha = ""
    res = CityPackageResult(str(path), "rejected")
    try:
        if not path.is_file():
            raise PackageRejected("missing", f"找不到文件 {path}", f"file not found: {path}")
        from .upward import MAX_UPWARD_BYTES

        if path.stat().st_size > MAX_UPWARD_BYTES:
            raise PackageRejected("too_large", f"{path.name}：文件过大", f"{path.name}: too large")
        data = path.read_bytes()
        sha = res.sha256 = hashlib.sha256(data).hexdigest()
        dup = db.accepted_package(sha)
        if dup is not None:
            # the very bytes were opened, checked and accepted before: nothing to read again
            with db.transaction():
                lid = importer.ledger_only(path.name, sha, len(data), "duplicate", at, county=dup["county"],
                                           sequence=dup["sequence"], ack=dup["acknowledged_through"],
                                           created_at=dup["created_at"],
                                           note=f"与台账第 {dup['id']} 条相同 / same as ledger {dup['id']}")
            res.outcome, res.ledger_id, res.county, res.sequence = "duplicate", dup["id"], dup["county"], dup["sequence"]
            res.revisions = dup["revisions"]
            res.notes.append(f"ledger {lid}")
            return res
        opened = open_upward_package(path, city=db.city, county_key=db.county_key, city_keys=keys, forms=forms,
                                     townships_of=lambda c: t_by_c.get(c, frozenset()), data=data)
    except PackageRejected as e:
        return _rejected(db, importer, res, path, data, sha, (e.reason, e.message_zh, e.message_en), at, gpkg_path)
    m = opened.manifest
    res.county, res.sequence, res.revisions = m["county"], m["sequence"], len(opened.lines)
    archive = _archive(gpkg_path, path, data, sha)
    try:
        with db.transaction():
            importer.apply(opened, res, at, archive)
        return res
    except _Reject as e:
        (gpkg_path.parent / archive).unlink(missing_ok=True)
        res.outcome, res.stored, res.known, res.new_records, res.advanced, res.conflicts = "rejected", 0, 0, 0, 0, 0
        res.notes.clear()
        return _rejected(db, importer, res, path, data, sha, (e.reason, e.zh, e.en), at, gpkg_path,
                         county=res.county, sequence=res.sequence)
    except BaseException:
        (gpkg_path.parent / archive).unlink(missing_ok=True)
        raise


def _rejected(db, importer, res, path, data, sha, reason, at, gpkg_path, county=None, sequence=None):
    _quarantine(gpkg_path, path, data, sha, reason, at)
    with db.transaction():
        res.ledger_id = importer.ledger_only(path.name, sha, len(data) if data is not None else None, "rejected", at,
                                             county=county, sequence=sequence, reason=reason)
    res.outcome, res.reason_code, res.message_zh, res.message_en = "rejected", reason[0], reason[1], reason[2]
    return res


def issue_receipt(db: CityDB, county: str, keys: K.CountyKeys) -> Path:
    """A signed receipt telling ``county`` what the city holds (``receipts/receipt_{county}_{ack}.json``)."""
    packages = db.county_packages(county)
    ack = covered_through(packages)
    doc = make_receipt(keys, county=county, acknowledged_through=ack, received=[s for s, _ in packages])
    return write_json(db.path.parent / RECEIPT_DIR / f"receipt_{county}_{ack:06d}.json", doc)


__all__ = [
    "CityImporter",
    "CityNode",
    "CityPackageResult",
    "CityState",
    "city_tips",
    "import_upward",
    "issue_receipt",
    "merge_city_record",
]
