"""Per-ticker, future-blind screening of a universe's rows: which are used, repaired or excluded, and why.

Validation rules, per ticker, in date order. Every decision about bar t uses only that ticker's rows up to t,
so a fault after day T changes nothing up to T (rows after ``end`` are removed before validation):

1. Row check: a row with a missing or non-numeric value, a price <= 0, volume < 0, or high/low that do not
   contain open and close is dropped. A date given twice keeps one row if the copies agree, else drops both.
2. Jump check against the last *accepted* close (so one bad print cannot move the reference): the close's log
   move ``d`` is suspect when ``|d| > ln 1.5`` (a split-sized move), or when ``|d|`` exceeds
   ``max(8 %, 10 sigma) * sqrt(weekdays since that close)`` and the volume is below 2.5 times its 20-bar median
   (news moves come with volume; bad prints and unadjusted corporate actions do not). sigma is 1.4826 times the
   median absolute log move of the last 60 accepted bars; during a ticker's first 20 accepted bars only the
   split-sized test applies. A suspect bar is dropped.
3. Bad print or level shift: when a later bar passes the jump check again, the suspect bars were bad prints and
   stay dropped. When 3 bars in a row are suspect, the level moved: an unadjusted split, dividend or spin-off.
   The ticker is excluded from the first of them on; its earlier rows are kept. A bar that stays more than
   halfway towards a downward suspect level counts as suspect too (dividends and spin-offs only ever lower the
   price), so a moderate unadjusted drop is caught even where one bar alone is near the threshold.
4. Bad wick: a bar whose high or low lies more than ``max(ln 1.25, 10 sigma)`` beyond its open/close is dropped.

Used by :func:`lstmtrade.data.panel.load_universe` on each ticker's rows in date order.
"""
from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Any

import numpy as np
import pandas as pd

from ..formatting import stamp
from .prices import COLUMNS

# The data report: one row per ticker of a universe, what was done to it and the rows it kept.
REPORT_COLUMNS = ("ticker", "status", "issue", "first_date", "last_date", "rows")

# Jump and level-shift rules (module docstring, rules 2-4).
JUMP_SIGMAS = 10.0  # a close this many robust sigmas from the last accepted close is suspect ...
MIN_JUMP = 0.08  # ... but never below this log move
SPLIT_JUMP = math.log(1.5)  # a log move above this is suspect whatever the volume (split-sized)
VOLUME_CONFIRMS = 2.5  # volume this many times its 20-bar median confirms a news move
SHIFT_BARS = 3  # this many suspect bars in a row are a level shift
WICK = math.log(1.25)  # high/low this far beyond open/close is a bad print
WARMUP = 20  # accepted moves needed before sigma and volume are trusted
SIGMA_WINDOW, VOLUME_WINDOW = 60, 20
_EPOCH = np.datetime64("1970-01-05", "D")  # a Monday: weekday numbers count from here


# --- validation -----------------------------------------------------------------------------------------------

def screen_ticker(dates: np.ndarray, values: np.ndarray, fault: np.ndarray,
                     start) -> tuple[pd.DataFrame, str, str]:
    """One ticker's rows sorted by date (dates, OHLCV, row-check fault) -> (validated frame, status, issue)."""
    dropped: dict[int, str] = {}
    for i in _duplicates(dates, values):
        dropped[i] = "duplicate date with different values"
    for i in np.flatnonzero(fault != ""):
        dropped.setdefault(i, fault[i])
    dupe_copy = np.zeros(len(dates), dtype=bool)  # a second copy of an equal row
    dupe_copy[1:] = dates[1:] == dates[:-1]
    keep = np.flatnonzero(~dupe_copy & np.isin(np.arange(len(dates)), list(dropped), invert=True))
    shift = None
    if len(keep):
        days = np.busday_count(_EPOCH, dates[keep].astype("datetime64[D]"), weekmask="1111100")
        o, h, lo, c, v = (values[keep, j].tolist() for j in range(5))
        bad, shift_at = _screen(days.tolist(), o, h, lo, c, v, _loud(values[keep]))
        for j, reason in bad.items():
            dropped[int(keep[j])] = reason
        if shift_at is not None:
            shift = int(keep[shift_at])
    used = np.ones(len(dates), dtype=bool)
    used[list(dropped)] = False
    used &= ~dupe_copy
    if shift is not None:
        used[shift:] = False
    frame = pd.DataFrame(values[used], columns=list(COLUMNS),
                         index=pd.DatetimeIndex(dates[used], name="date").as_unit("ns")).astype("float64")
    if start is not None:
        frame = frame.loc[start:]
    notes = []
    if shift is not None:
        move = math.log(values[shift, 3] / _last_close(values, used, shift))
        notes.append(f"level shift {math.expm1(move):+.0%} on {_day(dates[shift])} held {SHIFT_BARS} bars "
                     f"(unadjusted split, dividend or spin-off?): excluded from that date, "
                     f"{int(used[:shift].sum())} earlier rows kept")
    early = sorted(i for i in dropped if shift is None or i < shift)
    if early:
        listed = "; ".join(f"{_day(dates[i])} {dropped[i]}" for i in early[:3])
        hidden = sorted({_kind(dropped[i]) for i in early[3:]})
        more = f"; and {len(early) - 3} more ({', '.join(hidden)})" if len(early) > 3 else ""
        notes.append(f"dropped {len(early)} row{'s' * (len(early) > 1)}: {listed}{more}")
    copies = [i for i in np.flatnonzero(dupe_copy) if i not in dropped and (shift is None or i < shift)]
    if copies:  # nothing is lost (one copy is used), but the source is not what it seems: say so
        notes.append(f"{len(copies)} exact cop{'y' if len(copies) == 1 else 'ies'} of a row ignored "
                     f"(first {_day(dates[copies[0]])}; duplicate date, same values)")
    if not len(frame):
        notes.insert(0, "no usable rows" + (" from --start on" if start is not None and used.any() else ""))
    status = "excluded" if (shift is not None or not len(frame)) else ("repaired" if early else "used")
    return frame, status, "; ".join(notes)


def _last_close(values: np.ndarray, used: np.ndarray, before: int) -> float:
    """The last accepted close before row ``before``."""
    prior = np.flatnonzero(used[:before])
    return float(values[prior[-1], 3]) if len(prior) else float(values[before, 3])


def _duplicates(dates: np.ndarray, values: np.ndarray) -> list[int]:
    """Rows of dates given more than once with differing values (all copies); equal copies keep the first."""
    same = np.flatnonzero(dates[1:] == dates[:-1]) + 1
    out = set()
    for i in same:
        j = i - 1
        while j > 0 and dates[j - 1] == dates[i]:
            j -= 1
        if not np.array_equal(values[i], values[j], equal_nan=True):
            out.update(k for k in range(j, i + 1))
    return sorted(out)


def _loud(values: np.ndarray) -> np.ndarray:
    """Rows that rules 2-4 might drop: a close move above ``MIN_JUMP`` from the row before, or a wick above ``WICK``.

    Every threshold of :func:`_screen` is at least one of these (the margin covers rounding), so a quiet row
    that follows an accepted row is accepted whatever the state; :func:`_screen` skips such runs.
    """
    o, h, lo, c = (values[:, j] for j in range(4))
    move = np.abs(np.diff(np.log(c), prepend=np.log(c[0])))
    wick = np.maximum(np.log(h / np.maximum(o, c)), np.log(np.minimum(o, c) / lo))
    return (move > MIN_JUMP * (1 - 1e-9)) | (wick > WICK * (1 - 1e-9))


def _screen(days: list[int], o: list[float], h: list[float], lo: list[float], c: list[float], v: list[float],
            loud: np.ndarray) -> tuple[dict[int, str], int | None]:
    """Rules 2-4 over rows that passed the row check: dropped row -> reason, and the level shift's row (or None).

    One pass in date order; the state (last accepted close, robust sigma, median volume) comes from accepted
    rows only, so the decision on row i depends on rows 0..i alone. After an accepted row, a run of quiet rows
    (see :func:`_loud`) is accepted at once: only its last ``SIGMA_WINDOW`` rows enter the windows, exactly
    the rows the windows would hold had each been taken in turn.
    """
    n = len(c)
    next_loud = np.flatnonzero(loud).tolist() + [n]  # loud rows in order, then the end
    dropped: dict[int, str] = {}
    moves: deque[float] = deque()
    sorted_moves: list[float] = []
    volumes: deque[float] = deque()
    sorted_volumes: list[float] = []
    pending: list[int] = []
    accepted = True  # whether the previous row was accepted
    ref, ref_day = c[0], days[0]
    _push(volumes, sorted_volumes, v[0], VOLUME_WINDOW)
    i, k = 1, 0  # row, and position in next_loud
    while i < n:
        if accepted:  # take the quiet rows up to the next loud one at once
            while next_loud[k] < i:
                k += 1
            stop = next_loud[k]
            for j in range(max(i, stop - SIGMA_WINDOW), stop):
                gap = max(1, days[j] - days[j - 1])
                _push(moves, sorted_moves, abs(math.log(c[j] / c[j - 1])) / math.sqrt(gap), SIGMA_WINDOW)
                _push(volumes, sorted_volumes, v[j], VOLUME_WINDOW)
            if stop > i:
                ref, ref_day, i = c[stop - 1], days[stop - 1], stop
                if i >= n:
                    break
        warm = len(sorted_moves) >= WARMUP
        sigma = 1.4826 * _median(sorted_moves) if warm else 0.0
        gap = max(1, days[i] - ref_day)
        move = math.log(c[i] / ref)
        limit = max(MIN_JUMP, JUMP_SIGMAS * sigma) * math.sqrt(gap)
        confirmed = v[i] >= VOLUME_CONFIRMS * _median(sorted_volumes)
        suspect = abs(move) > SPLIT_JUMP or (warm and abs(move) > limit and not confirmed)
        if pending and move < 0 and c[pending[0]] < ref:
            suspect = suspect or abs(math.log(c[i] / c[pending[0]])) < abs(move)  # still nearer the lower level
        accepted = False
        if suspect:
            pending.append(i)
            dropped[i] = f"bad print: close {math.expm1(move):+.0%} vs last accepted close"
            if len(pending) >= SHIFT_BARS:
                return dropped, pending[0]
            i += 1
            continue
        pending = []  # earlier suspects were bad prints: the price came back
        wick = max(math.log(h[i] / max(o[i], c[i])), math.log(min(o[i], c[i]) / lo[i]))
        if wick > max(WICK, JUMP_SIGMAS * sigma):
            high = h[i] / max(o[i], c[i]) > min(o[i], c[i]) / lo[i]
            side = f"high {h[i] / max(o[i], c[i]) - 1:+.0%}" if high else f"low {lo[i] / min(o[i], c[i]) - 1:+.0%}"
            dropped[i] = f"bad print: {side} beyond open/close"
            i += 1
            continue
        _push(moves, sorted_moves, abs(move) / math.sqrt(gap), SIGMA_WINDOW)
        _push(volumes, sorted_volumes, v[i], VOLUME_WINDOW)
        ref, ref_day, accepted = c[i], days[i], True
        i += 1
    return dropped, None


def _push(window: deque, ordered: list[float], value: float, size: int) -> None:
    window.append(value)
    bisect.insort(ordered, value)
    if len(window) > size:
        del ordered[bisect.bisect_left(ordered, window.popleft())]


def _median(ordered: list[float]) -> float:
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


def _day(value) -> str:
    return stamp(value)


_KINDS = (  # text in a reason or issue -> the kind of fault it names
    ("level shift", "level shift"), ("unreadable:", "unreadable file"), ("unreadable date", "unreadable date"),
    ("empty Ticker", "empty ticker"), ("empty Symbol", "empty ticker"), ("no usable rows", "no usable rows"),
    ("missing or", "missing value"), ("<= 0", "value out of range"), ("< 0", "value out of range"),
    ("High below Low", "high/low do not contain open/close"), ("outside [Low", "high/low do not contain open/close"),
    ("high/low do not", "high/low do not contain open/close"), ("bad print", "bad print"),
    ("duplicate", "duplicate date"),
)


def _kind(reason: str) -> str:
    return next((kind for key, kind in _KINDS if key in reason), "other")


def fault_kinds(issue: str) -> list[str]:
    """The kinds of fault an issue text names (each once), for the summary's top reasons."""
    return list(dict.fromkeys(kind for key, kind in _KINDS if key in issue or kind in issue))


# --- the data report ---------------------------------------------------------------------------------------------------

def describe_rows(report: pd.DataFrame, prices: dict[str, Any]) -> pd.DataFrame:
    """``first_date, last_date, rows`` of the rows actually used (NaT, NaT, 0 for none)."""
    report = report[["ticker", "status", "issue"]].copy()
    first = [prices[t].frame.index[0] if t in prices else pd.NaT for t in report["ticker"]]
    last = [prices[t].frame.index[-1] if t in prices else pd.NaT for t in report["ticker"]]
    report["first_date"] = pd.to_datetime(pd.Series(first, dtype="datetime64[ns]"))
    report["last_date"] = pd.to_datetime(pd.Series(last, dtype="datetime64[ns]"))
    report["rows"] = [len(prices[t].frame) if t in prices else 0 for t in report["ticker"]]
    return report.reset_index(drop=True)[list(REPORT_COLUMNS)]


def note_missing_sessions(report: pd.DataFrame, prices: dict[str, Any], seen: dict) -> pd.DataFrame:
    """Add to the issue the union-calendar sessions inside a ticker's used history that its source has no row for
    (``seen``: each ticker's dates in the source, dropped rows included)."""
    if not prices:
        return report
    calendar = np.unique(np.concatenate([d.frame.index.asi8 for d in prices.values()]))
    issues = report["issue"].tolist()
    for k, ticker in enumerate(report["ticker"]):
        if ticker not in prices:
            continue
        own = prices[ticker].frame.index.asi8
        inside = calendar[(calendar >= own[0]) & (calendar <= own[-1])]
        missing = np.setdiff1d(inside, seen[ticker])
        if len(missing):
            first = stamp(missing[0])
            note = (f"{len(missing)} session{'s' * (len(missing) > 1)} missing inside its history "
                    f"(no row in the source; first {first})")
            issues[k] = f"{issues[k]}; {note}" if issues[k] else note
    report["issue"] = issues
    return report
