"""CSV outputs in OpenQuake's layouts (numbers as ``%.6E``, coordinates as ``%.5f``, like its exports).

- ``avg_damages.csv``  (OpenQuake ``avg_damages-rlz-000`` / ``avg_damages-mean``): asset_id, tag columns,
  taxonomy, lon, lat, ``<loss_type>~<damage_state>`` = mean number of buildings over events.
- ``dmg_by_asset.csv`` (OpenQuake ≤ 3.9 ``dmg_by_asset``): asset_ref, taxonomy, lon, lat,
  ``<lt>~<ds>_mean``, ``<lt>~<ds>_stdv``.
- ``dmg_by_event.csv``: event_id, rlz_id, ``<lt>~<ds>`` summed over assets.
- ``dmg_total.csv``: loss_type, damage_state (``<ds>_mean``/``<ds>_stdv``), damage_value.
- ``dmg_by_taxon.csv``: tag (taxonomy), ``<lt>~<ds>_mean``, ``<lt>~<ds>_stdv``.

Assets are written in exposure order (OpenQuake orders them by its internal site/asset ordinal).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .scenario_damage import ScenarioDamageResult

FILES = ("avg_damages.csv", "dmg_by_asset.csv", "dmg_by_event.csv", "dmg_total.csv", "dmg_by_taxon.csv")


def _e(x: float) -> str:
    return "nan" if x != x else f"{x:.6E}"


def _rows_e(arr: np.ndarray) -> list[list[str]]:
    """Rows of ``arr`` formatted as OpenQuake prints floats (plain Python floats: much faster)."""
    return [[_e(v) for v in row] for row in np.asarray(arr, float).tolist()]


def _ds_cols(r: ScenarioDamageResult, suffixes: tuple[str, ...] = ("",)) -> list[str]:
    return [f"{r.loss_type}~{ds}{s}" for ds in r.damage_states for s in suffixes]


def write_avg_damages(r: ScenarioDamageResult, path: Path) -> Path:
    tags = sorted(r.exposure.tags)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["asset_id", *tags, "taxonomy", "lon", "lat", *_ds_cols(r)])
        lon, lat = r.exposure.lon.tolist(), r.exposure.lat.tolist()
        for i, vals in zip(r.kept.tolist(), _rows_e(r.mean)):
            w.writerow([r.exposure.ids[i], *(r.exposure.tags[t][i] for t in tags), r.exposure.taxonomy[i],
                        f"{lon[i]:.5f}", f"{lat[i]:.5f}", *vals])
    return path


def write_dmg_by_asset(r: ScenarioDamageResult, path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["asset_ref", "taxonomy", "lon", "lat", *_ds_cols(r, ("_mean", "_stdv"))])
        lon, lat = r.exposure.lon.tolist(), r.exposure.lat.tolist()
        interleaved = np.stack([r.mean, r.stddev], axis=-1).reshape(len(r.kept), -1)  # ds1_mean, ds1_stdv, …
        for i, vals in zip(r.kept.tolist(), _rows_e(interleaved)):
            w.writerow([r.exposure.ids[i], r.exposure.taxonomy[i], f"{lon[i]:.5f}", f"{lat[i]:.5f}", *vals])
    return path


def write_dmg_by_event(r: ScenarioDamageResult, path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["event_id", "rlz_id", *_ds_cols(r)])
        for eid, vals in zip(r.event_ids.tolist(), _rows_e(r.by_event)):
            w.writerow([eid, 0, *vals])
    return path


def write_dmg_total(r: ScenarioDamageResult, path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["loss_type", "damage_state", "damage_value"])
        for ds, m, s in zip(r.damage_states, r.total_mean(), r.total_stddev()):
            w.writerow([r.loss_type, f"{ds}_mean", _e(m)])
            w.writerow([r.loss_type, f"{ds}_stdv", _e(s)])
    return path


def write_dmg_by_taxon(r: ScenarioDamageResult, path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["tag", *_ds_cols(r, ("_mean", "_stdv"))])
        for tax, (m, s) in sorted(r.taxonomy_stats().items()):
            w.writerow([tax, *map(_e, [v for pair in zip(m, s) for v in pair])])
    return path


def write_all(r: ScenarioDamageResult, out_dir: object) -> dict[str, Path]:
    out = Path(str(out_dir))
    out.mkdir(parents=True, exist_ok=True)
    writers = (write_avg_damages, write_dmg_by_asset, write_dmg_by_event, write_dmg_total, write_dmg_by_taxon)
    return {name.removesuffix(".csv"): fn(r, out / name) for name, fn in zip(FILES, writers)}
