"""The model against its best baseline: did it beat the best traditional forecaster on the same days?

lstmtrade started from the claim that LSTMs beat traditional models; this is the figure that tests it
(``forecast.vs_best_baseline`` in metrics.json, and a clause of the verdict).

- **Universe**: the best baseline is the one with the highest mean daily Rank IC. On the (date, ticker) cells
  that both forecast (and whose return is known) each gets its daily Rank IC; the figure is the mean of the
  daily differences, model minus baseline, with its Newey-West t (the same HAC estimator as the Rank IC's t,
  :func:`lstmtrade.evaluate.xsection.newey_west_tstat`). Positive: the model ranks better.
- **One ticker**: the best baseline is the one with the lowest MSE. On the days both forecast, the daily
  loss difference is ``(model - y)^2 - (baseline - y)^2``; the figure is its mean with its Newey-West t
  (a Diebold-Mariano statistic without the small-sample correction). Negative: the model's errors are smaller.

p-values are two-sided, from a Student t with n - 1 degrees of freedom. Keys: ``name``, ``by`` (``rank_ic`` or
``mse``), ``model`` and ``baseline`` (that figure for each on the common cells), ``diff``, ``se``, ``tstat``,
``pvalue``, ``n_days``; None when no baseline has the figure (none ran, or none ranks: the zero forecast).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..forecast.predictions import Predictions
from .verdict import finite
from .xsection import daily_ic, json_number, newey_west_tstat, t_pvalue


def best_baseline(reports: dict[str, dict], by: str) -> str | None:
    """The baseline with the best ``by`` figure (highest rank_ic, lowest mse); None if none has one."""
    scored = {name: r.get(by) for name, r in reports.items() if finite(r.get(by))}
    if not scored:
        return None
    pick = max if by == "rank_ic" else min
    return pick(scored, key=lambda name: scored[name])


def _tested(daily: pd.Series) -> dict[str, Any]:
    mean, se, t = newey_west_tstat(daily)
    n = int(np.isfinite(np.asarray(daily, dtype=float)).sum())
    return {"diff": json_number(mean), "se": json_number(se), "tstat": json_number(t),
            "pvalue": json_number(t_pvalue(t, n)), "n_days": n}


def _universe(model: Predictions, base: Predictions) -> dict[str, Any]:
    pred_m, real = model.wide("prediction"), model.wide("target")
    pred_b = base.wide("prediction").reindex(index=pred_m.index, columns=pred_m.columns)
    common = pred_m.notna() & pred_b.notna() & real.notna()
    real = real.where(common)
    ic_m = daily_ic(pred_m.where(common), real, "spearman")
    ic_b = daily_ic(pred_b.where(common), real, "spearman")
    ic_m, ic_b = ic_m.align(ic_b, join="inner")
    return {"model": json_number(ic_m.mean()), "baseline": json_number(ic_b.mean()), **_tested(ic_m - ic_b)}


def _one_ticker(model: Predictions, base: Predictions) -> dict[str, Any]:
    frame = pd.concat([model.frame["prediction"].rename("m"), base.frame["prediction"].rename("b"),
                       model.frame["target"].rename("y")], axis=1, join="inner").dropna()
    loss_m, loss_b = (frame["m"] - frame["y"]) ** 2, (frame["b"] - frame["y"]) ** 2
    return {"model": json_number(loss_m.mean()), "baseline": json_number(loss_b.mean()), **_tested(loss_m - loss_b)}


def vs_best_baseline(predictions: Predictions, baselines: dict[str, Predictions],
                     reports: dict[str, dict]) -> dict[str, Any] | None:
    """The comparison described in the module docstring. ``reports`` holds each baseline's ``forecast`` block
    (the figure the best one is picked by); ``baselines`` their predictions."""
    by = "rank_ic" if predictions.is_universe else "mse"
    name = best_baseline(reports, by)
    if name is None:
        return None
    compare = _universe if predictions.is_universe else _one_ticker
    return {"name": name, "by": by, **compare(predictions, baselines[name])}
