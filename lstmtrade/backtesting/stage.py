"""The backtest stage of a run: the forecasts traded by the strategy, and the benchmark on the same days and costs
(buy-and-hold of the asset, equal-weight buy-and-hold of a universe, or a ``--benchmark`` series)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..config import Config
from ..data.prices import PriceData, load_prices
from ..errors import DataError
from ..forecast.predictions import Predictions
from .costs import Costs
from .engine import BacktestResult
from .portfolio import backtest_portfolio, naive_dates, normalise_frame
from .rules import EqualWeight
from .single import backtest, buy_and_hold


def trade(prices: Any, predictions: Predictions, cls: type, costs: dict, params: dict,
          periods_per_year: int | None = None) -> BacktestResult:
    """The backtest stage: one asset's strategy, or a portfolio strategy over a universe's feeds (with a
    seed ensemble's uncertainty, which strategies may size by). ``periods_per_year`` reaches strategies
    that annualise (VolTarget); None: the data's own."""
    if predictions.is_universe:
        uncertainty = predictions.wide("uncertainty") if predictions.has_uncertainty else None
        feeds = prices.prices if hasattr(prices, "prices") else prices  # a Universe, or {ticker: bars}
        return backtest_portfolio(feeds, predictions.wide(), cls, uncertainty=uncertainty, **costs, **params)
    return backtest(prices, predictions, cls, **costs, periods_per_year=periods_per_year, **params)


def benchmark(prices: Any, predictions: Predictions, config: Config, costs: dict) -> BacktestResult:
    """Buy-and-hold on the same days and costs: of the asset, of the universe in equal weights, or of the
    ``--benchmark`` series."""
    if not predictions.is_universe:
        return buy_and_hold(prices, predictions, **costs)
    wide = predictions.wide()
    if config.benchmark:
        series = load_prices(config.benchmark)
        return series_benchmark(series, wide.index, **costs)
    return equal_weight_buy_and_hold(prices.prices, wide, **costs)


def equal_weight_buy_and_hold(prices: Mapping[str, pd.DataFrame | PriceData], predictions: pd.DataFrame, *,
                              cash: float = 100_000.0, commission: float = 10.0, slippage: float = 0.0,
                              costs: Costs | None = None) -> BacktestResult:
    """The universe's benchmark: equal weights in the tickers with a forecast on the first day, held.

    It decides at the first out-of-sample close, like any strategy, so it buys at the first open a
    strategy can trade, pays the same costs and covers the same days. No rebalancing afterwards. A
    ticker whose data ends early is sold at the open of its last bar and the cash is kept (not
    reinvested); a ticker without a bar at that first open is bought at its next bar.
    """
    return backtest_portfolio(prices, predictions, EqualWeight, cash=cash, commission=commission,
                              slippage=slippage, costs=costs, history=0)


def series_benchmark(prices: PriceData | pd.DataFrame, days: pd.DatetimeIndex, *, cash: float = 100_000.0,
                     commission: float = 10.0, slippage: float = 0.0, costs: Costs | None = None) -> BacktestResult:
    """Buy-and-hold of one series (an index or ETF) over ``days``, with the same costs and timing.

    It decides at the first of ``days`` that the series trades and buys at its next open (so, like the
    strategy, from the open after the first out-of-sample close). Dates in ``days`` the series does
    not trade carry its last equity (return 0); dates it trades outside ``days`` are left out.
    """
    frame = prices.frame if isinstance(prices, PriceData) else prices
    frame = normalise_frame(frame, "benchmark")
    days = naive_dates(pd.DatetimeIndex(days))
    common = days.intersection(frame.index)
    if len(common) < 2:
        raise DataError(f"the benchmark series trades on {len(common)} of the {len(days)} backtest days; "
                        "it needs at least two (check its dates)")
    result = buy_and_hold(frame, pd.Series(0.0, index=common, name="prediction"),
                          cash=cash, commission=commission, slippage=slippage, costs=costs)
    equity = result.equity.reindex(days).ffill().fillna(float(cash))
    result.equity = equity
    result.returns = equity.pct_change().fillna(0.0).rename("returns")
    result.weights = result.weights.reindex(days).ffill().fillna(0.0)
    result.decisions = result.decisions.reindex(days)
    return result
