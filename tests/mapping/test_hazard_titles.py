"""Map titles name each hazard once: 洪水灾害, but 地质灾害 and 森林草原火灾 without a second 灾害."""

from mapping.zoning import hazard_disaster_zh, hazard_title
from risk.registry import RISK_HAZARD_IDS


def test_every_risk_hazard_title_has_no_doubled_word():
    for h in RISK_HAZARD_IDS:
        title = hazard_disaster_zh(hazard_title(h)[0]) + "风险区划图"
        assert "灾害灾害" not in title and "火灾灾害" not in title, title
        assert "灾" in title
    assert hazard_disaster_zh("洪水") == "洪水灾害"
    assert hazard_disaster_zh("地质灾害") == "地质灾害"
    assert hazard_disaster_zh("森林草原火灾") == "森林草原火灾"
