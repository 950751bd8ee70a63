"""The one composition both the CLI and notebooks call: data -> forecast -> backtest -> evaluate -> report.

>>> import lstmtrade
>>> result = lstmtrade.run(epochs=5, strategy="LongShort")       # doctest: +SKIP
>>> result.metrics["strategy"]["sharpe"], result.tearsheet         # doctest: +SKIP

``rebacktest`` re-runs only the backtest and report on a finished run's saved predictions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .backtesting.engine import BacktestResult
from .backtesting.loader import resolve_strategy, strategy_label
from .backtesting.stage import benchmark, trade
from .config import Config, Progress, load_toml, make_config, to_toml
from .data.load import bar_spec, is_universe_data, load_data
from .data.prices import PriceData, load_prices
from .errors import ConfigError, DataError, Interrupted
from .evaluate.ledger import record as record_trial
from .evaluate.ledger import trial_key
from .evaluate.metrics import build_metrics
from .evaluate.performance import cost_summary, significance, vs_benchmark
from .evaluate.seeds import seed_metrics
from .evaluate.stats import per_period_sharpe
from .evaluate.verdict import run_verdict
from .features import warmup
from .files import new_run_dir, write_csv, write_json, write_text
from .forecast.cache import FoldCache
from .forecast.boosting import import_lightgbm
from .forecast.engines import resolve_auto_device, resolve_device, resolve_engine
from .forecast.forecasters import WINDOWED
from .forecast.predictions import Predictions
from .forecast.walkforward import walk_forward_predict
from .report.run import write_run_files
from .splits import WalkForward


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
    config, device_why = resolve_auto_device(config, len(prices.tickers) if is_universe_data(prices) else 1)
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
    cls, params = resolve_strategy(config, strategy, universe=is_universe_data(prices))
    return config, cls, params, prices, {"data": time.perf_counter() - t0}


def _data_report(prices: Any, config: Config, folder: Path | None) -> None:
    """Write a universe's data_report.csv at once; with ``--strict`` refuse any fault, pointing to it."""
    if not is_universe_data(prices):
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
    write_text(folder / "config.toml", to_toml(config.replace(strategy=strategy_label(strategy, config, cls),
                                                              params=params)))
    return folder


def _saved_settings(folder: Path) -> dict[str, Any]:
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
    universe = is_universe_data(prices)
    if config.save_models and universe:
        raise ConfigError("--save-models writes one ticker's model files; a universe's pooled models are not "
                          "saved yet (its predictions are, in predictions.csv and folds/)")
    if not universe and (config.target == "rank" or config.benchmark or config.xs_norm != "none"):
        what = "--target rank ranks each day's targets across tickers" if config.target == "rank" else \
            f"--xs-norm {config.xs_norm} normalises each feature across the tickers of a date" \
            if config.xs_norm != "none" else \
            "--benchmark replaces a universe's equal-weight buy-and-hold (one ticker is compared with itself)"
        raise ConfigError(f"{what}: it needs a universe (--data with several tickers)")
    if "lightgbm" in (config.model, *config.baselines):
        import_lightgbm()  # the optional extra, missing: one line before any training
    if config.benchmark:  # a missing or broken file stops here, before any training
        try:
            load_prices(config.benchmark)
        except DataError as exc:
            raise DataError(f"--benchmark: {exc}") from None
    first_row = warmup(config.features)
    val = config.val_fraction if (config.model in WINDOWED and config.early_stopping_active) else 0.0
    WalkForward(config.min_train, config.retrain_every, config.train_window, config.lookback, val).split(
        len(prices), first_row)
    if config.model == "lstm" and config.device != "cpu":
        resolve_device(config.device)
    if config.model == "lstm":
        resolve_engine(config)  # --engine native/fused on a network it cannot train; builds the kernel


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
    seconds: dict[str, float] = {}
    for name in config.baselines:  # each through the same walk-forward, traded by the same strategy and costs
        if name != predictions.model:
            emit({"event": "stage", "name": f"baseline {name}"})
            t1 = time.perf_counter()
            other = walk_forward_predict(prices, config, model=name)
            baselines[name] = (other, trade(prices, other, cls, costs, params, bars.periods_per_year))
            seconds[name] = time.perf_counter() - t1
    timings["baselines"] = time.perf_counter() - t0
    metrics, per_fold = build_metrics(config, prices, predictions, strat, bench, baselines, timings, extra, seconds)
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
                               "vs_benchmark": vs_benchmark(strat, bench, bars.periods_per_year)}
    metrics["costs"] = cost_summary(strat, bench, config, bars.periods_per_year)
    metrics["verdict"] = run_verdict(metrics)
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
