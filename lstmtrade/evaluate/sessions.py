"""Intraday returns compounded per trading session, for the charts that assume one return a day.

QuantStats reads each return as a day's: its rolling windows count days, its "daily returns" chart sums them
and its axes are drawn for days. Hourly bars break all three (6,240 "days" a year). Compounding the bars of a
session into one return gives it what it can draw without changing what was earned: the product of
``1 + r`` over the whole test is the same, so total return and CAGR agree with the bar-level figures.
"""
from __future__ import annotations

import pandas as pd


def session_labels(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The trading session (a date) each bar belongs to.

    Daily or coarser bars are their own session. Intraday bars of a market with sessions (gaps for nights and
    weekends) take the date of their session's last bar, so a session spanning UTC midnight stays whole. A
    market open round the clock (its only gaps are weekends, as FX from Sunday 22:00 to Friday 21:00) has its
    day start at the time it reopens after the weekend: Sunday 22:00..Monday 21:00 is Monday's session, not a
    two-bar Sunday plus a Monday without its first hours.
    """
    index = pd.DatetimeIndex(index)
    if len(index) < 2 or not index.normalize().duplicated().any():
        return index.normalize()
    deltas = pd.Series(index[1:] - index[:-1])
    step = deltas.mode().iloc[0]
    breaks = (deltas > 1.5 * step).to_numpy()
    weeks = max(1.0, (index[-1] - index[0]) / pd.Timedelta(weeks=1))
    if breaks.sum() / weeks >= 2.5:  # a break most days: a session market
        segment = pd.Series(breaks.cumsum(), dtype="int64")
        segment = pd.concat([pd.Series([0]), segment], ignore_index=True).to_numpy()
        last = pd.Series(index.normalize(), index=segment).groupby(level=0).transform("last")
        return pd.DatetimeIndex(last.to_numpy())
    return _round_the_clock(index, breaks)


def _round_the_clock(index: pd.DatetimeIndex, breaks) -> pd.DatetimeIndex:
    """Sessions of a market open round the clock on weekdays: 24-hour days counted from each reopening.

    Each stretch between breaks is cut into 24-hour days from its first bar (the reopening: Sunday 22:00 UTC in
    winter, 21:00 in summer, so daylight saving moves the cut with it); a reopening in the evening starts the
    next date's session. The stretch the test begins in has no reopening of its own: it takes the next one's
    clock time.
    """
    starts = [0] + [i + 1 for i in range(len(breaks)) if breaks[i]]
    if len(starts) > 1:
        clock = index[starts[1]] - index[starts[1]].normalize()
    else:
        clock = pd.Timedelta(0)
    first = index[0].normalize() + clock
    anchors = [first - pd.Timedelta(days=1) if first > index[0] else first] + [index[i] for i in starts[1:]]
    labels = []
    day = pd.Timedelta(days=1)
    for k, begin in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(index)
        anchor = anchors[k]
        evening = (anchor - anchor.normalize()) >= pd.Timedelta(hours=12)
        chunk = index[begin:stop]
        days = (chunk - anchor) // day
        labels.append(anchor.normalize() + (days + int(evening)) * day)
    return labels[0].append(labels[1:]) if len(labels) > 1 else labels[0]


def per_session(returns: pd.Series) -> pd.Series:
    """``returns`` (one a bar) compounded within each session: ``prod(1 + r) - 1``, indexed by session date."""
    labels = session_labels(returns.index)
    grouped = (1.0 + returns.fillna(0.0)).groupby(labels.to_numpy()).prod() - 1.0
    grouped.index = pd.DatetimeIndex(grouped.index)
    return grouped.rename(returns.name)


def is_intraday(index: pd.DatetimeIndex) -> bool:
    """True when some session holds more than one bar."""
    return bool(len(index) > 1 and pd.DatetimeIndex(index).normalize().duplicated().any())
