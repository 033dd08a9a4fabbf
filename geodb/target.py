"""Where a county (or city) geodatabase lives: a GeoPackage file (the default) or a PostGIS server.

Every command takes one *target*: a file path (``county.gpkg``) or a connection URL
(``postgresql://user@host:5432/county``). This module is the only place that tells the two apart.

Files that never go into the database — the county's private keys, the archive of received packages,
quarantined packages, GeoTIFF outputs — live beside a GeoPackage. A server database has no "beside",
so they live in a local folder named after the server and database (``$CENSUS_HOME/pg/<host>_<port>_<db>/``,
``CENSUS_HOME`` defaulting to ``~/.local/share/census``). :func:`anchor_path` gives, for either kind, a
path whose ``.parent`` is that folder and whose name stands for the database, so the code that keeps
side files (``keys_path_for``, ``received/``, ``quarantine/``) works unchanged for both.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from schemas.errors import CensusError

SERVER_SCHEMES = ("postgresql", "postgres")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def is_server(target: str | os.PathLike) -> bool:
    """True for a PostgreSQL connection URL, False for a file path."""
    if isinstance(target, os.PathLike):
        return False
    scheme, sep, _ = str(target).partition("://")
    return bool(sep) and scheme.lower() in SERVER_SCHEMES


def census_home() -> Path:
    return Path(os.environ.get("CENSUS_HOME") or Path.home() / ".local" / "share" / "census")


def server_label(url: str) -> str:
    """``host_port_db`` (safe as a folder name) for a connection URL."""
    u = urlsplit(str(url))
    host = unquote(u.hostname or "local")
    db = unquote(u.path.lstrip("/")) or unquote(u.username or "postgres")
    return _SAFE.sub("-", f"{host}_{u.port or 5432}_{db}")


def display_name(target: str | os.PathLike) -> str:
    """A name for messages: the file path, or the URL without its password."""
    if not is_server(target):
        return str(target)
    u = urlsplit(str(target))
    netloc = u.netloc.rsplit("@", 1)
    if len(netloc) == 2 and ":" in netloc[0]:
        netloc[0] = netloc[0].split(":", 1)[0] + ":***"
    return u._replace(netloc="@".join(netloc)).geturl()


def anchor_path(target: str | os.PathLike) -> Path:
    """The file path itself, or ``<local folder>/<db>.pg`` for a server database (see module doc)."""
    if not is_server(target):
        return Path(target)
    label = server_label(str(target))
    return census_home() / "pg" / label / f"{label}.pg"


def side_dir(target: str | os.PathLike) -> Path:
    """The folder for a database's side files (created for a server database)."""
    p = anchor_path(target).parent
    if is_server(target):
        p.mkdir(parents=True, exist_ok=True)
    return p


def exists(target: str | os.PathLike) -> bool:
    """A GeoPackage file exists / a server database answers and holds a census geodatabase."""
    if not is_server(target):
        return Path(target).is_file()
    from . import pg
    return pg.has_census_db(str(target))


def taken(target: str | os.PathLike) -> str | None:
    """How to name ``target`` in a refusal when init must not overwrite it (a file of that name, or a server
    database already holding a census geodatabase); None when it is free."""
    if exists(target) or (not is_server(target) and Path(target).exists()):
        return display_name(target)
    if not is_server(target) and migrated_marker(target).exists():   # a migrated county's file, moved away
        return str(migrated_marker(target))
    return None


def remove_partial(target: str | os.PathLike) -> None:
    """Undo a failed init: a GeoPackage file and its journals (a server database is created in one
    transaction, so there is nothing to remove)."""
    if not is_server(target):
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)


# -- a GeoPackage that was migrated to a server --------------------------------------------------------
# ``census county|city migrate`` never writes the GeoPackage (it stays a backup, its SHA-256 in the
# server's audit log). It leaves a marker file beside it instead, and every write through this toolkit
# (imports, reviews, enrolment, risk layers …) refuses the old file and names the server: an import
# into the old file would split the county's data in two without anyone noticing.

MIGRATED_SUFFIX = ".migrated.json"


class MovedToServer(CensusError):
    """The GeoPackage was migrated to a PostGIS server; it is kept read-only."""

    def __init__(self, path: Path, moved: dict):
        url = str(moved.get("target") or "?")
        at = str(moved.get("at") or "?")
        marker = migrated_marker(path)
        super().__init__(
            f"{path} 已于 {at} 迁移到服务器 {url}，原文件只作备份、不再写入；请改用 --gpkg {url}"
            f"（确需继续使用原文件时，删除 {marker.name} 即可）",
            f"{path} was migrated to the server {url} at {at}; the file is kept as a backup and no longer "
            f"written: use --gpkg {url} (to use the file again after all, delete {marker.name})")
        self.url = url


def migrated_marker(path: str | os.PathLike) -> Path:
    return Path(str(path) + MIGRATED_SUFFIX)


def migrated_to(path: str | os.PathLike) -> dict | None:
    """What the marker beside a migrated GeoPackage says (``target``, ``at``, ``sha256``), or None."""
    import json

    marker = migrated_marker(path)
    if is_server(path) or not marker.is_file():
        return None
    try:
        moved = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        moved = {}
    return moved if isinstance(moved, dict) else {}


def refuse_if_migrated(path: str | os.PathLike) -> None:
    """Raise :class:`MovedToServer` for a GeoPackage with a migration marker (before any write)."""
    moved = migrated_to(path)
    if moved is not None:
        raise MovedToServer(Path(path), moved)


def mark_migrated(path: str | os.PathLike, *, target: str, at: str, sha256: str, audit_seq: int) -> Path:
    """Leave the marker beside ``path`` (the GeoPackage itself is not touched)."""
    import json
    import tempfile

    marker = migrated_marker(path)
    body = json.dumps({"target": display_name(target), "at": at, "sha256": sha256, "audit_seq": audit_seq},
                      ensure_ascii=False, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=marker.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        os.replace(tmp, marker)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return marker


def open_county(target: str | os.PathLike, *, readonly: bool = False):
    """Open a county geodatabase of either kind (see :class:`geodb.county.CountyDB`)."""
    if is_server(target):
        from .pg_county import PgCountyDB
        return PgCountyDB.open(str(target), readonly=readonly)
    from .county import CountyDB
    return CountyDB.open(target, readonly=readonly)


def open_city(target: str | os.PathLike, *, readonly: bool = False):
    """Open a city geodatabase of either kind (see :class:`geodb.city.CityDB`)."""
    if is_server(target):
        from .pg_city import PgCityDB
        return PgCityDB.open(str(target), readonly=readonly)
    from .city import CityDB
    return CityDB.open(target, readonly=readonly)
