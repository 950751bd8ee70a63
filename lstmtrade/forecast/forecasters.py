"""Forecasters: what one fold fits on its training rows and predicts for its test rows.

Every forecaster has one method, ``fit_predict(data, config, state, progress) -> (values, info)``,
where ``data`` is a :class:`~lstmtrade.forecast.folds.FoldData` (the rows of every ticker that the fold may
see) and ``values`` holds one prediction per test row, ticker by ticker in ``data.pieces`` order.

- ``lstm``: :mod:`lstmtrade.forecast.lstm`, one network per fold pooled over the tickers.
- ``linear``: ridge regression on the per-ticker standardised features of day t, pooled.
- ``persistence``: the last realised target, open(t-1) -> open(t), known at the open of t.
- ``zero``: always 0 (a strategy on it stays flat).

A new forecaster is one class here (or a module of its own) and one line in :data:`FORECASTERS`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..config import Config, Progress
from .folds import FoldData, fit_scaler, rows_of
from .lstm import LSTM

RIDGE_ALPHA = 1.0  # ridge penalty per training row, on standardised features


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
        return np.concatenate([x[rows_of(p.test)] @ coef + y_mean for x, p in zip(scaled, data.pieces)]), {}



FORECASTERS = {"lstm": LSTM, "linear": Ridge, "persistence": Persistence, "zero": Zero}
