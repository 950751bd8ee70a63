"""Seed ensembles, judged: what each member would have earned alone, the spread across seeds, and whether the
ensemble knows when it is right (hit rate and mean return by quintile of confidence |forecast| / uncertainty)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..backtesting.engine import BacktestResult
from ..forecast.predictions import Predictions
from ..formatting import num
from .performance import performance
from .stats import forecast_report
from .xsection import universe_report

MEMBER_FIGURES = ("sharpe", "total_return", "max_drawdown", "hit_rate", "ic")  # summarised across members


def _finite(values: Sequence[Any]) -> np.ndarray:
    out = np.array([v for v in values if v is not None], dtype="float64")
    return out[np.isfinite(out)]


def summarise(values: Sequence[Any]) -> dict[str, float | None]:
    """mean, std (ddof 1; None for fewer than two), min and max of the finite values."""
    v = _finite(values)
    if not len(v):
        return {"mean": None, "std": None, "min": None, "max": None}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None,
            "min": float(v.min()), "max": float(v.max())}


def spread(members: list[dict[str, Any]], ensemble: dict[str, Any]) -> dict[str, Any]:
    """metrics.json's ``seeds``: ``n``, ``members`` (seed and figures each), each figure's mean, std, min
    and max across members (``seeds["sharpe"]["std"]``), and the ensemble's own figures."""
    out: dict[str, Any] = {"n": len(members), "members": members}
    for key in MEMBER_FIGURES:
        out[key] = summarise([m.get(key) for m in members])
    out["ensemble"] = {key: ensemble.get(key) for key in MEMBER_FIGURES}
    return out


def spread_line(seeds: dict[str, Any]) -> str | None:
    """'Sharpe over 5 seeds: 0.21 ± 0.18, from -0.05 to 0.44; ensemble 0.27' (None for one seed)."""
    if not seeds or seeds.get("n", 1) < 2:
        return None
    s = seeds["sharpe"]
    return (f"Sharpe over {seeds['n']} seeds: {num(s['mean'])} ± {num(s['std'])}, from {num(s['min'])} "
            f"to {num(s['max'])}; ensemble {num(seeds['ensemble']['sharpe'])}")


def confidence_quintiles(prediction: Any, uncertainty: Any, target: Any, bins: int = 5) -> pd.DataFrame:
    """Hit rate and mean realised return by quantile of confidence ``|prediction| / uncertainty``.

    Rows ``1`` (least confident) to ``bins`` (most), equal counts (ties broken by position). Counted as
    the hit rate is everywhere: rows where any value is NaN, the prediction or the target is zero, or the
    uncertainty is not positive are left out. Columns: ``n``, ``confidence_low``/``confidence_high`` (the
    bin's range), ``hit_rate`` and ``hit_rate_se`` (binomial), ``mean_return`` (mean of sign(prediction) x
    target: what a unit position in the forecast's direction earned) and ``mean_return_se``. Standard
    errors treat rows as independent (for a universe, same-day rows are not quite).
    """
    p, u, y = (np.asarray(a, dtype="float64") for a in (prediction, uncertainty, target))
    ok = np.isfinite(p) & np.isfinite(u) & np.isfinite(y) & (u > 0) & (p != 0) & (y != 0)
    p, u, y = p[ok], u[ok], y[ok]
    columns = ["n", "confidence_low", "confidence_high", "hit_rate", "hit_rate_se", "mean_return", "mean_return_se"]
    if len(p) < bins:
        return pd.DataFrame(columns=columns, index=pd.RangeIndex(1, 1, name="quintile"), dtype="float64")
    confidence = np.abs(p) / u
    order = np.argsort(confidence, kind="stable")
    rows = {}
    for k, part in enumerate(np.array_split(order, bins), start=1):
        hit = np.sign(p[part]) == np.sign(y[part])
        earned = np.sign(p[part]) * y[part]
        n = len(part)
        rate = float(hit.mean())
        rows[k] = {"n": n, "confidence_low": float(confidence[part].min()),
                   "confidence_high": float(confidence[part].max()), "hit_rate": rate,
                   "hit_rate_se": math.sqrt(rate * (1 - rate) / n), "mean_return": float(earned.mean()),
                   "mean_return_se": float(earned.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table.index.name = "quintile"
    return table


def confidence_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Most minus least confident quintile: hit rate and mean return differences, their z-scores, the table."""
    if len(table) < 2:
        return {"quintiles": [], "hit_rate_spread": None, "hit_rate_spread_z": None,
                "return_spread": None, "return_spread_z": None}
    top, bottom = table.iloc[-1], table.iloc[0]

    def diff(col: str) -> tuple[float, float | None]:
        d = float(top[col] - bottom[col])
        se = math.hypot(top[f"{col}_se"], bottom[f"{col}_se"])
        return d, (d / se if se > 0 and math.isfinite(se) else None)

    hit, hit_z = diff("hit_rate")
    ret, ret_z = diff("mean_return")
    return {"quintiles": table.reset_index().to_dict(orient="records"), "hit_rate_spread": hit,
            "hit_rate_spread_z": hit_z, "return_spread": ret, "return_spread_z": ret_z}


def seed_metrics(predictions: Predictions, members: list[BacktestResult], metrics: dict) -> dict[str, Any]:
    """metrics.json's ``seeds``: each member traded alone (seed, sharpe, total_return, max_drawdown,
    hit_rate, ic), each figure's mean, std, min and max across members, the ensemble's own figures, and
    for an ensemble ``confidence``: hit rate and mean return by quintile of |forecast| / uncertainty."""
    periods = metrics["data"]["periods_per_year"]  # each member annualised as the ensemble is

    def figures(result: BacktestResult | None, skill: dict) -> dict[str, Any]:
        perf = metrics["strategy"] if result is None else performance(result.returns, periods)
        return {"sharpe": perf["sharpe"], "total_return": perf["total_return"],
                "max_drawdown": perf["max_drawdown"], "hit_rate": skill.get("hit_rate"), "ic": skill.get("ic")}

    ensemble = figures(None, metrics["forecast"])
    if predictions.members is None:
        seed = predictions.seeds[0] if predictions.seeds else metrics["config"]["seed"]
        return spread([{"member": 0, "seed": seed, **ensemble}], ensemble)
    rows = []
    for m, result in enumerate(members):
        rows.append({"member": m, "seed": predictions.seeds[m] if predictions.seeds else m,
                     **figures(result, member_skill(predictions.member(m)))})
    out = spread(rows, ensemble)
    frame = predictions.frame
    out["confidence"] = confidence_summary(confidence_quintiles(frame["prediction"], frame["uncertainty"],
                                                                frame["target"]))
    return out


def member_skill(predictions: Predictions) -> dict[str, Any]:
    """Hit rate and IC of one member's forecasts, defined as for the run's own (``forecast`` in metrics)."""
    if predictions.is_universe:
        return universe_report(predictions.wide("prediction"), predictions.wide("target"))
    frame = predictions.frame
    return forecast_report(frame["prediction"], frame["target"])


