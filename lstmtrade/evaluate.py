"""Performance and forecast-skill statistics, computed here (not by QuantStats) so they are cheap,
documented and testable. All functions take plain pandas/numpy inputs and return floats or dicts."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

PERIODS = 252  # trading days per year


def performance(returns: pd.Series) -> dict[str, float]:
    """total_return, cagr, sharpe (annualised, rf = 0), volatility, max_drawdown (negative), n_days."""
    r = pd.Series(returns, dtype="float64").fillna(0.0)
    equity = (1.0 + r).cumprod()
    n = len(r)
    total = float(equity.iloc[-1] - 1.0) if n else 0.0
    years = n / PERIODS
    cagr = float((1.0 + total) ** (1.0 / years) - 1.0) if n and total > -1 else -1.0
    std = float(r.std(ddof=1)) if n > 1 else 0.0
    sharpe = float(r.mean() / std * math.sqrt(PERIODS)) if std > 0 else 0.0
    drawdown = float((equity / equity.cummax() - 1.0).min()) if n else 0.0
    return {"total_return": total, "cagr": cagr, "sharpe": sharpe,
            "volatility": std * math.sqrt(PERIODS), "max_drawdown": drawdown, "n_days": n}


def hit_rate(prediction: pd.Series, target: pd.Series) -> float:
    """Share of days where the forecast's sign matches the realised target's (zeros on either side skipped)."""
    p, t = _aligned(prediction, target)
    mask = (p != 0) & (t != 0)
    return float((np.sign(p[mask]) == np.sign(t[mask])).mean()) if mask.any() else float("nan")


def forecast_skill(prediction: pd.Series, target: pd.Series) -> dict[str, float]:
    """n, hit_rate, ic (Pearson), mse, mse_zero over the days whose target is known."""
    p, t = _aligned(prediction, target)
    n = len(p)
    constant = n < 2 or np.std(p) == 0 or np.std(t) == 0
    ic = float("nan") if constant else float(np.corrcoef(p, t)[0, 1])
    return {"n": n, "hit_rate": hit_rate(prediction, target), "ic": ic,
            "mse": float(np.mean((p - t) ** 2)) if n else float("nan"),
            "mse_zero": float(np.mean(t ** 2)) if n else float("nan")}


def _aligned(prediction: pd.Series, target: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.concat([pd.Series(prediction, name="p"), pd.Series(target, name="t")], axis=1).dropna()
    return frame["p"].to_numpy(dtype="float64"), frame["t"].to_numpy(dtype="float64")
