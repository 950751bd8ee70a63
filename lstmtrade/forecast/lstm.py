"""The LSTM forecaster: one :class:`~lstmtrade.forecast.model.LSTMRegressor` per fold, **pooled** over the tickers.

The windows of every ticker's training rows train the same network. Features are scaled per ticker by a
scaler fit on that ticker's training rows only (so each ticker's features are on its own scale, and a
universe of one is exactly the single-ticker model); the label is standardised with the mean and standard
deviation of all training labels. Every engine starts a fold from :func:`prepare_lstm_fold`, so the same
rows and seed give the same starting weights whichever engine trains them.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..config import Config, Progress
from ..features import StandardScaler
from ..features import windows as whole_windows
from .engines import resolve_engine
from .folds import FoldData, fit_scaler, rows_of
from .windows import Windows, scaled_windows

_INIT_LOCK = threading.Lock()  # folds trained in threads initialise their nets one at a time


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
        """Predicted returns for ``rows`` of one ticker's raw feature matrix (windows end at each row).

        Only the rows those windows touch are scaled, and each chunk's windows are gathered from them as it
        is predicted (:class:`~lstmtrade.forecast.windows.Windows`): the same floats as whole windows."""
        import torch

        from .train import predict

        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return np.zeros(0)
        scaler = self.scalers.get(ticker, self.scaler) if ticker is not None else self.scaler
        x, (starts,) = scaled_windows(features, scaler, [rows], self.lookback)
        device = next(self.net.parameters()).device
        windows = Windows(torch.from_numpy(x).to(device), torch.from_numpy(starts).to(device), self.lookback)
        return predict(self.net, windows).double().cpu().numpy() * self.y_std + self.y_mean

    def scaled_windows(self, features: np.ndarray, rows: range | np.ndarray, ticker: str | None = None) -> np.ndarray:
        """The network's float32 inputs for ``rows`` as whole windows, the ticker's features through its own scaler
        (a signal's last windows: a few per ticker, stacked across tickers by :mod:`lstmtrade.live.universe`)."""
        scaler = self.scalers.get(ticker, self.scaler) if ticker is not None else self.scaler
        return whole_windows(scaler.transform(features), rows, self.lookback).astype(np.float32)

    def predict_windows(self, inputs: np.ndarray) -> np.ndarray:
        """Predicted returns for ready windows (N, lookback, F), in the fixed-size chunks of
        :func:`~lstmtrade.forecast.train.predict` (windows of several tickers may share a chunk: each row is
        computed on its own, whatever sits beside it)."""
        import torch

        from .train import predict

        device = next(self.net.parameters()).device
        return predict(self.net, torch.from_numpy(inputs).to(device)).double().cpu().numpy() * self.y_std + self.y_mean

    def predict_fold(self, data: FoldData) -> np.ndarray:
        """Every test row of the fold, ticker by ticker (each ticker predicted on its own, so a row's
        prediction never depends on how many rows of other tickers are predicted with it)."""
        parts = [self.predict(p.features, p.test, p.ticker) for p in data.pieces if len(p.test)]
        return np.concatenate(parts) if parts else np.zeros(0)


@dataclass
class PreparedFold:
    """A fold's scaled training windows and its freshly initialised (seeded) net, untrained."""

    net: Any
    x_fit: Windows  # (N, T, F) windows of every ticker's fit rows, gathered batch by batch
    y_fit: Any  # (N,) standardised labels
    x_val: Windows | None  # validation windows over the same matrix
    y_val: Any
    scalers: dict[str, StandardScaler]
    y_mean: float
    y_std: float
    seed: int

    def fitted(self, lookback: int, history: Any) -> FittedFold:
        first = next(iter(self.scalers.values()))
        return FittedFold(self.net, first, self.y_mean, self.y_std, lookback, history, dict(self.scalers))


def prepare_lstm_fold(data: FoldData, config: Config, device: Any) -> PreparedFold:
    """Shared by every engine so that each starts a fold from the same weights and data.

    Each ticker's scaled features are kept once, as float32 rows of one matrix (only the rows its windows
    touch); the fit and validation windows are start rows into it (:class:`~lstmtrade.forecast.windows.Windows`),
    so memory grows with rows x features, not rows x lookback x features.
    """
    import torch

    from .model import LSTMRegressor
    from .train import fold_seed

    lookback = data.lookback
    labels = np.concatenate([p.label[rows_of(p.fit)] for p in data.pieces])
    y_mean, y_std = float(labels.mean()), float(labels.std()) or 1.0
    del labels
    scalers, parts, fit_starts, val_starts, fit_y, val_y, offset = {}, [], [], [], [], [], 0
    for p in data.pieces:
        scaler = scalers[p.ticker] = fit_scaler(p, lookback)
        x, (fit, val) = scaled_windows(p.features, scaler, [p.fit, p.val], lookback)
        parts.append(x)
        fit_starts.append(fit + offset)
        fit_y.append(p.label[rows_of(p.fit)])
        if len(p.val):
            val_starts.append(val + offset)
            val_y.append(p.label[rows_of(p.val)])
        offset += len(x)
    matrix = torch.from_numpy(parts[0] if len(parts) == 1 else np.concatenate(parts)).to(device)
    del parts

    def tensors(starts: list, ys: list):
        if not starts:
            return None, None
        y = ((np.concatenate(ys) - y_mean) / y_std).astype(np.float32)
        return (Windows(matrix, torch.from_numpy(np.concatenate(starts)).to(device), lookback),
                torch.from_numpy(y).to(device))

    x_fit, y_fit = tensors(fit_starts, fit_y)
    x_val, y_val = tensors(val_starts, val_y)
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
    Trained by :func:`lstmtrade.forecast.train.fit` with the native engine where :func:`resolve_engine` picks it,
    else the loop engine (``fused`` trains many folds at once, so a single fold uses the loop).
    """
    from .train import fit

    if device is None or settings is None:
        device, settings = LSTM.setup(config)
    engine = "native" if resolve_engine(config, "lstm") == "native" else "loop"
    p = prepare_lstm_fold(data, config, device)
    history = fit(p.net, p.x_fit, p.y_fit, p.x_val, p.y_val, settings, p.seed, on_epoch, engine)
    return p.fitted(data.lookback, history)


class LSTM:
    @staticmethod
    def setup(config: Config):
        import torch

        from .engines import resolve_device
        from .train import TrainSettings, seed_everything

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
            number = data.fold.number
            on_epoch = lambda e, n, loss: progress({"event": "epoch", "fold": number, "epoch": e,  # noqa: E731
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
            last = datas[-1].fold.number
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
