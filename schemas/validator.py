"""Record validation: one compiled form → a validator that township laptops and the county both run.

A record is a flat dict (groups are flat, as in ODK's export; repeats are lists of dicts). The validator
works in three passes, as ODK does: (1) coerce every answer to its type, (2) fill calculations, (3) walk
the fields in order applying skip logic (irrelevant answers are cleared, not validated), required
rules and constraints. Geometries are checked in one vectorised shapely call per batch, which is why
:meth:`Validator.validate_many` is the primary entry point.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from .errors import Code, HasProblems, Problem, problem
from .expressions import Expression, ExpressionError, compile_expression, to_boolean
from .model import REFERENCE_DATE, Division, Field, FieldType, Form

# Mainland China, generously: a coordinate outside is certainly a typo (swapped lat/lon, lost digits).
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)


@dataclass(frozen=True)
class DivisionRegister:
    """Known division codes of the census area (from the county geodatabase or the sample)."""

    townships: frozenset[str] = frozenset()
    villages: frozenset[str] = frozenset()

    def contains(self, level: Division, code: str) -> bool | None:
        """True/False when the register covers that level, None when it has no codes for it."""
        codes = {Division.TOWNSHIP: self.townships, Division.VILLAGE: self.villages}.get(level)
        if not codes:
            return None
        return code in codes


@dataclass(frozen=True)
class ValidationContext:
    county_code: str | None = None          # 6-digit code; division codes must start with it
    divisions: DivisionRegister | None = None
    boundary: Any = None                     # shapely geometry in EPSG:4490; geometries must lie inside
    reference_date: dt.date = REFERENCE_DATE
    report_unknown_fields: bool = True


@dataclass
class RecordResult(HasProblems):
    record: dict
    problems: list[Problem] = field(default_factory=list)
    # the shapely geometry of each geometry answer kept in ``record`` (by field path), as checked: callers
    # that store the geometry (the county import) reuse it instead of building it again
    geometries: dict[str, Any] | None = None


@dataclass
class ColumnBatch:
    """:meth:`Validator.validate_columns`' answer: what :meth:`Validator.validate_many` gives, column by
    column. ``columns[name][i]`` is record i's kept answer to top-level field ``name`` (exactly
    ``validate_many(...)[i].record.get(name)``), ``problems[i]`` its problems, ``geometries[name][i]``
    the checked shapely geometry of a kept geometry answer (None otherwise). Callers that turn records
    into rows (the county import) read the columns without building a dict per record."""
    columns: dict[str, list]
    problems: list[list[Problem]]
    geometries: dict[str, list]

    def __len__(self) -> int:
        return len(self.problems)

    def results(self) -> list[RecordResult]:
        """The same batch as :class:`RecordResult` objects (fields in document order)."""
        n = len(self.problems)
        outs: list[dict] = [{} for _ in range(n)]
        for name, col in self.columns.items():
            for k in [k for k, v in enumerate(col) if v is not None]:
                outs[k][name] = col[k]
        results = [RecordResult(outs[i], self.problems[i]) for i in range(n)]
        for name, shapes in self.geometries.items():
            for k in [k for k, g in enumerate(shapes) if g is not None]:
                res = results[k]
                if res.geometries is None:
                    res.geometries = {}
                res.geometries[name] = shapes[k]
        return results


class _Invalid(Exception):
    """A value could not be coerced to its field's type."""

    def __init__(self, code: Code, **values):
        self.code = code
        self.values = values


# ---------------------------------------------------------------------------------------------------
# Type coercion.  Each returns the typed value, None for an empty answer, or raises _Invalid.

def _to_text(v: Any) -> str | None:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if isinstance(v, bool) or isinstance(v, (dict, list)):
        raise _Invalid(Code.TYPE_TEXT, value=v)
    if isinstance(v, float) and v.is_integer():  # a code read from a spreadsheet as 2114811002.0
        return str(int(v))
    return str(v)


def _to_int(v: Any) -> int | None:
    if type(v) is int:
        return v
    if isinstance(v, bool):
        raise _Invalid(Code.TYPE_INTEGER, value=v)
    if isinstance(v, float):
        if v.is_integer():
            return int(v)
        raise _Invalid(Code.TYPE_INTEGER, value=v)
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        try:
            return int(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                raise _Invalid(Code.TYPE_INTEGER, value=v) from None
            if math.isfinite(f) and f.is_integer():
                return int(f)
    raise _Invalid(Code.TYPE_INTEGER, value=v)


def _to_decimal(v: Any) -> float | None:
    if isinstance(v, bool):
        raise _Invalid(Code.TYPE_DECIMAL, value=v)
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        s = v.strip().replace(",", "")
        if not s:
            return None
        try:
            f = float(s)
        except ValueError:
            raise _Invalid(Code.TYPE_DECIMAL, value=v) from None
    else:
        raise _Invalid(Code.TYPE_DECIMAL, value=v)
    if not math.isfinite(f):
        raise _Invalid(Code.TYPE_DECIMAL, value=v)
    return f


_DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[T ].*)?$")


def _to_date(v: Any) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        m = _DATE_RE.match(s)
        if m:
            try:
                return dt.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                pass
    raise _Invalid(Code.TYPE_DATE, value=v)


def _to_multi(v: Any) -> list[str] | None:
    if isinstance(v, str):
        items = v.split()
    elif isinstance(v, (list, tuple)):
        items = [_to_text(x) for x in v]
        if any(x is None or " " in x for x in items):
            raise _Invalid(Code.TYPE_TEXT, value=v)
    else:
        raise _Invalid(Code.TYPE_TEXT, value=v)
    return list(items) or None


_PARSE_PAIR = "坐标应为 [经度, 纬度] 数值 / a coordinate is [lon, lat] numbers"
_NOT_FINITE = "坐标不是有限数值 / coordinates are not finite"


def _pair(c: Any) -> list[float]:
    if type(c) is not list and type(c) is not tuple or len(c) < 2:
        raise _Invalid(Code.GEOMETRY_PARSE, detail=_PARSE_PAIR)
    x, y = c[0], c[1]
    tx, ty = type(x), type(y)
    if (tx is not float and tx is not int) or (ty is not float and ty is not int):
        raise _Invalid(Code.GEOMETRY_PARSE, detail=_PARSE_PAIR)
    if x - x != 0 or y - y != 0:  # NaN or ±inf (x - x is NaN for both)
        raise _Invalid(Code.GEOMETRY_PARSE, detail=_NOT_FINITE)
    return [x, y]


def _finite_pairs(coords: Any, depth: int) -> list:
    """Nested coordinate lists of a GeoJSON geometry, checked to be finite numbers (2-D kept)."""
    if depth == 0:
        return _pair(coords)
    if type(coords) is not list and type(coords) is not tuple or not coords:
        raise _Invalid(Code.GEOMETRY_PARSE, detail="坐标为空 / no coordinates")
    if depth == 1:
        return [_pair(c) for c in coords]
    return [_finite_pairs(c, depth - 1) for c in coords]


_GEOJSON_TYPES = {FieldType.GEOPOINT: ("Point", 0), FieldType.GEOTRACE: ("LineString", 1),
                  FieldType.GEOSHAPE: ("Polygon", 2)}


def _odk_geo(text: str, ftype: FieldType) -> dict:
    """ODK geo strings: 'lat lon [alt acc]' points separated by ';'."""
    points = []
    for part in text.split(";"):
        nums = part.split()
        if not nums:
            continue
        try:
            lat, lon = float(nums[0]), float(nums[1])
        except (ValueError, IndexError):
            raise _Invalid(Code.GEOMETRY_PARSE, detail=f"“{part.strip()[:40]}”不是“纬度 经度” / not 'lat lon'") from None
        points.append([lon, lat])
    if not points:
        raise _Invalid(Code.GEOMETRY_PARSE, detail="没有坐标 / no coordinates")
    if ftype is FieldType.GEOPOINT:
        if len(points) != 1:
            raise _Invalid(Code.GEOMETRY_PARSE, detail="点只能有一个坐标 / a point has one coordinate")
        return {"type": "Point", "coordinates": points[0]}
    if ftype is FieldType.GEOTRACE:
        return {"type": "LineString", "coordinates": points}
    return {"type": "Polygon", "coordinates": [points]}


def _to_geometry(v: Any, ftype: FieldType) -> dict | None:
    """Normalise to a GeoJSON dict with finite coordinates; topology is checked later, in bulk."""
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        if s.startswith("{"):
            import json
            try:
                v = json.loads(s)
            except ValueError:
                raise _Invalid(Code.GEOMETRY_PARSE, detail="GeoJSON 格式错误 / malformed GeoJSON") from None
        else:
            v = _odk_geo(s, ftype)
    if isinstance(v, (list, tuple)) and ftype is FieldType.GEOPOINT:
        v = {"type": "Point", "coordinates": list(v)}
    if not isinstance(v, Mapping):
        raise _Invalid(Code.GEOMETRY_PARSE, detail="应为 GeoJSON 或“纬度 经度” / expected GeoJSON or 'lat lon'")
    gtype, depth = _GEOJSON_TYPES[ftype]
    if v.get("type") != gtype:
        raise _Invalid(Code.GEOMETRY_PARSE, detail=f"应为 {gtype}，而不是 {str(v.get('type'))[:20]} / expected {gtype}")
    return {"type": gtype, "coordinates": _finite_pairs(v.get("coordinates"), depth)}


_COERCE: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.TEXT: _to_text, FieldType.SELECT_ONE: _to_text, FieldType.INTEGER: _to_int,
    FieldType.DECIMAL: _to_decimal, FieldType.DATE: _to_date, FieldType.SELECT_MULTIPLE: _to_multi,
    FieldType.CALCULATE: lambda v: v,
}


# ---------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Plan:
    """What to do for one field; built once per form."""

    f: Field
    name: str
    ftype: FieldType
    coerce: Callable[[Any], Any] | None
    relevant: Expression | None
    required_if: Expression | None
    constraint: Expression | None
    calculation: Expression | None
    choices: frozenset[str] | None
    children: list["_Plan"]
    label: dict
    # flags read in the hot loop, precomputed so it does no enum or dataclass lookups
    is_repeat: bool = False
    is_geometry: bool = False
    is_date: bool = False
    required: bool = False
    max_length: int | None = None
    division: Division | None = None
    descendants: tuple["_Plan", ...] = ()
    choice_filter: Expression | None = None
    choice_rows: dict | None = None      # choice name → {"name": …, filter columns…} for choice_filter


def _descendants(plans: list[_Plan]):
    for p in plans:
        yield p
        yield from _descendants(p.children)


def _lenient(p: _Plan, raw: Any) -> Any:
    """A repeat answer coerced for a provisional nodeset (errors are reported later, in place)."""
    if raw is None or raw == "" or p.coerce is None or p.is_repeat:
        return None
    try:
        return p.coerce(raw)
    except _Invalid:
        return None


def _expr(text: str | None) -> Expression | None:
    return compile_expression(text) if text else None


def _plans(fields: Sequence[Field], group_relevant: tuple[Expression, ...] = ()) -> list[_Plan]:
    """Flatten groups (their relevance is ANDed into their children's) and plan each field."""
    out: list[_Plan] = []
    for f in fields:
        rel = _expr(f.relevant)
        if f.type is FieldType.GROUP:
            out.extend(_plans(f.children, group_relevant + ((rel,) if rel else ())))
            continue
        if f.type is FieldType.NOTE:
            continue
        out.append(_Plan(
            f=f, name=f.name, ftype=f.type,
            coerce=_COERCE.get(f.type),
            relevant=_combine(group_relevant + ((rel,) if rel else ())),
            required_if=_expr(f.required_if),
            constraint=_expr(f.constraint.expression if f.constraint else None),
            calculation=_expr(f.calculation),
            choices=None,
            children=_plans(f.children) if f.type is FieldType.REPEAT else [],
            label={"label_zh": f.label.zh, "label_en": f.label.en, "field": f.name},
            is_repeat=f.type is FieldType.REPEAT, is_geometry=f.type.is_geometry, is_date=f.type is FieldType.DATE,
            required=f.required and f.type is not FieldType.CALCULATE, max_length=f.max_length, division=f.division,
        ))
        plan = out[-1]
        if plan.coerce is None and plan.is_geometry:
            plan.coerce = functools.partial(_to_geometry, ftype=f.type)
        plan.descendants = tuple(_descendants(plan.children))
    return out


class _AllOf:
    """Several relevance expressions (a group's and the field's) that must all hold."""

    def __init__(self, exprs: tuple[Expression, ...]):
        self.exprs = exprs
        self.text = " and ".join(f"({e.text})" for e in exprs)

    def evaluate(self, values, current=None, *, reference_date=REFERENCE_DATE):
        return all(to_boolean(e.evaluate(values, current, reference_date=reference_date)) for e in self.exprs)

    def _fn(self, values, current, reference_date):
        return all(to_boolean(e._fn(values, current, reference_date)) for e in self.exprs)


def _combine(exprs: tuple[Expression, ...]):
    if not exprs:
        return None
    return exprs[0] if len(exprs) == 1 else _AllOf(exprs)


def _fast_eval(expr, values: Mapping, current: Any, refdate: dt.date) -> Any:
    """The compiled closure directly (the hot path); on any failure, the checked ``evaluate`` again,
    which turns the failure into an ExpressionError with a message a person can act on."""
    try:
        return expr._fn(values, current, refdate)
    except Exception:  # noqa: BLE001 - re-raised as ExpressionError just below
        return expr.evaluate(values, current, reference_date=refdate)




COLUMNAR_MIN = 8          # batches at least this large (of forms without repeats) go field by field
COLUMNAR_SLICE = 1024     # … this many records at a time (they stay in the CPU cache)
_MEMO_LIMIT = 65536       # remembered expression results per expression before the memory is reset
_SLOW = object()          # "coerce this one with the general function"
_MISS = object()
_MIXED = object()
_IMMUTABLE = (bool, int, float, str, type(None), dt.date)


class _Err:
    """An expression that failed for some input (its message, for the problem)."""

    __slots__ = ("zh",)

    def __init__(self, zh: str):
        self.zh = zh


class _Memo:
    """Remembered results of one expression, keyed by the values it references (and '.', if used)."""

    __slots__ = ("refs", "uses_current", "cache")

    def __init__(self, expr: Any):
        exprs = expr.exprs if isinstance(expr, _AllOf) else (expr,)
        self.refs = tuple(sorted(set().union(*(e.references for e in exprs))))
        self.uses_current = any(e.uses_current for e in exprs)
        self.cache: dict = {}


class Validator:
    """Validates records of one form.  Build once, call :meth:`validate_many` on batches."""

    def __init__(self, form: Form, context: ValidationContext | None = None):
        self.form = form
        self.context = context or ValidationContext()
        self._plans = _plans(form.fields)
        lists = {cl.name: cl.names() for cl in form.choice_lists}
        rows = {cl.name: {c.name: {"name": c.name, **dict(c.filters)} for c in cl.choices}
                for cl in form.choice_lists}
        for p in self._iter_plans(self._plans):
            if p.f.choices:
                p.choices = lists.get(p.f.choices)
                if p.f.choice_filter:
                    p.choice_filter = compile_expression(p.f.choice_filter)
                    p.choice_rows = rows.get(p.f.choices)
        self._known = {p.name for p in self._plans}
        self._flat = not any(p.is_repeat for p in self._plans)   # no repeats: the columnar path applies
        self._memos: dict[int, _Memo] = {}
        self._prebuilt: dict[int, Any] = {}   # id(geometry dict) → shapely geometry, within one batch
        self._date_cache: dict[str, Any] = {}
        self._multi_cache: dict[tuple, tuple | None] = {}
        self._township_fields = [p.name for p in self._iter_plans(self._plans) if p.division is Division.TOWNSHIP]
        self._boundary = None
        if self.context.boundary is not None:
            import shapely
            self._boundary = self.context.boundary
            shapely.prepare(self._boundary)

    @staticmethod
    def _iter_plans(plans):
        for p in plans:
            yield p
            yield from Validator._iter_plans(p.children)

    # -- public ---------------------------------------------------------------------------------------
    def validate(self, record: Any, *, row: int | None = None) -> RecordResult:
        return self.validate_many([record], first_row=row)[0]

    def validate_many(self, records: Iterable[Any], *, first_row: int | None = None,
                      rows: Sequence[int] | None = None) -> list[RecordResult]:
        """Validate a batch.  Problems carry a row number: ``rows[i]`` when given (a file's own row
        numbers), else ``first_row + i`` when ``first_row`` is given, else none."""
        if not isinstance(records, list):
            records = list(records)
        if self._flat and len(records) >= COLUMNAR_MIN:
            # a batch allocates many small containers that all live on; the cyclic collector would
            # rescan every live object again and again meanwhile (no cycles are made here): pause it
            collect = gc.isenabled()
            gc.disable()
            try:
                return self._column_batch(records, first_row, rows).results()
            finally:
                if collect:
                    gc.enable()
        results: list[RecordResult] = []
        geoms: list[tuple[int, str, dict, dict]] = []  # (result index, path, label values, geojson)
        row_numbers: list[int | None] = []
        for i, rec in enumerate(records):
            row = rows[i] if rows is not None else (None if first_row is None else first_row + i)
            row_numbers.append(row)
            problems: list[Problem] = []
            if not isinstance(rec, Mapping):
                problems.append(problem(Code.RECORD_NOT_OBJECT, "", row=row))
                results.append(RecordResult({}, problems))
                continue
            out = self._record(rec, self._plans, "", {}, problems, row, len(results), geoms)
            if self.context.report_unknown_fields:
                for key in rec:
                    if key not in self._known and not str(key).startswith(("_", "meta")):
                        problems.append(problem(Code.UNKNOWN_FIELD, str(key), row=row, severity="warning",
                                                field=str(key)))
            results.append(RecordResult(out, problems))
        if geoms:
            self._check_geometries(geoms, results, row_numbers)
        return results

    def validate_columns(self, records: Iterable[Any], *, first_row: int | None = None,
                         rows: Sequence[int] | None = None) -> ColumnBatch:
        """:meth:`validate_many` column by column (see :class:`ColumnBatch`): the same values, problems
        and geometries, without a dict per record where the form allows the columnar path."""
        if not isinstance(records, list):
            records = list(records)
        if self._flat and len(records) >= COLUMNAR_MIN:
            collect = gc.isenabled()
            gc.disable()
            try:
                return self._column_batch(records, first_row, rows)
            finally:
                if collect:
                    gc.enable()
        results = self.validate_many(records, first_row=first_row, rows=rows)
        columns = {p.name: [r.record.get(p.name) for r in results] for p in self._plans}
        geometries = {p.name: [r.geometries.get(p.name) if r.geometries else None for r in results]
                      for p in self._plans if p.is_geometry}
        return ColumnBatch(columns, [r.problems for r in results], geometries)

    # -- the columnar path ----------------------------------------------------------------------------
    def _column_batch(self, records: list, first_row: int | None, rows: Sequence[int] | None) -> ColumnBatch:
        """Every slice of ``records`` through :meth:`_validate_columns`, joined: a slice's records stay in
        the CPU cache while every field passes over them."""
        if len(records) <= COLUMNAR_SLICE:
            return self._validate_columns(records, first_row, rows)
        parts = [self._validate_columns(records[s:s + COLUMNAR_SLICE], None if first_row is None else first_row + s,
                                        None if rows is None else rows[s:s + COLUMNAR_SLICE])
                 for s in range(0, len(records), COLUMNAR_SLICE)]
        first = parts[0]
        chain = itertools.chain.from_iterable
        return ColumnBatch({name: list(chain([part.columns[name] for part in parts])) for name in first.columns},
                           list(chain([part.problems for part in parts])),
                           {name: list(chain([part.geometries[name] for part in parts])) for name in first.geometries})

    def _validate_columns(self, records: list, first_row: int | None,
                          rows: Sequence[int] | None) -> ColumnBatch:
        """:meth:`_record`'s three passes, one field at a time over the whole batch (forms without repeats).

        Every record still meets its fields in document order, and a record's checks read only its own
        values, so each result (values, problems and their order) is exactly what :meth:`_record` gives;
        tests compare the two on mixed batches. The gain: one tight loop per field with the common types
        coerced inline, each expression evaluated once per distinct input (expressions are pure
        functions of the values they reference), and coordinates checked for the batch at once.
        """
        n = len(records)
        self._prebuilt.clear()
        row_numbers = [rows[i] if rows is not None else (None if first_row is None else first_row + i)
                       for i in range(n)]
        problems: list[list[Problem]] = [[] for _ in range(n)]
        live = [i for i, rec in enumerate(records) if type(rec) is dict or isinstance(rec, Mapping)]
        every = len(live) == n                     # the common case: column index = record index
        if len(live) < n:
            for i, rec in enumerate(records):
                if not isinstance(rec, Mapping):
                    problems[i].append(problem(Code.RECORD_NOT_OBJECT, "", row=row_numbers[i]))
        recs = [records[i] for i in live]
        probs = [problems[i] for i in live]       # aligned with recs (the same list objects)
        rn = [row_numbers[i] for i in live]
        m = len(recs)
        outcols: dict[str, list] = {}                # kept answers per field, aligned with ``records``
        refdate = self.context.reference_date
        cols: dict[str, list] = {}
        bad: dict[str, set[int]] = {}

        answers = _answer_columns(recs, [p.name for p in self._plans])
        for p in self._plans:  # pass 1: coerce
            name = p.name
            raw = answers[name]
            col, slow = self._coerce_column(p, raw)
            for k in slow:
                v = raw[k]
                if v is None or v == "" or (type(v) is float and v != v):  # NaN: an empty cell
                    col[k] = None
                    continue
                try:
                    col[k] = p.coerce(v)
                except _Invalid as e:
                    col[k] = None
                    bad.setdefault(name, set()).add(k)
                    probs[k].append(problem(e.code, name, row=rn[k], **p.label,
                                            **{kk: str(vv)[:60] for kk, vv in e.values.items()}))
            cols[name] = col

        def row_values(k: int) -> dict:
            return {nm: c[k] for nm, c in cols.items()}

        geoms: list[tuple[int, str, dict, dict]] = []
        for p in self._plans:  # pass 2, in document order
            name = p.name
            col = cols[name]
            act: Sequence[int] = range(m)
            if p.relevant is not None:
                keep = []
                for k, r in zip(act, self._eval_column(p.relevant, cols, act, None, refdate, row_values)):
                    if r is True:
                        keep.append(k)
                    elif r is False:
                        col[k] = None
                    else:  # an error: treated as relevant, as in _record
                        probs[k].append(problem(Code.EXPRESSION_FAILED, name, row=rn[k], detail=r.zh, **p.label))
                        keep.append(k)
                act = keep
            if p.calculation is not None:
                keep = []
                for k, r in zip(act, self._eval_column(p.calculation, cols, act, None, refdate, row_values,
                                                       boolean=False)):
                    if type(r) is _Err:
                        col[k] = None
                        probs[k].append(problem(Code.EXPRESSION_FAILED, name, row=rn[k], detail=r.zh, **p.label))
                        continue
                    if type(r) is float and r - r != 0:  # NaN/±inf: no JSON value
                        r = None
                    col[k] = r
                    keep.append(k)
                act = keep
            b = bad.get(name)
            if b:
                act = [k for k in act if k not in b]
            if type(act) is range and None not in col:   # every record answered (a C-level scan)
                present: Sequence[int] = act
            elif type(act) is range:
                present = [k for k, v in enumerate(col) if v is not None]
            else:
                present = [k for k in act if col[k] is not None]
            if len(present) < len(act) and (p.required or p.required_if is not None):
                for k in act:
                    if col[k] is None and (p.required if p.required_if is None
                                           else self._is_required(p, row_values(k), refdate)):
                        probs[k].append(self._required_problem(p, name, rn[k]))
            act = present
            if p.choices is not None and p.choice_filter is None and p.ftype is not FieldType.SELECT_MULTIPLE \
                    and all(type(col[k]) is str for k in act):
                ch = p.choices
                keep = [k for k in act if col[k] in ch]
                if len(keep) < len(act):
                    for k in act:
                        if col[k] not in ch:
                            probs[k].append(problem(Code.CHOICE_UNKNOWN, name, row=rn[k], value=str(col[k])[:40],
                                                    list_name=p.f.choices, **p.label))
                            col[k] = None
                act = keep
            elif p.choices is not None:
                keep = []
                ch = p.choices
                for k in act:
                    v = col[k]
                    if type(v) is list:
                        unknown = [x for x in v if x not in ch]
                        if unknown:
                            v = unknown[0]
                    else:
                        unknown = v not in ch
                    if unknown:
                        probs[k].append(problem(Code.CHOICE_UNKNOWN, name, row=rn[k], value=str(v)[:40],
                                                list_name=p.f.choices, **p.label))
                        col[k] = None
                        continue
                    if p.choice_filter is not None:
                        pr = self._check_choice_filter(p, name, rn[k], v, row_values(k), refdate)
                        if pr is not None:
                            probs[k].append(pr)
                            continue
                    keep.append(k)
                act = keep
            if p.max_length is not None:
                keep = []
                lim = p.max_length
                for k in act:
                    v = col[k]
                    if type(v) is str and len(v) > lim:
                        probs[k].append(problem(Code.TEXT_TOO_LONG, name, row=rn[k], length=len(v), limit=lim, **p.label))
                    else:
                        keep.append(k)
                act = keep
            if p.constraint is not None:
                keep = []
                res = self._eval_column(p.constraint, cols, act, col, refdate, row_values)
                keep = [k for k, r in zip(act, res) if r is True]
                if len(keep) < len(act):
                    for k, r in zip(act, res):
                        if r is False:
                            probs[k].append(self._constraint_problem(p, name, rn[k], col[k]))
                        elif r is not True:
                            probs[k].append(problem(Code.EXPRESSION_FAILED, name, row=rn[k], detail=r.zh, **p.label))
                act = keep
            if p.division is not None:
                keep = []
                tcols = [cols.get(t, [None] * m) for t in self._township_fields]
                seen_ok: set = set()
                for k in act:
                    v = col[k]
                    key = (v, *[c[k] for c in tcols]) if tcols else v
                    try:
                        if key in seen_ok:
                            keep.append(k)
                            continue
                    except TypeError:
                        key = None
                    pr = self._check_division(p, name, rn[k], v, dict(zip(self._township_fields, key[1:]))
                                              if tcols and key is not None else row_values(k))
                    if pr is None:
                        keep.append(k)
                        if key is not None:
                            seen_ok.add(key)
                    else:
                        probs[k].append(pr)
                act = keep
            oc = outcols[name] = [None] * n
            if p.is_geometry:
                for k in act:
                    v = col[k]
                    geoms.append((live[k], name, p.label, v))
                    oc[live[k]] = v
            elif p.is_date:
                iso = {d: d.isoformat() for d in {col[k] for k in act}}   # a batch holds few distinct dates
                if every:
                    for k in act:
                        oc[k] = iso[col[k]]
                else:
                    for k in act:
                        oc[live[k]] = iso[col[k]]
            elif every:
                if len(act) == n:
                    oc[:] = col
                else:
                    for k in act:
                        oc[k] = col[k]
            else:
                for k in act:
                    oc[live[k]] = col[k]

        if self.context.report_unknown_fields:
            known = self._known
            for k, rec in enumerate(recs):
                if not known.issuperset(rec):
                    for key in rec:
                        if key not in known and not str(key).startswith(("_", "meta")):
                            probs[k].append(problem(Code.UNKNOWN_FIELD, str(key), row=rn[k], severity="warning",
                                                    field=str(key)))
        geometries = {p.name: [None] * n for p in self._plans if p.is_geometry}
        try:
            if geoms:
                self._check_geometry_columns(geoms, outcols, problems, geometries, row_numbers)
        finally:
            self._prebuilt.clear()
        return ColumnBatch(outcols, problems, geometries)

    def _coerce_column(self, p: _Plan, raw: list) -> tuple[list, list[int]]:
        """The common cases of one field's answers coerced inline; the indices left for ``p.coerce`` (which
        raises the problem, exactly as in :meth:`_record`) come back in ``slow``."""
        ft = p.ftype
        S = _SLOW
        if ft is FieldType.TEXT or ft is FieldType.SELECT_ONE:
            col = [(v.strip() or None) if type(v) is str else (None if v is None else S) for v in raw]
        elif ft is FieldType.INTEGER:
            col = [v if type(v) is int else (None if v is None else S) for v in raw]
        elif ft is FieldType.DECIMAL:
            col = [v if type(v) is float and v - v == 0 else (None if v is None else S) for v in raw]
        elif ft is FieldType.DATE:
            dc = self._date_cache
            if len(dc) > _MEMO_LIMIT:
                dc.clear()
            col = [dc.get(v, S) if type(v) is str else (None if v is None else S) for v in raw]
            slow = [k for k, v in enumerate(col) if v is S]
            for k in slow:
                v = raw[k]
                if type(v) is str and v:
                    try:
                        dc[v] = _to_date(v)
                    except _Invalid:
                        pass
            return col, slow
        elif ft is FieldType.SELECT_MULTIPLE:  # remembered by the answer itself, its items' types included
            mc = self._multi_cache
            if len(mc) > _MEMO_LIMIT:
                mc.clear()
            col = []
            add = col.append
            for v in raw:
                if type(v) is list:
                    try:
                        r = mc.get((*v, *map(type, v)), S)
                    except TypeError:
                        r = S
                    add(S if r is S else (None if r is None else list(r)))
                else:
                    add(None if v is None else S)
            slow = [k for k, v in enumerate(col) if v is S] if S in col else []
            for k in slow:
                v = raw[k]
                if type(v) is list and v:
                    try:
                        r = _to_multi(v)
                        mc[(*v, *map(type, v))] = None if r is None else tuple(r)
                    except (_Invalid, TypeError):
                        pass
            return col, slow
        elif p.is_geometry:
            return self._geometry_column(p, raw, self._prebuilt)
        else:
            col = [None if v is None else S for v in raw]
        return col, [k for k, v in enumerate(col) if v is S] if S in col else []

    @staticmethod
    def _geometry_column(p: _Plan, raw: list, prebuilt: dict | None = None) -> tuple[list, list[int]]:
        """GeoJSON dicts of the field's type with plain [x, y] number pairs, checked for the whole batch
        in a few C-level passes; anything else (strings, tuples, 3-D points, bad numbers) goes the slow
        way, which says what is wrong. ``prebuilt``: gets the shapely geometry of each dict returned (by
        its id), built here from the coordinates already gathered, for the geometry check at the end."""
        import itertools

        import numpy as np

        gtype, depth = _GEOJSON_TYPES[p.ftype]
        col: list = [None] * len(raw)
        slow: list[int] = []
        cand: list[int] = []
        pts: list = []
        ends: list[int] = [0]         # where each line or ring ends in ``pts``
        parts: list[int] = [0]        # where each polygon's rings end in ``ends``
        for k, v in enumerate(raw):
            if v is None:
                continue
            if type(v) is not dict or v.get("type") != gtype:
                slow.append(k)
                continue
            c = v.get("coordinates")
            if depth == 0:
                pts.append(c)
            elif type(c) is not list or not c:
                slow.append(k)
                continue
            elif depth == 1:
                pts.extend(c)
                ends.append(len(pts))
            else:
                if len(c) == 1:   # one ring, the common case
                    r = c[0]
                    if type(r) is not list or not r:
                        slow.append(k)
                        continue
                    pts.extend(r)
                    ends.append(len(pts))
                else:
                    if not all(type(r) is list and r for r in c):
                        slow.append(k)
                        continue
                    for r in c:
                        pts.extend(r)
                        ends.append(len(pts))
                parts.append(len(ends) - 1)
            cand.append(k)
        if not cand:
            return col, slow
        ok = (set(map(type, pts)) == {list} and set(map(len, pts)) == {2}
              and set(map(type, itertools.chain.from_iterable(pts))) <= {float, int})
        arr = None
        if ok:
            try:   # every pair is a list of two ints or floats (checked above): read them flat
                arr = np.fromiter(itertools.chain.from_iterable(pts), dtype=float, count=2 * len(pts)).reshape(-1, 2)
                ok = bool(np.isfinite(arr).all())
            except (OverflowError, ValueError):
                ok = False
        if not ok:  # some coordinate is odd: every candidate the slow way (it names the problem)
            return col, sorted(slow + cand)
        for k in cand:  # the checked coordinate lists are shared with the input, not copied (never modified)
            col[k] = {"type": gtype, "coordinates": raw[k]["coordinates"]}
        if prebuilt is not None:
            shapes = _shapes_from_ragged(gtype, arr, ends, parts)
            if shapes is not None:
                for k, g in zip(cand, shapes.tolist()):
                    prebuilt[id(col[k])] = g
        return col, slow

    def _eval_column(self, expr: Any, cols: Mapping[str, list], act: Sequence[int], current: list | None,
                     refdate: dt.date, row_values: Callable[[int], dict], *, boolean: bool = True) -> list:
        """``expr`` for the records ``act``: a value (True/False when ``boolean``) or an :class:`_Err` each.

        An expression reads only the values it references (and '.'), so it is evaluated once per distinct
        combination of them and the result reused. Remembered results are kept apart by the inputs'
        types (1, 1.0 and True differ); a result that is not an immutable scalar is never shared."""
        memo = self._memos.get(id(expr))
        if memo is None:
            memo = self._memos[id(expr)] = _Memo(expr)
        m = len(next(iter(cols.values()))) if cols else 0
        full = isinstance(act, range) and len(act) == m
        refcols = [cols.get(r) or [None] * m for r in memo.refs]
        if current is not None and memo.uses_current:
            refcols.append(current)
        sel, sig = [], []
        for c in refcols:
            xs = c if full else [c[k] for k in act]
            ts = set(map(type, xs))
            ts.discard(type(None))
            t = ts.pop() if len(ts) == 1 else (None if not ts else _MIXED)
            if t is list:   # select_multiple answers: tuples of text
                if not set(map(type, itertools.chain.from_iterable(x for x in xs if x is not None))) <= {str}:
                    t = _MIXED
                else:
                    xs = [None if x is None else tuple(x) for x in xs]
            elif t is not None and t is not _MIXED and t not in _IMMUTABLE:
                t = _MIXED
            if t is _MIXED:
                return self._eval_rows(expr, refcols, act, current, refdate, row_values, boolean)
            sel.append(xs)
            sig.append(t)
        if not sel:
            keys: list = [()] * len(act)
        else:
            keys = sel[0] if len(sel) == 1 else list(zip(*sel))
        cache = memo.cache.get(tuple(sig))
        if cache is None or len(cache) > _MEMO_LIMIT:
            cache = memo.cache[tuple(sig)] = {}
        elif cache:
            try:   # the usual case after the first records: every input seen before
                return list(map(cache.__getitem__, keys))
            except KeyError:
                pass
        rep = dict(zip(keys, act))      # one record for each distinct input
        per_row = False
        for key in rep.keys() - cache.keys():
            k = rep[key]
            r = self._eval_one(expr, row_values(k), None if current is None else current[k], refdate, boolean)
            if type(r) in _IMMUTABLE or type(r) is _Err:
                cache[key] = r
            else:
                per_row = True
        if per_row:  # some result is a list or the like: those records get their own evaluation
            return [cache[key] if key in cache else
                    self._eval_one(expr, row_values(k), None if current is None else current[k], refdate, boolean)
                    for key, k in zip(keys, act)]
        return list(map(cache.__getitem__, keys))

    def _eval_rows(self, expr: Any, refcols: list[list], act: Sequence[int], current: list | None,
                   refdate: dt.date, row_values: Callable[[int], dict], boolean: bool) -> list:
        """Record by record, remembering by (type, value) keys (a column mixing types, or unhashable values)."""
        cache = self._memos[id(expr)].cache.setdefault("rows", {})
        if len(cache) > _MEMO_LIMIT:
            cache.clear()
        res = []
        add = res.append
        for k in act:
            parts = [c[k] for c in refcols]
            key = tuple([(x.__class__, (*map(type, x), *x) if x.__class__ is list else x) for x in parts])
            try:
                r = cache.get(key, _MISS)
            except TypeError:  # an unhashable value: evaluate without remembering
                key, r = None, _MISS
            if r is _MISS:
                r = self._eval_one(expr, row_values(k), None if current is None else current[k], refdate, boolean)
                if key is not None and (type(r) in _IMMUTABLE or type(r) is _Err):
                    cache[key] = r
            add(r)
        return res

    @staticmethod
    def _eval_one(expr: Any, values: dict, current: Any, refdate: dt.date, boolean: bool) -> Any:
        try:
            r = _fast_eval(expr, values, current, refdate)
            if boolean and r is not True and r is not False:
                r = to_boolean(r)
            return r
        except ExpressionError as e:
            return _Err(e.message_zh)


    # -- internals ------------------------------------------------------------------------------------
    def _record(self, rec: Mapping, plans: list[_Plan], prefix: str, outer: Mapping, problems: list[Problem],
                row: int | None, index: int, geoms: list) -> dict:
        """One record (or one repeat instance, with the record's values visible as ``outer``).

        Pass 1 coerces every answer; repeats get a provisional nodeset so that ``count(${x})`` works
        anywhere.  Pass 2 walks the fields in document order as ODK does: skip logic first (an
        irrelevant answer is cleared and never validated, a skipped repeat's entries included), then
        calculations, then required, code lists, length, constraint, division and geometry checks.
        """
        refdate = self.context.reference_date
        values: dict[str, Any] = dict(outer) if outer else {}
        get = rec.get
        bad: set[str] = set()
        for p in plans:  # pass 1
            name = p.name
            raw = get(name)
            if p.is_repeat:
                if isinstance(raw, list):
                    for c in p.descendants:
                        values[c.name] = [_lenient(c, i.get(c.name)) if isinstance(i, Mapping) else None
                                          for i in raw]
                continue
            if raw is None or raw == "" or (type(raw) is float and raw != raw):  # NaN: an empty cell
                values[name] = None
                continue
            try:
                values[name] = p.coerce(raw)
            except _Invalid as e:
                values[name] = None
                bad.add(name)
                problems.append(problem(e.code, prefix + name, row=row, **p.label,
                                        **{k: str(v)[:60] for k, v in e.values.items()}))
        out: dict[str, Any] = {}
        for p in plans:  # pass 2
            name = p.name
            if p.relevant is not None:
                try:
                    relevant = _fast_eval(p.relevant, values, None, refdate)
                    if relevant is not True and relevant is not False:
                        relevant = to_boolean(relevant)
                except ExpressionError as e:
                    relevant = True
                    problems.append(problem(Code.EXPRESSION_FAILED, prefix + name, row=row, detail=e.message_zh,
                                            **p.label))
                if not relevant:
                    values[name] = None
                    for c in p.descendants:
                        values[c.name] = []
                    continue
            if p.calculation is not None:
                try:
                    calc = _fast_eval(p.calculation, values, None, refdate)
                    if type(calc) is float and calc - calc != 0:  # NaN/±inf (e.g. 0 div 0): no JSON value
                        calc = None
                    values[name] = calc
                except ExpressionError as e:
                    values[name] = None
                    problems.append(problem(Code.EXPRESSION_FAILED, prefix + name, row=row, detail=e.message_zh,
                                            **p.label))
                    continue
            if name in bad:
                continue
            if p.is_repeat:
                out[name] = self._repeat(p, get(name), prefix, values, problems, row, index, geoms)
                continue
            v = values[name]
            if v is None:
                if (p.required or p.required_if is not None) and self._is_required(p, values, refdate):
                    problems.append(self._required_problem(p, prefix + name, row))
                continue
            if p.choices is not None:
                if type(v) is list:
                    unknown = [x for x in v if x not in p.choices]
                    if unknown:
                        v = unknown[0]
                elif v not in p.choices:
                    unknown = True
                else:
                    unknown = False
                if unknown:
                    problems.append(problem(Code.CHOICE_UNKNOWN, prefix + name, row=row, value=str(v)[:40],
                                            list_name=p.f.choices, **p.label))
                    values[name] = None
                    continue
                if p.choice_filter is not None:
                    pr = self._check_choice_filter(p, prefix + name, row, v, values, refdate)
                    if pr is not None:
                        problems.append(pr)
                        continue
            if p.max_length is not None and type(v) is str and len(v) > p.max_length:
                problems.append(problem(Code.TEXT_TOO_LONG, prefix + name, row=row, length=len(v),
                                        limit=p.max_length, **p.label))
                continue
            if p.constraint is not None:
                try:
                    ok = _fast_eval(p.constraint, values, v, refdate)
                    if ok is not True and ok is not False:
                        ok = to_boolean(ok)
                except ExpressionError as e:
                    problems.append(problem(Code.EXPRESSION_FAILED, prefix + name, row=row, detail=e.message_zh,
                                            **p.label))
                    continue
                if not ok:
                    problems.append(self._constraint_problem(p, prefix + name, row, v))
                    continue
            if p.division is not None:
                pr = self._check_division(p, prefix + name, row, v, values)
                if pr is not None:
                    problems.append(pr)
                    continue
            if p.is_geometry:
                geoms.append((index, prefix + name, p.label, v))
            elif p.is_date:
                v = v.isoformat()
            out[name] = v
        return out

    def _repeat(self, p: _Plan, raw: Any, prefix: str, values: dict, problems: list[Problem], row: int | None,
                index: int, geoms: list) -> list[dict]:
        name = p.name
        if raw is None or raw == "" or raw == []:
            raw = []
        if not isinstance(raw, list):
            problems.append(problem(Code.REPEAT_NOT_LIST, prefix + name, row=row, **p.label))
            for c in p.descendants:
                values[c.name] = []
            return []
        instances = []
        for j, inst in enumerate(raw):
            path = f"{prefix}{name}[{j + 1}]."
            if not isinstance(inst, Mapping):
                problems.append(problem(Code.RECORD_NOT_OBJECT, path.rstrip("."), row=row))
                continue
            instances.append(self._record(inst, p.children, path, values, problems, row, index, geoms))
        for c in p.descendants:  # the validated nodesets replace the provisional ones
            values[c.name] = [inst.get(c.name) for inst in instances]
        n = len(instances)
        if p.f.repeat_min is not None and n < p.f.repeat_min:
            problems.append(problem(Code.REPEAT_MIN, prefix + name, row=row, min=p.f.repeat_min, count=n, **p.label))
        elif n == 0 and (p.required or p.required_if is not None) and self._is_required(
                p, values, self.context.reference_date):
            problems.append(problem(Code.REPEAT_MIN, prefix + name, row=row, min=1, count=0, **p.label))
        if p.f.repeat_max is not None and n > p.f.repeat_max:
            problems.append(problem(Code.REPEAT_MAX, prefix + name, row=row, max=p.f.repeat_max, count=n, **p.label))
        return instances

    @staticmethod
    def _check_choice_filter(p: _Plan, path: str, row: int | None, v: Any, values: Mapping,
                             refdate: dt.date) -> Problem | None:
        """A chosen option must be one the form's choice filter offers for this record (ODK only shows
        those; a spreadsheet or another tool can still send any code)."""
        for x in (v if type(v) is list else (v,)):
            try:
                offered = to_boolean(p.choice_filter.evaluate(values, p.choice_rows.get(x, {"name": x}),
                                                           reference_date=refdate))
            except ExpressionError as e:
                return problem(Code.EXPRESSION_FAILED, path, row=row, detail=e.message_zh, **p.label)
            if not offered:
                return problem(Code.CHOICE_NOT_OFFERED, path, row=row, value=str(x)[:40], **p.label)
        return None

    @staticmethod
    def _is_required(p: _Plan, values: Mapping, refdate: dt.date) -> bool:
        if p.required_if is None:
            return p.required
        try:
            return to_boolean(p.required_if.evaluate(values, None, reference_date=refdate))
        except ExpressionError:
            return True  # a broken rule must not let an empty answer through silently

    @staticmethod
    def _required_problem(p: _Plan, path: str, row: int | None) -> Problem:
        msg = p.f.required_message
        if msg:
            return Problem(Code.REQUIRED, path, f"“{p.f.label.zh}”：{msg.zh}", f"'{p.f.label.en}': {msg.en}", row=row)
        return problem(Code.REQUIRED, path, row=row, **p.label)

    def _constraint_problem(self, p: _Plan, path: str, row: int | None, value: Any) -> Problem:
        c = p.f.constraint
        code = Code(c.code) if c.code in Code.__members__ else Code.CONSTRAINT
        if c.message is not None:  # the form's own words, prefixed with the field label
            return Problem(code, path, f"“{p.f.label.zh}”{c.message.zh}（当前值：{_show(value)}）",
                           f"'{p.f.label.en}' {c.message.en} (value: {_show(value)})", row=row)
        return problem(code, path, row=row, **p.label)

    def _check_division(self, p: _Plan, path: str, row: int | None, code: str, values: Mapping) -> Problem | None:
        level = p.division
        if len(code) != level.digits or not code.isdigit():
            return problem(Code.DIVISION_CODE, path, row=row, digits=level.digits, value=code[:20], **p.label)
        county = self.context.county_code
        if county and not code.startswith(county):
            return problem(Code.DIVISION_OUTSIDE, path, row=row, value=code, county=county, **p.label)
        if self.context.divisions is not None and self.context.divisions.contains(level, code) is False:
            return problem(Code.DIVISION_UNKNOWN, path, row=row, value=code, **p.label)
        if level is Division.VILLAGE:  # a village lies in the record's own township
            for tname in self._township_fields:
                town = values.get(tname)
                if isinstance(town, str) and len(town) == 9 and not code.startswith(town):
                    return problem(Code.DIVISION_MISMATCH, path, row=row, value=code, township=town, **p.label)
        return None

    def _valid_and_inside(self, shapes):
        """(valid, good) boolean arrays: each shape valid, and valid and inside the county (or China)."""
        import shapely

        valid = shapely.is_valid(shapes)
        if self._boundary is not None:
            inside = shapely.covers(self._boundary, shapes)
        else:
            b = shapely.bounds(shapes)
            inside = ((b[:, 0] >= CHINA_BOUNDS[0]) & (b[:, 1] >= CHINA_BOUNDS[1]) &
                      (b[:, 2] <= CHINA_BOUNDS[2]) & (b[:, 3] <= CHINA_BOUNDS[3]))
        return valid, valid & inside

    def _check_geometries(self, geoms: list, results: list[RecordResult], row_numbers: list[int | None]) -> None:
        """Validity and extent for every geometry of the batch in a few vectorised shapely calls."""
        import numpy as np

        shapes = _shapes([g[3] for g in geoms])
        valid, good = self._valid_and_inside(shapes)
        for k in np.flatnonzero(good).tolist():
            res = results[geoms[k][0]]
            if res.geometries is None:
                res.geometries = {}
            res.geometries[geoms[k][1]] = shapes[k]
        for k in np.flatnonzero(~good):
            idx, path, label, _ = geoms[k]
            row = row_numbers[idx]
            pr = _geometry_problem(shapes[k], bool(valid[k]), path, row, label)
            res = results[idx]
            res.problems.append(pr)
            _drop_path(res.record, path)


    def _check_geometry_columns(self, geoms: list, columns: dict[str, list], problems: list[list[Problem]],
                                geometries: dict[str, list], row_numbers: list[int | None]) -> None:
        """:meth:`_check_geometries` for the columnar path: a good geometry's shape goes into
        ``geometries``, a bad one gets its problem and leaves ``columns`` (as the record loses it)."""
        import numpy as np

        pre = self._prebuilt
        if pre and all(id(g[3]) in pre for g in geoms):   # built in pass 1 from the same coordinates
            shapes = np.empty(len(geoms), dtype=object)
            shapes[:] = [pre[id(g[3])] for g in geoms]
        else:
            shapes = _shapes([g[3] for g in geoms])
        valid, good = self._valid_and_inside(shapes)
        if good.all() and len({g[1] for g in geoms}) == 1:
            name = geoms[0][1]
            out = geometries[name]
            for g, shape in zip(geoms, shapes.tolist()):
                out[g[0]] = shape
            return
        for k in np.flatnonzero(good).tolist():
            geometries[geoms[k][1]][geoms[k][0]] = shapes[k]
        for k in np.flatnonzero(~good):
            idx, path, label, _ = geoms[k]
            row = row_numbers[idx]
            pr = _geometry_problem(shapes[k], bool(valid[k]), path, row, label)
            problems[idx].append(pr)
            columns[path][idx] = None


def _geometry_problem(shape, valid: bool, path: str, row: int | None, label: Mapping) -> Problem:
    """The problem of a geometry that failed :meth:`Validator._valid_and_inside`."""
    if not valid:
        import shapely

        reason = shapely.is_valid_reason(shape) if shape is not None else "点数不足 / too few points"
        return problem(Code.GEOMETRY_INVALID, path, row=row, detail=str(reason)[:80], **label)
    return problem(Code.GEOMETRY_OUTSIDE, path, row=row, **label)


def _answer_columns(recs: list, names: list[str]) -> dict[str, list]:
    """``{name: [r.get(name) for r in recs]}`` for every name, fast when records share their keys: records
    with the same keys in the same order (a few such groups per batch, typically) give their values in one
    C-level transposition per group, put back in record order."""
    n = len(recs)
    groups: dict[tuple, list[int]] = {}
    if all(type(r) is dict for r in recs):
        shapes = list(map(tuple, recs))
        if n and shapes.count(shapes[0]) == n:   # one shape for all (the usual case): no loop
            groups[shapes[0]] = []
        else:
            for k, keys in enumerate(shapes):
                groups.setdefault(keys, []).append(k)
    if not groups or len(groups) > 8:
        return {name: [r.get(name) for r in recs] for name in names}
    if len(groups) == 1:
        (keys, _), = groups.items()
        cols = dict(zip(keys, zip(*map(dict.values, recs))))
        return {name: list(cols[name]) if name in cols else [None] * n for name in names}
    import numpy as np

    out = {name: np.full(n, None, dtype=object) for name in names}
    for keys, idx in groups.items():
        values = dict(zip(keys, zip(*[recs[k].values() for k in idx])))
        at = np.asarray(idx)
        for name in names:
            col = values.get(name)
            if col is not None:   # one object per record, whatever it holds (lists stay elements)
                out[name][at] = np.fromiter(col, dtype=object, count=len(idx))
    return {name: col.tolist() for name, col in out.items()}


def _shapes_from_ragged(gtype: str, arr, ends: list[int], parts: list[int]):
    """Shapely geometries of one type from gathered coordinates (as :func:`_shapes` builds them), or None
    when GEOS refuses one of them (then :func:`_shapes` builds them one by one)."""
    import numpy as np
    import shapely
    from shapely import GeometryType

    try:
        if gtype == "Point":
            return shapely.points(arr)
        if gtype == "LineString":
            return shapely.from_ragged_array(GeometryType.LINESTRING, arr, (np.asarray(ends),))
        return shapely.from_ragged_array(GeometryType.POLYGON, arr, (np.asarray(ends), np.asarray(parts)))
    except (ValueError, shapely.errors.GEOSException):
        return None


def _shapes(geojsons: list[dict]):
    """Shapely geometries for normalised GeoJSON dicts, built per type from ragged arrays (one C call
    per type, not one per geometry).  A geometry GEOS cannot even build becomes None (→ invalid)."""
    import numpy as np
    import shapely
    from shapely import GeometryType

    out = np.empty(len(geojsons), dtype=object)
    by_type: dict[str, list[int]] = {"Point": [], "LineString": [], "Polygon": []}
    for i, g in enumerate(geojsons):
        by_type[g["type"]].append(i)
    if by_type["Point"]:
        idx = by_type["Point"]
        out[idx] = shapely.points(np.array([geojsons[i]["coordinates"] for i in idx], dtype=float))
    for gtype, kind in (("LineString", GeometryType.LINESTRING), ("Polygon", GeometryType.POLYGON)):
        idx = by_type[gtype]
        if not idx:
            continue
        try:
            coords, offsets = [], [[0], [0]]
            for i in idx:
                c = geojsons[i]["coordinates"]
                rings = [c] if gtype == "LineString" else c
                for ring in rings:
                    coords.extend(ring)
                    offsets[0].append(len(coords))
                offsets[1].append(len(offsets[0]) - 1)
            arr = np.array(coords, dtype=float)
            offs = (np.array(offsets[0]),) if gtype == "LineString" else (np.array(offsets[0]), np.array(offsets[1]))
            out[idx] = shapely.from_ragged_array(kind, arr, offs)
        except (ValueError, shapely.errors.GEOSException):  # e.g. a ring of 3 points: build one by one
            for i in idx:
                try:
                    out[i] = shapely.geometry.shape(geojsons[i])
                except (ValueError, shapely.errors.GEOSException):
                    out[i] = None
    return out


def _drop_path(record: dict, path: str) -> None:
    """Remove an answer found bad after the fact (geometries are checked in bulk at the end)."""
    parts = re.split(r"\.", path)
    node: Any = record
    for part in parts[:-1]:
        m = re.match(r"^(\w+)\[(\d+)\]$", part)
        if not m or not isinstance(node, dict):
            return
        lst = node.get(m[1])
        if not isinstance(lst, list) or int(m[2]) - 1 >= len(lst):
            return
        node = lst[int(m[2]) - 1]
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def _show(v: Any) -> str:
    if isinstance(v, list):
        return " ".join(map(str, v))[:40]
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)[:40]


def validate_records(form: Form, records: Iterable[Any], context: ValidationContext | None = None,
                     *, first_row: int = 1) -> list[RecordResult]:
    return Validator(form, context).validate_many(records, first_row=first_row)
