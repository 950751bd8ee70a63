"""Build the bundled samples in lstmtrade/samples/ from ../shared/data/wiki_stocks.csv.gz.

The source (Quandl WIKI Prices, public domain) has unadjusted Open/High/Low/Close/Volume and an
``Adj Close`` adjusted for splits and dividends. Per ticker we write a Yahoo-style CSV whose OHLC are
adjusted: factor = Adj Close / Close, rebased so the last bar's factor is 1, times each price. Volume
moves the other way at splits only: a day-to-day factor jump of more than 20 % is taken as a split,
its ratio rounded to the nearest simple fraction, and earlier volume multiplied by it.

Run from the repository root:  python scripts/make_samples.py [path/to/wiki_stocks.csv.gz]
"""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

TICKERS = ("AAPL", "IBM", "MSFT", "GOOG", "FB")
OUT = Path(__file__).resolve().parents[1] / "lstmtrade" / "samples"


def adjust(raw: pd.DataFrame) -> pd.DataFrame:
    factor = raw["Adj Close"] / raw["Close"]
    factor = factor / factor.iloc[-1]
    step = factor / factor.shift(1)  # > 1 after a split (older prices are divided by the ratio)
    split_ratio = pd.Series(1.0, index=raw.index)
    for i in np.flatnonzero((step - 1).abs().to_numpy() > 0.2):
        ratio = float(Fraction(1 / step.iloc[i]).limit_denominator(10))
        split_ratio.iloc[:i] *= ratio  # volume before the split, in post-split shares
    out = pd.DataFrame({"Date": raw["Date"]})
    for col in ("Open", "High", "Low", "Close"):
        out[col] = (raw[col] * factor).round(6)
    out["Volume"] = (raw["Volume"] * split_ratio).round().astype("int64")
    return out


def main(src: str) -> None:
    frame = pd.read_csv(src)
    OUT.mkdir(parents=True, exist_ok=True)
    for ticker in TICKERS:
        raw = frame[frame["Ticker"] == ticker].reset_index(drop=True)
        adjusted = adjust(raw)
        path = OUT / f"{ticker}.csv.gz"
        adjusted.to_csv(path, index=False, compression={"method": "gzip", "mtime": 0})
        print(f"{ticker}: {len(adjusted)} rows {adjusted['Date'].iloc[0]}..{adjusted['Date'].iloc[-1]} -> {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[2] / "shared/data/wiki_stocks.csv.gz"))
