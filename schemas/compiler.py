"""Form definitions (plain dicts, as read from YAML or XLSForm) → the typed form model.

No file I/O here (pyxform's habit): the catalogue reads files, XLSForm import builds dicts; both hand
them to :func:`compile_form`, which returns a :class:`CompileResult` or raises
:class:`FormDefinitionError` listing every problem found.

Shorthands expanded here, so that the model (and every XLSForm made from it) is explicit:

- ``reference: event`` on a date field → constraint ``. <= date('2020-12-31')`` (code REFERENCE_DATE);
- ``reference: year`` on an integer field (with ``min_year``, default 1949) → constraint
  ``. >= MIN and . <= 2020`` (code REFERENCE_DATE);
- ``division: township`` (county/village) on a text field → a digits-only regex constraint
  (code DIVISION_CODE); the validator also checks the county prefix and the register.
"""

from __future__ import annotations

from typing import Any, Mapping

from .errors import Code, FormDefinitionError, Problem, problem
from .model import (REFERENCE_DATE, REFERENCE_YEAR, Block, Choice, ChoiceList, CompileResult, Constraint,
                    Division, Field, FieldType, Form, Text)

_FIELD_KEYS = {
    "name", "type", "label", "hint", "required", "required_message", "relevant", "constraint", "calculation",
    "choices", "choice_filter", "default", "read_only", "appearance", "unit", "division", "max_length",
    "min", "max", "fields", "reference", "min_year",
}
_FORM_KEYS = {
    "id", "version", "block", "title", "description", "confidential", "geometry_field", "key_field",
    "hazard_family", "source", "choices", "choice_lists", "fields",
}

REF_DATE_ISO = REFERENCE_DATE.isoformat()


def _text(value: Any, where: str, problems: list[Problem], *, required: bool = True) -> Text | None:
    if value is None:
        if required:
            problems.append(problem(Code.FORM_MISSING_LABEL, where, field=where))
        return None
    if isinstance(value, str):
        return Text(value, value)
    if isinstance(value, Mapping):
        extra = sorted(map(str, set(value) - {"zh", "en"}))
        if extra:  # usually an unquoted comma in YAML that split the text: say so, never drop words
            problems.append(problem(Code.FORM_INVALID, where, detail=(
                f"{where}: 文字中有多余的键 {extra}（YAML 中含逗号的文字请加引号） / "
                f"extra keys {extra}: quote text that contains a comma")))
        zh, en = value.get("zh"), value.get("en")
        if not zh or not en:
            problems.append(problem(Code.FORM_MISSING_LABEL, where, field=where))
        return Text(str(zh or en or ""), str(en or zh or ""))
    problems.append(problem(Code.FORM_INVALID, where, detail=f"{where}: 标签应为 {{zh, en}} / label must be {{zh, en}}"))
    return None


def compile_choice_list(data: Mapping[str, Any]) -> ChoiceList:
    """A code list dict ``{name, label, choices: [{name, zh, en, ...filters}]}`` → ChoiceList."""
    problems: list[Problem] = []
    name = str(data.get("name") or "")
    if not name:
        raise FormDefinitionError("代码表缺少 name", "code list lacks a name", code=Code.FORM_INVALID)
    label = _text(data.get("label"), f"choices:{name}", problems) or Text(name, name)
    seen: set[str] = set()
    items = []
    for i, c in enumerate(data.get("choices") or []):
        cname = str(c.get("name", "")).strip()
        if not cname or " " in cname:
            problems.append(problem(Code.FORM_INVALID, f"choices:{name}[{i}]",
                                    detail=f"代码表 {name} 第{i + 1}项的代码为空或含空格 / empty or spaced code"))
            continue
        if cname in seen:
            problems.append(problem(Code.FORM_DUPLICATE_NAME, f"choices:{name}", field=f"{name}:{cname}"))
        seen.add(cname)
        lab = c.get("label") or {"zh": c.get("zh"), "en": c.get("en")}
        text = _text(lab, f"choices:{name}:{cname}", problems) or Text(cname, cname)
        empty = [str(k) for k, v in c.items() if k not in ("name", "zh", "en", "label") and v is None]
        if empty:  # an unquoted comma in a YAML flow mapping leaves a key with no value
            problems.append(problem(Code.FORM_INVALID, f"choices:{name}:{cname}", detail=(
                f"代码表 {name} 的“{cname}”有空的键 {empty}（含逗号的文字请加引号） / "
                f"empty keys {empty}: quote text that contains a comma")))
        filters = tuple(sorted((str(k), str(v)) for k, v in c.items()
                               if k not in ("name", "zh", "en", "label") and v is not None))
        items.append(Choice(cname, text, filters))
    if problems:
        raise FormDefinitionError(f"代码表 {name} 有误", f"code list {name} is invalid", code=Code.FORM_INVALID,
                                  problems=problems)
    return ChoiceList(name, label, tuple(items))


class _Compiler:
    def __init__(self, data: Mapping[str, Any], codelists: Mapping[str, ChoiceList]):
        self.data = data
        self.codelists = codelists
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.names: set[str] = set()
        self.used_lists: dict[str, ChoiceList] = {}
        self.local_lists: dict[str, ChoiceList] = {}

    def err(self, code: Code, path: str, **values) -> None:
        self.problems.append(problem(code, path, **values))

    # -- fields -------------------------------------------------------------------------------------
    def field(self, d: Mapping[str, Any], path: str) -> Field | None:
        if not isinstance(d, Mapping):
            self.err(Code.FORM_INVALID, path, detail=f"{path}: 字段定义应为对象 / a field must be a mapping")
            return None
        name = str(d.get("name") or "")
        where = f"{path}.{name}" if path else name
        if not name or not name.replace("_", "a").isalnum() or not (name[0].isalpha() or name[0] == "_"):
            self.err(Code.FORM_INVALID, where, detail=f"字段名“{name}”无效（字母开头，仅含字母数字下划线） / bad field name")
            return None
        if name in self.names:
            self.err(Code.FORM_DUPLICATE_NAME, where, field=name)
        self.names.add(name)
        extra = set(d) - _FIELD_KEYS
        if extra:
            self.err(Code.FORM_INVALID, where, detail=f"字段“{name}”有未知属性 {sorted(extra)} / unknown keys")

        raw_type = str(d.get("type") or "")
        choices = d.get("choices")
        parts = raw_type.split()
        if len(parts) == 2 and parts[0] in ("select_one", "select_multiple"):  # XLSForm "select_one list"
            raw_type, choices = parts[0], choices or parts[1]
        try:
            ftype = FieldType(raw_type)
        except ValueError:
            self.err(Code.FORM_UNKNOWN_TYPE, where, field=name, value=raw_type)
            return None

        label = _text(d.get("label"), where, self.problems,
                      required=ftype not in (FieldType.CALCULATE,)) or Text(name, name)
        hint = _text(d.get("hint"), where, self.problems, required=False)

        required, required_if = False, None
        req = d.get("required", False)
        if isinstance(req, bool):
            required = req
        elif isinstance(req, str) and req.strip().lower() in ("yes", "true", "true()"):
            required = True
        elif isinstance(req, str) and req.strip().lower() in ("", "no", "false", "false()"):
            required = False
        elif isinstance(req, str):
            required_if = req
        constraint = self.constraint(d, ftype, where, name)

        division = None
        if d.get("division"):
            try:
                division = Division(d["division"])
            except ValueError:
                self.err(Code.FORM_INVALID, where, detail=f"division 应为 county/township/village / bad division")
            else:
                if ftype is not FieldType.TEXT:
                    self.err(Code.FORM_INVALID, where, detail="division 只用于文本字段 / division needs a text field")
                if constraint is None:
                    constraint = Constraint(f"regex(., '^[0-9]{{{division.digits}}}$')",
                                            Text(f"应为{division.digits}位数字的行政区划代码",
                                                 f"must be a {division.digits}-digit division code"),
                                            Code.DIVISION_CODE.value)

        if ftype.is_select:
            if not choices:
                self.err(Code.FORM_UNKNOWN_CHOICES, where, field=name, value="")
            else:
                choices = str(choices)
                cl = self.local_lists.get(choices) or self.codelists.get(choices)
                if cl is None:
                    self.err(Code.FORM_UNKNOWN_CHOICES, where, field=name, value=choices)
                else:
                    self.used_lists[choices] = cl
        elif choices:
            self.err(Code.FORM_INVALID, where, detail="只有选择题可以有 choices / only selects take choices")
            choices = None

        if ftype is FieldType.CALCULATE and not d.get("calculation"):
            self.err(Code.FORM_INVALID, where, detail="计算字段需要 calculation / calculate needs a calculation")

        children: tuple[Field, ...] = ()
        if ftype.is_container:
            kids = d.get("fields") or []
            if not kids:
                self.err(Code.FORM_INVALID, where, detail="分组或重复组需要 fields / group or repeat needs fields")
            children = tuple(f for f in (self.field(k, where) for k in kids) if f is not None)
        elif d.get("fields"):
            self.err(Code.FORM_INVALID, where, detail="只有 group/repeat 可以包含 fields / only groups hold fields")

        rmin = d.get("min")
        rmax = d.get("max")
        if (rmin is not None or rmax is not None) and ftype is not FieldType.REPEAT:
            self.err(Code.FORM_INVALID, where, detail="min/max 只用于重复组 / min/max are for repeats")
        if rmin is not None and rmax is not None and int(rmin) > int(rmax):
            self.err(Code.FORM_INVALID, where, detail="min 大于 max / min exceeds max")

        def opt_str(key: str) -> str | None:
            v = d.get(key)
            return None if v is None or v == "" else str(v)

        return Field(
            name=name, type=ftype, label=label, hint=hint, required=required, required_if=required_if,
            required_message=_text(d.get("required_message"), where, self.problems, required=False),
            relevant=opt_str("relevant"), constraint=constraint, calculation=opt_str("calculation"),
            choices=choices if ftype.is_select else None, choice_filter=opt_str("choice_filter"),
            default=opt_str("default"), read_only=bool(d.get("read_only", False)),
            appearance=opt_str("appearance"), unit=opt_str("unit"), division=division,
            max_length=int(d["max_length"]) if d.get("max_length") else None,
            repeat_min=int(rmin) if rmin is not None else None,
            repeat_max=int(rmax) if rmax is not None else None,
            children=children,
        )

    def constraint(self, d: Mapping[str, Any], ftype: FieldType, where: str, name: str) -> Constraint | None:
        ref = d.get("reference")
        c = d.get("constraint")
        if ref and c:
            self.err(Code.FORM_INVALID, where,
                     detail="reference 与 constraint 不能同时使用，请把标准时点条件写进 constraint / use one of them")
            return None
        if ref == "event":
            if ftype is not FieldType.DATE:
                self.err(Code.FORM_INVALID, where, detail="reference: event 只用于日期字段 / needs a date field")
            return Constraint(f". <= date('{REF_DATE_ISO}')",
                              Text(f"不能晚于普查标准时点 {REF_DATE_ISO}",
                                   f"cannot be after the census reference point {REF_DATE_ISO}"),
                              Code.REFERENCE_DATE.value)
        if ref == "year":
            if ftype is not FieldType.INTEGER:
                self.err(Code.FORM_INVALID, where, detail="reference: year 只用于整数字段 / needs an integer field")
            lo = int(d.get("min_year", 1949))
            return Constraint(f". >= {lo} and . <= {REFERENCE_YEAR}",
                              Text(f"应为 {lo} 年至普查标准时点 {REFERENCE_YEAR} 年之间的年份，不能晚于 {REF_DATE_ISO}",
                                   f"must be a year from {lo} to {REFERENCE_YEAR}, not after the census reference "
                                   f"point {REF_DATE_ISO}"),
                              Code.REFERENCE_DATE.value)
        if ref:
            self.err(Code.FORM_INVALID, where, detail=f"reference 只能是 event 或 year / unknown reference '{ref}'")
            return None
        if d.get("min_year") is not None:
            self.err(Code.FORM_INVALID, where, detail="min_year 需要 reference: year / min_year needs reference: year")
        if c is None:
            return None
        if isinstance(c, str):
            return Constraint(c, None, Code.CONSTRAINT.value)
        if isinstance(c, Mapping) and c.get("expr"):
            code = str(c.get("code") or Code.CONSTRAINT.value)
            if code not in Code.__members__:
                self.err(Code.FORM_INVALID, where, detail=f"约束代码“{code}”不在错误目录中 / unknown code")
            msg = _text(c.get("message"), where, self.problems, required=False)
            return Constraint(str(c["expr"]), msg, code)
        self.err(Code.FORM_INVALID, where, detail="constraint 应为表达式或 {expr, message, code} / bad constraint")
        return None

    # -- form ---------------------------------------------------------------------------------------
    def form(self) -> CompileResult:
        d = self.data
        if not isinstance(d, Mapping):
            raise FormDefinitionError("表单定义应为对象", "a form definition must be a mapping", code=Code.FORM_INVALID)
        extra = set(d) - _FORM_KEYS
        if extra:
            self.err(Code.FORM_INVALID, "", detail=f"表单有未知属性 {sorted(extra)} / unknown form keys")
        form_id = str(d.get("id") or "")
        if not form_id or not form_id.replace("_", "a").isalnum():
            self.err(Code.FORM_INVALID, "id", detail=f"表单编号“{form_id}”无效 / bad form id")
        try:
            block = Block(d.get("block"))
        except ValueError:
            self.err(Code.FORM_INVALID, "block",
                     detail=f"block 应为 {[b.value for b in Block]} 之一 / unknown block '{d.get('block')}'")
            block = Block.EXPOSURE
        title = _text(d.get("title"), "title", self.problems) or Text(form_id, form_id)
        for raw in d.get("choice_lists") or []:
            try:
                cl = compile_choice_list(raw)
            except FormDefinitionError as e:
                self.problems.extend(e.problems)
                continue
            self.local_lists[cl.name] = cl
        for name in d.get("choices") or []:  # shared code lists this form uses, declared up front
            if name not in self.codelists and name not in self.local_lists:
                self.err(Code.FORM_UNKNOWN_CHOICES, "choices", field=form_id, value=name)

        fields = tuple(f for f in (self.field(x, "") for x in d.get("fields") or []) if f is not None)
        if not fields:
            self.err(Code.FORM_INVALID, "fields", detail="表单没有字段 / the form has no fields")

        for key in ("geometry_field", "key_field"):
            ref = d.get(key)
            if ref and ref not in self.names:
                self.err(Code.FORM_UNKNOWN_REFERENCE, key, field=key, value=ref)

        lists = dict(self.used_lists)
        lists.update({k: v for k, v in self.local_lists.items()})
        form = Form(
            id=form_id, version=str(d.get("version") or "1"), block=block, title=title, fields=fields,
            choice_lists=tuple(lists[k] for k in sorted(lists)),
            description=_text(d.get("description"), "description", self.problems, required=False),
            confidential=bool(d.get("confidential", False)), geometry_field=d.get("geometry_field") or None,
            key_field=d.get("key_field") or None, hazard_family=d.get("hazard_family") or None,
            source=d.get("source") or None,
        )
        self.check_expressions(form)
        if self.problems:
            raise FormDefinitionError(
                f"表单 {form_id} 有 {len(self.problems)} 处错误：" + "；".join(p.message_zh for p in self.problems[:5]),
                f"form {form_id} has {len(self.problems)} problem(s): " + "; ".join(p.message_en for p in self.problems[:5]),
                code=Code.FORM_INVALID, problems=self.problems)
        return CompileResult(form, tuple(self.warnings))

    def check_expressions(self, form: Form) -> None:
        from .expressions import ExpressionError, compile_expression

        for f in form.walk():
            exprs = [("relevant", f.relevant), ("calculation", f.calculation), ("required", f.required_if),
                     ("choice_filter", f.choice_filter),
                     ("constraint", f.constraint.expression if f.constraint else None)]
            for kind, text in exprs:
                if not text:
                    continue
                try:
                    e = compile_expression(text)
                except ExpressionError as ex:
                    self.err(Code.FORM_BAD_EXPRESSION, f.name, field=f.name, detail=f"{kind}: {ex.message_zh}")
                    continue
                for ref in sorted(e.references - self.names):
                    self.err(Code.FORM_UNKNOWN_REFERENCE, f.name, field=f.name, value=ref)
                if kind != "choice_filter" and e.columns:  # a bare name only means something in a choice filter
                    self.err(Code.FORM_BAD_EXPRESSION, f.name, field=f.name, detail=(
                        f"{kind}: 字段引用应写作 ${{{sorted(e.columns)[0]}}} / write a field as ${{name}}"))


def compile_form(data: Mapping[str, Any], codelists: Mapping[str, ChoiceList] | None = None) -> CompileResult:
    """Compile one form definition; ``codelists`` are the shared code lists by name."""
    return _Compiler(data, codelists or {}).form()
