"""Speed of the portfolio backtest: feed-bars per second, TopK rebalanced every day.

    python benchmarks/bench_portfolio.py                 # 100 and 250 tickers x 1,259 bars
    python benchmarks/bench_portfolio.py --reference     # also plain Backtrader on the same data
    python benchmarks/bench_portfolio.py --tickers 50 --bars 500

Synthetic random-walk tickers on one calendar, random forecasts on every bar (so a decision at every
close), ``TopK(k=10, min_trade=0)`` so held names are resized every day as well as swapped. The
reference is the plain Backtrader loop this module wraps: cheat-on-open, ``order_target_percent`` on
the 10 best forecasts (and to zero on names no longer chosen) every bar, with Backtrader's own
PandasData feeds and no lstmtrade code. Timings are the best of ``--repeat`` runs in one process;
feed-bars/s is computed from CPU time, which a busy shared machine disturbs less than wall time.
"""
from __future__ import annotations

import argparse
import time

import backtrader as bt
import numpy as np
import pandas as pd

from lstmtrade.backtesting.portfolio import backtest_portfolio
from lstmtrade.backtesting.rules import TopK


def synthetic(tickers: int, bars: int, seed: int = 0) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-02", periods=bars)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.015, (bars, tickers)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.005, close.shape))
    high, low = np.maximum(open_, close) * 1.005, np.minimum(open_, close) * 0.995
    prices = {f"S{j:03d}": pd.DataFrame({"open": open_[:, j], "high": high[:, j], "low": low[:, j],
                                         "close": close[:, j], "volume": 1e6}, index=dates)
              for j in range(tickers)}
    predictions = pd.DataFrame(rng.normal(0, 0.01, (bars, tickers)), index=dates, columns=list(prices))
    return prices, predictions


class _PlainTopK(bt.Strategy):
    """Reference: plain Backtrader, 10 best forecasts at equal weight, rebalanced every open."""

    params = (("predictions", None), ("k", 10))

    def __init__(self) -> None:
        self.values = self.p.predictions.to_numpy()
        self._col = {data: j for j, data in enumerate(self.datas)}
        self.fills = 0

    def notify_order(self, order: bt.Order) -> None:
        self.fills += order.status == order.Completed

    def next_open(self) -> None:
        i = len(self) - 1  # decide on the last close's forecasts (the same timing as lstmtrade)
        if i < 0:
            return
        best = set(np.argsort(-self.values[i])[:self.p.k].tolist())
        held = {self._col[data] for data, position in self.broker.positions.items() if position.size}
        weight = 0.98 / self.p.k  # a cash buffer instead of lstmtrade's sizing net of costs
        for j in sorted(best | held, key=lambda j: j in best):  # sells first
            self.order_target_percent(data=self.datas[j], target=weight if j in best else 0.0)


def plain(prices: dict[str, pd.DataFrame], predictions: pd.DataFrame) -> int:
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True, preload=True)
    for name, frame in prices.items():
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=name)
    cerebro.addstrategy(_PlainTopK, predictions=predictions)
    cerebro.broker.setcash(100_000.0)
    cerebro.broker.setcommission(commission=0.001)
    (strat,) = cerebro.run()
    return strat.fills


def best_of(repeat: int, func) -> tuple[float, float, object]:
    """Best wall-clock and CPU seconds (CPU time is steadier on a shared machine)."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        out = func()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, nargs="+", default=[100, 250], help="universe sizes")
    parser.add_argument("--bars", type=int, default=1259, help="bars per ticker (1,259 = five years)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the best is shown")
    parser.add_argument("--reference", action="store_true", help="also time plain Backtrader")
    args = parser.parse_args()
    print(f"TopK(k=10, min_trade=0), {args.bars} bars, a decision at every close; best of {args.repeat}")
    print(f"{'tickers':>8} {'case':>18} {'wall s':>8} {'CPU s':>8} {'feed-bars/s (CPU)':>18} {'fills':>7}")
    for n in args.tickers:
        prices, predictions = synthetic(n, args.bars)
        feed_bars = n * args.bars
        wall, cpu, result = best_of(args.repeat, lambda: backtest_portfolio(
            prices, predictions, TopK, k=10, min_trade=0.0, history=0))
        print(f"{n:>8} {'lstmtrade':>18} {wall:>8.2f} {cpu:>8.2f} {feed_bars / cpu:>18,.0f} {len(result.trades):>7,}")
        if args.reference:
            wall, cpu, fills = best_of(args.repeat, lambda: plain(prices, predictions))
            print(f"{n:>8} {'plain Backtrader':>18} {wall:>8.2f} {cpu:>8.2f} {feed_bars / cpu:>18,.0f} {fills:>7,}")


if __name__ == "__main__":
    main()
