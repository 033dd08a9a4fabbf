"""Plausible generated place names in the style of western Liaoning (辽西).

Village names there are mostly a family name + 家 + a landform or settlement word (王家屯, 李家沟,
杨家杖子), or a position/number + landform (前所, 三道沟, 大台子); towns (镇) and townships (乡) are
mostly named after their seat village. Streets (街道) and communities (社区) take auspicious or
descriptive urban words. Names are drawn from a seeded generator and kept unique within one county;
real 葫芦岛 township names are deliberately not used, so nobody mistakes generated data for real.
"""

from __future__ import annotations

import numpy as np

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文关佟")
PLACE_SUFFIX = ["屯", "沟", "堡", "营", "店", "庄", "岭", "杖子", "窝铺", "台", "甸子", "房身", "坎", "洼", "峪", "湾",
                "坨", "山", "河", "口", "铺", "寨"]
PLACE_PREFIX = ["东", "西", "南", "北", "前", "后", "大", "小", "上", "下", "中", "新", "老", "高", "红", "白",
                "黑", "双", "三", "二", "四", "五", "青", "石", "沙", "柳", "杏", "梨", "榆", "松", "桃", "马", "牛",
                "羊", "狼", "鹿", "龙", "凤", "金", "银", "夹", "长", "宽", "碱", "泉", "温", "旧", "元", "永"]
LANDFORM = ["台子", "沟", "河", "山", "岭", "坎", "营子", "店", "堡子", "屯", "窝铺", "甸", "峪", "庙", "井", "泡子",
            "岗", "洼", "坨子", "城子", "所", "门", "岭子", "树", "道沟", "河口", "湾子"]
URBAN_WORDS = ["滨海", "光明", "新华", "建设", "站前", "繁荣", "和平",
               "胜利", "铁路", "春城", "兴华", "新兴", "文化", "振兴", "东风", "向阳", "曙光", "红旗", "民主",
               "团结", "育才", "北山", "南街", "东关", "西关", "龙湾", "海韵", "迎宾", "康乐", "长青",
               "锦华", "东园", "西园", "花园", "富民", "安居", "丽水", "玉皇", "城东", "城西", "城南", "城北",
               "永安", "长安", "新城", "望海", "观海", "临海", "翠岩", "凤凰", "朝阳", "东升", "惠民", "和谐"]


class NameMaker:
    """Unique names for one county, from one seeded generator."""

    def __init__(self, rng: np.random.Generator, taken: set[str] | None = None):
        self.rng = rng
        self.taken: set[str] = set(taken or ())

    def _pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def _unique(self, make, suffix: str, tries: int = 200) -> str:
        for _ in range(tries):
            name = make() + suffix
            if name not in self.taken:
                self.taken.add(name)
                return name
        # give up on style, keep uniqueness: add an ordinal
        base = make()
        k = 2
        while f"{base}{k}{suffix}" in self.taken:
            k += 1
        name = f"{base}{k}{suffix}"
        self.taken.add(name)
        return name

    def village_stem(self) -> str:
        r = self.rng.random()
        if r < 0.55:
            return self._pick(SURNAMES) + "家" + self._pick(PLACE_SUFFIX)
        if r < 0.9:
            return self._pick(PLACE_PREFIX) + self._pick(LANDFORM)
        return self._pick(SURNAMES) + self._pick(["家", "家大", "家小"]) + self._pick(LANDFORM)

    def township(self, kind: str) -> str:
        """kind: 'jiedao' (街道), 'zhen' (镇) or 'xiang' (乡)."""
        if kind == "jiedao":
            return self._unique(lambda: self._pick(URBAN_WORDS), "街道")
        suffix = "镇" if kind == "zhen" else "乡"
        return self._unique(self.village_stem, suffix)

    def community(self) -> str:
        return self._unique(lambda: self._pick(URBAN_WORDS) + (self._pick(["", "", "里", "园", "苑", "街"])), "社区")

    def village(self) -> str:
        return self._unique(self.village_stem, "村")

    def claim(self, name: str) -> str:
        self.taken.add(name)
        return name
