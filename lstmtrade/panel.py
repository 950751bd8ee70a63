"""Universes: many tickers loaded and validated together, one ticker at a time, never all-or-nothing.

Sources (:func:`is_universe` tells them from a single-ticker CSV by reading only the header):

- a long-format panel CSV (plain or gzip): a ``Ticker`` or ``Symbol`` column plus ``Date,Open,High,Low,Close
  [,Adj Close],Volume`` (names case-insensitive), rows in any order;
- a folder holding one CSV per ticker (``AAPL.csv`` or ``AAPL.csv.gz``; the file name is the ticker). A file
  that cannot be read excludes its ticker and the report says why; the other tickers load;
- ``sample:SP500``: 60 S&P 500 members of early 2018, daily 2013-02-08..2018-02-07 (IEX via Cam Nugent's
  ``all_stocks_5yr``, MIT licence: ``samples/LICENSE-sp500.txt``; "Data provided for free by IEX"). Split-adjusted,
  not dividend-adjusted, raw with the vendor's faults, and with **survivorship bias** (see ``Universe.survivorship``);
- a long-format DataFrame with a ticker column (notebooks, tests).

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

Rows are never forward-filled, invented or changed. A ticker that starts late is used from its first row; a
session with no row is a missing session. The report lists, per ticker in the source, ``status`` (``used``:
all rows; ``repaired``: named rows dropped; ``excluded``: unreadable, no usable row, or a level shift, in which
case the rows before it are still used), ``issue``, and the ``first_date, last_date, rows`` actually used.
``strict=True`` raises :class:`DataError` on the first ticker that is not ``used`` instead.
"""
from __future__ import annotations

import bisect
import dataclasses
import difflib
import gzip
import hashlib
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .bars import BarSpec, detect_bars
from .csvio import exact_numbers
from .data import (COLUMNS, PriceData, _columns, _parse_bound, _read_file, _show_bound, _stem, frame_sha256,
                   read_sample, row_faults)
from .errors import DataError
from .timestamps import BadTimestamp, parse_timestamps, stamp

UNIVERSE_SAMPLES = ("SP500",)  # sample:SP500 -> samples/SP500.csv.gz
TICKER_COLUMNS = ("ticker", "symbol")
SURVIVORSHIP = ("sample:SP500 holds S&P 500 members chosen in early 2018, after the fact: companies that left the "
                "index or failed during 2013-2018 are missing (survivorship bias), so results on it overstate "
                "what could have been earned at the time")

# Jump and level-shift rules (module docstring, rules 2-4).
JUMP_SIGMAS = 10.0  # a close this many robust sigmas from the last accepted close is suspect ...
MIN_JUMP = 0.08  # ... but never below this log move
SPLIT_JUMP = math.log(1.5)  # a log move above this is suspect whatever the volume (split-sized)
VOLUME_CONFIRMS = 2.5  # volume this many times its 20-bar median confirms a news move
SHIFT_BARS = 3  # this many suspect bars in a row are a level shift
WICK = math.log(1.25)  # high/low this far beyond open/close is a bad print
WARMUP = 20  # accepted moves needed before sigma and volume are trusted
SIGMA_WINDOW, VOLUME_WINDOW = 60, 20
REPORT_COLUMNS = ("ticker", "status", "issue", "first_date", "last_date", "rows")
_EPOCH = np.datetime64("1970-01-05", "D")  # a Monday: weekday numbers count from here


@dataclass(frozen=True)
class Universe:
    """Validated bars of many tickers. Every ``prices`` frame keeps :class:`PriceData`'s guarantees."""

    prices: dict[str, PriceData]  # ticker -> validated (and repaired) bars, sorted by ticker; tickers with rows only
    report: pd.DataFrame  # one row per ticker in the source (excluded too): ticker,status,issue,first/last_date,rows
    source: str  # as given: "sample:SP500", a path, "DataFrame"
    name: str  # short name for titles and folders
    survivorship: str | None = None  # a caveat when membership was fixed after the fact (the bundled sample)
    warnings: tuple[str, ...] = field(default=())

    @property
    def tickers(self) -> list[str]:
        return list(self.prices)

    @property
    def calendar(self) -> pd.DatetimeIndex:
        """The sorted union of the used tickers' dates; a ticker without a bar on one of them missed that session."""
        stamps = [data.frame.index.asi8 for data in self.prices.values()]
        values = np.unique(np.concatenate(stamps)) if stamps else np.array([], dtype="int64")
        return pd.DatetimeIndex(values.astype("datetime64[ns]"), name="date")

    @property
    def sha256(self) -> str:
        """Hash of every used row, ticker by ticker in sorted order."""
        digest = hashlib.sha256()
        for ticker, data in self.prices.items():
            digest.update(ticker.encode() + b"\0" + frame_sha256(data.frame).encode())
        return digest.hexdigest()

    @property
    def summary(self) -> str:
        """One line: "60 tickers: 44 used, 9 repaired, 7 excluded; top reasons: ..."."""
        status = Counter(self.report["status"])
        faulty = self.report[self.report["status"] != "used"]
        kinds = Counter(kind for issue in faulty["issue"] for kind in _kinds(issue))
        reasons = ", ".join(f"{kind} ({n})" for kind, n in kinds.most_common(3))
        return (f"{len(self.report)} tickers: {status['used']} used, {status['repaired']} repaired, "
                f"{status['excluded']} excluded" + (f"; top reasons (tickers): {reasons}" if reasons else ""))

    def __len__(self) -> int:
        return len(self.calendar)

    @property
    def bars(self) -> BarSpec:
        """Bar size, calendar and periods per year of the union calendar (:func:`lstmtrade.bars.detect_bars`)."""
        return detect_bars(self.calendar)

    def slice(self, start: str | None = None, end: str | None = None) -> "Universe":
        """Dates from ``start`` to ``end`` inclusive; tickers without a bar in that range drop out of ``prices``."""
        calendar = self.calendar
        first, last = calendar[0], calendar[-1]
        lo = _parse_bound(start, "--start") if start else first
        hi = _parse_bound(end, "--end", end=True) if end else last
        span = f"{self.source} covers {stamp(first)}..{stamp(last)}"
        if start and end and lo > hi:
            raise DataError(f"--start {_show_bound(lo)} is after --end {_show_bound(hi)}; swap them")
        if lo > last or hi < first or not ((calendar >= lo) & (calendar <= hi)).any():
            raise DataError(f"no bars from {_show_bound(lo)} to {_show_bound(hi)} ({span}); widen --start/--end")
        prices = {}
        for ticker, data in self.prices.items():
            frame = data.frame.loc[lo:hi]
            if len(frame):
                prices[ticker] = dataclasses.replace(data, frame=frame)
        report = _describe_rows(self.report, prices)
        return dataclasses.replace(self, prices=prices, report=report)


def is_universe(source) -> bool:
    """True for ``sample:SP500``, a folder, a DataFrame or CSV whose header has a Ticker/Symbol column."""
    if isinstance(source, pd.DataFrame):
        return any(_norm(c) in TICKER_COLUMNS for c in source.columns)
    if source is None:
        return False
    text = str(source)
    if text.lower().startswith("sample:"):
        return text.split(":", 1)[1].upper() in UNIVERSE_SAMPLES
    path = Path(text)
    if path.is_dir():
        return True
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            header = handle.readline()
    except (OSError, EOFError):
        return False
    return any(_norm(c) in TICKER_COLUMNS for c in header.split(","))


def load_universe(source, *, tickers: list[str] | None = None, start=None, end=None,
                  strict: bool = False, date_format: str | None = None) -> Universe:
    """Load and validate a universe (module docstring). ``tickers`` picks a subset; rows after ``end`` are
    never read into validation; ``start`` cuts the validated rows. ``strict`` refuses any fault.
    ``date_format`` reads a non-ISO Date column (as :func:`lstmtrade.data.load_prices`)."""
    hi = _parse_bound(str(end), "--end", end=True) if end is not None else None
    survivorship, paths = None, {}
    if isinstance(source, pd.DataFrame):
        label, name = "DataFrame", "data"
        raw = source.rename_axis("date").reset_index() if isinstance(source.index, pd.DatetimeIndex) else source
        parts, unreadable = [_parse_panel(raw.astype(str), label, date_format=date_format)], {}
    else:
        label = str(source)
        if label.lower().startswith("sample:"):
            key = label.split(":", 1)[1].upper()
            if key not in UNIVERSE_SAMPLES:
                raise DataError(f"unknown universe sample '{key}'; bundled universes: {', '.join(UNIVERSE_SAMPLES)}")
            raw = read_sample(key, label)
            parts, unreadable, name, survivorship = [_parse_panel(raw, label)], {}, key, SURVIVORSHIP
        elif Path(label).is_dir():
            parts, unreadable, paths = _read_folder(Path(label), tickers, date_format)
            name = Path(label).resolve().name or "universe"
        else:
            parts, unreadable, name = ([_parse_panel(_read_file(Path(label)), label, date_format=date_format)], {},
                                       _stem(Path(label)))
    long = pd.concat(parts, ignore_index=True) if parts else _empty_long()
    available = sorted(set(long["ticker"].unique()) | set(unreadable))
    chosen = _choose(available, tickers, label)
    long = long[long["ticker"].isin(chosen)]
    if hi is not None:
        long = long[long["date"] <= hi]  # before validation: nothing after --end can change a decision
    long = long.sort_values(["ticker", "date"], kind="stable")
    lo = _parse_bound(str(start), "--start") if start is not None else None
    prices, rows, seen = {}, [], {}
    names = long["ticker"].to_numpy(dtype=object)
    dates = long["date"].to_numpy(dtype="datetime64[ns]")
    values = long[list(COLUMNS)].to_numpy(dtype="float64")
    faults = long["fault"].to_numpy(dtype=object)
    bounds = np.flatnonzero(np.r_[True, names[1:] != names[:-1], True]) if len(names) else np.array([0])
    spans = {names[a]: slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])}
    for ticker in chosen:
        if ticker in unreadable:
            rows.append((ticker, "excluded", f"unreadable: {unreadable[ticker]}"))
            continue
        span = spans.get(ticker, slice(0, 0))
        seen[ticker] = dates[span].view("int64")
        frame, status, issue = _validate_ticker(dates[span], values[span], faults[span], lo)
        if len(frame):
            prices[ticker] = PriceData(frame, str(paths.get(ticker, label)), ticker)
        rows.append((ticker, status, issue))
    report = pd.DataFrame(rows, columns=["ticker", "status", "issue"])
    report = _describe_rows(report, prices)
    report = _note_missing_sessions(report, prices, seen)
    universe = Universe(prices, report, label, name, survivorship, ())
    faulty = report[report["status"] != "used"]
    if strict and len(faulty):
        first = faulty.iloc[0]
        error = DataError(f"{label}: {len(faulty)} of {len(report)} tickers have data faults (first: {first['ticker']} "
                          f"{first['issue'][:120]}); see data_report.csv, or load without strict to repair them")
        error.report = report  # the caller writes it as data_report.csv
        raise error
    if len(prices) < 2:
        found = ", ".join(prices) or "none"
        raise DataError(f"{label}: {len(prices)} usable ticker(s) ({found}) after validation; a universe needs at "
                        "least 2 (see the data report; for one ticker use it as a single-ticker CSV)")
    warnings = (f"data faults: {universe.summary}",) if len(faulty) else ()
    if long["adjusted"].any():
        warnings += ("Adj Close found: Open/High/Low/Close scaled by Adj Close / Close (returns include dividends)",)
    return dataclasses.replace(universe, warnings=warnings)


# --- reading --------------------------------------------------------------------------------------------------

def _norm(column) -> str:
    return str(column).strip().strip('"').strip().lower().replace("_", " ")


def _empty_long() -> pd.DataFrame:
    frame = pd.DataFrame({"ticker": pd.Series([], dtype=object), "date": pd.Series([], dtype="datetime64[ns]")})
    for col in COLUMNS:
        frame[col] = pd.Series([], dtype="float64")
    frame["fault"] = pd.Series([], dtype=object)
    frame["adjusted"] = pd.Series([], dtype=bool)
    return frame


def _parse_panel(raw: pd.DataFrame, label: str, ticker: str | None = None,
                 date_format: str | None = None) -> pd.DataFrame:
    """Text columns -> long frame (ticker, date, OHLCV floats, fault text per row); rows with no date dropped."""
    raw = raw.copy()
    date_col = _columns(raw, label)
    if ticker is None:
        tick_col = next((c for c in TICKER_COLUMNS if c in raw.columns), None)
        if tick_col is None:
            raise DataError(f"{label}: no Ticker or Symbol column; a universe file needs one (or use a folder of "
                            "one CSV per ticker)")
        codes, uniques = pd.factorize(raw[tick_col])  # strip each distinct name once, not every row
        stripped = np.array([str(u).strip() for u in uniques] + [""], dtype=object)
        names = stripped[codes]  # code -1 (missing) picks the trailing ""
    else:
        names = np.full(len(raw), ticker, dtype=object)
    dates = _parse_dates(raw[date_col], label, date_format)
    out = pd.DataFrame({"ticker": names, "date": dates})
    for col in COLUMNS:  # to_numeric ignores surrounding spaces
        out[col] = exact_numbers(raw[col]).to_numpy()
    fault = row_faults(out)
    adjusted = "adj close" in raw.columns
    if adjusted:
        adj = exact_numbers(raw["adj close"]).to_numpy()
        bad = ~(np.isfinite(adj) & (adj > 0))
        fault = np.where((fault == "") & bad, "missing or invalid Adj Close", fault)
        factor = adj / out["close"].to_numpy()
        for col in ("open", "high", "low", "close"):
            out[col] = out[col].to_numpy() * factor
    out["fault"] = fault
    out["adjusted"] = adjusted
    return out[(out["ticker"] != "") & out["date"].notna()]


def _parse_dates(column: pd.Series, label: str, date_format: str | None = None) -> np.ndarray:
    """Timestamps under :mod:`lstmtrade.timestamps`' convention; NaT for a row whose date does not parse (that
    row is dropped). A column mixing time zones, or without one readable date, stops the load."""
    try:
        values = parse_timestamps(column, date_format, strict=False)
    except BadTimestamp as exc:
        raise DataError(f"{label}: {exc.message}") from None
    if len(values) and np.isnat(values).all():
        how = f"--date-format '{date_format}'" if date_format else "YYYY-MM-DD[ HH:MM[:SS]] (or give --date-format)"
        raise DataError(f"{label}: no date reads as {how} (first: '{column.iloc[0]}')")
    return values


def _read_folder(folder: Path, tickers: list[str] | None,
                 date_format: str | None = None) -> tuple[list[pd.DataFrame], dict[str, str], dict]:
    """One long frame per readable CSV in ``folder`` (ticker = file name), why each other file is unreadable,
    and each ticker's path."""
    files = {}
    for path in sorted(folder.iterdir()):
        lower = path.name.lower()
        if path.name.startswith(".") or not (lower.endswith(".csv") or lower.endswith(".csv.gz")):
            continue
        files[_stem(path)] = path
    if not files:
        raise DataError(f"{folder}: no CSV files (expected one TICKER.csv per ticker)")
    wanted = set(_choose(sorted(files), tickers, str(folder)))
    parts, unreadable = [], {}
    for ticker, path in files.items():
        if ticker not in wanted:
            continue
        try:
            parts.append(_parse_panel(_read_file(path), str(path), ticker=ticker, date_format=date_format))
        except DataError as exc:
            unreadable[ticker] = str(exc)
    return parts, unreadable, files


def _choose(available: list[str], tickers: list[str] | None, label: str) -> list[str]:
    if tickers is None:
        return sorted(available)
    lookup = {t.upper(): t for t in available}
    chosen, unknown = [], []
    for want in dict.fromkeys(str(t).strip() for t in tickers if str(t).strip()):
        (chosen.append(lookup[want.upper()]) if want.upper() in lookup else unknown.append(want))
    if unknown:
        hints = [m for u in unknown for m in difflib.get_close_matches(u.upper(), list(lookup), n=1, cutoff=0.6)]
        hint = f" (did you mean {', '.join(lookup[h] for h in hints)}?)" if hints else ""
        shown = ", ".join(available[:8]) + (", ..." if len(available) > 8 else "")
        raise DataError(f"unknown ticker(s) {', '.join(unknown)} in {label}{hint}; it holds {len(available)}: {shown}")
    return sorted(chosen)


# --- validation -----------------------------------------------------------------------------------------------

def _validate_ticker(dates: np.ndarray, values: np.ndarray, fault: np.ndarray,
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


# --- report ---------------------------------------------------------------------------------------------------

def _day(value) -> str:
    return stamp(value)


def _describe_rows(report: pd.DataFrame, prices: dict[str, PriceData]) -> pd.DataFrame:
    """``first_date, last_date, rows`` of the rows actually used (NaT, NaT, 0 for none)."""
    report = report[["ticker", "status", "issue"]].copy()
    first = [prices[t].frame.index[0] if t in prices else pd.NaT for t in report["ticker"]]
    last = [prices[t].frame.index[-1] if t in prices else pd.NaT for t in report["ticker"]]
    report["first_date"] = pd.to_datetime(pd.Series(first, dtype="datetime64[ns]"))
    report["last_date"] = pd.to_datetime(pd.Series(last, dtype="datetime64[ns]"))
    report["rows"] = [len(prices[t].frame) if t in prices else 0 for t in report["ticker"]]
    return report.reset_index(drop=True)[list(REPORT_COLUMNS)]


def _note_missing_sessions(report: pd.DataFrame, prices: dict[str, PriceData], seen: dict) -> pd.DataFrame:
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


_KINDS = (  # text in a reason or issue -> the kind of fault it names
    ("level shift", "level shift"), ("unreadable", "unreadable file"), ("no usable rows", "no usable rows"),
    ("missing or", "missing value"), ("<= 0", "value out of range"), ("< 0", "value out of range"),
    ("High below Low", "high/low do not contain open/close"), ("outside [Low", "high/low do not contain open/close"),
    ("high/low do not", "high/low do not contain open/close"), ("bad print", "bad print"),
    ("duplicate", "duplicate date"),
)


def _kind(reason: str) -> str:
    return next((kind for key, kind in _KINDS if key in reason), "other")


def _kinds(issue: str) -> list[str]:
    """The kinds of fault an issue text names (each once), for the summary's top reasons."""
    return list(dict.fromkeys(kind for key, kind in _KINDS if key in issue or kind in issue))
