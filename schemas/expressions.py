"""XLSForm / ODK expressions: parse once with lark, compile to closures, evaluate as JavaRosa does.

Expressions appear in form constraints, relevance (skip logic), calculations and required-if.  They
must mean the same here as in ODK Collect, so evaluation follows JavaRosa's XPath 1.0 rules:

* ``=`` / ``!=``: booleans if either side is a boolean, else numbers if either side is a number, else
  dates if either side is a date (a string such as ``'2020-12-31'`` is read as a date), else strings.
* ``< <= > >=``: both sides as numbers; a date (or a date-looking string) is its days since
  1970-01-01; an empty or non-numeric value is NaN, and every comparison with NaN is false.
* Numbers are XPath numbers: empty/non-numeric text → NaN, booleans → 1/0, ``x div 0`` → ±Infinity or
  NaN (never an exception).  Integers stay Python ``int`` through ``+ - *`` while exact.
* ``today()`` (and ``now()``) is the census reference point (``reference_date``, 2020-12-31), never
  the real clock, so results are reproducible; :func:`to_odk` writes that date into the expression
  for ODK.

Values handed to :meth:`Expression.evaluate`: ``None``/``""`` = empty; ``int``/``float``; ``str``;
``datetime.date``; ``list`` for a select_multiple answer or a repeat's nodeset.  A list is a nodeset:
``count``/``sum``/``max``/``min``/``join`` see its items, comparisons are existential (XPath), an
empty list is an empty value and a one-item list is that item (JavaRosa unpacking); in string
context it is its items joined by spaces (how XPath sees a select_multiple answer).

JavaRosa details kept: ``=`` between numbers allows 1e-12 (``0.1 + 0.2 = 0.3``); a ``,`` in numeric
text is a decimal point; ``sum``/``max``/``min`` skip empty values; ``round`` takes halves toward
+Infinity on the decimal text (``round(2.675, 2)`` = 2.68, ``round(-2.5)`` = -2); ``date('')`` is ''
and ``date(NaN)`` NaN; ``coalesce`` treats '' and NaN as missing; ``if`` and ``coalesce`` are lazy.
Only functions ODK Collect knows are accepted (no XPath ``substring``/``floor``/``ceiling``).

Where we knowingly differ from ODK Collect (JavaRosa):

* ``regex(value, pattern)`` succeeds when the pattern is found anywhere (the ODK XForms spec, Enketo);
  Collect matches the whole value (getodk/javarosa#531).  Anchor patterns with ``^…$`` and both agree.
* A date-looking string (``'2020-12-31'``) is a date in ``< <= > >=``; Collect makes it NaN.  Write
  ``date('2020-12-31')`` to be portable (the census forms do).
* A list with several items compares existentially (XPath 1.0).  Collect refuses repeated nodes in
  comparisons, and compares a select_multiple as its space-separated text, so ``${sm} = 'a'`` is
  true here when 'a' is one of several choices and false in Collect: use ``selected()``.
* ``now()`` is the reference date (a date, not a date-time); ``once(x)`` is ``x``; ``count()`` of a
  single value is 1 (0 when empty) where Collect requires a nodeset.

Bare names (``family = 'geological'``) are XPath relative paths: children of the context node.  In a
``choice_filter`` they are columns of the choices sheet; evaluate with ``current`` set to the choice
row as a mapping (``{"name": "landslide", "family": "geological"}``).  They are listed in
``Expression.columns`` so the form compiler can refuse them everywhere else (ODK would not find such a
node).  Other XPath paths (``/data/x``, ``../x``) and the union ``|`` are not supported.

Safety: user text is only ever handed to the lark parser — never to ``eval``/``exec``/``ast``.
Text longer than :data:`MAX_LENGTH`, nesting deeper than :data:`MAX_NESTING`, NUL bytes, unknown
functions and wrong arities are rejected at compile time with a Chinese-first
:class:`ExpressionError`; errors during evaluation (bad date text, bad regex) are ExpressionErrors
too.  Regular expressions longer than :data:`MAX_REGEX` characters, or with nested unbounded
quantifiers such as ``(a+)+`` (catastrophic backtracking), are refused.

Speed: the parse tree becomes nested closures ``f(values, current, reference_date)``; chains of one
operator become one loop; constant sub-expressions are folded; comparisons of ``.``/``${x}`` with a
literal have a type-checked fast path.  ``. >= 1900 and . <= 2020`` evaluates in well under 1 µs.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import numbers
import operator
import re
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any, Callable, Mapping

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .errors import CensusError, Code
from .model import REFERENCE_DATE

try:  # Python ≥ 3.11
    from re import _constants as _sre_c  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

__all__ = ["Expression", "ExpressionError", "compile_expression", "to_odk", "to_boolean", "FUNCTIONS",
           "MAX_LENGTH", "MAX_NESTING", "MAX_REGEX"]

MAX_LENGTH = 4096          # characters of expression text
MAX_NESTING = 64           # parentheses / function calls inside each other
MAX_DEPTH = 160            # operator levels in the compiled tree (≈ nesting × precedence levels)
MAX_REGEX = 256            # characters of a regex() pattern
MAX_RESULT = 1_000_000     # characters a string function may build

Fn = Callable[[Mapping[str, Any], Any, dt.date], Any]


# --------------------------------------------------------------------------------------------------
# errors

class ExpressionError(CensusError):
    """An expression that does not parse, or cannot be evaluated.

    ``position`` is the 0-based character offset of the problem in the expression text (``None``
    when it is not about one place); messages count characters from 1, as people do.
    """

    def __init__(self, message_zh: str, message_en: str, position: int | None = None, *,
                 code: Code = Code.FORM_BAD_EXPRESSION):
        super().__init__(message_zh, message_en, code=code)
        self.position = position


def _snippet(text: str, pos: int) -> str:
    a = max(0, pos - 12)
    s = text[a:pos + 12].replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return ("…" if a > 0 else "") + s + ("…" if pos + 12 < len(text) else "")


def _syntax(text: str, pos: int, zh: str, en: str) -> ExpressionError:
    near = _snippet(text, pos)
    return ExpressionError(f"表达式第{pos + 1}个字符处有语法错误：{zh}（附近：“{near}”）",
                           f"syntax error at character {pos + 1}: {en} (near '{near}')", pos)


def _eval_error(zh: str, en: str) -> ExpressionError:
    return ExpressionError(zh, en, None, code=Code.EXPRESSION_FAILED)


def _show(x: Any) -> str:
    try:
        s = x if isinstance(x, str) else repr(x)
    except Exception:  # pragma: no cover - exotic objects
        s = type(x).__name__
    return s if len(s) <= 40 else s[:40] + "…"


# --------------------------------------------------------------------------------------------------
# conversions (XPath 1.0 / JavaRosa)

NAN = float("nan")
INF = float("inf")
_BIG = 2 ** 53                          # larger ints become floats after arithmetic, as doubles do
_HUGE_INT = 10 ** 4000                  # str() of larger ints is refused by Python
_EPOCH = dt.date(1970, 1, 1).toordinal()
_date = dt.date
_datetime = dt.datetime
_XWS = " \t\r\n"
_NUM_RE = re.compile(r"[ \t\r\n]*(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))[ \t\r\n]*")
_DATE_RE = re.compile(r"[ \t\r\n]*([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
                      r"(?:[T ]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
                      r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?[ \t\r\n]*")
_WS_RE = re.compile(r"[ \t\n\x0b\f\r]+")
_DEC_CTX = Context(prec=1000)


def _unpack(x: Any) -> Any:
    """JavaRosa unpacking: an empty nodeset is empty, a one-node nodeset is its value."""
    while isinstance(x, (list, tuple)) and len(x) <= 1:
        x = x[0] if x else None
    return x


def _parse_date(s: str) -> dt.date | None:
    """'YYYY-MM-DD' (optionally with a time) → date/datetime, or None."""
    m = _DATE_RE.fullmatch(s)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac = m.groups()
    try:
        if hh is None:
            return _date(int(y), int(mo), int(d))
        us = int((frac or "0")[:6].ljust(6, "0"))
        return _datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0), us)
    except ValueError:
        return None


def _days(d: dt.date) -> int | float:
    """Days since 1970-01-01 (fractional for a date-time), as JavaRosa converts dates to numbers."""
    n = d.toordinal() - _EPOCH
    if isinstance(d, _datetime):
        return n + (d.hour * 3600 + d.minute * 60 + d.second + d.microsecond / 1e6) / 86400.0
    return n


def _int2f(n: int) -> float:
    try:
        return float(n)
    except OverflowError:
        return INF if n > 0 else -INF


def _fix(z: Any) -> Any:
    """Keep an int result only while a double would hold it exactly."""
    if type(z) is int and not -_BIG <= z <= _BIG:
        return _int2f(z)
    return z


def _str_num(s: str) -> int | float:
    """Text → number as JavaRosa: optional '-', digits and one '.' (a ',' counts as '.'), trimmed;
    a 'YYYY-MM-DD' date → days since 1970-01-01; anything else (incl. '1e5', 'Infinity') → NaN."""
    if len(s) < 16 and s.isdigit() and s.isascii():
        return int(s)
    if "," in s:
        s = s.replace(",", ".")
    m = _NUM_RE.fullmatch(s)
    if m is not None:
        g = m.group(1)
        if len(g) < 16 and "." not in g:
            return int(g)
        return float(g)
    d = _parse_date(s)
    if d is not None:
        return _days(d)
    return NAN


def _num(x: Any) -> int | float:
    """XPath number(): int/float; empty or non-numeric → NaN; booleans 1/0; dates → days."""
    t = type(x)
    if t is int or t is float:
        return x
    if t is str:
        return _str_num(x)
    if x is None:
        return NAN
    if t is bool:
        return 1 if x else 0
    if t is _date:
        return x.toordinal() - _EPOCH
    if isinstance(x, _date):
        return _days(x)
    if isinstance(x, (list, tuple)):
        x = _unpack(x)
        if isinstance(x, (list, tuple)):
            return _str_num(_str(x))
        return _num(x)
    if isinstance(x, bool):
        return 1 if x else 0
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        return float(x)
    return _str_num(_str(x))


def _nf(x: Any) -> float:
    """number() as a float."""
    if type(x) is float:
        return x
    n = _num(x)
    return _int2f(n) if type(n) is int else n


def _bool(x: Any) -> bool:
    """XPath boolean(): non-empty text, a non-zero number, a non-empty nodeset.  Public as
    :func:`to_boolean`: how a relevance or constraint result counts as true, the same everywhere."""
    if x is True or x is False:
        return x
    t = type(x)
    if t is str:
        return x != ""
    if t is int:
        return x != 0
    if t is float:
        return x > 1e-12 or x < -1e-12  # JavaRosa: |x| > 1e-12 (NaN is false)
    if x is None:
        return False
    if isinstance(x, (list, tuple)):
        return len(x) > 0
    if isinstance(x, str):
        return len(x) > 0
    if isinstance(x, numbers.Number):
        try:
            return bool(x == x and x != 0)
        except Exception:  # an exotic Number type that cannot compare: XPath calls it true
            return True
    return True


def _float_str(x: float) -> str:
    if x != x:
        return "NaN"
    if x == INF:
        return "Infinity"
    if x == -INF:
        return "-Infinity"
    if -1e-12 < x < 1e-12:
        return "0"
    t = math.trunc(x)
    if abs(x - t) < 1e-12:
        return str(t)
    s = repr(x)
    if "e" in s:
        s = format(Decimal(s), "f")
    return s


def _int_str(x: int) -> str:
    if -_HUGE_INT < x < _HUGE_INT:
        return str(x)
    return _float_str(_int2f(x))


def _geo_str(d: Mapping) -> str:
    """A GeoJSON geometry as ODK writes it: 'lat lon alt acc' points, ';'-separated."""
    try:
        t = d.get("type")
        cs = d.get("coordinates")
        if t == "Point":
            cs = [cs]
        elif t == "Polygon":
            cs = cs[0]
        elif t != "LineString":
            return ""
        return ";".join(f"{_str(c[1])} {_str(c[0])} {_str(c[2]) if len(c) > 2 else '0'} 0" for c in cs)
    except Exception:  # malformed coordinates have no ODK geo string: XPath sees an empty value
        return ""


def _str(x: Any) -> str:
    """XPath string(): integral numbers without '.0', dates YYYY-MM-DD, lists space-joined."""
    t = type(x)
    if t is str:
        return x
    if x is None:
        return ""
    if t is int:
        return _int_str(x)
    if t is float:
        return _float_str(x)
    if t is bool:
        return "true" if x else "false"
    if t is _date:
        return x.isoformat()
    if isinstance(x, _datetime):
        return x.replace(tzinfo=None).isoformat(timespec="milliseconds")
    if isinstance(x, _date):
        return x.isoformat()
    if isinstance(x, (list, tuple)):
        n = len(x)
        if n > MAX_RESULT:
            raise _too_long()
        s = " ".join([_str(i) for i in x])
        if len(s) > MAX_RESULT:
            raise _too_long()
        return s
    if isinstance(x, Mapping):
        return _geo_str(x)
    if isinstance(x, str):
        return str.__str__(x)
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, numbers.Integral):
        return _int_str(int(x))
    if isinstance(x, numbers.Real):
        return _float_str(float(x))
    try:
        return str(x)
    except Exception as e:
        raise _eval_error(f"无法把 {type(x).__name__} 值转换为文字", f"cannot turn a {type(x).__name__} into text") from e


def _too_long() -> ExpressionError:
    return _eval_error(f"计算结果过长（超过{MAX_RESULT}个字符）",
                       f"the result is too long (over {MAX_RESULT} characters)")


def _isnull(x: Any) -> bool:
    """coalesce()'s test: empty text, NaN, an empty nodeset."""
    x = _unpack(x)
    return x is None or x == "" or (type(x) is float and x != x)


def _items(x: Any) -> list:
    """A nodeset's items: a list's elements, nothing for None, else the one value."""
    if isinstance(x, (list, tuple)):
        return list(x)
    if x is None:
        return []
    return [x]


def _to_index(x: Any) -> int:
    n = _nf(x)
    if n != n:
        return 0
    if n > 2 ** 31:
        return 2 ** 31
    if n < -2 ** 31:
        return -2 ** 31
    return int(n)


def _as_date(x: Any, fname: str, keep_time: bool = False) -> Any:
    """date() as JavaRosa's toDate: dates pass, 'YYYY-MM-DD[Thh:mm[:ss]]' text is parsed, numbers are
    days since 1970-01-01 (truncated unless keep_time); empty → '' and NaN → NaN (no error)."""
    x = _unpack(x)
    if x is None or x == "":
        return ""
    if isinstance(x, _date):
        if isinstance(x, _datetime) and not keep_time:
            return x.date()
        return x
    if isinstance(x, str):
        d = _parse_date(x)
        if d is None:
            raise _eval_error(f"{fname}()：无法把“{_show(x)}”转换为日期（应为 YYYY-MM-DD）",
                              f"{fname}(): cannot read '{_show(x)}' as a date (expected YYYY-MM-DD)")
        if isinstance(d, _datetime) and not keep_time:
            return d.date()
        return d
    if isinstance(x, bool) or isinstance(x, (list, tuple)):
        raise _eval_error(f"{fname}()：无法把 {_show(x)} 转换为日期", f"{fname}(): cannot turn {_show(x)} into a date")
    n = _nf(x)
    if n != n:
        return NAN
    if n in (INF, -INF):
        raise _eval_error(f"{fname}()：无法把 {_str(n)} 转换为日期", f"{fname}(): cannot turn {_str(n)} into a date")
    try:
        if keep_time:
            day = math.floor(n)
            d = _date.fromordinal(_EPOCH + day)
            if n != day:
                return _datetime(d.year, d.month, d.day) + dt.timedelta(days=n - day)
            return d
        return _date.fromordinal(_EPOCH + math.trunc(n))
    except (ValueError, OverflowError):
        raise _eval_error(f"{fname}()：{_str(n)} 天超出日期范围",
                          f"{fname}(): {_str(n)} days is outside the date range") from None


def _date_or_none(x: Any) -> dt.date | None:
    if isinstance(x, _date):
        return x
    if isinstance(x, str):
        return _parse_date(x)
    return None


# --------------------------------------------------------------------------------------------------
# operators

def _eq_scalar(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return _bool(a) == _bool(b)
    an = isinstance(a, numbers.Number) and not isinstance(a, (list, tuple))
    bn = isinstance(b, numbers.Number) and not isinstance(b, (list, tuple))
    if an or bn:
        na = _num(a)
        nb = _num(b)
        if type(na) is int and type(nb) is int:
            return na == nb
        d = _nf(na) - _nf(nb)
        return -1e-12 < d < 1e-12  # JavaRosa: |a - b| < 1e-12; false for NaN (and ∞ = ∞)
    if isinstance(a, _date) or isinstance(b, _date):
        da = _date_or_none(a)
        db = _date_or_none(b)
        if da is None or db is None:
            return False
        if isinstance(da, _datetime) and isinstance(db, _datetime):
            return da == db
        return (da.year, da.month, da.day) == (db.year, db.month, db.day)
    return _str(a) == _str(b)


def _eq_slow(x: Any, y: Any, ne: bool) -> bool:
    x = _unpack(x)
    y = _unpack(y)
    xs = isinstance(x, (list, tuple))
    ys = isinstance(y, (list, tuple))
    if xs or ys:  # nodesets: existential (XPath 1.0); a boolean compares with boolean(nodeset)
        if not xs and isinstance(x, bool):
            return (_bool(y) == x) != ne
        if not ys and isinstance(y, bool):
            return (_bool(x) == y) != ne
        xl = x if xs else (x,)
        yl = y if ys else (y,)
        for a in xl:
            for b in yl:
                if _eq_scalar(a, b) != ne:
                    return True
        return False
    return _eq_scalar(x, y) != ne


def _EQ(x: Any, y: Any) -> bool:
    t = type(x)
    if t is type(y) and (t is str or t is int):
        return x == y
    return _eq_slow(x, y, False)


def _NE(x: Any, y: Any) -> bool:
    t = type(x)
    if t is type(y) and (t is str or t is int):
        return x != y
    return _eq_slow(x, y, True)


def _rel_slow(op: Callable, x: Any, y: Any) -> bool:
    if type(x) is _date and type(y) in (int, float):
        return op(x.toordinal() - _EPOCH, y)
    x = _unpack(x)
    y = _unpack(y)
    xs = isinstance(x, (list, tuple))
    ys = isinstance(y, (list, tuple))
    if xs or ys:
        if not xs and isinstance(x, bool):
            return op(1 if x else 0, 1 if _bool(y) else 0)
        if not ys and isinstance(y, bool):
            return op(1 if _bool(x) else 0, 1 if y else 0)
        xl = x if xs else (x,)
        yl = y if ys else (y,)
        for a in xl:
            na = _num(a)
            for b in yl:
                if op(na, _num(b)):
                    return True
        return False
    return op(_num(x), _num(y))


def _mk_rel(op: Callable) -> Callable[[Any, Any], bool]:
    slow = _rel_slow

    def rel(x, y):
        tx = type(x)
        ty = type(y)
        if (tx is int or tx is float) and (ty is int or ty is float):
            return op(x, y)
        return slow(op, x, y)
    return rel


_LT = _mk_rel(operator.lt)
_LE = _mk_rel(operator.le)
_GT = _mk_rel(operator.gt)
_GE = _mk_rel(operator.ge)


def _ADD(x: Any, y: Any) -> Any:
    if type(x) is int and type(y) is int:
        z = x + y
        return z if -_BIG <= z <= _BIG else _int2f(z)
    return _nf(x) + _nf(y)


def _SUB(x: Any, y: Any) -> Any:
    if type(x) is int and type(y) is int:
        z = x - y
        return z if -_BIG <= z <= _BIG else _int2f(z)
    return _nf(x) - _nf(y)


def _MUL(x: Any, y: Any) -> Any:
    if type(x) is int and type(y) is int:
        z = x * y
        return z if -_BIG <= z <= _BIG else _int2f(z)
    return _nf(x) * _nf(y)


def _DIV(x: Any, y: Any) -> float:
    a = _nf(x)
    b = _nf(y)
    if b == 0:
        if a == 0 or a != a:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)
    try:
        return a / b
    except OverflowError:
        return INF if (a > 0) == (b > 0) else -INF


def _MOD(x: Any, y: Any) -> Any:
    """XPath mod: the remainder of truncating division (sign of the dividend), as Java's %."""
    if type(x) is int and type(y) is int and y != 0:
        r = abs(x) % abs(y)
        return -r if x < 0 else r
    a = _nf(x)
    b = _nf(y)
    if b == 0 or a != a or b != b or a in (INF, -INF):
        return NAN
    if b in (INF, -INF):
        return a
    return math.fmod(a, b)


def _NEG(x: Any) -> Any:
    if type(x) is int:
        return -x
    return -_nf(x)


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": _EQ, "ne": _NE, "lt": _LT, "le": _LE, "gt": _GT, "ge": _GE,
    "add": _ADD, "sub": _SUB, "mul": _MUL, "div": _DIV, "mod": _MOD,
}
_LEVEL = {"eq": "eq", "ne": "eq", "lt": "rel", "le": "rel", "gt": "rel", "ge": "rel",
          "add": "add", "sub": "add", "mul": "mul", "div": "mul", "mod": "mul"}
_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_PYOP = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}


# --------------------------------------------------------------------------------------------------
# functions

def _f_round(x: Any, n: Any = 0) -> Any:
    """round(x[, digits]) as JavaRosa: on the decimal text of x, halves toward +Infinity
    (round(2.5) = 3, round(-2.5) = -2); more than 30 digits either way → NaN."""
    a = _nf(x)
    if a != a or a in (INF, -INF):
        return a
    k = _nf(n)
    k = 0 if k != k else k  # Java's (int) NaN
    if k > 30 or k < -30:
        return NAN
    k = int(k)
    q = Decimal(repr(a)).quantize(Decimal(1).scaleb(-k), rounding=ROUND_HALF_UP if a >= 0 else ROUND_HALF_DOWN,
                                  context=_DEC_CTX)
    r = float(q)
    if k <= 0 and r.is_integer() and abs(r) <= _BIG:
        return int(r)
    return r


def _f_int(x: Any) -> Any:
    n = _num(x)
    if type(n) is int:
        return n
    if n != n or n in (INF, -INF):
        return n
    return _fix(math.trunc(n))


def _f_abs(x: Any) -> Any:
    return abs(_num(x))


def _f_pow(x: Any, y: Any) -> float:
    a = _nf(x)
    b = _nf(y)
    try:
        return math.pow(a, b)
    except OverflowError:
        return -INF if (a < 0 and b == int(b) and int(b) % 2 == 1) else INF
    except (ValueError, ZeroDivisionError):
        if a == 0 and b < 0:
            return INF
        return NAN


def _math1(fn: Callable[[float], float]) -> Callable[[Any], float]:
    def f(x: Any) -> float:
        a = _nf(x)
        try:
            return fn(a)
        except OverflowError:
            return INF
        except ValueError:
            if a == 0 and fn in (math.log, math.log10):
                return -INF
            return NAN
    return f


def _f_atan2(y: Any, x: Any) -> float:
    try:
        return math.atan2(_nf(y), _nf(x))
    except ValueError:  # pragma: no cover - atan2 is total on floats
        return NAN


def _f_concat(*args: Any) -> str:
    s = "".join([_str(a) for a in args])
    if len(s) > MAX_RESULT:
        raise _too_long()
    return s


def _f_substr(s: Any, start: Any, end: Any = None) -> str:
    """ODK substr(s, start[, end]): 0-based, end exclusive, negative counts from the end."""
    t = _str(s)
    n = len(t)
    i = _to_index(start)
    j = n if end is None else _to_index(end)
    if i < 0:
        i += n
    if j < 0:
        j += n
    i = max(0, i)
    j = min(n, j)
    return t[i:j] if i < j else ""


def _f_substring_before(s: Any, t: Any) -> str:
    a = _str(s)
    i = a.find(_str(t))
    return a[:i] if i >= 0 else ""


def _f_substring_after(s: Any, t: Any) -> str:
    a = _str(s)
    b = _str(t)
    i = a.find(b)
    return a[i + len(b):] if i >= 0 else ""


def _f_translate(s: Any, frm: Any, to: Any) -> str:
    a, f, t = _str(s), _str(frm), _str(to)
    table: dict[int, str | None] = {}
    for i, ch in enumerate(f):
        table.setdefault(ord(ch), t[i] if i < len(t) else None)
    return a.translate(table)


def _f_normalize_space(s: Any) -> str:
    return _WS_RE.sub(" ", _str(s)).strip(" ")


def _split(x: Any) -> list[str]:
    """A select_multiple answer's choices (a list, or XPath's space-separated text)."""
    if type(x) is list:
        out: list[str] = []
        for i in x:
            if type(i) is str and " " not in i:
                if i:
                    out.append(i)
            else:
                out.extend(_str(i).split())
        return out
    if x is None:
        return []
    return _str(x).split()


def _f_selected(x: Any, choice: Any) -> bool:
    ch = _str(choice).strip()
    if ch and type(x) is list and ch in x:
        return True
    return ch in _split(x)


def _f_count_selected(x: Any) -> int:
    if type(x) is list:
        n = 0
        for i in x:
            if type(i) is str and " " not in i:
                if i:
                    n += 1
            else:
                n += len(_str(i).split())
        return n
    return len(_split(x))


def _f_selected_at(x: Any, i: Any) -> str:
    parts = _split(x)
    n = _nf(i)
    if n != n or n in (INF, -INF):
        return ""
    k = int(n)
    return parts[k] if 0 <= k < len(parts) else ""


def _f_join(sep: Any, *args: Any) -> str:
    items: list = []
    for a in args:
        items.extend(_items(a))
    s = _str(sep).join([_str(i) for i in items])
    if len(s) > MAX_RESULT:
        raise _too_long()
    return s


def _f_count(x: Any) -> int:
    if isinstance(x, (list, tuple)):
        return len(x)
    return 0 if x is None else 1


def _f_count_non_empty(x: Any) -> int:
    return sum(1 for i in _items(x) if not _isnull(i))


def _f_sum(x: Any) -> Any:
    tot: Any = 0
    for i in _items(x):
        n = _num(i)
        if n != n:
            continue  # JavaRosa skips empty / non-numeric values
        if type(tot) is int and type(n) is int:
            tot = _fix(tot + n)
        else:
            tot = _nf(tot) + _nf(n)
    return tot


def _minmax(args: tuple, pick: Callable) -> Any:
    nums = []
    for a in args:
        for i in _items(a):
            n = _num(i)
            if n == n:  # NaN (empty) values are skipped, as JavaRosa does
                nums.append(n)
    if not nums:
        return NAN
    return pick(nums)


def _f_max(*args: Any) -> Any:
    return _minmax(args, max)


def _f_min(*args: Any) -> Any:
    return _minmax(args, min)


def _f_checklist(lo: Any, hi: Any, *args: Any) -> bool:
    n = sum(1 for a in args for i in _items(a) if _bool(i))
    a = _nf(lo)
    b = _nf(hi)
    return (a == -1 or n >= a) and (b == -1 or n <= b)


def _f_indexed_repeat(x: Any, _repeat: Any, i: Any) -> Any:
    items = _items(x)
    n = _nf(i)
    if n != n or n in (INF, -INF):
        return ""
    k = int(n)
    return items[k - 1] if 1 <= k <= len(items) else ""


def _f_date(x: Any) -> Any:
    return _as_date(x, "date")


def _f_date_time(x: Any) -> Any:
    return _as_date(x, "date-time", keep_time=True)


def _f_decimal_date_time(x: Any) -> Any:
    x = _unpack(x)
    if x is None or x == "":
        return ""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    d = _as_date(x, "decimal-date-time", keep_time=True)
    return float(_days(d)) if isinstance(d, _date) else d


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FMT_RE = re.compile(r"%(.)", re.S)


def _fmt_date(d: dt.date, fmt: str) -> str:
    hh = mi = ss = us = 0
    if isinstance(d, _datetime):
        hh, mi, ss, us = d.hour, d.minute, d.second, d.microsecond

    def rep(m: re.Match) -> str:
        k = m.group(1)
        if k == "Y":
            return f"{d.year:04d}"
        if k == "y":
            return f"{d.year % 100:02d}"
        if k == "m":
            return f"{d.month:02d}"
        if k == "n":
            return str(d.month)
        if k == "b":
            return _MONTHS[d.month - 1]
        if k == "d":
            return f"{d.day:02d}"
        if k == "e":
            return str(d.day)
        if k == "a":
            return _WEEKDAYS[d.weekday()]
        if k == "H":
            return f"{hh:02d}"
        if k == "h":
            return str(hh)
        if k == "M":
            return f"{mi:02d}"
        if k == "S":
            return f"{ss:02d}"
        if k == "3":
            return f"{us // 1000:03d}"
        return m.group(0)
    return _FMT_RE.sub(rep, fmt)


def _f_format_date(d: Any, fmt: Any) -> str:
    x = _as_date(d, "format-date", keep_time=True)
    return _fmt_date(x, _str(fmt)) if isinstance(x, _date) else ""  # empty / NaN → ''


def _f_format_date_time(d: Any, fmt: Any) -> str:
    x = _as_date(d, "format-date-time", keep_time=True)
    return _fmt_date(x, _str(fmt)) if isinstance(x, _date) else ""


def _f_boolean_from_string(x: Any) -> bool:
    s = _str(x)
    return s == "1" or s.lower() == "true"


def _f_string_length(x: Any) -> int:
    return len(_str(x))


# ---- regex

_REPEATS = {_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT}
_MAXREPEAT = _sre_c.MAXREPEAT


def _body_ambiguous(body: Any) -> bool | None:
    """Whether a repeated body is only variable-length pieces ('a+', 'a+b*', 'a+\\s?', ',?[0-9]+').

    None when a fixed piece (a literal, a class, a fixed count) separates the repetitions; such
    bodies can only be split one way and are safe.
    """
    has_var = False
    for op, av in body:
        if op is _sre_c.SUBPATTERN:
            r = _body_ambiguous(av[-1])
            if r is None:
                return None
            has_var = has_var or r
        elif op in _REPEATS:
            lo, hi, _inner = av
            if lo == hi:
                return None
            has_var = True
        else:
            return None
    return has_var


def _redos(p: Any) -> bool:
    """Nested unbounded quantifiers like (a+)+, (a*)*, (\\w+\\s?)* backtrack exponentially."""
    for op, av in p:
        if op in _REPEATS:
            lo, hi, body = av
            if hi == _MAXREPEAT and _body_ambiguous(body) is True:
                return True
            if _redos(body):
                return True
        elif op is _sre_c.SUBPATTERN:
            if _redos(av[-1]):
                return True
        elif op is _sre_c.BRANCH:
            if any(_redos(b) for b in av[1]):
                return True
        elif op in (_sre_c.ASSERT, _sre_c.ASSERT_NOT):
            if _redos(av[1]):
                return True
        elif op is _sre_c.GROUPREF_EXISTS:
            if _redos(av[1]) or (av[2] is not None and _redos(av[2])):
                return True
    return False


@functools.lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern:
    if len(pattern) > MAX_REGEX:
        raise _eval_error(f"regex()：正则表达式过长（{len(pattern)}个字符，最多{MAX_REGEX}个）",
                          f"regex(): the pattern is too long ({len(pattern)} characters, at most {MAX_REGEX})")
    try:
        compiled = re.compile(pattern, re.ASCII)  # Java's \d \w \s are ASCII too
        nested = _redos(_sre_parse.parse(pattern, re.ASCII))
    except (re.error, RecursionError, OverflowError, ValueError, TypeError) as e:
        raise _eval_error(f"regex()：正则表达式“{_show(pattern)}”有误：{e}",
                          f"regex(): invalid pattern '{_show(pattern)}': {e}") from None
    if nested:
        raise _eval_error(f"regex()：正则表达式“{_show(pattern)}”含有嵌套的重复（如 (a+)+），可能极慢，请改写",
                          f"regex(): pattern '{_show(pattern)}' nests unbounded repeats (like (a+)+), "
                          "which can take forever; rewrite it")
    return compiled


def _f_regex(value: Any, pattern: Any) -> bool:
    return _regex(_str(pattern)).search(_str(value)) is not None


# name → (min args, max args or None, implementation, result kind)
FUNCTIONS: dict[str, tuple[int, int | None, Callable | None, str]] = {
    "true": (0, 0, lambda: True, "bool"),
    "false": (0, 0, lambda: False, "bool"),
    "not": (1, 1, lambda x: not _bool(x), "bool"),
    "boolean": (1, 1, _bool, "bool"),
    "boolean-from-string": (1, 1, _f_boolean_from_string, "bool"),
    "number": (1, 1, _num, "num"),
    "string": (1, 1, _str, "str"),
    "int": (1, 1, _f_int, "num"),
    "round": (1, 2, _f_round, "num"),
    "abs": (1, 1, _f_abs, "num"),
    "pow": (2, 2, _f_pow, "num"),
    "sqrt": (1, 1, _math1(math.sqrt), "num"),
    "exp": (1, 1, _math1(math.exp), "num"),
    "exp10": (1, 1, _math1(lambda a: math.pow(10.0, a)), "num"),
    "log": (1, 1, _math1(math.log), "num"),
    "log10": (1, 1, _math1(math.log10), "num"),
    "sin": (1, 1, _math1(math.sin), "num"),
    "cos": (1, 1, _math1(math.cos), "num"),
    "tan": (1, 1, _math1(math.tan), "num"),
    "asin": (1, 1, _math1(math.asin), "num"),
    "acos": (1, 1, _math1(math.acos), "num"),
    "atan": (1, 1, _math1(math.atan), "num"),
    "atan2": (2, 2, _f_atan2, "num"),
    "pi": (0, 0, lambda: math.pi, "num"),
    "concat": (0, None, _f_concat, "str"),
    "string-length": (0, 1, _f_string_length, "num"),
    "contains": (2, 2, lambda a, b: _str(b) in _str(a), "bool"),
    "starts-with": (2, 2, lambda a, b: _str(a).startswith(_str(b)), "bool"),
    "ends-with": (2, 2, lambda a, b: _str(a).endswith(_str(b)), "bool"),
    "substr": (2, 3, _f_substr, "str"),
    "substring-before": (2, 2, _f_substring_before, "str"),
    "substring-after": (2, 2, _f_substring_after, "str"),
    "translate": (3, 3, _f_translate, "str"),
    "normalize-space": (0, 1, _f_normalize_space, "str"),
    "regex": (2, 2, _f_regex, "bool"),
    "selected": (2, 2, _f_selected, "bool"),
    "count-selected": (1, 1, _f_count_selected, "num"),
    "selected-at": (2, 2, _f_selected_at, "str"),
    "join": (1, None, _f_join, "str"),
    "if": (3, 3, None, "any"),            # lazy, built in _call
    "coalesce": (2, 2, None, "any"),      # lazy, built in _call
    "once": (1, 1, None, "any"),          # returns its argument
    "today": (0, 0, None, "any"),         # the reference date
    "now": (0, 0, None, "any"),           # the reference date (see to_odk)
    "date": (1, 1, _f_date, "any"),
    "date-time": (1, 1, _f_date_time, "any"),
    "decimal-date-time": (1, 1, _f_decimal_date_time, "num"),
    "format-date": (2, 2, _f_format_date, "str"),
    "format-date-time": (2, 2, _f_format_date_time, "str"),
    "count": (1, 1, _f_count, "num"),
    "count-non-empty": (1, 1, _f_count_non_empty, "num"),
    "sum": (1, 1, _f_sum, "num"),
    "max": (1, None, _f_max, "num"),
    "min": (1, None, _f_min, "num"),
    "checklist": (2, None, _f_checklist, "bool"),
    "indexed-repeat": (3, 3, _f_indexed_repeat, "any"),
}
_CURRENT_DEFAULT = {"string-length", "normalize-space"}  # f() means f(.)


# --------------------------------------------------------------------------------------------------
# parser

_GRAMMAR = (Path(__file__).with_name("xpath.lark")).read_text(encoding="utf-8")
_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="basic", start="start", maybe_placeholders=False)
_SCAN_RE = re.compile(r"""'[^']*'|"[^"]*"|\$\{[^}]*\}|\$\{|['"()]""")
_NAME_RE = re.compile(r"[^\W\d][\w.\-]*")
_FULLWIDTH = {"（": "(", "）": ")", "，": ",", "＝": "=", "＜": "<", "＞": ">", "＋": "+", "－": "-",
              "＊": "*", "‘": "'", "’": "'", "“": '"', "”": '"', "．": ".", "　": " ", "＄": "$",
              "｛": "{", "｝": "}", "！": "!", "。": "."}
_TERM_NAMES = {"NUMBER": ("数字", "a number"), "STRING": ("字符串", "a string"),
               "REF": ("${字段名}", "${field}"), "NAME": ("名称", "a name"),
               "$END": ("表达式结尾", "the end")}


def _prescan(text: str) -> None:
    """Checks that need no parse: length, NUL, quotes, ${...}, parenthesis balance and depth."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"表达式过长（{len(text)}个字符，最多{MAX_LENGTH}个），请拆分或简化",
                              f"the expression is too long ({len(text)} characters, at most {MAX_LENGTH}); "
                              "split or simplify it", MAX_LENGTH)
    i = text.find("\x00")
    if i >= 0:
        raise _syntax(text, i, "含有 NUL 空字符，请删除", "contains a NUL character; remove it")
    if not text.strip(_XWS):
        raise ExpressionError("表达式为空", "the expression is empty", 0)
    stack: list[int] = []
    for m in _SCAN_RE.finditer(text):
        tok = m.group()
        p = m.start()
        if tok == "(":
            stack.append(p)
            if len(stack) > MAX_NESTING:
                raise _syntax(text, p, f"括号或函数嵌套超过{MAX_NESTING}层，请简化",
                              f"parentheses or function calls nest deeper than {MAX_NESTING} levels; simplify")
        elif tok == ")":
            if not stack:
                raise _syntax(text, p, "多余的右括号“)”", "unmatched ')'")
            stack.pop()
        elif tok in ("'", '"'):
            raise _syntax(text, p, f"字符串缺少结束引号 {tok}", f"the string has no closing {tok}")
        elif tok == "${":
            raise _syntax(text, p, "字段引用缺少“}”，应写作 ${字段名}", "the field reference has no '}'; write ${name}")
    if stack:
        raise _syntax(text, stack[-1], "左括号“(”没有对应的右括号“)”", "'(' is never closed")


_OPERAND_TERMS = {"NUMBER", "STRING", "REF", "NAME", "DOT", "LPAR", "MINUS"}
_OPERATOR_TERMS = {"AND", "OR", "DIV", "MOD", "PLUS", "STAR", "EQUAL", "LESSTHAN", "MORETHAN"}


def _paren_depth(text: str, pos: int) -> int:
    depth = 0
    for m in _SCAN_RE.finditer(text, 0, pos):
        if m.group() == "(":
            depth += 1
        elif m.group() == ")":
            depth -= 1
    return depth


def _describe_expected(expected: set[str], depth: int = 1) -> tuple[str, str]:
    if _OPERAND_TERMS <= expected:
        return ("数值、字符串、${字段名}、“.”、函数或“(”",
                "a number, a string, ${field}, '.', a function or '('")
    zh: list[str] = []
    en: list[str] = []
    if len(expected & _OPERATOR_TERMS) >= 3:
        zh.append("运算符（and、or、=、<、+ 等）")
        en.append("an operator (and, or, =, <, + …)")
        expected = {t for t in expected if t not in _OPERATOR_TERMS and t != "MINUS" and not t.startswith("__ANON")}
        if depth == 0:  # LALR lookaheads also offer ',' and ')' where no '(' is open
            expected -= {"COMMA", "RPAR"}
    for name in sorted(expected):
        if name in _TERM_NAMES:
            z, e = _TERM_NAMES[name]
        else:
            try:
                pat = _PARSER.get_terminal(name).pattern
                z, e = (f"“{pat.value}”", f"'{pat.value}'") if pat.type == "str" else (name, name)
            except Exception:  # pragma: no cover - lark internals
                z = e = name
        zh.append(z)
        en.append(e)
        if len(zh) >= 8:
            break
    return "、".join(zh), ", ".join(en)


def _parse_error(text: str, e: UnexpectedInput) -> ExpressionError:
    if isinstance(e, UnexpectedCharacters):
        p = e.pos_in_stream
        ch = text[p] if 0 <= p < len(text) else ""
        if ch in _FULLWIDTH:
            return _syntax(text, p, f"全角字符“{ch}”，请改为半角“{_FULLWIDTH[ch]}”",
                           f"full-width character '{ch}'; use '{_FULLWIDTH[ch]}'")
        if ch == "$":
            return _syntax(text, p, "字段引用应写作 ${字段名}", "refer to a field as ${name}")
        if ch in "/@[]":
            return _syntax(text, p, f"不支持 XPath 路径写法“{ch}”，引用字段请用 ${{字段名}}",
                           f"XPath paths ('{ch}') are not supported; refer to fields as ${{name}}")
        if ch == "|":
            return _syntax(text, p, "不支持节点集合并运算“|”", "the union operator '|' is not supported")
        shown = ch if ch.isprintable() else f"U+{ord(ch):04X}"
        return _syntax(text, p, f"无法识别的字符“{shown}”", f"unexpected character '{shown}'")
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            zh, en = _describe_expected(set(e.expected), _paren_depth(text, len(text)))
            return _syntax(text, len(text), f"表达式不完整，结尾处应为：{zh}",
                           f"the expression ends too early; expected {en}")
        p = tok.start_pos if tok.start_pos is not None else 0
        if tok.type == "NAME":
            return _syntax(text, p, f"此处不应出现名称“{tok}”（引用字段请写 ${{{tok}}}）",
                           f"unexpected name '{tok}' (refer to a field as ${{{tok}}})")
        zh, en = _describe_expected(set(e.expected), _paren_depth(text, p))
        return _syntax(text, p, f"此处不应出现“{tok}”，应为：{zh}", f"unexpected '{tok}'; expected {en}")
    p = getattr(e, "pos_in_stream", None) or 0  # pragma: no cover - other lark errors
    return _syntax(text, p, "无法解析", "cannot parse")


# --------------------------------------------------------------------------------------------------
# compiling the parse tree to closures

_NO = object()  # "not a constant"


class _C:
    """A compiled node: its closure, result kind, constant value (or _NO) and source shape."""

    __slots__ = ("fn", "kind", "const", "src", "name")

    def __init__(self, fn: Fn, kind: str = "any", const: Any = _NO, src: str = "", name: str = ""):
        self.fn = fn
        self.kind = kind
        self.const = const
        self.src = src    # "cur" for ".", "ref" for ${name}
        self.name = name


def _const(value: Any) -> _C:
    def f(v, c, r):
        return value
    kind = "bool" if isinstance(value, bool) else "num" if isinstance(value, (int, float)) else \
        "str" if isinstance(value, str) else "any"
    return _C(f, kind, value)


def _ref_fn(name: str) -> Fn:
    def f(v, c, r):
        return v.get(name)
    return f


def _cur_fn(v, c, r):
    return c


def _child_fn(name: str) -> Fn:
    """A bare name is XPath's child of the context node: in a choice_filter, the choice row's column
    (evaluate with ``current`` = the row as a mapping); anywhere else it is empty."""
    def f(v, c, r):
        return c.get(name) if isinstance(c, Mapping) else None
    return f


def _today_fn(v, c, r):
    return r


_EMPTY: Mapping[str, Any] = {}


def _fold(node: _C, parts: list[_C], pure: bool = True) -> _C:
    """Replace a node whose inputs are all constants by its value (when it computes without error)."""
    if not pure or any(p.const is _NO for p in parts):
        return node
    try:
        value = node.fn(_EMPTY, None, REFERENCE_DATE)
    except Exception:  # not folded: the error is reported at evaluation, where it belongs
        return node
    return _const(value)


def _first_pos(node: Any) -> int | None:
    while isinstance(node, Tree):
        if not node.children:
            return None
        node = node.children[0]
    return node.start_pos if isinstance(node, Token) else None


class _Compiler:
    def __init__(self, text: str):
        self.text = text
        self.refs: set[str] = set()
        self.columns: set[str] = set()
        self.uses_current = False

    def build(self, node: Any, depth: int = 0) -> _C:
        if depth > MAX_DEPTH:
            p = _first_pos(node)
            raise ExpressionError(f"表达式嵌套过深（超过{MAX_DEPTH}层），请简化",
                                  f"the expression nests too deeply (over {MAX_DEPTH} levels); simplify it", p)
        d = node.data
        if d == "number":
            s = str(node.children[0])
            if "." not in s and len(s) < 16:
                return _const(int(s))
            return _const(_fix(float(s)) if "." in s else _fix(int(s)) if len(s) < 4000 else INF)
        if d == "string":
            return _const(str(node.children[0])[1:-1])
        if d == "ref":
            tok = node.children[0]
            name = str(tok)[2:-1]
            if not _NAME_RE.fullmatch(name):
                raise _syntax(self.text, tok.start_pos, f"字段引用“{_show(str(tok))}”无效，应写作 ${{字段名}}"
                              "（字母或下划线开头，可含字母、数字、_ - .）",
                              f"invalid field reference '{_show(str(tok))}'; write ${{name}} (a letter or _ first, "
                              "then letters, digits, _ - .)")
            self.refs.add(name)
            return _C(_ref_fn(name), "any", src="ref", name=name)
        if d == "current":
            self.uses_current = True
            return _C(_cur_fn, "any", src="cur")
        if d == "child":
            name = str(node.children[0])
            self.columns.add(name)
            return _C(_child_fn(name), "any")
        if d in ("or_", "and_"):
            return self._logic(node, d, depth)
        if d in _LEVEL:
            return self._chain(node, depth)
        if d == "neg":
            k = 0
            while isinstance(node, Tree) and node.data == "neg":
                k += 1
                node = node.children[0]
            inner = self.build(node, depth + 1)
            op = _NEG if k % 2 else _num
            a = inner.fn

            def f(v, c, r):
                return op(a(v, c, r))
            return _fold(_C(f, "num"), [inner])
        if d == "call":
            return self._call(node, depth)
        raise ExpressionError(f"无法理解的表达式成分 {d}", f"unexpected construct {d}")  # pragma: no cover

    # ---- and / or
    def _logic(self, node: Tree, d: str, depth: int) -> _C:
        items = []
        while isinstance(node, Tree) and node.data == d:
            items.append(node.children[1])
            node = node.children[0]
        items.append(node)
        items.reverse()
        parts = [self.build(x, depth + 1) for x in items]
        fns = [p.fn if p.kind == "bool" else _as_bool(p.fn) for p in parts]
        if d == "and_":
            if len(fns) == 2:
                a, b = fns

                def f(v, c, r):
                    return a(v, c, r) and b(v, c, r)
            else:
                def f(v, c, r):
                    for g in fns:
                        if not g(v, c, r):
                            return False
                    return True
        else:
            if len(fns) == 2:
                a, b = fns

                def f(v, c, r):
                    return a(v, c, r) or b(v, c, r)
            else:
                def f(v, c, r):
                    for g in fns:
                        if g(v, c, r):
                            return True
                    return False
        return _fold(_C(f, "bool"), parts)

    # ---- left-associative chains of one precedence level
    def _chain(self, node: Tree, depth: int) -> _C:
        level = _LEVEL[node.data]
        ops = []
        while isinstance(node, Tree) and _LEVEL.get(node.data) == level:
            ops.append((node.data, node.children[1]))
            node = node.children[0]
        ops.reverse()
        first = self.build(node, depth + 1)
        rest = [(op, self.build(x, depth + 1)) for op, x in ops]
        kind = "bool" if level in ("eq", "rel") else "num"
        if len(rest) == 1:
            op, second = rest[0]
            if level in ("eq", "rel"):
                fast = _fast_compare(op, first, second)
                if fast is not None:
                    return _fold(_C(fast, "bool"), [first, second])
            a, b = first.fn, second.fn
            if level == "rel":
                o = _PYOP[op]
                slow = _rel_slow

                def f(v, c, r):
                    x = a(v, c, r)
                    y = b(v, c, r)
                    tx = type(x)
                    ty = type(y)
                    if (tx is int or tx is float) and (ty is int or ty is float):
                        return o(x, y)
                    return slow(o, x, y)
            else:
                fo = _OPS[op]

                def f(v, c, r):
                    return fo(a(v, c, r), b(v, c, r))
            return _fold(_C(f, kind), [first, second])
        a = first.fn
        steps = [(_OPS[op], p.fn) for op, p in rest]

        def f(v, c, r):
            acc = a(v, c, r)
            for fo, g in steps:
                acc = fo(acc, g(v, c, r))
            return acc
        return _fold(_C(f, kind), [first] + [p for _, p in rest])

    # ---- function calls
    def _call(self, node: Tree, depth: int) -> _C:
        tok = node.children[0]
        name = str(tok)
        spec = FUNCTIONS.get(name)
        if spec is None:
            raise ExpressionError(f"未知函数 {name}（第{tok.start_pos + 1}个字符处）",
                                  f"unknown function {name} (at character {tok.start_pos + 1})", tok.start_pos)
        lo, hi, impl, kind = spec
        args = node.children[1:]
        n = len(args)
        if n < lo or (hi is not None and n > hi):
            want = (f"{lo}" if lo == hi else f"{lo}–{hi}" if hi is not None else f"至少{lo}")
            want_en = (f"{lo}" if lo == hi else f"{lo}–{hi}" if hi is not None else f"at least {lo}")
            raise ExpressionError(f"函数 {name}() 需要 {want} 个参数，实际给了 {n} 个（第{tok.start_pos + 1}个字符处）",
                                  f"function {name}() takes {want_en} argument(s), got {n} "
                                  f"(at character {tok.start_pos + 1})", tok.start_pos)
        parts = [self.build(x, depth + 1) for x in args]
        if name == "selected" and parts[1].const is not _NO \
                and not isinstance(parts[1].const, str):
            raise ExpressionError(f"selected() 的第二个参数是选项代码，应加引号，如 selected(${{x}}, '1')"
                                  f"（第{tok.start_pos + 1}个字符处）",
                                  "the second argument of selected() is a choice code and must be quoted, "
                                  f"e.g. selected(${{x}}, '1') (at character {tok.start_pos + 1})", tok.start_pos)
        if n == 0 and name in _CURRENT_DEFAULT:
            self.uses_current = True
            parts = [_C(_cur_fn, "any", src="cur")]
        fns = [p.fn for p in parts]
        if name in ("today", "now"):
            return _C(_today_fn, "any")
        if name == "once":
            return parts[0]
        if name == "if":
            cond = fns[0] if parts[0].kind == "bool" else _as_bool(fns[0])
            a, b = fns[1], fns[2]

            def f(v, c, r):
                return a(v, c, r) if cond(v, c, r) else b(v, c, r)
            k = parts[1].kind if parts[1].kind == parts[2].kind else "any"
            return _fold(_C(f, k), parts)
        if name == "coalesce":
            a, b = fns
            isnull = _isnull

            def f(v, c, r):
                x = a(v, c, r)
                return b(v, c, r) if isnull(x) else x
            return _fold(_C(f, "any"), parts)
        special = _special_call(name, parts)
        if special is not None:
            return _fold(_C(special, kind), parts)
        return _fold(_C(_apply(impl, fns), kind), parts)


def _special_call(name: str, parts: list[_C]) -> Fn | None:
    """Faster closures for frequent shapes: not(bool), selected(x, 'c'), regex(x, 'literal')."""
    if name == "not" and parts[0].kind == "bool":
        a = parts[0].fn

        def f(v, c, r):
            return not a(v, c, r)
        return f
    if name == "selected" and isinstance(parts[1].const, str) and parts[1].const.strip():
        a = parts[0].fn
        ch = parts[1].const.strip()
        split = _split

        def f(v, c, r):
            x = a(v, c, r)
            if type(x) is list:
                for i in x:
                    if i == ch:
                        return True
                    if type(i) is not str or " " in i:
                        return ch in split(x)
                return False
            return ch in split(x)
        return f
    if name == "regex" and isinstance(parts[1].const, str):
        try:
            pattern = _regex(parts[1].const)
        except ExpressionError:
            return None  # reported when evaluated
        a = parts[0].fn
        search = pattern.search
        tostr = _str

        def f(v, c, r):
            x = a(v, c, r)
            return search(x if type(x) is str else tostr(x)) is not None
        return f
    return None


def _as_bool(g: Fn) -> Fn:
    tb = _bool

    def f(v, c, r):
        return tb(g(v, c, r))
    return f


def _apply(impl: Callable, fns: list[Fn]) -> Fn:
    n = len(fns)
    if n == 0:
        def f(v, c, r):
            return impl()
    elif n == 1:
        (a,) = fns

        def f(v, c, r):
            return impl(a(v, c, r))
    elif n == 2:
        a, b = fns

        def f(v, c, r):
            return impl(a(v, c, r), b(v, c, r))
    elif n == 3:
        a, b, d = fns

        def f(v, c, r):
            return impl(a(v, c, r), b(v, c, r), d(v, c, r))
    else:
        def f(v, c, r):
            return impl(*[g(v, c, r) for g in fns])
    return f


def _fast_compare(op: str, left: _C, right: _C) -> Fn | None:
    """Closures for '. OP literal' and '${x} OP literal' (either side) with an inline fast path."""
    if left.const is not _NO and right.src:
        left, right = right, left
        op = _FLIP.get(op, op)
    if right.const is _NO or left.const is not _NO:
        return None
    K = right.const
    if op in ("eq", "ne"):
        if type(K) not in (str, int, bool, _date) or not left.src:
            return None  # floats compare with JavaRosa's 1e-12 tolerance in _eq_slow
        return _eq_fast(op == "ne", left.src, left.name, K)
    if isinstance(K, bool):
        return None
    Kn = _num(K)  # relational comparisons always compare numbers
    if not left.src:
        return _rel_fast_fn(op, left.fn, Kn)
    return _rel_fast(op, left.src, left.name, Kn)


def _rel_fast_fn(op: str, g: Fn, K: Any) -> Fn:
    """'<expression> OP number'."""
    slow = _rel_slow
    o = _PYOP[op]

    def f(v, c, r):
        x = g(v, c, r)
        t = type(x)
        if t is int or t is float:
            return o(x, K)
        return slow(o, x, K)
    return f


def _eq_fast(ne: bool, src: str, name: str, K: Any) -> Fn:
    kt = type(K)
    slow = _eq_slow
    if src == "cur":
        if ne:
            def f(v, c, r):
                if type(c) is kt:
                    return c != K
                return slow(c, K, True)
        else:
            def f(v, c, r):
                if type(c) is kt:
                    return c == K
                return slow(c, K, False)
    else:
        if ne:
            def f(v, c, r):
                x = v.get(name)
                if type(x) is kt:
                    return x != K
                return slow(x, K, True)
        else:
            def f(v, c, r):
                x = v.get(name)
                if type(x) is kt:
                    return x == K
                return slow(x, K, False)
    return f


def _rel_fast(op: str, src: str, name: str, K: Any) -> Fn:
    slow = _rel_slow
    o = _PYOP[op]
    if src == "cur":
        if op == "lt":
            def f(v, c, r):
                t = type(c)
                if t is int or t is float:
                    return c < K
                return slow(o, c, K)
        elif op == "le":
            def f(v, c, r):
                t = type(c)
                if t is int or t is float:
                    return c <= K
                return slow(o, c, K)
        elif op == "gt":
            def f(v, c, r):
                t = type(c)
                if t is int or t is float:
                    return c > K
                return slow(o, c, K)
        else:
            def f(v, c, r):
                t = type(c)
                if t is int or t is float:
                    return c >= K
                return slow(o, c, K)
    else:
        if op == "lt":
            def f(v, c, r):
                x = v.get(name)
                t = type(x)
                if t is int or t is float:
                    return x < K
                return slow(o, x, K)
        elif op == "le":
            def f(v, c, r):
                x = v.get(name)
                t = type(x)
                if t is int or t is float:
                    return x <= K
                return slow(o, x, K)
        elif op == "gt":
            def f(v, c, r):
                x = v.get(name)
                t = type(x)
                if t is int or t is float:
                    return x > K
                return slow(o, x, K)
        else:
            def f(v, c, r):
                x = v.get(name)
                t = type(x)
                if t is int or t is float:
                    return x >= K
                return slow(o, x, K)
    return f


# --------------------------------------------------------------------------------------------------
# public API

class Expression:
    """A compiled expression.  Immutable; evaluate() may be called from several threads."""

    __slots__ = ("text", "references", "uses_current", "columns", "_fn")

    def __init__(self, text: str, fn: Fn, references: frozenset[str], uses_current: bool,
                 columns: frozenset[str] = frozenset()):
        self.text = text
        self.references = references        # names used as ${name}
        self.uses_current = uses_current     # uses "."
        self.columns = columns               # bare names (choice_filter columns such as "family")
        self._fn = fn

    def evaluate(self, values: Mapping[str, Any], current: Any = None, *,
                 reference_date: dt.date = REFERENCE_DATE) -> Any:
        """The value of the expression for one record; ``current`` is '.' (the field's own value)."""
        try:
            return self._fn(values, current, reference_date)
        except ExpressionError:
            raise
        except RecursionError:
            raise _eval_error(f"表达式“{_show(self.text)}”计算时嵌套过深",
                              f"'{_show(self.text)}' nests too deeply to evaluate") from None
        except Exception as e:
            raise _eval_error(f"表达式“{_show(self.text)}”无法计算：{type(e).__name__}: {_show(str(e))}",
                              f"cannot evaluate '{_show(self.text)}': {type(e).__name__}: {_show(str(e))}") from e

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def __reduce__(self):  # picklable (for process pools): recompiled from its text
        return (compile_expression, (self.text,))


def _parse(text: str) -> Tree:
    _prescan(text)
    try:
        return _PARSER.parse(text)
    except UnexpectedInput as e:
        raise _parse_error(text, e) from None


@functools.lru_cache(maxsize=4096)
def _compile_cached(text: str) -> Expression:
    try:
        tree = _parse(text)
        comp = _Compiler(text)
        node = comp.build(tree)
    except ExpressionError:
        raise
    except RecursionError:  # only when called with the stack already nearly full
        raise ExpressionError("表达式嵌套过深，请简化", "the expression nests too deeply; simplify it") from None
    except Exception as e:  # a bug here must still reach the user as a form error, not a crash
        raise ExpressionError(f"表达式无法解析（{type(e).__name__}）",
                              f"cannot parse the expression ({type(e).__name__})") from e
    return Expression(text, node.fn, frozenset(comp.refs), comp.uses_current, frozenset(comp.columns))


def compile_expression(text: str) -> Expression:
    """Parse and compile an XLSForm/ODK expression (cached).  Raises :class:`ExpressionError`."""
    if not isinstance(text, str):
        raise ExpressionError(f"表达式必须是文字，不能是 {type(text).__name__}",
                              f"an expression must be text, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        _prescan(text)  # raises the length error without hashing megabytes into the cache
    return _compile_cached(str(text))


compile_expression.cache_info = _compile_cached.cache_info  # type: ignore[attr-defined]
compile_expression.cache_clear = _compile_cached.cache_clear  # type: ignore[attr-defined]

_EMPTY_CALL_RE = re.compile(r"[ \t\r\n]*\([ \t\r\n]*\)")


def to_odk(text: str, reference_date: dt.date = REFERENCE_DATE) -> str:
    """The same expression for ODK: ``today()``/``now()`` become ``date('YYYY-MM-DD')`` of the census
    reference point, so ODK Collect checks against the same day we do; everything else is unchanged."""
    compile_expression(text)  # validates, raises ExpressionError
    if "today" not in text and "now" not in text:
        return text
    tree = _parse(text)
    spans: list[tuple[int, int]] = []
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data == "call" and len(node.children) == 1 and str(node.children[0]) in ("today", "now"):
            tok = node.children[0]
            m = _EMPTY_CALL_RE.match(text, tok.end_pos)
            if m is not None:
                spans.append((tok.start_pos, m.end()))
        stack.extend(node.children)
    if not spans:
        return text
    lit = f"date('{reference_date.isoformat()}')"
    out = text
    for a, b in sorted(spans, reverse=True):
        out = out[:a] + lit + out[b:]
    return out


to_boolean = _bool
