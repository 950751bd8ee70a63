"""Forecast skill and significance statistics: pure numpy/pandas/scipy, no torch/backtrader/quantstats.

Notation: ``p`` a forecast, ``y`` the realised target, ``n`` the number of usable observations.

* **Hit rate**: share of days with ``sign(p) == sign(y)``, skipping days where ``p == 0`` or ``y == 0``.
* **Up share**: share of those same days with ``y > 0``, the hit rate of always being long; a hit rate
  is skill only as far as it beats this base rate (a stock that rose on 54 % of days gives 54 % free).
* **IC**: Pearson correlation of ``p`` and ``y``; **Spearman IC**: Pearson correlation of their ranks.
* **MSE ratio**: ``mean((p - y)^2) / mean(y^2)``, the model's MSE over that of the zero forecast (< 1 beats zero).
* **Out-of-sample R^2** (Campbell & Thompson 2008): ``1 - sum((y - p)^2) / sum((y - b)^2)`` with ``b`` the
  expanding historical mean of ``y`` known when the forecast was made (or zero); > 0 beats the benchmark.
* **Diebold-Mariano** (1995) with the Harvey-Leybourne-Newbold (1997) correction: ``d_t = L_model - L_bench``,
  ``DM = mean(d) / sqrt(V / n)`` with ``V = g_0 + 2 sum_{k=1}^{h-1} g_k`` (rectangular window,
  ``g_k = (1/n) sum_t (d_t - mean d)(d_{t-k} - mean d)``); ``HLN = DM * sqrt((n + 1 - 2h + h(h-1)/n) / n)``,
  compared with a Student-t with ``n - 1`` degrees of freedom.
* **Sharpe ratio**: ``SR = mean(r) / std(r, ddof=1)`` per period; annualised ``SR * sqrt(periods)``; rf = 0.
* **Probabilistic Sharpe ratio** (Bailey & Lopez de Prado 2012):
  ``PSR(SR*) = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2))`` with per-period ``SR``,
  ``g3`` the sample skewness and ``g4`` the RAW kurtosis (3 for a normal), both moment estimators
  (``m3 / m2^1.5``, ``m4 / m2^2``).
* **Deflated Sharpe ratio** (Bailey & Lopez de Prado 2014): ``DSR = PSR(SR0)`` with
  ``SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``, ``V`` the variance of the
  per-period Sharpe ratios across the ``N`` trials and ``gamma`` the Euler-Mascheroni constant; ``SR0 = 0``
  when ``N = 1``.
* **Sharpe-ratio difference** (Ledoit & Wolf 2008, the HAC test): ``D = SR_a - SR_b`` of two return series on
  the same days; its standard error by the delta method on the moments ``v = (mu_a, mu_b, E r_a^2, E r_b^2)``,
  ``se^2 = grad f(v)' Psi grad f(v) / n`` with ``Psi`` the long-run covariance of the moment series (quadratic
  spectral kernel with automatic bandwidth, :mod:`arch.covariance`), so autocorrelation, fat tails and the
  correlation between the two series all enter; ``z = D / se``, one-sided p = ``1 - Phi(z)`` for H1: ``SR_a >
  SR_b``. (Jobson-Korkie with Memmel's correction is the same statistic under iid normal returns.)
* **Break-even cost**: the commission (bps) at which an edge function of cost crosses zero, by bisection.
"""
from __future__ import annotations

import math
from typing import Callable, Literal

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = [
    "corr",
    "diebold_mariano",
    "expanding_mean_forecast",
    "forecast_report",
    "hit_rates",
    "per_fold",
    "per_period_sharpe",
    "sharpe_ratio",
    "sharpe_estimator_variance",
    "probabilistic_sharpe_ratio",
    "expected_max_sharpe",
    "deflated_sharpe_ratio",
    "sharpe_difference",
    "breakeven_cost",
]

EULER_GAMMA = 0.5772156649015329
NAN = float("nan")
Alternative = Literal["less", "greater", "two-sided"]


# --------------------------------------------------------------------------- forecast skill


def diebold_mariano(
    loss_model: np.ndarray | pd.Series,
    loss_benchmark: np.ndarray | pd.Series,
    h: int = 1,
    alternative: Alternative = "less",
) -> tuple[float, float]:
    """Diebold-Mariano test with the Harvey-Leybourne-Newbold small-sample correction.

    ``loss_model`` and ``loss_benchmark`` are per-period losses (e.g. squared errors) of equal length;
    pairs where either is non-finite are dropped. ``h`` is the forecast horizon: autocovariances of the
    loss differential up to lag ``h - 1`` enter the long-run variance (rectangular window).

    ``alternative="less"`` (default) tests H1: the model's expected loss is lower than the benchmark's,
    so a small p-value is evidence of skill; ``"greater"`` the reverse; ``"two-sided"`` any difference.

    Returns ``(stat, pvalue)`` with ``stat`` the HLN-corrected statistic (negative = model better).
    Degenerate input (fewer than 3 pairs, ``h >= n``, a constant differential such as identical losses,
    whose variance is zero up to rounding, or a non-positive long-run variance, which the rectangular
    window allows when ``h > 1``) returns ``(nan, nan)`` rather than raising.
    """
    if alternative not in ("less", "greater", "two-sided"):
        raise ValueError(f"alternative must be 'less', 'greater' or 'two-sided', not {alternative!r}")
    if h < 1:
        raise ValueError(f"h must be >= 1, not {h}")
    a = np.asarray(loss_model, dtype=float).ravel()
    b = np.asarray(loss_benchmark, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"loss series differ in length: {a.size} vs {b.size}")
    d = a - b
    d = d[np.isfinite(d)]
    n = d.size
    if n < 3 or h >= n:
        return NAN, NAN
    dbar = d.mean()
    e = d - dbar
    var = float(e @ e) / n
    for k in range(1, h):
        var += 2.0 * float(e[k:] @ e[:-k]) / n
    scale = float(np.abs(d).max())
    if not np.isfinite(var) or scale == 0 or var <= (1e-10 * scale) ** 2:  # ~constant d: undefined
        return NAN, NAN
    dm = dbar / math.sqrt(var / n)
    correction = (n + 1 - 2 * h + h * (h - 1) / n) / n
    if correction <= 0:
        return NAN, NAN
    stat = float(dm * math.sqrt(correction))
    df = n - 1
    if alternative == "less":
        p = _st.t.cdf(stat, df)
    elif alternative == "greater":
        p = _st.t.sf(stat, df)
    else:
        p = 2.0 * _st.t.sf(abs(stat), df)
    return stat, float(min(p, 1.0))


def expanding_mean_forecast(target: pd.Series, reach: int = 2) -> pd.Series:
    """Historical-mean forecast of ``target`` using only targets known by the close of each row.

    The target of row ``t`` (open(t+1) -> open(t+2) return) is only known at row ``t + reach``, so the
    forecast at row ``t`` is the mean of the non-NaN targets of rows ``<= t - reach`` (by position).
    NaN where no target is known yet. Same index as ``target``.
    """
    if reach < 0:
        raise ValueError(f"reach must be >= 0, not {reach}")
    t = pd.Series(target, dtype=float)
    return t.expanding(min_periods=1).mean().shift(reach).rename("history_mean")


def corr(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two equal-length arrays (nan for fewer than 3 points or no spread)."""
    if x.size < 3:
        return NAN
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float(xc @ xc) * float(yc @ yc))
    return float(xc @ yc) / den if den > 0 else NAN


def hit_rates(prediction, target) -> dict[str, float]:
    """``hit_rate`` and its base rate ``up_share`` (both nan when no day counts).

    Days where either value is NaN or zero are skipped. ``up_share`` is the share of the counted days
    whose target is positive: the hit rate a forecast that is always positive would get on those days.
    """
    p, y = np.asarray(prediction, dtype=float), np.asarray(target, dtype=float)
    counted = np.isfinite(p) & np.isfinite(y) & (p != 0) & (y != 0)
    if not counted.any():
        return {"hit_rate": NAN, "up_share": NAN}
    p, y = p[counted], y[counted]
    return {"hit_rate": float(np.mean(np.sign(p) == np.sign(y))), "up_share": float(np.mean(y > 0))}


def forecast_report(
    prediction: pd.Series,
    target: pd.Series,
    history_mean: pd.Series | None = None,
    h: int = 1,
) -> dict[str, float]:
    """Skill statistics of ``prediction`` against ``target`` (Series aligned on a date index).

    Rows where either is NaN are dropped. Keys: ``n``, ``hit_rate`` (nan when every row has a zero),
    ``up_share`` (share of the days counted by the hit rate that went up: see :func:`hit_rates`), ``ic``,
    ``ic_spearman``, ``mse``, ``mse_zero`` (MSE of the zero forecast), ``mse_ratio``,
    ``oos_r2`` (vs ``history_mean``, e.g. :func:`expanding_mean_forecast`, on the rows where it is
    known; vs zero when ``history_mean`` is None), ``dm_stat`` and ``dm_pvalue`` (HLN-corrected
    Diebold-Mariano on squared errors vs the zero forecast, one-sided "less": small p = skill).
    """
    frame = pd.concat(
        [pd.Series(prediction, dtype=float).rename("p"), pd.Series(target, dtype=float).rename("y")],
        axis=1,
        join="inner",
    ).dropna()
    p, y = frame["p"].to_numpy(), frame["y"].to_numpy()
    n = int(p.size)
    out: dict[str, float] = {"n": n}
    out.update(hit_rates(p, y))
    out["ic"] = corr(p, y)
    out["ic_spearman"] = (
        corr(frame["p"].rank().to_numpy(), frame["y"].rank().to_numpy()) if n else NAN
    )
    err2, zero2 = (p - y) ** 2, y**2
    out["mse"] = float(err2.mean()) if n else NAN
    out["mse_zero"] = float(zero2.mean()) if n else NAN
    out["mse_ratio"] = out["mse"] / out["mse_zero"] if n and out["mse_zero"] > 0 else NAN
    if history_mean is None:
        bench = np.zeros(n)
    else:
        bench = pd.Series(history_mean, dtype=float).reindex(frame.index).to_numpy()
    known = np.isfinite(bench)
    sse_bench = float(((y[known] - bench[known]) ** 2).sum())
    out["oos_r2"] = 1.0 - float(err2[known].sum()) / sse_bench if sse_bench > 0 else NAN
    out["dm_stat"], out["dm_pvalue"] = diebold_mariano(err2, zero2, h=h, alternative="less")
    return out


PER_FOLD_COLUMNS = ["n", "hit_rate", "up_share", "ic", "mse_ratio", "oos_r2", "dm_pvalue"]


def per_fold(
    prediction: pd.Series,
    target: pd.Series,
    fold: pd.Series,
    history_mean: pd.Series | None = None,
) -> pd.DataFrame:
    """:func:`forecast_report` per walk-forward fold: one row per fold id (sorted), columns
    ``n, hit_rate, up_share, ic, mse_ratio, oos_r2, dm_pvalue``. ``fold`` maps each date to its fold id."""
    fold = pd.Series(fold)
    rows = {}
    for fid, idx in fold.dropna().groupby(fold.dropna(), sort=True).groups.items():
        hm = None if history_mean is None else pd.Series(history_mean).reindex(idx)
        rep = forecast_report(pd.Series(prediction).reindex(idx), pd.Series(target).reindex(idx), hm)
        rows[fid] = [rep[c] for c in PER_FOLD_COLUMNS]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=PER_FOLD_COLUMNS)
    out.index.name = "fold"
    return out.astype({"n": int}) if len(out) else out


# --------------------------------------------------------------------------- Sharpe family


def _clean(returns: np.ndarray | pd.Series) -> np.ndarray:
    r = np.asarray(returns, dtype=float).ravel()
    return r[np.isfinite(r)]


def per_period_sharpe(returns: np.ndarray | pd.Series) -> float:
    """Non-annualised Sharpe ratio ``mean / std(ddof=1)`` of per-period returns (rf = 0); nan if
    fewer than 2 finite returns or zero volatility."""
    r = _clean(returns)
    if r.size < 2:
        return NAN
    sd = float(r.std(ddof=1))
    return float(r.mean()) / sd if sd > 0 else NAN


def sharpe_ratio(returns: np.ndarray | pd.Series, periods: int = 252) -> float:
    """Annualised Sharpe ratio: ``per_period_sharpe(returns) * sqrt(periods)`` (rf = 0)."""
    return per_period_sharpe(returns) * math.sqrt(periods)


def _moments(r: np.ndarray) -> tuple[float, float]:
    """Sample skewness ``m3 / m2^1.5`` and raw kurtosis ``m4 / m2^2`` (moment estimators)."""
    c = r - r.mean()
    m2 = float(np.mean(c**2))
    return float(np.mean(c**3)) / m2**1.5, float(np.mean(c**4)) / m2**2


def _psr_parts(r: np.ndarray) -> tuple[float, float, float] | None:
    """(SR, skew, raw kurtosis), or None when undefined."""
    if r.size < 3:
        return None
    sr = per_period_sharpe(r)
    if not np.isfinite(sr):
        return None
    skew, kurt = _moments(r)
    return sr, skew, kurt


def sharpe_estimator_variance(returns: np.ndarray | pd.Series) -> float:
    """Variance of the per-period Sharpe estimator, ``(1 - g3 SR + (g4 - 1)/4 SR^2) / (n - 1)``
    (Mertens 2002 / Bailey & Lopez de Prado 2012, raw kurtosis ``g4``); nan when undefined."""
    r = _clean(returns)
    parts = _psr_parts(r)
    if parts is None:
        return NAN
    sr, skew, kurt = parts
    return (1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2) / (r.size - 1)


def probabilistic_sharpe_ratio(returns: np.ndarray | pd.Series, sr_benchmark: float = 0.0) -> float:
    """Probability that the true per-period Sharpe exceeds ``sr_benchmark`` (also per-period).

    ``PSR = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2))`` with raw kurtosis ``g4``
    (unlike quantstats' ``probabilistic_ratio``). Exactly 0.5 when ``sr_benchmark`` equals the sample
    SR. nan for fewer than 3 returns, zero volatility or a non-positive denominator.
    """
    r = _clean(returns)
    parts = _psr_parts(r)
    if parts is None or not np.isfinite(sr_benchmark):
        return NAN
    sr, skew, kurt = parts
    den = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    if not den > 0:
        return NAN
    z = (sr - sr_benchmark) * math.sqrt(r.size - 1) / math.sqrt(den)
    return float(_st.norm.cdf(z))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """``SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``, the expected
    maximum per-period Sharpe of ``N`` skill-less trials; 0 when ``N = 1``."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, not {n_trials}")
    if n_trials == 1:
        return 0.0
    if not (np.isfinite(sr_variance) and sr_variance >= 0):
        return NAN
    q1 = _st.norm.ppf(1.0 - 1.0 / n_trials)
    q2 = _st.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(sr_variance) * ((1.0 - EULER_GAMMA) * q1 + EULER_GAMMA * q2))


def deflated_sharpe_ratio(
    returns: np.ndarray | pd.Series, n_trials: int, sr_variance: float | None = None
) -> float:
    """PSR against the Sharpe expected from the best of ``n_trials`` skill-less trials.

    ``sr_variance`` is the variance of the per-period Sharpe ratios across the trials. When it is not
    known (None; e.g. fewer than 2 trials were recorded) the variance of the Sharpe estimator itself,
    :func:`sharpe_estimator_variance`, is used instead, an approximation of the cross-trial dispersion
    of skill-less strategies. With ``n_trials = 1``, ``SR0 = 0`` and DSR equals PSR vs 0.
    """
    if sr_variance is None:
        sr_variance = sharpe_estimator_variance(returns) if n_trials > 1 else 0.0
    sr0 = expected_max_sharpe(n_trials, sr_variance)
    return probabilistic_sharpe_ratio(returns, sr_benchmark=sr0)


SHARPE_DIFFERENCE_METHOD = ("Ledoit-Wolf (2008) HAC test of the Sharpe-ratio difference (quadratic spectral "
                            "kernel, automatic bandwidth); one-sided, H1: strategy Sharpe above the benchmark's")


def sharpe_difference(returns_a: np.ndarray | pd.Series, returns_b: np.ndarray | pd.Series,
                      periods: int = 1) -> dict[str, float | str | None]:
    """Is the Sharpe ratio of ``returns_a`` above that of ``returns_b`` (the same days), beyond what chance gives?

    Returns ``diff`` (annualised with ``periods``: the headline Sharpes' difference), ``se`` (its HAC standard
    error, annualised alike), ``pvalue`` (one-sided, H1: a above b) and ``method``. Pairs where either return is
    not finite are dropped. ``diff``, ``se`` and ``pvalue`` are None when a Sharpe is undefined (fewer than 3
    days, or a series that never moves, such as a strategy that never traded) or the two series are identical.
    """
    from arch.covariance.kernel import QuadraticSpectral

    a = np.asarray(returns_a, dtype=float).ravel()
    b = np.asarray(returns_b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"return series differ in length: {a.size} vs {b.size}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    out: dict[str, float | str | None] = {"diff": None, "se": None, "pvalue": None, "method": SHARPE_DIFFERENCE_METHOD}
    n = a.size
    sr_a, sr_b = per_period_sharpe(a), per_period_sharpe(b)
    if n < 3 or not (np.isfinite(sr_a) and np.isfinite(sr_b)):
        return out
    scale = math.sqrt(periods)
    out["diff"] = (sr_a - sr_b) * scale
    mu_a, mu_b, g_a, g_b = a.mean(), b.mean(), float(np.mean(a * a)), float(np.mean(b * b))
    var_a, var_b = g_a - mu_a**2, g_b - mu_b**2
    grad = np.array([g_a / var_a**1.5, -g_b / var_b**1.5, -0.5 * mu_a / var_a**1.5, 0.5 * mu_b / var_b**1.5])
    moments = np.column_stack([a - mu_a, b - mu_b, a * a - g_a, b * b - g_b])
    if np.array_equal(a, b):
        return out
    psi = QuadraticSpectral(moments, center=False).cov.long_run
    variance = float(grad @ psi @ grad) / n
    if not (np.isfinite(variance) and variance > 0):
        return out
    se = math.sqrt(variance)
    out["se"] = se * scale
    out["pvalue"] = float(_st.norm.sf((sr_a - sr_b) / se))
    return out


# --------------------------------------------------------------------------- costs


def breakeven_cost(
    edge_at_cost: Callable[[float], float],
    lo: float = 0.0,
    hi: float = 200.0,
    tol: float = 0.05,
) -> float | None:
    """Commission (bps) at which ``edge_at_cost`` (e.g. strategy CAGR minus buy-and-hold CAGR as a
    function of the commission) falls to zero, by bisection; the edge is assumed to fall with cost.

    Returns 0.0 when there is no positive edge even at ``lo`` (nan edge counts as none), ``None``
    when the edge is still positive at ``hi`` (break-even above the range searched), otherwise the
    crossing to within ``tol`` bps.
    """
    if not hi > lo or not tol > 0:
        raise ValueError(f"need lo < hi and tol > 0 (lo={lo}, hi={hi}, tol={tol})")

    def positive(c: float) -> bool:
        e = edge_at_cost(c)
        return e is not None and np.isfinite(e) and e > 0

    if not positive(lo):
        return 0.0
    if positive(hi):
        return None
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if positive(mid):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
