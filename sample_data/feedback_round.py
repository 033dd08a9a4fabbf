"""One simulated feedback round: townships apply the county's feedback, fix what it flags, re-export.

This is the second half of the census loop that ``simulate_fieldwork`` starts. For every township
store in ``FIELDWORK/townships/`` (both devices where there are two) it:

1. applies the county's signed feedback file through the same library call as
   ``census township feedback`` (the county's acknowledgement and its messages land in the store);
2. fixes every record the county flagged ``has_issues``: the enumerator "goes back to the field" and
   finds the true answers, which the simulation kept in ``{township}.answers.json`` when it spoiled
   them. Each fix is a new revision whose parent is the flagged one, saved as final only if the
   township's own validator now passes it — a fix that does not pass stays a draft and is counted;
3. exports the township's next incremental return package (only the new revisions) into ``OUT``.

Conflicts are not the township's to settle: they stay listed for the county reviewer
(``census county resolve``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

Progress = Callable[[str, int, int], None]


class FeedbackRoundError(ValueError):
    def __init__(self, message_zh: str, message_en: str):
        super().__init__(f"{message_zh} / {message_en}")
        self.message_zh, self.message_en = message_zh, message_en


@dataclass
class FeedbackRoundResult:
    townships: int = 0
    flagged: int = 0                  # has_issues items about this store's current revisions
    fixed: int = 0                    # fixed and final (valid by the township validator)
    not_fixed: list[str] = field(default_factory=list)   # record UUIDs still invalid after the fix
    conflicts_listed: int = 0         # conflict items left for the county reviewer
    packages: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"townships": self.townships, "flagged": self.flagged, "fixed": self.fixed,
                "not_fixed": self.not_fixed, "conflicts_listed": self.conflicts_listed,
                "packages": [str(p) for p in self.packages]}


def _feedback_for(feedback_dir: Path, township: str) -> Path | None:
    """The most recently issued feedback file for the township (by its ``issued_at``, then its name)."""
    def issued(p: Path) -> tuple[str, str]:
        try:
            return str(json.loads(p.read_text(encoding="utf-8")).get("issued_at", "")), p.name
        except (OSError, ValueError):
            return "", p.name   # unreadable: last choice; apply_feedback then says what is wrong with it
    files = sorted(feedback_dir.glob(f"feedback_*_{township}_*.json"), key=issued)
    return files[-1] if files else None


def _apply_answers(data: dict, truth: dict | None) -> dict:
    """The record as re-entered on the return visit: the true answers where known, else as stored."""
    return dict(truth) if truth else dict(data)


def simulate_feedback_round(fieldwork_dir: str | Path, feedback_dir: str | Path, out_dir: str | Path, *,
                            progress: Progress | None = None) -> FeedbackRoundResult:
    """Apply feedback, fix flagged records and export the next packages of every township store."""
    from geodb.township import NothingToExport, TownshipStore
    from sync.package import build_package

    stores_dir = Path(fieldwork_dir) / "townships"
    fb_dir = Path(feedback_dir)
    if not stores_dir.is_dir():
        raise FeedbackRoundError(f"{stores_dir}: 找不到乡镇数据库目录（先运行 census sample simulate-fieldwork）",
                                 f"{stores_dir}: no township stores folder (run census sample simulate-fieldwork first)")
    if not fb_dir.is_dir():
        raise FeedbackRoundError(f"{fb_dir}: 找不到反馈文件目录", f"{fb_dir}: feedback folder not found")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stores = sorted(stores_dir.glob("*.db"))
    result = FeedbackRoundResult()
    seen: set[str] = set()
    for i, db_path in enumerate(stores):
        store = TownshipStore.open(db_path)
        try:
            township = store.township
            feedback = _feedback_for(fb_dir, township)
            if feedback is None:
                continue
            seen.add(township)
            report = store.apply_feedback(feedback)
            answers_path = stores_dir / f"{township}.answers.json"
            answers = json.loads(answers_path.read_text(encoding="utf-8")) if answers_path.is_file() else {}
            for item in report.items:
                if item.state == "conflict":
                    result.conflicts_listed += 1
                    continue
                if item.state != "has_issues" or not item.known or not item.current:
                    continue
                result.flagged += 1
                current = store.get(item.record_uuid)
                data = _apply_answers(current["data"], answers.get(item.record_uuid))
                saved = store.save(current["form_id"], data, record_uuid=item.record_uuid, final=True)
                if saved.errors or saved.demoted:
                    result.not_fixed.append(item.record_uuid)
                else:
                    result.fixed += 1
            try:
                res = store.export(out, build_package=build_package)
                result.packages.append(res.path)
            except NothingToExport:
                pass
        finally:
            store.close()
        if progress:
            progress("townships", i + 1, len(stores))
    result.townships = len(seen)
    return result


__all__ = ["simulate_feedback_round", "FeedbackRoundResult", "FeedbackRoundError"]
