"""The typed form model: what a compiled form is.

Form files (YAML in ``schemas/forms``) and XLSForms both compile to these frozen dataclasses; the
validator, the table spec, the desktop widget spec and the XLSForm exporter read only this model.
The model is XLSForm-shaped on purpose (one constraint per field, ``${name}`` expressions, code lists
as ``choices``) so that export → import gives the same model back.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

REFERENCE_DATE = dt.date(2020, 12, 31)  # 普查标准时点
REFERENCE_YEAR = REFERENCE_DATE.year


class Block(str, enum.Enum):
    """The seven blocks of census content named in the notice (葫政办发〔2020〕85号)."""

    HAZARD = "hazard"                      # 致灾调查
    EXPOSURE = "exposure"                  # 承灾体调查
    HISTORY = "history"                    # 历史灾害调查
    CAPACITY = "capacity"                  # 综合减灾资源（能力）调查
    HIDDEN_DANGER = "hidden_danger"        # 重点隐患调查
    SINGLE_RISK = "single_risk"            # 主要灾害风险评估与区划
    COMPREHENSIVE_RISK = "comprehensive_risk"  # 灾害综合风险评估与区划

    @property
    def title_zh(self) -> str:
        return BLOCK_TITLES[self][0]

    @property
    def title_en(self) -> str:
        return BLOCK_TITLES[self][1]


BLOCK_TITLES: dict[Block, tuple[str, str]] = {
    Block.HAZARD: ("致灾调查", "Hazards"),
    Block.EXPOSURE: ("承灾体调查", "Exposure"),
    Block.HISTORY: ("历史灾害调查", "Historical disasters"),
    Block.CAPACITY: ("综合减灾资源（能力）调查", "Disaster-reduction capacity"),
    Block.HIDDEN_DANGER: ("重点隐患调查", "Key hidden dangers"),
    Block.SINGLE_RISK: ("主要灾害风险评估与区划", "Single-hazard risk assessment and zoning"),
    Block.COMPREHENSIVE_RISK: ("灾害综合风险评估与区划", "Comprehensive risk assessment and zoning"),
}


class FieldType(str, enum.Enum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    SELECT_ONE = "select_one"
    SELECT_MULTIPLE = "select_multiple"
    GEOPOINT = "geopoint"
    GEOTRACE = "geotrace"
    GEOSHAPE = "geoshape"
    NOTE = "note"
    CALCULATE = "calculate"
    GROUP = "group"
    REPEAT = "repeat"

    @property
    def is_container(self) -> bool:
        return self in (FieldType.GROUP, FieldType.REPEAT)

    @property
    def is_geometry(self) -> bool:
        return self in (FieldType.GEOPOINT, FieldType.GEOTRACE, FieldType.GEOSHAPE)

    @property
    def is_select(self) -> bool:
        return self in (FieldType.SELECT_ONE, FieldType.SELECT_MULTIPLE)

    @property
    def holds_value(self) -> bool:
        """Fields whose answer is stored in a record (notes and groups are not)."""
        return self not in (FieldType.NOTE, FieldType.GROUP)


class Division(str, enum.Enum):
    """Administrative division levels and their code lengths (GB/T 2260 and the statistical codes)."""

    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"

    @property
    def digits(self) -> int:
        return {"county": 6, "township": 9, "village": 12}[self.value]


@dataclass(frozen=True)
class Text:
    """Bilingual text, Chinese first."""

    zh: str
    en: str

    def get(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True)
class Choice:
    name: str            # the stored code, e.g. "1" or "brick_concrete"
    label: Text
    filters: tuple[tuple[str, str], ...] = ()  # extra columns for choice_filter, e.g. (("family", "geological"),)


@dataclass(frozen=True)
class ChoiceList:
    name: str
    label: Text
    choices: tuple[Choice, ...]

    def names(self) -> frozenset[str]:
        return frozenset(c.name for c in self.choices)

    def label_of(self, name: str) -> Text | None:
        for c in self.choices:
            if c.name == name:
                return c.label
        return None


@dataclass(frozen=True)
class Constraint:
    expression: str           # XLSForm syntax, "." is the field's own value
    message: Text | None      # the form's own message; None → the catalogue's template
    code: str = "CONSTRAINT"  # a schemas.errors.Code value, e.g. REFERENCE_DATE


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    label: Text
    hint: Text | None = None
    required: bool = False
    required_if: str | None = None     # an expression: required only when true
    required_message: Text | None = None
    relevant: str | None = None        # skip logic: the field exists only when true
    constraint: Constraint | None = None
    calculation: str | None = None     # for CALCULATE fields
    choices: str | None = None         # name of a ChoiceList for selects
    choice_filter: str | None = None
    default: str | None = None
    read_only: bool = False
    appearance: str | None = None
    unit: str | None = None            # e.g. "m²", "人", "万元"
    division: Division | None = None   # this text field holds a division code of that level
    max_length: int | None = None
    repeat_min: int | None = None
    repeat_max: int | None = None
    children: tuple["Field", ...] = ()

    @property
    def label_zh(self) -> str:
        return self.label.zh

    @property
    def label_en(self) -> str:
        return self.label.en

    def walk(self):
        """This field and every descendant, depth first."""
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass(frozen=True)
class Form:
    id: str
    version: str
    block: Block
    title: Text
    fields: tuple[Field, ...]
    choice_lists: tuple[ChoiceList, ...] = ()
    description: Text | None = None
    confidential: bool = False          # encrypted in return packages
    geometry_field: str | None = None   # the field that places a record on the map
    key_field: str | None = None        # natural key within a township, e.g. building_id
    hazard_family: str | None = None    # for hazard-block forms, the hazards registry family id
    source: str | None = None           # where the real form comes from

    @property
    def title_zh(self) -> str:
        return self.title.zh

    @property
    def title_en(self) -> str:
        return self.title.en

    def walk(self):
        for f in self.fields:
            yield from f.walk()

    def field_count(self) -> int:
        return sum(1 for f in self.walk() if f.type not in (FieldType.GROUP, FieldType.REPEAT))

    def field(self, name: str) -> Field:
        for f in self.walk():
            if f.name == name:
                return f
        raise KeyError(name)

    def choice_list(self, name: str) -> ChoiceList:
        for cl in self.choice_lists:
            if cl.name == name:
                return cl
        raise KeyError(name)


@dataclass(frozen=True)
class CompileResult:
    """What the compiler returns: the form, and warnings that did not stop it (pyxform habit)."""

    form: Form
    warnings: tuple = field(default=())
