"""Moving a county (or city) geodatabase from its GeoPackage to a PostgreSQL + PostGIS server (迁移到数据库服务器).

``census county migrate --gpkg COUNTY.gpkg --to postgresql://user@host/db`` — for an office that outgrows
one file. Everything moves, nothing is lost or altered (see :mod:`geodb.pg_migrate` for the tables):

1. the GeoPackage is opened read-only and read in one snapshot; it is never written, and stays as it was
   (a backup, and proof of what was moved: its SHA-256 goes into the audit log);
2. a target that already holds a census geodatabase, or any table, is refused before anything is done;
3. the side files — the private keys, ``received/`` (the archive verify re-hashes), ``quarantine/``,
   ``receipts/``, ``enrolments/``, and the ``risk/`` and ``history/`` outputs — are copied into the server
   database's local folder (:func:`geodb.target.anchor_path`); a file already there with other bytes
   stops the migration;
4. the database is copied in ONE server transaction that ends with one audit row ``migrate`` (source
   path, SHA-256, size, rows per table) appended to the copied hash chain. Should that transaction fail,
   the side files this run created are removed again: the target is left as it was.

Afterwards ``census county verify --gpkg URL`` checks the copied chain, ledger, revisions and archive,
and a marker beside the GeoPackage (``COUNTY.gpkg.migrated.json``, :func:`geodb.target.mark_migrated`) makes
every later write to the old file refuse and name the server (reading it still works).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from geodb import pg_migrate as M
from geodb.county import actor_name
from geodb.target import anchor_path, display_name, is_server, mark_migrated

from . import keys as K
from .formats import utc_now

SIDE_DIRS = ("received", "quarantine", "receipts", "enrolments", "risk", "history")
Progress = Callable[[int, int], None]


MigrateError = M.MigrateError   # every refusal of a migration, from here or from geodb.pg_migrate


@dataclass
class MigrateResult:
    kind: str
    source: str
    target: str                      # the URL without its password
    sha256: str
    file_bytes: int
    tables: dict[str, int]           # table → rows copied
    layers: dict[str, list[str]]     # census | form | division | layer → tables
    side_folder: str
    side_files: list[str]            # copied (relative to the side folder)
    keys_copied: bool
    audit_seq: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    marker: str = ""                 # the marker left beside the GeoPackage ("" if it could not be written)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def line(self) -> str:
        return (f"已迁移 {self.source} → {self.target}：{len(self.tables)} 张表共 {self.rows:,} 行，"
                f"{len(self.side_files)} 个附属文件，审计第 {self.audit_seq} 条，用时 {self.seconds:.1f} 秒 / "
                f"migrated {self.source} → {self.target}: {len(self.tables)} tables, {self.rows:,} rows, "
                f"{len(self.side_files)} side files, audit #{self.audit_seq}, {self.seconds:.1f} s")

    def as_dict(self) -> dict:
        return {**asdict(self), "rows": self.rows}


def migrate_county(gpkg: str | os.PathLike, url: str, *, progress: Progress | None = None,
                   actor: str | None = None) -> MigrateResult:
    """Move the county GeoPackage ``gpkg`` into the empty PostGIS database ``url`` (module doc)."""
    return _migrate(M.COUNTY, gpkg, url, progress=progress, actor=actor)


def migrate_city(gpkg: str | os.PathLike, url: str, *, progress: Progress | None = None,
                 actor: str | None = None) -> MigrateResult:
    """Move the city GeoPackage ``gpkg`` into the empty PostGIS database ``url`` (module doc)."""
    return _migrate(M.CITY, gpkg, url, progress=progress, actor=actor)


def _migrate(kind: M.Kind, gpkg: str | os.PathLike, url: str, *, progress: Progress | None,
             actor: str | None) -> MigrateResult:
    if is_server(gpkg):
        raise MigrateError(f"--gpkg 应为 GeoPackage 文件，而不是连接地址 {display_name(gpkg)}",
                           f"--gpkg must be a GeoPackage file, not the URL {display_name(gpkg)}")
    url = str(url)
    M.check_target(url)
    gpkg = Path(gpkg)
    with M.open_source(gpkg, kind) as src:
        pairs, keys_pair = _side_plan(gpkg, url)
        created = _copy_side_files(pairs, private={keys_pair[1]} if keys_pair else set())
        try:
            with M.migrating(src, url, progress=progress) as (db, rep):
                detail = {"source": str(gpkg.resolve()), "sha256": src.sha256, "file_bytes": src.size,
                          "format": kind.fmt, "tables": rep.tables,
                          "side_files": len(pairs)}
                if rep.nul_dropped:
                    detail["nul_dropped"] = rep.nul_dropped
                if rep.widened:
                    detail["geometry_widened"] = rep.widened
                seq, _ = db.append_audit("migrate", src.code, detail, actor=actor or actor_name(), at=utc_now())
        except BaseException:
            for p in reversed(created):
                p.unlink(missing_ok=True)
            raise
    side = anchor_path(url).parent
    notes = []
    marker = ""
    try:   # the old file is kept as it is; a marker beside it makes every later write refuse it
        marker = str(mark_migrated(gpkg, target=url, at=utc_now(), sha256=src.sha256, audit_seq=seq))
    except OSError as e:
        notes.append(f"无法在原文件旁写入迁移标记（{e}）：请勿再向 {gpkg.name} 导入 / could not leave the migration "
                     f"marker beside the file ({e}): do not import into {gpkg.name} any more")
    if keys_pair is None:
        notes.append(f"原文件旁没有密钥文件 {K.keys_path_for(gpkg).name}；请把密钥文件复制为 "
                     f"{K.keys_path_for(anchor_path(url))} / no key file beside the GeoPackage: copy the keys to "
                     f"{K.keys_path_for(anchor_path(url))}")
    for t, n in rep.nul_dropped.items():
        notes.append(f"表 {t} 有 {n} 个文本值含 U+0000，PostgreSQL 无法保存该字符，已去掉 / table {t}: {n} text values "
                     "held U+0000, which PostgreSQL cannot store; it was dropped")
    for t, typ in rep.widened.items():
        notes.append(f"图层 {t} 的几何与声明类型不一致，服务器上取 {typ} / layer {t}: its geometries do not all "
                     f"have the declared type; the server column is {typ}")
    for t in rep.empty_forms:
        notes.append(f"表单图层 {t} 在原文件中不存在，已建为空图层 / form layer {t} was missing from the file; "
                     "created empty")
    return MigrateResult(kind.name, str(gpkg), display_name(url), src.sha256, src.size, dict(rep.tables),
                         {k: list(v) for k, v in rep.roles.items()}, str(side),
                         [str(dst.relative_to(side)) for _, dst in pairs], keys_pair is not None, seq,
                         rep.seconds, notes, marker)


# ---------------------------------------------------------------------------------------------------
# Side files

def _side_plan(gpkg: Path, url: str) -> tuple[list[tuple[Path, Path]], tuple[Path, Path] | None]:
    """(source, destination) of every side file, and of the key file (None when there is none). A
    destination that exists with other bytes stops the migration before anything is copied."""
    src_dir = gpkg.resolve().parent
    anchor = anchor_path(url)
    dst_dir = anchor.parent
    pairs: list[tuple[Path, Path]] = []
    keys_pair = None
    keys = K.keys_path_for(gpkg)
    if keys.is_file():
        keys_pair = (keys, K.keys_path_for(anchor))
        pairs.append(keys_pair)
    for d in SIDE_DIRS:
        root = src_dir / d
        if root.is_dir():
            pairs += [(f, dst_dir / d / f.relative_to(root)) for f in sorted(root.rglob("*")) if f.is_file()]
    clash = [dst for s, dst in pairs if dst.exists() and (not dst.is_file() or dst.read_bytes() != s.read_bytes())]
    if clash:
        names = ", ".join(str(p) for p in clash[:3]) + (" …" if len(clash) > 3 else "")
        raise MigrateError(f"服务器数据库的本地文件夹里已有不同的同名文件（{names}），不会覆盖；它们可能属于另一个数据库，请先移走",
                           f"the server database's local folder already has different files of the same names "
                           f"({names}) and they will not be overwritten; they may belong to another database — "
                           "move them away first")
    return pairs, keys_pair


def _copy_side_files(pairs: list[tuple[Path, Path]], *, private: set[Path]) -> list[Path]:
    """Copy what is not there yet; returns the files created (removed again if the database copy fails).
    The key file is created owner-only from the start, as :func:`sync.keys.save_county_keys` makes it."""
    created: list[Path] = []
    try:
        for src, dst in pairs:
            if dst.exists():
                continue   # the same bytes (checked by _side_plan)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst in private:
                fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                created.append(dst)
                with os.fdopen(fd, "wb") as f:
                    f.write(src.read_bytes())
            else:
                shutil.copy2(src, dst)
                created.append(dst)
    except BaseException:
        for p in reversed(created):
            p.unlink(missing_ok=True)
        raise
    return created


__all__ = ["MigrateError", "MigrateResult", "SIDE_DIRS", "migrate_city", "migrate_county"]
