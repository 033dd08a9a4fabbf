"""The `census` command: thin click commands over the library packages.

Each command group lives in its own module (cmd_*.py) and is registered here.
"""

from __future__ import annotations

import importlib
import importlib.metadata

import click

# (module, attribute) of every command group; each module parses input, calls the library, prints.
COMMAND_MODULES = [
    ("census_cli.cmd_forms", "forms"),
    ("census_cli.cmd_sample", "sample"),
    ("census_cli.cmd_township", "township"),
    ("census_cli.cmd_county", "county"),
    ("census_cli.cmd_demo", "demo"),
    ("census_cli.cmd_map", "map_group"),
    ("census_cli.cmd_report", "report"),
    ("census_cli.cmd_risk", "risk"),
    ("census_cli.cmd_city", "city"),
]


def _version() -> str:
    try:
        return importlib.metadata.version("census-toolkit")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(_version(), "--version", prog_name="census", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="出错时显示完整回溯 / show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """自然灾害综合风险普查工具 / Natural-disaster risk census toolkit.

    \b
    Example:
      census demo --out demo_out
      census forms list
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# (module, attribute, group) of commands that join a group made in another module
GROUP_COMMANDS = [
    ("census_cli.cmd_migrate", "county_migrate", "county"),
    ("census_cli.cmd_migrate", "city_migrate", "city"),
]

for _module, _attr in COMMAND_MODULES:
    cli.add_command(getattr(importlib.import_module(_module), _attr))
for _module, _attr, _group in GROUP_COMMANDS:
    cli.commands[_group].add_command(getattr(importlib.import_module(_module), _attr))


def main() -> None:
    cli(prog_name="census")


if __name__ == "__main__":
    main()
