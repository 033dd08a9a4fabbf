"""OpenQuake's ``taxonomy_mapping_csv``: exposure taxonomy → fragility taxonomies with weights.

Columns ``taxonomy``, ``conversion`` (``risk_id`` in newer OpenQuake) and optional ``weight`` (default 1).
An asset's damage distribution is the weighted sum of the distributions of its mapped taxonomies;
the weights of one taxonomy must add up to 1. Taxonomies the file does not list map to themselves.
"""

from __future__ import annotations

from .errors import OQInputError, check_file
from .gmf import _num, _pick, _rows

WEIGHT_TOLERANCE = 1e-6


def read_taxonomy_mapping(path: object) -> dict[str, list[tuple[str, float]]]:
    p = check_file(path, "分类映射", "taxonomy mapping", 64 * 1024 * 1024)
    (hline, header), rows = _rows(p)
    i_tax = _pick(p, hline, header, ("taxonomy",))
    i_conv = _pick(p, hline, header, ("conversion", "risk_id"))
    i_w = _pick(p, hline, header, ("weight",), required=False)
    for extra in ("loss_type", "peril"):
        if extra in header:
            raise OQInputError(p, hline, extra, f"暂不支持按 {extra} 区分的映射", f"mappings by {extra} are not supported")
    out: dict[str, list[tuple[str, float]]] = {}
    first_line: dict[str, int] = {}
    for line, row in rows:
        if len(row) != len(header):
            raise OQInputError(p, line, None, f"有 {len(row)} 列，表头有 {len(header)} 列",
                               f"the row has {len(row)} columns, the header {len(header)}")
        tax, conv = row[i_tax], row[i_conv]
        if not tax or not conv:
            fld = header[i_tax] if not tax else header[i_conv]
            raise OQInputError(p, line, fld, "值为空", "the value is empty")
        w = _num(p, line, "weight", row[i_w]) if i_w is not None and row[i_w] else 1.0
        if not 0 < w <= 1:
            raise OQInputError(p, line, "weight", f"权重应在 (0, 1] 内，得到 {row[i_w]}",
                               f"the weight must be in (0, 1], got {row[i_w]}")
        out.setdefault(tax, []).append((conv, w))
        first_line.setdefault(tax, line)
    for tax, pairs in out.items():
        total = sum(w for _, w in pairs)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise OQInputError(p, first_line[tax], "weight", f"分类“{tax}”的权重之和为 {total:g}，应为 1",
                               f"the weights of taxonomy '{tax}' add up to {total:g}, not 1")
    if not out:
        raise OQInputError(p, None, None, "映射文件为空", "the mapping file is empty")
    return out
