"""The chart Backtrader users look for first (what ``cerebro.plot()`` shows): the price with every buy and sell
fill marked where it filled, and the position held over time, drawn with matplotlib on Agg (never
``backtrader.plot``, which forces an interactive backend)."""
from __future__ import annotations

import html
from typing import Any

import pandas as pd

from .html import pyplot, svg

BUY, SELL = "#2ca02c", "#d62728"


def date_axis(ax, fontsize: int = 8) -> None:
    """Dates on ``ax``'s x axis that do not run into each other at any bar size: few ticks, each written no
    longer than needed (a year once, then months; hours only when the span is days)."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(axis="x", labelsize=fontsize)


def fills_figure(close: pd.Series, trades: pd.DataFrame, weights: pd.Series, title: str):
    """Two panels sharing the time axis: ``close`` with a triangle at each fill of ``trades`` (date, action,
    price; up for a buy, down for a sell, at the fill price), and ``weights`` (the position at each close) as
    a step line. Returns the figure, which the page turns into SVG."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(close.index, close.to_numpy(), color="#555", linewidth=0.9, label="close")
    for action, colour, marker in (("buy", BUY, "^"), ("sell", SELL, "v")):
        part = trades[trades["action"] == action] if len(trades) else trades
        top.scatter(pd.DatetimeIndex(part["date"]) if len(part) else [], part["price"] if len(part) else [],
                    marker=marker, color=colour, s=28, zorder=3, label=f"{action} fill ({len(part)})",
                    gid=f"fills-{action}")
    top.set_title(title, fontsize=10, loc="left")
    top.set_ylabel("price", fontsize=9)
    top.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=3, fontsize=8, frameon=False, borderaxespad=0.2)
    bottom.step(weights.index, weights.to_numpy(), where="post", color="#1f4e79", linewidth=1.0)
    bottom.fill_between(weights.index, 0, weights.to_numpy(), step="post", color="#1f4e79", alpha=0.15)
    bottom.axhline(0, color="#888", linewidth=0.6)
    bottom.set_ylabel("position\n(weight)", fontsize=9)
    date_axis(bottom)
    fig.tight_layout()
    return fig


def fills_section(result: Any, top_n: int = 3) -> str:
    """HTML: the fills chart of a one-ticker run, or of the ``top_n`` most-traded tickers of a universe."""
    trades = result.strategy.trades
    if result.predictions.is_universe:
        positions = getattr(result.strategy, "positions", None)
        if not len(trades) or "ticker" not in trades or not isinstance(positions, pd.DataFrame):
            return ""
        most = trades["ticker"].value_counts().head(top_n)
        charts = []
        for ticker, count in most.items():
            close = result.prices.prices[ticker].frame["close"]
            close = close[(close.index >= positions.index[0]) & (close.index <= positions.index[-1])]
            fills = trades[trades["ticker"] == ticker]
            charts.append(svg(fills_figure(close, fills, positions[ticker].fillna(0.0),
                                           f"{ticker}: {count} fills and its weight in the portfolio")))
        intro = (f"The {len(most)} most-traded tickers (of {trades['ticker'].nunique()} with a fill): each fill "
                 "at its price, and the ticker's weight at each close.")
    else:
        weights = result.strategy.weights
        close = result.prices.frame["close"]
        close = close[(close.index >= weights.index[0]) & (close.index <= weights.index[-1])]
        charts = [svg(fills_figure(close, trades, weights, f"{result.prices.name}: {len(trades)} fills"))]
        intro = "Every fill at its price, and the position at each close (the fraction of equity held)."
    return f"<h2>Trades on the price</h2><p>{html.escape(intro)}</p>{''.join(charts)}"
