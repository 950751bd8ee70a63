"""Causal features, the trading target, and the train-only scaler.

The named features are :data:`FEATURES`: the six defaults and ``ret5`` below, plus every member of the
``alpha`` set (:mod:`lstmtrade.features.alpha`). A set name in ``--features`` (``alpha``) stands for all its
members, in their order; :func:`expand` turns a list of names and set names into feature names.

Every window is counted in bars, whatever the bar size: ``vol20`` is the volatility of the last 20 bars
(20 days on daily data, 20 hours on hourly data), ``ret5`` the return over 5 bars, ``rsi14`` 14 bars.
``gap`` is the jump from the previous bar's close to this bar's open: overnight on daily bars, about zero
between hourly bars inside a session, and the jump over the break (a night, a weekend) on the first bar
after one.

Timing rule, in bars: features for bar t use rows <= t only (the close of t is known). The order placed
after that close fills at the open of bar t+1 and is held until the open of t+2, so the target for row t
is the open(t+1) -> open(t+2) return: the return the position actually earns. It reaches
``LABEL_REACH`` bars ahead, which is why the splitter purges that many rows between training labels and
test bars.
"""
from __future__ import annotations

import difflib
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .alpha import ALPHA

LABEL_REACH = 2  # the target of row t needs the open of t+2

FeatureFn = Callable[[pd.DataFrame], pd.Series]


def _logret(f: pd.DataFrame) -> pd.Series:
    return np.log(f["close"]).diff()


def _vol20(f: pd.DataFrame) -> pd.Series:
    return _logret(f).rolling(20).std()


def _range(f: pd.DataFrame) -> pd.Series:
    return np.log(f["high"] / f["low"])


def _gap(f: pd.DataFrame) -> pd.Series:
    return np.log(f["open"] / f["close"].shift(1))


def _ret5(f: pd.DataFrame) -> pd.Series:
    return np.log(f["close"]).diff(5)


def _volz(f: pd.DataFrame) -> pd.Series:
    logv = np.log1p(f["volume"])
    mean, std = logv.rolling(20).mean(), logv.rolling(20).std()
    z = (logv - mean) / std
    return z.where(std > 0, 0.0).where(std.notna())  # a constant-volume window scores 0


def _rsi14(f: pd.DataFrame) -> pd.Series:
    """Wilder's RSI over 14 bars, mapped from [0, 100] to [-0.5, 0.5]."""
    change = f["close"].diff()
    gain = change.clip(lower=0).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    loss = (-change.clip(upper=0)).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
    total = gain + loss
    return (gain / total.where(total > 0)).fillna(0.5).where(gain.notna()) - 0.5


# name -> (function, description, rows of warm-up before the first valid value)
FEATURES: dict[str, tuple[FeatureFn, str, int]] = {
    "logret": (_logret, "close-to-close log return", 1),
    "vol20": (_vol20, "20-bar realized volatility of logret", 20),
    "range": (_range, "the bar's range, log(high/low)", 0),
    "gap": (_gap, "gap from the previous close, log(open / previous close): overnight, or over a session break", 1),
    "ret5": (_ret5, "5-bar log return", 5),
    "volz": (_volz, "volume z-score against its 20-bar mean", 19),
    "rsi14": (_rsi14, "Wilder RSI(14), rescaled to [-0.5, 0.5]", 14),
}


FEATURES.update(ALPHA)
BASIC = ("logret", "vol20", "range", "gap", "ret5", "volz", "rsi14")  # the named features outside a set
SETS: dict[str, tuple[str, ...]] = {"alpha": tuple(ALPHA)}  # a set name stands for all its members


def expand(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Feature names with each set name replaced by its members (each feature once, first place kept)."""
    out: list[str] = []
    for name in names:
        for member in SETS.get(name, (name,)):
            if member not in out:
                out.append(member)
    return tuple(out)


def check_features(names: tuple[str, ...] | list[str]) -> None:
    for name in names:
        if name not in FEATURES and name not in SETS:
            close = difflib.get_close_matches(name, [*FEATURES, *SETS], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"--features: unknown feature '{name}'{hint}; available: {', '.join(BASIC)}, "
                              f"or the set alpha ({len(SETS['alpha'])} features; docs/features.md)")


def warmup(names: tuple[str, ...] | list[str]) -> int:
    """Index of the first row where every named feature is defined; independent of the data."""
    check_features(names)
    return max(FEATURES[name][2] for name in expand(names))


def build_features(frame: pd.DataFrame, names: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Feature matrix (one column per feature, sets expanded); rows before :func:`warmup` are NaN."""
    check_features(names)
    out = pd.DataFrame({name: FEATURES[name][0](frame) for name in expand(names)}, index=frame.index)
    return out.replace([np.inf, -np.inf], np.nan).astype("float64")


def build_features_many(frames: dict[str, pd.DataFrame], names: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    """:func:`build_features` for many tickers at once (``{ticker: frame}`` -> ``{ticker: matrix}``), bit for bit.

    Each ticker's rows become one column of a wide frame, bottom-aligned, with NaN above its first row, and
    the same feature functions run once on the wide frames instead of once per ticker (a universe's
    signal computes 250 tickers' features in a tenth of the time). The numbers are the same: every feature is
    elementwise, a difference or shift within the column, a rolling window or an exponential recursion, and
    the NaN rows above a column's first row enter no window and start no recursion, exactly as for a
    ticker's own series (tested bit for bit against :func:`build_features`).
    """
    check_features(names)
    names = expand(names)
    if any(name not in BASIC for name in names):  # the alpha set: ticker by ticker (not proved column-wise)
        return {t: build_features(f, names).to_numpy() for t, f in frames.items()}
    tickers = [t for t, f in frames.items() if len(f)]
    out = {t: np.zeros((0, len(names))) for t, f in frames.items() if not len(f)}
    if not tickers:
        return out
    rows = max(len(frames[t]) for t in tickers)
    wide = {}
    for column in ("open", "high", "low", "close", "volume"):
        block = np.full((rows, len(tickers)), np.nan)
        for j, ticker in enumerate(tickers):
            values = frames[ticker][column].to_numpy(dtype="float64")
            block[rows - len(values):, j] = values
        wide[column] = pd.DataFrame(block)
    columns = []
    for name in names:
        values = FEATURES[name][0](wide).to_numpy(dtype="float64")
        columns.append(np.where(np.isinf(values), np.nan, values))
    stacked = np.stack(columns, axis=2)  # (rows, tickers, features)
    for j, ticker in enumerate(tickers):
        out[ticker] = np.ascontiguousarray(stacked[rows - len(frames[ticker]):, j, :])
    return out


def build_target(frame: pd.DataFrame) -> pd.Series:
    """open(t+1) -> open(t+2) simple return; NaN for the last two rows (not yet known)."""
    opens = frame["open"]
    return (opens.shift(-2) / opens.shift(-1) - 1.0).rename("target")


class StandardScaler:
    """Column-wise standardisation, fit on training rows only (``fit`` never sees test rows)."""

    def fit(self, x: np.ndarray) -> "StandardScaler":
        x = np.asarray(x, dtype="float64")
        self.mean_ = x.mean(axis=0)
        scale = x.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.n_rows_ = len(x)
        return self

    @classmethod
    def identity(cls, n_features: int) -> "StandardScaler":
        """A scaler that leaves features as they are (features already normalised across tickers)."""
        out = cls()
        out.mean_, out.scale_, out.n_rows_ = np.zeros(n_features), np.ones(n_features), 0
        return out

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype="float64") - self.mean_) / self.scale_


def windows(x: np.ndarray, rows: np.ndarray | range, lookback: int) -> np.ndarray:
    """Input windows ending at each row: shape (len(rows), lookback, n_features)."""
    rows = np.asarray(rows, dtype=np.int64)
    view = np.lib.stride_tricks.sliding_window_view(x, lookback, axis=0)  # (n - L + 1, F, L)
    return np.ascontiguousarray(view[rows - lookback + 1].transpose(0, 2, 1))
