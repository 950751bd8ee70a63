"""Synthetic data shared by tests in several folders (importable: tests/ is on sys.path through conftest.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def fx_hours(weeks: int, start: str = "2021-01-03 22:00") -> pd.DatetimeIndex:
    """Hourly bars of a 24 h x 5 days market in UTC: Sunday 22:00 to Friday 21:00, every week."""
    first = pd.Timestamp(start)
    return pd.DatetimeIndex([first + pd.Timedelta(weeks=w, hours=h) for w in range(weeks) for h in range(120)])


def bars(close: np.ndarray, open_: np.ndarray, dates: pd.DatetimeIndex) -> pd.DataFrame:
    high = np.maximum(open_, close) * 1.005
    low = np.minimum(open_, close) * 0.995
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1e6}, index=dates)


def universe(n: int = 5, days: int = 120, oos: int = 60, seed: int = 0) -> tuple[dict, pd.DataFrame]:
    """``n`` random-walk tickers on one calendar; random forecasts on the last ``oos`` days."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=days)
    prices = {}
    for j in range(n):
        close = 20.0 * (1 + 0.3 * j) * np.exp(np.cumsum(rng.normal(0, 0.015, days)))
        prices[f"T{j}"] = bars(close, close * np.exp(rng.normal(0, 0.01, days)), dates)
    pred = pd.DataFrame(rng.normal(0, 0.01, (oos, n)), index=dates[-oos:], columns=list(prices))
    return prices, pred


def panel(n: int = 8, days: int = 500, seed: int = 0, gaps: bool = False) -> pd.DataFrame:
    """A long panel (Ticker, Date, OHLCV) of ``n`` random-walk tickers with varying volume, as a user's CSV holds
    it. ``gaps``: ticker T1 misses three sessions and T2 starts 150 days late."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-01", periods=days)
    parts = []
    for j in range(n):
        close = 30.0 * (1 + 0.2 * j) * np.exp(np.cumsum(rng.normal(0, 0.015, days)))
        open_ = close * np.exp(rng.normal(0, 0.006, days))
        frame = bars(close, open_, dates).assign(volume=rng.uniform(5e5, 2e6, days))
        if gaps and j == 1:
            frame = frame.drop(frame.index[[300, 301, 420]])
        if gaps and j == 2:
            frame = frame.iloc[150:]
        frame = frame.rename(columns=str.capitalize).rename_axis("Date").reset_index()
        parts.append(frame.assign(Ticker=f"T{j}"))
    return pd.concat(parts, ignore_index=True)
