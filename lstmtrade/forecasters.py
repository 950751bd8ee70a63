"""Forecasters: what one fold fits on its training rows and predicts for its test rows.

Every forecaster has one method, ``fit_predict(data, config, state, progress) -> (values, info)``,
where ``data`` is a :class:`FoldData` (the rows of every ticker that the fold may see) and ``values``
holds one prediction per test row, ticker by ticker in ``data.pieces`` order.

- ``lstm``: one :class:`~lstmtrade.model.LSTMRegressor` per fold, **pooled** over the tickers: the
  windows of every ticker's training rows train the same network. Features are scaled per ticker by a
  scaler fit on that ticker's training rows only (so each ticker's features are on its own scale, and
  a universe of one is exactly the single-ticker model); the label is standardised with the mean and
  standard deviation of all training labels.
- ``linear``: ridge regression on the per-ticker standardised features of day t, pooled.
- ``persistence``: the last realised target, open(t-1) -> open(t), known at the open of t.
- ``zero``: always 0 (a strategy on it stays flat).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .config import Config
from .features import StandardScaler, windows
from .splits import Fold

Progress = Callable[[dict], None]

_INIT_LOCK = threading.Lock()  # folds trained in threads initialise their nets one at a time
RIDGE_ALPHA = 1.0  # ridge penalty per training row, on standardised features


@dataclass
class Piece:
    """One ticker's share of a fold: its rows up to the end of its test range, nothing later.

    ``fit``, ``val`` and ``test`` are positions in this ticker's own rows (a ticker with missing
    sessions has fewer rows than the calendar); ``label`` is what the network is trained to predict
    (the target, or its cross-sectional rank), NaN where not known.
    """

    ticker: str
    features: np.ndarray  # (rows, F) raw features
    target: np.ndarray  # (rows,) open(t+1) -> open(t+2) return; NaN where unknown
    label: np.ndarray  # (rows,) training label
    fit: range
    val: range
    test: range


@dataclass
class FoldData:
    """What one fold's forecaster may see. Built with ``pieces`` for a universe; for one ticker,
    ``FoldData(fold, features, target, lookback)`` makes the single piece from the fold's own rows."""

    fold: Fold
    features: np.ndarray | None = None
    target: np.ndarray | None = None
    lookback: int = 1
    pieces: list[Piece] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.pieces:
            f = self.fold
            self.pieces = [Piece("", self.features, self.target, self.target, f.fit, f.val, f.test)]

    @property
    def n_test(self) -> int:
        return sum(len(p.test) for p in self.pieces)

    @property
    def n_fit(self) -> int:
        return sum(len(p.fit) for p in self.pieces)


def rows_of(span: range) -> np.ndarray:
    """A range of rows as an integer index array (an empty range too)."""
    return np.arange(span.start, span.stop, dtype=np.int64)


def _scaler(piece: Piece, lookback: int) -> StandardScaler:
    """Fit on the rows that the ticker's training windows touch, only."""
    return StandardScaler().fit(piece.features[piece.fit.start - lookback + 1: piece.fit.stop])


class Zero:
    @staticmethod
    def fit_predict(data: FoldData, config: Config, state: Any, progress: Progress | None):
        return np.zeros(data.n_test), {}


class Persistence:
    @staticmethod
    def fit_predict(data: FoldData, config: Config, state: Any, progress: Progress | None):
        # target of t-2: open(t-1) -> open(t), known at the open of t (rows of the ticker itself)
        return np.concatenate([p.target[rows_of(p.test) - 2] for p in data.pieces]), {}


class Ridge:
    @staticmethod
    def fit_predict(data: FoldData, config: Config, state: Any, progress: Progress | None):
        scaled = [_scaler(p, 1).transform(p.features) for p in data.pieces]
        a = np.concatenate([x[rows_of(p.fit)] for x, p in zip(scaled, data.pieces)])
        y = np.concatenate([p.label[rows_of(p.fit)] for p in data.pieces])
        y_mean = y.mean()
        gram = a.T @ a + RIDGE_ALPHA * len(y) * np.eye(a.shape[1])
        coef = np.linalg.solve(gram, a.T @ (y - y_mean))
        return np.concatenate([x[rows_of(p.test)] @ coef + y_mean for x, p in zip(scaled, data.pieces)]), {}


@dataclass
class FittedFold:
    """One fold's trained LSTM and the transforms fit on that fold's training rows only."""

    net: Any  # LSTMRegressor, in eval mode
    scaler: StandardScaler  # feature scaler (of the first ticker; the only one for a single ticker)
    y_mean: float  # label standardisation
    y_std: float
    lookback: int
    history: Any  # TrainHistory
    scalers: dict[str, StandardScaler] = field(default_factory=dict)  # per ticker, for a universe

    def predict(self, features: np.ndarray, rows: range | np.ndarray, ticker: str | None = None) -> np.ndarray:
        """Predicted returns for ``rows`` of one ticker's raw feature matrix (windows end at each row)."""
        import torch

        from .train import predict

        scaler = self.scalers.get(ticker, self.scaler) if ticker is not None else self.scaler
        x = scaler.transform(features)
        device = next(self.net.parameters()).device
        windows_t = torch.from_numpy(windows(x, rows, self.lookback).astype(np.float32)).to(device)
        return predict(self.net, windows_t).double().cpu().numpy() * self.y_std + self.y_mean

    def predict_fold(self, data: FoldData) -> np.ndarray:
        """Every test row of the fold, ticker by ticker (each ticker predicted on its own, so a row's
        prediction never depends on how many rows of other tickers are predicted with it)."""
        parts = [self.predict(p.features, p.test, p.ticker) for p in data.pieces if len(p.test)]
        return np.concatenate(parts) if parts else np.zeros(0)


@dataclass
class PreparedFold:
    """A fold's scaled training tensors and its freshly initialised (seeded) net, untrained."""

    net: Any
    x_fit: Any  # (N, T, F) float32 tensor, windows of every ticker's fit rows
    y_fit: Any  # (N,) standardised labels
    x_val: Any
    y_val: Any
    scalers: dict[str, StandardScaler]
    y_mean: float
    y_std: float
    seed: int

    def fitted(self, lookback: int, history: Any) -> FittedFold:
        first = next(iter(self.scalers.values()))
        return FittedFold(self.net, first, self.y_mean, self.y_std, lookback, history, dict(self.scalers))


def prepare_lstm_fold(data: FoldData, config: Config, device: Any) -> PreparedFold:
    """Shared by every engine so that each starts a fold from the same weights and data."""
    import torch

    from .model import LSTMRegressor
    from .train import fold_seed

    lookback = data.lookback
    labels = np.concatenate([p.label[rows_of(p.fit)] for p in data.pieces])
    y_mean, y_std = float(labels.mean()), float(labels.std()) or 1.0
    scalers, fit_x, fit_y, val_x, val_y = {}, [], [], [], []
    for p in data.pieces:
        scaler = scalers[p.ticker] = _scaler(p, lookback)
        x = scaler.transform(p.features)
        fit_x.append(windows(x, p.fit, lookback).astype(np.float32))
        fit_y.append(p.label[rows_of(p.fit)])
        if len(p.val):
            val_x.append(windows(x, p.val, lookback).astype(np.float32))
            val_y.append(p.label[rows_of(p.val)])

    def tensors(xs: list, ys: list):
        if not xs:
            return None, None
        x = xs[0] if len(xs) == 1 else np.concatenate(xs)
        y = ((np.concatenate(ys) - y_mean) / y_std).astype(np.float32)
        return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    x_fit, y_fit = tensors(fit_x, fit_y)
    x_val, y_val = tensors(val_x, val_y)
    seed = fold_seed(config.seed, data.fold.index)
    n_features = data.pieces[0].features.shape[1]
    with _INIT_LOCK:  # torch's global generator: one fold's initialisation at a time across threads
        torch.manual_seed(seed)
        net = LSTMRegressor(n_features, config.hidden, config.layers, config.dropout).to(device)
    return PreparedFold(net, x_fit, y_fit, x_val, y_val, scalers, y_mean, y_std, seed)


def fit_lstm_fold(data: FoldData, config: Config, device: Any = None, settings: Any = None,
                  on_epoch: Callable | None = None) -> FittedFold:
    """Train the LSTM of one fold on its fit rows (early stopping on its validation rows).

    Deterministic given the config's seed and the fold index: the same rows give the same model.
    Trained by :func:`lstmtrade.train.fit` with the native engine where :func:`resolve_engine` picks it,
    else the loop engine (``fused`` trains many folds at once, so a single fold uses the loop).
    """
    from .train import fit

    if device is None or settings is None:
        device, settings = LSTM.setup(config)
    engine = "native" if resolve_engine(config, "lstm") == "native" else "loop"
    p = prepare_lstm_fold(data, config, device)
    history = fit(p.net, p.x_fit, p.y_fit, p.x_val, p.y_val, settings, p.seed, on_epoch, engine)
    return p.fitted(data.lookback, history)


def resolve_engine(config: Config, model: str | None = None) -> str:
    """The engine that trains this config's LSTM folds: ``loop``, ``native`` or ``fused``.

    ``auto`` is ``native`` where the C kernel builds on this machine and supports the network (one LSTM
    layer, hidden size a multiple of 8, on the CPU), else ``loop``; on a CUDA device it is ``fused``
    where that engine applies (one layer, a fixed number of epochs), else ``loop``. On the reference workload of a
    2-core CPU the native engine measured about twice as fast as the loop per fold; the fused engine
    (all folds as one batched torch computation) measured slower than the loop there, so ``auto`` never
    picks it. Asking for ``native`` or ``fused`` with a config it cannot train raises ConfigError.
    """
    from .errors import ConfigError

    model = model or config.model
    if model != "lstm" or config.engine == "loop":
        return "loop"
    if config.engine == "auto" and device_type(config.device) == "cuda":
        from .fused import unsupported

        # measured on an H200: the fused engine took 9.1 s where the loop took 16.0 s (reference workload)
        return "loop" if unsupported(config.replace(model=model)) else "fused"
    if config.engine == "fused":
        from .fused import unsupported

        why = unsupported(config.replace(model=model))
        if why:
            raise ConfigError(f"--engine fused: {why}; use --engine loop or auto")
        return "fused"
    from . import native

    why = native.unsupported(config.layers, config.hidden, device_type(config.device)) or native.unavailable()
    if why is None:
        return "native"
    if config.engine == "native":
        raise ConfigError(f"--engine native: {why}; use --engine loop or auto")
    return "loop"


GPU_HIDDEN = 64  # from this many units, or with 2+ layers, --device auto trains on a GPU
GPU_TICKERS = 20  # a universe of this many tickers has enough windows per fold to keep a GPU busy


def choose_device(config: Config, tickers: int = 1) -> tuple[str, str]:
    """``(cpu | cuda, why)`` for ``--device auto``: the GPU only where it pays.

    Measured on an H200 machine with 16 cores: the default run (one layer of 32 units, one ticker) took
    7.2 s on CUDA (4 s of it CUDA start-up) against 3.7 s in the C kernel on the CPU, while a 2-layer,
    128-unit network with lookback 60 took 5.1 s on CUDA against 32.0 s on the CPU. So a small
    one-layer network stays on the CPU, and a bigger network or a pooled universe goes to the GPU.
    """
    if config.device != "auto":
        return config.device, "as asked"
    import torch

    if not torch.cuda.is_available():
        return "cpu", "no CUDA GPU here"
    if config.model != "lstm":
        return "cpu", f"the {config.model} baseline needs no GPU"
    big = config.layers > 1 or config.hidden >= GPU_HIDDEN
    if big or tickers >= GPU_TICKERS:
        what = (f"{config.layers} layers of {config.hidden} units" if big else f"{tickers} tickers pooled")
        return "cuda", f"{what}: the GPU's throughput pays for its start-up"
    return "cpu", (f"a one-layer {config.hidden}-unit network on {tickers} ticker(s) trains faster in the C "
                   "kernel on the CPU than on the GPU (CUDA start-up and per-step launches dominate)")


def device_type(name: str) -> str:
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


class LSTM:
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
        on_epoch = None
        if progress:
            index = data.fold.index
            on_epoch = lambda e, n, loss: progress({"event": "epoch", "fold": index, "epoch": e,  # noqa: E731
                                                    "epochs": n, "loss": loss})
        fitted = fit_lstm_fold(data, config, device, settings, on_epoch)
        return fitted.predict_fold(data), LSTM.info(fitted, config)

    @staticmethod
    def info(fitted: FittedFold, config: Config) -> dict:
        history = fitted.history
        info = {"epochs_run": history.epochs_run, "best_epoch": history.best_epoch}
        if history.val_loss:
            info["best_val_loss"] = round(min(history.val_loss), 6)
        if config.save_models:
            info["_fitted"] = fitted  # taken out and saved by the walk-forward, never cached
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
        histories = fit_folds([p.net for p in prepared], [p.x_fit for p in prepared],
                              [p.y_fit for p in prepared], settings, [p.seed for p in prepared], on_epoch)
        seconds = time.perf_counter() - t0
        rows = np.array([len(p.x_fit) for p in prepared], dtype=float)
        for data, p, history, share in zip(datas, prepared, histories, seconds * rows / rows.sum()):
            fitted = p.fitted(data.lookback, history)
            yield fitted.predict_fold(data), LSTM.info(fitted, config), float(share)


FORECASTERS = {"lstm": LSTM, "linear": Ridge, "persistence": Persistence, "zero": Zero}
