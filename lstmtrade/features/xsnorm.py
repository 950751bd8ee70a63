"""Cross-sectional normalisation of a universe's features: each feature, each date, across that date's tickers.

A pooled model sees every ticker's features at once. Per-ticker scaling puts each ticker on its own scale;
cross-sectional normalisation instead says where a ticker stands among the others *on that date*, which is
what a ranking model needs and what qlib's ``CSRankNorm`` and ``CSZScoreNorm`` processors do.

It is causal by construction: the value for (date d, ticker j) is computed from the features of date d only,
and each of those uses its own ticker's bars up to d, so no row after d can reach it. Tickers without a bar
on d, or still in their features' warm-up (NaN), take no part in that date.

- ``rank``: the percentile rank among the date's tickers (ties share their average rank), centred on 0 and
  multiplied by sqrt(12), so that a uniform rank has unit variance like a z-score;
- ``zscore``: (value - the date's mean) / the date's standard deviation (ddof 0);
- a date with a single ticker, or no spread, gives 0 (no information about its place).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..config import XS_NORMS
RANK_SCALE = math.sqrt(12.0)  # standard deviation of a uniform on [-0.5, 0.5] is 1 / sqrt(12)


def cross_sectional(wide: np.ndarray, how: str) -> np.ndarray:
    """Normalise ``wide`` (dates, tickers, features) across its tickers axis, date by date; NaN stays NaN."""
    if how == "none":
        return wide
    if how not in XS_NORMS:
        raise ValueError(f"unknown cross-sectional normalisation {how!r}; one of {', '.join(XS_NORMS)}")
    out = np.full(wide.shape, np.nan)
    finite = np.isfinite(wide)
    counts = finite.sum(axis=1)  # (dates, features)
    for k in range(wide.shape[2]):
        x = wide[:, :, k]
        n = counts[:, k][:, None]
        if how == "rank":
            pct = pd.DataFrame(x).rank(axis=1, pct=True).to_numpy()
            value = (pct - 0.5 * (1 + 1 / np.maximum(n, 1))) * RANK_SCALE
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.nansum(x, axis=1, keepdims=True) / np.maximum(n, 1)
                centred = np.where(finite[:, :, k], x - mean, 0.0)
                std = np.sqrt((centred ** 2).sum(axis=1, keepdims=True) / np.maximum(n, 1))
                scale = np.abs(np.where(finite[:, :, k], x, 0.0)).max(axis=1, keepdims=True)
                flat = std <= 1e-12 * scale
                value = np.where(flat, 0.0, centred / np.where(flat, 1.0, std))
        value = np.where(n > 1, value, 0.0)
        out[:, :, k] = np.where(finite[:, :, k], value, np.nan)
    return out
