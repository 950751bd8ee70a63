"""The ``alpha`` feature set: price-volume features in the spirit of qlib's Alpha158, defined here.

Alpha158 describes each bar by its candle and by rolling statistics of price and volume over several
windows; gradient-boosted trees on it are the strongest traditional model on qlib's own benchmark tables.
This set follows the same idea with definitions of our own (one table in ``docs/features.md``):

- candle shape of bar t (no warm-up): body, length, upper and lower shadow, where the close sits;
- for each window w of 5, 10, 20 and 60 bars ending at t: the return over w bars, the moving average, the
  standard deviation and two quantiles of the close (each relative to today's close), where the close sits
  in the window's range, how many bars ago the highest high and the lowest low were, and the correlation of
  the close with log volume.

Every statistic uses bars t-w+1..t only (a rolling window ending at the close of t), so each feature is
causal; prices are divided by the close or open of t so that tickers on different price levels compare.
A flat window (a constant volume, a bar with high = low) gives a defined value (a correlation of 0, the
middle of the range) rather than a gap in the data.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

WINDOWS = (5, 10, 20, 60)
_FLAT = 1e-10  # a rolling standard deviation below this share of the level counts as no spread

Spec = tuple[Callable[[pd.DataFrame], pd.Series], str, int]


def _candle(kind: str) -> Callable[[pd.DataFrame], pd.Series]:
    def feature(f: pd.DataFrame) -> pd.Series:
        o, h, low, c = f["open"], f["high"], f["low"], f["close"]
        if kind == "kmid":
            return (c - o) / o
        if kind == "klen":
            return (h - low) / o
        if kind == "kup":
            return (h - np.maximum(o, c)) / o
        if kind == "klow":
            return (np.minimum(o, c) - low) / o
        return (2 * c - h - low) / o  # ksft
    return feature


def _roc(w: int):
    return lambda f: np.log(f["close"] / f["close"].shift(w))


def _ma(w: int):
    return lambda f: f["close"].rolling(w).mean() / f["close"] - 1


def _std(w: int):
    return lambda f: f["close"].rolling(w).std() / f["close"]


def _quantile(w: int, q: float):
    return lambda f: f["close"].rolling(w).quantile(q, interpolation="linear") / f["close"] - 1


def _rsv(w: int):
    def feature(f: pd.DataFrame) -> pd.Series:
        top, bottom = f["high"].rolling(w).max(), f["low"].rolling(w).min()
        span = top - bottom
        return ((f["close"] - bottom) / span.where(span > 0)).fillna(0.5).where(span.notna())
    return feature


def _bars_since(w: int, column: str, highest: bool):
    """Bars since the window's highest high (lowest low), over w: 0 = today, (w-1)/w = the oldest bar."""
    def feature(f: pd.DataFrame) -> pd.Series:
        x = f[column].to_numpy(dtype="float64")
        out = np.full(len(x), np.nan)
        if len(x) >= w:
            view = np.lib.stride_tricks.sliding_window_view(x, w)
            # the latest bar at the extreme: reverse each window so argmax/argmin finds the most recent one
            pick = np.argmax(view[:, ::-1], axis=1) if highest else np.argmin(view[:, ::-1], axis=1)
            out[w - 1:] = pick / w
        return pd.Series(out, index=f.index)
    return feature


def _corr(w: int):
    def feature(f: pd.DataFrame) -> pd.Series:
        close, logv = f["close"], np.log1p(f["volume"])
        r = close.rolling(w).corr(logv)
        sx, sy = close.rolling(w).std(), logv.rolling(w).std()
        flat = (sx <= _FLAT * close.abs()) | (sy <= _FLAT * (logv.abs() + 1.0))
        return r.where(~flat, 0.0).clip(-1.0, 1.0).where(sx.notna())
    return feature


def _build() -> dict[str, Spec]:
    specs: dict[str, Spec] = {
        "kmid": (_candle("kmid"), "candle body: (close - open) / open", 0),
        "klen": (_candle("klen"), "candle length: (high - low) / open", 0),
        "kup": (_candle("kup"), "upper shadow: (high - max(open, close)) / open", 0),
        "klow": (_candle("klow"), "lower shadow: (min(open, close) - low) / open", 0),
        "ksft": (_candle("ksft"), "where the close sits in the bar: (2 close - high - low) / open", 0),
    }
    for w in WINDOWS:
        specs.update({
            f"roc{w}": (_roc(w), f"log return over {w} bars: log(close / close {w} bars ago)", w),
            f"ma{w}": (_ma(w), f"mean close of the last {w} bars / close - 1", w - 1),
            f"std{w}": (_std(w), f"standard deviation of the last {w} closes / close", w - 1),
            f"qtlu{w}": (_quantile(w, 0.8), f"80 % quantile of the last {w} closes / close - 1", w - 1),
            f"qtld{w}": (_quantile(w, 0.2), f"20 % quantile of the last {w} closes / close - 1", w - 1),
            f"rsv{w}": (_rsv(w), f"(close - lowest low) / (highest high - lowest low) over {w} bars; 0.5 if flat",
                        w - 1),
            f"imax{w}": (_bars_since(w, "high", True), f"bars since the highest high of the last {w}, / {w}",
                         w - 1),
            f"imin{w}": (_bars_since(w, "low", False), f"bars since the lowest low of the last {w}, / {w}",
                         w - 1),
            f"corr{w}": (_corr(w), f"correlation of close and log(1 + volume) over {w} bars; 0 if one is flat",
                         w - 1),
        })
    return specs


ALPHA: dict[str, Spec] = _build()  # name -> (function, description, rows of warm-up)
