"""kill -9 at random points of an import: the county is as before a package or with it fully applied.

On both backends: for PostGIS "inside a transaction" means the importer holds the county's write lock
(an advisory lock the server shows in pg_locks) instead of a GeoPackage's rollback journal.

Each trial imports three packages in a subprocess (half the trials with worker processes, killed as a
process group; a third with the three packages in one commit group, the rest committing each package), SIGKILLs it after a random delay (or, in half the trials, at once or up to 10 ms after a
package's transaction has opened its journal), then checks that the county equals one of the four
reference states (after 0, 1, 2 or 3 packages), that `verify` is clean, and that a rerun completes with
every revision present exactly once.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sync.county import verify_county
from tests.sync import kit

SCRIPT = """
import sys, json
from pathlib import Path
from tests.sync import kit
from sync.county_import import import_packages
forms = kit.forms()
gpkg, workers, group, paths = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
print("READY", flush=True)
import_packages(sys.argv[1], paths, forms=forms, workers=workers, group={"group_packages": group})
print("DONE", flush=True)
"""


def signature(gpkg) -> tuple:
    """The county's content, free of timestamps and row ids."""
    q = lambda sql: tuple(sorted(kit.rows(gpkg, sql)))  # noqa: E731
    if kit.is_pg(gpkg):
        return (q("SELECT record_uuid, current_revision_id, review_state, has_conflict, valid FROM census_records"),
                q("SELECT revision_id, content_sha256, valid FROM census_revisions"),
                q("SELECT census_uuid, census_revision, census_state, census_conflict, "
                  "encode(ST_AsBinary(geom), 'hex'), floors FROM rural_house"),
                q("SELECT file_sha256 FROM census_ledger WHERE outcome='accepted'"),
                q("SELECT record_uuid, status, revision_ids FROM census_conflicts"),
                q("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
    return (q("SELECT record_uuid, current_revision_id, review_state, has_conflict, valid FROM census_records"),
            q("SELECT revision_id, content_sha256, valid FROM census_revisions"),
            q("SELECT census_uuid, census_revision, census_state, census_conflict, hex(geom), floors FROM rural_house"),
            q("SELECT file_sha256 FROM census_ledger WHERE outcome='accepted'"),
            q("SELECT record_uuid, status, revision_ids FROM census_conflicts"),
            q("SELECT count(*) FROM rtree_rural_house_geom"),
            q("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name='rural_house'"),
            q("SELECT name FROM sqlite_master WHERE type='trigger'"))


def _packages(county: Path, out: Path) -> tuple[list[Path], int]:
    a = kit.enrol(county, kit.T1, "张三")
    b = kit.enrol(county, kit.T2, "李四")
    a.houses(300)
    p1 = a.export(out)
    b.houses(300)
    p2 = b.export(out)
    for r in list(a.revisions[:100]):   # edits of 100 records, plus 100 new ones, in one incremental package
        a.revise(kit.house(r["data"]["building_id"], r["data"]["village_code"], 120.45, 40.55, floors=3),
                 record_uuid=r["record_uuid"], parent=r["revision_id"])
    a.houses(100, start=300)
    p3 = a.export(out, revisions=a.revisions[300:], acknowledged_through=1)
    return [p1, p2, p3], 300 + 300 + 200


def _run(gpkg: Path, workers: int, paths: list[Path], group: int = 1) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(gpkg), str(workers), str(group), *map(str, paths)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def _in_transaction(gpkg) -> bool:
    """Is an import's write transaction open right now?"""
    if kit.is_pg(gpkg):
        return bool(kit.rows(gpkg, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                                   "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()")[0][0])
    return Path(str(gpkg) + "-journal").exists()


def test_kill9_during_import_20_trials(county, tmp_path, request):
    copies = []

    def copy(src, dest: Path):
        """A copy of ``src`` (a file, or a new database on the same server)."""
        if not kit.is_pg(src):
            return kit.copy_county(src, dest)
        url = src.rsplit("/", 1)[0] + "/" + f"k9_{os.getpid()}_{len(copies)}_{dest.name}"[:60]
        copies.append(url)
        return kit.copy_county(src, dest, url=url)

    request.addfinalizer(lambda: _drop(copies))
    paths, n_revisions = _packages(county, tmp_path / "packages")
    pristine = copy(county, tmp_path / "pristine")
    # reference states after 0..3 packages
    ref = copy(county, tmp_path / "ref")
    states = [signature(ref)]
    for p in paths:
        assert kit.import_(ref, [p])[0].outcome == "accepted"
        states.append(signature(ref))
    assert len(set(states)) == 4
    # how long the import itself takes in a subprocess, without and with worker processes
    duration = {}
    for workers in (0, 2):
        timing = copy(pristine, tmp_path / f"timing{workers}")
        proc = _run(timing, workers, paths)
        assert proc.stdout.readline().strip() == "READY"
        t0 = time.perf_counter()
        out, err = proc.communicate(timeout=600)
        duration[workers] = time.perf_counter() - t0
        assert proc.returncode == 0 and "DONE" in out, err
        assert signature(timing) == states[3]

    rnd = random.Random(20)
    seen, hot = [], []
    for trial in range(20):
        gpkg = copy(pristine, tmp_path / f"trial{trial}")
        workers = 0 if trial % 2 == 0 else 2
        group = 1 if trial % 3 else 50           # a commit per package, or all three in one group
        proc = _run(gpkg, workers, paths, group)
        assert proc.stdout.readline().strip() == "READY"
        if trial % 4 in (1, 2):
            # wait until a package's transaction is open (its journal exists), then kill inside it
            deadline = time.perf_counter() + duration[workers] * 2
            while not _in_transaction(gpkg) and time.perf_counter() < deadline:
                time.sleep(0.0005)
            # a package's transaction lasts some tens of milliseconds: kill at once, or a little into it
            # (a longer wait mostly lands after the commit, and the test would not know a cut happened)
            time.sleep(0.0 if trial % 4 == 1 else rnd.uniform(0.0, 0.01))
        else:
            time.sleep(rnd.uniform(0.05, 1.0) * duration[workers])
        # a server rolls a dead client's transaction back at once, so ask it just before the kill; a
        # GeoPackage's journal outlives the process, so look for it after
        hot_before = kit.is_pg(gpkg) and _in_transaction(gpkg)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        hot.append(hot_before if kit.is_pg(gpkg) else Path(str(gpkg) + "-journal").is_file())
        rep = verify_county(gpkg)       # our tools roll a cut-off transaction back on opening
        assert rep.ok, (trial, [f.line() for f in rep.findings])
        sig = signature(gpkg)           # read-only: fails if a hot journal had been left behind
        assert sig in states, f"trial {trial}: the county is neither as before nor fully applied"
        k = states.index(sig)
        seen.append(k)
        results = kit.import_(gpkg, paths)
        assert all(r.accepted for r in results), [r.line() for r in results]
        assert [r.outcome for r in results] == ["duplicate"] * k + ["accepted"] * (3 - k)
        assert signature(gpkg) == states[3]
        assert kit.rows(gpkg, "SELECT count(*), count(DISTINCT revision_id) FROM census_revisions")[0] == \
            (n_revisions, n_revisions)
        assert verify_county(gpkg).ok
        assert not list(kit.side(gpkg).glob("*-journal"))
    # the random delays hit different points (not every kill before or after everything)
    print("states after kill:", seen, "cut mid-transaction:", sum(hot))
    assert len(set(seen)) >= 2, seen
    assert sum(hot) >= 3, hot           # several kills really landed inside a transaction


def _drop(urls):
    import psycopg

    for url in urls:
        base, name = url.rsplit("/", 1)
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
