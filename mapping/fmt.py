"""Number formatting for maps and the report: thousands separators, 万/亿 units, legend ranges."""

from __future__ import annotations

import math
from collections.abc import Sequence


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def num(v, decimals: int = 0, *, dash: str = "—") -> str:
    """``1234567.8`` → ``1,234,568`` (``decimals`` after the point); missing → an em dash."""
    if not _finite(v):
        return dash
    return f"{float(v):,.{decimals}f}"


def pct(v, decimals: int = 1, *, dash: str = "—") -> str:
    """A percentage given in percent (``87.456`` → ``87.5%``)."""
    return dash if not _finite(v) else f"{float(v):.{decimals}f}%"


def wan(v, decimals: int = 1, *, dash: str = "—") -> str:
    """CNY (or any count) in 万 (10⁴) with separators: ``123456789`` → ``12,345.7``."""
    return dash if not _finite(v) else num(float(v) / 1e4, decimals)


def yi(v, decimals: int = 2, *, dash: str = "—") -> str:
    """In 亿 (10⁸): ``123456789`` → ``1.23``."""
    return dash if not _finite(v) else num(float(v) / 1e8, decimals)


def money_cny(v, *, dash: str = "—") -> str:
    """A money amount in the unit that reads best: 元 below 10⁴, 万元 below 10⁸, else 亿元."""
    if not _finite(v):
        return dash
    x = float(v)
    if abs(x) >= 1e8:
        return f"{yi(x)} 亿元"
    if abs(x) >= 1e4:
        return f"{wan(x)} 万元"
    return f"{num(x)} 元"


def short(v: float) -> str:
    """A compact value for legends: 3 significant figures, separators above 1 000."""
    if not _finite(v):
        return "—"
    x = float(v)
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return num(x, 0)
    digits = max(0, 2 - int(math.floor(math.log10(abs(x)))))
    return f"{x:.{digits}f}".rstrip("0").rstrip(".") if "." in f"{x:.{digits}f}" else f"{x:.{digits}f}"


def range_labels(edges: Sequence[float], unit: str = "", *, right_closed: bool = False) -> list[str]:
    """Labels for classes cut at ascending ``edges`` (k−1 inner edges → k labels, lowest class first):
    ``<a``, ``a–b`` …, ``≥z``; with ``right_closed`` (an edge value belongs to the lower class) ``≤a`` … ``>z``."""
    u = f" {unit}" if unit else ""
    e = [short(x) for x in edges]
    if not e:
        return [f"全部{u}"]
    lo, hi = ("≤", ">") if right_closed else ("<", "≥")
    out = [f"{lo}{e[0]}{u}"]
    out += [f"{a}–{b}{u}" for a, b in zip(e[:-1], e[1:])]
    out.append(f"{hi}{e[-1]}{u}")
    return out
