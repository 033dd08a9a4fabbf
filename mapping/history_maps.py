"""The historical-disaster map (最大历史灾害事件与模型—记录对比图).

From the layers of ``census risk history``:

- ``history_events``: the largest events (1949–2020, 2020 prices). Each township is filled by the loss of
  the largest of these events that struck it (classes: natural breaks), and labelled with the events'
  ranks, names and losses — one label per group of events with the same affected townships;
- ``history_comparison``: townships whose modelled expected annual loss and recorded annual mean differ by
  an order of magnitude or more are hatched, purple where the model is higher, teal where the record is.
  Hazards that disagree in most townships the same way (``history_agreement``: a systematic gap in the
  model, e.g. wind losses the model does not count) are said once in the notes, not marked everywhere;
  the other flagged hazards are named under the township's name ("核查：洪水").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mapping import cartography as carto
from mapping import fmt, styles
from mapping.compose import MapSpec, compose
from mapping.source import MapSource, open_source
from mapping.thematic import class_edges, classes_of

# ColorBrewer Blues-4 (lighter half): the events are mostly floods; blue keeps them apart from the hatching
# colours, and the darkest class stays light enough for the hatching and the labels on top
EVENT_PALETTE = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd")
NO_EVENT = styles.ClassStyle("none", "未列入最大事件", "not struck by a listed event", "#ffffff")
TOWNSHIP_LABEL_SIZE = 8.0    # the size compose() gives township names (the dry run must match it)
# event boxes keep a readable size and may reach over their township's edge (their anchor stays inside);
# a box with no free spot even so becomes a callout beside its townships, with a leader line, rather than
# cover a township name (a many-line box in a small township has no room once the name is kept clear)
EVENT_LABEL_PASSES = ((1.0, 1.0), (0.75, 1.0), (0.5, 1.0), (0.5, 0.85))


@dataclass(frozen=True)
class FlagStyle:
    direction: str        # "model_high" | "record_high"
    name_zh: str
    colour: str
    hatch: str


FLAG_STYLES: tuple[FlagStyle, ...] = (
    FlagStyle("model_high", "模型高于记录≥10 倍（核查历史统计是否漏报）", "#6a3d9a", "///"),
    FlagStyle("record_high", "记录高于模型≥10 倍（核查模型是否漏算）", "#01665e", "\\\\\\"),
)


def _codes(v) -> list[str]:
    return [c.strip() for c in str(v or "").replace("，", ",").split(",") if c.strip()]


def event_loss_by_township(events) -> dict[str, float]:
    """Township code → loss (万元, 2020 prices) of the largest listed event that struck it."""
    out: dict[str, float] = {}
    for r in events.itertuples():
        for c in _codes(r.townships):
            out[c] = max(out.get(c, 0.0), float(r.direct_loss_2020_wan))
    return out


def flag_direction(row) -> str | None:
    """Which way a flagged township disagrees (total over the frequent hazards), None when not flagged."""
    if not int(row.get("flag") or 0):
        return None
    ratio = row.get("log10_ratio")
    if ratio is not None and np.isfinite(float(ratio)):
        return "model_high" if float(ratio) > 0 else "record_high"
    model = float(row.get("model_total_cny") or 0.0)
    rec = float(row.get("recorded_total_cny") or 0.0)
    return "model_high" if model > rec else "record_high"


def systematic_hazards(src: MapSource) -> dict[str, str]:
    """Risk hazard id → short sentence, for hazards most townships flag the same way (history_agreement's
    rule: at least half the compared townships flagged and a median gap of an order of magnitude)."""
    ag = src.history_agreement
    if not len(ag) and len(src.history_comparison):   # layer not written: the same rule on the comparison
        from risk.history import hazard_agreement

        ag = hazard_agreement(src.history_comparison)
    if not len(ag):
        return {}
    out = {}
    for r in ag.to_dict("records"):
        compared, flagged = int(r.get("townships_compared") or 0), int(r.get("flagged") or 0)
        med = r.get("median_log10_ratio")
        if compared and flagged >= 0.5 * compared and med is not None and np.isfinite(med) and abs(med) >= 1:
            side = f"模型为记录的 {10 ** med:.0f} 倍" if med > 0 else f"记录为模型的 {10 ** -med:.0f} 倍"
            out[str(r["risk_hazard"])] = (f"{r['name_zh']} {flagged}/{compared} 个乡镇相差≥10 倍（中位数{side}），"
                                          "属模型系统性差异，不逐乡镇标注")
    return out


def township_flag_text(src: MapSource) -> dict[str, str]:
    """Township code → "核查：洪水、风暴潮" for the flagged hazards that are not systematic."""
    from risk.registry import RISK_HAZARDS

    comp = src.history_comparison
    names = {h.id: h.name_zh for h in RISK_HAZARDS}
    skip = set(systematic_hazards(src))
    out = {}
    for r in comp.to_dict("records"):
        hz = [h for h in _codes(r.get("hazards_flagged")) if h not in skip]
        if hz:
            out[str(r["township_code"])] = "核查：" + "、".join(names.get(h, h) for h in hz)
    return out


def _event_classes(values: np.ndarray) -> tuple[tuple[float, ...], list[str]]:
    edges = class_edges(values, "fisher_jenks", k=min(len(EVENT_PALETTE), len(np.unique(values))))
    if not edges:       # one event (or equal losses): one class named by its value
        return (), [f"{fmt.num(values.max())} 万元"]
    return edges, fmt.range_labels(edges, "万元")


def _name_spots(ax, src: MapSource, township_text: dict[str, str], obstacles: list) -> list:
    """Where :func:`mapping.compose.compose` will put the township names (same texts, size and order),
    found by a dry run: the event labels are placed round these spots, so no event box covers a name.
    compose places the names after the overlay, avoiding the event boxes; a name whose first choice no
    event box touches lands on the same spot as in the dry run."""
    from mapping.labels import place_labels

    items = [(str(c), f"{n}\n{township_text[str(c)]}" if str(c) in township_text else str(n), g)
             for c, n, g in zip(src.townships["code"], src.townships["name"], src.townships.geometry)]
    placed = place_labels(ax, items, lat0=src.lat0, fontsize=TOWNSHIP_LABEL_SIZE, obstacles=obstacles,
                          draw=False, text_kw={"color": styles.LABEL_COLOUR, "zorder": 7})
    return [p.bbox for p in placed]


def _event_labels(ax, src: MapSource, events, obstacles: list, township_text: dict[str, str] | None = None) -> list:
    """One label per group of events with the same townships: "① 2013年暴雨洪涝 5,376 万元" per line,
    placed clear of the township names (``township_text``: the names' second lines, as compose gets them)."""
    import shapely

    from mapping.labels import place_labels

    geoms = dict(zip(src.townships["code"], src.townships.geometry))
    groups: dict[tuple[str, ...], list] = {}
    for r in events.itertuples():
        key = tuple(sorted(_codes(r.townships)))
        if key and all(k in geoms for k in key):
            groups.setdefault(key, []).append(r)
    items = []
    for key, rows in groups.items():
        lines = [f"{chr(0x245F + int(r.rank)) if int(r.rank) <= 20 else int(r.rank)} {r.event_name} "
                 f"{fmt.num(r.direct_loss_2020_wan)} 万元" for r in sorted(rows, key=lambda r: int(r.rank))]
        items.append(("|".join(key), "\n".join(lines), shapely.union_all([geoms[k] for k in key])))
    # boxed: readable on any fill (place_labels measures the box with its padding and edge)
    box = {"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "#08519c", "linewidth": 0.5,
           "alpha": 0.92}
    names = _name_spots(ax, src, township_text or {}, obstacles)
    placed = place_labels(ax, items, lat0=src.lat0, fontsize=7.0, obstacles=[*obstacles, *names],
                          text_kw={"color": "#08306b", "zorder": 7.5, "linespacing": 1.3, "bbox": box},
                          gid="event-label", passes=EVENT_LABEL_PASSES, callout=True)
    return [p.bbox for p in placed]


def history_map(gpkg: str | Path | MapSource, *, ax=None):
    """Largest historical events by township, and the townships where model and record disagree."""
    from matplotlib.patches import Patch

    src = open_source(gpkg)
    src.require_history()
    events = src.history_events
    comp = src.history_comparison
    towns = src.townships
    loss = event_loss_by_township(events) if len(events) else {}
    vals = np.array([loss.get(c, np.nan) for c in towns["code"]], dtype=float)
    finite = vals[np.isfinite(vals)]
    edges, names = _event_classes(finite) if finite.size else ((), [])
    cls = classes_of(vals, edges)
    idx = np.round(np.linspace(0, len(EVENT_PALETTE) - 1, len(names))).astype(int) if len(names) > 1 else [-1]
    colours = [EVENT_PALETTE[i] for i in idx][: len(names)]
    fc = [colours[c] if c >= 0 else "white" for c in cls]
    direction = {str(r["township_code"]): flag_direction(r) for r in comp.to_dict("records")}
    geom = dict(zip(towns["code"], towns.geometry))

    def draw(ax):
        carto.draw_polygons(ax, towns.geometry, fc, edgecolor="none", zorder=2, gid="event-townships")
        for fs in FLAG_STYLES:
            flagged = [geom[c] for c, d in direction.items() if d == fs.direction and c in geom]
            if flagged:
                coll = carto.draw_polygons(ax, flagged, "none", edgecolor=fs.colour, linewidth=1.6, zorder=3,
                                           gid=f"flag-{fs.direction}")
                coll.set_hatch(fs.hatch)
                coll.set_hatch_linewidth(0.6)

    flags_text = township_flag_text(src)

    def overlay(ax, obstacles):
        return _event_labels(ax, src, events, obstacles, flags_text) if len(events) else []

    entries = tuple(styles.ClassStyle(i, n, n, c) for i, (n, c) in enumerate(zip(names, colours)))[::-1]
    if entries and np.isnan(vals).any():
        entries = (*entries, NO_EVENT)
    present = {d for d in direction.values() if d}
    symbols = [Patch(facecolor="white", edgecolor=fs.colour, hatch=fs.hatch, linewidth=1.2, label=fs.name_zh)
               for fs in FLAG_STYLES if fs.direction in present]
    n_flag = sum(1 for d in direction.values() if d)
    sys_notes = tuple(systematic_hazards(src).values())
    first = int(events["year"].min()) if len(events) else None
    spec = MapSpec(
        title=f"{src.county_name}最大历史灾害事件与模型—记录对比图",
        subtitle=f"{src.county_name}（{src.county_code}） · "
                 + (f"最大 {len(events)} 次事件（{first}—2020 年）" if first else "无历史灾害事件记录")
                 + f" · 模型与记录相差≥1 个数量级的乡镇 {n_flag} 个 · "
                 f"普查标准时点 {styles.REFERENCE_DATE_TEXT}",
        legend_title="最大事件损失（2020 年价）", entries=entries or (NO_EVENT,),
        labels=None if entries else ("无历史灾害事件记录",),
        notes=(("序号：事件损失排序；填色：乡镇所受最大事件的损失；斜线：模型与记录年均损失相差≥10 倍（地震除外）；"
                "核查：该灾种相差≥10 倍"), *sys_notes, "数据来源：census risk history"),
        kind="history", symbols=tuple(symbols))
    fig = compose(src, spec, draw, ax=ax, overlay=overlay, township_text=flags_text)
    return fig
