"""Walk-forward prediction: features -> folds -> (scaler fit on train rows, train, predict) per fold.

The result, :class:`Predictions`, holds one prediction for every out-of-sample day, made by the one
fold model whose training rows end ``LABEL_REACH + 1`` bars before that day. The forecaster is the LSTM
or one of the baselines that go through the identical schedule and scaler discipline:

- ``lstm``: :class:`~lstmtrade.model.LSTMRegressor` trained by :func:`lstmtrade.train.fit`;
- ``linear``: ridge regression on the standardised features of day t;
- ``persistence``: the last realised target, open(t-1) -> open(t), known at the open of t;
- ``zero``: always 0 (a strategy on it stays flat).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from .config import Config
from .data import PriceData
from .errors import DataError
from .features import StandardScaler, build_features, build_target, warmup, windows
from .splits import Fold, WalkForward

Progress = Callable[[dict], None]  # receives {"event": "start"|"fold"|"epoch", ...}

FLOAT_FORMAT = "%.17g"  # predictions round-trip exactly through CSV
_INIT_LOCK = threading.Lock()  # folds trained in threads initialise their nets one at a time
RIDGE_ALPHA = 1.0  # ridge penalty per training row, on standardised features


@dataclass
class Predictions:
    """Out-of-sample predictions: ``frame`` has index ``date`` and columns prediction, target, fold."""

    frame: pd.DataFrame
    model: str = "lstm"
    folds: list[dict] = field(default_factory=list)  # per-fold dates, epochs and timings
    timings: dict = field(default_factory=dict)  # "train": seconds the run waited for folds to train

    @property
    def prediction(self) -> pd.Series:
        return self.frame["prediction"]

    def to_csv(self, path: str | Path) -> None:
        self.frame.reset_index().to_csv(path, index=False, float_format=FLOAT_FORMAT, date_format="%Y-%m-%d")

    @classmethod
    def read_csv(cls, path: str | Path) -> "Predictions":
        """Read a ``predictions.csv`` written by a run (columns date,prediction,target,fold)."""
        path = Path(path)
        if path.is_dir():
            path = path / "predictions.csv"
        if not path.exists():
            raise DataError(f"predictions file not found: {path}")
        try:
            frame = pd.read_csv(path, parse_dates=["date"], index_col="date")
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"{path}: not a predictions file ({str(exc).splitlines()[0]})") from None
        missing = {"prediction", "target", "fold"} - set(frame.columns)
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                            "expected date,prediction,target,fold")
        if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
            raise DataError(f"{path}: dates must be unique and increasing")
        return cls(frame[["prediction", "target", "fold"]])


@dataclass
class FoldData:
    """What one fold's forecaster may see: rows up to the end of its test range, nothing later."""

    fold: Fold
    features: np.ndarray  # raw features, rows [0, fold.test.stop)
    target: np.ndarray  # targets for the same rows; NaN where unknown
    lookback: int


def walk_forward_predict(prices: PriceData, config: Config, progress: Progress | None = None,
                         model: str | None = None, cache: Any = None, fold_dir: Path | None = None) -> Predictions:
    """Predict every out-of-sample day with the forecaster ``model`` (default ``config.model``).

    ``cache`` (a :class:`lstmtrade.cache.FoldCache`) skips folds trained before with the same rows and
    settings, and stores each new fold as soon as it finishes. LSTM folds train ``resolve_jobs`` at a
    time: in threads with the native engine, else in worker processes with one torch thread each.
    ``fold_dir`` receives each fold's predictions (``fold-NNN.csv``) as soon as the fold finishes, and
    its model (``fold-NNN.pt``) when ``config.save_models``; every file is written atomically.
    """
    model = model or config.model
    if progress is not None:
        progress = _serialised(progress)  # folds may report from several threads
    frame = prices.frame
    feats = build_features(frame, config.features)
    target = build_target(frame)
    first_row = warmup(config.features)
    lookback = config.lookback if model == "lstm" else 1
    splitter = WalkForward(config.min_train, config.retrain_every, config.train_window, config.lookback,
                           config.val_fraction if (model == "lstm" and config.early_stopping_active) else 0.0)
    folds = splitter.split(len(frame), first_row)
    x_all, y_all = feats.to_numpy(), target.to_numpy()
    if progress:
        progress({"event": "start", "folds": len(folds), "model": model,
                  "first_test": frame.index[folds[0].test.start], "n_test": folds[-1].test.stop - folds[0].test.start})
    datas = [FoldData(f, x_all[: f.test.stop], y_all[: f.test.stop], lookback) for f in folds]
    offset = folds[0].test.start
    preds = np.empty(folds[-1].test.stop - offset)
    fold_ids = np.empty(len(preds), dtype=np.int64)
    reports: dict[int, dict] = {}
    clock = {"train": 0.0}
    for fold, values, info, seconds in _timed(_fold_results(datas, config, model, progress, cache), clock):
        fitted = info.pop("_fitted", None)
        if fold_dir is not None:
            _save_fold(fold_dir, fold, frame.index, values, y_all, fitted, config, prices)
        preds[fold.test.start - offset: fold.test.stop - offset] = values
        fold_ids[fold.test.start - offset: fold.test.stop - offset] = fold.index
        reports[fold.index] = {"fold": fold.index, **_fold_dates(frame.index, fold), **info,
                               "seconds": round(seconds, 4)}
        if progress:
            from .stats import hit_rates  # the fold's hit rate and its base rate, for the fold's line

            progress({"event": "fold", "folds": len(folds), **reports[fold.index],
                      **hit_rates(values, y_all[fold.test.start: fold.test.stop])})
    index = frame.index[offset: folds[-1].test.stop]
    out = pd.DataFrame({"prediction": preds, "target": y_all[offset: folds[-1].test.stop], "fold": fold_ids},
                       index=index)
    return Predictions(out, model, [reports[k] for k in sorted(reports)], timings=clock)


def _timed(results, clock: dict):
    """``results``' items, adding to ``clock["train"]`` the wall time spent waiting for each fold that
    was trained rather than read from the cache (folds trained at once are counted once)."""
    results = iter(results)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(results)
        except StopIteration:
            return
        if not item[2].get("cached"):
            clock["train"] += time.perf_counter() - t0
        yield item


def _save_fold(folder: Path, fold: Fold, index: pd.DatetimeIndex, values: np.ndarray, target: np.ndarray,
               fitted: Any, config: Config, prices: PriceData) -> None:
    from .report import atomic_write

    folder.mkdir(parents=True, exist_ok=True)
    rows = np.asarray(fold.test)
    frame = pd.DataFrame({"prediction": values, "target": target[rows]}, index=index[rows].rename("date"))
    atomic_write(folder / f"fold-{fold.index:03d}.csv",
                 lambda tmp: frame.to_csv(tmp, float_format=FLOAT_FORMAT, date_format="%Y-%m-%d"))
    if fitted is not None:
        from .artifact import save_model

        save_model(folder / f"fold-{fold.index:03d}.pt", fitted, config, prices, index[(fold.val or fold.fit).stop - 1])


def _fold_results(datas: list[FoldData], config: Config, model: str, progress: Progress | None, cache: Any):
    """Yield ``(fold, predictions, info, seconds)`` for every fold: from the cache, or trained."""
    forecaster = FORECASTERS[model]
    engine = resolve_engine(config, model)
    jobs = resolve_jobs(config, engine, len(datas)) if model == "lstm" else 1
    threaded = engine == "native" and jobs > 1  # the C kernel releases the GIL: folds in threads
    parallel = model == "lstm" and jobs > 1 and not threaded
    fused = model == "lstm" and not parallel and engine == "fused"
    keys: dict[int, str] = {}
    hits: dict[int, tuple] = {}
    if cache is not None and model == "lstm":
        threads = 1 if parallel else (config.threads or cache.torch_threads())
        settings = {**config.to_dict(), "engine": engine}
        if engine == "native":
            from .native import kernel_id

            settings["kernel"] = kernel_id()
        for data in datas:
            keys[data.fold.index] = cache.key(settings, model, threads, data.fold, data.features, data.target)
            hit = cache.get(keys[data.fold.index])
            if hit is not None:
                hits[data.fold.index] = hit
    if fused and len(hits) < len(datas):
        hits = {}  # fused groups are fixed by fold number: retrain them all rather than regroup
    for data in datas:
        if data.fold.index in hits:
            values, info = hits[data.fold.index]
            yield data.fold, values, {**info, "cached": True}, 0.0
    todo = [data for data in datas if data.fold.index not in hits]
    if not todo:
        return

    def done(data: FoldData, values, info):
        if data.fold.index in keys:
            cache.put(keys[data.fold.index], values, {k: v for k, v in info.items() if not k.startswith("_")})
        return values, info

    if parallel:
        for data, values, info, seconds in _parallel(todo, config, jobs):
            yield (data.fold, *done(data, values, info), seconds)
        return
    state = forecaster.setup(config) if hasattr(forecaster, "setup") else None
    if threaded:
        for data, values, info, seconds in _threaded(todo, config, jobs, state, progress):
            yield (data.fold, *done(data, values, info), seconds)
        return
    if fused:
        # groups of folds trained at once; then one result per fold as it is predicted
        t0 = time.perf_counter()
        for data, (values, info, share) in zip(todo, _LSTM.fit_predict_all(todo, config, state, progress)):
            yield (data.fold, *done(data, values, info), share + time.perf_counter() - t0)
            t0 = time.perf_counter()
        return
    for data in todo:
        t0 = time.perf_counter()
        values, info = forecaster.fit_predict(data, config, state, progress)
        yield (data.fold, *done(data, values, info), time.perf_counter() - t0)


def _worker_fold(data: FoldData, config: Config):
    """One fold in a worker process (one torch thread, so workers don't fight over cores)."""
    t0 = time.perf_counter()
    state = _LSTM.setup(config.replace(threads=1))
    values, info = _LSTM.fit_predict(data, config, state, None)
    return values, info, time.perf_counter() - t0


def _parallel(datas: list[FoldData], config: Config, jobs: int):
    """Train folds in ``jobs`` processes, largest first; yield results as they finish."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's threads
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
    try:
        futures = {pool.submit(_worker_fold, data, config): data
                   for data in sorted(datas, key=lambda d: -len(d.fold.fit))}
        for future in as_completed(futures):
            values, info, seconds = future.result()
            yield futures[future], values, info, seconds
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _threaded(datas: list[FoldData], config: Config, jobs: int, state: Any, progress: Progress | None):
    """Train folds in ``jobs`` threads (native engine), largest first; yield results as they finish.

    Each fold's training is one single-threaded C call that releases the GIL, so threads run folds in
    parallel without new processes; a fold's result does not depend on which thread trained it.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    def one(data: FoldData):
        t0 = time.perf_counter()
        values, info = _LSTM.fit_predict(data, config, state, progress)
        return values, info, time.perf_counter() - t0

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="lstmtrade-fold")
    finished = False
    try:
        futures = {pool.submit(one, data): data for data in sorted(datas, key=lambda d: -len(d.fold.fit))}
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
    day = lambda i: str(index[i].date())  # noqa: E731
    out = {"fit_start": day(fold.fit.start), "fit_end": day(fold.fit.stop - 1),
           "test_start": day(fold.test.start), "test_end": day(fold.test.stop - 1),
           "n_fit": len(fold.fit), "n_val": len(fold.val), "n_test": len(fold.test)}
    if len(fold.val):
        out.update(val_start=day(fold.val.start), val_end=day(fold.val.stop - 1))
    return out


def _scaled(data: FoldData) -> tuple[np.ndarray, StandardScaler]:
    """Features scaled by a scaler fit on the rows that the fold's training windows touch, only."""
    fold, lookback = data.fold, data.lookback
    scaler = StandardScaler().fit(data.features[fold.fit.start - lookback + 1: fold.fit.stop])
    return scaler.transform(data.features), scaler


class _Zero:
    @staticmethod
    def fit_predict(data: FoldData, config: Config, state: Any, progress: Progress | None):
        return np.zeros(len(data.fold.test)), {}


class _Persistence:
    @staticmethod
    def fit_predict(data: FoldData, config: Config, state: Any, progress: Progress | None):
        rows = np.asarray(data.fold.test) - 2  # target of t-2: open(t-1) -> open(t), known at the open of t
        return data.target[rows], {}


class _Ridge:
    @staticmethod
    def fit_predict(data: FoldData, config: Config, state: Any, progress: Progress | None):
        fold = data.fold
        rows = np.asarray(fold.train)  # the LSTM's validation tail is training data for ridge
        x, _ = _scaled(FoldData(Fold(fold.index, fold.train, range(0), fold.test), data.features, data.target, 1))
        a, y = x[rows], data.target[rows]
        y_mean = y.mean()
        gram = a.T @ a + RIDGE_ALPHA * len(rows) * np.eye(a.shape[1])
        coef = np.linalg.solve(gram, a.T @ (y - y_mean))
        return x[np.asarray(fold.test)] @ coef + y_mean, {}


@dataclass
class FittedFold:
    """One fold's trained LSTM and the transforms fit on that fold's training rows only."""

    net: Any  # LSTMRegressor, in eval mode
    scaler: StandardScaler  # feature scaler
    y_mean: float  # target standardisation
    y_std: float
    lookback: int
    history: Any  # TrainHistory

    def predict(self, features: np.ndarray, rows: range | np.ndarray) -> np.ndarray:
        """Predicted returns for ``rows`` of the raw feature matrix (windows end at each row)."""
        import torch

        from .train import predict

        x = self.scaler.transform(features)
        device = next(self.net.parameters()).device
        windows_t = torch.from_numpy(windows(x, rows, self.lookback).astype(np.float32)).to(device)
        return predict(self.net, windows_t).double().cpu().numpy() * self.y_std + self.y_mean


def prepare_lstm_fold(data: FoldData, config: Config, device: Any):
    """A fold's scaled training tensors and its freshly initialised net (seeded per fold), untrained.

    Returns ``(net, x_fit, y_fit, x_val, y_val, scaler, y_mean, y_std, seed)``; shared by the loop and
    fused engines so both start each fold from the same weights and data.
    """
    import torch

    from .model import LSTMRegressor
    from .train import fold_seed

    fold, lookback = data.fold, data.lookback
    x, scaler = _scaled(data)
    y_fit = data.target[np.asarray(fold.fit)]
    y_mean, y_std = float(y_fit.mean()), float(y_fit.std()) or 1.0

    def tensors(rows: range):
        xs = torch.from_numpy(windows(x, rows, lookback).astype(np.float32)).to(device)
        ys = torch.from_numpy(((data.target[np.asarray(rows)] - y_mean) / y_std).astype(np.float32)).to(device)
        return xs, ys

    x_fit, y_fit_t = tensors(fold.fit)
    x_val, y_val = tensors(fold.val) if len(fold.val) else (None, None)
    seed = fold_seed(config.seed, fold.index)
    with _INIT_LOCK:  # torch's global generator: one fold's initialisation at a time across threads
        torch.manual_seed(seed)
        net = LSTMRegressor(x.shape[1], config.hidden, config.layers, config.dropout).to(device)
    return net, x_fit, y_fit_t, x_val, y_val, scaler, y_mean, y_std, seed


def fit_lstm_fold(data: FoldData, config: Config, device: Any = None, settings: Any = None,
                  on_epoch: Callable | None = None) -> FittedFold:
    """Train the LSTM of one fold on ``data.fold.fit`` (early stopping on ``data.fold.val``).

    Deterministic given the config's seed and the fold index: the same rows give the same model.
    Trained by :func:`lstmtrade.train.fit` with the native engine where :func:`resolve_engine` picks it,
    else the loop engine (``fused`` trains all folds at once, so a single fold uses the loop).
    """
    from .train import fit

    if device is None or settings is None:
        device, settings = _LSTM.setup(config)
    engine = "native" if resolve_engine(config, "lstm") == "native" else "loop"
    net, x_fit, y_fit_t, x_val, y_val, scaler, y_mean, y_std, seed = prepare_lstm_fold(data, config, device)
    history = fit(net, x_fit, y_fit_t, x_val, y_val, settings, seed, on_epoch, engine)
    return FittedFold(net, scaler, y_mean, y_std, data.lookback, history)


def resolve_engine(config: Config, model: str | None = None) -> str:
    """The engine that trains this config's LSTM folds: ``loop``, ``native`` or ``fused``.

    ``auto`` is ``native`` where the C kernel builds on this machine and supports the network (one LSTM
    layer, hidden size a multiple of 8, on the CPU), else ``loop``. On the reference workload of a
    2-core CPU the native engine measured about twice as fast as the loop per fold; the fused engine
    (all folds as one batched torch computation) measured slower than the loop there, so ``auto`` never
    picks it. Asking for ``native`` or ``fused`` with a config it cannot train raises ConfigError.
    """
    from .errors import ConfigError

    model = model or config.model
    if model != "lstm" or config.engine == "loop":
        return "loop"
    if config.engine == "fused":
        from .fused import unsupported

        why = unsupported(config.replace(model=model))
        if why:
            raise ConfigError(f"--engine fused: {why}; use --engine loop or auto")
        return "fused"
    from . import native

    why = native.unsupported(config.layers, config.hidden, _device_type(config.device)) or native.unavailable()
    if why is None:
        return "native"
    if config.engine == "native":
        raise ConfigError(f"--engine native: {why}; use --engine loop or auto")
    return "loop"


def resolve_jobs(config: Config, engine: str, folds: int | None = None) -> int:
    """How many folds train at once: ``config.jobs``, or for 0 one per CPU core with the native engine
    (threads cost nothing to start) and 1 otherwise (a worker process takes seconds to start)."""
    import os

    jobs = config.jobs
    if jobs == 0:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        jobs = cores if engine == "native" else 1
    return max(1, min(jobs, folds)) if folds else max(1, jobs)


def _device_type(name: str) -> str:
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


class _LSTM:
    @staticmethod
    def setup(config: Config):
        import torch

        from .train import TrainSettings, resolve_device, seed_everything

        seed_everything(config.seed)  # each fold still draws from its own generators (train.fold_seed)
        if config.threads:
            torch.set_num_threads(config.threads)
        settings = TrainSettings(config.epochs, config.batch_size, config.lr, config.loss,
                                 config.early_stopping_active, config.patience)
        return resolve_device(config.device), settings

    @staticmethod
    def fit_predict(data: FoldData, config: Config, state: Any, progress: Progress | None):
        device, settings = state
        fold = data.fold
        on_epoch = None
        if progress:
            on_epoch = lambda e, n, loss: progress({"event": "epoch", "fold": fold.index, "epoch": e,  # noqa: E731
                                                    "epochs": n, "loss": loss})
        fitted = fit_lstm_fold(data, config, device, settings, on_epoch)
        return fitted.predict(data.features, fold.test), _LSTM.info(fitted, config)

    @staticmethod
    def info(fitted: FittedFold, config: Config) -> dict:
        history = fitted.history
        info = {"epochs_run": history.epochs_run, "best_epoch": history.best_epoch}
        if history.val_loss:
            info["best_val_loss"] = round(min(history.val_loss), 6)
        if config.save_models:
            info["_fitted"] = fitted  # taken out and saved by walk_forward_predict, never cached
        return info

    @staticmethod
    def fit_predict_all(datas: list[FoldData], config: Config, state: Any, progress: Progress | None):
        """Fused engine: train every fold together, then yield ``(values, info, seconds share)`` per fold.

        Training happens before the first item is yielded. Each fold's seconds share is the fused training
        time split in proportion to its training rows; prediction time is added by the caller.
        """
        from .fused import fit_folds

        device, settings = state
        t0 = time.perf_counter()
        prepared = [prepare_lstm_fold(data, config, device) for data in datas]
        on_epoch = None
        if progress:
            last = datas[-1].fold.index
            on_epoch = lambda e, n, losses: progress({  # noqa: E731
                "event": "epoch", "fold": last, "epoch": e, "epochs": n,
                "loss": float(np.mean(losses)), "fused": len(datas)})
        nets = [p[0] for p in prepared]
        histories = fit_folds(nets, [p[1] for p in prepared], [p[2] for p in prepared], settings,
                              [p[8] for p in prepared], on_epoch)
        seconds = time.perf_counter() - t0
        rows = np.array([len(p[1]) for p in prepared], dtype=float)
        for data, p, history, share in zip(datas, prepared, histories, seconds * rows / rows.sum()):
            fitted = FittedFold(p[0], p[5], p[6], p[7], data.lookback, history)
            yield fitted.predict(data.features, data.fold.test), _LSTM.info(fitted, config), float(share)


FORECASTERS = {"lstm": _LSTM, "linear": _Ridge, "persistence": _Persistence, "zero": _Zero}
