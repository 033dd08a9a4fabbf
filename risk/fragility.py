"""Earthquake fragility primitives: lognormal curves, OpenQuake's continuous and discrete functions.

A fragility function gives P(DS ≥ ds | iml) for one limit state. A fragility model holds, per taxonomy,
one function per limit state (ordered from the slightest to the most severe); the damage-state
probabilities of one building are the differences of successive exceedance probabilities
(OpenQuake ``scientific.scenario_damage`` / ``pairwise_diff``), no-damage first.

The clipping rules follow oq-engine ``openquake/risklib/scientific.py`` (``FragilityFunctionContinuous``,
``FragilityFunctionDiscrete``, ``FragilityFunctionList.build``) so that results agree with OpenQuake's
QA cases; the code here is written afresh (oq-engine is AGPL-3.0, nothing is copied).

Dependencies: numpy and scipy.special only (the risk-core and OpenQuake helpers both import this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np
from scipy.special import ndtr

from schemas.errors import CensusError

# OpenQuake zeroes damage fractions below this after differencing (``arr[arr < 1E-7] = 0``):
# it hides round-off negatives and specks of probability.
OQ_MIN_FRACTION = 1e-7


class FragilityError(CensusError):
    """A fragility function or model that cannot be used as given."""


def lognormal_poe(iml, median, beta):
    """P(DS ≥ ds | iml) for a lognormal fragility curve: Φ(ln(iml/median)/β), vectorised.

    ``iml`` ≤ 0 gives 0. ``beta == 0`` is the limit: a step, 1 where iml ≥ median, else 0.
    Arguments broadcast against each other (numpy rules).
    """
    iml, median, beta = np.broadcast_arrays(np.asarray(iml, dtype=float), np.asarray(median, dtype=float),
                                            np.asarray(beta, dtype=float))
    out = np.zeros(iml.shape, dtype=float)
    pos = iml > 0
    step = pos & (beta == 0)
    out[step] = (iml[step] >= median[step]).astype(float)
    smooth = pos & (beta > 0)
    with np.errstate(divide="ignore"):
        out[smooth] = ndtr(np.log(iml[smooth] / median[smooth]) / beta[smooth])
    return out if out.ndim else float(out)


def continuous_from_moments(mean, stddev):
    """OpenQuake's continuous-fragility parameters → (median, beta) of the lognormal IML distribution.

    ``mean`` and ``stddev`` are the arithmetic moments m, s of the lognormal variable:
    median = m²/√(s²+m²), beta = √ln(1+s²/m²). Works on scalars or arrays.
    """
    m = np.asarray(mean, dtype=float)
    s = np.asarray(stddev, dtype=float)
    if np.any(m <= 0) or np.any(s < 0):
        raise FragilityError(f"连续型易损性函数要求均值 > 0、标准差 ≥ 0，得到 mean={mean}, stddev={stddev}",
                             f"a continuous fragility function needs mean > 0 and stddev ≥ 0; "
                             f"got mean={mean}, stddev={stddev}")
    var = s ** 2
    median = m ** 2 / np.sqrt(var + m ** 2)
    beta = np.sqrt(np.log(var / m ** 2 + 1.0))
    if median.ndim == 0:
        return float(median), float(beta)
    return median, beta


@dataclass(frozen=True)
class ContinuousFragility:
    """OpenQuake ``FragilityFunctionContinuous``: lognormal with arithmetic mean/stddev of the IML.

    IMLs are clipped into [min_iml, max_iml] before evaluating (a bound of 0 means "no bound", as in
    OpenQuake); after clipping, IMLs ≤ ``no_damage_limit`` (when > 0) give 0.
    """

    limit_state: str
    mean: float
    stddev: float
    min_iml: float = 0.0
    max_iml: float = 0.0
    no_damage_limit: float = 0.0

    def __post_init__(self):
        continuous_from_moments(self.mean, self.stddev)  # validates
        if self.min_iml and self.max_iml and self.min_iml > self.max_iml:
            raise FragilityError(f"{self.limit_state}: minIML {self.min_iml} 大于 maxIML {self.max_iml}",
                                 f"{self.limit_state}: minIML {self.min_iml} is above maxIML {self.max_iml}")

    @property
    def median(self) -> float:
        return continuous_from_moments(self.mean, self.stddev)[0]

    @property
    def beta(self) -> float:
        return continuous_from_moments(self.mean, self.stddev)[1]

    def __call__(self, imls) -> np.ndarray:
        x = np.array(imls, dtype=float, copy=True, ndmin=1)
        if self.max_iml:
            x[x > self.max_iml] = self.max_iml
        if self.min_iml:
            x[x < self.min_iml] = self.min_iml
        median, beta = continuous_from_moments(self.mean, self.stddev)
        out = np.asarray(lognormal_poe(x, median, beta), dtype=float).reshape(x.shape)
        if self.no_damage_limit:
            out[x <= self.no_damage_limit] = 0.0
        return out.reshape(np.shape(imls))


@dataclass(frozen=True)
class DiscreteFragility:
    """OpenQuake ``FragilityFunctionDiscrete``: PoEs given at IMLs, linear in between.

    - above the last IML the last PoE holds (IMLs are clipped to the top level);
    - with a ``no_damage_limit`` ≤ first IML, the curve starts at (no_damage_limit, 0) — OpenQuake's
      ``FragilityFunctionList.build`` prepends that point — and IMLs below the limit give 0;
    - without a limit, IMLs below the first level give 0. (OpenQuake's interpolator returns NaN there
      and the NaN propagates into the damage distribution; a zero is what a missing curve means.)
    - a zero intensity gives 0. (OpenQuake returns zeros when a whole call's input sums to 0; doing it
      per value keeps the result independent of how values are batched. The two differ only for a
      curve starting at IML 0 with a non-zero PoE.)
    """

    limit_state: str
    imls: tuple[float, ...]
    poes: tuple[float, ...]
    no_damage_limit: float | None = None

    def __post_init__(self):
        imls = tuple(float(v) for v in self.imls)
        poes = tuple(float(v) for v in self.poes)
        object.__setattr__(self, "imls", imls)
        object.__setattr__(self, "poes", poes)
        if len(imls) != len(poes):
            raise FragilityError(f"{self.limit_state}: {len(imls)} 个强度值但有 {len(poes)} 个超越概率",
                                 f"{self.limit_state}: {len(imls)} levels but {len(poes)} poes")
        if not imls:
            raise FragilityError(f"{self.limit_state}: 离散易损性函数至少需要一个强度值",
                                 f"{self.limit_state}: a discrete fragility function needs at least one level")
        if any(b <= a for a, b in zip(imls, imls[1:])):
            raise FragilityError(f"{self.limit_state}: 强度值必须严格递增：{list(imls)}",
                                 f"{self.limit_state}: intensity levels must be strictly increasing: {list(imls)}")
        if any(not 0.0 <= p <= 1.0 for p in poes):
            raise FragilityError(f"{self.limit_state}: 超越概率必须在 0 到 1 之间：{list(poes)}",
                                 f"{self.limit_state}: probabilities of exceedance must be in 0..1: {list(poes)}")

    def _curve(self) -> tuple[np.ndarray, np.ndarray]:
        imls, poes = list(self.imls), list(self.poes)
        ndl = self.no_damage_limit
        if ndl and ndl < imls[0]:
            imls, poes = [ndl] + imls, [0.0] + poes
        return np.asarray(imls), np.asarray(poes)

    def __call__(self, imls) -> np.ndarray:
        x = np.array(imls, dtype=float, copy=True, ndmin=1)
        out = np.zeros(x.shape, dtype=float)
        levels, poes = self._curve()
        x[x > levels[-1]] = levels[-1]
        inside = (x >= levels[0]) & (x > 0)
        out[inside] = np.interp(x[inside], levels, poes)
        if self.no_damage_limit:
            out[x < self.no_damage_limit] = 0.0
        return out.reshape(np.shape(imls))


FragilityFunction = Union[ContinuousFragility, DiscreteFragility]


def damage_state_probabilities(poes_by_ls, min_fraction: float = 0.0) -> np.ndarray:
    """Exceedance probabilities per limit state → probability of each damage state, no_damage first.

    ``poes_by_ls`` has shape (..., n_ls), limit states ordered slight → complete. The result has shape
    (..., n_ls + 1): [1 - P1, P1 - P2, …, P_n]. Fractions below ``min_fraction`` become 0 (OpenQuake
    uses :data:`OQ_MIN_FRACTION`); with the default 0 only round-off negatives are zeroed.
    """
    p = np.asarray(poes_by_ls, dtype=float)
    out = np.empty(p.shape[:-1] + (p.shape[-1] + 1,))
    out[..., 0] = 1.0 - p[..., 0]
    out[..., 1:-1] = p[..., :-1] - p[..., 1:]
    out[..., -1] = p[..., -1]
    out[out < max(min_fraction, 0.0)] = 0.0  # also round-off negatives (crossing curves)
    return out


@dataclass(frozen=True, eq=False)
class FragilityModel:
    """Fragility functions per taxonomy, one per limit state, all for one intensity measure type.

    ``imt_by_taxonomy`` overrides ``imt`` for taxonomies whose functions use another IMT (an OpenQuake
    model may mix PGA and SA(0.3) across taxonomies).
    """

    limit_states: tuple[str, ...]
    functions: Mapping[str, Sequence[FragilityFunction]]
    imt: str
    imt_by_taxonomy: Mapping[str, str] = field(default_factory=dict)
    id: str = ""
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "limit_states", tuple(self.limit_states))
        n = len(self.limit_states)
        if n == 0:
            raise FragilityError("易损性模型没有极限状态", "the fragility model has no limit states")
        for tax, fns in self.functions.items():
            got = [f.limit_state for f in fns]
            if got != list(self.limit_states):
                raise FragilityError(
                    f"分类 {tax} 的易损性函数极限状态为 {got}，应为 {list(self.limit_states)}",
                    f"taxonomy {tax}: fragility functions cover limit states {got}, expected "
                    f"{list(self.limit_states)}")

    @property
    def damage_states(self) -> tuple[str, ...]:
        return ("no_damage",) + self.limit_states

    def taxonomies(self) -> tuple[str, ...]:
        return tuple(self.functions)

    def imt_for(self, taxonomy: str) -> str:
        return self.imt_by_taxonomy.get(taxonomy, self.imt)

    def _functions_for(self, taxonomy: str) -> Sequence[FragilityFunction]:
        try:
            return self.functions[taxonomy]
        except KeyError:
            known = ", ".join(sorted(self.functions)) or "（无/none）"
            raise FragilityError(f"易损性模型中没有分类“{taxonomy}”（已有：{known}）",
                                 f"taxonomy '{taxonomy}' is not in the fragility model (known: {known})") from None

    def poes(self, taxonomy: str, imls) -> np.ndarray:
        """P(DS ≥ ls | iml) for every limit state: shape imls.shape + (n_ls,)."""
        return np.stack([f(imls) for f in self._functions_for(taxonomy)], axis=-1)

    def damage_fractions(self, taxonomy: str, imls, min_fraction: float = 0.0) -> np.ndarray:
        """Probability of each damage state (no_damage first): shape imls.shape + (n_ls + 1,)."""
        return damage_state_probabilities(self.poes(taxonomy, imls), min_fraction)

    def damage_state_probabilities(self, poes_by_ls, min_fraction: float = 0.0) -> np.ndarray:
        return damage_state_probabilities(poes_by_ls, min_fraction)


__all__ = [
    "OQ_MIN_FRACTION", "FragilityError", "lognormal_poe", "continuous_from_moments", "ContinuousFragility",
    "DiscreteFragility", "FragilityFunction", "FragilityModel", "damage_state_probabilities",
]
