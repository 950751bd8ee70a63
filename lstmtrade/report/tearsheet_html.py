"""Edits to the HTML QuantStats writes, where its figures would mislead: charts drawn without data, "Time in Market"
counted from returns, and a drawdown still open at the last bar listed as recovered on that day."""
from __future__ import annotations

import html
import re

import pandas as pd

ROLLING = ("rolling_beta", "rolling_vol", "rolling_sharpe", "rolling_sortino")


def drop_charts(page: str, ids: tuple[str, ...], note: str) -> str:
    """``page`` without the chart blocks ``<div id="...">`` named in ``ids``; ``note`` (text) takes the first one's
    place, so the reader learns why the charts are missing instead of looking at empty axes."""
    for k, name in enumerate(ids):
        keep = f'<p class="lstmtrade-note">{html.escape(note)}</p>' if k == 0 else ""
        page = re.sub(rf'<div id="{name}">.*?</svg>\s*</div>', lambda m: keep, page, count=1, flags=re.S)
    return page


def time_in_market(page: str, strategy: float, benchmark: float) -> str:
    """The metrics table's "Time in Market" row with the shares of bars that held a position (benchmark
    first, as QuantStats orders the columns). QuantStats counts bars with a non-zero return, which makes
    buy-and-hold look out of the market on the days its price did not move."""
    row = (f"<tr><td>Time in Market</td><td>{benchmark:.1%}</td><td>{strategy:.1%}</td></tr>")
    return re.sub(r"<tr><td>Time in Market</td>.*?</tr>", lambda m: row, page, count=1, flags=re.S)


def open_drawdown(page: str, returns: pd.Series) -> str:
    """The drawdown table's row of a drawdown not recovered by the last bar: "Recovered" reads "not recovered
    (open)" instead of the last date, which QuantStats puts there."""
    equity = (1.0 + returns.fillna(0.0)).cumprod()
    if not len(equity) or equity.iloc[-1] >= equity.cummax().iloc[-1]:
        return page
    last = pd.Timestamp(returns.index[-1]).strftime("%Y-%m-%d")
    return re.sub(rf"(<tr><td>[0-9-]+</td><td>){last}(</td>)", r"\1not recovered (open)\2", page)


def open_max_drawdown(page: str, strategy: pd.Series, benchmark: pd.Series) -> str:
    """The key metrics' "Max DD Period End" cell of a series whose deepest drawdown is still open at the last bar:
    "not recovered (open)" instead of the last date (the benchmark's column first, as QuantStats orders them)."""
    cells = []
    for returns in (benchmark, strategy):
        equity = (1.0 + returns.fillna(0.0)).cumprod()
        last = pd.Timestamp(returns.index[-1]).strftime("%Y-%m-%d") if len(returns) else ""
        below = bool(len(equity)) and equity.iloc[-1] < equity.cummax().iloc[-1]
        cells.append((last, below))

    def cell(k: int, text: str) -> str:
        last, below = cells[k]
        return "not recovered (open)" if below and text == last else text

    def row(m: re.Match) -> str:
        return f"<tr><td>Max DD Period End</td><td>{cell(0, m.group(1))}</td><td>{cell(1, m.group(2))}</td></tr>"

    return re.sub(r"<tr><td>Max DD Period End</td><td>([^<]*)</td><td>([^<]*)</td></tr>", row, page, count=1)


def held_share(weights: pd.Series | None) -> float | None:
    """Share of the closes after the first that held a position: the tearsheet's "Time in Market".

    The first close comes before any order can fill (orders fill at the next open), so buy-and-hold holds at
    every close after it and reads 100 %."""
    if weights is None or len(weights) < 2:
        return None
    return float((weights.iloc[1:].fillna(0.0).abs() > 1e-12).mean())


def unbroken_range(page: str) -> str:
    """QuantStats' date range beside the title ("10 Mar, 2016 - 7 Feb, 2018") on a line of its own that does not
    wrap, instead of breaking inside a date."""
    return page.replace("<dt>", '<dt style="display:block;white-space:nowrap">', 1)


def market_note(strategy: float, average: float | None) -> str:
    """What "Time in Market" means on this page, and why it differs from the average exposure."""
    text = (f"Time in Market: the share of closes, after the first, at which a position was held ({strategy:.0%} "
            "for the strategy), whatever its size.")
    if average is not None:
        text += (f" The average exposure in the console and metrics.json ({average:.0%}) is the mean of |weight| "
                 "over all bars, so a bar half invested counts half there and whole here.")
    return text
