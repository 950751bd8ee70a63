"""Walk-forward orchestration: prices -> features -> folds -> (fit, predict) per fold -> Predictions.

The folds and each ticker's rows in them are laid out by :mod:`lstmtrade.forecast.folds`. This module runs
every fold (and seed-ensemble member) through its forecaster: in parallel where the engine allows
(:mod:`lstmtrade.forecast.parallel`: threads for the native engine, processes for the loop), reusing folds
from the :class:`~lstmtrade.forecast.cache.FoldCache`, and writing each fold's predictions (and model) to
the run folder as the fold finishes.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import Config, Progress
from ..errors import ConfigError
from ..features import warmup
from ..files import atomic_write, ensure_folder, write_exact_csv
from ..splits import MIN_FIT_ROWS, Fold, WalkForward
from .engines import resolve_engine, resolve_jobs
from .ensemble import FittedEnsemble, combine, member_config, member_seeds, n_members
from .folds import FoldData, PanelRows, TickerSeries, fold_dates, fold_pieces, panel_rows, rows_key, rows_of
from .forecasters import FORECASTERS, WINDOWED
from .lstm import LSTM
from .parallel import Job, in_processes, in_threads, member_progress, on_ray, serialised
from .predictions import Predictions


def walk_forward_predict(prices: Any, config: Config, progress: Progress | None = None,
                         model: str | None = None, cache: Any = None, fold_dir: Path | None = None,
                         rows: PanelRows | None = None) -> Predictions:
    """Predict every out-of-sample (date, ticker) with the forecaster ``model`` (default ``config.model``).

    ``prices`` is a :class:`~lstmtrade.data.PriceData` (one ticker) or a universe (``{ticker: PriceData}``
    or an object with such a ``prices`` mapping). ``cache`` (a :class:`lstmtrade.forecast.cache.FoldCache`) skips
    folds trained before with the same rows and settings, and stores each new fold as soon as it finishes.
    LSTM folds train ``resolve_jobs`` at a time: in threads with the native engine, else in worker
    processes with one torch thread each; with ``config.backend == "ray"`` every fold (and member) is a Ray
    task, with the same forecasts (:func:`lstmtrade.forecast.parallel.on_ray`). ``fold_dir`` receives each fold's predictions (``fold-NNN.csv``)
    as soon as the fold finishes, and its model (``fold-NNN.pt``) when ``config.save_models``.

    With ``config.seeds`` = N > 1 (LSTM only) every fold trains N members, member m with seed
    ``config.seed + m`` (see :mod:`lstmtrade.forecast.ensemble`); each (fold, member) is one job for the threads,
    processes and cache. The prediction is the members' mean, ``uncertainty`` their standard deviation,
    and ``Predictions.members`` keeps each member's own predictions.

    ``rows`` (:func:`lstmtrade.forecast.folds.panel_rows` of the same prices) saves computing every ticker's
    features again when several forecasters run on the same data (a run's baselines).
    """
    model = model or config.model
    if progress is not None:
        progress = serialised(progress)  # folds may report from several threads
    if rows is None or rows.key != rows_key(config):
        rows = panel_rows(prices, config)
    calendar, universe, series = rows.calendar, rows.universe, rows.series
    first_row = warmup(config.features)
    lookback = config.lookback if model in WINDOWED else 1  # lightgbm: the LSTM's windows, rows and tail
    splitter = WalkForward(config.min_train, config.retrain_every, config.train_window, config.lookback,
                           config.val_fraction if (model in WINDOWED and config.early_stopping_active) else 0.0)
    folds = splitter.split(len(calendar), first_row)
    first = first_row + lookback - 1
    datas = [FoldData(f, lookback=lookback, pieces=fold_pieces(f, series, first)) for f in folds]
    datas = [d for d in datas if d.pieces and d.n_fit >= MIN_FIT_ROWS]
    if not datas:
        raise ConfigError("no fold has a ticker with enough training rows; lower --min-train or add history")
    seeds = member_seeds(config, model)
    if progress:
        progress({"event": "start", "folds": len(folds), "model": model,
                  "first_test": calendar[folds[0].test.start], "n_test": folds[-1].test.stop - folds[0].test.start,
                  "tickers": len(series) if universe else 1, "seeds": len(seeds),
                  "work": [len(f.train) for f in folds]})  # a fold's training rows: what its training costs
    by_ticker = {s.ticker: s for s in series}
    parts: dict[int, pd.DataFrame] = {}
    member_parts: dict[int, np.ndarray] = {}
    reports: dict[int, dict] = {}
    clock = {"train": 0.0}
    waiting: dict[int, dict[int, tuple]] = {}  # fold -> member -> (values, info, seconds)
    for data, member, values, info, seconds in _timed(_fold_results(datas, config, model, progress, cache,
                                                                                      (series, first)), clock):
        waiting.setdefault(data.fold.index, {})[member] = (values, info, seconds)
        if len(waiting[data.fold.index]) < len(seeds):
            continue  # the fold is finished when its last member is
        done = waiting.pop(data.fold.index)
        results = [done[m] for m in range(len(seeds))]
        fold = data.fold
        fitted = [r[1].pop("_fitted", None) for r in results]
        values, uncertainty = combine([r[0] for r in results])
        part = _fold_frame(data, values, by_ticker, universe, uncertainty if len(seeds) > 1 else None)
        parts[fold.index] = part
        if len(seeds) > 1:
            member_parts[fold.index] = np.stack([np.asarray(r[0], dtype="float64") for r in results])
        if fold_dir is not None:
            if len(seeds) > 1 and fitted[0] is not None:
                fitted = [FittedEnsemble(fitted, seeds)]
            _save_fold(fold_dir, fold, part, fitted[0], config, prices, calendar)
        info = results[0][1]
        reports[fold.index] = {"fold": fold.number, **fold_dates(calendar, fold), **info,
                               "seconds": round(sum(r[2] for r in results), 4)}
        if len(seeds) > 1:
            reports[fold.index].pop("cached", None)
            if all(r[1].get("cached", False) for r in results):
                reports[fold.index]["cached"] = True
            reports[fold.index]["members"] = [{"member": m, "seed": seeds[m], "seconds": round(r[2], 4), **r[1]}
                                              for m, r in enumerate(results)]
        if universe:  # pooled: training windows over every ticker, tickers predicted
            reports[fold.index].update(samples_fit=data.n_fit, samples_val=sum(len(p.val) for p in data.pieces),
                                       tickers=sum(1 for p in data.pieces if len(p.test)))
        if progress:  # with the fold's forecasts and targets, from which a console shows its hit rate
            progress({"event": "fold", "folds": len(folds), **reports[fold.index],
                      "predicted": part["prediction"].to_numpy(), "realised": part["target"].to_numpy()})
    order = sorted(parts)
    out = pd.concat([parts[k] for k in order])
    members = None
    if len(seeds) > 1:
        members = pd.DataFrame(np.concatenate([member_parts[k] for k in order], axis=1).T,
                               columns=pd.RangeIndex(len(seeds), name="member"))
    if universe:
        out = out.assign(_row=np.arange(len(out))).sort_values(["date", "ticker"], kind="stable")
        if members is not None:
            members = members.iloc[out["_row"].to_numpy()].reset_index(drop=True)
        out = out.drop(columns="_row")
    if members is not None:
        members.index = out.index
    return Predictions(out, model, [reports[k] for k in order], members=members, seeds=seeds, timings=clock)


def _timed(results, clock: dict):
    """``results``' items, adding to ``clock["train"]`` the wall time spent waiting for each fold (member)
    that was trained rather than read from the cache (folds trained at once are counted once)."""
    results = iter(results)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(results)
        except StopIteration:
            return
        if not item[3].get("cached"):
            clock["train"] += time.perf_counter() - t0
        yield item


def _fold_frame(data: FoldData, values: np.ndarray, by_ticker: dict[str, TickerSeries], universe: bool,
                uncertainty: np.ndarray | None = None) -> pd.DataFrame:
    """The fold's predictions as rows (date[, ticker], prediction[, uncertainty], target, fold)."""
    dates, tickers, targets = [], [], []
    for p in data.pieces:
        rows = rows_of(p.test)
        dates.append(by_ticker[p.ticker].index[rows])
        targets.append(p.target[rows])
        tickers.append(np.full(len(rows), p.ticker, dtype=object))
    columns = {"prediction": np.asarray(values, dtype="float64")}
    if uncertainty is not None:
        columns["uncertainty"] = np.asarray(uncertainty, dtype="float64")
    columns.update(target=np.concatenate(targets), fold=np.full(len(values), data.fold.number, dtype=np.int64))
    frame = pd.DataFrame(columns, index=pd.DatetimeIndex(np.concatenate(dates), name="date"))
    if universe:
        frame.insert(0, "ticker", np.concatenate(tickers).astype(str))
    return frame


def _save_fold(folder: Path, fold: Fold, part: pd.DataFrame, fitted: Any, config: Config, prices: Any,
               calendar: pd.DatetimeIndex) -> None:
    ensure_folder(folder)
    frame = part.drop(columns="fold")
    atomic_write(folder / f"fold-{fold.number:03d}.csv", lambda tmp: write_exact_csv(frame, tmp))
    if fitted is not None and hasattr(prices, "frame"):  # model files hold one ticker's scaler
        from .artifact import save_model

        save_model(folder / f"fold-{fold.number:03d}.pt", fitted, config, prices,
                   calendar[(fold.val or fold.fit).stop - 1])


def _fold_results(datas: list[FoldData], config: Config, model: str, progress: Progress | None, cache: Any,
                  rows: tuple = ()):
    """Yield ``(data, member, predictions, info, seconds)`` for every fold and seed-ensemble member: from
    the cache, or trained. Members are independent jobs, trained the way folds are (threads, processes, or
    Ray tasks, which rebuild their rows from ``rows``: every ticker's series and the first window row)."""
    forecaster = FORECASTERS[model]
    engine = resolve_engine(config, model)
    ensemble = n_members(config, model) > 1
    jobs_list = [Job(data, m, member_config(config, m)) for m in range(n_members(config, model)) for data in datas]
    jobs = resolve_jobs(config, engine, len(jobs_list)) if model == "lstm" else 1
    on_cluster = model == "lstm" and config.backend == "ray"
    threaded = engine == "native" and jobs > 1 and not on_cluster  # the C kernel releases the GIL: folds in threads
    parallel = model == "lstm" and jobs > 1 and not threaded and not on_cluster
    fused = model == "lstm" and not parallel and engine == "fused"  # with Ray too: groups of folds as tasks
    keys: dict[tuple[int, int], str] = {}
    hits: dict[tuple[int, int], tuple] = {}
    if cache is not None and model == "lstm":
        threads = (config.threads or 1) if on_cluster else 1 if parallel else (config.threads or cache.torch_threads())
        kernel = None
        if engine == "native":
            from .native import kernel_id

            kernel = kernel_id()
        for job in jobs_list:  # each member under its own seed: a one-seed run with that seed shares it
            settings = {**job.config.to_dict(), "engine": engine}
            if kernel is not None:
                settings["kernel"] = kernel
            keys[job.key] = cache.key(settings, model, threads, job.data)
            hit = cache.get(keys[job.key], rows=job.data.n_test)
            if hit is not None:
                hits[job.key] = hit
        cache.report_damage()  # one line for every damaged entry found (each removed, its fold retrained)
    if fused:
        for m in range(n_members(config, model)):  # fused groups are fixed by fold number, member by member:
            member_keys = [(d.fold.index, m) for d in datas]  # retrain a member's folds rather than regroup
            if any(k not in hits for k in member_keys):
                for k in member_keys:
                    hits.pop(k, None)
    for job in jobs_list:
        if job.key in hits:
            values, info = hits[job.key]
            yield job.data, job.member, values, {**info, "cached": True}, 0.0
    todo = [job for job in jobs_list if job.key not in hits]
    if not todo:
        return

    def done(job: Job, values, info):
        if job.key in keys:
            cache.put(keys[job.key], values, {k: v for k, v in info.items() if not k.startswith("_")})
        return values, info

    if on_cluster:
        for job, values, info, seconds in on_ray(todo, *rows, engine, config):
            yield (job.data, job.member, *done(job, values, info), seconds)
        return
    if parallel:
        for job, values, info, seconds in in_processes(todo, jobs):
            yield (job.data, job.member, *done(job, values, info), seconds)
        return
    state = forecaster.setup(config) if hasattr(forecaster, "setup") else None
    if threaded:
        for job, values, info, seconds in in_threads(todo, jobs, state, progress, ensemble):
            yield (job.data, job.member, *done(job, values, info), seconds)
        return
    if fused:
        # groups of folds trained at once, one member at a time; then one result per fold as it is predicted
        for m in sorted({job.member for job in todo}):
            mine = [job for job in todo if job.member == m]
            t0 = time.perf_counter()
            results = LSTM.fit_predict_all([job.data for job in mine], mine[0].config, state,
                                           member_progress(progress, m, ensemble))
            for job, (values, info, share) in zip(mine, results):
                yield (job.data, m, *done(job, values, info), share + time.perf_counter() - t0)
                t0 = time.perf_counter()
        return
    for job in todo:
        t0 = time.perf_counter()
        values, info = forecaster.fit_predict(job.data, job.config, state,
                                              member_progress(progress, job.member, ensemble))
        yield (job.data, job.member, *done(job, values, info), time.perf_counter() - t0)


