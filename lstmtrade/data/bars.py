"""Bar size and market calendar, read from the timestamps alone, and the periods per year that every
annualised figure (Sharpe, CAGR, volatility, the QuantStats tearsheet, VolTarget) uses.

:func:`detect_bars` looks only at the index:

- **bar size**: the most common spacing between consecutive bars (``1h``, ``5min``, ``1d``).
- **trading days a week**: the weekdays that carry at least half as many bars as the busiest weekday
  (FX in UTC: Monday to Friday, its two Sunday-evening bars do not make Sunday a trading day; crypto: 7).
  A market with more than 5 trading days a week trades weekends.
- **bars a day** (intraday): the most common number of bars on one calendar date. When they cover the
  whole 24 hours the market trades round the clock (``24 h``); otherwise it has a session
  (``7 bars a day, 14:30-20:30``).

Periods per year (``--periods-per-year N`` overrides):

=====================================  ===========================================================
daily bars, 5 days a week              252 (the exchange-calendar convention: 52 x 5 less holidays)
daily bars, 7 days a week (crypto)     365; 6 days: 52 x 6 = 312
intraday, a session (exchanges)        bars a day x 252 (hourly 7 a day: 1,764; 1-minute 390: 98,280)
intraday, 24 h x 5 days (FX)           bars a day x 52 x 5 (hourly: 6,240)
intraday, 24 h x 7 days (crypto)       bars a day x 365 (hourly: 8,760)
longer bars (weekly, monthly)          365.25 days / bar size, rounded (52, 12)
=====================================  ===========================================================

Gaps: a spacing longer than one bar is a **session break** when it spans a night (session markets) or a
non-trading day (a weekend) and otherwise **missing bars** inside a session, reported as a data fault;
bars are never invented. Daily bars report no gaps (holidays are not faults).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..formatting import stamp

DAY = 86_400 * 10**9  # nanoseconds
EXCHANGE_DAYS = 252  # trading days a year on a 5-day exchange calendar
CALENDAR_DAYS = 365  # days a year of a market that never closes
WEEKS = 52


@dataclass(frozen=True)
class BarSpec:
    """The bar size and calendar of a price index, and the periods per year derived from them."""

    step: pd.Timedelta  # the most common spacing between bars
    n_bars: int
    days_per_week: int  # trading days a week (5, 6 or 7)
    bars_per_day: int | None  # intraday: the usual number of bars on one date; None for daily or longer bars
    round_the_clock: bool  # intraday bars that fill every 24 hours of a trading day
    session: tuple[str, str] | None  # intraday session markets: the usual first and last bar time ("14:30")
    periods_per_year: int
    overridden: bool = False  # periods_per_year set by the user (--periods-per-year), not detected
    missing_gaps: int = 0  # gaps inside a session (missing bars)
    missing_bars: int = 0  # bars those gaps would have held
    first_missing: tuple[pd.Timestamp, pd.Timestamp] | None = None  # the bars either side of the first such gap
    breaks: int = 0  # session breaks (nights, weekends, closures spanning a non-trading day)

    # -- names
    @property
    def intraday(self) -> bool:
        return self.step < pd.Timedelta(days=1)

    @property
    def weekends(self) -> bool:
        return self.days_per_week > 5

    @property
    def label(self) -> str:
        """``1h``, ``5min``, ``30s``, ``1d``, ``7d``: what metrics.json records as ``data.bar``."""
        seconds = int(round(self.step.total_seconds()))
        for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
            if seconds >= size and seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"

    @property
    def name(self) -> str:
        """``hourly``, ``5-minute``, ``daily``, ``weekly``, ``4-hour``."""
        named = {"1h": "hourly", "1d": "daily", "7d": "weekly", "1min": "1-minute"}
        if self.label in named:
            return named[self.label]
        number, unit = self.label.rstrip("dhmins"), self.label.lstrip("0123456789")
        word = {"d": "day", "h": "hour", "min": "minute", "s": "second"}[unit]
        return f"{number}-{word}"

    @property
    def calendar(self) -> str:
        """``24 h x 5 days``, ``7 bars a day (14:30-20:30) x 5 days``, ``5 days a week``."""
        days = f"{self.days_per_week} days"
        if self.step >= pd.Timedelta(days=2):
            return ""
        if not self.intraday:
            return f"{days} a week" + (" (weekends traded)" if self.weekends else "")
        if self.round_the_clock:
            return f"24 h × {days}"
        hours = f" ({self.session[0]}-{self.session[1]})" if self.session else ""
        return f"{self.bars_per_day} bars a day{hours} × {days}"

    def describe(self) -> str:
        """``hourly bars, 24 h × 5 days, 6,225 bars; 6,240 bars a year``: the start-up line."""
        year = f"{self.periods_per_year:,} bars a year" + (" (--periods-per-year)" if self.overridden else "")
        calendar = f"{self.calendar}, " if self.calendar else ""
        return f"{self.name} bars, {calendar}{self.n_bars:,} bars; {year}"

    def gap_note(self) -> str | None:
        """One line on missing bars inside sessions (a data fault: reported, never filled), or None."""
        if not self.missing_gaps:
            return None
        a, b = self.first_missing
        plural = "s" if self.missing_gaps > 1 else ""
        return (f"{self.missing_gaps} gap{plural} inside trading sessions ({self.missing_bars:,} {self.name} bar"
                f"{'s' if self.missing_bars > 1 else ''} missing; first {stamp(a)} -> {stamp(b)}); no bars are "
                f"invented, the next bar's return spans the gap ({self.breaks:,} session breaks besides)")

    def duration(self, bars: int) -> str:
        """About how long ``bars`` bars last on this calendar: ``≈ 8 months``, ``≈ 4 weeks``, ``≈ 3 years``."""
        years = bars / self.periods_per_year
        for unit, per_year in (("year", 1.0), ("month", 12.0), ("week", 52.0), ("day", 365.0)):
            if years * per_year >= 1.5:
                value = round(years * per_year)
                return f"≈ {value} {unit}s"
        hours = years * 8_760.0
        if hours < 1:
            return f"≈ {hours * 60:.0f} minutes"
        return f"≈ {hours:.0f} hour{'s' if round(hours) != 1 else ''}"

    def with_periods(self, periods: int | None) -> "BarSpec":
        """This spec with ``periods`` bars a year set by the user (None: keep the detected number)."""
        if periods is None:
            return self
        return dataclasses.replace(self, periods_per_year=int(periods), overridden=True)

    def timeframe(self) -> tuple[str, int]:
        """Backtrader's ``(TimeFrame name, compression)`` for this bar: ``("Minutes", 60)`` for hourly."""
        seconds = int(round(self.step.total_seconds()))
        if seconds % 86_400 == 0:
            days = seconds // 86_400
            return ("Weeks", days // 7) if days % 7 == 0 else ("Days", days)
        if seconds % 60 == 0:
            return "Minutes", seconds // 60
        return "Seconds", seconds

    def to_dict(self) -> dict:
        """What metrics.json records under ``data``."""
        return {"bar": self.label, "periods_per_year": self.periods_per_year, "calendar": self.calendar,
                "periods_per_year_source": "--periods-per-year" if self.overridden else "detected",
                "missing_bars": self.missing_bars, "session_breaks": self.breaks}


def detect_bars(index: pd.DatetimeIndex) -> BarSpec:
    """The bar size and calendar of a sorted, unique, tz-naive ``index`` (module docstring)."""
    stamps = pd.DatetimeIndex(index).as_unit("ns").asi8
    n = len(stamps)
    if n < 2:
        return BarSpec(pd.Timedelta(days=1), n, 5, None, False, None, EXCHANGE_DAYS)
    deltas = np.diff(stamps)
    values, counts = np.unique(deltas, return_counts=True)
    step = int(values[np.argmax(counts)])  # ties: the shortest spacing
    days = stamps // DAY
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday (3)
    days_per_week = _trading_days(weekday, days)
    if step >= DAY:
        if step >= 2 * DAY:
            periods = max(1, round(365.25 * DAY / step))
        elif days_per_week >= 7:
            periods = CALENDAR_DAYS
        elif days_per_week == 5:
            periods = EXCHANGE_DAYS
        else:
            periods = WEEKS * days_per_week
        return BarSpec(pd.Timedelta(step, unit="ns"), n, days_per_week, None, False, None, int(periods))
    _, per_date = np.unique(days, return_counts=True)
    sizes, size_counts = np.unique(per_date, return_counts=True)
    bars_per_day = int(sizes[np.argmax(size_counts)])
    round_the_clock = bars_per_day * step >= DAY
    session = None
    if not round_the_clock:
        tod = stamps - days * DAY
        full_days = np.isin(days, np.unique(days)[per_date == bars_per_day])
        first_bar = _mode(tod[np.r_[True, days[1:] != days[:-1]] & full_days])
        last_bar = _mode(tod[np.r_[days[1:] != days[:-1], True] & full_days])
        session = (_clock(first_bar), _clock(last_bar))
    if round_the_clock:
        year_days = CALENDAR_DAYS if days_per_week >= 7 else WEEKS * days_per_week
    else:
        year_days = EXCHANGE_DAYS if days_per_week == 5 else (CALENDAR_DAYS if days_per_week >= 7
                                                              else WEEKS * days_per_week)
    spec = BarSpec(pd.Timedelta(step, unit="ns"), n, days_per_week, bars_per_day, bool(round_the_clock), session,
                   int(bars_per_day * year_days))
    return _gaps(spec, stamps, deltas, step, days, weekday)


def _mode(values: np.ndarray) -> int:
    found, counts = np.unique(values, return_counts=True)
    return int(found[np.argmax(counts)])


def _clock(ns: int) -> str:
    minutes = ns // (60 * 10**9)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _trading_days(weekday: np.ndarray, days: np.ndarray) -> int:
    """Weekdays with at least half the bars of the busiest one; a short history (under two weeks) counts
    the weekdays it has, and 5 when it has none on a Saturday or Sunday."""
    if days[-1] - days[0] < 14:
        weekend = np.isin(weekday, (5, 6)).any()
        return 7 if weekend else 5
    per_weekday = np.bincount(weekday, minlength=7)
    return int((per_weekday >= 0.5 * per_weekday.max()).sum())


def _gaps(spec: BarSpec, stamps: np.ndarray, deltas: np.ndarray, step: int, days: np.ndarray,
          weekday: np.ndarray) -> BarSpec:
    """Count session breaks and missing bars inside sessions (module docstring)."""
    per_weekday = np.bincount(weekday, minlength=7)
    trading = per_weekday >= 0.5 * per_weekday.max()
    missing_gaps = missing_bars = breaks = 0
    first = None
    for i in np.flatnonzero(deltas > step):
        a, b = days[i], days[i + 1]
        if spec.round_the_clock:
            between = np.arange(a + 1, b)  # whole dates inside the gap
            is_break = bool(len(between)) and not trading[(between + 3) % 7].all()
        else:
            is_break = a != b
        if is_break:
            breaks += 1
            continue
        missing_gaps += 1
        missing_bars += int(deltas[i] // step) - 1
        if first is None:
            first = (pd.Timestamp(stamps[i]), pd.Timestamp(stamps[i + 1]))
    return dataclasses.replace(spec, missing_gaps=missing_gaps, missing_bars=missing_bars, first_missing=first,
                               breaks=breaks)


def next_bar(index: pd.DatetimeIndex) -> pd.Timestamp:
    """When the bar after ``index[-1]`` is due, by the data's own calendar: the most common spacing that
    followed earlier bars at the same weekday and time of day (Friday 21:00 -> Sunday 22:00 on FX; Friday ->
    Monday for daily stocks), else one bar size later. A guide: holidays and clock changes can move it."""
    stamps = pd.DatetimeIndex(index).as_unit("ns").asi8
    last = stamps[-1]
    if len(stamps) < 2:
        return pd.Timestamp(last) + pd.Timedelta(days=1)
    week = 7 * DAY
    slot = (stamps[:-1] + 3 * DAY) % week  # position within the week (Monday 00:00 = 0)
    same = np.flatnonzero(slot == (last + 3 * DAY) % week)
    if len(same):
        return pd.Timestamp(last + _mode(stamps[same + 1] - stamps[same]))
    return pd.Timestamp(last) + detect_bars(index).step
