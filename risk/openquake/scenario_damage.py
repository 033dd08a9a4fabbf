"""Scenario damage as OpenQuake's ``scenario_damage`` calculator computes it (float damage distributions).

For every asset and event: damage-state fractions from the fragility functions of its taxonomy at the
ground motion of its nearest site (``risk.fragility``; fractions below 1e-7 zeroed, as OpenQuake's
``scientific.scenario_damage`` does), times the asset's ``number`` of buildings. Outputs are the mean
over events per asset (and the sample standard deviation, ddof=1, as OpenQuake's ``mean_std``), the
per-event totals, and totals per taxonomy — the quantities in OpenQuake's ``avg_damages``/
``dmg_by_asset``, ``dmg_by_event``, ``dmg_total`` and ``dmg_by_taxon`` exports.

An asset whose site has no GMF row for an event is undamaged in that event (OpenQuake computes nothing
for missing rows). OpenQuake can instead sample integer building counts per damage state
(``discrete_damage_distribution``); that is a random draw around these same means and is not done here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from risk.fragility import OQ_MIN_FRACTION, FragilityModel

from .errors import OQInputError
from .exposure_csv import Exposure
from .gmf import (DEFAULT_MAX_DISTANCE_KM, GroundMotionFields, Sites, associate, site_rows,
                  sites_from_gmf)
from .nrml import FragilitySource

CHUNK_ELEMENTS = 4_000_000  # assets × events per block: bounds memory on big exposures


@dataclass
class ScenarioDamageResult:
    loss_type: str
    damage_states: tuple[str, ...]  # no_damage first
    exposure: Exposure
    kept: np.ndarray  # indices into exposure of the assets with a site within reach
    site_row: np.ndarray  # per kept asset, row in ``sites``
    distance_km: np.ndarray  # per kept asset
    sites: Sites
    event_ids: np.ndarray  # (E,)
    mean: np.ndarray  # (A_kept, D) buildings per damage state, mean over events
    stddev: np.ndarray  # (A_kept, D) sample standard deviation over events (NaN when E == 1)
    by_event: np.ndarray  # (E, D) buildings per damage state summed over assets
    by_taxonomy: dict[str, np.ndarray]  # exposure taxonomy → (E, D)
    dropped: list[tuple[str, float]] = field(default_factory=list)  # (asset id, km to nearest site)
    imts: tuple[str, ...] = ()

    @property
    def n_events(self) -> int:
        return len(self.event_ids)

    def total_mean(self) -> np.ndarray:
        return self.by_event.mean(axis=0)

    def total_stddev(self) -> np.ndarray:
        return _std(self.by_event)

    def taxonomy_stats(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {t: (v.mean(axis=0), _std(v)) for t, v in self.by_taxonomy.items()}

    def summary(self) -> dict:
        tm = self.total_mean()
        return {
            "assets": int(len(self.kept)),
            "assets_dropped": len(self.dropped),
            "dropped": [{"asset_id": a, "distance_km": round(d, 3)} for a, d in self.dropped[:20]],
            "events": self.n_events,
            "sites": len(self.sites),
            "loss_type": self.loss_type,
            "damage_states": list(self.damage_states),
            "imts": list(self.imts),
            "buildings": float(self.exposure.number[self.kept].sum()),
            "total_mean": {ds: float(v) for ds, v in zip(self.damage_states, tm)},
        }


def _std(x: np.ndarray) -> np.ndarray:
    """OpenQuake's ``mean_std`` stddev: ddof=1 over events; NaN for a single event."""
    if x.shape[0] < 2:
        return np.full(x.shape[1:], np.nan)
    return x.std(axis=0, ddof=1)


def compute_scenario_damage(exposure: Exposure, fragility: FragilitySource | FragilityModel,
                            gmf: GroundMotionFields, sites: Sites | None = None,
                            taxonomy_mapping: dict[str, list[tuple[str, float]]] | None = None,
                            mapping_path: str | None = None,
                            max_distance_km: float | None = DEFAULT_MAX_DISTANCE_KM,
                            progress: Callable[[int, int], None] | None = None) -> ScenarioDamageResult:
    """Damage distribution per asset and event; see the module docstring for what is computed."""
    if isinstance(fragility, FragilitySource):
        model, loss_type, frag_path = fragility.model, fragility.loss_type, fragility.path
    else:
        model, loss_type, frag_path = fragility, "structural", "fragility"
    sites = sites if sites is not None else sites_from_gmf(gmf)
    gmf_site_row = site_rows(gmf, sites)

    # which fragility taxonomies (with weights) each exposure taxonomy uses; all must exist
    mapping = taxonomy_mapping or {}
    plans: dict[str, list[tuple[str, float]]] = {}
    for i, tax in enumerate(exposure.taxonomy):
        if tax in plans:
            continue
        pairs = mapping.get(tax, [(tax, 1.0)])
        for risk_tax, _ in pairs:
            if risk_tax not in model.functions:
                f, line = exposure.origin[i] if exposure.origin else ("exposure", None)
                known = ", ".join(sorted(model.functions))
                via_zh = f"（经分类映射 {Path(mapping_path).name} 转为“{risk_tax}”）" if tax in mapping and mapping_path else ""
                via_en = f" (mapped to '{risk_tax}' by {Path(mapping_path).name})" if tax in mapping and mapping_path else ""
                raise OQInputError(f, line, "taxonomy",
                                   f"分类“{tax}”{via_zh}在易损性模型 {Path(frag_path).name} 中不存在（已有：{known}）",
                                   f"taxonomy '{tax}'{via_en} is not in the fragility model {Path(frag_path).name} "
                                   f"(it has: {known})")
            imt = model.imt_for(risk_tax)
            if imt not in gmf.values:
                raise OQInputError(gmf.path, 1, f"gmv_{imt}",
                                   f"缺少强度指标 {imt} 的列（分类“{risk_tax}”的易损性函数需要它；文件中有："
                                   f"{', '.join(gmf.imts)}）",
                                   f"no column for intensity measure {imt} (the fragility functions of "
                                   f"taxonomy '{risk_tax}' need it; the file has: {', '.join(gmf.imts)})")
        plans[tax] = pairs

    site_row, dist = associate(exposure.lon, exposure.lat, sites, max_distance_km)
    kept = np.flatnonzero(site_row >= 0)
    dropped = [(exposure.ids[i], float(dist[i])) for i in np.flatnonzero(site_row < 0)]
    if len(kept) == 0:
        raise OQInputError(exposure.origin[0][0] if exposure.origin else "exposure", None, None,
                           f"没有资产在任何场点 {max_distance_km:g} km 范围内；请核对坐标或加大最大距离",
                           f"no asset lies within {max_distance_km:g} km of any site; check the coordinates "
                           f"or raise the maximum distance")

    imts_used = sorted({model.imt_for(rt) for pairs in plans.values() for rt, _ in pairs})
    matrices = {imt: gmf.matrix(imt, gmf_site_row, len(sites)) for imt in imts_used}
    E = len(gmf.events)
    D = len(model.limit_states) + 1
    A = len(kept)
    mean = np.zeros((A, D))
    std = np.zeros((A, D))
    by_event = np.zeros((E, D))
    by_taxonomy: dict[str, np.ndarray] = {}
    taxonomy_kept = np.asarray(exposure.taxonomy, dtype=object)[kept]
    number_kept = exposure.number[kept]
    rows_kept = site_row[kept]
    chunk = max(1, CHUNK_ELEMENTS // max(E * D, 1))
    done = 0
    for tax in sorted(plans):
        positions = np.flatnonzero(taxonomy_kept == tax)
        if len(positions) == 0:
            continue
        acc_tax = np.zeros((E, D))
        for start in range(0, len(positions), chunk):
            pos = positions[start:start + chunk]
            fractions = np.zeros((len(pos), E, D))
            for risk_tax, weight in plans[tax]:
                gmv = matrices[model.imt_for(risk_tax)][rows_kept[pos]]  # (a, E), NaN = no GMF row
                f = model.damage_fractions(risk_tax, np.nan_to_num(gmv, nan=0.0), OQ_MIN_FRACTION)
                missing = np.isnan(gmv)
                f[missing] = 0.0
                f[missing, 0] = 1.0  # no ground motion recorded: undamaged
                fractions += weight * f
            dmg = fractions * number_kept[pos][:, None, None]
            mean[pos] = dmg.mean(axis=1)
            std[pos] = np.nan if E < 2 else dmg.std(axis=1, ddof=1)
            acc_tax += dmg.sum(axis=0)
            done += len(pos)
            if progress is not None:
                progress(done, A)
        by_taxonomy[tax] = acc_tax
        by_event += acc_tax
    return ScenarioDamageResult(
        loss_type=loss_type, damage_states=model.damage_states, exposure=exposure, kept=kept,
        site_row=rows_kept, distance_km=dist[kept], sites=sites, event_ids=gmf.events, mean=mean, stddev=std,
        by_event=by_event, by_taxonomy=by_taxonomy, dropped=dropped, imts=tuple(imts_used))


@dataclass(frozen=True)
class ScenarioDamageRun:
    result: ScenarioDamageResult
    files: dict[str, str]

    def summary(self) -> dict:
        return {**self.result.summary(), "files": self.files}


def run_scenario_damage(exposure_path: object, fragility_path: object, gmf_path: object, out_dir: object,
                        sites_path: object | None = None, taxonomy_mapping_path: object | None = None,
                        max_distance_km: float | None = DEFAULT_MAX_DISTANCE_KM,
                        progress: Callable[[int, int], None] | None = None) -> ScenarioDamageRun:
    """Read OpenQuake inputs, compute, and write the CSVs (see :mod:`risk.openquake.writers`) to ``out_dir``."""
    from .exposure_csv import read_exposure
    from .gmf import read_gmf_csv, read_sites_csv
    from .nrml import read_fragility_model
    from .taxonomy_mapping import read_taxonomy_mapping
    from .writers import write_all

    fragility = read_fragility_model(fragility_path)
    exposure = read_exposure(exposure_path)
    gmf = read_gmf_csv(gmf_path)
    sites = read_sites_csv(sites_path) if sites_path is not None else None
    mapping = read_taxonomy_mapping(taxonomy_mapping_path) if taxonomy_mapping_path is not None else None
    result = compute_scenario_damage(exposure, fragility, gmf, sites, mapping,
                                     str(taxonomy_mapping_path) if taxonomy_mapping_path else None,
                                     max_distance_km, progress)
    files = write_all(result, out_dir)
    return ScenarioDamageRun(result, {k: str(v) for k, v in files.items()})
