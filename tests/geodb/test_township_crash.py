"""kill -9 during township saves: every record is fully saved with its audit row, or absent."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from geodb.township import TownshipStore

sys.path.insert(0, str(Path(__file__).parent))
from test_township import house, make_enrolment  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys, json
from geodb.township import TownshipStore
sys.path.insert(0, sys.argv[2])
from test_township import house
store = TownshipStore.open(sys.argv[1])
store.validator("rural_house")  # compile the form before the clock starts
print("ready", flush=True)
i = 0
while True:
    i += 1
    if i % 3 == 0:  # a batch: all or nothing
        res = store.save_many("rural_house", [house(f"K{i}-{j}", floors=1 + j % 3) for j in range(40)])
        print("saved " + " ".join(r.record_uuid for r in res), flush=True)
    else:
        r = store.save("rural_house", house(f"K{i}", floors=1 + i % 5))
        print("saved " + r.record_uuid, flush=True)
        e = store.save("rural_house", house(f"K{i}", floors=1 + (i + 1) % 5), record_uuid=r.record_uuid)
        print("edited " + e.record_uuid + " " + e.revision_id, flush=True)
"""


def test_kill9_during_township_save(tmp_path):
    rng = random.Random(20201231)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for trial in range(8):
        db = tmp_path / f"t{trial}.db"
        TownshipStore.init(db, make_enrolment()).close()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(Path(__file__).parent)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        first = proc.stdout.readline()  # the loop is running: now kill it at a random moment
        time.sleep(rng.uniform(0.0, 0.5))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        out = first + out
        assert proc.returncode == -signal.SIGKILL
        committed, edits = set(), {}
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == "saved":
                committed.update(parts[1:])
            elif parts and parts[0] == "edited" and len(parts) == 3:
                edits[parts[1]] = parts[2]
        assert committed, "the child saved nothing before the kill; lengthen the wait"
        wal = Path(str(db) + "-wal")
        assert wal.exists() and wal.stat().st_size > 0  # the last commits live in the WAL until recovery
        with TownshipStore.open(db) as s:
            assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            report = s.verify()
            assert report.ok, report.lines()
            records = {r[0]: r[1] for r in s.conn.execute("SELECT record_uuid, current_revision_id FROM records")}
            # everything the child saw committed is there (durability) …
            assert committed <= set(records)
            for ru, rev in edits.items():
                assert records[ru] == rev
            # … and nothing is half there: each record's revisions each have exactly one audit row
            n_rev = s.conn.execute("SELECT count(*) FROM revisions").fetchone()[0]
            n_audit = s.conn.execute("SELECT count(*) FROM audit WHERE action IN ('create','revise')").fetchone()[0]
            assert n_rev == n_audit
            orphans = s.conn.execute("SELECT count(*) FROM revisions v LEFT JOIN records r USING(record_uuid) "
                                     "WHERE r.record_uuid IS NULL").fetchone()[0]
            assert orphans == 0
            missing = s.conn.execute("SELECT count(*) FROM records r LEFT JOIN audit a ON a.revision_id = "
                                     "r.current_revision_id WHERE a.seq IS NULL").fetchone()[0]
            assert missing == 0
            # batches are all or nothing
            keys = [k for (k,) in s.conn.execute("SELECT key FROM records WHERE key LIKE 'K%-%'")]
            per_batch: dict[str, int] = {}
            for k in keys:
                per_batch[k.split("-")[0]] = per_batch.get(k.split("-")[0], 0) + 1
            assert all(n == 40 for n in per_batch.values()), per_batch
            # the store keeps working after recovery
            assert s.save("rural_house", house("after-crash")).ok
        raw = sqlite3.connect(db)
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        raw.close()
