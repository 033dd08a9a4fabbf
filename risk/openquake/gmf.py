"""Ground-motion fields and hazard sites in OpenQuake's CSV layouts, and the asset→site association.

GMF CSV (``gmf_data`` export or ``gmfs_file`` input): ``sid``/``site_id``, ``eid``/``event_id``, optional
``rlzi``/``rlz_id`` (one realisation only), and one column per intensity measure type named
``gmv_<IMT>`` or the bare IMT (``PGA``, ``SA(0.3)``…); optional ``lon``/``lat`` columns stand in for
a sites file. Sites CSV (``sitemesh`` export or ``sites_csv`` input): ``site_id`` (or row order),
``lon``, ``lat``.

Association follows OpenQuake (``hazardlib.geo.utils._GeographicObjects``): points go to Cartesian
coordinates on a sphere of radius 6371 km, a KD-tree finds each asset's nearest site, and assets whose
chord distance exceeds the maximum (OpenQuake's ``asset_hazard_distance``, default 15 km) are dropped.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import OQInputError, check_file

EARTH_RADIUS_KM = 6371.0  # hazardlib.geo.geodetic.EARTH_RADIUS
DEFAULT_MAX_DISTANCE_KM = 15.0  # OpenQuake's default asset_hazard_distance
MAX_CSV_BYTES = 8 * 1024 ** 3
_BARE_IMT = re.compile(r"^(PGA|PGV|PGD|MMI|IA|CAV|JMA|RSD\d*|AvgSA|SA\([0-9.]+\)|SDi\([0-9.,]+\)|"
                       r"LiqProb|LiqOccur|LSE|PGDMax|Disp[A-Za-z]*)$")


@dataclass
class Sites:
    ids: np.ndarray  # int64
    lon: np.ndarray
    lat: np.ndarray
    path: str = ""

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class GroundMotionFields:
    """GMF rows as columns; ``values[imt]`` aligned with ``site_ids``/``event_ids``; ``lines`` for errors."""

    path: str
    site_ids: np.ndarray
    event_ids: np.ndarray
    values: dict[str, np.ndarray]
    columns: dict[str, str]
    lines: np.ndarray
    lon: np.ndarray | None = None
    lat: np.ndarray | None = None
    events: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def imts(self) -> tuple[str, ...]:
        return tuple(self.values)

    def matrix(self, imt: str, site_row: np.ndarray, n_sites: int) -> np.ndarray:
        """(n_sites, n_events) array of ``imt`` values, NaN where the CSV has no row for a site/event."""
        out = np.full((n_sites, len(self.events)), np.nan)
        ev = np.searchsorted(self.events, self.event_ids)
        out[site_row, ev] = self.values[imt]
        return out


def _num(p: Path, line: int, fld: str, raw: str, kind=float):
    s = raw.strip()
    try:
        v = kind(s) if kind is float else int(s)
    except ValueError:
        what = "整数" if kind is int else "数字"
        raise OQInputError(p, line, fld, f"“{raw}”不是{what}", f"'{raw}' is not {'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(v):
        raise OQInputError(p, line, fld, f"“{raw}”不是有限数", f"'{raw}' is not a finite number")
    return v


def _rows(p: Path):
    """(header, iterator of (line, row)) for a CSV; lines skipped when blank; '#' comment lines skipped
    (OpenQuake exports start with a '#,,"generated_by=…"' line)."""
    fh = open(p, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed by the generator
    reader = csv.reader(fh)

    def gen():
        try:
            for row in reader:
                if not row or all(not c.strip() for c in row) or row[0].startswith("#"):
                    continue
                yield reader.line_num, [c.strip() for c in row]
        except (csv.Error, UnicodeDecodeError) as e:
            raise OQInputError(p, reader.line_num + 1, None, f"CSV 格式错误：{e}", f"malformed CSV: {e}") from None
        finally:
            fh.close()

    it = gen()
    first = next(it, None)
    if first is None:
        raise OQInputError(p, 1, None, "文件为空", "the file is empty")
    return first, it


def _pick(p: Path, line: int, cols: list[str], names: tuple[str, ...], required: bool = True) -> int | None:
    for n in names:
        if n in cols:
            return cols.index(n)
    if required:
        raise OQInputError(p, line, names[0], f"缺少必需的列“{names[0]}”（或 {' / '.join(names[1:])}）",
                           f"required column '{names[0]}' (or {' / '.join(names[1:])}) is missing")
    return None


def read_sites_csv(path: object) -> Sites:
    """Read an OpenQuake sites/site-mesh CSV: ``site_id`` (optional: row order), ``lon``, ``lat``."""
    p = check_file(path, "场点", "sites", MAX_CSV_BYTES)
    (hline, header), rows = _rows(p)
    i_id = _pick(p, hline, header, ("site_id", "sid", "custom_site_id"), required=False)
    i_lon = _pick(p, hline, header, ("lon", "longitude"))
    i_lat = _pick(p, hline, header, ("lat", "latitude"))
    ids, lon, lat, lines = [], [], [], []
    for line, row in rows:
        if len(row) != len(header):
            raise OQInputError(p, line, None, f"有 {len(row)} 列，表头有 {len(header)} 列",
                               f"the row has {len(row)} columns, the header {len(header)}")
        ids.append(_num(p, line, header[i_id], row[i_id], int) if i_id is not None else len(ids))
        x = _num(p, line, header[i_lon], row[i_lon])
        y = _num(p, line, header[i_lat], row[i_lat])
        if not (-180 <= x <= 180 and -90 <= y <= 90):
            raise OQInputError(p, line, "lon/lat", f"坐标 ({x}, {y}) 超出经纬度范围",
                               f"coordinates ({x}, {y}) are outside longitude/latitude ranges")
        lon.append(x)
        lat.append(y)
        lines.append(line)
    if not ids:
        raise OQInputError(p, None, None, "没有场点", "the file lists no sites")
    arr = np.asarray(ids, np.int64)
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1][0]
        line = lines[np.flatnonzero(arr == dup)[1]]
        raise OQInputError(p, line, header[i_id] if i_id is not None else "site_id",
                           f"场点编号 {dup} 重复", f"site id {dup} is repeated")
    return Sites(arr, np.asarray(lon, float), np.asarray(lat, float), str(p))


def _imt_of(col: str) -> str | None:
    if col.startswith("gmv_") and len(col) > 4:
        return col[4:]
    return col if _BARE_IMT.match(col) else None


def read_gmf_csv(path: object) -> GroundMotionFields:
    """Read an OpenQuake ground-motion-field CSV (one realisation); errors name the line and column."""
    p = check_file(path, "地震动场", "ground-motion-field", MAX_CSV_BYTES)
    (hline, header), rows = _rows(p)
    i_sid = _pick(p, hline, header, ("sid", "site_id"))
    i_eid = _pick(p, hline, header, ("eid", "event_id"))
    i_rlz = _pick(p, hline, header, ("rlzi", "rlz_id", "rlz"), required=False)
    i_lon = _pick(p, hline, header, ("lon",), required=False)
    i_lat = _pick(p, hline, header, ("lat",), required=False)
    imt_cols = {}
    for i, c in enumerate(header):
        imt = _imt_of(c)
        if imt is not None:
            if imt in imt_cols:
                raise OQInputError(p, hline, c, f"强度指标 {imt} 有两列", f"intensity measure {imt} has two columns")
            imt_cols[imt] = i
    if not imt_cols:
        raise OQInputError(p, hline, "gmv_<IMT>", "没有地震动列（应为 gmv_PGA、gmv_SA(0.3) 等）",
                           "no ground-motion columns (expected gmv_PGA, gmv_SA(0.3), …)")
    n = len(header)
    sids, eids, rlzs, lines, lons, lats = [], [], set(), [], [], []
    vals: dict[str, list[float]] = {imt: [] for imt in imt_cols}
    for line, row in rows:
        if len(row) != n:
            raise OQInputError(p, line, None, f"有 {len(row)} 列，表头有 {n} 列",
                               f"the row has {len(row)} columns, the header {n}")
        sid = _num(p, line, header[i_sid], row[i_sid], int)
        eid = _num(p, line, header[i_eid], row[i_eid], int)
        if sid < 0 or eid < 0:
            raise OQInputError(p, line, header[i_sid] if sid < 0 else header[i_eid], "编号不能为负",
                               "ids must not be negative")
        if i_rlz is not None:
            rlzs.add(row[i_rlz])
            if len(rlzs) > 1:
                raise OQInputError(p, line, header[i_rlz],
                                   f"文件含多个实现（{sorted(rlzs)}）；请按实现拆分后分别计算",
                                   f"the file holds several realisations ({sorted(rlzs)}); split it per "
                                   f"realisation and run each")
        for imt, i in imt_cols.items():
            v = _num(p, line, header[i], row[i])
            if v < 0:
                raise OQInputError(p, line, header[i], f"地震动值不能为负：{row[i]}",
                                   f"a ground-motion value cannot be negative: {row[i]}")
            vals[imt].append(v)
        if i_lon is not None and i_lat is not None:
            lons.append(_num(p, line, "lon", row[i_lon]))
            lats.append(_num(p, line, "lat", row[i_lat]))
        sids.append(sid)
        eids.append(eid)
        lines.append(line)
    if not sids:
        raise OQInputError(p, None, None, "文件中没有地震动数据行", "the file holds no ground-motion rows")
    sid_a, eid_a, line_a = np.asarray(sids, np.int64), np.asarray(eids, np.int64), np.asarray(lines, np.int64)
    key = sid_a * (int(eid_a.max()) + 1) + eid_a
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(np.diff(key[order]) == 0)
    if len(dup):
        j = order[dup[0] + 1]
        raise OQInputError(p, int(line_a[j]), header[i_eid],
                           f"场点 {sid_a[j]} 的事件 {eid_a[j]} 出现两次（首次在第 {line_a[order[dup[0]]]} 行）",
                           f"site {sid_a[j]} has event {eid_a[j]} twice (first at line {line_a[order[dup[0]]]})")
    return GroundMotionFields(
        path=str(p), site_ids=sid_a, event_ids=eid_a,
        values={imt: np.asarray(v, float) for imt, v in vals.items()},
        columns={imt: header[i] for imt, i in imt_cols.items()}, lines=line_a,
        lon=np.asarray(lons, float) if lons else None, lat=np.asarray(lats, float) if lats else None,
        events=np.unique(eid_a))


def sites_from_gmf(gmf: GroundMotionFields) -> Sites:
    """Sites from the GMF's own lon/lat columns (when no sites file is given)."""
    if gmf.lon is None or gmf.lat is None:
        raise OQInputError(gmf.path, None, "lon/lat",
                           "地震动文件没有 lon、lat 列，请用 --sites 提供场点文件（site_id, lon, lat）",
                           "the GMF file has no lon/lat columns; give the sites file (site_id, lon, lat) "
                           "with --sites")
    ids, first_row = np.unique(gmf.site_ids, return_index=True)
    lon, lat = gmf.lon[first_row], gmf.lat[first_row]
    row = np.searchsorted(ids, gmf.site_ids)
    bad = np.flatnonzero((np.abs(gmf.lon - lon[row]) > 1e-9) | (np.abs(gmf.lat - lat[row]) > 1e-9))
    if len(bad):
        j = bad[0]
        raise OQInputError(gmf.path, int(gmf.lines[j]), "lon/lat",
                           f"场点 {gmf.site_ids[j]} 的坐标与前面的行不一致", f"site {gmf.site_ids[j]} has "
                           f"coordinates that differ from an earlier row")
    return Sites(ids, lon, lat, gmf.path)


def site_rows(gmf: GroundMotionFields, sites: Sites) -> np.ndarray:
    """Row in ``sites`` of every GMF row; a GMF site id absent from the sites file is an error."""
    order = np.argsort(sites.ids)
    sorted_ids = sites.ids[order]
    pos = np.searchsorted(sorted_ids, gmf.site_ids)
    pos = np.clip(pos, 0, len(sorted_ids) - 1)
    missing = np.flatnonzero(sorted_ids[pos] != gmf.site_ids)
    if len(missing):
        j = missing[0]
        raise OQInputError(gmf.path, int(gmf.lines[j]), "sid",
                           f"场点编号 {gmf.site_ids[j]} 不在场点文件 {Path(sites.path).name} 中",
                           f"site id {gmf.site_ids[j]} is not in the sites file {Path(sites.path).name}")
    return order[pos]


def to_cartesian(lon, lat) -> np.ndarray:
    """Points on the sphere of radius 6371 km as (n, 3) Cartesian km (hazardlib's spherical_to_cartesian)."""
    phi, theta = np.radians(lon), np.radians(lat)
    r_cos = EARTH_RADIUS_KM * np.cos(theta)
    return np.stack([r_cos * np.cos(phi), r_cos * np.sin(phi), EARTH_RADIUS_KM * np.sin(theta)], axis=-1)


def associate(asset_lon, asset_lat, sites: Sites, max_distance_km: float | None = DEFAULT_MAX_DISTANCE_KM):
    """Nearest site of every asset: (site_row, distance_km); site_row is -1 beyond ``max_distance_km``."""
    from scipy.spatial import cKDTree

    tree = cKDTree(to_cartesian(sites.lon, sites.lat))
    dist, row = tree.query(to_cartesian(np.asarray(asset_lon, float), np.asarray(asset_lat, float)))
    row = np.asarray(row, np.int64)
    if max_distance_km is not None:
        row = np.where(dist > max_distance_km, -1, row)
    return row, np.asarray(dist, float)
