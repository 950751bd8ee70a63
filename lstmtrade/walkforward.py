"""Walk-forward orchestration: prices -> features -> folds -> (fit, predict) per fold -> Predictions.

The folds are laid on the **calendar** (for one ticker its own bars; for a universe the union of every
ticker's sessions), anchored at the first date (see :mod:`lstmtrade.splits`). Each ticker then takes
the rows of its own history that fall in each range, with the timing rule applied per ticker:

- a row trains only if its window lies in the ticker's own rows after feature warm-up, and its label
  (which needs the ticker's open two of *its own* bars later) is known before the range's purge ends,
  so a ticker with a missing session never leaks a label into the test range;
- a ticker is predicted in a fold only if it has at least ``MIN_TICKER_ROWS`` training rows there (its
  scaler is fit on them); until then it has no forecast (and a strategy does not trade it);
- with ``target="rank"`` the label is the cross-sectional rank of the target on its date, among the
  tickers whose target is known two calendar bars later (so a rank never waits on a late label).

This module also trains folds in parallel (threads for the native engine, processes for the loop),
reuses folds from the :class:`~lstmtrade.cache.FoldCache`, and writes each fold's predictions (and
model) to the run folder as the fold finishes.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from .config import Config
from .errors import ConfigError
from .features import LABEL_REACH, build_features, build_target, warmup
from .forecasters import FORECASTERS, LSTM, FoldData, Piece, resolve_engine, rows_of
from .csvio import write_exact_csv
from .ensemble import FittedEnsemble, combine, member_config, member_seeds, n_members
from .predictions import Predictions
from .splits import MIN_FIT_ROWS, Fold, WalkForward
from .timestamps import stamper

Progress = Callable[[dict], None]  # receives {"event": "start"|"fold"|"epoch", ...}

MIN_TICKER_ROWS = MIN_FIT_ROWS  # training rows a ticker needs in a fold before that fold predicts it


@dataclass
class _Series:
    """One ticker's whole history, computed once: features, target, label, calendar positions."""

    ticker: str
    index: pd.DatetimeIndex
    features: np.ndarray
    target: np.ndarray
    label: np.ndarray
    pos: np.ndarray  # calendar position of each row
    label_pos: np.ndarray  # calendar position at which each row's label is known (inf: not yet)


def frames_of(prices: Any) -> tuple[dict[str, pd.DataFrame], bool]:
    """``{ticker: OHLCV frame}`` and whether it is a universe: a PriceData is a universe of one."""
    if hasattr(prices, "frame"):
        return {"": prices.frame}, False
    mapping = prices.prices if hasattr(prices, "prices") else prices
    return {t: (p.frame if hasattr(p, "frame") else p) for t, p in sorted(mapping.items())}, True


def calendar_of(frames: Mapping[str, pd.DataFrame]) -> pd.DatetimeIndex:
    index = None
    for frame in frames.values():
        index = frame.index if index is None else index.union(frame.index)
    return pd.DatetimeIndex(index, name="date")


def _series(frames: Mapping[str, pd.DataFrame], calendar: pd.DatetimeIndex, config: Config,
            universe: bool) -> list[_Series]:
    out = []
    for ticker, frame in frames.items():
        feats = build_features(frame, config.features).to_numpy()
        target = build_target(frame).to_numpy()
        pos = calendar.get_indexer(frame.index)
        label_pos = np.full(len(pos), np.inf)
        label_pos[: max(len(pos) - LABEL_REACH, 0)] = pos[LABEL_REACH:]
        out.append(_Series(ticker, frame.index, feats, target, target, pos, label_pos))
    if config.target == "rank":
        if not universe:
            raise ConfigError("--target rank ranks each day's targets across tickers: it needs a universe "
                              "(--data with several tickers)")
        _rank_labels(out, len(calendar))
    return out


def _rank_labels(series: list[_Series], n_dates: int) -> None:
    """Label = the target's cross-sectional percentile rank on its date, centred on 0 (in [-0.5, 0.5])."""
    wide = np.full((n_dates, len(series)), np.nan)
    for j, s in enumerate(series):
        on_time = s.label_pos == s.pos + LABEL_REACH  # known two calendar bars later, as for every ticker
        wide[s.pos[on_time], j] = s.target[on_time]
    ranks = pd.DataFrame(wide).rank(axis=1, pct=True).to_numpy()
    counts = np.isfinite(wide).sum(axis=1, keepdims=True)
    centred = np.where(counts > 1, ranks - 0.5 * (1 + 1 / np.maximum(counts, 1)), np.nan)
    for j, s in enumerate(series):
        s.label = centred[s.pos, j]


def _rows(s: _Series, span: range, first: int, training: bool) -> range:
    lo = max(int(np.searchsorted(s.pos, span.start)), first)
    hi = int(np.searchsorted(s.pos, span.stop))
    if training:  # only rows whose label is known before the purge after this range ends
        hi = min(hi, int(np.searchsorted(s.label_pos, span.stop + LABEL_REACH)))
    return range(lo, max(lo, hi))


def fold_pieces(fold: Fold, series: list[_Series], first: int) -> list[Piece]:
    """Each ticker's rows for ``fold`` (tickers with too few training rows left out)."""
    pieces = []
    for s in series:
        fit, val = _rows(s, fold.fit, first, True), _rows(s, fold.val, first, True)
        test = _rows(s, fold.test, first, False)
        if len(fit) < MIN_TICKER_ROWS:
            continue
        stop = max(test.stop, (val or fit).stop)
        label = s.label[:stop]
        train = np.r_[rows_of(fit), rows_of(val)]
        if not np.isfinite(label[train]).all():
            # a rank label is missing where the ticker lacked a session within two bars: train on it as
            # the middle rank (no information) rather than leak a later label into the ranking
            label = label.copy()
            label[train[~np.isfinite(label[train])]] = 0.0
        pieces.append(Piece(s.ticker, s.features[:stop], s.target[:stop], label, fit, val, test))
    return pieces


def walk_forward_predict(prices: Any, config: Config, progress: Progress | None = None,
                         model: str | None = None, cache: Any = None, fold_dir: Path | None = None) -> Predictions:
    """Predict every out-of-sample (date, ticker) with the forecaster ``model`` (default ``config.model``).

    ``prices`` is a :class:`~lstmtrade.data.PriceData` (one ticker) or a universe (``{ticker: PriceData}``
    or an object with such a ``prices`` mapping). ``cache`` (a :class:`lstmtrade.cache.FoldCache`) skips
    folds trained before with the same rows and settings, and stores each new fold as soon as it finishes.
    LSTM folds train ``resolve_jobs`` at a time: in threads with the native engine, else in worker
    processes with one torch thread each. ``fold_dir`` receives each fold's predictions (``fold-NNN.csv``)
    as soon as the fold finishes, and its model (``fold-NNN.pt``) when ``config.save_models``.

    With ``config.seeds`` = N > 1 (LSTM only) every fold trains N members, member m with seed
    ``config.seed + m`` (see :mod:`lstmtrade.ensemble`); each (fold, member) is one job for the threads,
    processes and cache. The prediction is the members' mean, ``uncertainty`` their standard deviation,
    and ``Predictions.members`` keeps each member's own predictions.
    """
    model = model or config.model
    if progress is not None:
        progress = _serialised(progress)  # folds may report from several threads
    frames, universe = frames_of(prices)
    calendar = calendar_of(frames)
    series = _series(frames, calendar, config, universe)
    first_row = warmup(config.features)
    lookback = config.lookback if model == "lstm" else 1
    splitter = WalkForward(config.min_train, config.retrain_every, config.train_window, config.lookback,
                           config.val_fraction if (model == "lstm" and config.early_stopping_active) else 0.0)
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
                  "tickers": len(series) if universe else 1, "seeds": len(seeds)})
    by_ticker = {s.ticker: s for s in series}
    parts: dict[int, pd.DataFrame] = {}
    member_parts: dict[int, np.ndarray] = {}
    reports: dict[int, dict] = {}
    clock = {"train": 0.0}
    waiting: dict[int, dict[int, tuple]] = {}  # fold -> member -> (values, info, seconds)
    for data, member, values, info, seconds in _timed(_fold_results(datas, config, model, progress, cache), clock):
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
        reports[fold.index] = {"fold": fold.index, **_fold_dates(calendar, fold), **info,
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
        if progress:
            from .stats import hit_rates  # the fold's hit rate and its base rate, for the fold's line

            progress({"event": "fold", "folds": len(folds), **reports[fold.index],
                      **hit_rates(part["prediction"].to_numpy(), part["target"].to_numpy())})
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


def _fold_frame(data: FoldData, values: np.ndarray, by_ticker: dict[str, _Series], universe: bool,
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
    columns.update(target=np.concatenate(targets), fold=np.full(len(values), data.fold.index, dtype=np.int64))
    frame = pd.DataFrame(columns, index=pd.DatetimeIndex(np.concatenate(dates), name="date"))
    if universe:
        frame.insert(0, "ticker", np.concatenate(tickers).astype(str))
    return frame


def _save_fold(folder: Path, fold: Fold, part: pd.DataFrame, fitted: Any, config: Config, prices: Any,
               calendar: pd.DatetimeIndex) -> None:
    from .report import atomic_write

    folder.mkdir(parents=True, exist_ok=True)
    frame = part.drop(columns="fold")
    atomic_write(folder / f"fold-{fold.index:03d}.csv", lambda tmp: write_exact_csv(frame, tmp))
    if fitted is not None and hasattr(prices, "frame"):  # model files hold one ticker's scaler
        from .artifact import save_model

        save_model(folder / f"fold-{fold.index:03d}.pt", fitted, config, prices,
                   calendar[(fold.val or fold.fit).stop - 1])


@dataclass
class _Job:
    """One network to train: a fold's rows and the member's one-seed config (seed + member)."""

    data: FoldData
    member: int
    config: Config

    @property
    def key(self) -> tuple[int, int]:
        return self.data.fold.index, self.member


def _fold_results(datas: list[FoldData], config: Config, model: str, progress: Progress | None, cache: Any):
    """Yield ``(data, member, predictions, info, seconds)`` for every fold and seed-ensemble member: from
    the cache, or trained. Members are independent jobs, trained the way folds are (threads, processes)."""
    forecaster = FORECASTERS[model]
    engine = resolve_engine(config, model)
    ensemble = n_members(config, model) > 1
    jobs_list = [_Job(data, m, member_config(config, m)) for m in range(n_members(config, model)) for data in datas]
    jobs = resolve_jobs(config, engine, len(jobs_list)) if model == "lstm" else 1
    threaded = engine == "native" and jobs > 1  # the C kernel releases the GIL: folds in threads
    parallel = model == "lstm" and jobs > 1 and not threaded
    fused = model == "lstm" and not parallel and engine == "fused"
    keys: dict[tuple[int, int], str] = {}
    hits: dict[tuple[int, int], tuple] = {}
    if cache is not None and model == "lstm":
        threads = 1 if parallel else (config.threads or cache.torch_threads())
        kernel = None
        if engine == "native":
            from .native import kernel_id

            kernel = kernel_id()
        for job in jobs_list:  # each member under its own seed: a one-seed run with that seed shares it
            settings = {**job.config.to_dict(), "engine": engine}
            if kernel is not None:
                settings["kernel"] = kernel
            keys[job.key] = cache.key(settings, model, threads, job.data)
            hit = cache.get(keys[job.key])
            if hit is not None:
                hits[job.key] = hit
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

    def done(job: _Job, values, info):
        if job.key in keys:
            cache.put(keys[job.key], values, {k: v for k, v in info.items() if not k.startswith("_")})
        return values, info

    if parallel:
        for job, values, info, seconds in _parallel(todo, jobs):
            yield (job.data, job.member, *done(job, values, info), seconds)
        return
    state = forecaster.setup(config) if hasattr(forecaster, "setup") else None
    if threaded:
        for job, values, info, seconds in _threaded(todo, jobs, state, progress, ensemble):
            yield (job.data, job.member, *done(job, values, info), seconds)
        return
    if fused:
        # groups of folds trained at once, one member at a time; then one result per fold as it is predicted
        for m in sorted({job.member for job in todo}):
            mine = [job for job in todo if job.member == m]
            t0 = time.perf_counter()
            results = LSTM.fit_predict_all([job.data for job in mine], mine[0].config, state,
                                           _member_progress(progress, m, ensemble))
            for job, (values, info, share) in zip(mine, results):
                yield (job.data, m, *done(job, values, info), share + time.perf_counter() - t0)
                t0 = time.perf_counter()
        return
    for job in todo:
        t0 = time.perf_counter()
        values, info = forecaster.fit_predict(job.data, job.config, state,
                                              _member_progress(progress, job.member, ensemble))
        yield (job.data, job.member, *done(job, values, info), time.perf_counter() - t0)


def _member_progress(progress: Progress | None, member: int, ensemble: bool) -> Progress | None:
    """``progress`` with the member's number added to each event (for a seed ensemble)."""
    if progress is None or not ensemble:
        return progress
    return lambda event: progress({**event, "member": member})


def resolve_jobs(config: Config, engine: str, folds: int | None = None) -> int:
    """How many folds train at once: ``config.jobs``, or for 0 one per CPU core with the native engine
    (threads cost nothing to start) and 1 otherwise (a worker process takes seconds to start)."""
    import os

    jobs = config.jobs
    if jobs == 0:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        jobs = cores if engine == "native" else 1
    return max(1, min(jobs, folds)) if folds else max(1, jobs)


def _worker_fold(data: FoldData, config: Config):
    """One fold (one member) in a worker process (one torch thread, so workers don't fight over cores)."""
    t0 = time.perf_counter()
    state = LSTM.setup(config.replace(threads=1))
    values, info = LSTM.fit_predict(data, config, state, None)
    return values, info, time.perf_counter() - t0


def _parallel(jobs_list: list[_Job], jobs: int):
    """Train (fold, member) jobs in ``jobs`` processes, largest first; yield results as they finish."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's threads
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
    try:
        futures = {pool.submit(_worker_fold, job.data, job.config): job
                   for job in sorted(jobs_list, key=lambda j: -j.data.n_fit)}
        for future in as_completed(futures):
            values, info, seconds = future.result()
            yield futures[future], values, info, seconds
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _threaded(jobs_list: list[_Job], jobs: int, state: Any, progress: Progress | None, ensemble: bool):
    """Train (fold, member) jobs in ``jobs`` threads (native engine), largest first; yield results as they
    finish.

    Each job's training is one single-threaded C call that releases the GIL, so threads run folds and
    members in parallel without new processes; a job's result does not depend on which thread trained it.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    def one(job: _Job):
        t0 = time.perf_counter()
        values, info = LSTM.fit_predict(job.data, job.config, state, _member_progress(progress, job.member, ensemble))
        return values, info, time.perf_counter() - t0

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="lstmtrade-fold")
    finished = False
    try:
        futures = {pool.submit(one, job): job for job in sorted(jobs_list, key=lambda j: -j.data.n_fit)}
        for future in as_completed(futures):
            values, info, seconds = future.result()
            yield futures[future], values, info, seconds
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=True)


def _serialised(progress: Progress) -> Progress:
    """``progress`` called by one thread at a time."""
    lock = threading.Lock()

    def report(event: dict) -> None:
        with lock:
            progress(event)

    return report


def _fold_dates(index: pd.DatetimeIndex, fold: Fold) -> dict[str, Any]:
    show = stamper(index)
    day = lambda i: show(index[i])  # noqa: E731
    out = {"fit_start": day(fold.fit.start), "fit_end": day(fold.fit.stop - 1),
           "test_start": day(fold.test.start), "test_end": day(fold.test.stop - 1),
           "n_fit": len(fold.fit), "n_val": len(fold.val), "n_test": len(fold.test)}
    if len(fold.val):
        out.update(val_start=day(fold.val.start), val_end=day(fold.val.stop - 1))
    return out
