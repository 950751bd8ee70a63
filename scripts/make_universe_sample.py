"""Build the bundled universe sample lstmtrade/samples/SP500.csv.gz (``--data sample:SP500``).

Source: ../shared/data/sp500_2013_2018_dev.csv.gz, 252 S&P 500 members of early 2018, daily 2013-02-08..2018-02-07
(IEX prices via Cam Nugent's ``all_stocks_5yr``, MIT licence; its notice ships as samples/LICENSE-sp500.txt;
"Data provided for free by IEX").

Selection rule (deterministic): the first 50 tickers in alphabetical order, plus the 10 tickers in ``FAULTY``,
which carry the kinds of fault that the first 50 lack, so the sample exercises every rule of lstmtrade.data.screen.
Rows are copied as text, unchanged and uncleaned (faults included), sorted by Ticker then Date.

Run from the repository root:  python scripts/make_universe_sample.py [path/to/sp500_2013_2018_dev.csv.gz]
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

FIRST = 50
FAULTY = (
    "DHR",  # missing values, open outside [low, high], sessions missing inside its history
    "DISCK",  # unadjusted 2:1 split on 2014-08-07
    "ES",  # ten sessions missing in March 2015, a missing open
    "FTV",  # starts late (2016-07-01) with a first row that lacks open/high/low
    "GOOG",  # starts late (2014-03-27)
    "MRK",  # single bad print on 2017-09-14
    "NI",  # unadjusted spin-off on 2015-07-02 (-63 %)
    "O",  # missing values, bad OHLC rows, a bad print, missing sessions
    "TDG",  # unadjusted special dividend on 2013-07-11
    "XL",  # low of 5.40 against a close of 36.79 on 2015-08-24
)
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "lstmtrade" / "samples" / "SP500.csv.gz"


def main(src: str) -> None:
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)  # text as written: empty fields stay empty
    tickers = sorted(frame["Ticker"].unique())
    chosen = sorted(set(tickers[:FIRST]) | set(FAULTY))
    missing = set(FAULTY) - set(tickers)
    if missing:
        raise SystemExit(f"not in {src}: {', '.join(sorted(missing))}")
    sample = frame[frame["Ticker"].isin(chosen)].sort_values(["Ticker", "Date"], kind="stable")
    sample.to_csv(OUT, index=False, compression={"method": "gzip", "mtime": 0})
    print(f"{len(chosen)} tickers, {len(sample)} rows, {sample['Date'].min()}..{sample['Date'].max()} -> {OUT} "
          f"({OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT.parent / "shared/data/sp500_2013_2018_dev.csv.gz"))
