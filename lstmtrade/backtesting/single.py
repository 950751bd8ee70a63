"""One asset: a :class:`~lstmtrade.backtesting.strategy.PredictionStrategy` over the out-of-sample days, and
buy-and-hold on the same days.

``backtest(prices, predictions, strategy, **params)`` runs one strategy over the out-of-sample days
(the days that have a prediction). Market orders placed after the close of t fill at the open of t+1;
commission (bps of traded value, set explicitly: Backtrader's default is zero) and optional slippage
apply to every fill. Buy-and-hold is the same machinery with a strategy that is always fully long, so
it enters at the same open and pays the same commission.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data.bars import BarSpec, detect_bars
from ..data.prices import PriceData
from ..errors import DataError, StrategyError
from ..forecast.predictions import Predictions
from ..formatting import stamp
from ._backtrader import bt
from .costs import Borrow, Costs
from .engine import HISTORY, BacktestResult, borrow_paid, check_params, feed_timeframe, run_cerebro, strategy_params
from .portfolio_strategy import PortfolioStrategy
from .strategy import BuyAndHold, LongFlat, PredictionFeed, PredictionStrategy


class _Recorder(bt.Analyzer):
    """Equity and weight at every bar's close, whatever the strategy's next() does."""

    def start(self) -> None:
        self.rows: list[tuple[float, float, float]] = []
        self.orders: list[tuple[int, float]] = []
        self.borrow = Borrow(getattr(self.strategy.env, "_lstmtrade_costs", None))

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        self.borrow.at_close(self.strategy)
        value = self.strategy.broker.getvalue()
        held = self.strategy.getposition().size * self.data.close[0]
        target = getattr(self.strategy, "_target", None)  # the decision taken at this close
        self.rows.append((value, held / value if value else 0.0, float("nan") if target is None else target))

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Submitted:
            self.orders.append((order.plen - 1, order.created.size))  # bar at which it was created


def backtest(prices: PriceData | pd.DataFrame, predictions: Predictions | pd.Series | pd.DataFrame,
             strategy: type[PredictionStrategy] = LongFlat, *, cash: float = 100_000.0,
             commission: float = 10.0, slippage: float = 0.0, costs: Costs | None = None, history: int = HISTORY,
             periods_per_year: int | None = None, **params: Any) -> BacktestResult:
    """Run ``strategy`` on the bars that have a prediction; costs in basis points (``costs``, a
    :class:`~lstmtrade.backtesting.costs.Costs`, sets every kind and wins over ``commission`` and ``slippage``).

    The feed starts up to ``history`` bars before the first predicted bar, with NaN predictions there,
    so indicators built in a strategy's ``__init__`` (a 200-bar average, say) are warm when trading
    starts. The base class never trades on a NaN prediction; results cover the predicted bars only.
    The feed is told its real bar size (Backtrader's timeframe and compression: minutes x 60 for hourly
    bars) and carries ``periods_per_year`` (None: from the data's calendar, :mod:`lstmtrade.data.bars`) for
    strategies that annualise, such as VolTarget. ``predictions`` with an ``uncertainty`` column (a seed
    ensemble's) fill the feed's uncertainty line, which strategies read as ``self.uncertainty[0]``.
    """
    frame = prices.frame if isinstance(prices, PriceData) else prices
    pred = _prediction_series(predictions)
    if not (isinstance(strategy, type) and issubclass(strategy, PredictionStrategy)):
        if isinstance(strategy, type) and issubclass(strategy, PortfolioStrategy):
            raise StrategyError(f"{strategy.__name__} is a portfolio strategy: run it on a universe with "
                                "backtest_portfolio(prices, predictions, ...)")
        raise StrategyError(f"{strategy!r} is not a PredictionStrategy subclass")
    check_params(strategy, params)
    missing = pred.index.difference(frame.index)
    if len(missing):
        raise DataError(f"{len(missing)} prediction date(s) have no price bar, first {stamp(missing[0])}: "
                        "use the price data the predictions were made on")
    if len(pred) < 2:
        raise DataError("need at least two days with predictions to backtest")
    first = frame.index.get_loc(pred.index[0])
    feed_frame = frame.loc[frame.index[max(0, first - history)]: pred.index[-1],
                           ["open", "high", "low", "close", "volume"]].copy()
    feed_frame["prediction"] = pred.astype("float64").reindex(feed_frame.index)
    uncertainty = _uncertainty_series(predictions)
    if uncertainty is not None:  # a seed ensemble's spread: the feed's uncertainty line (NaN otherwise)
        feed_frame["uncertainty"] = uncertainty.astype("float64").reindex(feed_frame.index)
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True, preload=True)
    feed = prediction_feed(feed_frame, frame.index, periods_per_year,
                           prices.bars if isinstance(prices, PriceData) else None)
    cerebro.adddata(feed)
    costs = costs if costs is not None else Costs(commission, slippage)
    strat = run_cerebro(cerebro, strategy, params, _Recorder, cash, costs, {feed: feed_frame})
    rows = strat.analyzers.recorder.rows
    index = feed_frame.index[-len(rows):] if rows else feed_frame.index[:0]
    equity = pd.Series([r[0] for r in rows], index=index, name="equity")
    equity = equity.reindex(feed_frame.index).fillna(float(cash))  # bars before the strategy's minperiod
    weights = pd.Series([r[1] for r in rows], index=index, name="weight").reindex(feed_frame.index).fillna(0.0)
    dates = feed_frame.index
    days = pred.index
    equity, weights = equity.loc[days], weights.loc[days]  # history bars only warm indicators up
    returns = equity.pct_change().fillna(0.0).rename("returns")
    trades = _dated(strat.fills, ["action", "size", "price", "value", "commission"], dates)
    rejected = _dated(strat.order_log, ["status", "size"], dates)
    decisions = pd.Series([r[2] for r in rows], index=index, name="decision").reindex(feed_frame.index).loc[days]
    recorder = strat.analyzers.recorder
    orders = _dated(recorder.orders, ["size"], dates)
    unfilled = _dated(strat.unfilled, ["shares", "value"], dates)
    opens = dict(getattr(strat, "open_values", ()))  # a strategy overriding next_open may not record them
    open_equity = pd.Series([opens.get(k, np.nan) for k in range(len(dates))], index=dates,
                            name="open_equity").loc[days]
    used = {**strategy_params(strategy), **params}
    return BacktestResult(returns, equity, weights, trades, strategy.__name__, used, rejected, decisions, orders,
                          unfilled=unfilled, borrow_paid=borrow_paid(strat), open_equity=open_equity)


def prediction_feed(feed_frame: pd.DataFrame, index: pd.DatetimeIndex, periods_per_year: int | None = None,
                    bars: BarSpec | None = None) -> PredictionFeed:
    """The strategy's feed over ``feed_frame``, with the bar size of the full ``index`` and the periods per year
    (``feed.periods_per_year``, read by strategies that annualise)."""
    bars = bars or detect_bars(index)
    feed = PredictionFeed(dataname=feed_frame, **feed_timeframe(index, bars))
    feed.periods_per_year = int(periods_per_year or bars.periods_per_year)
    return feed


def buy_and_hold(prices: PriceData | pd.DataFrame, predictions: Predictions | pd.Series | pd.DataFrame,
                 *, cash: float = 100_000.0, commission: float = 10.0, slippage: float = 0.0,
                 costs: Costs | None = None) -> BacktestResult:
    """The benchmark: fully long from the first possible open, same days and costs as the strategy."""
    return backtest(prices, predictions, BuyAndHold, cash=cash, commission=commission, slippage=slippage,
                    costs=costs)


def _dated(rows: list, columns: list[str], dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Rows of (bar, *columns) as a frame of (date, *columns): the same columns whether or not there are rows
    (an empty run's frames must compare equal to another empty run's, or to an empty slice of a longer run's)."""
    out = pd.DataFrame(rows, columns=["bar", *columns])
    bars = out.pop("bar").to_numpy(dtype=np.int64)
    out.insert(0, "date", dates[bars] if len(out) else pd.DatetimeIndex([], dtype=dates.dtype))
    return out


def _prediction_series(predictions: Predictions | pd.Series | pd.DataFrame) -> pd.Series:
    if isinstance(predictions, Predictions):
        return predictions.prediction
    if isinstance(predictions, pd.DataFrame):
        if "prediction" not in predictions.columns:
            raise DataError("predictions frame needs a 'prediction' column")
        return predictions["prediction"]
    return predictions


def _uncertainty_series(predictions: Predictions | pd.Series | pd.DataFrame) -> pd.Series | None:
    frame = predictions.frame if isinstance(predictions, Predictions) else predictions
    if isinstance(frame, pd.DataFrame) and "uncertainty" in frame.columns:
        return frame["uncertainty"]
    return None
