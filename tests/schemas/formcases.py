"""What the per-form test tables share: example records, mutations, one validator per form."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

from schemas.catalogue import get_form
from schemas.validator import ValidationContext, Validator

EXAMPLES = Path(__file__).resolve().parent / "examples"
DROP = object()  # a mutation value: remove the answer
BAD_PHONE = "0429 512345"
FAR_POINT = {"type": "Point", "coordinates": [40.65, 120.61]}  # lat/lon swapped
BOWTIE = {"type": "Polygon", "coordinates": [[[120.6, 40.6], [120.7, 40.7], [120.7, 40.6], [120.6, 40.7],
                                              [120.6, 40.6]]]}


@functools.lru_cache(maxsize=None)
def validator(form_id: str) -> Validator:
    return Validator(get_form(form_id), ValidationContext(county_code="211481"))


def example(form_id: str) -> dict:
    return json.loads((EXAMPLES / f"{form_id}.json").read_text(encoding="utf-8"))


def mutate(form_id: str, change: dict) -> dict:
    rec = copy.deepcopy(example(form_id))
    for k, v in change.items():
        if v is DROP:
            rec.pop(k, None)
        else:
            rec[k] = v
    return rec


def assert_fails_with(form_id: str, record: dict, code, path: str) -> None:
    """The record is invalid, with ``code`` on ``path`` among its errors, in both languages."""
    res = validator(form_id).validate(record)
    assert not res.ok
    found = [(p.code, p.path) for p in res.errors]
    assert (code, path) in found, [p.line() for p in res.problems]
    mine = next(p for p in res.errors if (p.code, p.path) == (code, path))
    assert mine.message_zh and mine.message_en
