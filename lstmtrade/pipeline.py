"""The one composition both the CLI and notebooks call: data -> forecast -> backtest -> evaluate -> report.

>>> import lstmtrade
>>> result = lstmtrade.run(epochs=5, strategy="LongShort")       # doctest: +SKIP
>>> result.metrics["strategy"]["sharpe"], result.tearsheet         # doctest: +SKIP

``rebacktest`` re-runs only the backtest and report on a finished run's saved predictions.
"""
from __future__ import annotations

import html
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import __version__
from .backtesting import BacktestResult, backtest, buy_and_hold, check_params, strategy_params
from .bars import BarSpec
from .cache import FoldCache
from .config import Config, make_config, to_toml
from .errors import ConfigError, DataError, Interrupted, StrategyError
from .data import PriceData, load_prices
from .evaluate import breakeven_bps, forecast_metrics, performance, significance
from .features import build_target, warmup
from .forecast import Predictions, walk_forward_predict
from .ledger import record as record_trial
from .ledger import trial_key
from .loader import convert_param, load_strategy
from .splits import WalkForward
from .stats import per_period_sharpe
from .report import atomic_write, new_run_dir, write_comparison, write_csv, write_json, write_tearsheet, write_text
from .timestamps import stamper

Progress = Callable[[dict], None]


@dataclass
class RunResult:
    """Everything a run produced; ``folder`` is None when nothing was written."""

    config: Config
    prices: PriceData
    predictions: Predictions
    strategy: BacktestResult
    benchmark: BacktestResult
    metrics: dict[str, Any]
    folder: Path | None = None
    baselines: dict = field(default_factory=dict)  # name -> (Predictions, BacktestResult)
    per_fold: pd.DataFrame = field(default_factory=pd.DataFrame)  # forecast skill per fold
    members: list = field(default_factory=list)  # seed ensemble: each member traded alone (BacktestResult)

    @property
    def tearsheet(self) -> Path | None:
        return self.folder / "tearsheet.html" if self.folder else None


def run(config: Config | None = None, *, strategy: str | type | None = None, prices: PriceData | None = None,
        out: str | Path = "reports", write: bool = True, progress: Progress | None = None,
        resume: str | Path | None = None, **settings: Any) -> RunResult:
    """Walk-forward forecast, backtest against buy-and-hold, and (if ``write``) a run folder.

    ``settings`` are :class:`~lstmtrade.config.Config` fields (``lookback=30, epochs=10, ...``) applied on
    top of ``config``; ``strategy`` is a class or anything ``--strategy`` accepts. ``resume`` continues an
    unfinished run folder with its own saved config (finished folds come from the fold cache).
    """
    if resume is not None:
        config, strategy, out = _resume_settings(Path(resume))
    started = time.perf_counter()
    config, cls, params, prices, timings = _prepare(config, settings, strategy, prices)
    config, device_why = resolve_auto_device(config, prices)
    preflight(prices, config)
    if resume is not None:
        folder = Path(resume)
    else:
        folder = _new_run(out, f"{prices.name}-{config.model}", config, strategy, params, cls) if write else None
    _data_report(prices, config, folder)
    emit = progress or (lambda event: None)
    emit({"event": "data", "prices": prices, "config": config, "strategy": cls.__name__, "params": params,
          "device_why": device_why, "bars": bar_spec(prices, config)})
    cache = FoldCache(Path(out) / ".cache" / "folds") if (config.cache and folder is not None) else None
    t0 = time.perf_counter()
    try:
        predictions = walk_forward_predict(prices, config, progress, cache=cache,
                                           fold_dir=folder / "folds" if folder is not None else None)
    except KeyboardInterrupt:
        raise Interrupted(folder if cache is not None else None) from None
    timings["forecast"] = time.perf_counter() - t0
    timings["forecast_train"] = predictions.timings.get("train", 0.0)
    timings["forecast_other"] = timings["forecast"] - timings["forecast_train"]  # features, cache, fold files
    if cache is not None and cache.hits:
        emit({"event": "cache", "hits": cache.hits, "folds": len(predictions.folds)})
    return _finish(config, prices, predictions, cls, params, folder, emit, timings, started, out=out)


def rebacktest(predictions: str | Path | Predictions, config: Config | None = None, *,
               strategy: str | type | None = None, prices: PriceData | None = None, out: str | Path = "reports",
               write: bool = True, progress: Progress | None = None, **settings: Any) -> RunResult:
    """Backtest and report on saved predictions (a run folder or predictions.csv) without retraining.

    Settings not given default to that run's ``config.toml`` (data source included), except its strategy.
    """
    started = time.perf_counter()
    source_dir = None
    if not isinstance(predictions, Predictions):
        path = Path(predictions)
        source_dir = path if path.is_dir() else path.parent
        predictions = Predictions.read_csv(path)
    if config is None and source_dir is not None and (source_dir / "config.toml").exists():
        saved = _saved_settings(source_dir)
        saved.pop("params", None)
        saved.pop("strategy", None)
        config = make_config(**saved)
    config, cls, params, prices, timings = _prepare(config, settings, strategy, prices)
    timings.update(forecast=0.0, forecast_train=0.0, forecast_other=0.0)
    folder = (_new_run(out, f"{prices.name}-{config.model}-rebacktest", config, strategy, params, cls)
              if write else None)
    _data_report(prices, config, folder)
    emit = progress or (lambda event: None)
    emit({"event": "data", "prices": prices, "config": config, "strategy": cls.__name__, "params": params,
          "bars": bar_spec(prices, config), "predictions_from": str(source_dir) if source_dir else "memory"})
    return _finish(config, prices, predictions, cls, params, folder, emit, timings, started,
                   extra={"predictions_from": str(source_dir) if source_dir else None}, out=out)


def _prepare(config: Config | None, settings: dict, strategy: str | type | None, prices: PriceData | None):
    """Resolve the config, the strategy and its params, and load the prices (timed)."""
    config = make_config(config, **settings) if settings or config is None else config
    t0 = time.perf_counter()
    prices = prices if prices is not None else load_data(config)
    cls, params = resolve_strategy(config, strategy, universe=is_universe(prices))
    return config, cls, params, prices, {"data": time.perf_counter() - t0}


def resolve_auto_device(config: Config, prices: Any) -> tuple[Config, str | None]:
    """``--device auto`` made concrete (``cpu`` or ``cuda``), with the reason for the start-up lines."""
    if config.device != "auto":
        return config, None
    from .forecasters import choose_device

    device, why = choose_device(config, len(prices.tickers) if is_universe(prices) else 1)
    return config.replace(device=device), f"auto: {why}"


def is_universe(prices: Any) -> bool:
    """A universe (several tickers) rather than one ticker's PriceData."""
    return not hasattr(prices, "frame")


def load_data(config: Config) -> Any:
    """One ticker's :class:`PriceData`, or a :class:`~lstmtrade.panel.Universe` when ``--data`` holds several
    tickers (a Ticker/Symbol column, a folder, sample:SP500). Universe faults are repaired or excluded per
    ticker (``--strict`` refuses them after the data report is written, see :func:`_data_report`)."""
    from .panel import is_universe as universe_source

    if config.data is not None and universe_source(config.data):
        from .panel import load_universe

        return load_universe(config.data, tickers=list(config.tickers) if config.tickers else None,
                             start=config.start, end=config.end, strict=False, date_format=config.date_format)
    if config.tickers:
        raise ConfigError("--tickers selects from a universe; --data "
                          f"{config.data or 'sample:MSFT'} holds one ticker")
    return load_prices(config.data, start=config.start, end=config.end, date_format=config.date_format)


def bar_spec(prices: Any, config: Config) -> BarSpec:
    """The data's bar size and calendar, with ``--periods-per-year`` applied: one value of periods per year for
    every annualised figure of the run (metrics, tearsheet, comparison page, VolTarget)."""
    return prices.bars.with_periods(config.periods_per_year)


def _data_report(prices: Any, config: Config, folder: Path | None) -> None:
    """Write a universe's data_report.csv at once; with ``--strict`` refuse any fault, pointing to it."""
    if not is_universe(prices):
        return
    if folder is not None:
        write_csv(folder / "data_report.csv", prices.report, index=False)
    faults = prices.report[prices.report["status"] != "used"]
    if config.strict and len(faults):
        where = folder / "data_report.csv" if folder is not None else "the data report (Universe.report)"
        raise DataError(f"--strict: {len(faults)} ticker(s) have data faults ({faults['ticker'].iloc[0]}: "
                        f"{faults['issue'].iloc[0]}); see {where}")


def _new_run(out: str | Path, name: str, config: Config, strategy: str | type | None, params: dict,
             cls: type) -> Path:
    """A fresh run folder holding the fully resolved config.toml."""
    folder = new_run_dir(out, name)
    write_text(folder / "config.toml", to_toml(config.replace(strategy=_strategy_label(strategy, config, cls),
                                                              params=params)))
    return folder


def _saved_settings(folder: Path) -> dict[str, Any]:
    from .config import load_toml

    return load_toml(folder / "config.toml")


def _resume_settings(folder: Path) -> tuple[Config, str, Path]:
    """Config, strategy and output root of an unfinished run folder."""
    if not (folder / "config.toml").exists():
        raise ConfigError(f"--resume {folder}: not a run folder (no config.toml)")
    if (folder / "metrics.json").exists():
        raise ConfigError(f"--resume {folder}: that run already finished (metrics.json exists)")
    saved = _saved_settings(folder)
    strategy = saved.get("strategy", Config().strategy)
    return make_config(**saved), strategy, folder.parent


def preflight(prices: PriceData, config: Config) -> None:
    """Every check that can fail before training: features, the walk-forward schedule, the device."""
    universe = is_universe(prices)
    if config.save_models and universe:
        raise ConfigError("--save-models writes one ticker's model files; a universe's pooled models are not "
                          "saved yet (its predictions are, in predictions.csv and folds/)")
    if not universe and (config.target == "rank" or config.benchmark):
        what = "--target rank ranks each day's targets across tickers" if config.target == "rank" else \
            "--benchmark replaces a universe's equal-weight buy-and-hold (one ticker is compared with itself)"
        raise ConfigError(f"{what}: it needs a universe (--data with several tickers)")
    if config.benchmark:  # a missing or broken file stops here, before any training
        try:
            load_prices(config.benchmark)
        except DataError as exc:
            raise DataError(f"--benchmark: {exc}") from None
    first_row = warmup(config.features)
    val = config.val_fraction if (config.model == "lstm" and config.early_stopping_active) else 0.0
    WalkForward(config.min_train, config.retrain_every, config.train_window, config.lookback, val).split(
        len(prices), first_row)
    if config.model == "lstm" and config.device != "cpu":
        from .train import resolve_device

        resolve_device(config.device)
    if config.model == "lstm":
        from .forecast import resolve_engine

        resolve_engine(config)  # --engine native/fused on a network it cannot train; builds the kernel


def strategy_spec(config: Config, strategy: str | type | None, universe: bool) -> str | type:
    """What to load: ``strategy`` if given, else the config's; ``auto`` is LongFlat for one ticker and
    TopK (equal weight in the best-ranked names) for a universe."""
    spec = strategy if strategy is not None else config.strategy
    if spec == "auto":
        return "TopK" if universe else "LongFlat"
    return spec


def resolve_strategy(config: Config, strategy: str | type | None,
                     universe: bool = False) -> tuple[type, dict[str, Any]]:
    """The strategy class and its typed params (``threshold`` goes to strategies that have one)."""
    from .portfolio import PortfolioStrategy

    cls = load_strategy(strategy_spec(config, strategy, universe))
    if universe and not issubclass(cls, PortfolioStrategy):
        raise StrategyError(f"--strategy {cls.__name__} trades one asset; a universe needs a portfolio rule "
                          "(TopK, TopKDropout, LongShortQuantile, RankWeighted or a PortfolioStrategy subclass)")
    if not universe and issubclass(cls, PortfolioStrategy):
        raise StrategyError(f"{cls.__name__} is a portfolio strategy: it trades a universe (a portfolio rule), "
                            "and --data holds one ticker (use a CSV with a Ticker column, a folder, or sample:SP500)")
    defaults = strategy_params(cls)
    params: dict[str, Any] = {}
    if "threshold" in defaults and config.threshold != 0.0:
        params["threshold"] = config.threshold
    check_params(cls, dict(config.params))
    for name, value in config.params.items():
        params[name] = convert_param(name, value, defaults[name])
    return cls, params


def _strategy_label(strategy: str | type | None, config: Config, cls: type) -> str:
    if strategy is None:
        return cls.__name__ if config.strategy == "auto" else config.strategy
    return strategy.__name__ if isinstance(strategy, type) else str(strategy)


BASELINES = ("zero", "persistence", "linear")


def _finish(config: Config, prices: PriceData, predictions: Predictions, cls: type, params: dict,
            folder: Path | None, emit: Progress, timings: dict, started: float,
            extra: dict | None = None, out: str | Path | None = None) -> RunResult:
    emit({"event": "stage", "name": "backtest"})
    t0 = time.perf_counter()
    bars = bar_spec(prices, config)
    costs = {"cash": config.cash, "commission": config.commission, "slippage": config.slippage}
    strat = trade(prices, predictions, cls, costs, params, bars.periods_per_year)
    bench = benchmark(prices, predictions, config, costs)
    timings["backtest"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    baselines: dict[str, tuple[Predictions, BacktestResult]] = {}
    if config.baselines:
        emit({"event": "stage", "name": "baselines"})
        for name in BASELINES:
            if name != predictions.model:
                other = walk_forward_predict(prices, config, model=name)
                baselines[name] = (other, trade(prices, other, cls, costs, params, bars.periods_per_year))
    timings["baselines"] = time.perf_counter() - t0
    metrics, per_fold = build_metrics(config, prices, predictions, strat, bench, baselines, timings, extra)
    members: list[BacktestResult] = []
    if predictions.members is not None:
        emit({"event": "stage", "name": "seeds"})
        t0 = time.perf_counter()
        members = [trade(prices, predictions.member(m), cls, costs, params) for m in range(predictions.n_members)]
        timings["members"] = time.perf_counter() - t0
    metrics["seeds"] = seed_metrics(predictions, members, metrics)
    key = trial_key(config.to_dict(), cls.__name__, params)
    sharpe = per_period_sharpe(strat.returns)
    if folder is not None and out is not None:
        found = record_trial(out, prices.sha256, key, sharpe, str(folder))
    else:
        found = [{"key": key, "sharpe": sharpe}]
    metrics["significance"] = {**significance(strat.returns, [t["sharpe"] for t in found]),
                               "breakeven_bps": breakeven_bps(strat, bench, config.commission, config.cash,
                                                              bars.periods_per_year)}
    metrics["verdict"] = _verdict(metrics)
    result = RunResult(config, prices, predictions, strat, bench, metrics, folder, baselines=baselines,
                       per_fold=per_fold, members=members)
    if folder is not None:
        emit({"event": "stage", "name": "report"})
        t0 = time.perf_counter()
        write_run_files(result)
        timings["report"] = time.perf_counter() - t0
    else:
        timings["report"] = 0.0
    timings["total"] = time.perf_counter() - started
    metrics["timings"] = {k: round(v, 3) for k, v in timings.items()}
    if folder is not None:
        write_json(folder / "metrics.json", metrics)  # last: its presence marks a complete run
    emit({"event": "done", "result": result})
    return result


def trade(prices: Any, predictions: Predictions, cls: type, costs: dict, params: dict,
          periods_per_year: int | None = None) -> BacktestResult:
    """The backtest stage: one asset's strategy, or a portfolio strategy over a universe's feeds (with a
    seed ensemble's uncertainty, which strategies may size by). ``periods_per_year`` reaches strategies
    that annualise (VolTarget); None: the data's own."""
    if predictions.is_universe:
        from .portfolio import backtest_portfolio

        uncertainty = predictions.wide("uncertainty") if predictions.has_uncertainty else None
        return backtest_portfolio(prices.prices, predictions.wide(), cls, uncertainty=uncertainty, **costs, **params)
    return backtest(prices, predictions, cls, **costs, periods_per_year=periods_per_year, **params)


def seed_metrics(predictions: Predictions, members: list[BacktestResult], metrics: dict) -> dict[str, Any]:
    """metrics.json's ``seeds``: each member traded alone (seed, sharpe, total_return, max_drawdown,
    hit_rate, ic), each figure's mean, std, min and max across members, the ensemble's own figures, and
    for an ensemble ``confidence``: hit rate and mean return by quintile of |forecast| / uncertainty."""
    from .ensemble import confidence_quintiles, confidence_summary, spread

    def figures(result: BacktestResult | None, skill: dict) -> dict[str, Any]:
        perf = metrics["strategy"] if result is None else performance(result.returns)
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
        from .xsection import universe_report

        return universe_report(predictions.wide("prediction"), predictions.wide("target"))
    from .stats import forecast_report

    frame = predictions.frame
    return forecast_report(frame["prediction"], frame["target"])


def benchmark(prices: Any, predictions: Predictions, config: Config, costs: dict) -> BacktestResult:
    """Buy-and-hold on the same days and costs: of the asset, of the universe in equal weights, or of the
    ``--benchmark`` series."""
    if not predictions.is_universe:
        return buy_and_hold(prices, predictions, **costs)
    wide = predictions.wide()
    if config.benchmark:
        from .portfolio import series_benchmark

        series = load_prices(config.benchmark)
        return series_benchmark(series, wide.index, **costs)
    from .portfolio import equal_weight_buy_and_hold

    return equal_weight_buy_and_hold(prices.prices, wide, **costs)


def _verdict(metrics: dict) -> str:
    """The verdict on the ensemble's result (the forecast traded), quoting the spread across seeds."""
    line = _skill_verdict(metrics)
    seeds = metrics.get("seeds") or {}
    if seeds.get("n", 1) > 1:
        s = seeds["sharpe"]
        line += (f" Ensemble of {seeds['n']} seeds; each seed alone: Sharpe {_two(s['mean'])} ± {_two(s['std'])}, "
                 f"from {_two(s['min'])} to {_two(s['max'])}.")
    return line


def _two(x: Any) -> str:
    return "n/a" if x is None or x != x else f"{x:.2f}"


def _skill_verdict(metrics: dict) -> str:
    from .stats import verdict

    f, sig = metrics["forecast"], metrics["significance"]
    best = max(metrics.get("baselines", {}).items(), key=lambda kv: kv[1]["sharpe"], default=None)
    if "universe" in metrics:
        from .xsection import universe_verdict

        return universe_verdict(f, metrics["strategy"]["sharpe"], metrics["benchmark"]["sharpe"], sig["psr"],
                                sig["dsr"], sig["trials"], baseline_name=best[0] if best else None,
                                baseline_sharpe=best[1]["sharpe"] if best else None,
                                survivorship=metrics["universe"].get("survivorship"))
    return verdict(dm_pvalue=f.get("dm_pvalue"), mse_ratio=f.get("mse_ratio"),
                   sharpe=metrics["strategy"]["sharpe"], benchmark_sharpe=metrics["benchmark"]["sharpe"],
                   psr=sig["psr"], dsr=sig["dsr"], trials=sig["trials"],
                   baseline_name=best[0] if best else None, baseline_sharpe=best[1]["sharpe"] if best else None)


def _strategy_metrics(result: BacktestResult, periods: int) -> dict[str, Any]:
    out = performance(result.returns, periods)
    out.update(trades=len(result.trades), exposure=float(result.weights.abs().mean()),
               commission_paid=float(result.trades["commission"].sum()) if len(result.trades) else 0.0)
    return out


def build_metrics(config: Config, prices: PriceData, predictions: Predictions, strat: BacktestResult,
                  bench: BacktestResult, baselines: dict, timings: dict,
                  extra: dict | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    if predictions.is_universe:
        return _universe_metrics(config, prices, predictions, strat, bench, baselines, timings, extra)
    frame = predictions.frame
    target_full = build_target(prices.frame)
    forecast, per_fold = forecast_metrics(frame, target_full)
    index = prices.frame.index
    bars = bar_spec(prices, config)
    periods = bars.periods_per_year
    show = stamper(index)
    metrics = {
        "strategy": _strategy_metrics(strat, periods),
        "benchmark": performance(bench.returns, periods),
        "forecast": forecast,
        "baselines": {},
        "backtest": {"strategy": strat.strategy, "params": strat.params, "start": show(frame.index[0]),
                     "end": show(frame.index[-1]), "days": len(frame),
                     "folds": int(frame["fold"].nunique()), "rejected_orders": len(strat.rejected)},
        "config": config.to_dict(),
        "data": {"source": prices.source, "name": prices.name, "rows": len(prices),
                 "start": show(index[0]), "end": show(index[-1]), "sha256": prices.sha256, **bars.to_dict()},
        "folds": predictions.folds,
        "forecast_per_fold": per_fold.reset_index().to_dict(orient="records"),
        "run": {**(extra or {}), **environment(config)},
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    for name, (preds, result) in baselines.items():
        skill, _ = forecast_metrics(preds.frame, target_full)
        metrics["baselines"][name] = {**_strategy_metrics(result, periods), "forecast": skill}
    return metrics, per_fold


def universe_skill(predictions: Predictions) -> tuple[dict[str, Any], pd.DataFrame]:
    """Cross-sectional skill overall, and per fold."""
    from .xsection import universe_report

    frame = predictions.frame
    overall = universe_report(predictions.wide("prediction"), predictions.wide("target"))
    rows = {}
    for k, part in frame.groupby("fold"):
        sub = Predictions(part, predictions.model)
        report = universe_report(sub.wide("prediction"), sub.wide("target"))
        rows[k] = {key: report.get(key) for key in ("n_days", "n_tickers", "hit_rate", "up_share", "ic", "rank_ic",
                                                    "rank_ic_tstat")}
    per_fold = pd.DataFrame.from_dict(rows, orient="index")
    per_fold.index.name = "fold"
    return overall, per_fold


def _universe_metrics(config: Config, prices: Any, predictions: Predictions, strat: BacktestResult,
                      bench: BacktestResult, baselines: dict, timings: dict,
                      extra: dict | None) -> tuple[dict[str, Any], pd.DataFrame]:
    frame = predictions.frame
    forecast, per_fold = universe_skill(predictions)
    bars = bar_spec(prices, config)
    periods = bars.periods_per_year
    report = prices.report
    reasons = lambda status: {r.ticker: r.issue for r in report[report["status"] == status].itertuples()}  # noqa: E731
    calendar = prices.calendar
    show = stamper(calendar)
    metrics = {
        "strategy": _strategy_metrics(strat, periods),
        "benchmark": performance(bench.returns, periods),
        "forecast": forecast,
        "baselines": {},
        "universe": {"tickers": len(report), "used": sorted(report.loc[report["status"] == "used", "ticker"]),
                     "repaired": reasons("repaired"), "excluded": reasons("excluded"),
                     "traded": len(predictions.tickers), "survivorship": prices.survivorship,
                     "benchmark": config.benchmark or "equal-weight buy-and-hold of the tickers used"},
        "backtest": {"strategy": strat.strategy, "params": strat.params, "start": show(frame.index[0]),
                     "end": show(frame.index[-1]), "days": int(frame.index.nunique()),
                     "folds": int(frame["fold"].nunique()), "rejected_orders": len(strat.rejected)},
        "config": config.to_dict(),
        "data": {"source": prices.source, "name": prices.name, "rows": int(sum(len(p) for p in prices.prices.values())),
                 "dates": len(calendar), "start": show(calendar[0]), "end": show(calendar[-1]),
                 "sha256": prices.sha256, **bars.to_dict()},
        "folds": predictions.folds,
        "forecast_per_fold": per_fold.reset_index().to_dict(orient="records"),
        "run": {**(extra or {}), **environment(config)},
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    for name, (preds, result) in baselines.items():
        skill, _ = universe_skill(preds)
        metrics["baselines"][name] = {**_strategy_metrics(result, periods), "forecast": skill}
    return metrics, per_fold


def environment(config: Config) -> dict[str, Any]:
    """What a rerun needs to reproduce the numbers: versions, seed, threads."""
    versions = {"lstmtrade": __version__, "python": platform.python_version()}
    for package in ("torch", "backtrader", "pandas", "numpy", "quantstats"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:  # pragma: no cover
            versions[package] = None
    from .cache import default_torch_threads

    threads = default_torch_threads()  # torch may not be loaded when every fold came from the cache
    return {"created": datetime.now().isoformat(timespec="seconds"), "seed": config.seed,
            "torch_threads": threads, "platform": platform.platform(), "versions": versions}


def write_run_tables(result: RunResult) -> None:
    """A run folder's CSVs: predictions (and a seed ensemble's members), returns, positions, trades."""
    folder = result.folder
    atomic_write(folder / "predictions.csv", result.predictions.to_csv)
    if result.predictions.members is not None:
        atomic_write(folder / "members.csv", result.predictions.members_to_csv)
    returns = pd.DataFrame({"strategy": result.strategy.returns, "benchmark": result.benchmark.returns})
    write_csv(folder / "returns.csv", returns.rename_axis("date"))
    positions = pd.DataFrame({"weight": result.strategy.weights, "equity": result.strategy.equity,
                              "benchmark_equity": result.benchmark.equity})
    write_csv(folder / "positions.csv", positions.rename_axis("date"))
    write_csv(folder / "trades.csv", result.strategy.trades, index=False)


def write_run_files(result: RunResult) -> None:
    folder = result.folder
    assert folder is not None
    if result.predictions.is_universe:
        from .universe_report import write_universe_files

        write_universe_files(result)
        return
    write_run_tables(result)
    frame = result.predictions.frame
    title = (f"{result.prices.name}: {result.config.model.upper()} walk-forward, {result.strategy.strategy} "
             f"vs buy-and-hold, {stamper(frame.index)(frame.index[0])} to {stamper(frame.index)(frame.index[-1])}")
    verdict = result.metrics["verdict"]
    banner = (f"<b>Verdict:</b> {html.escape(verdict)} &middot; "
              '<a href="comparison.html">baselines, forecast skill and significance</a>')
    data = result.metrics["data"]
    write_tearsheet(folder / "tearsheet.html", result.strategy.returns, result.benchmark.returns, title, banner,
                    periods=data["periods_per_year"])
    from .ensemble import confidence_section

    members = pd.DataFrame({f"seed {seed}": r.returns for seed, r in zip(result.predictions.seeds, result.members)})
    write_comparison(folder / "comparison.html", title, verdict, comparison_table(result),
                     comparison_curves(result), frame, result.per_fold, annualised=annualised_note(data),
                     members=members if result.members else None,
                     sections=confidence_section(result.metrics.get("seeds")))


def annualised_note(data: dict) -> str:
    """How the run annualised: ``Sharpe, CAGR and volatility annualised with 6,240 bars a year (1h bars, 24 h × 5
    days, detected)``."""
    source = "set by --periods-per-year" if data.get("periods_per_year_source") == "--periods-per-year" else "detected"
    calendar = f", {data['calendar']}" if data.get("calendar") else ""
    return (f"Sharpe, CAGR and volatility are annualised with {data['periods_per_year']:,} bars a year "
            f"({data['bar']} bars{calendar}; {source}), in this page, metrics.json and the tearsheet alike.")


def comparison_table(result: RunResult) -> pd.DataFrame:
    """One row per forecaster (same strategy, costs, days) plus buy-and-hold."""
    m = result.metrics
    rows = {f"{result.config.model} ({result.strategy.strategy})": {**m["strategy"], **m["forecast"]}}
    for name, values in m["baselines"].items():
        rows[f"{name} baseline"] = {**values, **values["forecast"]}
    rows["buy and hold"] = dict(m["benchmark"])
    columns = ["total_return", "cagr", "sharpe", "max_drawdown", "hit_rate", "up_share", "ic", "dm_pvalue"]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)
    table.index.name = "forecaster"
    return table


def model_label(result: RunResult) -> str:
    """The run's forecaster as the curves name it: ``lstm``, or ``lstm, mean of 5 seeds``."""
    n = result.predictions.n_members
    return result.config.model + (f", mean of {n} seeds" if n > 1 else "")


def comparison_curves(result: RunResult) -> pd.DataFrame:
    curves = {model_label(result): result.strategy.returns}
    curves.update({name: bt_result.returns for name, (_, bt_result) in result.baselines.items()})
    curves["buy and hold"] = result.benchmark.returns
    return pd.DataFrame(curves)

