"""Seed ensembles: several networks per fold, their mean as the forecast, their spread as its uncertainty.

An LSTM's backtest depends on its random seed far more than most users expect. With ``--seeds N`` every
fold trains N networks on the same rows; member ``m`` is trained with seed ``--seed + m`` (so member 0 is
the one-seed run, and member m equals a one-seed run with ``--seed S + m``, bit for bit). What comes out:

- the forecast traded is the members' mean, and ``uncertainty`` is their standard deviation (ddof 1: the
  spread another seed would show), both summed member by member in member order, so a row's values
  never depend on how many other rows there are (the look-ahead guarantee holds for the ensemble);
- each member is also traded alone through the same strategy and costs, and
  :func:`lstmtrade.evaluate.seeds.spread` summarises what those results would have been with another seed
  (mean, std, min, max across members); :func:`lstmtrade.evaluate.seeds.confidence_quintiles` answers "does
  the ensemble know when it is right?".

Baselines (zero, persistence, linear) are deterministic: they always have one member.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..config import Config


# ------------------------------------------------------------------------------------------ members
def n_members(config: Config, model: str | None = None) -> int:
    """Networks per fold: ``config.seeds`` for the LSTM, 1 for the deterministic baselines."""
    return config.seeds if (model or config.model) == "lstm" else 1


def member_seed(config: Config, member: int) -> int:
    return config.seed + member


def member_seeds(config: Config, model: str | None = None) -> list[int]:
    return [member_seed(config, m) for m in range(n_members(config, model))]


def member_config(config: Config, member: int) -> Config:
    """The one-seed config that trains member ``member``: the same settings with seed ``seed + member``."""
    if member == 0 and config.seeds == 1:
        return config
    return config.replace(seed=member_seed(config, member), seeds=1)


def combine(values: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise mean and standard deviation (ddof 1) of the members' predictions.

    Summed member by member in member order, so each row's result depends only on that row's member
    values. One member: its values and NaN.
    """
    stack = [np.asarray(v, dtype="float64") for v in values]
    total = stack[0].copy()
    for v in stack[1:]:
        total += v
    mean = total / len(stack)
    if len(stack) == 1:
        return mean, np.full_like(mean, np.nan)
    squares = np.zeros_like(mean)
    for v in stack:
        squares += (v - mean) ** 2
    return mean, np.sqrt(squares / (len(stack) - 1))


@dataclass
class FittedEnsemble:
    """One fold's members (each a :class:`~lstmtrade.forecast.folds.FittedFold`) trained on the same rows.

    The members share their scalers and label standardisation (fit on the rows, not on the seed); they
    differ only in their networks. ``predict`` is the members' mean, as traded.
    """

    members: list  # FittedFold, member order
    seeds: list[int]

    def __post_init__(self) -> None:
        first = self.members[0]
        for other in self.members[1:]:  # the scalers depend on the rows alone: the same for every member
            assert other.y_mean == first.y_mean and other.y_std == first.y_std and other.lookback == first.lookback

    # what a FittedFold offers, read from member 0 (the same for every member, except the net)
    scaler = property(lambda self: self.members[0].scaler)
    scalers = property(lambda self: self.members[0].scalers)
    y_mean = property(lambda self: self.members[0].y_mean)
    y_std = property(lambda self: self.members[0].y_std)
    lookback = property(lambda self: self.members[0].lookback)
    history = property(lambda self: self.members[0].history)

    def predict_members(self, features: np.ndarray, rows: Any, ticker: str | None = None) -> np.ndarray:
        """(members, rows): each member's predicted returns."""
        return np.stack([m.predict(features, rows, ticker) for m in self.members])

    def scaled_windows(self, features: np.ndarray, rows: Any, ticker: str | None = None) -> np.ndarray:
        return self.members[0].scaled_windows(features, rows, ticker)  # shared scalers: the same for every member

    def predict_windows_members(self, inputs: np.ndarray) -> np.ndarray:
        """(members, rows): each member's predicted returns for ready windows."""
        return np.stack([m.predict_windows(inputs) for m in self.members])

    def predict_with_uncertainty(self, features: np.ndarray, rows: Any,
                                 ticker: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        return combine(list(self.predict_members(features, rows, ticker)))

    def predict(self, features: np.ndarray, rows: Any, ticker: str | None = None) -> np.ndarray:
        return self.predict_with_uncertainty(features, rows, ticker)[0]
