"""Expected annual loss from losses at a few return periods (docs/RISK_METHODS.md §4).

With annual exceedance probabilities λᵢ = 1/Tᵢ sorted from frequent to rare and losses Lᵢ:

    EAL = Σᵢ (λᵢ − λᵢ₊₁)·(Lᵢ + Lᵢ₊₁)/2  +  λ_rarest · L_rarest

— the trapezoidal rule over the loss–exceedance curve, plus a tail for events rarer than the rarest
point, whose loss is held at the rarest point's (a lower bound: rarer events do at least as much). An
optional ``zero_loss_return_period`` T₀ adds the point (1/T₀, 0): events that frequent do no damage
(flood: the bankfull, 2-year flood). Without it, events more frequent than the first point are left out
(again a lower bound). A single point gives λ·L (probability × consequence). Losses are made
non-decreasing with return period first (a rarer event never does less damage).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from risk.errors import RiskError


def expected_annual_loss(losses, return_periods: Sequence[float], *, zero_loss_return_period: float | None = None,
                         tail: bool = True) -> np.ndarray:
    """EAL from ``losses`` of shape (..., k) at ``return_periods`` (k years, any order); NaN → 0."""
    rp = np.asarray(return_periods, dtype="float64")
    L = np.asarray(losses, dtype="float64")
    if L.shape[-1] != rp.size or rp.size == 0:
        raise RiskError(f"损失有 {L.shape[-1]} 列，但给出 {rp.size} 个重现期",
                        f"losses have {L.shape[-1]} columns but {rp.size} return periods were given")
    if np.any(rp <= 0):
        raise RiskError(f"重现期必须大于 0：{rp.tolist()}", f"return periods must be positive: {rp.tolist()}")
    order = np.argsort(rp)
    rp = rp[order]
    L = np.maximum.accumulate(np.nan_to_num(L[..., order], nan=0.0), axis=-1)
    lam = 1.0 / rp
    if zero_loss_return_period is not None:
        if zero_loss_return_period >= rp[0]:
            raise RiskError("无损失重现期必须短于最短的重现期", "the zero-loss return period must be shorter than the first one")
        lam = np.concatenate([[1.0 / zero_loss_return_period], lam])
        L = np.concatenate([np.zeros(L.shape[:-1] + (1,)), L], axis=-1)
    dlam = lam[:-1] - lam[1:]
    eal = (0.5 * (L[..., :-1] + L[..., 1:]) * dlam).sum(axis=-1)
    if tail:
        eal = eal + lam[-1] * L[..., -1]
    return eal
