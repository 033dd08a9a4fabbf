"""NRML (OpenQuake's XML) readers: fragility models (NRML 0.4 and 0.5) and exposure models.

Parsing uses the standard library's expat parser directly so that every element keeps its line number
(errors name it). Documents with a DOCTYPE or entity declarations are refused outright — NRML never
needs them, and refusing them rules out entity-expansion ("billion laughs") and external-entity tricks —
and files are size-capped before they are read.
"""

from __future__ import annotations

import math
import xml.parsers.expat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from risk.fragility import ContinuousFragility, DiscreteFragility, FragilityError, FragilityModel

from .errors import OQInputError, check_file

MAX_XML_BYTES = 64 * 1024 * 1024  # NRML fragility/exposure files are kilobytes to a few megabytes


@dataclass
class XmlNode:
    """An element with its local tag name (namespace dropped), attributes, direct text and line."""

    tag: str
    attrib: dict[str, str]
    line: int
    children: list[XmlNode] = field(default_factory=list)
    _text: list[str] = field(default_factory=list, repr=False)

    @property
    def text(self) -> str:
        return "".join(self._text).strip()

    def find(self, tag: str) -> XmlNode | None:
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[XmlNode]:
        return [c for c in self.children if c.tag == tag]

    def iter(self, tag: str) -> Iterator[XmlNode]:
        if self.tag == tag:
            yield self
        for c in self.children:
            yield from c.iter(tag)


class _Refused(Exception):
    pass


def parse_xml(path: object, max_bytes: int = MAX_XML_BYTES) -> XmlNode:
    """Parse an XML file into :class:`XmlNode` s; refuse DTDs/entities; errors name the file and line."""
    p = check_file(path, "XML ", "XML", max_bytes)
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    stack: list[XmlNode] = []
    root: list[XmlNode] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]
        node = XmlNode(local, {k.rsplit(" ", 1)[-1]: v for k, v in attrs.items()}, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(name: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        if stack:
            stack[-1]._text.append(data)

    def refuse(*_args) -> None:
        raise _Refused()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    try:
        with open(p, "rb") as fh:
            parser.ParseFile(fh)
    except _Refused:
        raise OQInputError(p, parser.CurrentLineNumber, None,
                           "XML 含 DOCTYPE 或实体声明，出于安全原因拒绝读取；NRML 文件不需要它们，请删除",
                           "the XML has a DOCTYPE or entity declaration, refused for safety; NRML needs "
                           "neither, remove it") from None
    except xml.parsers.expat.ExpatError as e:
        raise OQInputError(p, e.lineno, None, f"XML 格式错误（{xml.parsers.expat.errors.messages[e.code]}）",
                           f"malformed XML ({xml.parsers.expat.errors.messages[e.code]})") from None
    if not root:
        raise OQInputError(p, None, None, "XML 文件为空", "the XML file is empty")
    return root[0]


# ----------------------------------------------------------------------------------------------- helpers

def _float(path: Path, node: XmlNode, attr: str, *, required: bool = True, default: float | None = None,
           positive: bool = False, nonneg: bool = False) -> float | None:
    raw = node.attrib.get(attr)
    if raw is None or raw.strip() == "":
        if required:
            raise OQInputError(path, node.line, attr, f"<{node.tag}> 缺少属性 {attr}",
                               f"<{node.tag}> lacks the attribute {attr}")
        return default
    try:
        v = float(raw)
    except ValueError:
        raise OQInputError(path, node.line, attr, f"“{raw}”不是数字", f"'{raw}' is not a number") from None
    if not math.isfinite(v):
        raise OQInputError(path, node.line, attr, f"“{raw}”不是有限数", f"'{raw}' is not a finite number")
    if positive and v <= 0:
        raise OQInputError(path, node.line, attr, f"应大于 0，得到 {raw}", f"must be > 0, got {raw}")
    if nonneg and v < 0:
        raise OQInputError(path, node.line, attr, f"不能为负，得到 {raw}", f"must not be negative, got {raw}")
    return v


def _floats(path: Path, node: XmlNode, what: str) -> tuple[float, ...]:
    parts = node.text.replace(",", " ").split()
    if not parts:
        raise OQInputError(path, node.line, what, f"<{node.tag}> 中没有数值", f"<{node.tag}> holds no numbers")
    out = []
    for s in parts:
        try:
            v = float(s)
        except ValueError:
            raise OQInputError(path, node.line, what, f"“{s}”不是数字", f"'{s}' is not a number") from None
        if not math.isfinite(v):
            raise OQInputError(path, node.line, what, f"“{s}”不是有限数", f"'{s}' is not a finite number")
        out.append(v)
    return tuple(out)


def _increasing(path: Path, node: XmlNode, what: str) -> tuple[float, ...]:
    levels = _floats(path, node, what)
    if any(b <= a for a, b in zip(levels, levels[1:])):
        raise OQInputError(path, node.line, what, f"强度值必须严格递增：{list(levels)}",
                           f"intensity levels must be strictly increasing: {list(levels)}")
    return levels


def _child(path: Path, node: XmlNode, tag: str) -> XmlNode:
    c = node.find(tag)
    if c is None:
        raise OQInputError(path, node.line, tag, f"<{node.tag}> 缺少子元素 <{tag}>",
                           f"<{node.tag}> lacks the child element <{tag}>")
    return c


def _model_element(path: Path, root: XmlNode, tag: str) -> XmlNode:
    if root.tag == tag:
        return root
    if root.tag == "nrml":
        found = root.find(tag)
        if found is not None:
            return found
    raise OQInputError(path, root.line, tag, f"不是 NRML {tag} 文件（未找到 <{tag}>）",
                       f"not an NRML {tag} file (no <{tag}> element)")


# ------------------------------------------------------------------------------------------- fragility

@dataclass(frozen=True)
class FragilitySource:
    """A fragility model read from NRML, with the loss type it is for (column prefix in outputs)."""

    model: FragilityModel
    loss_type: str
    nrml_version: str
    path: str


def read_fragility_model(path: object) -> FragilitySource:
    """Read an OpenQuake fragility model: NRML 0.5 ``fragilityFunction`` or NRML 0.4 ``ffs`` layout,
    continuous (``params mean= stddev=``) or discrete (``imls`` + ``poes``)."""
    root = parse_xml(path)
    p = Path(str(path))
    fm = _model_element(p, root, "fragilityModel")
    ls_node = _child(p, fm, "limitStates")
    limit_states = tuple(ls_node.text.split())
    if not limit_states:
        raise OQInputError(p, ls_node.line, "limitStates", "没有列出极限状态", "no limit states listed")
    if len(set(limit_states)) != len(limit_states):
        raise OQInputError(p, ls_node.line, "limitStates", f"极限状态重复：{list(limit_states)}",
                           f"duplicate limit states: {list(limit_states)}")
    if fm.findall("fragilityFunction"):
        version = "0.5"
        parsed = [_read_ff05(p, ff, limit_states) for ff in fm.findall("fragilityFunction")]
    elif fm.findall("ffs"):
        version = "0.4"
        parsed = [_read_ffs04(p, fm, ffs, limit_states) for ffs in fm.findall("ffs")]
    else:
        raise OQInputError(p, fm.line, "fragilityFunction", "模型中没有易损性函数",
                           "the model holds no fragility functions")
    functions: dict[str, list] = {}
    imts: dict[str, str] = {}
    for taxonomy, imt, fns, line in parsed:
        if taxonomy in functions:
            raise OQInputError(p, line, "id", f"分类“{taxonomy}”重复定义", f"taxonomy '{taxonomy}' is defined twice")
        functions[taxonomy] = fns
        imts[taxonomy] = imt
    first_imt = parsed[0][1]
    try:
        model = FragilityModel(limit_states, functions, first_imt,
                               imt_by_taxonomy={t: i for t, i in imts.items() if i != first_imt},
                               id=fm.attrib.get("id", ""),
                               description=(fm.find("description").text if fm.find("description") is not None else ""))
    except FragilityError as e:
        raise OQInputError(p, fm.line, None, e.message_zh, e.message_en) from None
    loss_type = fm.attrib.get("lossCategory", "").strip() or "structural"
    return FragilitySource(model, loss_type, version, str(p))


def _by_ls(p: Path, nodes: list[XmlNode], limit_states: tuple[str, ...], owner: XmlNode) -> list[XmlNode]:
    """The per-limit-state nodes, checked to be exactly the model's limit states in order."""
    got = [n.attrib.get("ls", "") for n in nodes]
    if got != list(limit_states):
        raise OQInputError(p, owner.line, "ls", f"极限状态为 {got}，应与 <limitStates> 一致：{list(limit_states)}",
                           f"limit states {got} do not match <limitStates> {list(limit_states)}")
    return nodes


def _make(p: Path, line: int, cls, *args):
    try:
        return cls(*args)
    except FragilityError as e:
        raise OQInputError(p, line, None, e.message_zh, e.message_en) from None


def _read_ff05(p: Path, ff: XmlNode, limit_states: tuple[str, ...]):
    taxonomy = ff.attrib.get("id", "").strip()
    if not taxonomy:
        raise OQInputError(p, ff.line, "id", "<fragilityFunction> 缺少 id（分类名）",
                           "<fragilityFunction> lacks its id (the taxonomy)")
    fmt = ff.attrib.get("format", "").strip()
    imls = _child(p, ff, "imls")
    imt = imls.attrib.get("imt", "").strip()
    if not imt:
        raise OQInputError(p, imls.line, "imt", "<imls> 缺少 imt 属性", "<imls> lacks the imt attribute")
    ndl = _float(p, imls, "noDamageLimit", required=False, default=0.0, nonneg=True)
    if fmt == "continuous":
        lo = _float(p, imls, "minIML", required=False, default=0.0, nonneg=True)
        hi = _float(p, imls, "maxIML", required=False, default=0.0, nonneg=True)
        fns = []
        for node in _by_ls(p, ff.findall("params"), limit_states, ff):
            mean = _float(p, node, "mean", positive=True)
            sd = _float(p, node, "stddev", nonneg=True)
            fns.append(_make(p, node.line, ContinuousFragility, node.attrib["ls"], mean, sd, lo, hi, ndl))
    elif fmt == "discrete":
        levels = _increasing(p, imls, "imls")
        fns = []
        for node in _by_ls(p, ff.findall("poes"), limit_states, ff):
            poes = _floats(p, node, "poes")
            fns.append(_make(p, node.line, DiscreteFragility, node.attrib["ls"], levels, poes, ndl or None))
    else:
        raise OQInputError(p, ff.line, "format", f"format 应为 continuous 或 discrete，得到“{fmt}”",
                           f"format must be continuous or discrete, got '{fmt}'")
    return taxonomy, imt, fns, ff.line


def _read_ffs04(p: Path, fm: XmlNode, ffs: XmlNode, limit_states: tuple[str, ...]):
    fmt = fm.attrib.get("format", "").strip()
    tax_node = _child(p, ffs, "taxonomy")
    taxonomy = tax_node.text
    if not taxonomy:
        raise OQInputError(p, tax_node.line, "taxonomy", "<taxonomy> 为空", "<taxonomy> is empty")
    iml = ffs.find("IML") if ffs.find("IML") is not None else fm.find("IML")  # NRML 0.4 allows one model-wide IML
    if iml is None:
        raise OQInputError(p, ffs.line, "IML", "<ffs> 缺少 <IML>", "<ffs> lacks <IML>")
    imt = iml.attrib.get("IMT", "").strip()
    if not imt:
        raise OQInputError(p, iml.line, "IMT", "<IML> 缺少 IMT 属性", "<IML> lacks the IMT attribute")
    ndl = _float(p, ffs, "noDamageLimit", required=False, default=0.0, nonneg=True)
    if fmt == "continuous":
        lo = _float(p, iml, "minIML", required=False, default=None, nonneg=True)
        hi = _float(p, iml, "maxIML", required=False, default=None, nonneg=True)
        lo = lo if lo is not None else _float(p, fm, "minIML", required=False, default=0.0, nonneg=True)
        hi = hi if hi is not None else _float(p, fm, "maxIML", required=False, default=0.0, nonneg=True)
        fns = []
        for node in _by_ls(p, ffs.findall("ffc"), limit_states, ffs):
            params = _child(p, node, "params")
            mean = _float(p, params, "mean", positive=True)
            sd = _float(p, params, "stddev", nonneg=True)
            fns.append(_make(p, params.line, ContinuousFragility, node.attrib["ls"], mean, sd, lo, hi, ndl))
    elif fmt == "discrete":
        levels = _increasing(p, iml, "IML")
        fns = []
        for node in _by_ls(p, ffs.findall("ffd"), limit_states, ffs):
            poes_node = _child(p, node, "poEs")
            poes = _floats(p, poes_node, "poEs")
            fns.append(_make(p, poes_node.line, DiscreteFragility, node.attrib["ls"], levels, poes, ndl or None))
    else:
        raise OQInputError(p, fm.line, "format", f"NRML 0.4 的 format 应为 continuous 或 discrete，得到“{fmt}”",
                           f"NRML 0.4 format must be continuous or discrete, got '{fmt}'")
    return taxonomy, imt, fns, ffs.line


# -------------------------------------------------------------------------------------------- exposure

def read_exposure_xml(path: object):
    """Read an NRML exposure model: inline ``<asset>`` elements and/or ``<assets>`` naming CSV files
    (relative to the XML), with ``<tagNames>`` and optional ``<exposureFields>`` column renames."""
    from .exposure_csv import AssetRows, Exposure, read_exposure_csv

    p = Path(str(path))
    root = parse_xml(p)
    em = _model_element(p, root, "exposureModel")
    tag_node = em.find("tagNames")
    tag_names = tuple(tag_node.text.split()) if tag_node is not None else ()
    renames: dict[str, str] = {}
    fields = em.find("exposureFields")
    if fields is not None:
        for f in fields.findall("field"):
            oq, given = f.attrib.get("oq", "").strip(), f.attrib.get("input", "").strip()
            if oq and given:
                renames[given] = oq
    assets_node = _child(p, em, "assets")
    inline = assets_node.findall("asset")
    parts: list[Exposure] = []
    if inline:
        rows = AssetRows(p)
        for a in inline:
            loc = _child(p, a, "location")
            tags_node = a.find("tags")
            tags = dict(tags_node.attrib) if tags_node is not None else {}
            for k in tags:
                if tag_names and k not in tag_names:
                    raise OQInputError(p, tags_node.line, k, f"标签“{k}”不在 <tagNames> 中",
                                       f"tag '{k}' is not declared in <tagNames>")
            rows.add(a.line, a.attrib.get("id"), loc.attrib.get("lon"), loc.attrib.get("lat"),
                     a.attrib.get("taxonomy"), a.attrib.get("number"), tags)
        parts.append(rows.build(tag_names))
    else:
        names = assets_node.text.split()
        if not names:
            raise OQInputError(p, assets_node.line, "assets", "<assets> 既没有 <asset> 也没有 CSV 文件名",
                               "<assets> holds neither <asset> elements nor CSV file names")
        for name in names:
            csv_path = (p.parent / name).resolve()
            parts.append(read_exposure_csv(csv_path, tag_names=tag_names, renames=renames))
    return Exposure.concat(parts)
