"""Validate 100,000 rural-house records; print records/s against the goal (50,000/s on one core).

Baseline for scale: copying each record dict (the least any validator must do), so the ratio says
how many dict copies one validation costs.

    .venv/bin/python benchmarks/bench_validate.py [N]
"""

from __future__ import annotations

import random
import sys
import time

from schemas.catalogue import get_form
from schemas.validator import ValidationContext, Validator

GOAL = 50_000


def make_records(n: int, seed: int = 1) -> list[dict]:
    rnd = random.Random(seed)
    uses = ["residence"] * 8 + ["commerce", "other"]
    structures = ["masonry", "brick_concrete", "rc_frame", "earth_wood", "mixed"]
    out = []
    for i in range(n):
        x, y = 120.5 + rnd.random() * 0.3, 40.4 + rnd.random() * 0.3
        d = 0.0001
        rec = {
            "building_id": f"B211481100201{i:07d}",
            "village_code": "211481100201",
            "footprint": {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]},
            "use": rnd.choice(uses),
            "structure_type": rnd.choice(structures),
            "floors": rnd.randint(1, 3),
            "floor_area": round(rnd.uniform(40, 300), 1),
            "year_built": rnd.randint(1960, 2020),
            "construction_method": "craftsman",
            "professional_design": rnd.choice(["0", "1"]),
            "seismic_measures": rnd.choice([["ring_beam", "tie_column"], ["none"], ["ring_beam"]]),
            "retrofitted": rnd.choice(["0", "0", "0", "1"]),
            "damage": ["none"],
            "survey_date": "2021-06-01",
        }
        if rec["use"] == "other":
            rec["use_other"] = "仓房"
        if rec["retrofitted"] == "1":
            rec["retrofit_year"] = max(rec["year_built"], 2010)
        if i % 100 == 0:  # 1 % invalid: a year after the reference point
            rec["year_built"] = 2021
        out.append(rec)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    records = make_records(n)
    validator = Validator(get_form("rural_house"), ValidationContext(county_code="211481"))
    validator.validate_many(records[:1000])  # warm caches

    t0 = time.perf_counter()
    copies = [dict(r) for r in records]
    t_copy = time.perf_counter() - t0
    del copies

    t0 = time.perf_counter()
    invalid = 0
    for start in range(0, n, 5000):
        invalid += sum(not r.ok for r in validator.validate_many(records[start:start + 5000]))
    t = time.perf_counter() - t0
    rate = n / t
    print(f"records: {n:,}  invalid: {invalid:,}")
    print(f"validate (rural_house, with footprint geometry): {t:.2f} s = {rate:,.0f} records/s")
    print(f"baseline dict copy: {t_copy:.3f} s; validation costs {t / t_copy:,.0f}× a dict copy")
    print(f"goal {GOAL:,}/s: {'met' if rate >= GOAL else 'NOT met'} ({rate / GOAL:.2f}× goal)")


if __name__ == "__main__":
    main()
