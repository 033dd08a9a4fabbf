"""A throwaway PostgreSQL + PostGIS server on loopback, for the tests and benchmarks.

    python scripts/pg_server.py start [--dir D] [--port P]   # prints the connection URL
    python scripts/pg_server.py stop  [--dir D]

The cluster lives in ``D`` (default ``/tmp/census-pg``), listens on 127.0.0.1 only, trusts local
connections (it holds test data and nothing else) and has PostGIS available. PostgreSQL refuses to run
as root, so as root the cluster belongs to the ``postgres`` user (Debian's packages create it).
``.ci/run`` starts one before the tests and stops it after; ``tests/conftest.py`` starts its own when
``CENSUS_TEST_PG`` is not set.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_DIR = Path("/tmp/census-pg")
DEFAULT_PORT = 55432
USER = "census"


def pg_bin() -> Path:
    """The folder of Debian's PostgreSQL server programs (newest version), or of pg_ctl on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise SystemExit("PostgreSQL server programs not found: apt-get install postgresql postgresql-15-postgis-3 "
                     "(./dev setup does this)")


def _as_owner(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, **kw)


def url(port: int = DEFAULT_PORT, db: str = "postgres") -> str:
    return f"postgresql://{USER}@127.0.0.1:{port}/{db}"


def running(data: Path) -> bool:
    pid = data / "postmaster.pid"
    if not pid.is_file():
        return False
    try:
        os.kill(int(pid.read_text().split()[0]), 0)
        return True
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True


def start(base: Path = DEFAULT_DIR, port: int = DEFAULT_PORT) -> str:
    """Start (creating if needed) the cluster in ``base``; returns the URL of its ``postgres`` database."""
    base = Path(base)
    data = base / "data"
    b = pg_bin()
    if not (data / "PG_VERSION").is_file():
        base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        _as_owner([str(b / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
                   "--locale=C.UTF-8"], stdout=subprocess.DEVNULL)
    if not running(data):
        opts = (f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c max_connections=60 "
                "-c shared_buffers=256MB -c max_wal_size=4GB")
        _as_owner([str(b / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w", "-t", "60",
                   "-o", opts, "start"], stdout=subprocess.DEVNULL)
    for _ in range(100):
        if subprocess.run([str(b / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                          stdout=subprocess.DEVNULL).returncode == 0:
            return url(port)
        time.sleep(0.1)
    raise SystemExit(f"PostgreSQL in {data} did not answer on port {port}; see {base / 'server.log'}")


def stop(base: Path = DEFAULT_DIR) -> None:
    data = Path(base) / "data"
    if running(data):
        _as_owner([str(pg_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=("start", "stop", "url"))
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    a = ap.parse_args(argv)
    if a.action == "start":
        print(start(a.dir, a.port))
    elif a.action == "stop":
        stop(a.dir)
    else:
        print(url(a.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
