"""City office operations (市级普查办): create the city geodatabase and keys, enrol counties, status, verify.

Import of the counties' upward packages lives in :mod:`sync.city_import`; the formats in
:mod:`sync.upward`. Every function is a plain library call; ``census city …`` only parses and prints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from geodb.city import CityDB, CityDivisions, create_city_gpkg
from geodb import target as T
from geodb.target import is_server, open_city

from . import keys as K
from .county import (Finding, VerifyReport, archive_findings, audit_findings, missing_ledger_findings,
                     record_findings)
from .formats import TOWNSHIP_RE, VILLAGE_RE, utc_now
from .upward import (
    UpwardError,
    county_in_city,
    make_city_enrolment,
    normalise_city,
    read_county_public,
    write_json,
)

ENROLMENT_DIR = "enrolments"


class CityError(UpwardError):
    pass


# ---------------------------------------------------------------------------------------------------
# Divisions

def _frame(gdf, code_col: str, extra: Mapping[str, object]):
    import geopandas as gpd

    out = gpd.GeoDataFrame({"code": gdf[code_col].astype(str).to_numpy(),
                            "name": gdf["name"].astype(str).to_numpy() if "name" in gdf.columns else [""] * len(gdf)},
                           geometry=gdf.geometry.to_numpy(), crs="EPSG:4490")
    for k, v in extra.items():
        out[k] = v
    return out


def _code_column(gdf, where: str) -> str:
    for c in ("code", "adcode", "division_code"):
        if c in gdf.columns:
            return c
    raise CityError(f"{where} 缺少代码字段（code/adcode）", f"{where} has no code column (code/adcode)")


def _to_4490(gdf, where: str):
    if gdf.crs is not None and gdf.crs.to_epsg() not in (4490, 4326):
        raise CityError(f"{where} 的坐标系为 {gdf.crs.to_string()}，应为 EPSG:4490", f"{where} is in {gdf.crs.to_string()}, not EPSG:4490")
    return gdf


def _assemble(city: str, city_name: str | None, city_geoms, counties, townships, villages) -> tuple[CityDivisions, str]:
    import geopandas as gpd
    import pandas as pd
    import shapely

    counties = pd.concat(counties, ignore_index=True) if counties else None
    if counties is None or not len(counties):
        raise CityError(f"没有找到市 {city} 的任何县级区划", f"no county-level unit of city {city} was found")
    dup = counties["code"][counties["code"].duplicated()]
    if len(dup):
        raise CityError(f"县 {dup.iloc[0]} 出现了两次", f"county {dup.iloc[0]} appears twice")
    townships = pd.concat(townships, ignore_index=True) if townships else counties.iloc[0:0].assign(county_code="")
    villages = pd.concat(villages, ignore_index=True) if villages else townships.iloc[0:0].assign(township_code="")
    townships["county_code"] = townships["code"].str[:6]
    villages["township_code"] = villages["code"].str[:9] if "township_code" not in villages else villages["township_code"]
    villages["county_code"] = villages["code"].str[:6]
    name = city_name or ""
    if city_geoms:
        geom = shapely.union_all([g for g, _ in city_geoms])
        name = name or next((n for _, n in city_geoms if n), "")
    else:
        geom = shapely.union_all(counties.geometry.to_numpy())
    city_gdf = gpd.GeoDataFrame({"adcode": [city], "name": [name]}, geometry=[geom], crs="EPSG:4490")
    return CityDivisions(city_gdf, gpd.GeoDataFrame(counties, crs="EPSG:4490"),
                         gpd.GeoDataFrame(townships, crs="EPSG:4490"), gpd.GeoDataFrame(villages, crs="EPSG:4490")), name


def divisions_from_samples(sample_root: str | Path, city: str, city_name: str | None = None) -> tuple[CityDivisions, str]:
    """Divisions of every sample county (``…/sample.gpkg`` under ``sample_root``) of the city."""
    import pyogrio

    root = Path(sample_root)
    if not root.is_dir():
        raise FileNotFoundError(2, "找不到样例目录 / sample folder not found", str(root))
    files = sorted(p for p in root.rglob("sample.gpkg") if len(p.relative_to(root).parts) <= 4)
    if not files:
        raise CityError(f"{root} 下没有样例县（sample.gpkg）", f"no sample county (sample.gpkg) under {root}")
    counties, townships, villages, city_geoms = [], [], [], []
    for f in files:
        layers = {n for n, _ in pyogrio.list_layers(f)}
        c = _to_4490(pyogrio.read_dataframe(f, layer="county"), str(f))
        code = str(c[_code_column(c, str(f))].iloc[0])
        if not county_in_city(code, city):
            raise CityError(f"{f} 是县 {code} 的样例，不属于市 {city}", f"{f} is a sample of county {code}, not within city {city}")
        counties.append(_frame(c, _code_column(c, str(f)), {}))
        t = pyogrio.read_dataframe(f, layer="townships")
        townships.append(_frame(t, _code_column(t, str(f)), {}))
        v = pyogrio.read_dataframe(f, layer="villages")
        vf = _frame(v, _code_column(v, str(f)), {})
        vf["township_code"] = v["township_code"].astype(str).to_numpy() if "township_code" in v else vf["code"].str[:9]
        villages.append(vf)
        if "city" in layers:
            cg = pyogrio.read_dataframe(f, layer="city")
            col = _code_column(cg, str(f)) if len(cg) else None
            for _, row in cg.iterrows():
                if col and str(row[col]) == city and row.geometry is not None:
                    city_geoms.append((row.geometry, str(row.get("name") or "")))
    return _assemble(city, city_name, city_geoms[:1], counties, townships, villages)


def divisions_from_boundaries(path: str | Path, city: str, city_name: str | None = None) -> tuple[CityDivisions, str]:
    """Divisions from one vector file of polygons with 6-, 9- and 12-digit codes (the city itself may be
    one of the 6-digit rows)."""
    import pyogrio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "找不到区划边界文件 / boundaries file not found", str(path))
    gdf = _to_4490(pyogrio.read_dataframe(path), str(path))
    col = _code_column(gdf, str(path))
    codes = gdf[col].astype(str)
    c6 = gdf[codes.str.len() == 6]
    city_rows = c6[c6[col].astype(str) == city]
    county_rows = c6[[county_in_city(str(x), city) for x in c6[col]]]
    t = gdf[(codes.str.len() == 9) & codes.str.startswith(city[:4])]
    v = gdf[(codes.str.len() == 12) & codes.str.startswith(city[:4])]
    bad = [x for x in t[col].astype(str) if not TOWNSHIP_RE.match(x)] + [x for x in v[col].astype(str) if not VILLAGE_RE.match(x)]
    if bad:
        raise CityError(f"{path} 中代码 {bad[0]} 格式不对", f"{path}: code {bad[0]} is malformed")
    city_geoms = [(g, str(n)) for g, n in zip(city_rows.geometry, city_rows["name"] if "name" in city_rows else [""] * len(city_rows))]
    vf = _frame(v, col, {})
    if "township_code" in v.columns:
        vf["township_code"] = v["township_code"].astype(str).to_numpy()
    return _assemble(city, city_name, city_geoms, [_frame(county_rows, col, {})], [_frame(t, col, {})] if len(t) else [],
                     [vf] if len(v) else [])


# ---------------------------------------------------------------------------------------------------
# init / enrol

@dataclass
class CityInitResult:
    gpkg: Path
    keys_path: Path
    city: str
    city_name: str
    counties: int
    townships: int
    villages: int
    forms: int

    def as_dict(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}


def init_city(gpkg_path: str | Path, *, city: str, sample_root: str | Path | None = None,
              boundaries: str | Path | None = None, city_name: str | None = None,
              forms: Mapping | None = None) -> CityInitResult:
    """Create the city GeoPackage (divisions of all its counties, form layers, bookkeeping) and the city's
    keys (private keys beside it, mode 0600)."""
    from schemas.catalogue import all_forms

    city = normalise_city(city)
    if (sample_root is None) == (boundaries is None):
        raise CityError("请给出 --sample-root 或 --boundaries 之一", "give exactly one of --sample-root or --boundaries")
    target = gpkg_path
    gpkg_path, keys_path = K.new_database_place(target, CityError)
    if sample_root is not None:
        divisions, name = divisions_from_samples(sample_root, city, city_name)
    else:
        divisions, name = divisions_from_boundaries(boundaries, city, city_name)
    gpkg_path.parent.mkdir(parents=True, exist_ok=True)
    keys = K.generate_county_keys(city)       # the same key pair kinds as a county's, held by the city
    K.save_county_keys(keys, keys_path)
    try:
        forms = dict(forms) if forms is not None else all_forms()
        if is_server(target):
            from geodb.pg_city import create_city_pg as create
        else:
            create = create_city_gpkg
        create(target, city=city, city_name=name, divisions=divisions, forms=forms, at=utc_now(),
                         settings={"city_sign_public_key": keys.sign_public_b64,
                                   "city_encrypt_public_key": keys.encrypt_public_b64})
    except BaseException:
        keys_path.unlink(missing_ok=True)
        T.remove_partial(target)
        raise
    return CityInitResult(gpkg_path, keys_path, city, name, len(divisions.counties), len(divisions.townships),
                          len(divisions.villages), len(forms))


def city_keys(db: CityDB, keys_path: str | Path | None = None) -> K.CountyKeys:
    path = Path(keys_path) if keys_path else K.keys_path_for(db.path)
    keys = K.load_county_keys(path)
    if keys.county != db.city or keys.sign_public_b64 != db.setting("city_sign_public_key"):
        raise K.KeyProblem(f"密钥文件 {path} 不属于市级库 {db.path}", f"key file {path} does not belong to {db.path}")
    return keys


def enrol_county(gpkg_path: str | Path, county_keys: str | Path, *, out: str | Path | None = None,
                 keys_path: str | Path | None = None) -> tuple[dict, Path]:
    """Register a county's signing key (from its ``COUNTY.gpkg.keys.json`` — only the public part is
    used — or a public-key file) and write the city enrolment the county needs to report up."""
    pub = read_county_public(county_keys)
    with open_city(gpkg_path) as db:
        if not county_in_city(pub.county, db.city):
            raise CityError(f"县 {pub.county} 不属于本市 {db.city}，不能登记", f"county {pub.county} is not within city {db.city}")
        counties = db.counties()
        if pub.county not in counties:
            raise CityError(f"县 {pub.county} 不在本市区划中（现有：{', '.join(counties)}）",
                            f"county {pub.county} is not in the city's divisions ({', '.join(counties)})")
        keys = city_keys(db, keys_path)
        pub = type(pub)(pub.county, pub.county_name or counties[pub.county], pub.sign_public_key)
        enrolment = make_city_enrolment(keys, city_name=db.city_name, county=pub)
        path = Path(out) if out else db.path.parent / ENROLMENT_DIR / f"{pub.county}_city_enrolment.json"
        write_json(path, enrolment)
        with db.transaction():
            changed = db.enrol_county(county=pub.county, county_name=pub.county_name, sign_public_key=pub.sign_public_key,
                                      at=enrolment["issued_at"])
            db.append_audit("enrol_county", pub.county, {
                "county": pub.county, "sign_public_key": pub.sign_public_key, "changed": int(changed),
                "enrolment_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}, at=enrolment["issued_at"])
        return enrolment, path


# ---------------------------------------------------------------------------------------------------
# status

def _pct(a: float, b: float) -> float | None:
    return round(100.0 * a / b, 1) if b else None


def city_status(gpkg_path: str | Path) -> dict:
    """Per county: enrolment, packages, the county's own completeness and approval (from its latest
    ledger summary) and what the city holds (records, townships reporting, open conflicts)."""
    with open_city(gpkg_path, readonly=True) as db:
        counties = db.counties()
        enrolled = {c["county"]: c for c in db.enrolled_counties()}
        ledger = db.ledger_counts()
        latest = db.latest_summaries()
        held = db.record_counts()
        t_by_c = db.townships_by_county()
        rows = []
        for code in sorted(set(counties) | set(enrolled) | set(ledger)):
            s = latest.get(code, {})
            summ = s.get("summary", {})
            recs = summ.get("records", {})
            h = held.get(code, {"records": 0, "conflicts": 0, "townships": set(), "forms": {}})
            towns = summ.get("townships", {})
            led = ledger.get(code, {})
            rows.append({
                "county": code, "name": counties.get(code) or summ.get("county_name", ""),
                "enrolled": code in enrolled and not enrolled[code]["revoked"],
                "packages_accepted": led.get("accepted", 0), "packages_duplicate": led.get("duplicate", 0),
                "packages_rejected": led.get("rejected", 0),
                "last_sequence": s.get("sequence"), "last_received": led.get("last_received"),
                "summary_made_at": summ.get("made_at"),
                "expected": summ.get("expected"), "received_expected": summ.get("received_expected"),
                "completeness_pct": _pct(summ.get("received_expected") or 0, summ.get("expected") or 0),
                "records_total": recs.get("records"), "records_approved": recs.get("approved"),
                "approval_pct": _pct(recs.get("approved") or 0, recs.get("records") or 0),
                "with_issues": recs.get("has_issues"), "county_conflicts": recs.get("conflicts"),
                "townships_total": len(t_by_c.get(code, {})),
                "townships_reporting": sum(1 for t in towns.values() if t.get("records", 0) > 0),
                "townships_at_city": len(h["townships"]),
                "records_at_city": h["records"], "conflicts_at_city": h["conflicts"], "forms_at_city": h["forms"],
                "county_audit_head": summ.get("audit_head")})
        totals = {k: sum(r[k] or 0 for r in rows) for k in ("records_total", "records_approved", "records_at_city",
                                                             "conflicts_at_city", "packages_accepted", "packages_rejected")}
        return {"city": db.city, "city_name": db.city_name, "now": utc_now(), "counties": rows, "totals": totals}


# ---------------------------------------------------------------------------------------------------
# verify

def verify_city(gpkg_path: str | Path, *, check_archive: bool = True) -> VerifyReport:
    """Audit chain and its append-only triggers; every ledger row against its audit row; the revisions of
    every accepted package against the ledger digest and their content hashes; archived packages
    re-hashed; records, conflicts and feature layers consistent."""
    findings: list[Finding] = []
    add = findings.append
    with open_city(gpkg_path, readonly=True) as db:
        gpkg_path = db.path
        chain, by_ledger = audit_findings(db, add)
        ledger = db.ledger()
        digests = db.package_revision_digests()
        for row in ledger:
            lid, name = row["id"], row["file_name"]
            events = by_ledger.get(lid, [])
            if len(events) != 1:
                add(Finding("LEDGER_AUDIT", f"台账第 {lid} 条（{name}）在审计日志中没有唯一对应的记录",
                            f"ledger row {lid} ({name}) has no single matching audit row"))
                continue
            ev = events[0]
            if ev.get("sha256") != row["file_sha256"] or ev.get("outcome") != row["outcome"] \
                    or row["audit_seq"] != ev["_seq"] or row["audit_hash"] != ev["_hash"]:
                add(Finding("LEDGER_EDITED", f"台账第 {lid} 条（{name}）与审计日志不符：台账被改动",
                            f"ledger row {lid} ({name}) differs from the audit log; the ledger was edited"))
            if row["outcome"] != "accepted":
                continue
            for k in ("county", "sequence", "stored", "new_records", "advanced", "conflicts", "revisions_sha256",
                      "summary_sha256"):
                have = hashlib.sha256((row["summary"] or "").encode("utf-8")).hexdigest() if k == "summary_sha256" else row[k]
                if ev.get(k) != have:
                    add(Finding("LEDGER_EDITED", f"台账第 {lid} 条（{name}）的 {k} 与审计日志不符",
                                f"ledger row {lid} ({name}): {k} differs from the audit log"))
                    break
            n, digest, bad = digests.get(lid, (0, hashlib.sha256().hexdigest(), 0))
            if n != row["stored"] or digest != row["revisions_sha256"]:
                add(Finding("REVISIONS_CHANGED", f"台账第 {lid} 条（{name}）的修订与接收时不同：修订被增删或改动",
                            f"ledger row {lid} ({name}): its revisions differ from what was stored"))
            if bad:
                add(Finding("REVISION_CONTENT", f"台账第 {lid} 条（{name}）有 {bad} 条修订的内容与其哈希不符",
                            f"ledger row {lid} ({name}): {bad} revisions do not match their hash"))
            if check_archive:
                archive_findings(gpkg_path.parent, row, add)
        missing_ledger_findings(by_ledger, {r["id"] for r in ledger}, add)
        n = db.orphan_revisions()
        if n:
            add(Finding("REVISIONS_ORPHAN", f"{n} 条修订不属于任何已接收的包", f"{n} revisions belong to no accepted package"))
        record_findings(db, add)
        n_rev = sum(v[0] for v in digests.values())
        n_rec = db.conn.execute("SELECT count(*) FROM census_records").fetchone()[0]
        return VerifyReport(findings, chain.rows, len(ledger), n_rev, int(n_rec))


__all__ = [
    "CityError",
    "CityInitResult",
    "city_keys",
    "city_status",
    "divisions_from_boundaries",
    "divisions_from_samples",
    "enrol_county",
    "init_city",
    "verify_city",
]
