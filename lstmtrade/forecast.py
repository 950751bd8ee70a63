"""Where the walk-forward's public names have always been importable from.

The work itself lives in three rooms: :mod:`lstmtrade.predictions` (the ``Predictions`` value),
:mod:`lstmtrade.forecasters` (what one fold fits and predicts: LSTM, ridge, persistence, zero) and
:mod:`lstmtrade.walkforward` (folds on the calendar, each ticker's rows, parallelism, cache, saving).
"""
from __future__ import annotations

from .forecasters import (FORECASTERS, LSTM, FittedFold, FoldData, Piece, PreparedFold, fit_lstm_fold,
                          prepare_lstm_fold, resolve_engine)
from .predictions import FLOAT_FORMAT, Predictions
from .walkforward import resolve_jobs, walk_forward_predict

_LSTM = LSTM  # the name signal.py and older notebooks used

__all__ = ["FORECASTERS", "FLOAT_FORMAT", "FittedFold", "FoldData", "LSTM", "Piece", "PreparedFold", "Predictions",
           "fit_lstm_fold", "prepare_lstm_fold", "resolve_engine", "resolve_jobs", "walk_forward_predict"]
