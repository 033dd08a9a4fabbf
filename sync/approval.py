"""Approval in bulk (批量审核通过): every valid, conflict-free record of a county, township or form at once.

:func:`sync.county.review_record` settles one record per transaction — right for a reviewer's single
decision, far too slow for the 30,000 houses of a county. :func:`approve_records` approves everything
in scope that may be approved, in **one** transaction with **one** audit row for the whole batch; the
audit row carries the count and a SHA-256 over the (record, version) pairs approved, so the batch can
be re-checked later. What may not be approved is left as it is and counted: records with issues (fix
them first), records in conflict (resolve first), records a reviewer rejected, records already approved.

A later version of an approved record arrives as ``received`` again (see :mod:`sync.county_import`):
an approval covers the versions known when it was given.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

from geodb.target import open_county
from geodb.county import actor_name
from geodb.county_upward import approvable_records, approve_all, review_counts

from .county import CountyError
from .formats import utc_now


@dataclass
class ApprovalResult:
    scope_township: str | None
    scope_form: str | None
    records: int            # records in scope
    approved: int           # approved by this batch
    already_approved: int
    with_issues: int        # not approvable: the current version has issues
    conflicts: int          # not approvable: an open conflict
    rejected: int           # not approvable: rejected by a reviewer
    digest: str             # sha256 over "uuid:revision\n" of the approved records, in UUID order
    audit_seq: int | None

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        scope = " ".join(x for x in (self.scope_township, self.scope_form) if x) or "全县 / whole county"
        return (f"审核通过 {self.approved} 条（范围 {scope}：共 {self.records} 条，此前已通过 {self.already_approved}，"
                f"有问题 {self.with_issues}，有冲突 {self.conflicts}，已退回 {self.rejected}）/ approved {self.approved} "
                f"records (in scope {self.records}; already approved {self.already_approved}, with issues "
                f"{self.with_issues}, in conflict {self.conflicts}, rejected {self.rejected})")


def approve_records(gpkg_path: str | Path, *, township: str | None = None, form: str | None = None,
                    note: str | None = None, actor: str | None = None) -> ApprovalResult:
    """Approve every approvable record of the county (or of one ``township`` and/or ``form``) at once."""
    with open_county(gpkg_path) as db:
        if township is not None and township not in db.townships():
            raise CountyError(f"乡镇代码 {township} 不在本县区划中", f"township {township} is not in this county")
        if form is not None and form not in db.layer_specs():
            raise CountyError(f"本县没有表单“{form}”", f"this county has no form '{form}'")
        actor = actor or actor_name()
        at = utc_now()
        with db.transaction():
            counts = review_counts(db, township=township, form_id=form)
            rows = approvable_records(db, township=township, form_id=form)
            digest = hashlib.sha256()
            fids: dict[str, list[int]] = {}
            for uuid_, rev, form_id, fid in rows:
                digest.update(f"{uuid_}:{rev}\n".encode("ascii"))
                if fid is not None:
                    fids.setdefault(form_id, []).append(int(fid))
            n = approve_all(db, township=township, form_id=form, actor=actor, note=note, at=at, fids_by_form=fids)
            if n != len(rows):   # the write lock is held, so nothing can change between read and write
                raise CountyError("批量审核时记录数不一致，未做任何改动", "record count changed during approval; nothing was changed")
            seq = None
            if n:
                seq, _ = db.append_audit("approve_batch", township or form or db.county, {
                    "township": township, "form": form, "approved": n, "note": note,
                    "records_sha256": digest.hexdigest()}, actor=actor, at=at)
        return ApprovalResult(township, form, counts["records"], n, counts["already_approved"], counts["with_issues"],
                              counts["conflicts"], counts["rejected"], digest.hexdigest(), seq)


__all__ = ["ApprovalResult", "approve_records"]
