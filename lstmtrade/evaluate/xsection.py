"""Cross-sectional skill of a universe forecast: pure numpy/pandas/scipy, no torch/backtrader/quantstats.

Inputs are two wide frames of identical shape (index: dates, columns: tickers):

* ``pred``: the out-of-sample forecast made after the close of that date (NaN: no forecast);
* ``real``: the realised target, the open(t+1) -> open(t+2) simple return a position taken on that forecast
  earns (NaN: unknown).

Only cells where both are finite count ("valid pairs"). Notation: ``p`` a forecast, ``y`` a realised return,
``N_t`` the number of valid pairs on date ``t``.

* **Daily IC** (alphalens' ``factor_information_coefficient``): on each date, the Pearson correlation of ``p``
  and ``y`` across the ``N_t`` names; **Rank IC**: the same on their within-date ranks (Spearman, average
  ranks for ties). Undefined (left out) when ``N_t < min_names`` or either side has no spread that day.
* **Newey-West t-statistic** of a daily series ``x`` (the IC, a quantile spread): ``se = sqrt(V / n)`` with
  ``V = g_0 + 2 sum_{k=1}^{L} (1 - k/(L+1)) g_k`` (Bartlett kernel, ``g_k = (1/n) sum_t (x_t - xbar)
  (x_{t-k} - xbar)``) and ``L = floor(4 (n/100)^(2/9))`` by default; ``t = xbar / se``, two-sided p-value
  from a Student-t with ``n - 1`` degrees of freedom. ``L = 0`` gives the iid standard error (ddof 0).
* **IC IR**: ``mean(IC) / std(IC, ddof=1)`` per period (per day), NOT annualised.
* **Quantile returns**: each date the valid names are split into ``n_quantiles`` equal-count groups by
  forecast rank (1 = lowest forecast; tied forecasts share a group); a group's return that day is the
  mean ``y`` of its names, and the table averages those daily returns over dates (a group left empty
  on a date by ties does not count that date). **Spread**: top minus
  bottom group, per date, then averaged (Newey-West t). **Monotonicity**: Spearman correlation between the
  group number and its mean return (+1: every step up in forecast earns more).
* **Hit rate**: share of cells with ``sign(p) == sign(y)``, skipping cells where ``p == 0`` or ``y == 0``
  (as :func:`lstmtrade.evaluate.stats.forecast_report`); **up share**: share of cells with ``y > 0`` among those
  with ``y != 0``, i.e. exactly the hit rate the always-long forecast would score (the base rate).
* **Pooled Diebold-Mariano**: the loss differential ``(p - y)^2 - y^2`` (model minus zero forecast) is
  averaged over the names of each date first, and :func:`lstmtrade.evaluate.stats.diebold_mariano` runs on that
  daily series, so a date's cross-sectional correlation (a common shock hits every name at once) does not
  inflate the t-statistic the way pooling all cells as independent would. Dates weigh equally there; the
  **MSE ratio** ``sum((p - y)^2) / sum(y^2)`` pools every valid cell.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as _st

from .stats import corr, diebold_mariano

__all__ = [
    "daily_ic",
    "newey_west_tstat",
    "ic_summary",
    "ic_by_month",
    "quantile_returns",
    "quantile_spread",
    "per_ticker_skill",
    "pooled_dm",
    "universe_report",
]

NAN = float("nan")
_REL_TOL = 1e-12  # spread below this (relative to the largest magnitude) counts as none


# --------------------------------------------------------------------------- input, once


def _pair(pred: pd.DataFrame, real: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the two frames and return ``(p, y, valid)`` as (dates, tickers) float arrays, with NaN
    in both ``p`` and ``y`` wherever the pair is not valid."""
    for name, frame in (("pred", pred), ("real", real)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(
                f"`{name}` must be a pandas DataFrame (dates x tickers), not {type(frame).__name__}"
            )
        if not (frame.index.is_unique and frame.columns.is_unique):
            raise ValueError(f"`{name}` has duplicate dates or tickers; each (date, ticker) must appear once")
    if pred.shape != real.shape:
        raise ValueError(
            f"`pred` {pred.shape} and `real` {real.shape} must have the same shape (dates x tickers)"
        )
    if not (pred.index.equals(real.index) and pred.columns.equals(real.columns)):
        same = set(pred.index) == set(real.index) and set(pred.columns) == set(real.columns)
        if not same:
            raise ValueError(
                "`pred` and `real` must have the same dates and tickers; align them first, e.g. "
                "real = real.reindex(index=pred.index, columns=pred.columns)"
            )
        real = real.reindex(index=pred.index, columns=pred.columns)
    p = pred.to_numpy(dtype=float, copy=True)
    y = real.to_numpy(dtype=float, copy=True)
    valid = np.isfinite(p) & np.isfinite(y)
    p[~valid] = NAN
    y[~valid] = NAN
    return p, y, valid


def _row_corr(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row's valid cells (NaN where a side has no spread)."""
    n = valid.sum(axis=1)
    safe_n = np.maximum(n, 1)
    xv, yv = np.where(valid, x, 0.0), np.where(valid, y, 0.0)
    xc = np.where(valid, xv - xv.sum(axis=1, keepdims=True) / safe_n[:, None], 0.0)
    yc = np.where(valid, yv - yv.sum(axis=1, keepdims=True) / safe_n[:, None], 0.0)
    sxx, syy, sxy = (xc * xc).sum(axis=1), (yc * yc).sum(axis=1), (xc * yc).sum(axis=1)
    # a constant row leaves only rounding after centring: compare with the row's scale
    scale_x = np.abs(xv).max(axis=1, initial=0.0)
    scale_y = np.abs(yv).max(axis=1, initial=0.0)
    flat = (sxx <= n * (_REL_TOL * scale_x) ** 2) | (syy <= n * (_REL_TOL * scale_y) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    r[flat | (n < 2)] = NAN
    return np.clip(r, -1.0, 1.0)


def _row_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1..N_t) within each row, NaN cells left NaN."""
    return pd.DataFrame(x).rank(axis=1, method="average").to_numpy(dtype=float)


# --------------------------------------------------------------------------- information coefficient


def daily_ic(
    pred: pd.DataFrame,
    real: pd.DataFrame,
    method: Literal["pearson", "spearman"] = "pearson",
    min_names: int = 5,
) -> pd.Series:
    """Cross-sectional information coefficient on each date.

    ``method="pearson"`` correlates forecasts with realised returns across the names of a date;
    ``"spearman"`` (the Rank IC) correlates their within-date ranks. Dates with fewer than
    ``min_names`` valid pairs, or where the forecasts or the returns are all equal, are left out (not
    NaN), so ``len(result)`` is the number of dates the IC is defined on. Name: ``"ic"`` or ``"rank_ic"``.
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"`method` must be 'pearson' or 'spearman', not {method!r}")
    if min_names < 3:
        raise ValueError(f"`min_names` ({min_names}) must be >= 3: a correlation of 2 points is always +-1")
    p, y, valid = _pair(pred, real)
    if method == "spearman":
        p, y = _row_ranks(p), _row_ranks(y)
    r = _row_corr(p, y, valid)
    r[valid.sum(axis=1) < min_names] = NAN
    out = pd.Series(r, index=pred.index, name="ic" if method == "pearson" else "rank_ic")
    return out.dropna()


def newey_west_tstat(series: pd.Series | np.ndarray, lags: int | None = None) -> tuple[float, float, float]:
    """Mean of a daily series, its Newey-West (HAC, Bartlett kernel) standard error and t-statistic.

    Non-finite values are dropped and the rest treated as consecutive. ``lags`` defaults to
    ``floor(4 (n/100)^(2/9))`` and is capped at ``n - 1``; ``lags=0`` gives the iid standard error
    ``std(ddof=0) / sqrt(n)``. Returns ``(mean, se, t)``; nan where undefined (fewer than 2 values, a
    constant series, or a non-positive variance).
    """
    x = np.asarray(series, dtype=float).ravel()
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return NAN, NAN, NAN
    mean = float(x.mean())
    if n < 2:
        return mean, NAN, NAN
    if lags is None:
        lags = int(math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))
    if lags < 0:
        raise ValueError(f"`lags` ({lags}) must be >= 0")
    lags = min(int(lags), n - 1)
    e = x - mean
    var = float(e @ e) / n
    for k in range(1, lags + 1):
        var += 2.0 * (1.0 - k / (lags + 1.0)) * float(e[k:] @ e[:-k]) / n
    scale = float(np.abs(x).max())
    if not np.isfinite(var) or var <= n * (_REL_TOL * scale) ** 2:
        return mean, NAN, NAN
    se = math.sqrt(var / n)
    return mean, se, mean / se


def t_pvalue(t: float, n: int) -> float:
    """Two-sided p-value of ``t`` against a Student-t with ``n - 1`` degrees of freedom."""
    if not np.isfinite(t) or n < 2:
        return NAN
    return float(min(1.0, 2.0 * _st.t.sf(abs(t), n - 1)))


def ic_summary(ic: pd.Series) -> dict[str, float]:
    """Summary of a daily IC series (e.g. from :func:`daily_ic`; NaN days are dropped).

    Keys: ``mean``, ``std`` (ddof 1), ``ic_ir`` (``mean / std`` per day, NOT annualised), ``tstat``
    (Newey-West, default lags), ``pvalue`` (two-sided), ``n_days``, ``share_positive`` (share of days
    with IC > 0). Values are nan where undefined.
    """
    x = pd.Series(ic, dtype=float).to_numpy()
    x = x[np.isfinite(x)]
    n = int(x.size)
    mean, _, t = newey_west_tstat(x)
    std = float(x.std(ddof=1)) if n >= 2 else NAN
    return {
        "mean": mean,
        "std": std,
        "ic_ir": mean / std if n >= 2 and std > 0 else NAN,
        "tstat": t,
        "pvalue": t_pvalue(t, n),
        "n_days": n,
        "share_positive": float(np.mean(x > 0)) if n else NAN,
    }


def ic_by_month(ic: pd.Series) -> pd.Series:
    """Mean IC per calendar month, index ``"YYYY-MM"`` (months with no defined IC are absent)."""
    s = pd.Series(ic, dtype=float).dropna()
    if not isinstance(s.index, pd.DatetimeIndex):
        raise TypeError(f"`ic` must have a DatetimeIndex, not {type(s.index).__name__}")
    out = s.groupby(s.index.strftime("%Y-%m")).mean()
    out.index.name = "month"
    return out.rename(s.name)


# --------------------------------------------------------------------------- quantiles


def _quantile_daily(pred: pd.DataFrame, real: pd.DataFrame, n_quantiles: int) -> pd.DataFrame:
    """Mean realised return of each forecast quantile on each date: (dates, 1..n_quantiles)."""
    if n_quantiles < 2:
        raise ValueError(f"`n_quantiles` ({n_quantiles}) must be >= 2")
    p, y, valid = _pair(pred, real)
    n = valid.sum(axis=1)
    ranks = _row_ranks(p)  # ties share their average rank, hence a group
    with np.errstate(invalid="ignore"):
        group = np.floor((ranks - 0.5) / np.maximum(n, 1)[:, None] * n_quantiles) + 1
    cols = {}
    for q in range(1, n_quantiles + 1):
        inq = valid & (group == q)
        count = inq.sum(axis=1)
        total = np.where(inq, y, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cols[q] = np.where(count > 0, total / count, NAN)
    out = pd.DataFrame(cols, index=pred.index)
    out.columns.name = "quantile"
    return out[n >= n_quantiles]  # dates with fewer names than groups say nothing about the ordering


def quantile_returns(pred: pd.DataFrame, real: pd.DataFrame, n_quantiles: int = 5) -> pd.DataFrame:
    """Mean realised return by forecast quantile: rows 1 (lowest forecast) .. ``n_quantiles``.

    Columns ``mean`` (the daily mean return of the group's names, averaged over dates), ``se``
    (Newey-West standard error of that mean over dates) and ``n_days``. Dates with fewer valid names
    than groups are skipped. :func:`quantile_spread` gives the top-minus-bottom spread and monotonicity.
    """
    daily = _quantile_daily(pred, real, n_quantiles)
    rows = {}
    for q in daily.columns:
        mean, se, _ = newey_west_tstat(daily[q])
        rows[q] = (mean, se, int(daily[q].notna().sum()))
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "se", "n_days"])
    out.index.name = "quantile"
    return out


def _monotonicity(means: np.ndarray) -> float:
    if means.size < 2 or not np.all(np.isfinite(means)):
        return NAN
    ranks = _st.rankdata(means)
    if np.ptp(ranks) == 0:
        return NAN
    return float(np.corrcoef(np.arange(1.0, means.size + 1), ranks)[0, 1])  # 2 groups: +-1


def quantile_spread(pred: pd.DataFrame, real: pd.DataFrame, n_quantiles: int = 5) -> dict[str, float]:
    """Top-minus-bottom forecast quantile return and the ordering of all quantiles.

    Keys: ``spread`` (mean over dates of the top group's return minus the bottom group's, per day, not
    annualised), ``se`` and ``tstat`` (Newey-West), ``pvalue`` (two-sided), ``n_days``, and
    ``monotonicity`` (Spearman correlation between the quantile number and its mean return, in [-1, 1]).
    """
    daily = _quantile_daily(pred, real, n_quantiles)
    diff = (daily[n_quantiles] - daily[1]).dropna()
    mean, se, t = newey_west_tstat(diff)
    means = np.array([newey_west_tstat(daily[q])[0] for q in daily.columns])
    return {
        "spread": mean,
        "se": se,
        "tstat": t,
        "pvalue": t_pvalue(t, diff.size),
        "n_days": int(diff.size),
        "monotonicity": _monotonicity(means),
    }


# --------------------------------------------------------------------------- per ticker and pooled


def _hit_and_up(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Hit rate (forecast_report's rule) and up share of finite 1-d arrays."""
    nz = (p != 0) & (y != 0)
    hit = float(np.mean(np.sign(p[nz]) == np.sign(y[nz]))) if nz.any() else NAN
    moved = y != 0
    up = float(np.mean(y[moved] > 0)) if moved.any() else NAN
    return hit, up


def per_ticker_skill(pred: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    """Time-series skill of each ticker's forecasts, index ticker (tickers with no valid pair dropped).

    Columns: ``n`` (valid pairs), ``hit_rate`` (sign agreement, cells with a zero forecast or a zero
    return skipped, as :func:`lstmtrade.evaluate.stats.forecast_report`), ``up_share`` (share of the ticker's
    non-zero returns that were > 0: the hit rate of always-long, the base rate to compare ``hit_rate``
    with), ``ic`` (Pearson over time; nan under 3 pairs or no spread), ``mean_prediction``.
    """
    p, y, valid = _pair(pred, real)
    rows = {}
    for j, ticker in enumerate(pred.columns):
        m = valid[:, j]
        if not m.any():
            continue
        pj, yj = p[m, j], y[m, j]
        hit, up = _hit_and_up(pj, yj)
        rows[ticker] = (int(m.sum()), hit, up, corr(pj, yj), float(pj.mean()))
    out = pd.DataFrame.from_dict(
        rows, orient="index", columns=["n", "hit_rate", "up_share", "ic", "mean_prediction"]
    )
    out.index.name = "ticker"
    return out.astype({"n": int}) if len(out) else out


def pooled_dm(pred: pd.DataFrame, real: pd.DataFrame) -> dict[str, float]:
    """Diebold-Mariano of the forecast against the zero forecast on squared error, across the universe.

    Each date's losses are averaged over its valid names first and the test
    (:func:`lstmtrade.evaluate.stats.diebold_mariano`, HLN-corrected, ``h = 1``, one-sided: small p = the forecast
    beats zero) runs on those daily means, so names moving together on a date count once. Keys:
    ``dm_stat`` (negative = forecast better), ``dm_pvalue``, ``mse``, ``mse_zero``, ``mse_ratio``
    (pooled over every valid cell; < 1 beats zero), ``n`` (cells), ``n_days``.
    """
    p, y, valid = _pair(pred, real)
    counts = valid.sum(axis=1)
    days = counts > 0
    err2 = np.where(valid, (p - y) ** 2, 0.0)
    zero2 = np.where(valid, y**2, 0.0)
    day_model = err2.sum(axis=1)[days] / counts[days]
    day_zero = zero2.sum(axis=1)[days] / counts[days]
    stat, pvalue = diebold_mariano(day_model, day_zero, h=1, alternative="less")
    n = int(counts.sum())
    mse = float(err2.sum()) / n if n else NAN
    mse_zero = float(zero2.sum()) / n if n else NAN
    return {
        "dm_stat": stat,
        "dm_pvalue": pvalue,
        "mse": mse,
        "mse_zero": mse_zero,
        "mse_ratio": mse / mse_zero if n and mse_zero > 0 else NAN,
        "n": n,
        "n_days": int(days.sum()),
    }


# --------------------------------------------------------------------------- report


def json_number(x: float | int | None) -> float | int | None:
    """A JSON-safe number: Python int/float, None for nan/inf/None."""
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return x if math.isfinite(x) else None


def universe_report(
    pred: pd.DataFrame, real: pd.DataFrame, n_quantiles: int = 5, min_names: int = 5
) -> dict[str, float | int | None]:
    """The ``forecast`` block of a universe run's metrics.json (JSON-safe: None where undefined).

    Keys: ``n`` (valid cells), ``n_days`` (dates with a valid pair), ``n_tickers`` (tickers with one),
    ``hit_rate`` and ``up_share`` (pooled over cells), ``ic`` / ``rank_ic`` (mean daily Pearson / Rank IC),
    ``ic_ir`` / ``rank_ic_ir`` (per day, not annualised), ``ic_tstat`` / ``rank_ic_tstat`` (Newey-West),
    ``ic_pvalue`` / ``rank_ic_pvalue`` (two-sided), ``ic_days`` (dates with a defined IC), ``dm_stat``,
    ``dm_pvalue``, ``mse_ratio`` (:func:`pooled_dm`), ``quantile_spread``, ``quantile_spread_t``,
    ``quantile_spread_pvalue``, ``monotonicity`` (:func:`quantile_spread`), ``n_quantiles``.
    """
    p, y, valid = _pair(pred, real)
    hit, up = _hit_and_up(p[valid], y[valid])
    ic = ic_summary(daily_ic(pred, real, "pearson", min_names))
    ric = ic_summary(daily_ic(pred, real, "spearman", min_names))
    dm = pooled_dm(pred, real)
    qs = quantile_spread(pred, real, n_quantiles)
    out = {
        "n": int(valid.sum()),
        "n_days": int(valid.any(axis=1).sum()),
        "n_tickers": int(valid.any(axis=0).sum()),
        "hit_rate": hit,
        "up_share": up,
        "ic": ic["mean"],
        "rank_ic": ric["mean"],
        "ic_ir": ic["ic_ir"],
        "rank_ic_ir": ric["ic_ir"],
        "ic_tstat": ic["tstat"],
        "rank_ic_tstat": ric["tstat"],
        "ic_pvalue": ic["pvalue"],
        "rank_ic_pvalue": ric["pvalue"],
        "ic_days": ic["n_days"],
        "dm_stat": dm["dm_stat"],
        "dm_pvalue": dm["dm_pvalue"],
        "mse_ratio": dm["mse_ratio"],
        "quantile_spread": qs["spread"],
        "quantile_spread_t": qs["tstat"],
        "quantile_spread_pvalue": qs["pvalue"],
        "monotonicity": qs["monotonicity"],
        "n_quantiles": n_quantiles,
    }
    return {k: json_number(v) for k, v in out.items()}
