"""County office operations: create the geodatabase and keys, enrol devices, status, feedback, verify.

Import lives in :mod:`sync.county_import`. Every function here is a plain library call; the
``census county …`` commands only parse options and print.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from geodb.county import CountyDB, CountyDBError, Divisions, create_county_gpkg
from geodb.target import is_server, open_county
from geodb import target as T

from . import keys as K
from .county_import import covered_through
from .formats import FeedbackItem, TOWNSHIP_RE, utc_now
from .package import make_enrolment, make_feedback, write_enrolment, write_feedback


class CountyError(CountyDBError):
    pass


# ---------------------------------------------------------------------------------------------------
# Divisions from a sample or a boundary file

def _code_col(df) -> str:
    for c in ("code", "adcode", "division_code", "id"):
        if c in df.columns:
            return c
    raise CountyError("区划图层缺少代码字段（code/adcode）", "division layer has no code column (code/adcode)")


def divisions_from_sample(sample_dir: str | Path):
    """(Divisions, work map GeoDataFrame or None, county name) from ``DIR/sample.gpkg``."""
    import pyogrio

    gpkg = Path(sample_dir) / "sample.gpkg"
    if not gpkg.is_file():
        raise FileNotFoundError(2, "样例县缺少 sample.gpkg / the sample has no sample.gpkg", str(gpkg))
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    for needed in ("county", "townships", "villages"):
        if needed not in layers:
            raise CountyError(f"{gpkg} 缺少图层 {needed}", f"{gpkg} has no layer {needed}")
    county = pyogrio.read_dataframe(gpkg, layer="county")
    townships = pyogrio.read_dataframe(gpkg, layer="townships")
    villages = pyogrio.read_dataframe(gpkg, layer="villages")
    workmap = pyogrio.read_dataframe(gpkg, layer="buildings") if "buildings" in layers else None
    name = str(county["name"].iloc[0]) if "name" in county.columns and len(county) else ""
    return _normalise(county, townships, villages), workmap, name


def divisions_from_boundaries(path: str | Path, county: str):
    """Divisions from one GeoJSON/GeoPackage of polygons carrying a code (6, 9 or 12 digits) and a name."""
    import geopandas as gpd
    import pyogrio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "找不到区划边界文件 / boundaries file not found", str(path))
    gdf = pyogrio.read_dataframe(path)
    if gdf.crs is not None and gdf.crs.to_epsg() not in (4490, 4326):
        gdf = gdf.to_crs(4490)
    col = _code_col(gdf)
    codes = gdf[col].astype(str)
    c = gdf[codes.str.len() == 6]
    t = gdf[(codes.str.len() == 9) & codes.str.startswith(county)]
    v = gdf[(codes.str.len() == 12) & codes.str.startswith(county)]
    if not len(c):
        if not len(t):
            raise CountyError(f"{path} 中没有县 {county} 的边界或乡镇", f"{path} has no boundary or townships of county {county}")
        c = gpd.GeoDataFrame({col: [county], "name": [""]}, geometry=[t.geometry.union_all()], crs=gdf.crs)
    else:
        c = c[c[col].astype(str) == county] if (c[col].astype(str) == county).any() else c.iloc[:1]
    name = str(c["name"].iloc[0]) if "name" in c.columns else ""
    return _normalise(c, t, v), None, name


def _normalise(county, townships, villages) -> Divisions:
    import geopandas as gpd

    def pick(df, extra=()):
        col = _code_col(df)
        names = df["name"].astype(str).to_numpy() if "name" in df.columns else [""] * len(df)
        out = gpd.GeoDataFrame({"code": df[col].astype(str).to_numpy(), "name": names},
                               geometry=df.geometry.to_numpy(), crs="EPSG:4490")
        for e in extra:
            if e in df.columns:
                out[e] = df[e].astype(str).to_numpy()
        return out

    v = pick(villages, ("township_code",))
    if "township_code" not in v.columns:
        v["township_code"] = v["code"].str[:9]
    return Divisions(county=pick(county), townships=pick(townships), villages=v)


# ---------------------------------------------------------------------------------------------------
# init / enrol

@dataclass
class InitResult:
    gpkg: Path
    keys_path: Path
    county: str
    county_name: str
    townships: int
    villages: int
    workmap_buildings: int
    forms: int


def parse_deadline(text: str | None) -> str | None:
    """A date (end of that day, Beijing time) or an ISO date-time → ISO date-time with offset."""
    if not text:
        return None
    s = text.strip()
    try:
        if len(s) == 10:
            d = dt.date.fromisoformat(s)
            t = dt.datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=8)))
        else:
            t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
            if t.tzinfo is None:
                t = t.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))
    except ValueError:
        raise CountyError(f"截止时间“{text}”格式不对，请写成 2021-06-30 或 2021-06-30T18:00+08:00",
                          f"deadline '{text}' is not understood; write 2021-06-30 or 2021-06-30T18:00+08:00") from None
    return t.isoformat()


def init_county(gpkg_path: str | Path, *, county: str, sample: str | Path | None = None,
                boundaries: str | Path | None = None, deadline: str | None = None,
                county_name: str | None = None, forms: Mapping | None = None) -> InitResult:
    """Create the county GeoPackage and the county's keys (private keys beside it, mode 0600)."""
    from schemas.catalogue import all_forms

    if not (isinstance(county, str) and len(county) == 6 and county.isdigit()):
        raise CountyError(f"县级代码“{county}”应为 6 位数字", f"county code '{county}' must be 6 digits")
    if (sample is None) == (boundaries is None):
        raise CountyError("请给出 --sample 或 --boundaries 之一", "give exactly one of --sample or --boundaries")
    target = gpkg_path
    gpkg_path, keys_path = K.new_database_place(target, CountyError)
    if sample is not None:
        divisions, workmap, name = divisions_from_sample(sample)
    else:
        divisions, workmap, name = divisions_from_boundaries(boundaries, county)
    codes = divisions.county["code"].astype(str)
    if len(codes) and county not in set(codes):
        raise CountyError(f"区划数据属于县 {codes.iloc[0]}，不是 {county}", f"the divisions are of county {codes.iloc[0]}, not {county}")
    bad = [c for c in divisions.townships["code"] if not str(c).startswith(county) or not TOWNSHIP_RE.match(str(c))]
    if bad:
        raise CountyError(f"乡镇代码 {bad[0]} 不属于县 {county}", f"township code {bad[0]} is not within county {county}")
    name = county_name or name
    deadline_iso = parse_deadline(deadline)
    gpkg_path.parent.mkdir(parents=True, exist_ok=True)
    keys = K.generate_county_keys(county)
    K.save_county_keys(keys, keys_path)
    try:
        forms = dict(forms) if forms is not None else all_forms()
        if is_server(target):
            from geodb.pg_county import create_county_pg as create
        else:
            create = create_county_gpkg
        create(target, county=county, county_name=name, divisions=divisions, forms=forms,
                           workmap=workmap, at=utc_now(),
                           settings={"county_sign_public_key": keys.sign_public_b64,
                                     "county_encrypt_public_key": keys.encrypt_public_b64,
                                     "deadline": deadline_iso})
    except BaseException:
        keys_path.unlink(missing_ok=True)
        T.remove_partial(target)
        raise
    return InitResult(gpkg_path, keys_path, county, name, len(divisions.townships), len(divisions.villages),
                      0 if workmap is None else len(workmap), len(forms))


def _keys_for(db: CountyDB, keys_path: str | Path | None = None) -> K.CountyKeys:
    path = Path(keys_path) if keys_path else K.keys_path_for(db.path)
    keys = K.load_county_keys(path)
    if keys.county != db.county or keys.sign_public_b64 != db.setting("county_sign_public_key"):
        raise K.KeyProblem(f"密钥文件 {path} 不属于县级库 {db.path}", f"key file {path} does not belong to {db.path}")
    return keys


def divisions_document(db: CountyDB) -> dict:
    return {"townships": db.townships(), "villages": db.villages()}


def enrol_device(gpkg_path: str | Path, *, township: str, enumerator: str, out: str | Path | None = None,
                 device_id: str | None = None, keys_path: str | Path | None = None):
    """Issue an enrolment binding a new device key to ``township`` and ``enumerator``; record the device.

    Returns ``(Enrolment, path or None)``. The enrolment file holds the device's private key (mode 0600).
    """
    with open_county(gpkg_path) as db:
        townships = db.townships()
        if township not in townships:
            raise CountyError(f"乡镇代码 {township} 不在本县区划中；可用：{', '.join(list(townships)[:8])}…",
                              f"township {township} is not in this county; e.g. {', '.join(list(townships)[:8])}")
        if not enumerator.strip():
            raise CountyError("请填写普查员姓名", "the enumerator's name is required")
        keys = _keys_for(db, keys_path)
        enr, dev = make_enrolment(keys, county_name=db.county_name, township=township,
                                  township_name=townships[township], enumerator=enumerator.strip(),
                                  divisions=divisions_document(db), device_id=device_id)
        path = None
        if out is not None:
            path = write_enrolment(enr, out)
        with db.transaction():
            db.add_device(device_id=dev.device_id, county=dev.county, township=dev.township,
                          enumerator=dev.enumerator, public_key=dev.public_key, issued_at=enr.issued_at)
            db.append_audit("enrol", dev.device_id, {"township": township, "enumerator": dev.enumerator,
                                                     "device_public_key": dev.public_key}, at=enr.issued_at)
        return enr, path


# ---------------------------------------------------------------------------------------------------
# status

@dataclass
class StatusReport:
    county: str
    county_name: str
    deadline: str | None
    now: str
    townships: list[dict]
    ledger: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"county": self.county, "county_name": self.county_name, "deadline": self.deadline, "now": self.now,
                "townships": self.townships, "packages": self.ledger}


def county_status(gpkg_path: str | Path, *, deadline: str | None = None, now: dt.datetime | None = None) -> StatusReport:
    now = now or dt.datetime.now(dt.timezone.utc)
    with open_county(gpkg_path, readonly=True) as db:
        dl = parse_deadline(deadline) if deadline else db.setting("deadline")
        dl_t = dt.datetime.fromisoformat(dl) if dl else None
        rows = db.status_rows()
        for r in rows:
            complete = r["expected"] == 0 or r["received_expected"] >= r["expected"]
            r["complete"] = complete
            r["percent"] = round(100.0 * r["received_expected"] / r["expected"], 1) if r["expected"] else None
            r["late"] = bool(dl_t is not None and now > dl_t and not complete)
            last = r["last_package"]
            r["last_package_late"] = bool(dl_t is not None and last and dt.datetime.fromisoformat(last) > dl_t)
        counts = {}
        for row in db.ledger():
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
        return StatusReport(db.county, db.county_name, dl, now.replace(microsecond=0).isoformat(), rows, counts)


def set_deadline(gpkg_path: str | Path, deadline: str) -> str:
    iso = parse_deadline(deadline)
    with open_county(gpkg_path) as db, db.transaction():
        old = db.setting("deadline")
        db.set_setting("deadline", iso)
        db.append_audit("deadline", None, {"from": old, "to": iso}, at=utc_now())
    return iso


# ---------------------------------------------------------------------------------------------------
# feedback

_CONFLICT_ZH = "该记录在两台设备上分别被修改，县级保留了全部 {n} 个版本；请核实后只在一台设备上修改并重新导出"
_CONFLICT_EN = ("this record was edited separately on two devices; the county kept all {n} versions. "
                "Check them and edit the record on one device only, then export again")


def _summary(problems: list[dict]) -> tuple[str, str]:
    if not problems:
        return "记录有问题，请核实", "the record has issues; please check it"
    first = problems[0]
    more = len(problems) - 1
    zh = first.get("message_zh", "") + (f"（另有 {more} 个问题）" if more else "")
    en = first.get("message_en", "") + (f" (and {more} more)" if more else "")
    return zh, en


def issue_feedback(gpkg_path: str | Path, *, township: str, out_dir: str | Path,
                   keys_path: str | Path | None = None) -> tuple[Path, Any]:
    """Write the signed feedback file for one township; returns (path, Feedback)."""
    with open_county(gpkg_path) as db:
        if township not in db.townships():
            raise CountyError(f"乡镇代码 {township} 不在本县区划中", f"township {township} is not in this county")
        keys = _keys_for(db, keys_path)
        items: list[FeedbackItem] = []
        rows = db.feedback_rows(township)
        conflict_tips: dict[str, list[str]] = {}
        for c in db.conflicts(status="open", township=township):
            conflict_tips[c["record_uuid"]] = json.loads(c["revision_ids"])
        tip_ids = [rid for tips in conflict_tips.values() for rid in tips]
        tip_info = db.revision_problems(tip_ids)
        for r in rows:
            problems = json.loads(r["problems"] or "[]")
            if r["review_state"] == "has_issues":
                zh, en = _summary(problems)
                items.append(FeedbackItem(r["record_uuid"], r["current_revision_id"], r["form_id"], "has_issues",
                                          problems, zh, en))
            elif r["review_state"] == "rejected":
                note = r["review_note"] or ""
                items.append(FeedbackItem(r["record_uuid"], r["current_revision_id"], r["form_id"], "rejected", problems,
                                          f"县级审核退回：{note}" if note else "县级审核退回，请核实后重新填报",
                                          f"rejected by the county reviewer: {note}" if note else
                                          "rejected by the county reviewer; check and resubmit"))
            if r["has_conflict"]:
                tips = conflict_tips.get(r["record_uuid"], [r["current_revision_id"]])
                for rid in tips:
                    p = json.loads(tip_info.get(rid, ("[]", 1, r["form_id"]))[0] or "[]")
                    items.append(FeedbackItem(r["record_uuid"], rid, r["form_id"], "conflict", p,
                                              _CONFLICT_ZH.format(n=len(tips)) + f"（版本 {rid[:8]}）",
                                              _CONFLICT_EN.format(n=len(tips)) + f" (version {rid[:8]})"))
        ack = {}
        for d in db.devices():
            if d["township"] == township:
                ack[d["device_id"]] = covered_through(db.device_packages(d["device_id"]))
        fb = make_feedback(keys, township=township, acknowledged_through=ack, items=items)
        path = write_feedback(fb, out_dir)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        with db.transaction():
            db.append_audit("feedback", path.name, {"township": township, "items": len(items), "sha256": sha,
                                                    "acknowledged_through": ack}, at=fb.issued_at)
        return path, fb


# ---------------------------------------------------------------------------------------------------
# verify

@dataclass(frozen=True)
class Finding:
    code: str
    message_zh: str
    message_en: str

    def line(self) -> str:
        return f"{self.message_zh} / {self.message_en} [{self.code}]"


@dataclass
class VerifyReport:
    findings: list[Finding]
    audit_rows: int
    packages: int
    revisions: int
    records: int

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict:
        return {"ok": self.ok, "audit_rows": self.audit_rows, "packages": self.packages, "revisions": self.revisions,
                "records": self.records, "findings": [f.__dict__ for f in self.findings]}


# The checks every geodatabase with a ledger shares (county and city); each adds Findings through ``add``.

def audit_findings(db, add) -> tuple:
    """The audit chain and its append-only triggers; returns (chain report, ledger id → its audit events)."""
    chain = db.verify_audit()
    for b in chain.breaks:
        add(Finding(f"AUDIT_{b.reason.upper()}", b.message_zh, b.message_en))
    for t in db.missing_triggers():
        add(Finding("AUDIT_TRIGGER", f"审计日志的只追加保护触发器 {t} 被删除", f"the audit log's append-only trigger {t} was removed"))
    by_ledger: dict[int, list[dict]] = {}
    for a in db.audit_rows():
        try:
            d = json.loads(a["detail"])
        except (ValueError, TypeError):
            add(Finding("AUDIT_DETAIL", f"审计日志第 {a['seq']} 条的内容不是有效的 JSON",
                        f"audit row {a['seq']}: detail is not valid JSON"))
            continue
        if isinstance(d, dict) and "ledger_id" in d:
            by_ledger.setdefault(d["ledger_id"], []).append({**d, "_seq": a["seq"], "_hash": a["hash"]})
    return chain, by_ledger


def archive_findings(folder: Path, row: Mapping, add) -> None:
    """A received package's archived copy is still there and still hashes to its ledger row."""
    if not row["archive"]:
        return
    ap = folder / row["archive"]
    if not ap.is_file():
        add(Finding("ARCHIVE_MISSING", f"已接收的包 {row['archive']} 不见了", f"received package {row['archive']} is missing"))
    elif hashlib.sha256(ap.read_bytes()).hexdigest() != row["file_sha256"]:
        add(Finding("ARCHIVE_CHANGED", f"已接收的包 {row['archive']} 与台账哈希不符",
                    f"received package {row['archive']} does not match the ledger hash"))


def missing_ledger_findings(by_ledger: Mapping, ledger_ids: set, add) -> None:
    for lid in sorted(set(by_ledger) - ledger_ids):
        add(Finding("LEDGER_MISSING", f"审计日志记载的台账第 {lid} 条不存在：台账被删改",
                    f"ledger row {lid} named in the audit log is missing; the ledger was edited"))


def record_findings(db, add) -> None:
    """Records, revisions, conflict flags and feature layers agree with each other."""
    bad_records = db.record_inconsistencies()
    if bad_records:
        add(Finding("RECORD_CURRENT", f"{len(bad_records)} 条记录的当前版本不存在或属于其他记录（如 {bad_records[0]}）",
                    f"{len(bad_records)} records point at a missing or foreign current revision (e.g. {bad_records[0]})"))
    n = db.records_without_revisions()
    if n:
        add(Finding("RECORD_MISSING", f"{n} 条修订没有对应的记录", f"{n} revisions have no record"))
    n = db.conflict_flag_mismatches()
    if n:
        add(Finding("CONFLICT_FLAGS", f"{n} 条记录的冲突标记与冲突表不一致", f"{n} records' conflict flags disagree with the conflicts table"))
    for spec in db.layer_specs().values():
        n = db.feature_mismatches(spec)
        if n:
            add(Finding("LAYER_STALE", f"图层 {spec.table} 有 {n} 个要素与记录的当前版本不符",
                        f"layer {spec.table}: {n} features do not match the records' current revisions"))


def verify_county(gpkg_path: str | Path, *, check_archive: bool = True) -> VerifyReport:
    """Recompute the audit chain, the ledger against the stored revisions and archived packages, and
    the consistency of records, conflicts and feature layers. Every problem is one named finding."""
    findings: list[Finding] = []
    add = findings.append
    with open_county(gpkg_path, readonly=True) as db:
        gpkg_path = db.path
        chain, by_ledger = audit_findings(db, add)
        ledger = db.ledger()
        digests = db.package_revision_digests()
        ids = {row["id"] for row in ledger}
        for row in ledger:
            lid, name = row["id"], row["file_name"]
            events = by_ledger.get(lid, [])
            if len(events) != 1:
                add(Finding("LEDGER_AUDIT", f"台账第 {lid} 条（{name}）在审计日志中没有唯一对应的记录",
                            f"ledger row {lid} ({name}) has no single matching audit row"))
                continue
            ev = events[0]
            if ev.get("sha256") != row["file_sha256"] or ev.get("outcome") != row["outcome"]:
                add(Finding("LEDGER_EDITED", f"台账第 {lid} 条（{name}）的哈希或结果与审计日志不符：台账被改动",
                            f"ledger row {lid} ({name}): hash or outcome differs from the audit log; the ledger was edited"))
            if row["audit_seq"] != ev["_seq"] or row["audit_hash"] != ev["_hash"]:
                add(Finding("LEDGER_EDITED", f"台账第 {lid} 条指向的审计记录不对", f"ledger row {lid} points at the wrong audit row"))
            if row["outcome"] != "accepted":
                continue
            for k in ("stored", "new_records", "advanced", "conflicts", "invalid", "revisions_sha256"):
                if ev.get(k) != row[k]:
                    add(Finding("LEDGER_EDITED", f"台账第 {lid} 条（{name}）的 {k} 与审计日志不符",
                                f"ledger row {lid} ({name}): {k} differs from the audit log"))
                    break
            n, digest, bad = digests.get(lid, (0, hashlib.sha256().hexdigest(), 0))
            if n != row["stored"]:
                add(Finding("REVISIONS_COUNT", f"台账第 {lid} 条（{name}）记载存入 {row['stored']} 条修订，库中有 {n} 条",
                            f"ledger row {lid} ({name}) records {row['stored']} stored revisions, the database holds {n}"))
            elif digest != row["revisions_sha256"]:
                add(Finding("REVISIONS_CHANGED", f"台账第 {lid} 条（{name}）的修订集合与存入时不同：修订被增删或改动",
                            f"ledger row {lid} ({name}): its revisions differ from what was stored; revisions were added, "
                            "removed or altered"))
            if bad:
                add(Finding("REVISION_CONTENT", f"台账第 {lid} 条（{name}）有 {bad} 条修订的内容与其哈希不符：修订被改动",
                            f"ledger row {lid} ({name}): {bad} revisions do not match their hash; they were altered"))
            if check_archive:
                archive_findings(gpkg_path.parent, row, add)
        missing_ledger_findings(by_ledger, ids, add)
        extra = sorted(set(digests) - {r["id"] for r in ledger if r["outcome"] == "accepted"})
        if extra:
            add(Finding("REVISIONS_ORPHAN", f"{sum(digests[i][0] for i in extra)} 条修订不属于任何已接收的包",
                        f"{sum(digests[i][0] for i in extra)} revisions belong to no accepted package"))
        record_findings(db, add)
        n_rev = sum(v[0] for v in digests.values())
        n_rec = db.conn.execute("SELECT count(*) FROM census_records").fetchone()[0]
        return VerifyReport(findings, chain.rows, len(ledger), n_rev, int(n_rec))





# ---------------------------------------------------------------------------------------------------
# review and conflict resolution (the reviewer's side of the review states)

def review_record(gpkg_path: str | Path, record_uuid: str, *, state: str, note: str | None = None,
                  actor: str | None = None) -> dict:
    """Set a record's review state to ``approved`` or ``rejected`` (or back to ``received``).

    A record in conflict, or whose current version has issues, cannot be approved: resolve or fix first.
    """
    if state not in ("approved", "rejected", "received"):
        raise CountyError(f"审核结果“{state}”无效，应为 approved、rejected 或 received",
                          f"review state '{state}' is not approved, rejected or received")
    with open_county(gpkg_path) as db:
        # read, check and write under the write lock: a reviewer or an import working at the same time
        # cannot change the record between what this one saw and what it writes (no lost update)
        with db.transaction():
            rec = db.record(record_uuid)
            if rec is None:
                raise CountyError(f"没有记录 {record_uuid}", f"no record {record_uuid}")
            if state == "approved" and rec["has_conflict"]:
                raise CountyError("该记录有未解决的冲突，请先用 census county resolve 选定版本",
                                  "the record has an open conflict; resolve it first (census county resolve)")
            if state == "approved" and not rec["valid"]:
                raise CountyError("该记录的当前版本有问题，不能审核通过；请退回乡镇修改",
                                  "the record's current version has issues and cannot be approved; send it back")
            if state == "received" and not rec["valid"]:
                state = "has_issues"
            spec = db.layer_specs()[rec["form_id"]]
            at = utc_now()
            db.update_records([{"record_uuid": record_uuid, "review_state": state, "review_note": note,
                                "reviewed_by": actor or _actor(), "updated_at": at}])
            db.set_feature_state(spec, [(state, rec["has_conflict"], rec["feature_fid"])])
            db.append_audit("review", record_uuid, {"revision_id": rec["current_revision_id"], "from": rec["review_state"],
                                                    "to": state, "note": note}, actor=actor, at=at)
        return db.record(record_uuid)


def _actor() -> str:
    from geodb.county import actor_name
    return actor_name()


def resolve_conflict(gpkg_path: str | Path, record_uuid: str, *, keep: str, note: str | None = None,
                     actor: str | None = None, forms: Mapping | None = None) -> dict:
    """Settle an open conflict: ``keep`` (one of its versions) becomes current, the others are set aside
    (kept, never deleted). A later edit of a set-aside version opens a new conflict."""
    from geodb import gpkg as gp
    from geodb.county import Flattener, geojson_to_shapes
    from schemas.validator import DivisionRegister, ValidationContext, Validator

    with open_county(gpkg_path) as db:
        # under the write lock from the first read: two reviewers settling the same conflict at once
        # cannot both win (the second finds it resolved)
        with db.transaction():
            open_ = [c for c in db.conflicts(status="open") if c["record_uuid"] == record_uuid]
            conflict = open_[0] if open_ else None
            if conflict is None:
                raise CountyError(f"记录 {record_uuid} 没有未解决的冲突", f"record {record_uuid} has no open conflict")
            tips = json.loads(conflict["revision_ids"])
            if keep not in tips:
                raise CountyError(f"版本 {keep} 不是该冲突的版本之一：{', '.join(tips)}",
                                  f"{keep} is not one of the conflicting versions: {', '.join(tips)}")
            rev = db.revision(keep)
            if forms is None:
                from schemas.catalogue import all_forms
                forms = all_forms()
            spec = db.layer_specs()[rev["form_id"]]
            ctx = ValidationContext(county_code=db.county,
                                    divisions=DivisionRegister(frozenset(db.townships()), frozenset(db.villages())),
                                    boundary=db.boundary(), report_unknown_fields=False)
            data = json.loads(rev["content"])["data"]
            result = Validator(forms[rev["form_id"]], ctx).validate_many([data])[0]
            flat = Flattener(spec)
            row = flat.row(result.record)
            valid = int(rev["valid"])
            state = "received" if valid else "has_issues"
            if spec.geometry_type:
                row = [gp.encode(geojson_to_shapes([flat.geometry(result.record)]))[0]] + row
            at = utc_now()
            others = [t for t in tips if t != keep]
            db.set_aside(others)
            db.update_conflict(conflict["id"], {"status": "resolved", "resolved_at": at, "updated_at": at,
                                                "resolved_by": actor or _actor(),
                                                "resolution": json.dumps({"keep": keep, "set_aside": others,
                                                                          "note": note}, ensure_ascii=False)})
            db.update_records([{"record_uuid": record_uuid, "current_revision_id": keep, "review_state": state,
                                "has_conflict": 0, "valid": valid, "updated_at": at}])
            db.replace_features(spec, [[*row, record_uuid, keep, rev["township"], state, 0, valid]],
                                [db.record(record_uuid)["feature_fid"]])
            db.append_audit("resolve", record_uuid, {"keep": keep, "set_aside": others, "note": note},
                            actor=actor, at=at)
        return db.record(record_uuid)


__all__ = ["init_county", "enrol_device", "county_status", "set_deadline", "issue_feedback", "verify_county",
           "review_record", "resolve_conflict",
           "InitResult", "StatusReport", "VerifyReport", "Finding", "CountyError", "divisions_from_sample",
           "divisions_from_boundaries", "parse_deadline"]
