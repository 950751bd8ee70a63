"""Forecasters: what one fold fits on its training rows and predicts for its test rows.

Every forecaster has one method, ``fit_predict(data, config, state, progress) -> (values, info)``,
where ``data`` is a :class:`~lstmtrade.forecast.folds.FoldData` (the rows of every ticker that the fold may
see) and ``values`` holds one prediction per test row, ticker by ticker in ``data.pieces`` order.

- ``lstm``: :mod:`lstmtrade.forecast.lstm`, one network per fold pooled over the tickers.
- ``linear``: ridge regression on the per-ticker standardised features of day t, pooled.
- ``persistence``: the last realised target, open(t-1) -> open(t), known at the open of t.
- ``zero``: always 0 (a strategy on it stays flat).
- ``lightgbm``: :mod:`lstmtrade.forecast.boosting`, gradient-boosted trees on the LSTM's own flattened windows.
- ``reversal``: minus the close-to-close return of day t, ``-(close(t) / close(t-1) - 1)``.
- ``momentum``: the 12-1 month return, ``close(t-21) / close(t-252) - 1`` (NaN, no forecast, before 252 bars).

The two rules read each ticker's raw close (``Piece.close``) up to row t only, counted in the ticker's own
bars; they fit nothing, so the training rows do not matter to them.

A new forecaster is one class here (or a module of its own) and one line in :data:`FORECASTERS`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..config import Config, Progress
from ..errors import ConfigError
from .boosting import LightGBM
from .folds import FoldData, Piece, fit_scaler, rows_of
from .lstm import LSTM

RIDGE_ALPHA = 1.0  # ridge penalty per training row, on standardised features
MOMENTUM_SKIP, MOMENTUM_LOOK = 21, 252  # 12-1 months in trading days: close(t-21) / close(t-252) - 1


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
        scaled = [fit_scaler(p, 1).transform(p.features) for p in data.pieces]
        a = np.concatenate([x[rows_of(p.fit)] for x, p in zip(scaled, data.pieces)])
        y = np.concatenate([p.label[rows_of(p.fit)] for p in data.pieces])
        y_mean = y.mean()
        gram = a.T @ a + RIDGE_ALPHA * len(y) * np.eye(a.shape[1])
        coef = np.linalg.solve(gram, a.T @ (y - y_mean))
        # row by row (a product and a sum along each row), not one matrix product: BLAS may round a row
        # differently with the number of rows around it, and data appended after T must not move T's forecast
        return np.concatenate([(x[rows_of(p.test)] * coef).sum(axis=1) + y_mean
                               for x, p in zip(scaled, data.pieces)]), {}


def _closes(p: Piece, name: str) -> np.ndarray:
    if p.close is None:
        raise ConfigError(f"the {name} baseline needs each ticker's prices; build its FoldData with close=")
    return p.close


def _lagged(close: np.ndarray, rows: np.ndarray, lag: int) -> np.ndarray:
    """close[rows - lag], NaN where that row is before the ticker's first."""
    out = np.full(len(rows), np.nan)
    ok = rows - lag >= 0
    out[ok] = close[rows[ok] - lag]
    return out


def _factor(data: FoldData, name: str, signal: Any) -> tuple[np.ndarray, dict]:
    """A price factor's forecasts for every test row of the fold: ``signal(close, rows)`` ticker by ticker."""
    parts = [signal(_closes(p, name), rows_of(p.test)) for p in data.pieces]
    return (np.concatenate(parts) if parts else np.zeros(0)), {}


class Reversal:
    """Short-term reversal: yesterday's losers bounce, so the forecast is minus the day's return."""

    @staticmethod
    def fit_predict(data: FoldData, config: Config, state: Any, progress: Progress | None):
        return _factor(data, "reversal", lambda close, rows: -(close[rows] / _lagged(close, rows, 1) - 1.0))


class Momentum:
    """12-1 month momentum: the return from a year ago to a month ago (the last month left out)."""

    @staticmethod
    def fit_predict(data: FoldData, config: Config, state: Any, progress: Progress | None):
        return _factor(data, "momentum", lambda close, rows: _lagged(close, rows, MOMENTUM_SKIP)
                       / _lagged(close, rows, MOMENTUM_LOOK) - 1.0)


FORECASTERS = {"lstm": LSTM, "linear": Ridge, "persistence": Persistence, "zero": Zero, "lightgbm": LightGBM,
               "reversal": Reversal, "momentum": Momentum}
WINDOWED = ("lstm", "lightgbm")  # forecasters that read windows of config.lookback bars and stop early
