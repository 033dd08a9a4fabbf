"""Microseconds per evaluation of typical form expressions (compiled once, evaluated many times).

Baseline: a hand-written Python lambda doing the same comparison, so the ratio is the cost of
XPath semantics (type checks, NaN rules) over plain Python.

    .venv/bin/python benchmarks/bench_expressions.py
"""

import timeit

from schemas.expressions import compile_expression

CASES = [
    (". >= 1900 and . <= 2020", {}, 1985, lambda v, c: 1900 <= c <= 2020),
    ("${floors} > 3", {"floors": 5}, None, lambda v, c: v["floors"] > 3),
    ("not(selected(., 'none') and count-selected(.) > 1)", {}, ["ring_beam", "tie_column"],
     lambda v, c: not ("none" in c and len(c) > 1)),
    ("if(${y} <= 1980, '1', if(${y} <= 1990, '2', '3'))", {"y": 1985}, None,
     lambda v, c: "1" if v["y"] <= 1980 else ("2" if v["y"] <= 1990 else "3")),
]

for text, values, current, plain in CASES:
    e = compile_expression(text)
    n = 100_000
    t = min(timeit.repeat(lambda: e.evaluate(values, current), number=n, repeat=5)) / n
    b = min(timeit.repeat(lambda: plain(values, current), number=n, repeat=5)) / n
    print(f"{t * 1e6:6.2f} µs  ({t / b:4.1f}× a plain lambda)  {text}")
