"""Widget-independent logic of the desktop app: plain functions over the form model and store rows.

Nothing here imports Qt, so all of it is testable (and reusable) without a display:

* :func:`evaluate_form` — skip logic and calculations for the values an editor currently holds, the
  way the validator (and ODK) read them: which field paths are relevant, and every calculated value.
* :func:`problems_by_path` — the validator's problems keyed by field path (``members[2].member_age``).
* :func:`record_rows` / :func:`filter_rows` / :func:`sort_rows` — the records table as plain rows.
* :func:`village_progress` — completeness per village: footprints filled / assigned.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from schemas.expressions import ExpressionError, compile_expression, to_boolean
from schemas.model import Field, FieldType, Form

from .styles import STATUS_STYLES

HOUSE_FORMS = ("rural_house", "urban_house")

# Display states of a row in the records table (a record's store status, plus "exported" and "todo").
STATUS_TODO = "todo"            # a work-map footprint nobody has filled yet
STATUS_EXPORTED = "exported"    # final and written to a return package
STATUS_ORDER = ("has_issues", "conflict", "rejected", "draft", STATUS_TODO, "final", STATUS_EXPORTED)
STATUS_TEXT = {k: (st.zh, st.en) for k, st in STATUS_STYLES.items()}


def status_text(status: str, lang: str = "zh") -> str:
    zh, en = STATUS_TEXT.get(status, (status, status))
    return en if lang == "en" else zh


# ---------------------------------------------------------------------------------------------------
# Skip logic and calculations

@dataclass
class FormState:
    """What the editor should show for the current values."""

    relevant: dict[str, bool] = field(default_factory=dict)   # field path → shown?
    calculated: dict[str, Any] = field(default_factory=dict)  # field path → value (None when empty)
    errors: dict[str, str] = field(default_factory=dict)      # path → a broken expression's message




@dataclass
class _Compiled:
    relevant: dict[str, Any]
    calculation: dict[str, Any]


_CACHE: dict[tuple[str, str], _Compiled] = {}


def _compiled(form: Form) -> _Compiled:
    key = (form.id, form.version)
    c = _CACHE.get(key)
    if c is None or len(_CACHE) > 256:
        rel, calc = {}, {}
        for f in form.walk():
            if f.relevant:
                rel[f.name] = compile_expression(f.relevant)
            if f.calculation:
                calc[f.name] = compile_expression(f.calculation)
        c = _CACHE[key] = _Compiled(rel, calc)
    return c


def _is_empty(v: Any) -> bool:
    return v is None or v == "" or v == []


def _expr_value(v: Any) -> Any:
    """An editor value as the expression engine reads it (dates stay dates; empty is None)."""
    return None if _is_empty(v) else v


def _repeat_nodesets(fields: Sequence[Field], values: Mapping[str, Any], out: dict[str, Any]) -> None:
    """For each repeat, each descendant's values across its entries (XPath nodesets, as the validator)."""
    for f in fields:
        if f.type is FieldType.GROUP:
            _repeat_nodesets(f.children, values, out)
        elif f.type is FieldType.REPEAT:
            entries = values.get(f.name) or []
            for c in f.walk():
                if c is f or c.type.is_container:
                    continue
                out[c.name] = [_expr_value(e.get(c.name)) if isinstance(e, Mapping) else None for e in entries]


def evaluate_form(form: Form, values: Mapping[str, Any], *, reference_date: dt.date | None = None) -> FormState:
    """Skip logic and calculations over an editor's values (a flat dict; repeats are lists of dicts).

    A field whose ``relevant`` is false — or that sits in a group whose ``relevant`` is false — is not
    relevant; nor are its descendants.  Calculations are evaluated in document order, so a calculation
    can read one above it.  Paths: ``name`` at the top level, ``repeat[i].name`` (1-based) inside a repeat.
    A broken expression never hides a field (it stays shown, and the error is reported).
    """
    comp = _compiled(form)
    kw = {"reference_date": reference_date} if reference_date else {}
    state = FormState()
    scope: dict[str, Any] = {k: _expr_value(v) for k, v in values.items() if not isinstance(v, list)
                             or not v or not isinstance(v[0], Mapping)}
    _repeat_nodesets(form.fields, values, scope)

    def visit(fields: Sequence[Field], scope: dict[str, Any], prefix: str, shown: bool) -> None:
        for f in fields:
            path = prefix + f.name
            rel = shown
            if rel and f.name in comp.relevant:
                try:
                    rel = to_boolean(comp.relevant[f.name].evaluate(scope, None, **kw))
                except ExpressionError as e:
                    state.errors[path] = e.message_zh
                    rel = True
            state.relevant[path] = rel
            if not rel:
                if f.type.holds_value and not f.type.is_container:
                    scope[f.name] = None
            if f.name in comp.calculation:
                value = None
                if rel:
                    try:
                        value = comp.calculation[f.name].evaluate(scope, None, **kw)
                    except ExpressionError as e:
                        state.errors[path] = e.message_zh
                    if isinstance(value, float) and not math.isfinite(value):
                        value = None
                scope[f.name] = value
                state.calculated[path] = value
            if f.type is FieldType.GROUP:
                visit(f.children, scope, prefix, rel)
            elif f.type is FieldType.REPEAT:
                entries = values.get(f.name) or [] if not prefix else []
                for i, entry in enumerate(entries):
                    inner = dict(scope)
                    inner.update({k: _expr_value(v) for k, v in (entry or {}).items()})
                    visit(f.children, inner, f"{path}[{i + 1}].", rel)

    visit(form.fields, scope, "", True)
    return state


def clear_irrelevant(form: Form, values: dict[str, Any], state: FormState) -> list[str]:
    """Clear answers of fields that are not relevant (ODK does the same on submit).  Returns the paths
    cleared, so an editor can blank their widgets too."""
    cleared = []

    def visit(fields: Sequence[Field], vals: dict[str, Any], prefix: str) -> None:
        for f in fields:
            path = prefix + f.name
            if f.type is FieldType.GROUP:
                visit(f.children, vals, prefix)
                continue
            if not state.relevant.get(path, True):
                if not _is_empty(vals.get(f.name)):
                    cleared.append(path)
                vals[f.name] = [] if f.type is FieldType.REPEAT else None
                continue
            if f.type is FieldType.REPEAT:
                for i, entry in enumerate(vals.get(f.name) or []):
                    if isinstance(entry, dict):
                        visit(f.children, entry, f"{path}[{i + 1}].")

    visit(form.fields, values, "")
    return cleared


# ---------------------------------------------------------------------------------------------------
# Problems → fields

def problems_by_path(problems: Iterable[Any], *, lang: str = "zh", skip_codes: Iterable[str] = ()) -> dict[str, list[str]]:
    """Problem messages grouped by field path, in the chosen language (Chinese by default)."""
    skip = {str(getattr(c, "value", c)) for c in skip_codes}
    out: dict[str, list[str]] = {}
    for p in problems:
        code = str(getattr(p.code, "value", p.code))
        if code in skip:
            continue
        msg = p.message_en if lang == "en" else p.message_zh
        out.setdefault(p.path or "", []).append(msg)
    return out


def to_record(form: Form, values: Mapping[str, Any]) -> dict:
    """Editor values → a record dict for the store: empty answers dropped, dates as ISO text."""
    def conv(v: Any) -> Any:
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items() if not _is_empty(x)}
        return v

    return {k: conv(v) for k, v in values.items() if not _is_empty(v)}


# ---------------------------------------------------------------------------------------------------
# The records table, as plain rows

COLUMNS = ("key", "village", "status", "errors", "updated_at")
COLUMN_TITLES = {"key": ("编号", "ID"), "village": ("行政村", "Village"), "status": ("状态", "Status"),
                 "errors": ("问题", "Issues"), "updated_at": ("更新时间", "Updated")}


@dataclass(slots=True)
class Row:
    """One line of the records table."""

    record_uuid: str | None     # None: a work-map footprint not filled yet
    key: str
    village: str
    status: str
    errors: int
    updated_at: str
    form_id: str
    building_id: str | None = None
    search: str = ""            # lower-case text the search box matches

    def value(self, column: str) -> Any:
        return getattr(self, column)


_LOCAL: dict[str, str] = {}


def local_minute(stamp: str) -> str:
    """A stored UTC timestamp ('2021-06-01T08:00:00.000Z') as local 'YYYY-MM-DD HH:MM' (cached per minute)."""
    key = stamp[:16]
    out = _LOCAL.get(key)
    if out is None:
        try:
            t = dt.datetime.fromisoformat(key).replace(tzinfo=dt.timezone.utc).astimezone()
            out = t.strftime("%Y-%m-%d %H:%M")
        except ValueError:
            out = key.replace("T", " ")
        if len(_LOCAL) < 100_000:
            _LOCAL[key] = out
    return out


def display_status(rec: Mapping[str, Any]) -> str:
    status = rec.get("status") or "draft"
    if status == "final" and rec.get("exported_seq"):
        return STATUS_EXPORTED
    return status


def record_rows(records: Iterable[Mapping[str, Any]], form_id: str, *, workmap: Sequence[Mapping[str, Any]] = (),
                village_names: Mapping[str, str] | None = None, lang: str = "zh") -> list[Row]:
    """Rows for a form's table: its records (``TownshipStore.records`` dicts) and, for house forms,
    every work-map footprint of the right kind that has no record yet (status ``todo``)."""
    names = village_names or {}
    by_building = {w["building_id"]: w for w in workmap}
    rows: list[Row] = []
    seen: set[str] = set()
    for r in records:
        key = r.get("key") or ""
        w = by_building.get(key)
        village_code = (w or {}).get("village_code") or ""
        village = names.get(village_code, village_code)
        status = display_status(r)
        upd = local_minute(r.get("updated_at") or "")
        rows.append(Row(r["record_uuid"], key, village, status, int(r.get("error_count") or 0), upd, form_id,
                        key if w else None, f"{key} {village} {status_text(status, lang)}".lower()))
        seen.add(key)
    if form_id in HOUSE_FORMS:
        urban = form_id == "urban_house"
        for w in workmap:
            if w["building_id"] in seen or bool(w.get("urban")) != urban:
                continue
            village = names.get(w.get("village_code") or "", w.get("village_code") or "")
            rows.append(Row(None, w["building_id"], village, STATUS_TODO, 0, "", form_id, w["building_id"],
                            f"{w['building_id']} {village} {status_text(STATUS_TODO, lang)}".lower()))
    return rows


def filter_rows(rows: Sequence[Row], text: str = "", statuses: Iterable[str] | None = None, *,
                order: Sequence[int] | None = None) -> list[int]:
    """Indexes of the rows whose text contains every word of ``text`` (any case) and whose status is
    one of ``statuses`` (all when None), in ``order`` (default: row order)."""
    words = text.lower().split()
    wanted = set(statuses) if statuses is not None else None
    idx = range(len(rows)) if order is None else order
    if not words and wanted is None:
        return list(idx)
    if wanted is not None:
        idx = [i for i in idx if rows[i].status in wanted]
    if len(words) == 1:
        w = words[0]
        return [i for i in idx if w in rows[i].search]
    return [i for i in idx if all(w in rows[i].search for w in words)]


def sort_rows(rows: Sequence[Row], indexes: list[int], column: str, descending: bool = False) -> list[int]:
    if column == "status":
        order = {s: i for i, s in enumerate(STATUS_ORDER)}
        return sorted(indexes, key=lambda i: (order.get(rows[i].status, 99), rows[i].key), reverse=descending)
    return sorted(indexes, key=lambda i: getattr(rows[i], column), reverse=descending)


# ---------------------------------------------------------------------------------------------------
# Completeness per village

@dataclass(frozen=True)
class VillageProgress:
    code: str
    name: str
    assigned: int
    filled: int      # footprints with a complete (non-draft) house record
    drafts: int      # footprints with only a draft

    @property
    def fraction(self) -> float:
        return self.filled / self.assigned if self.assigned else 0.0


def village_progress(workmap: Sequence[Mapping[str, Any]], house_records: Iterable[Mapping[str, Any]],
                     village_names: Mapping[str, str] | None = None) -> list[VillageProgress]:
    """Footprints filled / assigned per village (a footprint counts once, whichever house form)."""
    names = village_names or {}
    state: dict[str, str] = {}
    for r in house_records:
        key = r.get("key")
        if not key:
            continue
        done = (r.get("status") or "draft") != "draft"
        if done or key not in state:
            state[key] = "done" if done else "draft"
    per: dict[str, list[int]] = {}
    for w in workmap:
        v = w.get("village_code") or ""
        c = per.setdefault(v, [0, 0, 0])
        c[0] += 1
        s = state.get(w["building_id"])
        if s == "done":
            c[1] += 1
        elif s == "draft":
            c[2] += 1
    return [VillageProgress(code, names.get(code, code), *counts) for code, counts in sorted(per.items())]


def village_names(enrolment: Mapping[str, Any]) -> dict[str, str]:
    """Village code → name from an enrolment's division register."""
    out = {}
    for code, v in ((enrolment.get("divisions") or {}).get("villages") or {}).items():
        out[code] = v.get("name", code) if isinstance(v, Mapping) else str(v)
    return out


def prefill_from_workmap(form: Form, footprint: Mapping[str, Any]) -> dict[str, Any]:
    """The answers a work-map footprint gives a new house record: its id, village and outline."""
    import json

    values: dict[str, Any] = {}
    names = {f.name for f in form.walk()}
    if "building_id" in names:
        values["building_id"] = footprint["building_id"]
    if "village_code" in names and footprint.get("village_code"):
        values["village_code"] = footprint["village_code"]
    geom_field = form.geometry_field
    if geom_field and footprint.get("geometry"):
        geom = footprint["geometry"]
        values[geom_field] = json.loads(geom) if isinstance(geom, str) else geom
    return values


# ---------------------------------------------------------------------------------------------------
# Calculated codes shown as their labels

_LITERAL = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def calculation_results(expression: str | None) -> frozenset[str]:
    """The string literals a calculation can return: quoted text not compared with ``=``/``<``/``>``
    (``if(${c} = '4', '1', '0')`` → {'1', '0'}). Empty for arithmetic."""
    out = set()
    text = expression or ""
    for m in _LITERAL.finditer(text):
        value = m.group(1) if m.group(1) is not None else m.group(2)
        before = text[:m.start()].rstrip()[-1:]
        after = text[m.end():].lstrip()[:1]
        if value and before not in ("=", "<", ">") and after not in ("=", "<", ">", "!"):
            out.add(value)
    return frozenset(out)


@functools.lru_cache(maxsize=None)
def _shared_lists() -> tuple:
    from schemas.catalogue import shared_codelists

    return tuple(shared_codelists().values())


def calculation_choice_list(form: Form, f: Field):
    """The code list whose codes a calculated field returns (a calculate has no ``choices`` of its own):
    the form's lists first, then the shared ones; a list named after the field wins, then the smallest.
    ``year_band`` → the shared ``year_band`` list, so the editor shows 1981—1990年 rather than "2"."""
    results = calculation_results(f.calculation)
    if not results:
        return None
    best, best_key = None, None
    for own, lists in ((0, form.choice_lists), (1, _shared_lists())):
        for cl in lists:
            if not results <= cl.names():
                continue
            named = 0 if cl.name == f.name else (1 if cl.name.endswith("_" + f.name) else 2)
            key = (named, own, len(cl.choices))
            if best_key is None or key < best_key:
                best, best_key = cl, key
    return best
