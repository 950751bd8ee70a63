"""A run's independent backtests in worker processes: the same results as here, and never a lost backtest."""
from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pandas as pd

from lstmtrade.backtesting.parallel import MIN_FEED_BARS, backtests, worth_workers
from lstmtrade.backtesting.portfolio import backtest_portfolio
from lstmtrade.backtesting.portfolio_strategy import PortfolioStrategy
from lstmtrade.backtesting.rules import TopK


def _universe(n: int = 12, bars: int = 400):
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2016-01-04", periods=bars)
    close = 30 * np.exp(np.cumsum(rng.normal(0, 0.02, (bars, n)), axis=0))
    prices = {f"T{j}": pd.DataFrame({"open": close[:, j] * 1.001, "high": close[:, j] * 1.01,
                                     "low": close[:, j] * 0.99, "close": close[:, j], "volume": 1e5}, index=dates)
              for j in range(n)}
    forecasts = pd.DataFrame(rng.normal(0, 0.01, (bars, n)), index=dates, columns=list(prices)).iloc[100:]
    return prices, forecasts


def _topk(prices, forecasts, k):
    return backtest_portfolio(prices, forecasts, TopK, k=k)


def _dies_in_a_worker(prices, value):
    if multiprocessing.parent_process() is not None:
        os._exit(1)  # a worker killed (out of memory, say)
    return value * 2


def test_backtests_in_workers_equal_backtests_here():
    prices, forecasts = _universe()
    with backtests(prices, 2) as pool:
        futures = [pool.submit(_topk, forecasts, k) for k in (2, 5)]
        remote = [f.result() for f in futures]
    for k, got in zip((2, 5), remote):
        here = _topk(prices, forecasts, k)
        pd.testing.assert_series_equal(got.returns, here.returns, check_exact=True)
        pd.testing.assert_frame_equal(got.trades, here.trades, check_exact=True)
        pd.testing.assert_frame_equal(got.positions, here.positions, check_exact=True)
    with backtests(prices, 2) as pool:
        assert pool.submit(_dies_in_a_worker, 21).result() == 42  # run here instead


def test_workers_only_for_large_universes_and_importable_rules():
    class Mine(PortfolioStrategy):  # a user's class: a fresh worker process could not import it
        def target_weights(self, predictions):
            return None

    big = MIN_FEED_BARS  # tickers x bars
    assert worth_workers(1000, big // 1000, TopK, 2) == 2
    assert worth_workers(1000, big // 1000, TopK, 0) == 0  # the default: memory first, one process
    assert worth_workers(1000, big // 1000, Mine, 2) == 0 and worth_workers(10, 100, TopK, 2) == 0
