"""Build the bundled intraday sample lstmtrade/samples/EURUSD_1H.csv.gz (``--data sample:EURUSD_1H``).

Source: the gym-anytrading 2.0.0 wheel (MIT licence, Copyright (c) 2019 Mohammad Amin Haghpanah), file
``gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv``: EUR/USD hourly ask bars for 2017, 6,225 rows,
columns ``Time,Open,High,Low,Close,Volume`` with day-first timestamps (``01.01.2017 22:00:00.000``). The
timestamps are UTC: the week opens Sunday 22:00 in winter and 21:00 in summer, 17:00 in New York.

The only change: ``Time`` becomes an ISO ``Date`` column (``2017-01-01 22:00:00``, still UTC, no zone), so the
sample reads without ``--date-format``. Prices and volumes are copied as text, unchanged. The wheel's licence
and the package's name, version and author (from its METADATA) go to samples/LICENSE-eurusd.txt.

Get the wheel and run from the repository root:

    pip download --no-deps gym-anytrading==2.0.0 -d /tmp/gat
    python scripts/make_intraday_sample.py /tmp/gat/gym_anytrading-2.0.0-py3-none-any.whl
"""
from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import pandas as pd

MEMBER = "gym_anytrading/datasets/data/FOREX_EURUSD_1H_ASK.csv"
DIST_INFO = "gym_anytrading-2.0.0.dist-info"
SOURCE_FORMAT = "%d.%m.%Y %H:%M:%S.%f"
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "lstmtrade" / "samples" / "EURUSD_1H.csv.gz"
LICENCE = ROOT / "lstmtrade" / "samples" / "LICENSE-eurusd.txt"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(MEMBER)
        licence = archive.read(f"{DIST_INFO}/LICENSE").decode("utf-8")
        metadata = archive.read(f"{DIST_INFO}/METADATA").decode("utf-8")
    frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)  # text as written
    if list(frame.columns) != ["Time", "Open", "High", "Low", "Close", "Volume"]:
        raise SystemExit(f"{MEMBER}: unexpected columns {list(frame.columns)}")
    times = pd.to_datetime(frame.pop("Time"), format=SOURCE_FORMAT)
    frame.insert(0, "Date", times.dt.strftime("%Y-%m-%d %H:%M:%S"))
    frame.to_csv(OUT, index=False, compression={"method": "gzip", "mtime": 0})
    fields = dict(line.split(": ", 1) for line in metadata.splitlines() if ": " in line)
    notice = (f"The EUR/USD hourly price data in EURUSD_1H.csv.gz is the file {MEMBER}\n"
              f"of the Python package {fields['Name']} {fields['Version']} (author {fields['Author']}, "
              f"licence {fields['License']}),\nas published on PyPI, shipped under this licence. lstmtrade changed "
              "only the layout of its timestamps\n(day-first 'Time' to ISO 'Date', both UTC); see "
              "scripts/make_intraday_sample.py.\n\n")
    LICENCE.write_text(notice + licence, encoding="utf-8")
    print(f"{len(frame)} rows, {frame['Date'].iloc[0]}..{frame['Date'].iloc[-1]} -> {OUT} "
          f"({OUT.stat().st_size / 1e3:.0f} kB); licence -> {LICENCE}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
