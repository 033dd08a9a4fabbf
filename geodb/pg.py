"""PostgreSQL plumbing for the server backend: connecting, clear errors, a connection that speaks ``?``.

The county (and city) geodatabase can live in a PostgreSQL + PostGIS database instead of a GeoPackage
(see :mod:`geodb.target`). This module is the only place that opens a server connection:

- :func:`connect` turns a ``postgresql://`` URL into a psycopg 3 connection, and the usual failures
  (server not reachable, wrong user or password, database missing, PostGIS not installed) into
  bilingual :class:`ServerError` messages that name the URL without its password;
- :class:`PgConnection` wraps it so the storage classes' portable SQL — written for sqlite3 with ``?``,
  ``?N`` and ``:name`` placeholders — runs unchanged (placeholders are rewritten outside quoted text;
  nothing else is translated: SQL that is SQLite's own is overridden per method, see
  :mod:`geodb.pg_county`);
- :func:`has_census_db` answers "is there a census geodatabase at this URL".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import pq

from schemas.errors import CensusError

from .target import display_name

CONNECT_TIMEOUT = 10   # seconds; a server that does not answer is reported, not waited for forever


class ServerError(CensusError, ConnectionError):
    """The database server cannot be used as asked; the message says why and what to do."""


class DatabaseMissing(ServerError, FileNotFoundError):
    """The server answers but has no database of that name."""


class PostgisMissing(ServerError):
    """The database has no PostGIS (and it cannot be installed from here)."""


def _db_name(url: str) -> str:
    from urllib.parse import unquote, urlsplit
    u = urlsplit(url)
    return unquote(u.path.lstrip("/")) or unquote(u.username or "") or "postgres"


def explain(url: str, e: BaseException) -> ServerError:
    """A bilingual error for a failed connection attempt (``e`` from psycopg)."""
    shown = display_name(url)
    text = str(e).strip()
    low = text.lower()
    state = getattr(e, "sqlstate", None)
    db = _db_name(url)
    if state == "3D000" or ("database" in low and "does not exist" in low):
        return DatabaseMissing(
            f"服务器上没有数据库 {db}（{shown}）；请先由数据库管理员创建：CREATE DATABASE \"{db}\";",
            f"the server has no database {db} ({shown}); ask the database administrator to create it: "
            f"CREATE DATABASE \"{db}\";")
    if state in ("28P01", "28000") or "password authentication failed" in low or "role" in low and "does not exist" in low \
            or "no password supplied" in low or "no pg_hba.conf entry" in low:
        return ServerError(f"数据库服务器拒绝登录（{shown}）：用户名、密码或访问权限不对（{_first_line(text)}）",
                           f"the database server refused the login ({shown}): wrong user, password or access rules "
                           f"({_first_line(text)})")
    if isinstance(e, psycopg.OperationalError) or "could not connect" in low or "connection refused" in low:
        return ServerError(f"无法连接数据库服务器 {shown}：服务器未启动、地址或端口不对，或被防火墙拦截（{_first_line(text)}）",
                           f"cannot reach the database server {shown}: it is not running, the host or port is wrong, "
                           f"or a firewall blocks it ({_first_line(text)})")
    return ServerError(f"数据库 {shown} 无法使用：{_first_line(text)}", f"the database {shown} cannot be used: "
                       f"{_first_line(text)}")


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # libpq puts "connection to server at … failed:" first and the reason after it
    return " ".join(lines[:2])[:300] if lines else "unknown error"


def connect(url: str, *, readonly: bool = False, require_postgis: bool = True) -> psycopg.Connection:
    """An autocommit psycopg connection (transactions are explicit, as with the GeoPackage).

    ``readonly``: every transaction of the session is read-only (the server refuses writes).
    ``require_postgis``: fail with :class:`PostgisMissing` when the extension is not installed.
    """
    kwargs: dict[str, Any] = {"autocommit": True, "application_name": "census"}
    if "connect_timeout" not in url:
        kwargs["connect_timeout"] = CONNECT_TIMEOUT
    try:
        conn = psycopg.connect(url, **kwargs)
    except psycopg.Error as e:
        raise explain(url, e) from None
    try:
        if readonly:
            conn.execute("SET default_transaction_read_only = on")
        if require_postgis and not postgis_version(conn):
            raise postgis_missing(url)
    except BaseException:
        conn.close()
        raise
    return conn


def postgis_version(conn: psycopg.Connection) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'").fetchone()
    return row[0] if row else None


def postgis_missing(url: str, detail: str = "") -> PostgisMissing:
    shown = display_name(url)
    db = _db_name(url)
    more = f"（{detail}）" if detail else ""
    more_en = f" ({detail})" if detail else ""
    return PostgisMissing(
        f"数据库 {shown} 没有安装 PostGIS 扩展{more}；请在服务器上安装 PostGIS（如 apt-get install postgresql-15-postgis-3），"
        f"并由管理员在数据库 {db} 中执行 CREATE EXTENSION postgis;",
        f"the database {shown} has no PostGIS extension{more_en}; install PostGIS on the server (e.g. apt-get install "
        f"postgresql-15-postgis-3) and have an administrator run CREATE EXTENSION postgis; in database {db}")


def ensure_postgis(conn: psycopg.Connection, url: str) -> None:
    """Create the PostGIS extension if missing (inside the caller's transaction, so it is undone with it)."""
    if postgis_version(conn):
        return
    try:
        with conn.transaction():   # a savepoint: the caller's transaction survives a refusal
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.errors.InsufficientPrivilege as e:
        raise postgis_missing(url, f"无权创建扩展 / not allowed to create it: {_first_line(str(e))}") from None
    except psycopg.Error as e:   # not installed on the server: "could not open extension control file"
        raise postgis_missing(url, _first_line(str(e))) from None


def has_census_db(url: str) -> bool:
    """The database answers and holds a census geodatabase (``census_settings`` with a ``format``)."""
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error:
        return False
    try:
        if conn.execute("SELECT to_regclass('census_settings')").fetchone()[0] is None:
            return False
        row = conn.execute("SELECT value FROM census_settings WHERE key = 'format'").fetchone()
        return bool(row and row[0])
    except psycopg.Error:
        return False
    finally:
        conn.close()


def lock_key(kind: str, code: str) -> int:
    """The advisory-lock key of one county's (or city's) writers: a signed 64-bit number fixed by its code."""
    digest = hashlib.sha256(f"census:{kind}:{code}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# ---------------------------------------------------------------------------------------------------
# sqlite3-style placeholders on a psycopg connection

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DIGITS = re.compile(r"[0-9]+")


def translate(sql: str) -> tuple[str, str]:
    """``(psycopg SQL, style)`` for sqlite3-style SQL.

    ``?`` → ``%s`` (style ``pos``); ``?N`` → ``%(pN)s`` (style ``num``: a plain ``?`` after numbered ones
    takes the next number, as in SQLite); ``:name`` → ``%(name)s`` (style ``named``); a literal ``%`` is
    doubled. Quoted strings, quoted identifiers, ``::`` casts and comments are left alone.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    style = "none"
    numbered = False
    highest = 0
    plain = 0
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1].replace("%", "%%"))
            i = j + 1
        elif ch == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif ch == "%":
            out.append("%%")
            i += 1
        elif ch == "?":
            m = _DIGITS.match(sql, i + 1)
            if m:
                k = int(m.group())
                numbered = True
                highest = max(highest, k)
                i = m.end()
            else:
                k = highest + 1 if numbered else plain + 1
                highest = max(highest, k)
                plain += 1
                i += 1
            out.append(("?", k))   # resolved below, once the style is known
        elif ch == ":" and i + 1 < n and sql[i + 1] == ":":
            out.append("::")
            i += 2
        elif ch == ":" and (m := _NAME.match(sql, i + 1)) and not (i > 0 and sql[i - 1] == ":"):
            style = "named"
            out.append(f"%({m.group()})s")
            i = m.end()
        else:
            j = i + 1
            while j < n and sql[j] not in "'\"-%?:":
                j += 1
            out.append(sql[i:j])
            i = j
    marks = [p for p in out if isinstance(p, tuple)]
    if marks and style == "named":
        raise ValueError("SQL mixes ? and :name placeholders")
    if marks:
        style = "num" if numbered else "pos"
    text = []
    for p in out:
        if isinstance(p, tuple):
            text.append(f"%(p{p[1]})s" if style == "num" else "%s")
        else:
            text.append(p)
    return "".join(text), style


def has_nul(values: Iterable[Any]) -> bool:
    """Does any text value hold U+0000? (PostgreSQL's text cannot; SQLite's can.)"""
    return any(v.__class__ is str and "\x00" in v for v in values)


def without_nul(value: Any) -> Any:
    """``value`` with U+0000 dropped when it is text. Only derived columns can meet one (a flattened
    answer, a record's key): the revision itself is stored as its JSON line, where it is escaped."""
    return value.replace("\x00", "") if value.__class__ is str and "\x00" in value else value


class PgConnection:
    """A psycopg connection that takes the sqlite3-style SQL of the storage classes.

    ``execute`` returns psycopg's cursor (``fetchone``, ``fetchall``, iteration, ``rowcount``,
    ``description``; rows are tuples). There is no ``lastrowid``: inserts that need their id use
    ``RETURNING id`` (the backend overrides those methods).
    """

    def __init__(self, conn: psycopg.Connection, url: str):
        self.raw = conn
        self.url = url
        self._cache: dict[str, tuple[str, str]] = {}

    def _sql(self, sql: str) -> tuple[str, str]:
        hit = self._cache.get(sql)
        if hit is None:
            hit = self._cache[sql] = translate(sql)
        return hit

    @staticmethod
    def _params(style: str, params: Any):
        if isinstance(params, Mapping):
            return {k: without_nul(v) for k, v in params.items()} if has_nul(params.values()) else params
        if has_nul(params):
            params = [without_nul(v) for v in params]
        if style == "pos":
            return tuple(params)
        if style == "num":
            return {f"p{i + 1}": v for i, v in enumerate(params)}
        return params

    def execute(self, sql: str, params: Sequence | Mapping | None = ()) -> psycopg.Cursor:
        if params is None or len(params) == 0:
            return self.raw.execute(sql)   # no parameters: the SQL goes as written (a literal % stays a %)
        text, style = self._sql(sql)
        return self.raw.execute(text, self._params(style, params))

    def executemany(self, sql: str, seq: Iterable[Sequence | Mapping]) -> psycopg.Cursor:
        text, style = self._sql(sql)
        cur = self.raw.cursor()
        cur.executemany(text, (self._params(style, row) for row in seq))
        return cur

    def cursor(self) -> psycopg.Cursor:
        return self.raw.cursor()

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR)

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        self.raw.close()


__all__ = ["DatabaseMissing", "PgConnection", "PostgisMissing", "ServerError", "connect", "ensure_postgis", "explain",
           "has_census_db", "has_nul", "lock_key", "postgis_version", "translate", "without_nul"]
