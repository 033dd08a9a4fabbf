"""OpenQuake exposure: the CSV layout (id, lon, lat, taxonomy, number, cost/occupancy/tag columns) and
the columnar :class:`Exposure` both the CSV and the NRML readers produce.

Columns OpenQuake knows and we use: ``id`` (or ``asset_id``), ``lon``, ``lat``, ``taxonomy``, ``number``
(default 1, as in OpenQuake). Other columns are kept as tags when declared in the exposure XML's
``<tagNames>`` (or, for a bare CSV, when they are not numeric cost/occupancy columns, see
:data:`VALUE_COLUMNS`).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import OQInputError, check_file

MAX_CSV_BYTES = 4 * 1024 ** 3
# Numeric value columns of OpenQuake exposures: costs and occupants; never tags.
VALUE_COLUMNS = frozenset({"structural", "nonstructural", "contents", "business_interruption", "area",
                           "day", "night", "transit", "occupants_day", "occupants_night", "occupants_transit",
                           "residents", "value-structural", "value-nonstructural", "value-contents",
                           "value-business_interruption", "value-number", "value-area", "occupants_avg"})
ALIASES = {"asset_id": "id", "longitude": "lon", "latitude": "lat"}


@dataclass
class Exposure:
    """Assets as columns. ``origin[i]`` is (file, line) of asset i, for error messages."""

    ids: list[str]
    lon: np.ndarray
    lat: np.ndarray
    taxonomy: list[str]
    number: np.ndarray
    tags: dict[str, list[str]] = field(default_factory=dict)
    origin: list[tuple[str, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def concat(cls, parts: list[Exposure]) -> Exposure:
        if len(parts) == 1:
            out = parts[0]
        else:
            names = sorted({t for p in parts for t in p.tags})
            out = cls(ids=[i for p in parts for i in p.ids], lon=np.concatenate([p.lon for p in parts]),
                      lat=np.concatenate([p.lat for p in parts]),
                      taxonomy=[t for p in parts for t in p.taxonomy],
                      number=np.concatenate([p.number for p in parts]),
                      tags={n: [v for p in parts for v in p.tags.get(n, ["?"] * len(p))] for n in names},
                      origin=[o for p in parts for o in p.origin])
        seen: dict[str, int] = {}
        for i, aid in enumerate(out.ids):
            if aid in seen:
                f, line = out.origin[i]
                raise OQInputError(f, line, "id", f"资产编号“{aid}”重复（首次出现在第 {out.origin[seen[aid]][1]} 行）",
                                   f"asset id '{aid}' is repeated (first at line {out.origin[seen[aid]][1]})")
            seen[aid] = i
        if not out.ids:
            raise OQInputError(parts[0].origin[0][0] if parts and parts[0].origin else "exposure", None, None,
                               "暴露模型中没有资产", "the exposure model holds no assets")
        return out


class AssetRows:
    """Collects and validates assets row by row (shared by the CSV and inline-XML readers)."""

    def __init__(self, path: Path):
        self.path = path
        self.ids: list[str] = []
        self.lon: list[float] = []
        self.lat: list[float] = []
        self.taxonomy: list[str] = []
        self.number: list[float] = []
        self.tags: list[dict[str, str]] = []
        self.lines: list[int] = []

    def _num(self, line: int, fld: str, raw: str | None, lo: float, hi: float) -> float:
        if raw is None or str(raw).strip() == "":
            raise OQInputError(self.path, line, fld, "缺少数值", "the value is missing")
        try:
            v = float(raw)
        except ValueError:
            raise OQInputError(self.path, line, fld, f"“{raw}”不是数字", f"'{raw}' is not a number") from None
        if not (math.isfinite(v) and lo <= v <= hi):
            raise OQInputError(self.path, line, fld, f"{raw} 超出允许范围 [{lo}, {hi}]",
                               f"{raw} is outside the allowed range [{lo}, {hi}]")
        return v

    def add(self, line: int, aid, lon, lat, taxonomy, number, tags: dict[str, str]) -> None:
        aid = (aid or "").strip()
        if not aid:
            raise OQInputError(self.path, line, "id", "资产编号为空", "the asset id is empty")
        taxonomy = (taxonomy or "").strip()
        if not taxonomy:
            raise OQInputError(self.path, line, "taxonomy", "分类（taxonomy）为空", "the taxonomy is empty")
        self.ids.append(aid)
        self.lon.append(self._num(line, "lon", lon, -180.0, 180.0))
        self.lat.append(self._num(line, "lat", lat, -90.0, 90.0))
        self.taxonomy.append(taxonomy)
        self.number.append(1.0 if number is None or str(number).strip() == ""
                           else self._num(line, "number", number, 0.0, math.inf))
        self.tags.append(tags)
        self.lines.append(line)

    def build(self, tag_names: tuple[str, ...]) -> Exposure:
        names = list(tag_names) or sorted({k for t in self.tags for k in t})
        return Exposure(ids=self.ids, lon=np.asarray(self.lon, float), lat=np.asarray(self.lat, float),
                        taxonomy=self.taxonomy, number=np.asarray(self.number, float),
                        tags={n: [t.get(n) or "?" for t in self.tags] for n in names},
                        origin=[(str(self.path), ln) for ln in self.lines])


def read_exposure_csv(path: object, tag_names: tuple[str, ...] = (), renames: dict[str, str] | None = None,
                      max_bytes: int = MAX_CSV_BYTES) -> Exposure:
    """Read an OpenQuake exposure CSV; errors name the file, line and column."""
    p = check_file(path, "暴露模型", "exposure", max_bytes)
    renames = dict(renames or {})
    rows = AssetRows(p)
    with open(p, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise OQInputError(p, 1, None, "文件为空", "the file is empty") from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise OQInputError(p, 1, None, f"无法读取表头：{e}", f"cannot read the header: {e}") from None
        cols = [renames.get(h.strip(), h.strip()) for h in header]
        cols = [ALIASES.get(c, c) for c in cols]
        for need in ("id", "lon", "lat", "taxonomy"):
            if need not in cols:
                raise OQInputError(p, 1, need, f"缺少必需的列“{need}”（需要 id, lon, lat, taxonomy, number）",
                                   f"required column '{need}' is missing (need id, lon, lat, taxonomy, number)")
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise OQInputError(p, 1, dup[0], f"列名重复：{dup}", f"duplicate column names: {dup}")
        idx = {c: i for i, c in enumerate(cols)}
        if tag_names:
            missing = [t for t in tag_names if t not in idx]
            if missing:
                raise OQInputError(p, 1, missing[0], f"<tagNames> 声明的标签列不存在：{missing}",
                                   f"tag columns declared in <tagNames> are missing: {missing}")
            tag_cols = list(tag_names)
        else:
            core = {"id", "lon", "lat", "taxonomy", "number"}
            tag_cols = [c for c in cols if c not in core and c not in VALUE_COLUMNS and c]
        n = len(cols)
        line = 1
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != n:
                    raise OQInputError(p, line, None, f"有 {len(row)} 列，表头有 {n} 列",
                                       f"the row has {len(row)} columns, the header {n}")
                rows.add(line, row[idx["id"]], row[idx["lon"]], row[idx["lat"]], row[idx["taxonomy"]],
                         row[idx["number"]] if "number" in idx else None,
                         {t: row[idx[t]].strip() for t in tag_cols})
        except (csv.Error, UnicodeDecodeError) as e:
            raise OQInputError(p, line + 1, None, f"CSV 格式错误：{e}", f"malformed CSV: {e}") from None
    if not rows.ids:
        raise OQInputError(p, None, None, "暴露模型中没有资产", "the exposure holds no assets")
    return rows.build(tuple(tag_cols))


def read_exposure(path: object) -> Exposure:
    """An exposure from a CSV file or an NRML exposure XML (inline assets or referenced CSVs)."""
    p = Path(str(path))
    if p.suffix.lower() == ".xml":
        from .nrml import read_exposure_xml

        return read_exposure_xml(p)
    return Exposure.concat([read_exposure_csv(p)])
