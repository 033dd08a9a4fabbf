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
