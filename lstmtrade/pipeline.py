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

from .backtesting.costs import costs_of, run_costs
from .backtesting.engine import BacktestResult
from .backtesting.loader import resolve_strategy, strategy_label
from .backtesting.parallel import backtests, worth_workers
from .backtesting.stage import benchmark, trade
from .config import Config, Progress, load_toml, make_config, to_toml
from .data.load import bar_spec, is_universe_data, load_data
from .data.prices import PriceData, load_prices
from .errors import ConfigError, DataError, Interrupted, WriteError
from .evaluate.capacity import capacity
from .evaluate.ledger import record as record_trial
from .evaluate.ledger import trial_key
from .evaluate.ledger import trials as ledger_trials
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
from .forecast.folds import check_needs_universe, panel_rows
from .forecast.forecasters import WINDOWED
from .forecast.predictions import Predictions
from .forecast.ray_backend import check as check_ray
from .forecast.ray_backend import session_for
from .forecast.walkforward import walk_forward_predict
from .report.index import write_index
from .report.run import write_run_files
from .report.tracking import check_store, log_to_mlflow
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
    tracked: Any = None  # where MLflow logged it (lstmtrade.report.tracking.Tracked), with tracking = "mlflow"

    @property
    def tearsheet(self) -> Path | None:
        return self.folder / "tearsheet.html" if self.folder else None


def run(config: Config | None = None, *, strategy: str | type | None = None, prices: PriceData | None = None,
        out: str | Path = "reports", write: bool = True, progress: Progress | None = None,
        resume: str | Path | None = None, **settings: Any) -> RunResult:
    """Walk-forward forecast, backtest against buy-and-hold, and (if ``write``) a run folder.

    ``settings`` are :class:`~lstmtrade.config.Config` fields (``lookback=30, epochs=10, ...``) applied on
    top of ``config``; ``strategy`` is a class or anything ``--strategy`` accepts. ``resume`` continues an
    unfinished run folder with its own saved config (finished folds come from the fold cache) and
    ``settings`` on top: ``tracking="mlflow"`` (or ``"none"``) is the one that makes sense there.
    """
    if resume is not None:  # ``settings`` still apply on top of the saved config (--resume F --mlflow)
        config, strategy, out = _resume_settings(Path(resume))
    started = time.perf_counter()
    config, cls, params, prices, timings = _prepare(config, settings, strategy, prices)
    if config.tracking == "mlflow" and (write or resume is not None):
        check_store()  # MLflow missing, or a store it cannot use: said now, not after the training
    config, device_why = resolve_auto_device(config, len(prices.tickers) if is_universe_data(prices) else 1)
    preflight(prices, config)
    with session_for(config):  # Ray joined or started before the run folder exists: a wrong address leaves none
        if write or resume is not None:
            ledger_trials(out, prices.sha256)  # a damaged trial ledger stops the run now, not after training
        if resume is not None:
            folder = Path(resume)
            for stale in [*folder.glob(".*.tmp"), *folder.glob("folds/.*.tmp")]:  # writes cut by the interruption
                stale.unlink(missing_ok=True)
        else:
            folder = _new_run(out, f"{prices.name}-{config.model}", config, strategy, params, cls) if write else None
        _data_report(prices, config, folder)
        emit = progress or (lambda event: None)
        emit({"event": "data", "prices": prices, "config": config, "strategy": cls.__name__, "params": params,
              "device_why": device_why, "bars": bar_spec(prices, config)})
        cache = None
        if config.cache and folder is not None:
            cache = FoldCache(Path(out) / ".cache" / "folds",
                              warn=lambda text: emit({"event": "warning", "text": text}))
        t0 = time.perf_counter()
        rows = panel_rows(prices, config)  # every ticker's features once: the LSTM's and the baselines'
        try:
            predictions = walk_forward_predict(prices, config, progress, cache=cache,
                                               fold_dir=folder / "folds" if folder is not None else None, rows=rows)
        except KeyboardInterrupt:
            raise Interrupted(folder if cache is not None else None) from None
        except WriteError as exc:
            raise _with_resume_hint(exc, folder) from None
        timings["forecast"] = time.perf_counter() - t0
        timings["forecast_train"] = predictions.timings.get("train", 0.0)
        timings["forecast_other"] = timings["forecast"] - timings["forecast_train"]  # features, cache, fold files
        if cache is not None and cache.hits:
            emit({"event": "cache", "hits": cache.hits, "folds": len(predictions.folds),
                  "seeds": predictions.n_members})
        try:
            return _finish(config, prices, predictions, cls, params, folder, emit, timings, started, out=out,
                           rows=rows)
        except KeyboardInterrupt:  # during the backtests or the pages: metrics.json (written last) is not there yet,
            raise Interrupted(folder if cache is not None else None) from None  # and every fold is in the cache
        except WriteError as exc:
            raise _with_resume_hint(exc, folder) from None


def _with_resume_hint(exc: WriteError, folder: Path | None) -> WriteError:
    """``exc`` with what was kept and how to go on: the run folder's files are intact, and ``--resume`` finishes
    the run, reusing the folds the cache holds."""
    if folder is None or not (folder / "config.toml").exists():
        return exc
    error = WriteError(f"{exc}; files already written are intact: once it can be written (free space, fix "
                       f"permissions), finish the run with  lstmtrade backtest --resume {folder}")
    error.errno = exc.errno
    return error


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
    if config.tracking == "mlflow" and write:
        check_store()
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
    if strategy is None and config.strategy == "auto":  # record the class auto chose, as config.toml does, so a
        config = config.replace(strategy=cls.__name__)  # resumed run (which reads config.toml) records the same
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
    check_needs_universe(config, universe)
    if config.benchmark and not universe:
        raise ConfigError("--benchmark replaces a universe's equal-weight buy-and-hold (one ticker is compared with "
                          "itself): it needs a universe (--data with several tickers)")
    if "lightgbm" in (config.model, *config.baselines):
        import_lightgbm()  # the optional extra, missing: one line before any training
    if config.benchmark:  # a missing or broken file stops here, before any training
        try:
            load_prices(config.benchmark)
        except DataError as exc:
            raise DataError(f"--benchmark: {exc}") from None
    costs_of(config)  # a borrow file that cannot be read stops here, before any training
    first_row = warmup(config.features)
    val = config.val_fraction if (config.model in WINDOWED and config.early_stopping_active) else 0.0
    WalkForward(config.min_train, config.retrain_every, config.train_window, config.lookback, val).split(
        len(prices), first_row)
    if config.model == "lstm" and config.device != "cpu":
        resolve_device(config.device)
    if config.model == "lstm":
        resolve_engine(config)  # --engine native/fused on a network it cannot train; builds the kernel
        check_ray(config)  # --backend ray without Ray installed


def _finish(config: Config, prices: PriceData, predictions: Predictions, cls: type, params: dict,
            folder: Path | None, emit: Progress, timings: dict, started: float,
            extra: dict | None = None, out: str | Path | None = None, rows: Any = None) -> RunResult:
    emit({"event": "stage", "name": "backtest"})
    t0 = time.perf_counter()
    bars = bar_spec(prices, config)
    costs = run_costs(config)
    trading = costs["costs"]
    workers = 0
    if predictions.is_universe:  # a large universe's backtests run side by side in worker processes
        workers = worth_workers(len(prices.tickers), predictions.frame.index.nunique(), cls, config.jobs)
    with backtests(prices, workers) as pool:
        strat_done = pool.submit(trade, predictions, cls, costs, params, bars.periods_per_year)
        bench_done = pool.submit(benchmark, predictions, config, costs)
        strat, bench = strat_done.result(), bench_done.result()
        timings["backtest"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        others: dict[str, Predictions] = {}
        seconds: dict[str, float] = {}
        for name in config.baselines:  # each through the same walk-forward, traded by the same strategy and costs
            if name != predictions.model:
                emit({"event": "stage", "name": f"baseline {name}"})
                t1 = time.perf_counter()
                rows = rows if rows is not None else panel_rows(prices, config)  # the LSTM's features, shared
                others[name] = walk_forward_predict(prices, config, model=name, rows=rows)
                seconds[name] = time.perf_counter() - t1  # its forecasts (the backtests run side by side)
        rows = None  # the features are no longer needed
        traded = {name: pool.submit(trade, other, cls, costs, params, bars.periods_per_year)
                  for name, other in others.items()}
        baselines = {name: (others[name], traded[name].result()) for name in others}
        timings["baselines"] = time.perf_counter() - t0
        metrics, per_fold = build_metrics(config, prices, predictions, strat, bench, baselines, timings, extra,
                                          seconds)
        members: list[BacktestResult] = []
        if predictions.members is not None:
            emit({"event": "stage", "name": "seeds"})
            t0 = time.perf_counter()
            traded_members = [pool.submit(trade, predictions.member(m), cls, costs, params, bars.periods_per_year)
                              for m in range(predictions.n_members)]
            members = [done.result() for done in traded_members]
            timings["members"] = time.perf_counter() - t0
    metrics["seeds"] = seed_metrics(predictions, members, metrics)
    key = trial_key(config.to_dict(), cls.__name__, params)
    sharpe = per_period_sharpe(strat.returns)
    if folder is not None and out is not None:
        found = record_trial(out, prices.sha256, key, sharpe, str(folder), annualised=metrics["strategy"]["sharpe"])
    else:
        found = [{"key": key, "sharpe": sharpe}]
    metrics["significance"] = {**significance(strat.returns, [t["sharpe"] for t in found]),
                               "vs_benchmark": vs_benchmark(strat, bench, bars.periods_per_year)}
    metrics["costs"] = cost_summary(strat, bench, trading, prices, config.cash, bars.periods_per_year)
    if config.capacity:
        emit({"event": "stage", "name": f"capacity at {len(config.capacity)} capitals"})
        t0 = time.perf_counter()
        metrics["capacity"] = capacity(prices, predictions, cls, trading, params, config.capacity,
                                       bars.periods_per_year)
        timings["capacity"] = time.perf_counter() - t0
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
        write_index(folder.parent)
        if config.tracking == "mlflow":
            emit({"event": "stage", "name": "MLflow"})
            result.tracked = log_to_mlflow(folder)
    emit({"event": "done", "result": result})
    return result
