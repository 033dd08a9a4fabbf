"""Find a CJK font on Linux, Windows or macOS and make matplotlib use it, or refuse clearly.

matplotlib caches its font list, so a font installed after the cache was built is invisible by family
name; we therefore also look for known files and register them with ``fontManager.addfont``. A font
only counts if it really has glyphs for the Chinese we print, so a map never shows boxes (tofu).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mapping.errors import FontNotFound

ENV_VAR = "CENSUS_CJK_FONT"  # a font file to use before any other

# Characters every map and report prints; a font lacking any of them is not good enough.
PROBE_TEXT = "高较中低风险区划图乡镇街道综合防治县市兴"


@dataclass(frozen=True)
class FontCandidate:
    family: str               # family name as matplotlib reports it
    files: tuple[str, ...]    # glob patterns of files that hold it (Linux, Windows, macOS)


_WIN = os.environ.get("WINDIR", r"C:\Windows")

# In order of preference: open fonts first (they ship with Debian), then the Windows/macOS system fonts.
CANDIDATES: tuple[FontCandidate, ...] = (
    FontCandidate("WenQuanYi Micro Hei", ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                                          "/usr/share/fonts/wqy-microhei*/wqy-microhei.ttc")),
    FontCandidate("Noto Sans CJK SC", ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                                       "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
                                       "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc")),
    FontCandidate("Source Han Sans SC", ("/usr/share/fonts/adobe-source-han-sans/SourceHanSansSC-Regular.otf",
                                         "/usr/share/fonts/opentype/source-han-sans/SourceHanSans*-Regular.ttc")),
    FontCandidate("Microsoft YaHei", (os.path.join(_WIN, "Fonts", "msyh.ttc"), os.path.join(_WIN, "Fonts", "msyh.ttf"))),
    FontCandidate("SimHei", (os.path.join(_WIN, "Fonts", "simhei.ttf"),)),
    FontCandidate("DengXian", (os.path.join(_WIN, "Fonts", "Deng.ttf"),)),
    FontCandidate("SimSun", (os.path.join(_WIN, "Fonts", "simsun.ttc"),)),
    FontCandidate("PingFang SC", ("/System/Library/Fonts/PingFang.ttc",)),
    FontCandidate("Heiti SC", ("/System/Library/Fonts/STHeiti Light.ttc",)),
    FontCandidate("WenQuanYi Zen Hei", ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",)),
    FontCandidate("AR PL UMing CN", ("/usr/share/fonts/truetype/arphic/uming.ttc",)),
)


@dataclass(frozen=True)
class CJKFont:
    family: str
    path: str


def _covers(path: str, text: str = PROBE_TEXT) -> bool:
    """True when the font file has a glyph for every character of ``text``."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) != 0 for ch in text)


def _family_of(path: str) -> str:
    from matplotlib import font_manager

    return font_manager.FontProperties(fname=path).get_name()


def candidate_files() -> list[str]:
    """Every file worth trying, best first: $CENSUS_CJK_FONT, fonts matplotlib knows, known paths."""
    from matplotlib import font_manager

    files: list[str] = []
    env = os.environ.get(ENV_VAR)
    if env:
        files.append(env)
    known = {f.name: f.fname for f in font_manager.fontManager.ttflist}
    for cand in CANDIDATES:
        if cand.family in known:
            files.append(known[cand.family])
        for pattern in cand.files:
            files.extend(sorted(glob.glob(pattern)))
    return list(dict.fromkeys(files))  # de-duplicated, order kept


def search_cjk_font() -> CJKFont | None:
    """The first usable CJK font, registered with matplotlib; None when there is none."""
    from matplotlib import font_manager

    for path in candidate_files():
        if not Path(path).is_file() or not _covers(path):
            continue
        font_manager.fontManager.addfont(path)
        return CJKFont(_family_of(path), path)
    return None


def _tried() -> tuple[str, ...]:
    names = tuple(c.family for c in CANDIDATES)
    env = os.environ.get(ENV_VAR)
    return ((f"{ENV_VAR}={env}",) if env else ()) + names


@lru_cache(maxsize=1)
def _configured() -> CJKFont:
    import matplotlib as mpl

    font = search_cjk_font()
    if font is None:
        raise FontNotFound(_tried())
    # CJK first for Chinese; DejaVu as fallback for the few symbols a CJK font may lack (′ ≥ ²).
    mpl.rcParams["font.family"] = [font.family, "DejaVu Sans"]
    mpl.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212
    mpl.rcParams["pdf.fonttype"] = 42           # embed TrueType subsets: real, searchable text in PDFs
    mpl.rcParams["svg.fonttype"] = "none"
    return font


def use_cjk_font() -> CJKFont:
    """Find and configure a CJK font for matplotlib (once per process); raise :class:`FontNotFound` if none."""
    return _configured()


def reset_font_cache() -> None:
    """Forget the configured font (tests that change the search use this)."""
    _configured.cache_clear()

