"""Numbers and times as text, the same everywhere: the terminal, the verdicts and every page.

Each function is one real variant; a missing value (None, NaN, infinity) prints as ``n/a``. Only the
standard library at import (pandas loads when a time is formatted), so the CLI can use it at start-up.

>>> num(0.12345), num(None), pct(-0.4031), pct(0.25, sign=True), pvalue(0.0004), pvalue(0.047, three_below=0.1)
('0.12', 'n/a', '-40.3%', '+25.0%', '< 0.001', '0.047')
"""
from __future__ import annotations

import math
from typing import Any

NA = "n/a"


def missing(x: Any) -> bool:
    """None, NaN or infinite: a figure that cannot be shown."""
    if x is None:
        return True
    try:
        return not math.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def num(x: Any, digits: int = 2, scale: float = 1.0) -> str:
    """``x * scale`` with ``digits`` decimals: ``0.12``; ``n/a`` when missing."""
    return NA if missing(x) else f"{float(x) * scale:.{digits}f}"


def pct(x: Any, digits: int = 1, sign: bool = False) -> str:
    """A fraction as a percentage: ``-40.3%`` (``+25.0%`` with ``sign``); ``n/a`` when missing."""
    return NA if missing(x) else f"{float(x):{'+' if sign else ''}.{digits}%}"


def pvalue(p: Any, three_below: float = 0.01, equals: bool = False) -> str:
    """A p-value: ``< 0.001``, three decimals below ``three_below`` (0.01; 0.1 where a p near 0.05 must not
    round onto it), else two, and ``> 0.99`` at the top; ``equals`` puts ``= `` before a number (``p = 0.47``,
    ``p < 0.001``, ``p > 0.99``)."""
    if missing(p):
        return NA
    if p < 0.001:
        return "< 0.001"
    if p > 0.995:  # not "1.00": a p-value of one would be a certainty the test never gives
        return "> 0.99"
    text = f"{p:.3f}" if p < three_below else f"{p:.2f}"
    return f"= {text}" if equals else text


def label(value: Any) -> Any:
    """A setting as a table cell: features as logret+vol20, None as none, numbers and text as they are."""
    if isinstance(value, (list, tuple)):
        return "+".join(map(str, value))
    if value is None:
        return "none"
    return value


def stamp(value) -> str:
    """A bar's time as text: ``2017-01-02`` at midnight (so daily data prints as it always has), else
    ``2017-01-02 14:00`` (with seconds when they are not zero)."""
    import pandas as pd

    ts = pd.Timestamp(value)
    if ts == ts.normalize():
        return str(ts.date())
    return ts.strftime("%Y-%m-%d %H:%M:%S" if ts.second or ts.microsecond else "%Y-%m-%d %H:%M")


def stamper(index: Any):
    """A :func:`stamp` for the bars of ``index``: dates for daily bars, and for intraday bars the time of day on
    every bar, midnight included (``2017-10-20 00:00``), so one listing never mixes the two."""
    import pandas as pd

    index = pd.DatetimeIndex(index)
    if not len(index) or (index == index.normalize()).all():
        return stamp
    layout = "%Y-%m-%d %H:%M:%S" if (index.second != 0).any() or (index.microsecond != 0).any() else "%Y-%m-%d %H:%M"
    return lambda value: pd.Timestamp(value).strftime(layout)
