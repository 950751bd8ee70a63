"""Universes: many tickers loaded and validated together, one ticker at a time, never all-or-nothing.

Sources (:func:`is_universe` tells them from a single-ticker CSV by reading only the header):

- a long-format panel CSV (plain or gzip): a ``Ticker`` or ``Symbol`` column plus ``Date,Open,High,Low,Close
  [,Adj Close],Volume`` (names case-insensitive), rows in any order;
- a folder holding one CSV per ticker (``AAPL.csv`` or ``AAPL.csv.gz``; the file name is the ticker). A file
  that cannot be read excludes its ticker and the report says why; the other tickers load;
- a Parquet panel (a file with a Ticker column), or a folder of Parquet files: one per ticker
  (``AAPL.parquet``), or the parts of one panel, each with a Ticker column. Read with pyarrow, only the
  columns used, then screened exactly as a CSV (:mod:`lstmtrade.data.parquet`);
- ``sample:SP500``: 60 S&P 500 members of early 2018, daily 2013-02-08..2018-02-07 (IEX via Cam Nugent's
  ``all_stocks_5yr``, MIT licence: ``samples/LICENSE-sp500.txt``; "Data provided for free by IEX"). Split-adjusted,
  not dividend-adjusted, raw with the vendor's faults, and with **survivorship bias** (see ``Universe.survivorship``);
- a long-format DataFrame with a ticker column (notebooks, tests).

Each ticker's rows are screened on their own, in date order (:mod:`lstmtrade.data.screen`: rows that
break a rule, bad prints, level shifts, bad wicks), so a fault after day T changes nothing up to T.

Dates are read by :mod:`lstmtrade.data.timestamps`, the single-ticker loader's parser, and as strictly: a ticker
with any unreadable or empty date (another layout, ``notadate``) is excluded, and its report line names the
first such line and how many there are, as a single-ticker file would be refused. Rows with an empty ticker
cell are reported as one ``(no ticker)`` line, excluded (their rows belong to no ticker); exact copies of a row
are dropped and reported (``repaired``). A panel file holding a single ticker loads exactly as a
single-ticker CSV would (:func:`load_panel`).

Rows are never forward-filled, invented or changed. A ticker that starts late is used from its first row; a
session with no row is a missing session. The report lists, per ticker in the source, ``status`` (``used``:
all rows; ``repaired``: named rows dropped; ``excluded``: unreadable, no usable row, or a level shift, in which
case the rows before it are still used), ``issue``, and the ``first_date, last_date, rows`` actually used.
``strict=True`` raises :class:`DataError` on the first ticker that is not ``used`` instead.
"""
from __future__ import annotations

import dataclasses
import difflib
import gzip
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..files import exact_numbers
from ..formatting import stamp
from .bars import BarSpec, detect_bars
from .parquet import SUFFIXES as PARQUET_SUFFIXES
from .parquet import is_parquet, parquet_columns
from .prices import (
    COLUMNS,
    UNIVERSE_SAMPLES,
    PriceData,
    columns_of,
    frame_sha256,
    parse_bound,
    read_file,
    read_source,
    row_faults,
    show_bound,
    stem_of,
    validate_raw,
)
from .screen import (
    describe_rows,
    fault_kinds,
    note_missing_sessions,
    screen_ticker,
)
from .timestamps import BadTimestamp, parse_timestamps

TICKER_COLUMNS = ("ticker", "symbol")
SURVIVORSHIP = ("sample:SP500 holds S&P 500 members chosen in early 2018, after the fact: companies that left the "
                "index or failed during 2013-2018 are missing (survivorship bias), so results on it overstate "
                "what could have been earned at the time")

NO_TICKER = "(no ticker)"  # the report's line for rows whose ticker cell is empty


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

    @cached_property
    def calendar(self) -> pd.DatetimeIndex:
        """The sorted union of the used tickers' dates; a ticker without a bar on one of them missed that session."""
        stamps = [data.frame.index.asi8 for data in self.prices.values()]
        values = np.unique(np.concatenate(stamps)) if stamps else np.array([], dtype="int64")
        return pd.DatetimeIndex(values.astype("datetime64[ns]"), name="date")

    @cached_property
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
        kinds = Counter(kind for issue in faulty["issue"] for kind in fault_kinds(issue))
        reasons = ", ".join(f"{kind} ({n})" for kind, n in kinds.most_common(3))
        return (f"{len(self.report)} tickers: {status['used']} used, {status['repaired']} repaired, "
                f"{status['excluded']} excluded" + (f"; top reasons (tickers): {reasons}" if reasons else ""))

    def __len__(self) -> int:
        return len(self.calendar)

    @cached_property
    def bars(self) -> BarSpec:
        """Bar size, calendar and periods per year of the union calendar (:func:`lstmtrade.data.bars.detect_bars`)."""
        return detect_bars(self.calendar)

    def slice(self, start: str | None = None, end: str | None = None) -> Universe:
        """Dates from ``start`` to ``end`` inclusive; tickers without a bar in that range drop out of ``prices``."""
        calendar = self.calendar
        first, last = calendar[0], calendar[-1]
        lo = parse_bound(start, "--start") if start else first
        hi = parse_bound(end, "--end", end=True) if end else last
        span = f"{self.source} covers {stamp(first)}..{stamp(last)}"
        if start and end and lo > hi:
            raise DataError(f"--start {show_bound(lo)} is after --end {show_bound(hi)}; swap them")
        if lo > last or hi < first or not ((calendar >= lo) & (calendar <= hi)).any():
            raise DataError(f"no bars from {show_bound(lo)} to {show_bound(hi)} ({span}); widen --start/--end")
        prices = {}
        for ticker, data in self.prices.items():
            frame = data.frame.loc[lo:hi]
            if len(frame):
                prices[ticker] = dataclasses.replace(data, frame=frame)
        report = describe_rows(self.report, prices)
        return dataclasses.replace(self, prices=prices, report=report)


def is_universe(source) -> bool:
    """True for ``sample:SP500``, a folder, a DataFrame, or a CSV or Parquet file with a Ticker/Symbol column."""
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
    if is_parquet(path):
        return any(_norm(c) in TICKER_COLUMNS for c in parquet_columns(path))
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
    ``date_format`` reads a non-ISO Date column (as :func:`lstmtrade.data.prices.load_prices`)."""
    return _load(source, tickers, start, end, strict, date_format, one=False)


def load_panel(source, *, tickers: list[str] | None = None, start=None, end=None,
               date_format: str | None = None) -> Universe | PriceData:
    """What ``--data`` with a Ticker column loads: a :class:`Universe`, or, for a file whose rows all name one
    ticker, that ticker's :class:`PriceData` validated exactly as the same rows in a single-ticker CSV."""
    return _load(source, tickers, start, end, False, date_format, one=True)


def _load(source, tickers, start, end, strict: bool, date_format: str | None, one: bool) -> Universe | PriceData:
    hi = parse_bound(str(end), "--end", end=True) if end is not None else None
    survivorship, paths, unreadable = None, {}, {}
    if not isinstance(source, pd.DataFrame) and Path(str(source)).is_dir():
        label = str(source)
        parts, unreadable, paths, excluded = _read_folder(Path(label), tickers, date_format)
        name = Path(label).resolve().name or "universe"
    else:
        raw, label, name = read_source(source, UNIVERSE_SAMPLES, "universe sample", "universes")
        sample = label.startswith("sample:")
        survivorship = SURVIVORSHIP if sample else None
        if one and not sample:
            single = _one_ticker(raw, label, tickers, start, end, date_format)
            if single is not None:
                return single
        part, excluded = _parse_panel(raw, label, date_format=None if sample else date_format)
        parts = [part]
    long = pd.concat(parts, ignore_index=True) if parts else _empty_long()
    available = sorted(set(long["ticker"].unique()) | set(unreadable) | (set(excluded) - {NO_TICKER}))
    chosen = _choose(available, tickers, label)
    long = long[long["ticker"].isin(chosen)]
    if hi is not None:
        long = long[long["date"] <= hi]  # before validation: nothing after --end can change a decision
    long = long.sort_values(["ticker", "date"], kind="stable")
    lo = parse_bound(str(start), "--start") if start is not None else None
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
        if ticker in excluded:
            rows.append((ticker, "excluded", excluded[ticker]))
            continue
        span = spans.get(ticker, slice(0, 0))
        seen[ticker] = dates[span].view("int64")
        frame, status, issue = screen_ticker(dates[span], values[span], faults[span], lo)
        if len(frame):
            prices[ticker] = PriceData(frame, str(paths.get(ticker, label)), ticker)
        rows.append((ticker, status, issue))
    if NO_TICKER in excluded and tickers is None:
        rows.append((NO_TICKER, "excluded", excluded[NO_TICKER]))
    report = pd.DataFrame(rows, columns=["ticker", "status", "issue"])
    report = describe_rows(report, prices)
    report = note_missing_sessions(report, prices, seen)
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
                 date_format: str | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Text columns -> long frame (ticker, date, OHLCV floats, fault text per row), and the tickers excluded
    whole (an unreadable date; :data:`NO_TICKER` for rows with an empty ticker) with the report's issue.

    Only rows with every field empty (a spreadsheet's empty line) are left out without a word."""
    raw = raw.copy(deep=False)  # only the column names change (columns_of); the text is read, never written
    date_col = columns_of(raw, label)
    tick_col = "ticker"
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
    suspect = np.flatnonzero((names == "") | np.isnat(dates))
    blank = np.zeros(len(raw), dtype=bool)  # only rows already in doubt are looked at cell by cell
    if len(suspect):
        cells = raw.iloc[suspect].astype("string")
        blank[suspect] = (cells.isna() | (cells.apply(lambda c: c.str.strip()) == "")).all(axis=1).to_numpy()
    excluded: dict[str, str] = {}
    nameless = (names == "") & ~blank
    if nameless.any():
        i, n = int(np.argmax(nameless)), int(nameless.sum())
        excluded[NO_TICKER] = (f"{n} row{'s' * (n > 1)} with an empty {tick_col.title()} (first: line {i + 2}, date "
                               f"'{str(raw[date_col].iloc[i]).strip()}'): they belong to no ticker and are not used")
    undated = np.isnat(dates) & (names != "") & ~blank
    for name in pd.unique(names[undated]):
        rows = np.flatnonzero(names == name)
        excluded[name] = _date_issue(raw[date_col], rows, int(undated[rows].sum()), date_format)
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
    keep = (names != "") & ~np.isnat(dates) & ~np.isin(names, list(excluded))
    return out[keep], excluded


def _date_issue(column: pd.Series, rows: np.ndarray, unreadable: int, date_format: str | None) -> str:
    """The report's issue for a ticker with unreadable dates: the single-ticker loader's own message for the
    first of them (the same parser, strict), with its line in the file, and how many there are."""
    line = "line {}".format
    try:
        parse_timestamps(column.iloc[rows].reset_index(drop=True), date_format)
        first = f"{line(int(rows[0]) + 2)}: date '{str(column.iloc[rows[0]]).strip()}' does not read"
    except BadTimestamp as exc:
        k = int(rows[exc.row]) if exc.row is not None else int(rows[0])
        beside = ""
        if exc.other is not None:
            other = int(rows[exc.other])
            beside = f" ({line(other + 2)} has '{str(column.iloc[other]).strip()}')"
        first = f"{line(k + 2)}: {exc.message}{beside}"
    return (f"unreadable date on {first}; {unreadable} of its {len(rows)} rows {'has' if unreadable == 1 else 'have'} no readable date, so none is "
            "used (a single-ticker file like it is refused)")


def _parse_dates(column: pd.Series, label: str, date_format: str | None = None) -> np.ndarray:
    """Timestamps under :mod:`lstmtrade.data.timestamps`' convention, NaT where a row's date does not read (its
    ticker is then excluded by :func:`_parse_panel`). A column mixing time zones, or without one readable date,
    stops the load."""
    codes, uniques = pd.factorize(column)  # a panel repeats each date once per ticker: parse each text once
    try:
        parsed = parse_timestamps(pd.Series(uniques, dtype=object), date_format, strict=False)
    except BadTimestamp as exc:
        raise DataError(f"{label}: {exc.message}") from None
    values = parsed[np.maximum(codes, 0)] if len(parsed) else np.full(len(codes), np.datetime64("NaT"), "M8[ns]")
    values = np.where(codes >= 0, values, np.datetime64("NaT"))
    if len(values) and np.isnat(values).all():
        how = f"--date-format '{date_format}'" if date_format else "YYYY-MM-DD[ HH:MM[:SS]] (or give --date-format)"
        raise DataError(f"{label}: no date reads as {how} (first: '{column.iloc[0]}')")
    return values


def _one_ticker(raw: pd.DataFrame, label: str, tickers: list[str] | None, start, end,
                date_format: str | None) -> PriceData | None:
    """A panel whose rows all name the same ticker, as that ticker's PriceData (the single-file validation, then
    ``start``/``end``); None for anything else, which loads as a universe."""
    columns = [_norm(c) for c in raw.columns]
    tick_col = next((raw.columns[columns.index(c)] for c in TICKER_COLUMNS if c in columns), None)
    if tick_col is None or raw.empty:
        return None
    names = raw[tick_col].astype("string").str.strip()
    distinct = names.dropna().unique()
    if names.isna().any() or (names == "").any() or len(distinct) != 1:
        return None
    ticker = str(distinct[0])
    if tickers is not None and [str(t).strip().upper() for t in tickers] != [ticker.upper()]:
        return None  # another ticker asked for: the universe path says which exist
    data = validate_raw(raw.drop(columns=[tick_col]), label, ticker, date_format)
    return data.slice(start, end) if (start or end) else data


def _read_folder(folder: Path, tickers: list[str] | None,
                 date_format: str | None = None) -> tuple[list[pd.DataFrame], dict[str, str], dict, dict[str, str]]:
    """One long frame per readable CSV or Parquet file in ``folder`` (ticker = file name; a Parquet part of a
    panel: its Ticker column), why each other file is unreadable, each ticker's path, and the tickers excluded
    for unreadable dates (with the report's issue)."""
    files, panels = {}, []
    for path in sorted(folder.iterdir()):
        lower = path.name.lower()
        if path.name.startswith(".") or not lower.endswith((".csv", ".csv.gz") + PARQUET_SUFFIXES):
            continue
        if lower.endswith(PARQUET_SUFFIXES) and is_parquet(path) and is_universe(path):
            panels.append(path)  # a part of one panel (Spark, Dask, pyarrow datasets): its Ticker column says
        else:
            files[stem_of(path)] = path
    if not files and not panels:
        raise DataError(f"{folder}: no CSV or Parquet files (expected one TICKER.csv or TICKER.parquet per ticker)")
    # with panel parts, tickers are known only once read: --tickers is checked against all of them later
    wanted = set(files) if panels else set(_choose(sorted(files), tickers, str(folder)))
    parts, unreadable, excluded = [], {}, {}
    for path in panels:
        part, bad = _parse_panel(read_file(path), str(path), date_format=date_format)
        parts.append(part)
        excluded.update(bad)
    for ticker, path in files.items():
        if ticker not in wanted:
            continue
        try:
            part, bad = _parse_panel(read_file(path), str(path), ticker=ticker, date_format=date_format)
        except DataError as exc:
            unreadable[ticker] = str(exc)
            continue
        parts.append(part)
        excluded.update(bad)
    return parts, unreadable, files, excluded


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
