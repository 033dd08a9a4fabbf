"""Simulated fieldwork: fill a sample county's work map in township stores and export their packages.

What ``simulate_fieldwork(sample_dir, out_dir)`` does, for every township of the sample county:

1. Enrols a device (with a real county GeoPackage when ``county_gpkg`` is given, so that
   ``census county import`` accepts the packages; otherwise with throwaway county keys written to
   ``OUT/county_keys/``) and initialises a township store with the township's work map
   (``OUT/townships/{township}.db``).
2. Fills one house record per footprint (``rural_house`` or ``urban_house``), one ``township_capacity``,
   one ``village_capacity`` and one ``village_population`` per village, one ``public_facility`` per
   facility, and hazard, history and hidden-danger records placed where the sample's hazard layers say
   they belong — each form only if the catalogue has it: geohazard sites on susceptibility class 1–2,
   mostly on slopes with houses below them on the DEM; flood marks where the flood depth is above zero;
   key hidden dangers by what the township has (its worst slope, a weak dyke section on flooded land
   near houses, a chemical plant in town, a dangerous house, a crowded place, a forest-fire spot);
   annual statistics for every year 1978–2020 with a loss, per hazard type, sized by the township's
   exposure in the layers (flooded, surge-prone, drought-prone footprints, houses below slopes), with
   trends (flood losses rising with assets, hail falling, droughts more frequent) and two townships
   whose early records are lost; major events 1949–2020 (simulated after the region's known
   disasters) kept once, by the township most affected, naming every affected township.
3. Makes a share of the records invalid (``error_rate``): years after 2020, negative areas, unknown
   codes, points outside the township. The enumerator submits them anyway (``force``), so the
   county's validator must find and mark them. What each spoiled field really was is kept in
   ``OUT/townships/{township}.answers.json`` (record UUID → the true record): what the enumerator
   finds on a return visit, used by :mod:`sample_data.feedback_round` to fix flagged records.
4. Makes ``conflicts`` records edited on two devices: a second device of the same township takes in
   the first device's revision (a copied store), then both edit it from that same parent.
5. Exports every device's return package to ``OUT/packages/`` (nothing else goes there).

Values come from two layers: realistic generators for the main fields (structure type by urban/rural
and age, floors, area from the footprint × floors, year built, seismic measures more likely after the
2008 Wenchuan earthquake and for RC frames, retrofits rare, damage mostly none, …) over a generic
generator that reads the form model (type, code list, numeric and date bounds from the constraint,
division codes, geometry), so fields added to a form later never break the simulation. Every record
meant to be valid is validated and, if a rule still fails, repaired field by field; the result counts
any that could not be (there should be none).

Deterministic for a seed: the same records, ids and timestamps (package bytes differ only by the fresh
encryption key and nonce of each package).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from schemas.model import REFERENCE_DATE, Field, FieldType, Form
from geodb.layers import as_target

Progress = Callable[[str, int, int], None]

HOUSE_FORMS = ("rural_house", "urban_house")
SIM_START = dt.datetime(2021, 3, 1, 0, 30, tzinfo=dt.timezone.utc)
SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎潘杜戴")
GIVEN = list("国建明华军平志伟红玉秀英兰芳丽春海波涛强磊静敏凤霞桂珍淑杰宏宇鹏")
ERROR_KINDS = ("future_year", "negative_area", "unknown_code", "out_of_boundary")


class FieldworkError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------------
# Results

@dataclass
class DeviceResult:
    township: str
    enumerator: str
    device_id: str
    store: Path
    package: Path | None = None
    revisions: int = 0


@dataclass
class FieldworkResult:
    out_dir: Path
    devices: list[DeviceResult] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)          # form → records saved
    invalid: dict[str, int] = field(default_factory=dict)          # error kind → records made invalid
    detected_invalid: int = 0                                      # records the township validator flagged
    conflicts: int = 0
    repaired: dict[str, int] = field(default_factory=dict)         # form → records the generic repair fixed
    not_repaired: int = 0                                          # meant valid, still invalid (should be 0)
    skipped_forms: list[str] = field(default_factory=list)         # wanted but not in the catalogue
    county_keys: Path | None = None
    seconds: float = 0.0

    @property
    def packages(self) -> list[Path]:
        return [d.package for d in self.devices if d.package is not None]

    def as_dict(self) -> dict:
        return {"out_dir": str(self.out_dir), "townships": len({d.township for d in self.devices}),
                "devices": len(self.devices), "packages": [str(p) for p in self.packages],
                "records": self.records, "invalid": self.invalid, "detected_invalid": self.detected_invalid,
                "conflicts": self.conflicts, "repaired": self.repaired, "not_repaired": self.not_repaired,
                "skipped_forms": self.skipped_forms,
                "county_keys": str(self.county_keys) if self.county_keys else None,
                "seconds": round(self.seconds, 2)}


# ---------------------------------------------------------------------------------------------------
# The generic generator: one value per field from the form model

_NUM_BOUND = re.compile(r"(?<![\w$}])\.\s*(>=|>|<=|<)\s*(-?\d+(?:\.\d+)?)(?!\s*[*+-])")
_DATE_BOUND = re.compile(r"(?<![\w$}])\.\s*(>=|>|<=|<)\s*date\('(\d{4}-\d{2}-\d{2})'\)")


def numeric_bounds(f: Field) -> tuple[float | None, float | None, bool, bool]:
    """(low, high, low_exclusive, high_exclusive) read from simple ``. >= 0 and . <= 100`` constraints."""
    lo = hi = None
    lo_x = hi_x = False
    text = f.constraint.expression if f.constraint else ""
    text = text.split("if(")[0]  # only the rule's unconditional head
    if " or " in text:
        return None, None, False, False
    for op, num in _NUM_BOUND.findall(text):
        v = float(num)
        if op in (">=", ">") and (lo is None or v > lo):
            lo, lo_x = v, op == ">"
        elif op in ("<=", "<") and (hi is None or v < hi):
            hi, hi_x = v, op == "<"
    if lo is not None and hi is not None and lo > hi:
        return None, None, False, False
    return lo, hi, lo_x, hi_x


def date_bounds(f: Field) -> tuple[dt.date, dt.date]:
    lo, hi = dt.date(1990, 1, 1), REFERENCE_DATE
    text = f.constraint.expression if f.constraint else ""
    for op, d in _DATE_BOUND.findall(text):
        v = dt.date.fromisoformat(d)
        if op.startswith(">"):
            lo = max(lo, v) if v <= hi else v
        else:
            hi = min(hi, v) if v >= lo else v
    if hi < lo:
        lo, hi = hi, lo
    return lo, hi


# one value in every decade: a rule with classes by size (e.g. geohazard volume by scale) finds its band
_MAGNITUDES = (0.5, 5.0, 50.0, 500.0, 5000.0, 30.0, 0.05, 1.5, 15.0, 150.0, 2000.0, 25.0, 75.0, 250.0, 20000.0,
               2.5, 7.5, 12.0, 1.0, 100.0, 1000.0, 10000.0, 40.0, 3.0)
_REGEX_IN_EXPR = re.compile(r"regex\(\s*\.\s*,\s*'((?:[^'\\]|\\.)*)'\s*\)")
_REF = re.compile(r"\$\{(\w+)\}")


def regex_of(f: Field) -> str | None:
    """The pattern of a ``regex(., '…')`` constraint, if the field has one."""
    m = _REGEX_IN_EXPR.search(f.constraint.expression) if f.constraint else None
    return m[1] if m else None


def regex_sample(pattern: str, rng: np.random.Generator) -> str | None:
    """A random string matching ``pattern`` (literals, classes, groups, alternation, bounded repeats);
    None for constructs it does not know."""
    from re import _constants as C
    from re import _parser

    try:
        tree = _parser.parse(pattern)
    except re.error:
        return None
    pool_any = [chr(c) for c in range(48, 58)] + [chr(c) for c in range(65, 91)]

    def in_set(items) -> list[str]:
        out: list[str] = []
        negate = False
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                out.append(chr(av))
            elif op is C.RANGE:
                out.extend(chr(c) for c in range(av[0], av[1] + 1))
            elif op is C.CATEGORY:
                out.extend({C.CATEGORY_DIGIT: list("0123456789"), C.CATEGORY_WORD: pool_any + ["_"],
                            C.CATEGORY_SPACE: [" "]}.get(av, []))
        if negate:
            out = [c for c in pool_any if c not in out]
        return out

    def gen(seq) -> str:
        parts: list[str] = []
        for op, av in seq:
            if op is C.LITERAL:
                parts.append(chr(av))
            elif op is C.NOT_LITERAL:
                parts.append(next(c for c in pool_any if ord(c) != av))
            elif op is C.ANY:
                parts.append(pool_any[int(rng.integers(len(pool_any)))])
            elif op is C.IN:
                chars = in_set(av)
                if not chars:
                    raise ValueError("empty class")
                parts.append(chars[int(rng.integers(len(chars)))])
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
                lo, hi, sub = av
                hi = lo + 2 if hi is C.MAXREPEAT else hi
                parts.extend(gen(sub) for _ in range(int(rng.integers(lo, hi + 1))))
            elif op is C.SUBPATTERN:
                parts.append(gen(av[-1]))
            elif op is C.BRANCH:
                options = av[1]
                parts.append(gen(options[int(rng.integers(len(options)))]))
            elif op is C.AT:
                continue
            else:
                raise ValueError(f"unsupported {op}")
        return "".join(parts)

    try:
        text = gen(tree)
    except ValueError:
        return None
    return text if re.fullmatch(pattern, text) else None


def _numbers_in(v: Any) -> list[float]:
    if isinstance(v, bool):
        return []
    if isinstance(v, (int, float)):
        return [float(v)]
    if isinstance(v, list):
        vals = [float(x) for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
        return [sum(vals)] if vals else []
    return []


@dataclass
class Place:
    """Where a record is: its divisions and a point/shape inside the township."""

    county: str
    township: str
    village: str
    lon: float
    lat: float
    shape: dict | None = None     # GeoJSON polygon (a footprint), when there is one


class FormFaker:
    """Generic values for every field of a form, honouring types, code lists and simple bounds."""

    def __init__(self, form: Form, rng: np.random.Generator):
        self.form = form
        self.rng = rng
        self.lists = {cl.name: [c.name for c in cl.choices] for cl in form.choice_lists}
        self.names = frozenset(f.name for f in form.walk() if f.type.holds_value and not f.type.is_container)
        self.field_by_name = {f.name: f for f in form.walk()}

    # -- helpers --------------------------------------------------------------------------------------
    def pick(self, seq, p=None):
        seq = list(seq)
        return seq[int(self.rng.choice(len(seq), p=p))] if p is not None else seq[int(self.rng.integers(len(seq)))]

    def person(self) -> str:
        return self.pick(SURNAMES) + "".join(self.pick(GIVEN) for _ in range(int(self.rng.integers(1, 3))))

    def phone(self) -> str:
        return "13" + "".join(str(int(d)) for d in self.rng.integers(0, 10, 9))

    def choices_of(self, f: Field) -> list[str]:
        names = self.lists.get(f.choices or "", [])
        if f.choice_filter:
            m = re.match(r"^\s*(\w+)\s*=\s*'([^']*)'\s*$", f.choice_filter)
            cl = next((c for c in self.form.choice_lists if c.name == f.choices), None)
            if m and cl is not None:
                keep = [c.name for c in cl.choices if dict(c.filters).get(m[1]) == m[2]]
                names = keep or names
        return names

    # -- one value ------------------------------------------------------------------------------------
    def value(self, f: Field, place: Place, attempt: int = 0) -> Any:
        t = f.type
        if t is FieldType.TEXT:
            return self.text(f, place, attempt)
        if t in (FieldType.INTEGER, FieldType.DECIMAL):
            return self.number(f, attempt)
        if t is FieldType.DATE:
            lo, hi = date_bounds(f)
            if attempt >= 2:
                return hi.isoformat() if attempt % 2 else lo.isoformat()
            return (lo + dt.timedelta(days=int(self.rng.integers(0, (hi - lo).days + 1)))).isoformat()
        if t is FieldType.SELECT_ONE:
            names = [n for n in self.choices_of(f) if n != "other"] or self.choices_of(f)
            if not names:
                return None
            return names[(attempt - 1) % len(names)] if attempt else self.pick(names)
        if t is FieldType.SELECT_MULTIPLE:
            names = self.choices_of(f)
            if attempt % 3 == 2:  # a repair: everything real (rules like "at least water, power and toilets")
                return [n for n in names if n not in ("none", "other")] or names[:1]
            if "none" in names and (attempt % 3 == 1 or (attempt == 0 and self.rng.random() < 0.4)):
                return ["none"]
            pool = [n for n in names if n not in ("none", "other")] or names
            k = min(len(pool), 1 + int(self.rng.random() < 0.4))
            return [str(x) for x in self.rng.choice(pool, size=k, replace=False)] if pool else None
        if t is FieldType.GEOPOINT:
            return {"type": "Point", "coordinates": [round(place.lon, 6), round(place.lat, 6)]}
        if t is FieldType.GEOSHAPE:
            return place.shape or _square(place.lon, place.lat, 0.0004)
        if t is FieldType.GEOTRACE:
            return {"type": "LineString", "coordinates": [[round(place.lon - 0.001, 6), round(place.lat, 6)],
                                                          [round(place.lon + 0.001, 6), round(place.lat + 0.0005, 6)]]}
        return None

    def text(self, f: Field, place: Place, attempt: int) -> str:
        if f.division is not None:
            return {"county": place.county, "township": place.township, "village": place.village}[f.division.value]
        name = f.name.lower()
        if "phone" in name or "tel" in name.split("_"):
            return self.phone()
        pattern = regex_of(f)
        if pattern is not None:
            text = regex_sample(pattern, self.rng)
            if text is not None:
                return text
        if name.endswith(("person", "_name", "informant", "monitor", "contact", "head")) and "site" not in name \
                and "event" not in name and "danger" not in name and "facility" not in name:
            return self.person()
        if name.endswith("_id") or name == self.form.key_field:
            return f"{place.township}-{f.name[:3].upper()}{int(self.rng.integers(1, 99999)):05d}"
        label = f.label.zh
        text = (label[:12] + "（模拟）") if attempt == 0 else "模拟"
        if f.max_length:
            text = text[: f.max_length]
        return text

    def number(self, f: Field, attempt: int) -> int | float:
        lo, hi, lo_x, hi_x = numeric_bounds(f)
        integer = f.type is FieldType.INTEGER
        if attempt == 1:
            return 0 if (lo is None or lo < 0 or (lo == 0 and not lo_x)) else (int(lo) + 1 if integer else lo + 0.5)
        if attempt == 2:
            return 1 if integer else 1.0
        if attempt >= 3:
            base = lo if lo is not None else 0
            return int(base) + (1 if lo_x else 0) if integer else float(base) + (0.1 if lo_x else 0.0)
        a = lo if lo is not None else 0.0
        b = hi if hi is not None else max(a, 0.0) + 100.0
        b = min(b, a + 1000.0) if hi is None or b - a > 1000 else b
        v = a + (b - a) * float(self.rng.random()) ** 2
        if integer:
            v = int(round(v))
            if lo is not None and (v < lo or (lo_x and v <= lo)):
                v = int(lo) + 1
            if hi is not None and (v > hi or (hi_x and v >= hi)):
                v = int(hi) - 1 if hi_x else int(hi)
            return v
        v = round(v, 2)
        if lo_x and v <= (lo or 0):
            v = round((lo or 0) + 0.1, 2)
        return v

    # -- a whole record -------------------------------------------------------------------------------
    def record(self, place: Place, overrides: Mapping[str, Any] | None = None) -> dict:
        """Generic values for every field, then the realistic ``overrides`` the form has fields for."""
        given = {k: v for k, v in (overrides or {}).items() if k in self.names}
        rec: dict[str, Any] = {}
        self._fill(self.form.fields, rec, place, skip=given)
        rec.update(given)
        return rec

    def _fill(self, fields: Iterable[Field], rec: dict, place: Place, skip: Mapping[str, Any] = {}) -> None:
        for f in fields:
            if f.name in skip:
                continue
            if f.type is FieldType.GROUP:
                self._fill(f.children, rec, place, skip)
            elif f.type is FieldType.REPEAT:
                n = max(f.repeat_min or 0, 1 if f.required else int(self.rng.integers(0, 3)))
                if f.repeat_max is not None:
                    n = min(n, f.repeat_max)
                items = []
                for _ in range(n):
                    inst: dict[str, Any] = {}
                    self._fill(f.children, inst, place)
                    items.append(inst)
                rec[f.name] = items
            elif f.type in (FieldType.NOTE, FieldType.CALCULATE):
                continue
            else:
                if f.read_only and f.default is None and f.name != self.form.key_field and not f.required:
                    continue
                rec[f.name] = self.value(f, place)

    def repair(self, rec: dict, problems, place: Place, attempt: int) -> bool:
        """Regenerate the fields named by ``problems``; False when nothing could be changed."""
        changed = False
        for p in problems:
            if p.severity != "error" or not p.path:
                continue
            path = p.path
            m = re.match(r"^(\w+)\[(\d+)\]\.(\w+)$", path)
            try:
                if m:
                    f = self.form.field(m[3])
                    items = rec.get(m[1]) or []
                    i = int(m[2]) - 1
                    if i < len(items):
                        if f.type in (FieldType.INTEGER, FieldType.DECIMAL):
                            items[i][m[3]] = self.number_candidate(f, {**rec, **items[i]}, attempt)
                        else:
                            items[i][m[3]] = self.value(f, place, attempt)
                        changed = True
                    continue
                f = self.form.field(path)
            except KeyError:
                continue
            if f.type is FieldType.REPEAT:
                lo = f.repeat_min or (1 if f.required else 0)
                rec[f.name] = [self._one(f, place) for _ in range(max(lo, 1))]
            elif attempt >= 6 and not f.required and not f.required_if:
                rec.pop(f.name, None)
            elif f.type in (FieldType.INTEGER, FieldType.DECIMAL):
                rec[f.name] = self.number_candidate(f, rec, attempt)
                if attempt % 4 == 0 and f.constraint:  # the field it depends on may be the odd one out
                    for ref in _REF.findall(f.constraint.expression):
                        g = self.field_by_name.get(ref)
                        if g is not None and g.type in (FieldType.INTEGER, FieldType.DECIMAL) and ref in rec:
                            rec[ref] = self.number(g, 0)
            else:
                rec[f.name] = self.value(f, place, attempt)
            changed = True
        return changed

    def number_candidate(self, f: Field, rec: Mapping[str, Any], attempt: int) -> int | float:
        """Repair values for a number: the values of the fields its rule refers to (and their sum),
        then the generic fallbacks, then log-spaced magnitudes."""
        refs = _REF.findall(f.constraint.expression) if f.constraint else []
        cands: list[float] = []
        for r in refs:
            cands.extend(_numbers_in(rec.get(r)))
            for v in rec.values():  # a repeat's field: sum over its instances
                if isinstance(v, list) and v and all(isinstance(x, Mapping) for x in v):
                    cands.extend(_numbers_in([x.get(r) for x in v]))
        if len(cands) > 1:
            cands.append(sum(cands))
        integer = f.type is FieldType.INTEGER
        if integer:
            cands = [c for v in cands for c in (math.floor(v), math.ceil(v))]
        cands = list(dict.fromkeys(cands))
        k = attempt - 1
        if k < len(cands):
            v = cands[k]
        elif k - len(cands) < 3:
            return self.number(f, k - len(cands) + 1)
        else:
            lo, hi, _, _ = numeric_bounds(f)
            j = k - len(cands) - 3
            v = _MAGNITUDES[j] if j < len(_MAGNITUDES) else 10 ** float(self.rng.uniform(-2, 4))
            if hi is not None:
                v = min(v, hi)
            if lo is not None:
                v = max(v, lo)
        return int(round(v)) if integer else round(float(v), 2)

    def _one(self, f: Field, place: Place) -> dict:
        inst: dict[str, Any] = {}
        self._fill(f.children, inst, place)
        return inst


def _square(lon: float, lat: float, half: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[round(lon - half, 6), round(lat - half, 6)],
                                                [round(lon + half, 6), round(lat - half, 6)],
                                                [round(lon + half, 6), round(lat + half, 6)],
                                                [round(lon - half, 6), round(lat + half, 6)],
                                                [round(lon - half, 6), round(lat - half, 6)]]]}


# ---------------------------------------------------------------------------------------------------
# Realistic answers for the main forms

def _year_built(rng: np.random.Generator, urban: bool) -> int:
    bands = ((1950, 1979), (1980, 1989), (1990, 1999), (2000, 2008), (2009, 2015), (2016, 2020))
    p = (0.02, 0.08, 0.2, 0.3, 0.25, 0.15) if urban else (0.1, 0.2, 0.25, 0.2, 0.15, 0.1)
    a, b = bands[int(rng.choice(len(bands), p=p))]
    return int(rng.integers(a, b + 1))


def _structure(rng: np.random.Generator, urban: bool, year: int, floors_hint: int, names: list[str]) -> str:
    if urban:
        if floors_hint >= 7:
            table = {"rc_frame": 0.9, "steel": 0.05, "brick_concrete": 0.05}
        elif year < 1990:
            table = {"brick_concrete": 0.6, "masonry": 0.3, "rc_frame": 0.1}
        elif year < 2009:
            table = {"brick_concrete": 0.55, "rc_frame": 0.4, "steel": 0.05}
        else:
            table = {"rc_frame": 0.7, "brick_concrete": 0.2, "steel": 0.1}
    elif year < 1980:
        table = {"earth_wood": 0.35, "masonry": 0.45, "brick_concrete": 0.1, "wood": 0.1}
    elif year < 1990:
        table = {"earth_wood": 0.15, "masonry": 0.5, "brick_concrete": 0.3, "wood": 0.05}
    elif year < 2009:
        table = {"masonry": 0.3, "brick_concrete": 0.6, "rc_frame": 0.05, "mixed": 0.05}
    else:
        table = {"brick_concrete": 0.65, "rc_frame": 0.2, "masonry": 0.1, "steel": 0.05}
    table = {k: v for k, v in table.items() if k in names} or {names[0]: 1.0}
    keys = list(table)
    p = np.array([table[k] for k in keys])
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def house_answers(faker: FormFaker, b: Mapping[str, Any], place: Place) -> dict:
    """Realistic answers for one footprint (keys that the form lacks are dropped later)."""
    rng = faker.rng
    urban = bool(b.get("urban"))
    kind = b.get("kind") or b.get("form") or ("urban" if urban else "rural")
    area = float(b.get("area_m2") or 100.0)
    year = _year_built(rng, urban)
    if kind == "urban" and area > 400:
        floors = int(rng.integers(6, 19))
    elif urban or kind == "town":
        floors = int(rng.choice([1, 2, 3, 4, 5, 6], p=[0.1, 0.25, 0.25, 0.2, 0.1, 0.1]))
    else:
        floors = int(rng.choice([1, 2, 3], p=[0.72, 0.24, 0.04]))
    st_names = faker.lists.get("structure_type") or ["brick_concrete"]
    structure = _structure(rng, urban, year, floors, st_names)
    if structure in ("earth_wood", "wood", "masonry") and floors > 3:
        floors = int(rng.integers(1, 4))
    if structure not in ("rc_frame", "steel", "mixed", "other") and floors > 7:
        floors = 7  # taller than 7 storeys only with a frame (GB 50011)
    floor_area = round(area * floors * float(rng.uniform(0.88, 1.0)), 1)
    post_wenchuan = year >= 2009
    p_measures = {"rc_frame": 0.9, "steel": 0.85, "brick_concrete": 0.55, "masonry": 0.2}.get(structure, 0.03)
    if post_wenchuan:
        p_measures = min(0.97, p_measures + 0.3)
    measure_names = [n for n in faker.lists.get("seismic_measure", []) if n != "none"]
    if measure_names and rng.random() < p_measures:
        wanted = ["ring_beam", "tie_column"] + (["rc_slab"] if structure in ("rc_frame", "brick_concrete") else [])
        wanted += ["tie_bar"] if rng.random() < 0.3 else []
        measures = [m for m in wanted if m in measure_names and rng.random() < 0.8] or [measure_names[0]]
    else:
        measures = ["none"]
    retrofitted = "1" if (year < 2000 and rng.random() < 0.04) else "0"
    damage_names = [n for n in faker.lists.get("visible_damage", []) if n != "none"]
    p_damage = 0.03 + (0.15 if year < 1980 else 0.06 if year < 1990 else 0.0) + (0.1 if structure == "earth_wood" else 0)
    damage = [str(faker.pick(damage_names))] if damage_names and rng.random() < p_damage else ["none"]
    if structure == "rc_frame" or floors >= 4:
        method = "contractor"
    else:
        method = faker.pick(["self", "craftsman", "contractor"], p=[0.45, 0.45, 0.1])
    use_names = faker.lists.get("rural_use") or faker.lists.get("urban_use") or []
    residential = next((n for n in use_names if n in ("residence", "residential", "housing")), None)
    out = {
        "building_id": str(b["building_id"]), "village_code": place.village, "township_code": place.township,
        "footprint": place.shape, "owner_name": faker.person(), "structure_type": structure, "floors": floors,
        "floors_above": floors, "floor_area": floor_area, "year_built": year,
        "construction_method": method, "professional_design": "1" if method == "contractor" or urban else "0",
        "seismic_measures": measures, "retrofitted": retrofitted, "damage": damage,
        "survey_date": (dt.date(2021, 3, 1) + dt.timedelta(days=int(rng.integers(0, 120)))).isoformat(),
    }
    if residential is not None:
        out["use"] = residential if rng.random() < (0.7 if urban else 0.93) else faker.pick(
            [n for n in use_names if n != "other"])
    # urban house survey extras (dropped by forms that lack them)
    out["height"] = round(floors * float(rng.uniform(2.9, 3.3)), 1)
    out["underground_floors"] = int(floors >= 6 and rng.random() < 0.6)
    if out.get("use") in ("residence", "mixed"):
        out["dwelling_units"] = max(1, int(floor_area / float(rng.uniform(70, 110))))
    codes = [(2010, "gb50011_2010"), (2001, "gb50011_2001"), (1989, "gbj11_89"), (1974, "tj11_78")]
    out["design_code"] = next((c for y, c in codes if year >= y), "unknown")
    designed = out["professional_design"] == "1" or retrofitted == "1"
    out["fortification_intensity"] = "7" if designed else "0"
    out["property_management"] = "1" if urban and floors >= 4 and rng.random() < 0.7 else "0"
    out["heritage"] = "0"
    out["building_name"] = f"{b['building_id'][-5:]}号楼" if urban else None
    if out["building_name"] is None:
        out.pop("building_name")
    if retrofitted == "1":
        out["retrofit_year"] = int(rng.integers(max(year, 2009), 2021))
    if damage != ["none"]:
        out["damage_note"] = "墙体可见裂缝，需进一步鉴定"
    return out


def village_answers(rng: np.random.Generator, v: Mapping[str, Any], place: Place) -> dict:
    """Population and capacity answers of one village from the sample's population and households."""
    def num(key: str, default: int) -> int:
        x = v.get(key) if hasattr(v, "get") else None
        return int(x) if isinstance(x, (int, float, np.integer, np.floating)) and x == x else default

    pop = max(50, num("population", 1200))
    hh = max(10, min(num("households", pop // 3), pop))
    registered = int(pop * rng.uniform(1.0, 1.15))
    under14 = int(pop * rng.uniform(0.11, 0.16))
    over65 = int(pop * rng.uniform(0.14, 0.22))
    kind = str(v.get("kind") or "")
    drills = int(rng.integers(0, 4))
    shelters = int(rng.integers(0, 3))
    return {
        "village_name": str(v.get("name") or ""), "village_kind": "community" if kind == "community" else "village",
        "households": min(hh, registered), "registered_population": registered, "resident_population": pop,
        "under14": under14, "over65": over65, "disabled": int(pop * rng.uniform(0.01, 0.03)),
        "left_behind": int((under14 + over65) * rng.uniform(0.03, 0.15)),
        "low_income_households": int(hh * rng.uniform(0.02, 0.06)),
        "collective_income_2020": round(float(rng.uniform(3, 80)), 1),
        "per_capita_income_2020": int(rng.uniform(12000, 22000)) if kind != "community" else int(rng.uniform(25000, 38000)),
        "arable_land": round(float(rng.uniform(100, 900)), 1) if kind != "community" else 0.0,
        "fulltime_staff": int(rng.integers(3, 8)), "parttime_staff": int(rng.integers(2, 12)),
        "info_officers": int(rng.integers(1, 4)), "emergency_plan": "1" if rng.random() < 0.9 else "0",
        "plan_revised_year": int(rng.integers(2016, 2021)), "drills_2020": drills,
        "drill_participants_2020": drills * int(rng.integers(30, 150)) if drills else 0,
        "shelters_count": shelters, "shelters_capacity": shelters * int(rng.integers(200, 1500)),
    }


def township_answers(faker: FormFaker, name: str, villages: int) -> dict:
    rng = faker.rng
    drills, trainings, shelters = int(rng.integers(1, 7)), int(rng.integers(1, 11)), int(rng.integers(1, 6))
    return {"township_name": name, "has_agency": "1", "fulltime_staff": int(rng.integers(5, 21)),
            "parttime_staff": int(rng.integers(5, 41)), "info_officers": max(1, villages),
            "emergency_plan": "1", "plan_revised_year": int(rng.integers(2017, 2021)), "drills_2020": drills,
            "drill_participants_2020": drills * int(rng.integers(100, 500)), "trainings_2020": trainings,
            "trainees_2020": trainings * int(rng.integers(20, 80)), "shelters_count": shelters,
            "shelters_capacity": shelters * int(rng.integers(500, 3000)), "demo_communities": int(rng.integers(0, 4)),
            "filled_by": faker.person(), "filler_phone": faker.phone()}


def facility_answers(faker: FormFaker, r: Mapping[str, Any], place: Place) -> dict:
    """A public facility from the sample's facilities layer: type, name, capacity in its own unit."""
    rng = faker.rng
    ftype = str(r.get("facility_type") or "")
    cap = r.get("capacity")
    cap = int(cap) if isinstance(cap, (int, float, np.integer, np.floating)) and cap == cap else int(rng.integers(20, 500))
    unit = str(r.get("capacity_unit") or "")
    out: dict[str, Any] = {"facility_id": str(r.get("facility_id") or ""), "facility_name": str(r.get("name") or ""),
                           "facility_type": ftype, "ownership": faker.pick(faker.lists.get("facility_ownership") or
                                                                           ["public"]),
                           "staff": max(1, cap // 12), "building_count": 1 + int(cap > 300) + int(cap > 1000)}
    if unit in ("students", "children"):
        out["students"] = cap
    elif unit == "beds":
        out["beds"] = max(cap, 20) if ftype == "hospital" else cap
        if ftype == "welfare_home":
            out["residents"] = int(out["beds"] * rng.uniform(0.5, 0.95))
            out["residents_bedridden"] = int(out["residents"] * rng.uniform(0.05, 0.3))
    elif unit == "seats":
        out["seats"] = cap
    else:
        out["daily_visitors"] = cap
        out["peak_visitors"] = int(cap * rng.uniform(1.5, 4.0))
    year = int(rng.integers(1975, 2020))
    out["year_built"] = year
    out["floor_area"] = float(round(max(60.0, cap * float(rng.uniform(4, 12))), 1))
    out["main_structure"] = "rc_frame" if year >= 2000 else "brick_concrete"
    out["is_shelter"] = "1" if ftype in ("school", "stadium") and rng.random() < 0.5 else "0"
    if out["is_shelter"] == "1":
        out["shelter_capacity"] = max(50, cap)
    out["emergency_plan"] = "1" if rng.random() < 0.8 else "0"
    return out


def geohazard_answers(faker: FormFaker, place: Place, n: int, houses_below: int | None = None,
                      people_per_house: float = 3.2) -> dict:
    """A geohazard site; ``houses_below``: footprints the sample's DEM puts below the site within reach
    (the enumerator's threatened people and buildings follow from them, with a rough estimate's error)."""
    rng = faker.rng
    kind = faker.pick(["landslide", "collapse", "debris_flow", "subsidence"], p=[0.5, 0.33, 0.12, 0.05])
    scale = faker.pick(["small", "medium", "large"], p=[0.7, 0.25, 0.05] if not houses_below or houses_below < 20
                       else [0.45, 0.45, 0.1])
    ranges = {"landslide": {"small": (0.5, 9.9), "medium": (10, 99), "large": (100, 999)},
              "collapse": {"small": (0.05, 0.99), "medium": (1, 9.9), "large": (10, 99)},
              "debris_flow": {"small": (0.2, 1.9), "medium": (2, 19.9), "large": (20, 49.9)}}
    if houses_below is None:
        people = int(rng.integers(0, 120))
        buildings = people // 3 + int(rng.integers(0, 5))
    else:  # the people living in those footprints, estimated ±40 %
        buildings = max(0, int(round(houses_below * float(rng.uniform(0.7, 1.2)))))
        people = int(round(buildings * people_per_house * float(rng.uniform(0.6, 1.4))))
    out = {"site_id": f"{place.township}DZ{n:04d}", "site_name": f"{faker.pick(SURNAMES)}家沟{ {'landslide': '滑坡', 'collapse': '崩塌', 'debris_flow': '泥石流', 'subsidence': '地面塌陷'}[kind]}",
           "hazard_type": kind, "scale": scale, "threatened_people": people,
           "threatened_households": min(people, buildings), "threatened_buildings": buildings,
           "threatened_property": round(float(buildings) * float(rng.uniform(5, 20)), 1),
           "stability": faker.pick(["stable", "fairly_stable", "unstable"], p=[0.25, 0.5, 0.25]),
           "triggers": ["rainfall"] + (["slope_cutting"] if rng.random() < 0.3 else []),
           "monitoring": ["none"] if rng.random() < 0.3 else None,
           "monitor_name": faker.person(), "monitor_phone": faker.phone(),
           "discovered_date": (dt.date(2005, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5800)))).isoformat(),
           "last_inspected": (dt.date(2020, 6, 1) + dt.timedelta(days=int(rng.integers(0, 200)))).isoformat()}
    if kind == "subsidence":
        out["subsidence_area"] = round(float(rng.uniform(0.01, 0.5)), 3)
    else:
        a, b = ranges[kind][scale]
        out["volume"] = round(float(a * (b / a) ** rng.random()), 2)    # log-uniform in the size class
    if out["monitoring"] is None:
        out.pop("monitoring")
    return out


def flood_mark_answers(faker: FormFaker, place: Place, n: int, depth: float, river: str) -> dict:
    rng = faker.rng
    year = int(faker.pick([1949, 1962, 1975, 1985, 1994, 2010, 2012, 2013, 2017]))
    out = {"mark_id": f"{place.township}HH{n:04d}", "river": river, "event_year": year,
           "mark_height": round(min(19.5, max(0.1, depth * float(rng.uniform(0.6, 1.2)))), 2),
           "info_source": "witness", "informant": faker.person(),
           "inundation_hours": round(float(rng.uniform(3, 72)), 1)}
    if rng.random() < 0.5:
        out["event_date"] = dt.date(year, int(rng.integers(7, 9)), int(rng.integers(1, 29))).isoformat()
    return out


def annual_answers(faker: FormFaker, place: Place, year: int, hazard: str, figures: Mapping[str, Any] | None = None
                   ) -> dict:
    """One township-year-hazard row; ``figures`` (from :func:`_county_history`) carry the simulated
    loss at 2020 prices and the people affected, else values are drawn at random."""
    rng = faker.rng
    source = faker.pick([n for n in faker.lists.get("disaster_data_source", ["statistics"]) if n != "other"])
    if figures is None:
        affected = int(rng.integers(0, 6000))
        deaths = int(rng.integers(0, 3)) if affected > 1000 and rng.random() < 0.2 else 0
        crop = round(float(rng.uniform(0, 800)), 1)
        return {"division_level": "township", "township_code": place.township, "year": year, "hazard_type": hazard,
                "affected_people": affected, "deaths": deaths, "missing": 0,
                "relocated": int(affected * rng.uniform(0, 0.1)),
                "crop_affected_area": crop, "crop_failure_area": round(crop * float(rng.uniform(0, 0.2)), 1),
                "collapsed_houses": int(rng.integers(0, 5)), "severely_damaged": int(rng.integers(0, 15)),
                "generally_damaged": int(rng.integers(0, 60)),
                "direct_loss": round(affected * float(rng.uniform(0.05, 0.6)), 1), "data_source": source}
    f = dict(figures)
    affected = int(f["affected_people"])
    deaths = min(int(f.get("deaths", 0)), affected)
    crop = round(float(f.get("crop_ha", 0.0)), 1)
    houses = int(f.get("collapsed", 0))
    return {"division_level": "township", "township_code": place.township, "year": year, "hazard_type": hazard,
            "affected_people": affected, "deaths": deaths, "missing": min(int(f.get("missing", 0)), affected - deaths),
            "relocated": int(affected * float(f.get("relocated_share", 0.0))),
            "crop_affected_area": crop, "crop_failure_area": round(crop * float(rng.uniform(0.05, 0.25)), 1),
            "collapsed_houses": houses, "severely_damaged": houses * 2 + int(rng.integers(0, 3)),
            "generally_damaged": houses * 6 + int(rng.integers(0, 10)),
            # the statistics record losses at the prices of their year (当年价)
            "direct_loss": round(float(f["loss_2020_wan"]) / _sim_price_factor(year), 1),
            "data_source": "disaster_statistics" if year >= 1990 else source}


def event_answers(faker: FormFaker, place: Place, year: int, hazard: str, title: str,
                  plan: Mapping[str, Any] | None = None) -> dict:
    """A major event; ``plan`` (from :func:`_county_history`) names its date and every affected township
    with its people, so the one record the lead township keeps covers the whole event."""
    rng = faker.rng
    sources = [n for n in faker.lists.get("disaster_data_source", []) if n not in ("other", "chronicle")]
    if plan is None:
        start = dt.date(year, int(rng.integers(6, 9)), int(rng.integers(1, 28)))
        people = int(rng.integers(2000, 40000))
        divisions = [{"affected_township_code": place.township, "township_affected_people": people}]
        loss = round(people * float(rng.uniform(0.2, 1.5)), 1)
        deaths, collapsed = int(rng.integers(0, 5)), int(rng.integers(0, 200))
        days = int(rng.integers(1, 5))
    else:
        start = plan["start"]
        divisions = [{"affected_township_code": c, "township_affected_people": int(p)} for c, p in plan["townships"]]
        people = sum(int(p) for _c, p in plan["townships"])
        loss = round(float(plan["loss_2020_wan"]) / _sim_price_factor(year), 1)
        deaths, collapsed, days = min(int(plan["deaths"]), people), int(plan["collapsed"]), int(plan["days"])
    src = ["chronicle"] if year < 1978 and "chronicle" in faker.lists.get("disaster_data_source", []) else (
        [faker.pick(sources)] if sources else None)
    return {"event_name": f"{year}年{title}", "hazard_type": hazard, "start_date": start.isoformat(),
            "end_date": min(start + dt.timedelta(days=days), dt.date(2020, 12, 31)).isoformat(),
            "affected_divisions": divisions,
            "affected_people": people, "deaths": deaths, "missing": 0, "injured": min(people, deaths * 5 + int(rng.integers(0, 30))),
            "collapsed_houses": collapsed, "damaged_houses": collapsed * 4 + int(rng.integers(0, 50)),
            "direct_loss": loss,
            "description": f"{year}年{title}，{len(divisions)}个乡镇（街道）受灾，冲毁道路农田，转移群众。",
            "data_source": src}


def danger_answers(faker: FormFaker, place: Place, n: int, kind: str | None = None, people: int | None = None,
                   risk_level: str | None = None) -> dict:
    """A key hidden danger; ``kind``/``people``/``risk_level`` from where it was placed (see
    :func:`_place_dangers`), else drawn at random."""
    rng = faker.rng
    people = int(rng.integers(5, 300)) if people is None else max(0, int(people))
    buildings = max(1, people // 3)
    statuses = faker.lists.get("remediation_status", ["untreated"])
    weights = [0.5, 0.3, 0.2] if kind is not None and len(statuses) == 3 else None   # most not yet treated
    status = faker.pick(statuses, p=weights)
    kind = kind or faker.pick([c for c in faker.lists.get("danger_type", ["other"]) if c != "other"] or ["other"])
    names = {"geohazard": "滑坡隐患点", "dyke_weak_section": "堤防险段", "chemical_vicinity": "危化企业周边",
             "dangerous_house": "危房", "crowded_place": "人员密集场所", "forest_fire": "林区火险点",
             "risky_reservoir": "病险水库"}
    out = {"danger_id": f"{place.township}YH{n:04d}",
           "danger_name": f"{faker.pick(SURNAMES)}家屯{names.get(kind, '隐患点')}", "danger_type": kind,
           "scale": faker.pick(["major", "large", "general"], p=[0.15, 0.35, 0.5]),
           "threatened_people": people, "threatened_buildings": buildings,
           "threatened_schools": int(rng.random() < 0.1), "threatened_hospitals": 0,
           "threatened_property": round(people * float(rng.uniform(2, 8)), 1), "remediation_status": status,
           "responsible_person": faker.person(), "responsible_phone": faker.phone(),
           "responsible_unit": "乡镇人民政府", "measures": ["none"] if rng.random() < 0.2 else None}
    if risk_level is not None:
        out["risk_level"] = risk_level
    if status == "treated":
        out["treated_date"] = (dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 2000)))).isoformat()
    else:
        out["deadline"] = dt.date(int(rng.integers(2021, 2024)), 12, 31).isoformat()
    if out["measures"] is None:
        out.pop("measures")
    return out


# ---------------------------------------------------------------------------------------------------
# Invalid values

def _error_targets(form: Form) -> dict[str, list[Field]]:
    """Always-relevant fields of the form that each kind of error can hit."""
    out: dict[str, list[Field]] = {k: [] for k in ERROR_KINDS}

    def walk(fields, in_relevant=False):
        for f in fields:
            rel = in_relevant or bool(f.relevant)
            if f.type is FieldType.GROUP:
                walk(f.children, rel)
                continue
            if rel or f.type is FieldType.REPEAT or f.type is FieldType.CALCULATE:
                continue
            c = f.constraint
            if f.type is FieldType.INTEGER and c and c.code == "REFERENCE_DATE" and "year" in f.name:
                out["future_year"].append(f)
            elif f.type is FieldType.DATE and c and c.code == "REFERENCE_DATE":
                out["future_year"].append(f)
            if f.type in (FieldType.DECIMAL, FieldType.INTEGER) and (f.unit in ("m²", "km²", "公顷", "亩")
                                                                     or "area" in f.name):
                lo = numeric_bounds(f)[0]
                if lo is not None and lo >= 0:
                    out["negative_area"].append(f)
            if f.type is FieldType.SELECT_ONE and f.required:
                out["unknown_code"].append(f)
            if f.type.is_geometry and f.required:
                out["out_of_boundary"].append(f)
    walk(form.fields)
    return out


def make_invalid(rec: dict, form: Form, kind: str, rng: np.random.Generator, targets: dict[str, list[Field]]) -> bool:
    fields = targets.get(kind) or []
    if not fields:
        return False
    f = fields[int(rng.integers(len(fields)))]
    if kind == "future_year":
        if f.type is FieldType.DATE:
            rec[f.name] = dt.date(2021, int(rng.integers(1, 13)), int(rng.integers(1, 29))).isoformat()
        else:
            rec[f.name] = int(rng.integers(2021, 2026))
    elif kind == "negative_area":
        v = rec.get(f.name)
        rec[f.name] = -abs(float(v) if isinstance(v, (int, float)) and v else float(rng.uniform(10, 200)))
        if f.type is FieldType.INTEGER:
            rec[f.name] = int(rec[f.name]) or -1
    elif kind == "unknown_code":
        rec[f.name] = "unknown_" + str(int(rng.integers(10, 99)))
    elif kind == "out_of_boundary":
        rec[f.name] = _shift(rec.get(f.name), 1.5 + float(rng.uniform(0, 1)))
        if rec[f.name] is None:
            return False
    return True


def _shift(geom: Any, dlon: float) -> Any:
    if not isinstance(geom, Mapping):
        return None

    def sh(c):
        if isinstance(c, (list, tuple)) and c and isinstance(c[0], (int, float)):
            return [round(c[0] + dlon, 6), c[1]]
        return [sh(x) for x in c]

    return {"type": geom["type"], "coordinates": sh(geom["coordinates"])}


# ---------------------------------------------------------------------------------------------------
# Reading the sample

@dataclass
class Sample:
    dir: Path
    gpkg: Path
    county: str
    county_name: str
    townships: Any          # GeoDataFrame
    villages: Any
    buildings: Any
    facilities: Any | None
    hazards: dict[str, Any]   # layer id → xarray.DataArray


def read_sample(sample_dir: str | Path) -> Sample:
    import pyogrio

    d = Path(sample_dir)
    gpkg = d / "sample.gpkg"
    if not gpkg.is_file():
        raise FileNotFoundError(2, "样例县缺少 sample.gpkg / the sample has no sample.gpkg", str(gpkg))
    manifest = {}
    if (d / "manifest.json").is_file():
        manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    for needed in ("townships", "villages", "buildings"):
        if needed not in layers:
            raise FieldworkError(f"{gpkg}: 缺少 {needed} 图层 / no {needed} layer")
    townships = pyogrio.read_dataframe(gpkg, layer="townships")
    villages = pyogrio.read_dataframe(gpkg, layer="villages")
    buildings = pyogrio.read_dataframe(gpkg, layer="buildings")
    facilities = pyogrio.read_dataframe(gpkg, layer="facilities") if "facilities" in layers else None
    c = manifest.get("county")
    if isinstance(c, Mapping):  # the sample builder's manifest: {"county": {"adcode", "name", …}}
        county, county_name = str(c.get("adcode") or ""), str(c.get("name") or "")
    else:
        county, county_name = str(c or manifest.get("county_code") or ""), str(manifest.get("county_name") or "")
    county = county or str(townships["code"].iloc[0])[:6]
    if not county_name and "county" in layers:
        c = pyogrio.read_dataframe(gpkg, layer="county", read_geometry=False)
        county_name = str(c["name"].iloc[0]) if "name" in c.columns and len(c) else ""
    hazards: dict[str, Any] = {}
    hdir = d / "hazards"
    if hdir.is_dir():
        from hazards.io import read_raster

        for tif in sorted(hdir.glob("*.tif")):
            if tif.stem == "geo_susceptibility" or tif.stem.startswith("flood_depth"):
                hazards[tif.stem] = read_raster(tif)
    return Sample(d, gpkg, county, county_name, townships, villages, buildings, facilities, hazards)


def _random_points(geom, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    import shapely

    minx, miny, maxx, maxy = geom.bounds
    xs, ys = [], []
    shapely.prepare(geom)
    for _ in range(20):
        x = rng.uniform(minx, maxx, n * 4)
        y = rng.uniform(miny, maxy, n * 4)
        ok = shapely.contains_xy(geom, x, y)
        xs.extend(x[ok])
        ys.extend(y[ok])
        if len(xs) >= n:
            break
    return np.asarray(xs[:n]), np.asarray(ys[:n])


def _hazard_points(sample: Sample, geom, rng: np.random.Generator, n_cand: int = 400):
    """Candidate points in the township with their geo-susceptibility class and flood depth."""
    from hazards.sampling import sample_points

    lon, lat = _random_points(geom, n_cand, rng)
    sus = np.full(lon.shape, np.nan)
    depth = np.full(lon.shape, np.nan)
    if "geo_susceptibility" in sample.hazards and lon.size:
        sus = np.asarray(sample_points(sample.hazards["geo_susceptibility"], lon, lat), dtype="float64")
    floods = sorted(k for k in sample.hazards if k.startswith("flood_depth"))
    if floods and lon.size:
        depth = np.asarray(sample_points(sample.hazards[floods[-1]], lon, lat), dtype="float64")
    return lon, lat, sus, depth


# ---------------------------------------------------------------------------------------------------
# Enrolment

class _Enroller:
    """Issues enrolments: through the county GeoPackage when given, else with throwaway county keys."""

    def __init__(self, sample: Sample, out_dir: Path, county_gpkg: Path | None):
        self.sample = sample
        self.county_gpkg = county_gpkg
        self.keys = None
        self.keys_path = None
        if county_gpkg is None:
            from sync.keys import generate_county_keys, save_county_keys

            kdir = out_dir / "county_keys"
            kdir.mkdir(parents=True, exist_ok=True)
            self.keys = generate_county_keys(sample.county)
            self.keys_path = kdir / "county.keys.json"
            if self.keys_path.exists():
                self.keys_path.unlink()
            save_county_keys(self.keys, self.keys_path)

    def divisions(self) -> dict:
        t = self.sample.townships
        v = self.sample.villages
        return {"townships": {str(c): str(n) for c, n in zip(t["code"], t["name"])},
                "villages": {str(c): {"name": str(n), "township": str(tc)}
                             for c, n, tc in zip(v["code"], v["name"], v["township_code"])}}

    def enrol(self, township: str, enumerator: str, device_id: str) -> dict:
        """The enrolment (as a dict, with the device private key) for one device of ``township``."""
        if self.county_gpkg is not None:  # recorded in the county's device register
            from sync.county import enrol_device

            enr, _ = enrol_device(self.county_gpkg, township=township, enumerator=enumerator, device_id=device_id)
            return enr.to_dict()
        from sync.package import make_enrolment

        names = dict(zip(map(str, self.sample.townships["code"]), map(str, self.sample.townships["name"])))
        enr, _ = make_enrolment(self.keys, county_name=self.sample.county_name, township=township,
                                township_name=names.get(township, ""), enumerator=enumerator,
                                divisions=self.divisions(), device_id=device_id)
        return enr.to_dict()

# ---------------------------------------------------------------------------------------------------
# The simulation

class _Clock:
    """Simulated time: each township's fieldwork on its own days, a few seconds per save."""

    def __init__(self, start: dt.datetime):
        self.t = start

    def __call__(self) -> dt.datetime:
        self.t += dt.timedelta(seconds=7)
        return self.t


def _id_factory(seed: int, salt: str) -> Callable[[], str]:
    import random

    r = random.Random(f"{seed}:{salt}")
    return lambda: str(uuid.UUID(int=r.getrandbits(128), version=4))


def _centroids(geojson_texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    import shapely

    if not geojson_texts:
        return np.zeros(0), np.zeros(0)
    geoms = shapely.from_geojson(geojson_texts)
    pts = shapely.point_on_surface(geoms)
    return shapely.get_x(pts), shapely.get_y(pts)


class _Township:
    """One township's fieldwork: stores, records, packages."""

    def __init__(self, sim: "_Simulation", row: Any, index: int):
        self.sim = sim
        self.code = str(row["code"])
        self.name = str(row["name"])
        self.geom = row.geometry
        self.index = index
        self.rng = np.random.default_rng([sim.seed, index, 7])
        self.fakers: dict[str, FormFaker] = {}
        self.counter = 0
        # form → item index → {field: true value} of the records spoiled on purpose
        self.truth: dict[str, dict[int, dict[str, Any]]] = {}
        self.answers: dict[str, dict[str, Any]] = {}   # record UUID → the true record

    def faker(self, form_id: str) -> FormFaker:
        if form_id not in self.fakers:
            self.fakers[form_id] = FormFaker(self.sim.forms[form_id], self.rng)
        return self.fakers[form_id]

    def place(self, village: str, lon: float, lat: float, shape: dict | None = None) -> Place:
        return Place(self.sim.sample.county, self.code, village, float(lon), float(lat), shape)

    def open_device(self, suffix: str, enumerator: str):
        from geodb.township import TownshipStore

        sim = self.sim
        device_id = _id_factory(sim.seed, f"device:{self.code}:{suffix}")()
        start = SIM_START + dt.timedelta(days=self.index)
        enrolment = sim.enroller.enrol(self.code, enumerator, device_id)
        db = sim.out_dir / "townships" / f"{self.code}{suffix}.db"
        for p in (db, Path(str(db) + ".key"), Path(str(db) + "-wal"), Path(str(db) + "-shm")):
            if p.exists():
                p.unlink()
        enr_path = sim.out_dir / "townships" / f"{self.code}{suffix}.enrolment.json"
        from sync.package import write_enrolment
        from sync.formats import Enrolment

        write_enrolment(Enrolment.from_dict(enrolment), enr_path)
        store = TownshipStore.init(db, enrolment, workmap=sim.workmaps.get(self.code), clock=_Clock(start),
                                   new_id=_id_factory(sim.seed, f"ids:{self.code}:{suffix}"))
        return store

    # -- records --------------------------------------------------------------------------------------
    def build_records(self, store) -> dict[str, list[tuple[dict, Place, bool]]]:
        """form_id → [(record, place, meant_valid)]."""
        sim, rng = self.sim, self.rng
        out: dict[str, list[tuple[dict, Place, bool]]] = {}

        def add(form_id: str, rec: dict, place: Place) -> None:
            out.setdefault(form_id, []).append((rec, place, True))

        # houses: one per footprint
        wm = store.workmap()
        lon, lat = _centroids([w["geometry"] for w in wm])
        for i, w in enumerate(wm):
            form_id = "urban_house" if w["urban"] and "urban_house" in sim.forms else "rural_house"
            if form_id not in sim.forms:
                continue
            place = self.place(w["village_code"] or "", lon[i], lat[i], json.loads(w["geometry"]))
            f = self.faker(form_id)
            add(form_id, f.record(place, house_answers(f, w, place)), place)
        # villages: capacity and population
        villages = sim.sample.villages[sim.sample.villages["township_code"].astype(str) == self.code]
        for _, v in villages.iterrows():
            vlon, vlat = _seat(v)
            place = self.place(str(v["code"]), vlon, vlat)
            answers = village_answers(self.rng, v, place)
            for form_id in ("village_capacity", "village_population"):
                if form_id in sim.forms:
                    f = self.faker(form_id)
                    answers["filled_by"], answers["filler_phone"] = f.person(), f.phone()
                    add(form_id, f.record(place, answers), place)
        # the township's own form
        if "township_capacity" in sim.forms:
            rp = self.geom.representative_point()
            place = self.place(str(villages["code"].iloc[0]) if len(villages) else "", rp.x, rp.y)
            f = self.faker("township_capacity")
            add("township_capacity", f.record(place, township_answers(f, self.name, len(villages))), place)
        # facilities
        fac = sim.sample.facilities
        if fac is not None and "public_facility" in sim.forms:
            fac_t = fac[fac["township_code"].astype(str) == self.code]
            for _, r in fac_t.iterrows():
                place = self.place(str(r["village_code"]), r.geometry.x, r.geometry.y)
                f = self.faker("public_facility")
                add("public_facility", f.record(place, facility_answers(f, r, place)), place)
        # hazard sites, history, hidden dangers — where the sample's hazard layers put them
        hlon, hlat, sus, depth = _hazard_points(sim.sample, self.geom, rng)
        vil_codes = [str(c) for c in villages["code"]] if len(villages) else [""]
        village_of = _village_lookup(villages)
        if getattr(sim, "_hazard_profiles", None) is None:
            sim._hazard_profiles = _hazard_profiles(sim.sample, sim.seed)
            sim._history_plan = _county_history(sim._hazard_profiles, sim.seed)
        th = sim._hazard_profiles.get(self.code)
        n_sites = int(rng.integers(1, 4))
        slope = _pick_slope_sites(th, n_sites, rng)
        high = _most_susceptible(sus, n_sites)
        if "geohazard_site" in sim.forms:
            if slope:   # on class 1–2 slopes, mostly above houses (the DEM says which)
                for k, j in enumerate(slope, start=1):
                    lon, lat = float(th.slope_lon[j]), float(th.slope_lat[j])
                    place = self.place(village_of(lon, lat) or vil_codes[0], lon, lat)
                    f = self.faker("geohazard_site")
                    ans = geohazard_answers(f, place, k, int(th.slope_below[j]), th.people_per_house)
                    add("geohazard_site", f.record(place, ans), place)
            else:
                for k, i in enumerate(high[:n_sites], start=1):
                    place = self.place(village_of(hlon[i], hlat[i]) or vil_codes[0], hlon[i], hlat[i])
                    f = self.faker("geohazard_site")
                    add("geohazard_site", f.record(place, geohazard_answers(f, place, k)), place)
        wet = [i for i in np.argsort(-np.nan_to_num(depth, nan=0.0), kind="stable") if np.nan_to_num(depth[i]) > 0]
        if "flood_mark" in sim.forms and (wet or not sim.sample.hazards):
            pick = wet[: int(rng.integers(1, 4))] if wet else list(range(min(2, hlon.size)))
            for k, i in enumerate(pick, start=1):
                place = self.place(village_of(hlon[i], hlat[i]) or vil_codes[0], hlon[i], hlat[i])
                f = self.faker("flood_mark")
                d = float(depth[i]) if np.isfinite(depth[i]) else 1.0
                add("flood_mark", f.record(place, flood_mark_answers(f, place, k, d, sim.river_name(rng))), place)
        rp = self.geom.representative_point()
        seat = self.place(vil_codes[0], rp.x, rp.y)
        plan = sim._history_plan
        if "disaster_annual" in sim.forms:   # every year 1978–2020 with a loss, per hazard type
            f = self.faker("disaster_annual")
            for y, hz, figs in plan.annual.get(self.code, []):
                add("disaster_annual", f.record(seat, annual_answers(f, seat, y, hz, figs)), seat)
        if "disaster_event" in sim.forms:    # the events this township leads (most affected)
            f = self.faker("disaster_event")
            for ev in plan.events.get(self.code, []):
                add("disaster_event", f.record(seat, event_answers(f, seat, ev["year"], ev["hazard"], ev["title"], ev)),
                    seat)
        if "key_hidden_danger" in sim.forms:
            f = self.faker("key_hidden_danger")
            fac = sim.sample.facilities
            fac_t = fac[fac["township_code"].astype(str) == self.code] if fac is not None else None
            placed = _place_dangers(th, slope, rng, fac_t)
            if placed:
                for k, (kind, lon, lat, people, level) in enumerate(placed, start=1):
                    place = self.place(village_of(lon, lat) or vil_codes[0], lon, lat)
                    add("key_hidden_danger", f.record(place, danger_answers(f, place, k, kind, people, level)), place)
            else:
                for k in range(1, int(rng.integers(1, 3)) + 1):
                    i = high[(k - 1) % len(high)] if high else 0
                    place = self.place(village_of(hlon[i], hlat[i]) or vil_codes[0], hlon[i], hlat[i]) if hlon.size else seat
                    add("key_hidden_danger", f.record(place, danger_answers(f, place, k)), place)
        return out

    def make_valid_and_invalid(self, store, batches: dict[str, list[tuple[dict, Place, bool]]]) -> dict[str, list]:
        """Repair what the validator rejects, then spoil ``error_rate`` of the records on purpose.
        Returns each form's validation results, in order, for the store to save without re-validating."""
        sim = self.sim
        checked: dict[str, list] = {}
        for form_id, items in batches.items():
            v = store.validator(form_id)
            faker = self.faker(form_id)
            results = v.validate_many([rec for rec, _, _ in items])
            checked[form_id] = results
            for idx, res in enumerate(results):
                attempt = 0
                rec, place, _ = items[idx]
                if not res.ok:
                    sim.result.repaired[form_id] = sim.result.repaired.get(form_id, 0) + 1
                while not res.ok and attempt < 30:
                    attempt += 1
                    if not faker.repair(rec, res.errors, place, attempt):
                        break
                    res = v.validate(rec)
                results[idx] = res
                if not res.ok:
                    sim.result.not_repaired += 1
                    sim.unrepaired.append((form_id, [p.line() for p in res.errors]))
            targets = _error_targets(sim.forms[form_id])
            kinds = [k for k in ERROR_KINDS if targets.get(k)]
            if not kinds:
                continue
            for idx, (rec, place, _) in enumerate(items):
                if self.rng.random() < sim.error_rate:
                    kind = kinds[int(self.rng.integers(len(kinds)))]
                    before = json.loads(json.dumps(rec))
                    if make_invalid(rec, sim.forms[form_id], kind, self.rng, targets):
                        # the whole true record: validating the spoiled one also clears the answers that
                        # its wrong value made irrelevant, and the return visit restores those too
                        self.truth.setdefault(form_id, {})[idx] = before
                        items[idx] = (rec, place, False)
                        results[idx] = v.validate(rec)
                        sim.result.invalid[kind] = sim.result.invalid.get(kind, 0) + 1
        return checked

    def save(self, store, batches: dict[str, list[tuple[dict, Place, bool]]], checked: dict[str, list]
             ) -> dict[str, list]:
        saved: dict[str, list] = {}
        for form_id, items in batches.items():
            recs = [rec for rec, _, _ in items]
            results = []
            for start in range(0, len(recs), 2000):
                results.extend(store.save_many(form_id, recs[start:start + 2000], force=True,
                                               checked=checked[form_id][start:start + 2000]))
            saved[form_id] = results
            for idx, true_values in self.truth.get(form_id, {}).items():
                if results[idx].record_uuid:
                    self.answers[results[idx].record_uuid] = true_values
            self.sim.result.records[form_id] = self.sim.result.records.get(form_id, 0) + len(results)
            self.sim.result.detected_invalid += sum(1 for r in results if r.errors)
        return saved

    def make_conflicts(self, store_a, saved: dict[str, list], n: int, enumerator_b: str):
        """Device B takes in n of device A's house records, then both edit them from that same parent."""
        houses = [r for fid in HOUSE_FORMS for r in saved.get(fid, []) if r.ok and r.revision_id]
        if not houses or n <= 0:
            return None
        chosen = [houses[int(i)] for i in self.rng.choice(len(houses), size=min(n, len(houses)), replace=False)]
        store_b = self.open_device("_b", enumerator_b)
        store_b.adopt_revisions(store_a.history(r.record_uuid)[-1] for r in chosen)
        for r in chosen:
            cur = store_a.get(r.record_uuid)
            data = dict(cur["data"])
            a = _edit(data, self.rng, "a")
            b = _edit(data, self.rng, "b")
            ra = store_a.save(cur["form_id"], a, record_uuid=r.record_uuid, force=True)
            rb = store_b.save(cur["form_id"], b, record_uuid=r.record_uuid, force=True)
            if ra.revision_id and rb.revision_id:
                self.sim.result.conflicts += 1
        return store_b


def _most_susceptible(sus: np.ndarray, n: int) -> list[int]:
    """Indices of candidate points on high geohazard susceptibility (class 1–2; 3 if none), or any
    points when the sample has no susceptibility layer."""
    finite = np.isfinite(sus)
    if not finite.any():
        return list(range(sus.size))
    for worst in (2, 3, 5):
        idx = [int(i) for i in np.flatnonzero(finite & (sus <= worst))]
        if len(idx) >= n:
            return sorted(idx, key=lambda i: (sus[i], i))
    return [int(i) for i in np.flatnonzero(finite)]


# ---------------------------------------------------------------------------------------------------
# Hazard-aware placement and the county's disaster history (consistent with the sample's layers)

_SIM_CPI_2020 = 6.865          # consumer prices 2020 / 1978 (NBS CPI, 1978 = 100 → about 686.5 in 2020)
SLOPE_REACH_M = 400.0          # houses within this distance …
SLOPE_REACH_TAN = math.tan(math.radians(24.0))   # … and below the site by at least this angle are "below"
WET_NEAR_M = 1000.0


def _sim_price_factor(year: int) -> float:
    """2020 prices ÷ prices of ``year`` for the simulated statistics: smooth 1978–2020 inflation
    (years before 1978 at 1978 prices). The real CPI path is bumpier; this is simulation only."""
    y = min(max(int(year), 1978), 2020)
    return _SIM_CPI_2020 ** ((2020 - y) / 42.0)


@dataclass
class _TownshipHazards:
    """What the sample's layers say about one township, for placing sites and sizing its history."""

    code: str
    population: float
    n_buildings: int
    n_rural: int
    n_wet: int                 # footprints flooded by the sample's rarest flood layer
    n_surge: int               # footprints under storm-surge water
    drought: float             # mean drought index at the footprints (0–1)
    n_slope_houses: int        # footprints below some high-susceptibility slope
    slope_lon: np.ndarray      # candidate sites on susceptibility class 1–2 …
    slope_lat: np.ndarray
    slope_x: np.ndarray        # … in Gauss-Krüger metres
    slope_y: np.ndarray
    slope_sus: np.ndarray
    slope_below: np.ndarray    # … and the footprints below each within reach
    wet_lon: np.ndarray        # flooded points and the footprints within 1 km of each
    wet_lat: np.ndarray
    wet_near: np.ndarray
    bld_lon: np.ndarray
    bld_lat: np.ndarray
    bld_urban: np.ndarray

    @property
    def people_per_house(self) -> float:
        """Residents per footprint (a sample footprint may stand for several real houses)."""
        return self.population / max(self.n_buildings, 1)

    @property
    def exposure(self) -> dict[str, float]:
        return {"n_buildings": self.n_buildings, "n_rural": self.n_rural, "n_wet": self.n_wet,
                "n_surge": self.n_surge, "drought_rural": self.drought * self.n_rural,
                "n_slope_houses": self.n_slope_houses}


def _sample_layer(sample: Sample, layer_id: str):
    """A layer of the sample (hazards/<id>.tif or terrain/dem.tif), read once; None when absent."""
    cache = sample.__dict__.setdefault("_layer_cache", {})
    if layer_id not in cache:
        if layer_id in sample.hazards:
            cache[layer_id] = sample.hazards[layer_id]
        else:
            path = sample.dir / ("terrain/dem.tif" if layer_id == "dem" else f"hazards/{layer_id}.tif")
            from hazards.io import read_raster

            cache[layer_id] = read_raster(path) if path.is_file() else None
    return cache[layer_id]


def _at(sample: Sample, layer_id: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    from hazards.sampling import sample_points

    da = _sample_layer(sample, layer_id)
    if da is None or not len(lon):
        return np.full(len(lon), np.nan)
    return np.asarray(sample_points(da, lon, lat), dtype="float64")


def _township_hazards(sample: Sample, row: Any, rng: np.random.Generator) -> _TownshipHazards:
    import shapely
    from pyproj import Transformer
    from scipy.spatial import cKDTree

    from exposure.footprints import gk_crs_for

    code, geom = str(row["code"]), row.geometry
    b = sample.buildings[sample.buildings["township_code"].astype(str) == code]
    cen = shapely.centroid(b.geometry.to_numpy()) if len(b) else np.zeros(0, dtype=object)
    blon = shapely.get_x(cen) if len(b) else np.zeros(0)
    blat = shapely.get_y(cen) if len(b) else np.zeros(0)
    urban = b["urban"].astype(int).to_numpy() if "urban" in b.columns and len(b) else np.zeros(len(b), int)
    floods = sorted((k for k in sample.hazards if k.startswith("flood_depth")),
                    key=lambda k: int(re.sub(r"\D", "", k) or 0))
    wet_b = np.nan_to_num(_at(sample, floods[-1], blon, blat)) > 0 if floods else np.zeros(len(b), bool)
    surge_b = np.nan_to_num(_at(sample, "storm_surge_depth", blon, blat)) > 0
    drought = _at(sample, "drought", blon, blat)
    pop = float(row["population"]) if "population" in row.index and row["population"] == row["population"] \
        else 3.0 * len(b)
    tr = Transformer.from_crs("EPSG:4490", gk_crs_for(float(geom.centroid.x)), always_xy=True)
    bx, by = tr.transform(blon, blat)
    tree = cKDTree(np.c_[bx, by]) if len(b) else None
    # candidate slope sites: cells of susceptibility class 1–2 inside the township (at most 3000)
    sus_da = _sample_layer(sample, "geo_susceptibility")
    dem = _sample_layer(sample, "dem")
    empty = np.zeros(0)
    slon = slat = sx = sy = ssus = below = empty
    n_slope_houses = 0
    if sus_da is not None:
        xs, ys = np.meshgrid(np.asarray(sus_da["x"].values), np.asarray(sus_da["y"].values))
        v = np.asarray(sus_da.values)
        sel = (v >= 1) & (v <= 2)
        cx, cy, cv = xs[sel], ys[sel], v[sel]
        inside = shapely.contains_xy(geom, cx, cy)
        cx, cy, cv = cx[inside], cy[inside], cv[inside]
        if cx.size > 3000:
            keep = np.sort(rng.choice(cx.size, 3000, replace=False))
            cx, cy, cv = cx[keep], cy[keep], cv[keep]
        slon, slat, ssus = cx, cy, cv.astype("float64")
        sx, sy = (np.asarray(a) for a in tr.transform(cx, cy))
        below = np.zeros(cx.size, dtype=int)
        if dem is not None and tree is not None and cx.size:
            zc = _at(sample, "dem", cx, cy)
            zb = _at(sample, "dem", blon, blat)
            houses: set[int] = set()
            for i, idx in enumerate(tree.query_ball_point(np.c_[sx, sy], SLOPE_REACH_M)):
                if not idx:
                    continue
                idx = np.asarray(idx)
                d = np.maximum(np.hypot(bx[idx] - sx[i], by[idx] - sy[i]), 30.0)
                hit = idx[(zc[i] - zb[idx]) / d >= SLOPE_REACH_TAN]
                below[i] = hit.size
                houses.update(hit.tolist())
            n_slope_houses = len(houses)
    # flooded points near houses (dyke weak sections go there)
    wlon = wlat = wnear = empty
    if floods:
        px, py = _random_points(geom, 300, rng)
        d = np.nan_to_num(_at(sample, floods[-1], px, py)) > 0
        wlon, wlat = px[d], py[d]
        if tree is not None and wlon.size:
            wx, wy = tr.transform(wlon, wlat)
            wnear = np.array([len(i) for i in tree.query_ball_point(np.c_[wx, wy], WET_NEAR_M)])
        else:
            wnear = np.zeros(wlon.size, dtype=int)
    return _TownshipHazards(code, pop, int(len(b)), int((urban == 0).sum()), int(wet_b.sum()), int(surge_b.sum()),
                            float(np.nanmean(drought)) if np.isfinite(drought).any() else 0.0, n_slope_houses,
                            slon, slat, sx, sy, ssus, below, wlon, wlat, wnear, blon, blat, urban)


def _hazard_profiles(sample: Sample, seed: int) -> dict[str, _TownshipHazards]:
    t = sample.townships.sort_values("code").reset_index(drop=True)
    return {str(r["code"]): _township_hazards(sample, r, np.random.default_rng([seed, i, 11]))
            for i, r in t.iterrows()}


def _pick_slope_sites(th: _TownshipHazards | None, n: int, rng: np.random.Generator, gap_m: float = 400.0
                      ) -> list[int]:
    """Up to ``n`` slope candidates at least ``gap_m`` apart: most where houses lie below (chance ∝ houses),
    some anywhere on the slopes — a register holds both kinds."""
    if th is None or not th.slope_lon.size:
        return []
    chosen: list[int] = []
    w = th.slope_below.astype("float64") ** 1.5     # favour the slopes with most houses below
    for k in range(n):
        pool = w if (w.sum() > 0 and (k == 0 or rng.random() < 0.75)) else np.ones_like(w)
        for _ in range(30):
            i = int(rng.choice(w.size, p=pool / pool.sum()))
            if all(math.hypot(th.slope_x[i] - th.slope_x[j], th.slope_y[i] - th.slope_y[j]) >= gap_m for j in chosen):
                chosen.append(i)
                break
    return chosen


# yearly process of each hazard type in the simulated statistics. per: mean loss (万元/yr, 2020 prices)
# per unit of the exposure (a count from _TownshipHazards.exposure); p: chance of a loss in a year (p_trend
# per year since 1978); sigma: lognormal spread of a year's loss; growth: real growth of losses per year
# (more assets exposed); big: years of regional disasters (loss × factor, always recorded).
_HISTORY_PROCESSES: dict[str, dict[str, Any]] = {
    "flood": dict(per=0.5, exposure="n_wet", p=0.3, sigma=1.0, growth=0.04, big={1985: 3, 1994: 8, 2013: 4},
                  people=4.0, deaths=0.02, crop=0.08, houses=1 / 150, relocate=0.08),
    "rainstorm": dict(per=0.02, exposure="n_buildings", p=0.35, sigma=0.8, growth=0.03, big={1994: 2, 2017: 4},
                      people=6.0, deaths=0.005, crop=0.05, houses=1 / 400, relocate=0.02),
    "drought_hydro": dict(per=0.15, exposure="drought_rural", p=0.15, p_trend=0.006, sigma=0.7, growth=0.0,
                          big={2000: 5, 2009: 3, 2014: 3, 2018: 2}, people=15.0, deaths=0.0, crop=1.5, houses=0.0,
                          relocate=0.0),
    "storm_surge": dict(per=0.3, exposure="n_surge", p=0.08, sigma=1.0, growth=0.02, big={1992: 6, 1997: 4, 2012: 3},
                        people=3.0, deaths=0.01, crop=0.05, houses=1 / 100, relocate=0.1),
    "strong_wind": dict(per=0.01, exposure="n_buildings", p=0.3, sigma=0.8, growth=0.0, big={}, people=5.0,
                        deaths=0.005, crop=0.3, houses=1 / 500, relocate=0.0),
    "typhoon": dict(per=0.01, exposure="n_buildings", p=0.0, sigma=0.5, growth=0.0, big={1985: 1, 2012: 1, 2020: 1},
                    people=5.0, deaths=0.01, crop=0.3, houses=1 / 300, relocate=0.05),
    "hail": dict(per=0.01, exposure="n_rural", p=0.3, p_trend=-0.004, sigma=0.8, growth=0.0, big={}, people=8.0,
                 deaths=0.0, crop=1.0, houses=0.0, relocate=0.0),
    "landslide": dict(per=0.05, exposure="n_slope_houses", p=0.04, sigma=1.0, growth=0.0, big={1994: 1, 2013: 1},
                      people=2.0, deaths=0.05, crop=0.0, houses=1 / 50, relocate=0.2),
}
# major events 1949–2020 (simulated, after the region's known disasters; the figures are not real):
# (year, month, day, hazard type, title, days, loss factor for events before 1978)
_EVENTS = (
    (1949, 8, 1, "flood", "辽西大水", 5, 3.0), (1960, 8, 3, "flood", "特大洪水", 4, 4.0),
    (1962, 7, 25, "flood", "暴雨洪水", 3, 2.0), (1969, 4, 23, "storm_surge", "渤海风暴潮", 2, 4.0),
    (1975, 2, 4, "earthquake", "海城地震波及", 1, 1.0), (1985, 8, 19, "typhoon", "8509号台风暴雨", 3, 0.0),
    (1992, 9, 1, "storm_surge", "9216号台风风暴潮", 2, 0.0), (1994, 8, 15, "flood", "特大暴雨洪水", 4, 0.0),
    (1997, 8, 20, "storm_surge", "9711号台风风暴潮", 2, 0.0), (2000, 6, 1, "drought_hydro", "特大干旱", 80, 0.0),
    (2009, 7, 10, "drought_hydro", "夏伏旱", 50, 0.0), (2012, 8, 3, "typhoon", "1210号台风“达维”", 2, 0.0),
    (2013, 8, 16, "flood", "暴雨洪涝", 3, 0.0), (2017, 8, 2, "rainstorm", "暴雨", 2, 0.0),
    (2018, 6, 1, "drought_hydro", "干旱", 60, 0.0), (2020, 9, 3, "typhoon", "台风“美莎克”“海神”", 5, 0.0),
)
_UNDER_REPORTING = 2           # townships whose statistics before 1995 are lost and later ones incomplete


@dataclass
class _HistoryPlan:
    annual: dict[str, list[tuple[int, str, dict]]]    # township → [(year, hazard, figures)]
    events: dict[str, list[dict]]                     # lead township → event plans
    under_reported: tuple[str, ...] = ()


def _county_history(profiles: Mapping[str, _TownshipHazards], seed: int) -> _HistoryPlan:
    """Annual statistics 1978–2020 per township and hazard, and the major events 1949–2020, sized by each
    township's exposure in the sample's layers (flooded, surge-prone, drought-prone, below slopes)."""
    rng = np.random.default_rng([seed, 1978, 2020])
    years = np.arange(1978, 2021)
    annual: dict[str, list[tuple[int, str, dict]]] = {c: [] for c in profiles}
    wet = sorted(c for c, p in profiles.items() if p.n_wet > 0)
    under = tuple(sorted(str(c) for c in rng.choice(wet, size=min(_UNDER_REPORTING, len(wet)), replace=False))) \
        if len(wet) > 4 else ()
    for code in sorted(profiles):
        th = profiles[code]
        quality = float(np.exp(rng.normal(0.0, 0.5)))      # how completely this township reports
        for hz, pr in _HISTORY_PROCESSES.items():
            e = float(th.exposure[pr["exposure"]])
            if e <= 0:
                continue
            p = np.clip(pr["p"] + pr.get("p_trend", 0.0) * (years - 1978), 0.02 if pr["p"] else 0.0, 0.9)
            big = np.array([pr["big"].get(int(y), 0) for y in years], dtype="float64")
            occur = (rng.random(years.size) < p) | (big > 0)
            raw = np.exp(rng.normal(0.0, pr["sigma"], years.size)) * (1 + pr["growth"]) ** (years - 1999.0)
            raw *= np.where(big > 0, big, 1.0)
            raw = np.where(occur, raw, 0.0)
            if raw.sum() <= 0:
                continue
            loss = raw * (pr["per"] * e * quality * years.size / raw.sum())     # 43-year mean = per × exposure
            for y, l in zip(years, loss):
                if l <= 0:
                    continue
                y = int(y)
                if code in under:
                    if y < 1995:
                        continue
                    l *= 0.1
                decline = math.exp(-(y - 1978) / 20.0)           # warnings and sturdier houses save lives
                affected = int(min(th.population, l * pr["people"] * math.exp(rng.normal(0, 0.3))))
                figs = {"loss_2020_wan": round(float(l), 2), "affected_people": max(affected, 1),
                        "deaths": int(rng.poisson(pr["deaths"] * l / 100.0 * decline)),
                        "missing": int(rng.poisson(pr["deaths"] * l / 400.0 * decline)),
                        "crop_ha": l * pr["crop"] * float(np.exp(rng.normal(0, 0.3))),
                        "collapsed": int(rng.poisson(l * pr["houses"] * decline)),
                        "relocated_share": pr["relocate"] * float(rng.uniform(0.5, 1.5))}
                annual[code].append((y, hz, figs))
    events: dict[str, list[dict]] = {}
    for y, mo, day, hz, title, days, factor in _EVENTS:
        parts: list[tuple[str, float, float, dict]] = []          # township, loss, people, figures
        if y >= 1978:
            for code, rows in annual.items():
                for yy, h, f in rows:
                    if yy == y and h == hz:
                        parts.append((code, 0.8 * f["loss_2020_wan"], 0.8 * f["affected_people"], f))
        else:
            pr = _HISTORY_PROCESSES.get(hz)
            for code, th in profiles.items():
                e = float(th.exposure[pr["exposure"]]) if pr else 0.05 * th.n_buildings   # earthquake: felt damage
                if e <= 0:
                    continue
                l = (pr["per"] if pr else 1.0) * e * factor * float(np.exp(rng.normal(0, 0.4)))
                parts.append((code, l, min(th.population, l * (pr["people"] if pr else 3.0)), {}))
        if not parts:
            continue
        lead = max(parts, key=lambda t: t[1])[0]
        loss = sum(t[1] for t in parts)
        decline = math.exp(-(y - 1949) / 15.0)
        events.setdefault(lead, []).append({
            "year": y, "hazard": hz, "title": title, "start": dt.date(y, mo, day), "days": days,
            "townships": [(c, max(1, int(p))) for c, _l, p, _f in sorted(parts)],
            "loss_2020_wan": loss, "deaths": int(rng.poisson(0.3 * loss / 1000.0 * decline) + (y < 1970) * 3),
            "collapsed": int(loss / 50.0 * decline)})
    return _HistoryPlan(annual, events, under)


def _place_dangers(th: _TownshipHazards | None, slope_sites: list[int], rng: np.random.Generator,
                   facilities=None) -> list[tuple[str, float, float, int, str]]:
    """Key hidden dangers where the layers put them: (danger type, lon, lat, people estimate, risk level).

    The township's worst slope site (also a geohazard site: registers overlap), a weak dyke section on
    flooded land near houses, a chemical plant at the edge of town, a dangerous house, a crowded place,
    a forest-fire spot on the hills — one to three of those the township has."""
    if th is None:
        return []
    options: list[tuple[str, float, float, int, str]] = []
    if slope_sites:
        i = max(slope_sites, key=lambda j: th.slope_below[j])
        if th.slope_below[i] > 0:
            options.append(("geohazard", float(th.slope_lon[i]), float(th.slope_lat[i]),
                            int(th.slope_below[i] * th.people_per_house), str(int(th.slope_sus[i]))))
    if th.wet_lon.size and th.wet_near.size and th.wet_near.max() > 0:
        i = int(np.argmax(th.wet_near))
        options.append(("dyke_weak_section", float(th.wet_lon[i]), float(th.wet_lat[i]),
                        int(th.wet_near[i] * th.people_per_house * 0.5), "2"))
    urban = np.flatnonzero(th.bld_urban == 1)
    if urban.size >= 20:
        i = int(urban[rng.integers(urban.size)])
        options.append(("chemical_vicinity", float(th.bld_lon[i]), float(th.bld_lat[i]),
                        int(rng.integers(100, 400) * th.people_per_house), "2"))
    if facilities is not None and len(facilities) and rng.random() < 0.5:
        r = facilities.iloc[int(rng.integers(len(facilities)))]
        options.append(("crowded_place", float(r.geometry.x), float(r.geometry.y),
                        int(rng.integers(10, 40) * th.people_per_house), "3"))
    rural = np.flatnonzero(th.bld_urban == 0)
    if rural.size:
        i = int(rural[rng.integers(rural.size)])
        options.append(("dangerous_house", float(th.bld_lon[i]), float(th.bld_lat[i]),
                        int(rng.integers(2, 6) * th.people_per_house), "3"))
    if th.slope_lon.size and rng.random() < 0.3:
        i = int(rng.integers(th.slope_lon.size))
        options.append(("forest_fire", float(th.slope_lon[i]), float(th.slope_lat[i]), int(rng.integers(10, 200)), "3"))
    if not options:
        return []
    k = min(len(options), int(rng.integers(1, 4)))
    first = [options[0]] if options[0][0] in ("geohazard", "dyke_weak_section") else []
    rest = [o for o in options if o not in first]
    pick = [rest[int(j)] for j in rng.choice(len(rest), size=min(len(rest), k - len(first)), replace=False)] if rest else []
    return first + pick


def _edit(data: dict, rng: np.random.Generator, who: str) -> dict:
    """Two plausible, different corrections of the same house record."""
    d = dict(data)
    d.pop("year_band", None)
    if who == "a":
        if isinstance(d.get("floors"), int):
            d["floors"] = max(1, min(10, d["floors"] + 1 if d["floors"] < 10 else d["floors"] - 1))
            if isinstance(d.get("floor_area"), (int, float)):
                d["floor_area"] = round(d["floor_area"] * d["floors"] / max(1, data["floors"]), 1)
        d["remarks"] = "复核：层数更正"
    else:
        if isinstance(d.get("year_built"), int):
            d["year_built"] = max(1950, d["year_built"] - int(rng.integers(1, 6)))
        d["remarks"] = "复核：建造年份更正（户主口述）"
    return d


def _seat(v: Any) -> tuple[float, float]:
    if "seat_lon" in v and "seat_lat" in v and v["seat_lon"] == v["seat_lon"]:
        return float(v["seat_lon"]), float(v["seat_lat"])
    p = v.geometry.representative_point()
    return p.x, p.y


def _village_lookup(villages) -> Callable[[float, float], str | None]:
    import shapely

    if not len(villages):
        return lambda x, y: None
    geoms = villages.geometry.to_numpy()
    codes = [str(c) for c in villages["code"]]
    tree = shapely.STRtree(geoms)

    def find(x: float, y: float) -> str | None:
        hits = tree.query(shapely.Point(x, y), predicate="intersects")
        return codes[int(hits[0])] if len(hits) else None

    return find


class _Simulation:
    def __init__(self, sample: Sample, out_dir: Path, *, error_rate: float, conflicts: int, seed: int,
                 county_gpkg: Path | None, progress: Progress | None):
        from schemas.catalogue import all_forms

        self.sample = sample
        self.out_dir = out_dir
        self.error_rate = error_rate
        self.conflicts = conflicts
        self.seed = seed
        self.progress = progress or (lambda step, done, total: None)
        self.forms = all_forms()
        wanted = ("rural_house", "urban_house", "village_capacity", "village_population", "township_capacity",
                  "public_facility", "geohazard_site", "flood_mark", "disaster_annual", "disaster_event",
                  "key_hidden_danger")
        self.result = FieldworkResult(out_dir, skipped_forms=[f for f in wanted if f not in self.forms])
        self.unrepaired: list[tuple[str, list[str]]] = []
        self.enroller = _Enroller(sample, out_dir, county_gpkg)
        self.result.county_keys = self.enroller.keys_path
        self.rivers = _river_names(sample)
        from geodb.township import load_workmaps

        self.workmaps = load_workmaps(sample.gpkg, [str(c) for c in sample.townships["code"]])

    def river_name(self, rng: np.random.Generator) -> str:
        return self.rivers[int(rng.integers(len(self.rivers)))]

    def run(self) -> FieldworkResult:
        from sync.package import build_package

        t = self.sample.townships.sort_values("code").reset_index(drop=True)
        n = len(t)
        # conflicts go to the townships with the most footprints, round robin
        counts = self.sample.buildings["township_code"].astype(str).value_counts()
        ranked = [c for c in counts.index if c in set(t["code"].astype(str))]
        per: dict[str, int] = {}
        for k in range(self.conflicts):
            if ranked:
                code = ranked[k % min(len(ranked), 3)]
                per[code] = per.get(code, 0) + 1
        pkg_dir = self.out_dir / "packages"
        for i, row in t.iterrows():
            tw = _Township(self, row, int(i))
            enum_a = FormFaker(self.forms["rural_house"], tw.rng).person() if "rural_house" in self.forms else "普查员"
            store = tw.open_device("", enum_a)
            try:
                batches = tw.build_records(store)
                checked = tw.make_valid_and_invalid(store, batches)
                saved = tw.save(store, batches, checked)
                answers = self.out_dir / "townships" / f"{tw.code}.answers.json"
                answers.write_text(json.dumps(tw.answers, ensure_ascii=False, indent=1, sort_keys=True),
                                   encoding="utf-8")
                store_b = None
                if per.get(tw.code):
                    store_b = tw.make_conflicts(store, saved, per[tw.code], enum_a + "（二）")
                for s in (store, store_b):
                    if s is None:
                        continue
                    dev = DeviceResult(tw.code, s.enumerator, s.device_id, s.path)
                    if s.pending_revisions():
                        res = s.export(pkg_dir, build_package=build_package)
                        dev.package, dev.revisions = res.path, res.revisions
                    self.result.devices.append(dev)
                    if s is store_b:
                        s.close()
            finally:
                store.close()
            self.progress("townships", int(i) + 1, n)
        return self.result


def _river_names(sample: Sample) -> list[str]:
    import pyogrio

    names: list[str] = []
    if any(name == "rivers" for name, _ in pyogrio.list_layers(sample.gpkg)):
        r = pyogrio.read_dataframe(sample.gpkg, layer="rivers", read_geometry=False)
        if "name" in r.columns:
            names = sorted({str(x) for x in r["name"] if isinstance(x, str) and x})
    return names or ["六股河", "烟台河", "兴城河"]


def simulate_fieldwork(sample_dir: str | Path, out_dir: str | Path, *, error_rate: float = 0.02, conflicts: int = 5,
                       seed: int = 0, county_gpkg: str | Path | None = None,
                       progress: Progress | None = None) -> FieldworkResult:
    """Fill every township's work map of the sample in township stores and export their packages.

    Writes ``OUT/townships/{township}.db`` (+ ``.key`` and the enrolment), a second device's store
    ``{township}_b.db`` where conflicts were made, and the return packages — nothing else — in
    ``OUT/packages/``. With ``county_gpkg`` the devices are enrolled in that county GeoPackage;
    otherwise with throwaway county keys in ``OUT/county_keys/``.
    """
    import time

    if not 0.0 <= error_rate <= 1.0:
        raise FieldworkError(f"错误比例应在 0 到 1 之间：{error_rate} / error rate must be between 0 and 1")
    if conflicts < 0:
        raise FieldworkError(f"冲突数不能为负：{conflicts} / conflicts cannot be negative")
    t0 = time.perf_counter()
    sample = read_sample(sample_dir)
    out = Path(out_dir)
    for sub in ("townships", "packages"):
        d = out / sub
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    sim = _Simulation(sample, out, error_rate=error_rate, conflicts=conflicts, seed=seed,
                      county_gpkg=as_target(county_gpkg) if county_gpkg else None, progress=progress)
    result = sim.run()
    result.seconds = time.perf_counter() - t0
    return result
