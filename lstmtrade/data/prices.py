"""Loading and validating prices of any bar size: the one place input is checked.

Every :class:`PriceData` guarantees: a tz-naive, strictly increasing, unique ``DatetimeIndex`` named
``date`` (daily bars at midnight; intraday bars at their time, UTC when the file gave a zone: see
:mod:`lstmtrade.data.timestamps`); float columns ``open, high, low, close, volume``; prices finite and
> 0; ``low <= open, close <= high``; volume finite and >= 0. Later stages trust this and check nothing.
Its bar size and calendar (:attr:`PriceData.bars`) are read from the index by :mod:`lstmtrade.data.bars`;
missing bars inside a session are reported as a warning and never filled.

Sources: a Yahoo-style CSV (``Date,Open,High,Low,Close[,Adj Close],Volume``, names case-insensitive,
plain or gzip; ``Date`` may hold times, and ``date_format`` reads other layouts), a Parquet file with those
columns (:mod:`lstmtrade.data.parquet`, read through the same checks) or a bundled sample,
``sample:MSFT`` (also AAPL, IBM, GOOG, FB): Quandl WIKI Prices (public domain), split- and
dividend-adjusted by ``scripts/make_samples.py``; ``sample:EURUSD_1H``: EUR/USD hourly bars of 2017 (UTC)
from the gym-anytrading 2.0.0 wheel (MIT, ``samples/LICENSE-eurusd.txt``; ``scripts/make_intraday_sample.py``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, first_line
from ..files import exact_numbers
from ..formatting import stamp
from .bars import BarSpec, detect_bars
from .parquet import MAGIC as PARQUET_MAGIC
from .parquet import read_parquet
from .timestamps import BadTimestamp, parse_timestamps

COLUMNS = ("open", "high", "low", "close", "volume")
SAMPLES = ("AAPL", "IBM", "MSFT", "GOOG", "FB", "EURUSD_1H")
UNIVERSE_SAMPLES = ("SP500",)  # sample:SP500 -> samples/SP500.csv.gz, read by lstmtrade.data.panel
DEFAULT_SAMPLE = "MSFT"
JUMP_WARNING = 0.5  # a close-to-close move larger than this is flagged as a possible unadjusted split


@dataclass(frozen=True)
class PriceData:
    """Validated OHLCV bars (any bar size) plus where they came from."""

    frame: pd.DataFrame  # index: date; columns: open, high, low, close, volume (float64)
    source: str  # "sample:MSFT" or the file path as given
    name: str  # ticker or file stem, used in titles and folder names
    warnings: tuple[str, ...] = field(default=())

    @cached_property
    def sha256(self) -> str:
        """Hash of the validated rows, independent of file formatting."""
        return frame_sha256(self.frame)

    def __len__(self) -> int:
        return len(self.frame)

    @cached_property
    def bars(self) -> BarSpec:
        """Bar size, calendar and periods per year detected from the index (:func:`lstmtrade.data.bars.detect_bars`)."""
        return detect_bars(self.frame.index)

    def slice(self, start: str | None = None, end: str | None = None) -> "PriceData":
        """Rows from ``start`` to ``end`` inclusive; refuses dates outside the data or in the wrong order."""
        first, last = self.frame.index[0], self.frame.index[-1]
        lo = parse_bound(start, "--start") if start else first
        hi = parse_bound(end, "--end", end=True) if end else last
        span = f"{self.source} covers {stamp(first)}..{stamp(last)}"
        if start and end and lo > hi:
            raise DataError(f"--start {show_bound(lo)} is after --end {show_bound(hi)}; swap them")
        if lo > last:
            raise DataError(f"--start {show_bound(lo)} is after the data's last date ({span})")
        if hi < first:
            raise DataError(f"--end {show_bound(hi)} is before the data's first date ({span})")
        frame = self.frame.loc[lo:hi]
        if frame.empty:
            raise DataError(f"no bars from {show_bound(lo)} to {show_bound(hi)} ({span}); widen --start/--end")
        return PriceData(frame, self.source, self.name, self.warnings)


def frame_sha256(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(frame.index.asi8.tobytes())
    digest.update(np.ascontiguousarray(frame[list(COLUMNS)].to_numpy(dtype="float64")).tobytes())
    return digest.hexdigest()


def load_prices(source: str | Path | pd.DataFrame | None = None, *, start: str | None = None,
                end: str | None = None, name: str | None = None, date_format: str | None = None) -> PriceData:
    """Load and validate bars from a CSV path, ``sample:TICKER``, a DataFrame, or None (bundled MSFT).

    ``date_format``: a ``strptime`` layout of the Date column (``'%d.%m.%Y %H:%M:%S.%f'``); None reads ISO 8601
    dates and timestamps. ``--end`` given as a date keeps every bar of that day.
    """
    if source is None:
        source = f"sample:{DEFAULT_SAMPLE}"
    raw, label, stem = read_source(source, SAMPLES, "sample", "samples", name)
    data = validate_raw(raw, label, stem, None if label.startswith("sample:") else date_format)
    return data.slice(start, end) if (start or end) else data


def read_source(source: str | Path | pd.DataFrame, samples: tuple[str, ...], kind: str, kinds: str,
                name: str | None = None) -> tuple[pd.DataFrame, str, str]:
    """``(text columns, label, name)`` of a DataFrame, a bundled sample or a CSV file: the one dispatch behind
    :func:`load_prices` and :func:`lstmtrade.data.panel.load_universe` (a folder is the panel's own).

    ``sample:KEY`` must name one of ``samples`` (else "unknown {kind} 'KEY'; bundled {kinds}: ..."); its label is
    ``sample:KEY`` and its name KEY. A file's label is its path as given and its name the file's stem."""
    if isinstance(source, pd.DataFrame):
        raw = source.rename_axis("date").reset_index() if _has_date_index(source) else source
        return raw.astype(str), "DataFrame", name or "data"  # one parsing path for frames and files
    text = str(source)
    if text.lower().startswith("sample:"):
        key = text.split(":", 1)[1].upper()
        if key not in samples:
            raise DataError(f"unknown {kind} '{key}'; bundled: {', '.join(SAMPLES)} (one ticker each), "
                            f"{', '.join(UNIVERSE_SAMPLES)} (a universe); `lstmtrade data list` describes them")
        return read_sample(key, text), f"sample:{key}", name or key
    return read_file(Path(text)), text, name or stem_of(Path(text))


def read_sample(key: str, label: str) -> pd.DataFrame:
    """The raw text columns of the bundled ``samples/<key>.csv.gz``."""
    handle = resources.files("lstmtrade").joinpath("samples", f"{key}.csv.gz")
    with handle.open("rb") as stream:
        return _read_csv(io.BytesIO(stream.read()), label, compression="gzip")


def stem_of(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".csv", ".txt", ".parquet", ".pq"):
        stem = stem[: -len(suffix)] if stem.lower().endswith(suffix) else stem
    return stem or "data"


def _has_date_index(frame: pd.DataFrame) -> bool:
    return isinstance(frame.index, pd.DatetimeIndex)


def read_file(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        raise DataError(f"data path is a folder, not a CSV file: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"data file is empty: {path}")
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise DataError(f"cannot read data file {path}: {exc.strerror or exc}") from None
    if head[:4] == PARQUET_MAGIC:
        return read_parquet(path, str(path))
    compression = "gzip" if head[:2] == b"\x1f\x8b" else None
    if compression is None:
        kind = _binary_kind(head)
        if kind:
            raise DataError(f"{path}: not a CSV text file: {kind}")
    return _read_csv(path, str(path), compression=compression)


_SIGNATURES = (
    (b"\x89PNG", "it is a PNG image"),
    (b"\xff\xd8\xff", "it is a JPEG image"),
    (b"GIF8", "it is a GIF image"),
    (b"%PDF", "it is a PDF document"),
    (b"PK\x03\x04", "it is a zip archive or an .xlsx workbook; export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0", "it is an .xls workbook; export the sheet as CSV"),
    (b"\xff\xfe", "it is UTF-16 text; save it as UTF-8"),
    (b"\xfe\xff", "it is UTF-16 text; save it as UTF-8"),
)


def _binary_kind(head: bytes) -> str | None:
    """Why the first bytes of a file cannot be CSV text, or None when they might be."""
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return f"it holds binary data (a NUL byte at offset {head.index(0)})"
    return None


def _read_csv(target, label: str, compression: str | None) -> pd.DataFrame:
    try:
        raw = pd.read_csv(target, compression=compression, dtype=str, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{label}: no data (the file holds no CSV rows)") from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start:exc.start + 1].hex()
        raise DataError(f"{label}: not a CSV text file (byte 0x{byte} at offset {exc.start} is not UTF-8 text; "
                        "is it a binary file?); save it as a UTF-8 CSV") from None
    except (pd.errors.ParserError, OSError, EOFError) as exc:
        first = first_line(exc)
        if compression == "gzip" and not isinstance(exc, pd.errors.ParserError):
            raise DataError(f"{label}: damaged or truncated gzip file ({first})") from None
        fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", first)
        if fields:
            want, line, got = fields.groups()
            raise DataError(f"{label}: line {line}: {got} fields, but the header has {want}") from None
        raise DataError(f"{label}: not a readable CSV file ({first})") from None
    return raw


def columns_of(raw: pd.DataFrame, label: str) -> str:
    """Normalise ``raw``'s column names in place (stripped, lower case, ``_`` as space); return the date column.

    Raises DataError naming the missing columns. Shared with :mod:`lstmtrade.data.panel`.
    """
    raw.columns = [str(c).strip().lower().replace("_", " ") for c in raw.columns]
    date_col = next((c for c in ("date", "datetime", "timestamp", "time") if c in raw.columns), None)
    missing = [c for c in COLUMNS if c not in raw.columns]
    if date_col is None or missing:
        need = (["Date"] if date_col is None else []) + [c.capitalize() for c in missing]
        found = ", ".join(map(str, raw.columns[:8])) + (", ..." if len(raw.columns) > 8 else "") or "none"
        sep = next((s for s in (";", "\t", "|") if len(raw.columns) == 1 and s in str(raw.columns[0])), None)
        hint = f"; the file seems to use {sep!r} between fields, not ','" if sep else ""
        raise DataError(f"{label}: missing column(s) {', '.join(need)} (found: {found}); "
                        f"expected Date,Open,High,Low,Close[,Adj Close],Volume{hint}")
    return date_col


def validate_raw(raw: pd.DataFrame, label: str, name: str, date_format: str | None = None) -> PriceData:
    """One ticker's text columns (as read from a CSV) checked and converted: the single-file validation, which
    refuses the first bad line. Also what a panel holding a single ticker goes through."""
    date_col = columns_of(raw, label)
    if raw.empty:
        raise DataError(f"{label}: the file has a header but no rows")
    line = pd.RangeIndex(len(raw)) + 2  # CSV line numbers: the header is line 1
    dates = _parse_dates(raw[date_col], label, line, date_format)
    values = {}
    for col in list(COLUMNS) + (["adj close"] if "adj close" in raw.columns else []):
        values[col] = _parse_numbers(raw[col], col, label, line).to_numpy()
    frame = pd.DataFrame(values, index=pd.DatetimeIndex(dates, name="date"))
    warnings = []
    _check_index(frame.index, label, line)
    _check_daily_times(frame.index, raw[date_col], label, line)
    _check_values(frame, label, line)  # before any Adj Close scaling, so messages show the file's numbers
    if "adj close" in frame.columns:
        factor = frame.pop("adj close") / frame["close"]
        for col in ("open", "high", "low", "close"):
            frame[col] = frame[col] * factor
        warnings.append("Adj Close found: Open/High/Low/Close scaled by Adj Close / Close "
                        "(returns include dividends)")
    close = frame["close"].to_numpy()
    jumps = np.flatnonzero(np.abs(close[1:] / close[:-1] - 1) > JUMP_WARNING) + 1
    for i in jumps[:3]:
        move = close[i] / close[i - 1] - 1
        warnings.append(f"close moved {move:+.0%} on {stamp(frame.index[i])} (line {line[i]}): "
                        "check it is not an unadjusted split")
    if len(jumps) > 3:
        warnings.append(f"{len(jumps) - 3} more close-to-close moves above {JUMP_WARNING:.0%} not listed")
    data = PriceData(frame[list(COLUMNS)].astype("float64"), label, name, tuple(warnings))
    gaps = data.bars.gap_note() if data.bars.intraday else None
    return dataclasses.replace(data, warnings=data.warnings + (gaps,)) if gaps else data


def _parse_dates(column: pd.Series, label: str, line: pd.RangeIndex,
                 date_format: str | None = None) -> pd.DatetimeIndex:
    """The Date column as tz-naive timestamps (:mod:`lstmtrade.data.timestamps`); the first bad line stops the load."""
    try:
        index = pd.DatetimeIndex(parse_timestamps(column, date_format))
    except BadTimestamp as exc:
        where = f"line {line[exc.row]}: " if exc.row is not None else ""
        beside = ""
        if exc.other is not None:
            beside = f" (line {line[exc.other]} has '{str(column.iloc[exc.other]).strip()}')"
        raise DataError(f"{label}: {where}{exc.message}{beside}") from None
    return index


def _check_daily_times(index: pd.DatetimeIndex, column: pd.Series, label: str, line: pd.RangeIndex) -> None:
    """Refuse a stray time of day among daily bars at midnight (a typo, or two files pasted together)."""
    off = index != index.normalize()
    if off.any() and off.mean() < 0.5 and detect_bars(index[~off]).step >= pd.Timedelta(days=1):
        i = int(np.argmax(off))
        raise DataError(f"{label}: line {line[i]}: '{str(column.iloc[i]).strip()}' has a time of day, but the other "
                        "bars are daily (one bar per day at midnight); write it as a date, or give every bar its time")


def _parse_numbers(column: pd.Series, name: str, label: str, line: pd.RangeIndex) -> pd.Series:
    if pd.api.types.is_float_dtype(column):  # a Parquet file's numbers, as stored (missing: NaN)
        return column.astype("float64")
    numbers = exact_numbers(column.str.strip())
    bad = numbers.isna() & column.notna() & (column.str.strip().str.lower().isin(["nan", "", "null", "none"]) == False)  # noqa: E712
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise DataError(f"{label}: line {line[i]}: {name.title()} '{column.iloc[i]}' is not a number")
    return numbers.astype("float64")


def _check_index(index: pd.DatetimeIndex, label: str, line: pd.RangeIndex) -> None:
    deltas = np.diff(index.asi8)
    if (deltas == 0).any():
        i = int(np.argmax(deltas == 0)) + 1
        raise DataError(f"{label}: line {line[i]}: duplicate date {stamp(index[i])}")
    if (deltas < 0).any():
        i = int(np.argmax(deltas < 0)) + 1
        raise DataError(f"{label}: line {line[i]}: date {stamp(index[i])} comes after {stamp(index[i - 1])}; "
                        "sort the file by date (oldest first)")


def _check_values(frame: pd.DataFrame, label: str, line: pd.RangeIndex) -> None:
    values = frame.to_numpy()
    for j, col in enumerate(frame.columns):
        column = values[:, j]
        finite = np.isfinite(column)
        if not finite.all():
            i = int(np.argmax(~finite))
            what = "missing (NaN)" if np.isnan(column[i]) else "infinite"
            raise DataError(f"{label}: line {line[i]}: {col.title()} is {what}")
        low_bad = column < 0 if col == "volume" else column <= 0
        if low_bad.any():
            i = int(np.argmax(low_bad))
            need = ">= 0" if col == "volume" else "> 0"
            raise DataError(f"{label}: line {line[i]}: {col.title()} {column[i]:g} must be {need}")
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    high_low, open_out, close_out = _ohlc_masks(o, h, lo, c)
    checks = (
        (high_low, "High {h:g} is below Low {lo:g}"),
        (open_out, "Open {o:g} is outside [Low {lo:g}, High {h:g}]"),
        (close_out, "Close {c:g} is outside [Low {lo:g}, High {h:g}]"),
    )
    for bad, message in checks:
        if bad.any():
            i = int(np.argmax(bad))
            text = message.format(o=o[i], h=h[i], lo=lo[i], c=c[i])
            raise DataError(f"{label}: line {line[i]}: {text}")


def _ohlc_masks(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray):
    """Rows whose High is below Low, whose Open, whose Close lies outside [Low, High] (relative tolerance 1e-9)."""
    tol = 1e-9 * h
    return h + tol < lo, (o > h + tol) | (o < lo - tol), (c > h + tol) | (c < lo - tol)


def row_faults(frame: pd.DataFrame) -> np.ndarray:
    """Per row, the first rule of :func:`_check_values` it breaks, in words ("" when it passes).

    The same rules, row by row, for loaders that drop a bad row instead of refusing the file: every price and
    volume finite, prices > 0, volume >= 0, ``low <= open, close <= high``. ``frame`` holds ``COLUMNS``.
    """
    values = frame[list(COLUMNS)].to_numpy(dtype="float64")
    out = np.full(len(frame), "", dtype=object)

    def mark(bad: np.ndarray, text) -> None:
        todo = bad & (out == "")
        for i in np.flatnonzero(todo):
            out[i] = text(i) if callable(text) else text

    missing = ~np.isfinite(values)
    if missing.any():
        names = np.array([c.title() for c in COLUMNS])
        mark(missing.any(axis=1), lambda i: "missing or infinite " + "/".join(names[missing[i]]))
    for j, col in enumerate(COLUMNS):
        low_bad = values[:, j] < 0 if col == "volume" else values[:, j] <= 0
        mark(low_bad, f"{col.title()} {'< 0' if col == 'volume' else '<= 0'}")
    high_low, open_out, close_out = _ohlc_masks(*(values[:, k] for k in range(4)))
    mark(high_low, "High below Low")
    mark(open_out | close_out, lambda i: ("Open" if open_out[i] else "Close") + " outside [Low, High]")
    return out


def show_bound(bound: pd.Timestamp) -> str:
    """A bound as the user wrote it: the end of a day prints as that date."""
    if bound + pd.Timedelta(1, unit="ns") == (bound + pd.Timedelta(1, unit="ns")).normalize():
        return str(bound.date())
    return stamp(bound)


def parse_bound(value: str, option: str, end: bool = False) -> pd.Timestamp:
    """``--start``/``--end`` as a tz-naive timestamp (an offset converts to UTC, like the data's). With ``end``, a
    plain date means the end of that day, so ``--end 2017-06-30`` keeps that day's intraday bars (and, for daily
    bars, exactly the rows it always kept)."""
    try:
        bound = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"{option} '{value}' is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM)") from None
    if bound.tzinfo is not None:
        bound = bound.tz_convert("UTC").tz_localize(None)
    if end and bound == bound.normalize() and re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", str(value)):
        bound = bound + pd.Timedelta(days=1) - pd.Timedelta(1, unit="ns")
    return bound
