"""The county report: Chinese text that can be searched, every township, the reference date, page numbers."""

from __future__ import annotations

import re
import subprocess

import pytest


def _pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def _pdf_pages(path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


@pytest.fixture(scope="module")
def report(assessed_report):
    """The full report (risk, hidden-danger and history layers): the existing chapters must hold with the
    new ones in place. The report without the assessment layers is checked in test_cli."""
    return assessed_report


def test_report_text_has_townships_reference_date_and_page_numbers(report, risk_src):
    result, text = report
    for name in risk_src.townships["name"]:
        assert name in text, name
    assert "2020-12-31" in text and "2020 年 12 月 31 日" in text
    assert _pdf_pages(result.path) == result.pages
    assert f"第 {result.pages} 页 / 共 {result.pages} 页" in text
    assert "目  录" in text or "目 录" in text


def test_report_has_every_chapter_and_the_zoning_breaks(report):
    _result, text = report
    for heading in ("概述", "普查数据汇交情况", "承灾体", "风险评估结果", "历史灾害", "风险区划图", "方法与数据来源"):
        assert heading in text, heading
    assert "风险区划分级界限" in text and "0.2 / 0.4 / 0.6 / 0.8" in text
    assert "兴城市自然灾害综合风险区划图" in text          # the map page (and its caption)


def test_report_numbers_carry_thousands_separators(report):
    _result, text = report
    assert re.search(r"\b\d{1,3}(,\d{3})+\b", text)
    assert not re.search(r"\b\d{5,}\.\d\b", text)   # no long unformatted decimals such as 123456.7


def test_long_tables_split_across_pages_with_their_header_repeated():
    from mapping.pages import paginate
    from mapping.tables import Column, TableBlock

    rows = [[f"乡镇{i}", f"{i:,}"] for i in range(120)]
    pages = paginate([TableBlock("表 1  很长的表", (Column("乡镇", 2, "left"), Column("数值")), rows)])
    parts = [b for p in pages for b, _ in p.items]
    assert len(pages) >= 3
    assert sum(len(b.rows) for b in parts) == 120
    assert [b.continued for b in parts] == [False] + [True] * (len(parts) - 1)
    assert [r[0] for b in parts for r in b.rows] == [r[0] for r in rows]


def test_heading_never_ends_a_page():
    from mapping.pages import BODY_BOTTOM, BODY_TOP, Heading, Paragraph, Spacer, paginate

    filler = Spacer(BODY_TOP - BODY_BOTTOM - 0.3)          # leaves room for a heading but not its text
    pages = paginate([filler, Heading("三、承灾体"), Paragraph("正文" * 200)])
    assert isinstance(pages[1].items[0][0], Heading)


def test_report_without_risk_layers_says_to_run_the_assessment(plain_gpkg, tmp_path):
    from mapping.errors import RiskOutputsMissing
    from mapping.report import make_report

    with pytest.raises(RiskOutputsMissing, match="census risk assess"):
        make_report(plain_gpkg, tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()


def test_historical_losses_keep_1978_2020_and_count_a_year_once():
    import pandas as pd

    from mapping import stats

    class Src:   # duck-typed: stats only reads .disaster_annual
        disaster_annual = pd.DataFrame({
            "division_level": ["township", "township", "county", "township", "township", "township"],
            "year": [1990, 1990, 1990, 2005, 1977, 2021],
            "hazard_type": ["flood", "hail", "flood", "drought_hydro", "flood", "flood"],
            "direct_loss": [10.0, 5.0, 40.0, 7.5, 99.0, 99.0]})

    by_year = stats.historical_by_year(Src())
    assert list(by_year.index) == [1990, 2005]                      # 1977 and 2021 are outside the census span
    assert by_year.loc[1990].sum() == 40.0                            # the county row, not county + townships
    assert by_year.loc[2005, "干旱（水旱、农业）"] == 7.5               # code list names, not codes
