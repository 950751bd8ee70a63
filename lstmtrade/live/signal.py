"""Trading signals for tomorrow: train one model on all history, save it, and turn it into a target weight.

Parity with the backtest: for data ending at bar ``T`` (position ``n - 1``), :func:`train_final` trains
exactly as the walk-forward fold whose first test day is ``T`` would be trained: the same features,
the same fit/validation rows and purge (``WalkForward.fold_at``), the same scaler fit on those rows
only, and the same fold index ``k = (T - s0) // retrain_every`` (so the same per-fold seed), through
:func:`~lstmtrade.forecast.lstm.fit_lstm_fold`. When ``T`` is the first test day of backtest fold ``k``, the
prediction for ``T`` equals the backtest's prediction for ``T``, bit for bit.

A seed ensemble (``--seeds N``) trains its N members the same way (member m with seed ``seed + m``), so
the signal is the members' mean and its ``uncertainty`` their standard deviation, exactly as the
backtest's ``prediction`` and ``uncertainty`` columns.

Timing (as in the backtest): the prediction for day T uses data up to T's close and forecasts the
open(T+1) -> open(T+2) return; the target weight is meant to be traded at the next session's open.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..backtesting.engine import check_params, strategy_params
from ..backtesting.loader import convert_param, resolve_strategy
from ..backtesting.strategy import PredictionStrategy, takes_uncertainty
from ..config import Config, Progress, check_max_age
from ..data.bars import next_bar
from ..data.prices import PriceData, frame_sha256
from ..errors import ConfigError, DataError, ModelFileError, StrategyError
from ..features import build_features, build_target, warmup
from ..forecast.artifact import LoadedModel, build_metadata, load_model, save_model
from ..forecast.ensemble import FittedEnsemble, combine, member_config, member_seeds
from ..forecast.folds import FoldData
from ..forecast.lstm import LSTM, fit_lstm_fold
from ..formatting import stamp, stamper
from ..splits import Fold, WalkForward


@dataclass
class TrainedModel:
    """What :func:`train_final` (one ticker) or :func:`~lstmtrade.live.universe.train_universe` returns: the
    fitted fold plus what it was trained on and its forecasts for the last date."""

    fitted: Any  # FittedFold or FittedEnsemble
    config: Config
    prices: Any  # PriceData, or a Universe
    fold: Fold
    train_end: pd.Timestamp  # the last date of the data (T); the model is as of T's close
    prediction: float  # one ticker: the prediction for T, made with the freshly trained model (NaN: a universe)
    forecasts: pd.DataFrame = field(default_factory=pd.DataFrame)  # ticker, prediction, uncertainty for T
    extra: dict[str, Any] = field(default_factory=dict)  # more metadata for the file (input ranges, ...)

    @property
    def calendar(self) -> pd.DatetimeIndex:
        return self.prices.frame.index if hasattr(self.prices, "frame") else self.prices.calendar

    def fold_info(self) -> dict[str, Any]:
        index = self.calendar
        show = stamper(index)
        day = lambda i: show(index[i])
        info = {"fold": self.fold.number, "fit_start": day(self.fold.fit.start), "fit_end": day(self.fold.fit.stop - 1),
                "n_fit": len(self.fold.fit), "n_val": len(self.fold.val)}
        if len(self.fold.val):
            info.update(val_start=day(self.fold.val.start), val_end=day(self.fold.val.stop - 1))
        history = self.fitted.history
        if history is not None:
            info.update(epochs_run=history.epochs_run, best_epoch=history.best_epoch)
        return info

    def metadata_extra(self) -> dict[str, Any]:
        return {**self.extra, "training": {**self.fold_info(), **self.extra.get("training", {})}}

    def save(self, path: str | Path) -> Path:
        return save_model(path, self.fitted, self.config, self.prices, self.train_end, extra=self.metadata_extra())

    def as_loaded(self) -> LoadedModel:
        """The same model as :func:`~lstmtrade.forecast.artifact.load_model` would return it, without a file."""
        meta = build_metadata(self.fitted, self.config, self.prices, self.train_end, extra=self.metadata_extra())
        return LoadedModel(None, meta, self.config, self.fitted)


def past_retraining(past: int, end: Any, retrain_every: int) -> list[str]:
    """The warning for a model used ``past`` bars after its training ``end``, when the backtest would have
    retrained it by then (one ticker's signal and a universe's say it alike)."""
    if past <= retrain_every:
        return []
    text = (f"the data runs {past} bars past the model's training end ({stamp(end)}); the backtest retrains "
            f"every {retrain_every} bars: consider `lstmtrade train`")
    return [text]


def final_fold(n_bars: int, config: Config, scheduled: bool = False) -> Fold:
    """The fold geometry the backtest would use for a fold whose first test day is the last bar.

    With ``scheduled``, the fold the backtest's schedule is actually using on the last bar: the latest
    fold, trained at its scheduled retrain date, so the signal equals the backtest's prediction on every
    day of that fold (the last backtested day included).
    """
    first_row = warmup(config.features)
    s0 = first_row + config.min_train
    last = n_bars - 1
    if last < s0:
        raise DataError(f"too little history to train: {n_bars} bars, but {s0 + 1} are needed "
                        f"({first_row} warm-up + {config.min_train} --min-train + 1)")
    splitter = WalkForward(config.min_train, config.retrain_every, config.train_window, config.lookback,
                           config.val_fraction if config.early_stopping_active else 0.0)
    k = (last - s0) // config.retrain_every
    start = s0 + k * config.retrain_every if scheduled else last
    return splitter.fold_at(k, start, first_row + config.lookback - 1, n_bars)


def fit_final(data: FoldData, config: Config, progress: Progress | None = None) -> Any:
    """Train the fold's LSTM, or its N seed-ensemble members (member m with seed ``seed + m``), each exactly as
    the backtest trains that fold (:func:`~lstmtrade.forecast.lstm.fit_lstm_fold`)."""
    if config.model != "lstm":
        raise ConfigError(f"--model {config.model}: train saves LSTM models only (use --model lstm)")
    device, settings = LSTM.setup(config)
    fold = data.fold

    def hook(member: int | None):
        if progress is None:
            return None
        extra = {} if member is None else {"member": member}
        return lambda e, total, loss: progress({"event": "epoch", "fold": fold.number, "epoch": e,
                                                 "epochs": total, "loss": loss, **extra})

    if config.backend == "ray":  # each member a Ray task, trained as here (epochs are not reported back)
        from ..forecast.engines import resolve_engine
        from ..forecast.parallel import members_on_ray

        members = members_on_ray(data, [member_config(config, m) for m in range(config.seeds)],
                                 resolve_engine(config), config)
        return members[0] if config.seeds == 1 else FittedEnsemble(members, member_seeds(config))
    if config.seeds == 1:
        return fit_lstm_fold(data, config, device, settings, hook(None))
    members = [fit_lstm_fold(data, member_config(config, m), device, settings, hook(m)) for m in range(config.seeds)]
    return FittedEnsemble(members, member_seeds(config))


def input_ranges(fitted: Any, data: FoldData) -> dict[str, Any]:
    """Each feature's 1st and 99th percentile over the fit rows (through each ticker's own scaler), and the
    share of the validation rows' values outside them: the usual share for data the model did not fit. The
    paper record compares live inputs with it ("inputs unlike training")."""
    fit, val = [], []
    for p in data.pieces:
        scaler = fitted.scalers.get(p.ticker, fitted.scaler) if p.ticker else fitted.scaler
        x = scaler.transform(p.features)
        fit.append(x[p.fit.start:p.fit.stop])
        val.append(x[p.val.start:p.val.stop])
    fit_x, val_x = np.concatenate(fit), np.concatenate(val)
    low, high = np.nanpercentile(fit_x, 1, axis=0), np.nanpercentile(fit_x, 99, axis=0)
    basis, rows = ("validation rows", val_x) if len(val_x) else ("fit rows (no validation rows)", fit_x)
    outside = ((rows < low) | (rows > high)).sum()
    return {"low": [float(v) for v in low], "high": [float(v) for v in high],
            "usual_outside": float(outside / rows.size) if rows.size else None, "usual_basis": basis,
            "usual_values": int(rows.size)}


def train_final(prices: PriceData, config: Config, progress: Progress | None = None,
                scheduled: bool = False) -> TrainedModel:
    """Train the configured LSTM on all of ``prices`` as the backtest fold starting at its last bar would be
    (``scheduled``: as the backtest's latest scheduled fold was; see :func:`final_fold`)."""
    if config.model != "lstm":
        raise ConfigError(f"--model {config.model}: train saves LSTM models only (use --model lstm)")
    if config.xs_norm != "none":
        raise ConfigError(f"--xs-norm {config.xs_norm} normalises features across the tickers of a universe; a "
                          "saved model is one ticker's (use --xs-norm none)")
    frame = prices.frame
    n = len(frame)
    fold = final_fold(n, config, scheduled)
    features = build_features(frame, config.features).to_numpy()
    target = build_target(frame).to_numpy()
    data = FoldData(fold, features, target, config.lookback)
    if progress:
        index = frame.index
        progress({"event": "train", "rows": n, "last_date": index[-1], "fit_start": index[fold.fit.start],
                  "fit_end": index[fold.fit.stop - 1], "n_fit": len(fold.fit), "n_val": len(fold.val),
                  "fold": fold.number})
    fitted = fit_final(data, config, progress)
    prediction = float(fitted.predict(features, [n - 1])[0])
    forecasts = pd.DataFrame({"ticker": [prices.name], "prediction": [prediction]})
    return TrainedModel(fitted, config, prices, fold, frame.index[-1], prediction, forecasts,
                        {"inputs": input_ranges(fitted, data)})


# ------------------------------------------------------------------------------------------ signal
def resolve_weight_rule(config: Config, strategy: str | type | None = None, params: dict[str, Any] | None = None,
                        universe: bool = False) -> tuple[type, dict[str, Any]]:
    """Strategy class and typed params: the model's own strategy by default, else ``strategy`` (a portfolio rule
    for a ``universe`` model)."""
    if strategy is None:
        cls, typed = resolve_strategy(config, None, universe=universe)
    else:
        cls, typed = resolve_strategy(config.replace(params={}), strategy, universe=universe)
    if params:
        check_params(cls, dict(params))
        defaults = strategy_params(cls)
        typed.update({name: convert_param(name, value, defaults[name]) for name, value in params.items()})
    return cls, typed


def target_weight(cls: type, params: dict[str, Any], prediction: float, uncertainty: float = math.nan) -> float:
    """``cls.target_weight`` evaluated without Backtrader, clipped like the backtest clips it (with the
    seed ensemble's ``uncertainty`` for a rule whose ``target_weight`` takes it)."""
    from types import SimpleNamespace

    own_init = cls.__init__ is not PredictionStrategy.__init__
    own_next = cls.next is not PredictionStrategy.next
    if own_init or own_next:
        what = "builds indicators in __init__" if own_init else "overrides next()"
        raise StrategyError(f"{cls.__name__} {what}: `lstmtrade signal` supports only strategies whose "
                            "position comes from target_weight(prediction) alone")
    p = SimpleNamespace(**{**strategy_params(cls), **params})
    shim = SimpleNamespace(p=p, params=p, weight_limit=cls.weight_limit)
    try:
        if takes_uncertainty(cls.target_weight):
            weight = float(cls.target_weight(shim, prediction, uncertainty))
        else:
            weight = float(cls.target_weight(shim, prediction))
    except AttributeError as exc:
        raise StrategyError(f"{cls.__name__}.target_weight uses more than its params ({exc}): "
                            "`lstmtrade signal` supports only target_weight(prediction)-based strategies") from None
    if not math.isfinite(weight):
        raise StrategyError(f"{cls.__name__}.target_weight returned {weight} for prediction {prediction}")
    return max(-cls.weight_limit, min(cls.weight_limit, weight))


def as_model(model: LoadedModel | TrainedModel | str | Path) -> LoadedModel:
    """A loaded model from a file path, a :class:`TrainedModel` in memory, or itself."""
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, TrainedModel):
        return model.as_loaded()
    return load_model(model)


def check_age(loaded: LoadedModel, max_age_days: float | None, now: _dt.datetime | None = None) -> None:
    """Refuse a model created more than ``max_age_days`` days ago (``--max-age``)."""
    if max_age_days is None:
        return
    check_max_age(max_age_days)
    age = loaded.age_days(now)
    if age > max_age_days:
        raise ModelFileError(f"{loaded.path or 'model'}: the model is {age:.1f} days old (created "
                             f"{loaded.metadata['created_at']}), older than --max-age {max_age_days:g}; "
                             "retrain it with `lstmtrade train`")


def check_end(loaded: LoadedModel, last_date: pd.Timestamp, source: str) -> None:
    """Refuse data that ends before the model's training data did."""
    if last_date < loaded.train_end:
        raise DataError(f"{source}: the data ends {stamp(last_date)}, before the model's training data "
                        f"ends ({stamp(loaded.train_end)}); give data up to at least {stamp(loaded.train_end)}")


def signal(model: LoadedModel | TrainedModel | str | Path, prices: PriceData, strategy: str | type | None = None,
           params: dict[str, Any] | None = None, *, max_age_days: float | None = None,
           now: _dt.datetime | None = None) -> dict[str, Any]:
    """Tomorrow's signal: the prediction for the data's last day and the strategy's target weight."""
    loaded = as_model(model)
    check_age(loaded, max_age_days, now)
    frame = prices.frame
    check_end(loaded, frame.index[-1], prices.source)
    train_end = loaded.train_end
    date, prediction = loaded.predict_last(prices)
    members = loaded.predict_members_last(prices)
    uncertainty = float(combine(list(members[:, None]))[1][0]) if len(members) > 1 else math.nan
    cls, typed = resolve_weight_rule(loaded.config, strategy, params)
    weight = target_weight(cls, typed, prediction, uncertainty)
    warnings = list(prices.warnings)
    trained = loaded.metadata.get("data", {})
    first = pd.Timestamp(trained["first_date"]) if trained.get("first_date") else None
    same = None
    if first is not None and first >= frame.index[0]:
        same = frame_sha256(frame.loc[first:train_end]) == trained.get("sha256")
        if not same:
            warnings.append(f"the data up to {stamp(train_end)} differs from the data the model was trained on "
                            "(another source, or prices re-adjusted since)")
    warnings += past_retraining(int((frame.index > train_end).sum()), train_end, loaded.config.retrain_every)
    bars = prices.bars
    show = stamper(frame.index)
    due = next_bar(frame.index)
    return {
        "last_date": show(date),
        "next_session": f"next trading day after {show(date)}" if not bars.intraday else f"next bar after {show(date)}",
        "next_weekday": next_weekday(date),
        "next_bar": show(due),  # when the bar the target weight is traded at is due, by the data's own calendar
        "bar": bars.label,
        "prediction": prediction,
        "uncertainty": uncertainty if len(members) > 1 else None,
        "members": ([{"seed": seed, "prediction": float(v)} for seed, v in zip(loaded.seeds, members)]
                    if len(members) > 1 else None),
        "target_weight": weight,
        "position": "long" if weight > 0 else "short" if weight < 0 else "flat",
        "strategy": cls.__name__,
        "params": typed,
        "model": str(loaded.path) if loaded.path else None,
        "model_created": loaded.metadata.get("created_at"),
        "model_age_days": round(loaded.age_days(now), 3),
        "train_end": stamp(train_end),
        "train_data_sha256": trained.get("sha256"),
        "train_data_source": trained.get("source"),
        "data_source": prices.source,
        "data_sha256": prices.sha256,
        "data_matches_training": same,
        "timing": "prediction uses data up to the close of the bar at last_date and forecasts the open(+1) -> "
                  "open(+2) return; trade target_weight at the open of the next bar (next_bar)",
        "warnings": warnings,
    }


def next_weekday(day: pd.Timestamp) -> str:
    """The next Monday-to-Friday date (ignores holidays): a hint, not a calendar."""
    return str((pd.Timestamp(day) + pd.offsets.BDay(1)).date())


__all__ = [
    "TrainedModel",
    "as_model",
    "check_age",
    "check_end",
    "final_fold",
    "fit_final",
    "input_ranges",
    "next_weekday",
    "resolve_weight_rule",
    "signal",
    "target_weight",
    "train_final",
]
