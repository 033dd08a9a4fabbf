"""A CJK font is found and used, or the command refuses with a message that names what to install."""

from __future__ import annotations

import pytest
from click.testing import CliRunner


def test_a_cjk_font_is_found_and_covers_the_map_text():
    from matplotlib import rcParams

    from mapping.fonts import PROBE_TEXT, _covers, use_cjk_font

    font = use_cjk_font()
    assert _covers(font.path, PROBE_TEXT + "较次重点一般")
    assert rcParams["font.family"][0] == font.family
    assert rcParams["pdf.fonttype"] == 42


def test_missing_cjk_font_is_a_clear_error(no_cjk_font):
    from mapping.errors import FontNotFound
    from mapping.fonts import use_cjk_font

    with pytest.raises(FontNotFound) as e:
        use_cjk_font()
    assert "fonts-wqy-microhei" in str(e.value) and "CENSUS_CJK_FONT" in str(e.value)
    assert "Microsoft YaHei" in str(e.value)


def test_missing_cjk_font_stops_the_map_command_before_drawing(no_cjk_font, risk_gpkg, tmp_path):
    from census_cli.main import cli

    out = tmp_path / "c.png"
    r = CliRunner().invoke(cli, ["map", "zoning", "--gpkg", str(risk_gpkg), "--hazard", "comprehensive",
                                 "--out", str(out)])
    assert r.exit_code == 1
    assert "apt install fonts-wqy-microhei" in r.output
    assert not out.exists()


def test_a_font_without_chinese_glyphs_does_not_count(monkeypatch):
    import matplotlib

    from mapping import fonts

    latin = str(matplotlib.get_data_path() + "/fonts/ttf/DejaVuSans.ttf")
    fonts.reset_font_cache()
    monkeypatch.setattr(fonts, "candidate_files", lambda: [latin])
    try:
        assert fonts.search_cjk_font() is None
    finally:
        monkeypatch.undo()
        fonts.reset_font_cache()
        fonts.use_cjk_font()


def test_env_var_font_is_tried_first(monkeypatch):
    from mapping import fonts

    real = fonts.use_cjk_font().path
    monkeypatch.setenv(fonts.ENV_VAR, real)
    assert fonts.candidate_files()[0] == real
