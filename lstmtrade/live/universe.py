"""A universe's pooled model out of the backtest: trained as the fold starting at the last date, then tomorrow's
forecast for every ticker the model knows.

Parity with the backtest: :func:`train_universe` lays the universe out exactly as the walk-forward does
(:mod:`lstmtrade.forecast.folds`: the union calendar, each ticker's features, targets and label timing, the
fold whose first test day is the last date, each ticker's rows in it and the tickers with too few of them left
out), and trains it through the same :func:`~lstmtrade.live.signal.fit_final` (same rows, per-ticker scalers,
label scale and per-fold seed). :func:`forecasts` then predicts each ticker's last window through its own
scaler, in the same fixed-size chunks as the backtest, so for a fold's first test day T the forecasts equal
the backtest's predictions for T bit for bit. Screening is the data loader's (:mod:`lstmtrade.data.screen`):
per ticker and future-blind, so data through T screened today decides exactly what the backtest's did.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config import Config, Progress
from ..data.panel import Universe
from ..errors import ConfigError, DataError
from ..features import build_features_many, warmup
from ..forecast.artifact import LoadedModel, check_bar_size
from ..forecast.ensemble import combine
from ..forecast.folds import MIN_TICKER_ROWS, FoldData, calendar_of, fold_pieces, frames_of, ticker_series
from ..formatting import stamp
from ..splits import MIN_FIT_ROWS
from .signal import TrainedModel, final_fold, fit_final, input_ranges


def train_universe(universe: Universe, config: Config, progress: Progress | None = None,
                   scheduled: bool = False) -> TrainedModel:
    """Train the pooled LSTM (or ``config.seeds`` members) on ``universe`` as the backtest's fold starting at the
    calendar's last date would be (``scheduled``: the backtest's latest scheduled fold)."""
    if config.model != "lstm":
        raise ConfigError(f"--model {config.model}: train saves LSTM models only (use --model lstm)")
    if config.xs_norm != "none":  # signal scales each ticker's features on its own: it would not match
        raise ConfigError(f"--xs-norm {config.xs_norm}: a saved model does not carry the normalisation across "
                          "tickers that `signal` would need (use --xs-norm none)")
    frames, _ = frames_of(universe)
    calendar = calendar_of(frames)
    series = ticker_series(frames, calendar, config, True)
    fold = final_fold(len(calendar), config, scheduled)
    pieces = fold_pieces(fold, series, warmup(config.features) + config.lookback - 1)
    data = FoldData(fold, lookback=config.lookback, pieces=pieces)
    if not pieces or data.n_fit < MIN_FIT_ROWS:
        raise DataError(f"{universe.source}: no ticker has {MIN_TICKER_ROWS} training rows before "
                        f"{stamp(calendar[-1])}; lower --min-train or add history")
    trained = {p.ticker for p in pieces}
    left_out = {s.ticker: f"too few training rows (fewer than {MIN_TICKER_ROWS}) in the fold ending "
                          f"{stamp(calendar[-1])}" for s in series if s.ticker not in trained}
    if progress:
        progress({"event": "train", "rows": len(calendar), "last_date": calendar[-1],
                  "fit_start": calendar[fold.fit.start], "fit_end": calendar[fold.fit.stop - 1],
                  "n_fit": data.n_fit, "n_val": sum(len(p.val) for p in pieces), "fold": fold.number,
                  "tickers": len(pieces)})
    fitted = fit_final(data, config, progress)
    rows = []
    for p in pieces:  # the last date's forecast for the tickers with a bar on it
        if len(p.test) and frames[p.ticker].index[p.test.stop - 1] == calendar[-1]:
            rows.append((p.ticker, p.features, p.test.stop - 1))
    table = _predict(fitted, [(t, f, [r]) for t, f, r in rows])
    extra = {"inputs": input_ranges(fitted, data), "training": {"tickers": len(pieces), "left_out": left_out}}
    return TrainedModel(fitted, config, universe, fold, calendar[-1], float("nan"), table, extra)


def _predict(fitted: Any, rows: list[tuple[str, np.ndarray, list[int]]]) -> pd.DataFrame:
    """ticker, prediction[, uncertainty] for one row per ticker: every ticker's window through its own scaler,
    stacked into the backtest's fixed-size chunks (each row computed on its own)."""
    if not rows:
        return pd.DataFrame({"ticker": pd.Series([], dtype=object), "prediction": pd.Series([], dtype="float64")})
    inputs = np.concatenate([fitted.scaled_windows(features, r, ticker) for ticker, features, r in rows])
    tickers = [ticker for ticker, _, _ in rows]
    if hasattr(fitted, "predict_windows_members"):
        members = fitted.predict_windows_members(inputs)
        mean, spread = combine(list(members))
        out = pd.DataFrame({"ticker": tickers, "prediction": mean, "uncertainty": spread})
        for m in range(len(members)):
            out[f"member_{m}"] = members[m]
        return out
    return pd.DataFrame({"ticker": tickers, "prediction": fitted.predict_windows(inputs)})


@dataclass
class Forecasts:
    """Tomorrow's forecasts for a universe: one row per ticker with a forecast, and why the others have none."""

    date: pd.Timestamp  # the data's last date: forecasts are made after its close
    table: pd.DataFrame  # ticker, prediction[, uncertainty, member_<m>]
    excluded: list[dict[str, str]]  # {"ticker", "reason"}
    inputs: dict[str, Any] = field(default_factory=dict)  # share of today's scaled features outside training's range


def forecasts(model: LoadedModel, universe: Universe) -> Forecasts:
    """The model's forecast after the last date's close for every ticker that has a bar on it, passed
    screening and is known to the model; every other ticker of the data or the model, with its reason."""
    if not model.is_universe:
        raise DataError(f"{universe.source}: a universe, but the model was trained on one ticker "
                        f"({model.metadata.get('data', {}).get('name')}); give that ticker's data")
    calendar = universe.calendar
    date = calendar[-1]
    check_bar_size(universe, model.bar)
    known = set(model.tickers)
    report = universe.report.set_index("ticker")
    trained = model.metadata.get("training", {}).get("left_out", {})
    excluded, rows = [], []
    usable = [t for t in report.index if t in universe.prices and t in known
              and universe.prices[t].frame.index[-1] == date]
    matrices = build_features_many({t: universe.prices[t].frame for t in usable}, model.features)
    for ticker in report.index:
        frame = universe.prices[ticker].frame if ticker in universe.prices else None
        status, issue = report.loc[ticker, "status"], report.loc[ticker, "issue"]
        if frame is None or frame.index[-1] != date:
            last = f"last bar {stamp(frame.index[-1])}" if frame is not None else "no usable rows"
            why = f"; screening: {issue}" if status != "used" and issue else ""
            excluded.append({"ticker": ticker, "reason": f"no bar on {stamp(date)} ({last}){why}"})
        elif ticker not in known:
            why = trained.get(ticker) or "not in its training data"
            excluded.append({"ticker": ticker, "reason": f"unknown to the model: {why}"})
        else:
            features = matrices[ticker]
            window = features[len(frame) - model.lookback:]
            if len(frame) < model.lookback or not np.isfinite(window).all():
                excluded.append({"ticker": ticker, "reason": f"too little history for the features on {stamp(date)} "
                                 f"({len(frame)} bars; {model.lookback} bars of complete features needed)"})
            else:
                rows.append((ticker, features, [len(frame) - 1]))
    for ticker in sorted(known - set(report.index)):
        excluded.append({"ticker": ticker, "reason": "not in the data (the model knows it)"})
    table = _predict(model.fitted, rows)
    return Forecasts(date, table, excluded, _inputs_outside(model, rows))


def _inputs_outside(model: LoadedModel, rows: list) -> dict[str, Any]:
    """How many of today's scaled feature values lie outside the training 1st-99th percentiles."""
    ranges = model.metadata.get("inputs")
    if not ranges or not rows:
        return {}
    low, high = np.asarray(ranges["low"]), np.asarray(ranges["high"])
    x = np.stack([model.fitted.scalers.get(t, model.fitted.scaler).transform(f[r[-1]]) for t, f, r in rows])
    return {"outside": int(((x < low) | (x > high)).sum()), "values": int(x.size)}


__all__ = ["train_universe", "forecasts", "Forecasts"]
