"""Errors a command did not foresee still reach the user as one line, never a traceback."""

import sqlite3

import click
from click.testing import CliRunner

from census_cli.common import handle_errors


@click.command()
@handle_errors
def broken():
    """Example: census broken"""
    raise sqlite3.OperationalError("no such column: r.feature_fid")


def test_database_error_is_one_line_exit_1():
    r = CliRunner().invoke(broken, [])
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    assert "数据库" in r.output and "no such column" in r.output


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`census … | head`: once head has what it wants, the command's next write finds the pipe closed. It
    used to print "错误/error: 无法完成操作：[Errno 32] Broken pipe"; now it stops silently with 141
    (what a shell reports for SIGPIPE). The read end is closed before the command starts writing, so
    every write fails: no timing involved."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", "from census_cli.main import main; main()", "forms", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.wait(timeout=120)
    assert proc.returncode == 141, err
    assert err.strip() == "", err
