"""Timestamps: how a Date column is read, and the one time-zone convention (how a bar's time prints:
:func:`lstmtrade.formatting.stamp`).

Reading: ISO 8601 dates or timestamps (``2017-01-02``, ``2017-01-02 14:00``, ``2017-01-02T14:00:00+01:00``),
or any ``strptime`` format given as ``date_format`` (``--date-format '%d.%m.%Y %H:%M:%S.%f'`` for files like
``01.01.2017 22:00:00.000``, which are day-first).

The convention, applied once here so later stages only ever see tz-naive timestamps:

- a timestamp without a zone is taken as it is written (the file's own clock);
- timestamps with a UTC offset (``Z``, ``+01:00``) are converted to UTC and the zone is dropped, so every
  bar sits at its UTC time; offsets may change by one hour (daylight saving: one zone), nothing more;
- daily bars with an offset (every timestamp at local midnight) keep their local calendar date;
- a file that mixes timestamps with and without a zone, or offsets more than an hour apart (two zones),
  is refused with one line naming the line.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

# A time of day followed by a zone: "...14:00Z", "...14:00:00+01:00", "...14:00 -0500", "... 14:00 UTC".
_ZONED = re.compile(r"^(?P<local>.*\d[T ]?\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*"
                    r"(?P<zone>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
DST_SPREAD = 60  # minutes: offsets this far apart are one zone's standard and summer time
FIRST_YEAR, LAST_YEAR = 1700, 2200


class BadTimestamp(ValueError):
    """A Date column that cannot be read: ``row`` (0-based; None: the whole column), why, and optionally
    ``other``, a row to show beside it (the first row, whose layout or zone the bad one breaks)."""

    def __init__(self, row: int | None, message: str, other: int | None = None):
        super().__init__(message)
        self.row, self.message, self.other = row, message, other


def parse_timestamps(column: pd.Series, date_format: str | None = None, *, strict: bool = True) -> np.ndarray:
    """``column``'s text as tz-naive ``datetime64[ns]`` under the module's convention.

    ``strict``: the first row that is empty or does not parse raises :class:`BadTimestamp`; otherwise such
    rows become NaT. Mixed zones raise in both modes (they make the whole column ambiguous).
    """
    if pd.api.types.is_datetime64_any_dtype(column):
        return _stored(column, strict)
    text = column.astype("string").str.strip()
    empty = (text.isna() | (text == "")).to_numpy()
    if strict and empty.any():
        raise BadTimestamp(int(np.argmax(empty)), "empty date")
    if date_format:
        return _with_format(text, date_format, empty, strict)
    match = text.str.extract(_ZONED)
    zoned = match["zone"].notna().to_numpy()
    if zoned.any():
        _check_zones(text, zoned, empty, match["zone"])
        local_text = match["local"].where(pd.Series(zoned, index=text.index), text)
    else:
        local_text = text
    local = pd.to_datetime(local_text, format="ISO8601", errors="coerce")
    bad = local.isna().to_numpy() & ~empty
    if strict and bad.any():
        _why_not_iso(text, int(np.argmax(bad)))
    values = _in_range(pd.DatetimeIndex(local), text, strict)
    if zoned.any():
        offsets = np.array([_minutes(z) if isinstance(z, str) else 0 for z in match["zone"]], dtype="int64")
        known = ~values.isna()
        if not (values[known] == values[known].normalize()).all():
            values = values - pd.to_timedelta(offsets, unit="min")  # intraday: to UTC
        # else: daily bars with a zone keep their local dates
    return values.to_numpy(dtype="datetime64[ns]")


def _stored(column: pd.Series, strict: bool) -> np.ndarray:
    """Timestamps stored as such (a Parquet column) under the same convention as text: a zone converts intraday
    bars to UTC, and daily bars at local midnight keep their local date."""
    index = pd.DatetimeIndex(column)
    if strict and index.isna().any():
        raise BadTimestamp(int(np.argmax(index.isna())), "empty date")
    if index.tz is not None:
        local = index.tz_localize(None)
        known = local[~local.isna()]
        index = local if (known == known.normalize()).all() else index.tz_convert("UTC").tz_localize(None)
    return _in_range(index, column.astype(str), strict).to_numpy(dtype="datetime64[ns]")


def _with_format(text: pd.Series, date_format: str, empty: np.ndarray, strict: bool) -> np.ndarray:
    aware = "%z" in date_format or "%Z" in date_format
    try:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=aware)
    except (ValueError, TypeError) as exc:
        raise BadTimestamp(None, f"--date-format '{date_format}' is not a date format ({exc})") from None
    bad = parsed.isna().to_numpy() & ~empty
    if strict and bad.any():
        i = int(np.argmax(bad))
        raise BadTimestamp(i, f"date '{text.iloc[i]}' does not match --date-format '{date_format}'")
    index = pd.DatetimeIndex(parsed)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return _in_range(index, text, strict).to_numpy(dtype="datetime64[ns]")


def _in_range(index: pd.DatetimeIndex, text: pd.Series, strict: bool) -> pd.DatetimeIndex:
    """``index`` in nanoseconds; a year outside 1700..2200 is refused (strict) or NaT."""
    odd = ((index.year < FIRST_YEAR) | (index.year > LAST_YEAR)) & index.notna()
    if odd.any():
        if strict:
            i = int(np.argmax(odd))
            raise BadTimestamp(i, f"date '{text.iloc[i]}' is outside the years {FIRST_YEAR}..{LAST_YEAR}")
        index = index.where(~odd)
    return index.as_unit("ns")


def _minutes(zone: str) -> int:
    zone = zone.upper()
    if zone in ("Z", "UTC", "GMT"):
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * (int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0))


def _zone_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _check_zones(text: pd.Series, zoned: np.ndarray, empty: np.ndarray, zones: pd.Series) -> None:
    plain = ~zoned & ~empty
    if plain.any():  # only rows that read as a naive timestamp count (garbage is reported as garbage)
        readable = pd.to_datetime(text[plain], format="ISO8601", errors="coerce").notna().to_numpy()
        plain[np.flatnonzero(plain)[~readable]] = False
    if plain.any():
        i, j = int(np.argmax(zoned)), int(np.argmax(plain))
        if j < i:
            raise BadTimestamp(i, f"timestamp '{text.iloc[i]}' carries a time zone but earlier ones have none; "
                               "give every timestamp the same zone (or none)", other=j)
        raise BadTimestamp(j, f"timestamp '{text.iloc[j]}' has no time zone but earlier ones carry one; "
                           "give every timestamp the same zone (or none)", other=i)
    rows = np.flatnonzero(zoned)
    minutes = np.array([_minutes(z) for z in zones.iloc[rows]], dtype="int64")
    if int(minutes.max() - minutes.min()) > DST_SPREAD:
        far = np.abs(minutes - minutes[0]) > DST_SPREAD
        k = int(np.argmax(far)) if far.any() else int(np.argmax(minutes != minutes[0]))
        raise BadTimestamp(int(rows[k]), f"timestamp '{text.iloc[rows[k]]}' is in another time zone "
                           f"({_zone_text(int(minutes[k]))}) than the first ({_zone_text(int(minutes[0]))}); the "
                           "file mixes time zones: convert it to one", other=int(rows[0]))


def _why_not_iso(text: pd.Series, i: int) -> None:
    value = text.iloc[i]
    try:
        parsed = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise BadTimestamp(i, f"'{value}' is not a date") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:  # pandas < 3 parses these years to NaT in nanoseconds
        raise BadTimestamp(i, f"date '{value}' is outside the years {FIRST_YEAR}..{LAST_YEAR}")
    raise BadTimestamp(i, f"date '{value}' is not YYYY-MM-DD (ISO 8601, a time of day optional); for another "
                       "layout give --date-format, e.g. '%d.%m.%Y %H:%M'", other=0 if i else None)
