"""One error catalogue for forms and records.

Every problem the validator or the compiler reports carries a stable code from :class:`Code`;
tests assert on codes, users read the zh/en messages. Templates take ``{label_zh}``, ``{label_en}``,
``{field}`` and code-specific values; a form's own constraint message, when it has one, replaces the
template text (ODK does the same).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Code(str, enum.Enum):
    # record-level
    RECORD_NOT_OBJECT = "RECORD_NOT_OBJECT"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    # field-level
    REQUIRED = "REQUIRED"
    TYPE_INTEGER = "TYPE_INTEGER"
    TYPE_DECIMAL = "TYPE_DECIMAL"
    TYPE_DATE = "TYPE_DATE"
    TYPE_TEXT = "TYPE_TEXT"
    TEXT_TOO_LONG = "TEXT_TOO_LONG"
    CHOICE_UNKNOWN = "CHOICE_UNKNOWN"
    CHOICE_NOT_OFFERED = "CHOICE_NOT_OFFERED"
    CONSTRAINT = "CONSTRAINT"
    REFERENCE_DATE = "REFERENCE_DATE"
    YEAR_RANGE = "YEAR_RANGE"
    DIVISION_CODE = "DIVISION_CODE"
    DIVISION_UNKNOWN = "DIVISION_UNKNOWN"
    DIVISION_OUTSIDE = "DIVISION_OUTSIDE"
    DIVISION_MISMATCH = "DIVISION_MISMATCH"
    GEOMETRY_PARSE = "GEOMETRY_PARSE"
    GEOMETRY_INVALID = "GEOMETRY_INVALID"
    GEOMETRY_OUTSIDE = "GEOMETRY_OUTSIDE"
    REPEAT_NOT_LIST = "REPEAT_NOT_LIST"
    REPEAT_MIN = "REPEAT_MIN"
    REPEAT_MAX = "REPEAT_MAX"
    EXPRESSION_FAILED = "EXPRESSION_FAILED"
    # form (compiler) level
    FORM_INVALID = "FORM_INVALID"
    FORM_DUPLICATE_NAME = "FORM_DUPLICATE_NAME"
    FORM_UNKNOWN_TYPE = "FORM_UNKNOWN_TYPE"
    FORM_UNKNOWN_CHOICES = "FORM_UNKNOWN_CHOICES"
    FORM_BAD_EXPRESSION = "FORM_BAD_EXPRESSION"
    FORM_UNKNOWN_REFERENCE = "FORM_UNKNOWN_REFERENCE"
    FORM_MISSING_LABEL = "FORM_MISSING_LABEL"
    # input files
    FILE_UNREADABLE = "FILE_UNREADABLE"


# (zh, en) message templates.  They say what is wrong and how to fix it.
TEMPLATES: dict[Code, tuple[str, str]] = {
    Code.RECORD_NOT_OBJECT: ("记录必须是“字段: 值”形式的对象，请检查文件格式",
                             "a record must be an object of field: value pairs; check the file format"),
    Code.UNKNOWN_FIELD: ("表单中没有字段“{field}”，请删除该列或核对字段名",
                         "the form has no field '{field}'; remove that column or fix its name"),
    Code.REQUIRED: ("“{label_zh}”为必填项，请填写",
                    "'{label_en}' is required; please fill it in"),
    Code.TYPE_INTEGER: ("“{label_zh}”应为整数，当前值“{value}”无法识别",
                        "'{label_en}' must be a whole number; '{value}' is not"),
    Code.TYPE_DECIMAL: ("“{label_zh}”应为数字，当前值“{value}”无法识别",
                        "'{label_en}' must be a number; '{value}' is not"),
    Code.TYPE_DATE: ("“{label_zh}”应为日期（格式 YYYY-MM-DD），当前值“{value}”无法识别",
                     "'{label_en}' must be a date (YYYY-MM-DD); '{value}' is not"),
    Code.TYPE_TEXT: ("“{label_zh}”应为文字", "'{label_en}' must be text"),
    Code.TEXT_TOO_LONG: ("“{label_zh}”过长（{length} 字），请精简到 {limit} 字以内",
                         "'{label_en}' is too long ({length} characters); shorten it to {limit}"),
    Code.CHOICE_UNKNOWN: ("“{label_zh}”的选项“{value}”不在代码表 {list_name} 中，请从列表中选择",
                          "'{label_en}': '{value}' is not in code list {list_name}; pick a listed option"),
    Code.CHOICE_NOT_OFFERED: ("“{label_zh}”的选项“{value}”不适用于本记录（按表单的筛选条件不可选），请重新选择",
                              "'{label_en}': option '{value}' is not offered for this record by the form's filter; "
                              "choose another"),
    Code.CONSTRAINT: ("“{label_zh}”的值不符合要求", "'{label_en}' does not satisfy its rule"),
    Code.REFERENCE_DATE: ("“{label_zh}”不能晚于普查标准时点 2020-12-31，请核实后重填",
                          "'{label_en}' cannot be after the census reference point 2020-12-31; check and correct it"),
    Code.YEAR_RANGE: ("“{label_zh}”的年份超出允许范围，请核实", "'{label_en}' is outside the allowed years; check it"),
    Code.DIVISION_CODE: ("“{label_zh}”应为 {digits} 位行政区划代码，当前值“{value}”格式不对",
                         "'{label_en}' must be a {digits}-digit division code; '{value}' is malformed"),
    Code.DIVISION_UNKNOWN: ("“{label_zh}”的区划代码“{value}”不在本县区划名录中，请核对",
                            "'{label_en}': division code '{value}' is not in the county's register; check it"),
    Code.DIVISION_OUTSIDE: ("“{label_zh}”的区划代码“{value}”不属于本普查区 {county}，请核对",
                            "'{label_en}': division code '{value}' is not within census area {county}; check it"),
    Code.DIVISION_MISMATCH: ("“{label_zh}”的村（社区）代码“{value}”不属于本记录的乡镇 {township}，请核对",
                              "'{label_en}': village code '{value}' is not in this record's township {township}; check it"),
    Code.GEOMETRY_PARSE: ("“{label_zh}”的位置无法识别：{detail}。请在地图上重新点选或按“纬度 经度”填写",
                          "'{label_en}': location not understood ({detail}); pick it again on the map or type 'lat lon'"),
    Code.GEOMETRY_INVALID: ("“{label_zh}”的图形无效（{detail}），请重新绘制",
                            "'{label_en}': the geometry is not valid ({detail}); redraw it"),
    Code.GEOMETRY_OUTSIDE: ("“{label_zh}”的位置在本普查区范围以外，请核对坐标（CGCS2000 经纬度）",
                            "'{label_en}' lies outside the census area; check the coordinates (CGCS2000 lon/lat)"),
    Code.REPEAT_NOT_LIST: ("“{label_zh}”应为多条记录的列表", "'{label_en}' must be a list of entries"),
    Code.REPEAT_MIN: ("“{label_zh}”至少需要 {min} 条，当前 {count} 条，请补充",
                      "'{label_en}' needs at least {min} entries, has {count}; add more"),
    Code.REPEAT_MAX: ("“{label_zh}”最多 {max} 条，当前 {count} 条，请删减",
                      "'{label_en}' allows at most {max} entries, has {count}; remove some"),
    Code.EXPRESSION_FAILED: ("“{label_zh}”的校验规则无法计算：{detail}",
                             "'{label_en}': its rule could not be evaluated: {detail}"),
    Code.FORM_INVALID: ("表单定义有误：{detail}", "form definition is invalid: {detail}"),
    Code.FORM_DUPLICATE_NAME: ("表单中字段名“{field}”重复", "field name '{field}' is used twice"),
    Code.FORM_UNKNOWN_TYPE: ("字段“{field}”的类型“{value}”无法识别", "field '{field}' has unknown type '{value}'"),
    Code.FORM_UNKNOWN_CHOICES: ("字段“{field}”引用的代码表“{value}”不存在",
                                "field '{field}' uses code list '{value}', which does not exist"),
    Code.FORM_BAD_EXPRESSION: ("字段“{field}”的表达式有误：{detail}", "field '{field}' has a bad expression: {detail}"),
    Code.FORM_UNKNOWN_REFERENCE: ("字段“{field}”的表达式引用了不存在的字段“{value}”",
                                  "field '{field}' refers to '{value}', which is not in the form"),
    Code.FORM_MISSING_LABEL: ("字段“{field}”缺少中文或英文标签", "field '{field}' lacks a Chinese or English label"),
    Code.FILE_UNREADABLE: ("无法读取文件：{detail}", "cannot read the file: {detail}"),
}


class _SafeDict(dict):
    def __missing__(self, key):  # a template never crashes on a missing value
        return "{" + key + "}"


def render(code: Code, **values) -> tuple[str, str]:
    zh, en = TEMPLATES[code]
    v = _SafeDict(values)
    return zh.format_map(v), en.format_map(v)


@dataclass(frozen=True)
class Problem:
    """One problem with one record (or form): a code, where, and what to do, in zh and en."""

    code: Code
    path: str  # field path, e.g. "year_built" or "members[2].age"; "" for the whole record
    message_zh: str
    message_en: str
    row: int | None = None  # 1-based row/record number in the input file, when known
    severity: str = "error"  # "error" | "warning"

    def line(self, file: str | None = None) -> str:
        """One line, Chinese first then English, naming the file, record and field."""
        where = []
        if file:
            where.append(str(file))
        if self.row is not None:
            where.append(f"第{self.row}行/row {self.row}")
        if self.path:
            where.append(self.path)
        prefix = ": ".join(where)
        text = f"{self.message_zh} / {self.message_en} [{self.code.value}]"
        return f"{prefix}: {text}" if prefix else text

    def as_dict(self) -> dict:
        return {"code": self.code.value, "path": self.path, "row": self.row, "severity": self.severity,
                "message_zh": self.message_zh, "message_en": self.message_en}


def problem(code: Code, path: str, *, row: int | None = None, severity: str = "error", **values) -> Problem:
    zh, en = render(code, **values)
    return Problem(code, path, zh, en, row=row, severity=severity)


class HasProblems:
    """Mixin for results carrying ``problems``: warnings do not make a result invalid."""

    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


class CensusError(ValueError):
    """Base for errors a user can fix; carries zh/en text (and is a ValueError, as rasterio's are)."""

    def __init__(self, message_zh: str, message_en: str, *, code: Code | None = None,
                 problems: list[Problem] | None = None):
        super().__init__(f"{message_zh} / {message_en}")
        self.message_zh = message_zh
        self.message_en = message_en
        self.code = code
        self.problems = list(problems or [])


class FormDefinitionError(CensusError):
    """A form file does not compile; ``problems`` lists every issue found."""
