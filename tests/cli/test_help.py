"""Every `census` command has --help with an example (CONTRACT.md)."""

import click
import pytest
from click.testing import CliRunner

from census_cli.main import cli


def _commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


COMMANDS = list(_commands(cli))


def test_there_are_commands():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"forms list", "forms validate", "forms export-xlsform", "forms import-xlsform"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p))
def test_help_has_an_example(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert "census " + " ".join(path) in result.output or "census " + path[0] in result.output


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("census ")
