"""`census county …` end to end through click: exit codes, one line per package, JSON output."""

import json
import os
import stat

import click
import pytest
from click.testing import CliRunner

from census_cli.cmd_county import county as county_group
from tests.sync import kit


@click.group()
@click.option("--debug", is_flag=True)
@click.pass_context
def cli(ctx, debug):
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


cli.add_command(county_group)


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


@pytest.fixture(params=("gpkg", "postgis"))
def target(request, tmp_path):
    """Where `census county init` puts the county: a new file, or an empty PostGIS database."""
    if request.param == "gpkg":
        return tmp_path / "c" / "county.gpkg"
    return request.getfixturevalue("pg_url")


def test_county_commands_end_to_end(tmp_path, target):
    sample = kit.make_sample(tmp_path / "sample")
    gpkg = target
    r = run("county", "init", "--gpkg", gpkg, "--county", kit.COUNTY, "--sample", sample, "--deadline", "2021-06-30")
    assert r.exit_code == 0, r.output
    assert f"created {gpkg}" in r.output      # a server database is named by its URL, not a local folder
    keys = kit.keys_file(gpkg)
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o600
    r = run("county", "init", "--gpkg", gpkg, "--county", kit.COUNTY, "--sample", sample)
    assert r.exit_code == 1 and "已存在" in r.output and "already exists" in r.output
    r = run("county", "init", "--gpkg", tmp_path / "x.gpkg", "--county", kit.COUNTY, "--sample", tmp_path / "nope")
    assert r.exit_code == 2
    r = run("county", "enrol", "--gpkg", gpkg, "--township", "211481999", "--enumerator", "张三", "--out", tmp_path / "e.json")
    assert r.exit_code == 1 and "211481999" in r.output

    r = run("county", "enrol", "--gpkg", gpkg, "--township", kit.T1, "--enumerator", "张三", "--out", tmp_path / "e.json",
            "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    dev = kit.Device(json.loads((tmp_path / "e.json").read_text(encoding="utf-8")), kit.T1)
    assert dev.device_id == info["device_id"]
    dev.houses(3)
    vs = kit.VILLAGES[kit.T1]
    dev.revise(kit.house("BAD", vs[0], 120.42, 40.55, year_built=2025))
    good = dev.export(tmp_path / "usb")
    bad = tmp_path / "usb" / "broken.censuspkg"
    bad.write_bytes(good.read_bytes()[:-30])

    r = run("county", "import", "--gpkg", gpkg, good, bad, good)
    assert r.exit_code == 3, r.output
    lines = [x for x in r.output.splitlines() if x.split(" ")[0] in ("接收/accepted", "拒收/rejected", "重复/duplicate")]
    assert [x.split(" ")[0] for x in lines] == ["接收/accepted", "拒收/rejected", "重复/duplicate"]
    assert (kit.side(gpkg) / "quarantine").is_dir()
    r = run("county", "import", "--gpkg", gpkg, good, "--json")
    assert r.exit_code == 0
    assert json.loads(r.output)["duplicates"] == 1

    r = run("county", "status", "--gpkg", gpkg, "--json")
    assert r.exit_code == 0
    st = json.loads(r.output)
    t1 = next(t for t in st["townships"] if t["township"] == kit.T1)
    assert t1["received"] == 4 and t1["has_issues"] == 1 and t1["late"] is True and st["deadline"].startswith("2021-06-30")
    r = run("county", "status", "--gpkg", gpkg)
    assert r.exit_code == 0 and kit.T1 in r.output
    row = next(ln for ln in r.output.splitlines() if ln.startswith(kit.T1))
    assert row.rstrip().endswith("逾期/LATE")  # the late flag sits under its own header, after the times
    assert "%" in row.split()[4]               # completeness sits under 完成, not under 逾期

    r = run("county", "feedback", "--gpkg", gpkg, "--township", kit.T1, "--out", tmp_path / "fb", "--json")
    assert r.exit_code == 0
    fb = json.loads(r.output)
    assert fb["items"] == 1 and fb["acknowledged_through"] == {dev.device_id: 1}

    r = run("county", "verify", "--gpkg", gpkg)
    assert r.exit_code == 0, r.output
    kit.execute(gpkg, kit.drop_trigger_sql(gpkg, "census_audit_no_update"),
                "UPDATE census_audit SET actor='nobody' WHERE seq=1")
    r = run("county", "verify", "--gpkg", gpkg)
    assert r.exit_code == 1
    assert "审计日志第 1 条" in r.output and "audit row 1" in r.output and "AUDIT_HASH" in r.output
    assert "Traceback" not in r.output


def test_every_county_command_has_help_with_an_example():
    for name in ("init", "enrol", "import", "status", "feedback", "verify"):
        r = run("county", name, "--help")
        assert r.exit_code == 0 and "Example" in r.output and f"census county {name}" in r.output
