"""metrics.json: one builder for one ticker and for universes.

Both hold the strategy's and the benchmark's performance, the forecast's skill overall and per fold, the
baselines traded by the same strategy, the backtest's days, the config, the data and the environment. A
universe adds its ``universe`` block (tickers used, repaired, excluded, traded) and measures skill across
tickers each day (:mod:`lstmtrade.evaluate.xsection`); one ticker measures it over time
(:mod:`lstmtrade.evaluate.stats`).
"""
from __future__ import annotations

import platform
from datetime import datetime
from importlib import metadata
from typing import Any

import pandas as pd

from .. import __version__
from ..backtesting.engine import BacktestResult
from ..config import Config
from ..data.load import bar_spec
from ..features import build_target
from ..forecast.predictions import Predictions
from ..formatting import stamper
from .performance import forecast_metrics, performance
from .versus import vs_best_baseline
from .xsection import universe_report


def strategy_metrics(result: BacktestResult, periods: int) -> dict[str, Any]:
    """Performance of a traded result, with its trades, average exposure and commission paid."""
    out = performance(result.returns, periods)
    out.update(trades=len(result.trades), exposure=float(result.weights.abs().mean()),
               commission_paid=float(result.trades["commission"].sum()) if len(result.trades) else 0.0)
    return out


def universe_skill(predictions: Predictions) -> tuple[dict[str, Any], pd.DataFrame]:
    """Cross-sectional skill overall, and per fold."""
    overall = universe_report(predictions.wide("prediction"), predictions.wide("target"))
    rows = {}
    for k, part in predictions.frame.groupby("fold"):
        sub = Predictions(part, predictions.model)
        report = universe_report(sub.wide("prediction"), sub.wide("target"))
        rows[k] = {key: report.get(key) for key in ("n_days", "n_tickers", "hit_rate", "up_share", "ic", "rank_ic",
                                                    "rank_ic_tstat")}
    per_fold = pd.DataFrame.from_dict(rows, orient="index")
    per_fold.index.name = "fold"
    return overall, per_fold


def build_metrics(config: Config, prices: Any, predictions: Predictions, strat: BacktestResult,
                  bench: BacktestResult, baselines: dict, timings: dict,
                  extra: dict | None = None, seconds: dict | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    """metrics.json (without ``seeds``, ``significance`` and ``verdict``, which the run adds) and the per-fold
    skill table. ``baselines`` maps a name to its (Predictions, BacktestResult), ``seconds`` to the wall time
    its walk-forward and backtest took. ``forecast.vs_best_baseline`` compares the model with the best of
    them (:mod:`lstmtrade.evaluate.versus`)."""
    universe = predictions.is_universe
    frame = predictions.frame
    if universe:
        skill = universe_skill
        calendar = prices.calendar
    else:
        target_full = build_target(prices.frame)
        skill = lambda preds: forecast_metrics(preds.frame, target_full)  # noqa: E731
        calendar = prices.frame.index
    forecast, per_fold = skill(predictions)
    bars = bar_spec(prices, config)
    periods = bars.periods_per_year
    show = stamper(calendar)
    metrics: dict[str, Any] = {
        "strategy": strategy_metrics(strat, periods),
        "benchmark": performance(bench.returns, periods),
        "forecast": forecast,
        "baselines": {},
    }
    if universe:
        report = prices.report
        reasons = lambda status: {r.ticker: r.issue for r in report[report["status"] == status].itertuples()}  # noqa: E731
        metrics["universe"] = {
            "tickers": len(report), "used": sorted(report.loc[report["status"] == "used", "ticker"]),
            "repaired": reasons("repaired"), "excluded": reasons("excluded"), "traded": len(predictions.tickers),
            "survivorship": prices.survivorship,
            "benchmark": config.benchmark or "equal-weight buy-and-hold of the tickers used"}
        data = {"source": prices.source, "name": prices.name,
                "rows": int(sum(len(p) for p in prices.prices.values())), "dates": len(calendar)}
    else:
        data = {"source": prices.source, "name": prices.name, "rows": len(prices)}
    metrics.update({
        "backtest": {"strategy": strat.strategy, "params": strat.params, "start": show(frame.index[0]),
                     "end": show(frame.index[-1]), "days": int(frame.index.nunique()) if universe else len(frame),
                     "folds": int(frame["fold"].nunique()), "rejected_orders": len(strat.rejected)},
        "config": config.to_dict(),
        "data": {**data, "start": show(calendar[0]), "end": show(calendar[-1]), "sha256": prices.sha256,
                 **bars.to_dict()},
        "folds": predictions.folds,
        "forecast_per_fold": per_fold.reset_index().to_dict(orient="records"),
        "run": {**(extra or {}), **environment(config)},
        "timings": {k: round(v, 3) for k, v in timings.items()},
    })
    for name, (preds, result) in baselines.items():
        metrics["baselines"][name] = {**strategy_metrics(result, periods), "forecast": skill(preds)[0]}
        if seconds and name in seconds:
            metrics["baselines"][name]["seconds"] = round(seconds[name], 3)
    if baselines:
        forecast["vs_best_baseline"] = vs_best_baseline(
            predictions, {name: preds for name, (preds, _) in baselines.items()},
            {name: block["forecast"] for name, block in metrics["baselines"].items()})
    return metrics, per_fold


def environment(config: Config) -> dict[str, Any]:
    """What a rerun needs to reproduce the numbers: versions, seed, threads."""
    versions = {"lstmtrade": __version__, "python": platform.python_version()}
    for package in ("torch", "backtrader", "pandas", "numpy", "quantstats"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # pragma: no cover
            versions[package] = None
    from ..forecast.cache import default_torch_threads

    threads = default_torch_threads()  # torch may not be loaded when every fold came from the cache
    return {"created": datetime.now().isoformat(timespec="seconds"), "seed": config.seed,
            "torch_threads": threads, "platform": platform.platform(), "versions": versions}
