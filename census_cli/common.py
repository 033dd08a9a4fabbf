"""What every `census` command shares: exit codes, error lines, --json output, progress.

Contract (CONTRACT.md): 0 success; 1 input read but invalid; 2 usage error or missing file;
3 a batch finished with some items rejected. Errors are one line each, Chinese first then English;
no traceback unless --debug.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterable

import click

from schemas.errors import CensusError

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_BROKEN_PIPE = 141   # 128 + SIGPIPE, what a shell reports for a command cut off by a closed pipe
EXIT_USAGE = 2
EXIT_PARTIAL = 3



def need(path) -> None:
    """A file or folder the command reads must exist (a clear error otherwise); a server URL answers for
    itself when the command opens it."""
    from geodb.target import is_server

    if not is_server(path) and not Path(path).exists():
        raise FileNotFoundError(2, "not found", str(path))


def _server_error(e: BaseException) -> bool:
    """An error of the PostGIS backend's driver (refused connection, permission, …). Checked by module
    so that every command does not pay for importing psycopg."""
    return type(e).__module__.startswith("psycopg")


class CommandFailed(click.ClickException):
    """Stop the command with a zh/en line and an exit code."""

    def __init__(self, message_zh: str, message_en: str, exit_code: int = EXIT_INVALID):
        super().__init__(f"{message_zh} / {message_en}")
        self.exit_code = exit_code

    def show(self, file=None) -> None:  # one clean line on stderr
        click.echo(f"错误/error: {self.message}", err=True)


def missing_file(path: str) -> CommandFailed:
    return CommandFailed(f"找不到文件或目录：{path}", f"file or folder not found: {path}", EXIT_USAGE)


def debug_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.obj and isinstance(ctx.obj, dict) and ctx.obj.get("debug"):
            return True
        ctx = ctx.parent
    return False


def handle_errors(fn: Callable) -> Callable:
    """Turn library errors into one-line messages and exit codes (tracebacks only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except CensusError as e:
            if debug_enabled():
                raise
            code = EXIT_USAGE if isinstance(e, (FileNotFoundError,)) else EXIT_INVALID
            raise CommandFailed(e.message_zh, e.message_en, code) from e
        except FileNotFoundError as e:
            if debug_enabled():
                raise
            raise missing_file(str(e.filename or e)) from e
        except sqlite3.DatabaseError as e:  # a store or geodatabase from another version, or damaged
            if debug_enabled():
                raise
            raise CommandFailed(f"数据库无法按预期读取（可能由其他版本创建或已损坏）：{e}",
                                f"the database could not be read as expected (made by another version, or "
                                f"damaged): {e}", EXIT_INVALID) from e
        except BrokenPipeError:
            # the reader went away (`census county status | head`): stop quietly, as other commands do;
            # stdout is pointed at /dev/null so that flushing it on exit does not fail a second time
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):   # not a real file (a test runner's capture): nothing to flush
                pass
            finally:
                os.close(devnull)
            raise SystemExit(EXIT_BROKEN_PIPE) from None
        except (OSError, ValueError) as e:
            if debug_enabled():
                raise
            raise CommandFailed("无法完成操作：" + str(e), "could not complete: " + str(e), EXIT_INVALID) from e
        except Exception as e:
            if debug_enabled() or not _server_error(e):
                raise
            raise CommandFailed(f"数据库服务器报错：{e}", f"the database server refused: {e}", EXIT_INVALID) from e

    return wrapper


def emit_json(data: Any) -> None:
    """Machine-readable output: stdout carries this and nothing else."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def echo_err(line: str) -> None:
    click.echo(line, err=True)


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress(description: str, total: int | None = None):
    """A rich progress bar on a terminal, nothing otherwise. Yields ``advance(n=1)``.

    Library code takes a plain ``progress(done, total)`` callback; commands adapt it with this.
    """
    if not stdout_is_tty():
        yield lambda n=1, total=None: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1, total: int | None = None) -> None:
            if total is not None:
                bar.update(task, total=total)
            bar.advance(task, n)

        yield advance


def callback_progress(advance: Callable) -> Callable[[int, int], None]:
    """Adapt ``advance`` to the library convention ``cb(done, total)``."""
    state = {"done": 0}

    def cb(done: int, total: int) -> None:
        advance(done - state["done"], total=total)
        state["done"] = done

    return cb


def lines(items: Iterable[str]) -> None:
    for s in items:
        echo_err(s)


def report_verification(rep, as_json: bool, *, packages_zh: str) -> None:
    """Print what ``census county|city verify`` found (each finding, then a summary on stderr, or JSON)
    and exit 1 unless everything is intact. ``packages_zh``: what the ledger's packages are called."""
    if as_json:
        emit_json(rep.as_dict())
    else:
        for f in rep.findings:
            click.echo(f.line())
        summary = (f"审计日志 {rep.audit_rows} 条，{packages_zh} {rep.packages} 个，修订 {rep.revisions} 条，记录 {rep.records} 条 / "
                   f"{rep.audit_rows} audit rows, {rep.packages} packages, {rep.revisions} revisions, {rep.records} records")
        echo_err(("完好 / intact: " if rep.ok else f"发现 {len(rep.findings)} 处问题 / {len(rep.findings)} findings: ") + summary)
    if not rep.ok:
        raise SystemExit(EXIT_INVALID)
