"""Parquet price files and panels, read with pyarrow (``pip install "lstmtrade[parquet]"``).

A Parquet file is one more way to hold the columns a CSV holds, and goes through the very same checks and
screening (:func:`lstmtrade.data.prices.read_source` hands its columns to the same parsers):

- only the columns lstmtrade uses are read (Date/Datetime/Timestamp/Time, Ticker/Symbol, Open, High, Low,
  Close, Adj Close, Volume; names matched as in a CSV header: any case, ``_`` or space), so a wide file of
  fundamentals beside the prices costs nothing;
- numbers stay the float64 values the file holds (a CSV's text is parsed to the correctly rounded float64,
  so the same bars in either format give the same forecasts, bit for bit), and a column stored as text is
  parsed as a CSV's is;
- dates may be timestamps, dates or text; timestamps with a zone follow the CSV convention
  (:mod:`lstmtrade.data.timestamps`: intraday bars to UTC, daily bars at local midnight keep their date).

A file is known as Parquet by its first bytes (``PAR1``), whatever its name. pyarrow is imported only when one
is read; without it the load stops with the install hint.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import ConfigError, DataError, first_line

MAGIC = b"PAR1"
SUFFIXES = (".parquet", ".pq")
WANTED = ("date", "datetime", "timestamp", "time", "ticker", "symbol", "open", "high", "low", "close",
          "adj close", "volume")


def is_parquet(path: Path) -> bool:
    """Whether ``path`` is a Parquet file (by its magic bytes)."""
    try:
        with Path(path).open("rb") as handle:
            return handle.read(4) == MAGIC
    except OSError:
        return False


def _pq():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError('reading Parquet needs pyarrow: pip install "lstmtrade[parquet]"') from None
    return pq


def _norm(name: str) -> str:
    return str(name).strip().lower().replace("_", " ")


def parquet_columns(path: Path) -> list[str]:
    """The column names in ``path``'s schema (nothing else is read)."""
    pq = _pq()
    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and others for a damaged file
        raise DataError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None


def read_parquet(path: Path, label: str) -> pd.DataFrame:
    """The columns lstmtrade uses, as a frame the CSV parsers take: numbers float64, dates as stored."""
    pq = _pq()
    keep = [name for name in parquet_columns(path) if _norm(name) in WANTED]
    try:
        table = pq.read_table(path, columns=keep)
    except Exception as exc:  # noqa: BLE001 - see parquet_columns
        raise DataError(f"{label}: not a readable Parquet file ({first_line(exc)})") from None
    frame = table.to_pandas(date_as_object=False)
    for name in frame.columns:
        if _norm(name) in WANTED[6:] and pd.api.types.is_numeric_dtype(frame[name]) \
                and not pd.api.types.is_bool_dtype(frame[name]):
            frame[name] = frame[name].astype("float64")
    if not len(frame.columns):
        raise DataError(f"{label}: no Date, Open, High, Low, Close or Volume column in this Parquet file")
    return frame

