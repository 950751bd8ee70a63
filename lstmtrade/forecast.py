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

RIDGE_ALPHA = 1.0  # ridge penalty per training row, on standardised features


@dataclass
class Predictions:
    """Out-of-sample predictions: ``frame`` has index ``date`` and columns prediction, target, fold."""

    frame: pd.DataFrame
    model: str = "lstm"
    folds: list[dict] = field(default_factory=list)  # per-fold dates, epochs and timings

    @property
    def prediction(self) -> pd.Series:
        return self.frame["prediction"]

    def to_csv(self, path: str | Path) -> None:
        self.frame.reset_index().to_csv(path, index=False, float_format="%.10g", date_format="%Y-%m-%d")

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
                         model: str | None = None) -> Predictions:
    """Predict every out-of-sample day with the forecaster ``model`` (default ``config.model``)."""
    model = model or config.model
    frame = prices.frame
    feats = build_features(frame, config.features)
    target = build_target(frame)
    first_row = warmup(config.features)
    lookback = config.lookback if model == "lstm" else 1
    splitter = WalkForward(config.min_train, config.retrain_every, config.train_window, config.lookback,
                           config.val_fraction if (model == "lstm" and config.early_stopping_active) else 0.0)
    folds = splitter.split(len(frame), first_row)
    x_all, y_all = feats.to_numpy(), target.to_numpy()
    forecaster = FORECASTERS[model]
    state = forecaster.setup(config) if hasattr(forecaster, "setup") else None
    if progress:
        progress({"event": "start", "folds": len(folds), "model": model,
                  "first_test": frame.index[folds[0].test.start], "n_test": folds[-1].test.stop - folds[0].test.start})
    preds = np.empty(folds[-1].test.stop - folds[0].test.start)
    fold_ids = np.empty(len(preds), dtype=np.int64)
    reports = []
    offset = folds[0].test.start
    for fold in folds:
        t0 = time.perf_counter()
        data = FoldData(fold, x_all[: fold.test.stop], y_all[: fold.test.stop], lookback)
        values, info = forecaster.fit_predict(data, config, state, progress)
        preds[fold.test.start - offset: fold.test.stop - offset] = values
        fold_ids[fold.test.start - offset: fold.test.stop - offset] = fold.index
        report = {"fold": fold.index, **_fold_dates(frame.index, fold), **info,
                  "seconds": round(time.perf_counter() - t0, 4)}
        reports.append(report)
        if progress:
            progress({"event": "fold", "folds": len(folds), **report})
    index = frame.index[offset: folds[-1].test.stop]
    out = pd.DataFrame({"prediction": preds, "target": y_all[offset: folds[-1].test.stop], "fold": fold_ids},
                       index=index)
    return Predictions(out, model, reports)


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


def fit_lstm_fold(data: FoldData, config: Config, device: Any = None, settings: Any = None,
                  on_epoch: Callable | None = None) -> FittedFold:
    """Train the LSTM of one fold on ``data.fold.fit`` (early stopping on ``data.fold.val``).

    Deterministic given the config's seed and the fold index: the same rows give the same model.
    """
    import torch

    from .model import LSTMRegressor
    from .train import fit, fold_seed

    if device is None or settings is None:
        device, settings = _LSTM.setup(config)
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
    torch.manual_seed(seed)
    net = LSTMRegressor(x.shape[1], config.hidden, config.layers, config.dropout).to(device)
    history = fit(net, x_fit, y_fit_t, x_val, y_val, settings, seed, on_epoch)
    return FittedFold(net, scaler, y_mean, y_std, lookback, history)


class _LSTM:
    @staticmethod
    def setup(config: Config):
        import torch

        from .train import TrainSettings, resolve_device

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
        values = fitted.predict(data.features, fold.test)
        history = fitted.history
        info = {"epochs_run": history.epochs_run, "best_epoch": history.best_epoch}
        if history.val_loss:
            info["best_val_loss"] = round(min(history.val_loss), 6)
        return values, info


FORECASTERS = {"lstm": _LSTM, "linear": _Ridge, "persistence": _Persistence, "zero": _Zero}
