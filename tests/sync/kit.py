"""Tiny fixtures built in code: a two-township county, its county GeoPackage, devices and revisions.

County 211481 is a 0.2° square near 兴城; townships 211481100 (west) and 211481101 (east), two villages
each; 10 work-map footprints per township. Revisions are made directly in the shared format so the
county side is tested without the township store.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

COUNTY = "211481"
T1, T2 = "211481100", "211481101"
VILLAGES = {T1: ["211481100201", "211481100202"], T2: ["211481101201", "211481101202"]}
X0, Y0, SIZE = 120.40, 40.50, 0.2


def make_sample(dirpath: Path, n_per_township: int = 10) -> Path:
    """DIR/sample.gpkg with layers county, townships, villages, buildings (EPSG:4490)."""
    import geopandas as gpd
    import shapely

    dirpath.mkdir(parents=True, exist_ok=True)
    half = SIZE / 2
    county = gpd.GeoDataFrame({"adcode": [COUNTY], "name": ["兴城市"]},
                              geometry=[shapely.box(X0, Y0, X0 + SIZE, Y0 + SIZE)], crs=4490)
    tgeom = {T1: shapely.box(X0, Y0, X0 + half, Y0 + SIZE), T2: shapely.box(X0 + half, Y0, X0 + SIZE, Y0 + SIZE)}
    townships = gpd.GeoDataFrame({"code": [T1, T2], "name": ["城东街道", "华山镇"]}, geometry=[tgeom[T1], tgeom[T2]],
                                 crs=4490)
    vrows, vgeoms = [], []
    for t, vs in VILLAGES.items():
        minx, miny, maxx, maxy = tgeom[t].bounds
        for k, v in enumerate(vs):
            vrows.append({"code": v, "township_code": t, "name": f"第{k + 1}村"})
            vgeoms.append(shapely.box(minx, miny + k * (maxy - miny) / 2, maxx, miny + (k + 1) * (maxy - miny) / 2))
    villages = gpd.GeoDataFrame(vrows, geometry=vgeoms, crs=4490)
    brows, bgeoms = [], []
    for t, vs in VILLAGES.items():
        minx, miny, _, _ = tgeom[t].bounds
        for i in range(n_per_township):
            v = vs[i % 2]
            x, y = minx + 0.01 + 0.005 * i, miny + 0.02 + (0.1 if i % 2 else 0.0)
            brows.append({"building_id": f"B{v}{i + 1:05d}", "township_code": t, "village_code": v, "urban": 0})
            bgeoms.append(footprint(x, y))
    buildings = gpd.GeoDataFrame(brows, geometry=bgeoms, crs=4490)
    path = dirpath / "sample.gpkg"
    for name, gdf in (("county", county), ("townships", townships), ("villages", villages), ("buildings", buildings)):
        gdf.to_file(path, layer=name, engine="pyogrio")
    return dirpath


def footprint(x: float, y: float, d: float = 0.0001):
    import shapely
    return shapely.box(x, y, x + d, y + d)


def house(building_id: str, village: str, x: float, y: float, **changes) -> dict:
    """A valid rural_house record (as the validator returns it)."""
    d = 0.0001
    rec = {"building_id": building_id, "village_code": village,
           "footprint": {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]},
           "use": "residence", "structure_type": "brick_concrete", "floors": 2, "floor_area": 120.5, "year_built": 1995,
           "construction_method": "craftsman", "professional_design": "0", "seismic_measures": ["ring_beam"],
           "retrofitted": "0", "damage": ["none"], "survey_date": "2021-06-01"}
    rec.update(changes)
    return rec


@dataclass
class Device:
    enrolment: dict
    township: str
    seq: int = 0
    ack: int = 0
    revisions: list = field(default_factory=list)   # every final revision made, in order

    @property
    def device_id(self) -> str:
        return self.enrolment["device_id"]

    def revise(self, data: dict, *, record_uuid: str | None = None, parent: str | None = None,
               form_id: str = "rural_house", form_version: str = "2020.1", problems: list | None = None,
               at: dt.datetime | None = None) -> dict:
        rev = {"record_uuid": record_uuid or str(uuid.uuid4()), "revision_id": str(uuid.uuid4()),
               "parent_revision_id": parent, "form_id": form_id, "form_version": form_version,
               "township": self.township, "status": "final",
               "created_at": (at or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0).isoformat(),
               "created_by": self.enrolment["enumerator"], "device_id": self.device_id, "data": data,
               "problems": problems or []}
        self.revisions.append(rev)
        return rev

    def houses(self, n: int, start: int = 0) -> list[dict]:
        out = []
        vs = VILLAGES[self.township]
        x0 = X0 + (0 if self.township == T1 else SIZE / 2) + 0.01
        for i in range(start, start + n):
            v = vs[i % 2]
            out.append(self.revise(house(f"B{v}{i + 1:05d}", v, x0 + 0.0003 * (i % 200), Y0 + 0.02 + 0.0003 * (i // 200))))
        return out

    def export(self, out_dir: Path, revisions: list[dict] | None = None, **kw) -> Path:
        """A package with ``revisions`` (default: everything not acknowledged), next sequence."""
        from sync.package import build_package

        self.seq += 1
        revs = self.revisions if revisions is None else revisions
        kw.setdefault("forms", forms())
        return build_package(revs, enrolment=self.enrolment, sequence=self.seq, out_dir=out_dir,
                             acknowledged_through=kw.pop("acknowledged_through", self.ack), **kw)


FORM_IDS = ("rural_house", "chemical_danger_site", "township_capacity", "village_capacity", "disaster_annual")


def forms() -> dict:
    """The forms these tests use, compiled one by one (a broken unrelated form file does not matter here)."""
    return dict(_forms())


@functools.lru_cache(maxsize=1)
def _forms() -> tuple:
    from schemas.catalogue import FORMS_DIR, load_form_file

    out = {}
    for fid in FORM_IDS:
        path = FORMS_DIR / f"{fid}.yaml"
        if path.is_file():
            out[fid] = load_form_file(path)
    return tuple(out.items())


def init_county(tmp: Path, *, n_per_township: int = 10, deadline: str | None = None, url: str | None = None):
    """A county geodatabase: ``tmp/county/county.gpkg``, or the PostGIS database at ``url``."""
    from sync.county import init_county as _init

    sample = make_sample(tmp / "sample", n_per_township)
    gpkg = url or tmp / "county" / "county.gpkg"
    _init(gpkg, county=COUNTY, sample=sample, deadline=deadline, forms=forms())
    return gpkg


# -- either backend: a county is a GeoPackage Path or a PostGIS URL (str) --------------------------------
def is_pg(county) -> bool:
    from geodb.target import is_server
    return is_server(county)


def side(county) -> Path:
    """The folder of the county's side files (keys, received/, quarantine/)."""
    from geodb.target import anchor_path
    return anchor_path(county).parent


def keys_file(county) -> Path:
    from geodb.target import anchor_path
    from sync.keys import keys_path_for
    return keys_path_for(anchor_path(county))


def _db_errors() -> tuple:
    import sqlite3

    import psycopg
    return (sqlite3.DatabaseError, psycopg.Error)


DB_ERRORS = _db_errors()


def drop_trigger_sql(county, name: str) -> str:
    """SQL that removes the named append-only guard (PostgreSQL names the table a trigger is on)."""
    return f"DROP TRIGGER {name} ON census_audit" if is_pg(county) else f"DROP TRIGGER {name}"


def execute(county, *statements: str) -> None:
    """Run SQL behind the tool's back (a tamperer with the file or a database login), committed."""
    if is_pg(county):
        import psycopg
        with psycopg.connect(county, autocommit=True) as conn:
            for sql in statements:
                conn.execute(sql)
        return
    import sqlite3
    conn = sqlite3.connect(county)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def import_(gpkg: Path, paths, **kw):
    from sync.county_import import import_packages

    kw.setdefault("forms", forms())
    kw.setdefault("workers", 0)
    return import_packages(gpkg, [Path(p) for p in paths], **kw)


def enrol(gpkg: Path, township: str = T1, enumerator: str = "张三") -> Device:
    from sync.county import enrol_device

    enr, _ = enrol_device(gpkg, township=township, enumerator=enumerator)
    return Device(enr.to_dict(), township)


DATA_TABLES = ("census_records", "census_revisions", "census_conflicts", "census_devices", "census_workmap",
               "census_expected", "census_settings", "census_layers", "rural_house", "townships", "villages", "county")


def checksums(gpkg: Path, tables=DATA_TABLES) -> dict[str, str]:
    from geodb.target import open_county

    with open_county(gpkg, readonly=True) as db:
        return db.table_checksums(tables)


def all_checksums(gpkg: Path) -> dict[str, str]:
    from geodb.target import open_county

    with open_county(gpkg, readonly=True) as db:
        return db.table_checksums()


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def rows(gpkg: Path, sql: str, params=()) -> list[tuple]:
    """Rows of a read-only query (``?`` placeholders, SQL both databases speak)."""
    if is_pg(gpkg):
        import psycopg
        with psycopg.connect(gpkg) as conn:
            return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params).fetchall()]
    import sqlite3
    conn = sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def ledger(gpkg: Path) -> list[dict]:
    from geodb.target import open_county

    with open_county(gpkg, readonly=True) as db:
        return db.ledger()


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def forge_package(out: Path, enrolment: dict, files: dict[str, bytes], *, sequence: int = 1,
                  counts: dict | None = None, manifest: dict | None = None, sign_with: str | None = None) -> Path:
    """A package made by hand (correct hashes and a valid device signature unless overridden), for the
    cases a well-behaved builder never produces: malformed JSON, NaN, odd entries."""
    import hashlib as _h

    from sync import keys as K
    from sync.formats import RETURN_FORMAT, canonical_bytes, package_filename
    from sync.zipfmt import write_zip

    fs = {}
    forms_ = {}
    for name, body in files.items():
        fs[name] = {"sha256": _h.sha256(body).hexdigest(), "bytes": len(body)}
        if name.startswith("data/") and name.endswith(".jsonl"):
            forms_[name[5:-6]] = body.count(b"\n")
    m = {"format": RETURN_FORMAT, "county": enrolment["county"], "township": enrolment["township"],
         "device_id": enrolment["device_id"], "enumerator": enrolment["enumerator"], "sequence": sequence,
         "created_at": "2021-06-01T08:00:00+00:00", "schema_versions": {f: "2020.1" for f in forms_},
         "counts": counts if counts is not None else forms_, "files": fs, "encrypted_forms": [], "key_wrap": None,
         "acknowledged_through": 0}
    m.update(manifest or {})
    mbytes = canonical_bytes(m)
    sig = K.sign(sign_with or enrolment["device_private_key"], mbytes)
    out.mkdir(parents=True, exist_ok=True)
    path = out / package_filename(m["county"], m["township"], m["device_id"], sequence)
    path.write_bytes(write_zip([("manifest.json", mbytes), ("manifest.sig", sig.encode()), *files.items()]))
    return path


def jsonl(revisions: list[dict]) -> bytes:
    from sync.formats import canonical_json
    return ("\n".join(canonical_json(r) for r in revisions) + "\n").encode("utf-8")


CLONES: list[str] = []   # server databases made by clone(); the county fixture drops them


def clone(county, dest_dir: Path):
    """A second copy of ``county`` as it is now (a file copy, or a new database on the same server)."""
    if not is_pg(county):
        return copy_county(county, dest_dir)
    url = county.rsplit("/", 1)[0] + "/census_t_clone_" + uuid.uuid4().hex[:12]
    CLONES.append(url)
    return copy_county(county, dest_dir, url=url)


def table_names(county) -> set[str]:
    if is_pg(county):
        return {t for (t,) in rows(county, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    return {t for (t,) in rows(county, "SELECT name FROM sqlite_master WHERE type='table'")}


def geom_hex_sql(county, column: str = "geom") -> str:
    """SQL giving a feature's geometry as comparable hex (the GeoPackage blob, or PostGIS WKB)."""
    return f"encode(ST_AsBinary({column}), 'hex')" if is_pg(county) else f"hex({column})"


def copy_county(template, dest_dir: Path, *, url: str | None = None):
    """A copy of the template county: a file copy, or a new PostGIS database made from the template's
    (``url``: the new database's URL, on the same server)."""
    import shutil

    if url is not None:
        import psycopg
        base, name = url.rsplit("/", 1)
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.rsplit("/", 1)[1]}"')
        keys_file(url).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(keys_file(template), keys_file(url))
        return url
    dest_dir.mkdir(parents=True, exist_ok=True)
    gpkg = dest_dir / "county.gpkg"
    shutil.copy(template, gpkg)
    shutil.copy(str(template) + ".keys.json", str(gpkg) + ".keys.json")
    return gpkg


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def assert_rejected(gpkg: Path, path: Path, reason: str | tuple, **kw):
    """Import ``path``: it must be rejected with ``reason`` and a zh/en message, quarantined with its reason,
    noted in the ledger, and every data table must be byte-for-byte unchanged; verify stays clean."""
    from sync.county import verify_county

    before = checksums(gpkg)
    n_ledger = len(ledger(gpkg))
    [res] = import_(gpkg, [path], **kw)
    reasons = (reason,) if isinstance(reason, str) else reason
    assert res.outcome == "rejected", res.line()
    assert res.reason_code in reasons, res.line()
    assert has_cjk(res.message_zh) and res.message_en and not has_cjk(res.message_en.split(":")[-1]), res.line()
    assert Path(path).name in res.message_zh and Path(path).name in res.message_en
    assert checksums(gpkg) == before, "county data changed by a rejected package"
    led = ledger(gpkg)
    assert len(led) == n_ledger + 1 and led[-1]["outcome"] == "rejected" and led[-1]["reason_code"] == res.reason_code
    qdir = side(gpkg) / "quarantine"
    stem = f"{res.sha256[:12]}_{Path(path).name}" if res.sha256 else Path(path).name
    reason_file = qdir / (stem + ".reason.txt")
    assert reason_file.is_file() and res.reason_code in reason_file.read_text(encoding="utf-8")
    if res.sha256:
        assert sha256(qdir / stem) == res.sha256
    rep = verify_county(gpkg)
    assert rep.ok, [f.line() for f in rep.findings]
    return res


# -- comparing a GeoPackage with a server database (migration) ----------------------------------------
def spatial_tables(url) -> set[str]:
    return {t for (t,) in rows(url, "SELECT f_table_name FROM geometry_columns")}


def layer_rows(target, table: str) -> list[tuple]:
    """Every row in fid order with its geometry as ISO WKB hex (a GeoPackage blob or PostGIS' EWKB)."""
    import psycopg
    import shapely

    from geodb import gpkg as G

    if is_pg(target):
        gcols = {c for (c,) in rows(target, "SELECT f_geometry_column FROM geometry_columns WHERE f_table_name=?",
                                        (table,))}
        with psycopg.connect(target) as conn:
            cur = conn.execute(f'SELECT * FROM "{table}" ORDER BY fid')
            names = [d[0] for d in cur.description]
            data = cur.fetchall()
        decode = shapely.from_wkb
    else:
        gcols = {c for (c,) in rows(target, "SELECT column_name FROM gpkg_geometry_columns WHERE table_name=?",
                                        (table,))}
        import sqlite3
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        cur = conn.execute(f'SELECT * FROM "{table}" ORDER BY fid')
        names = [d[0] for d in cur.description]
        data = cur.fetchall()
        conn.close()
        decode = G.decode
    return [tuple(shapely.to_wkb(decode(v), hex=True, flavor="iso", byte_order=1) if n in gcols and v is not None
                  else v for n, v in zip(names, r)) for r in data]
