"""Running a :class:`~lstmtrade.backtesting.portfolio_strategy.PortfolioStrategy` over a universe's feeds: the inputs
checked once and laid out on the union calendar, one array feed per ticker, and the results as frames.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..data.prices import PriceData
from ..errors import DataError, StrategyError
from ..formatting import stamp
from ._backtrader import bt
from .costs import Borrow, Costs
from .engine import HISTORY, BacktestResult, borrow_paid, check_params, feed_timeframe, run_cerebro, strategy_params
from .portfolio_strategy import PortfolioStrategy, UniverseArrays
from .rules import BUILTINS, TopK


class _ArrayFeed(bt.feed.DataBase):
    """Daily OHLCV bars from plain lists: Backtrader's PandasData reads every field of every bar with
    a pandas ``iloc`` lookup, which was a third of a 100-ticker run's time."""

    params = (("frame", None),)  # DataFrame: tz-naive date index; open, high, low, close, volume
    _fast = None  # set by a one-step preload: (line buffers, (tick name, buffer) pairs, the datetime buffer)

    def start(self) -> None:
        super().start()
        frame = self.p.frame
        stamps = frame.index.values.astype("datetime64[us]").astype(np.int64)
        self._rows = list(zip((stamps / 86_400e6 + _ORDINAL_1970).tolist(),  # Backtrader's date numbers
                              *(frame[c].to_numpy(dtype="float64").tolist()
                                for c in ("open", "high", "low", "close", "volume"))))
        self._next_row = 0

    def preload(self) -> None:
        """Every bar at once: each line's buffer extended by its whole column, which is where Backtrader's
        bar-by-bar preload (``load()`` per bar: forward, ``_load``, date limits, filters) ends for a feed
        like this one, without filters, time zone or date limits; with any of those, Backtrader's own."""
        if (self._filters or self._ffilters or self._tzinput is not None or self.p.fromdate is not None
                or self.p.todate is not None or any(line.mode != line.UnBounded or line.bindings or len(line.array)
                                                    for line in self.lines)):
            return super().preload()
        rows = self._rows
        columns = dict(zip(("datetime", "open", "high", "low", "close", "volume"), zip(*rows))) if rows else {}
        columns["openinterest"] = [0.0] * len(rows)
        for alias in self.getlinealiases():
            line = getattr(self.lines, alias)
            line.array.extend(columns.get(alias, [float("nan")] * len(rows)))
            line.idx += len(rows)
            line.lencount += len(rows)
        self._next_row = len(rows)
        self._last()
        self.home()
        buffers = [getattr(self.lines, alias) for alias in self.getlinealiases()]
        self._fast = (buffers, [("tick_" + alias, line) for alias, line in zip(self.getlinealiases(), buffers)
                                if alias != "datetime"], self.lines.datetime)

    # Backtrader steps every feed through every bar of the union calendar (advance_peek, then advance):
    # for 1,000 feeds most of a backtest's time. Once preloaded above, these do what the base class does
    # (the same indices, the same tick_* values) by reading the line buffers directly.
    def advance_peek(self) -> float:
        fast = self._fast
        if fast is None:
            return super().advance_peek()
        first, stamps = fast[0][0], fast[2]
        return stamps.array[stamps.idx + 1] if first.lencount < len(first.array) - first.extension else float("inf")

    def advance(self, size: int = 1, datamaster: Any = None, ticks: bool = True) -> None:
        fast = self._fast
        if fast is None or datamaster is not None:
            return super().advance(size, datamaster, ticks)
        buffers, named, _ = fast
        for line in buffers:
            line.idx += size
            line.lencount += size
        if ticks:
            first, state = buffers[0], self.__dict__
            filled = first.lencount < len(first.array) - first.extension  # the base class fills ticks only then
            for name, line in named:
                state[name] = line.array[line.idx] if filled else None
            state["tick_last"] = first.array[first.idx] if filled else None

    def _load(self) -> bool:
        if self._next_row >= len(self._rows):
            return False
        lines = self.lines
        (lines.datetime[0], lines.open[0], lines.high[0], lines.low[0], lines.close[0],
         lines.volume[0]) = self._rows[self._next_row]
        lines.openinterest[0] = 0.0
        self._next_row += 1
        return True


_ORDINAL_1970 = 719_163  # proleptic Gregorian ordinal of 1970-01-01, what bt.date2num counts from


class _Recorder(bt.Analyzer):
    """Equity and weights at every close, and every order created, whatever the strategy's next() does."""

    def start(self) -> None:
        self.orders: list[tuple[int, int, float]] = []
        self.borrow = Borrow(getattr(self.strategy.env, "_lstmtrade_costs", None))

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        self.borrow.at_close(self.strategy)
        self.strategy._record_close()

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Submitted:
            self.orders.append((len(self.strategy) - 1, self.strategy._col[order.data], order.created.size))


def backtest_portfolio(prices: Mapping[str, pd.DataFrame | PriceData], predictions: pd.DataFrame,
                       strategy: type[PortfolioStrategy] = TopK, *, uncertainty: pd.DataFrame | None = None,
                       cash: float = 100_000.0, commission: float = 10.0, slippage: float = 0.0,
                       costs: Costs | None = None, history: int = HISTORY, held: pd.Series | None = None,
                       open_end: bool = False, **params: Any) -> BacktestResult:
    """Run a :class:`PortfolioStrategy` over the out-of-sample days; costs in basis points per side (``costs``, a
    :class:`~lstmtrade.backtesting.costs.Costs`, sets every kind and wins over ``commission`` and ``slippage``).

    ``prices`` maps ticker -> daily OHLCV bars (a DataFrame with open, high, low, close[, volume]
    columns, or PriceData). ``predictions`` is a wide frame: index = out-of-sample dates, columns =
    tickers (each must be in ``prices``), NaN = no forecast; a forecast on a date the ticker has no bar
    is ignored (with a warning). ``uncertainty`` is an optional frame shaped like it. Each feed starts up
    to ``history`` of its own bars before the first out-of-sample day, for indicator warm-up; the built-in
    rules (:data:`lstmtrade.backtesting.rules.BUILTINS`) read no feed, so theirs start at that day (the
    same results, a third fewer bars for Backtrader to step through on five years of data).

    Returns a BacktestResult on the union calendar's dates from the first to the last out-of-sample
    day: ``weights`` is the gross exposure (sum of |weight|) at each close, ``positions`` the weight of
    each ticker at each close, ``decisions`` the targets chosen at each close (NaN rows: no decision),
    ``open_equity`` the portfolio's value at each open before that open's orders, ``trades``, ``orders`` and
    ``rejected`` carry a ``ticker`` column.

    Live use (:func:`decide`): ``held`` (ticker -> weight) is a decision taken before the first day, what the
    strategy finds in ``last_targets`` at its first decision (its orders are not placed again); with
    ``open_end`` the data's last date is today rather than the end of history, so a ticker without a bar on
    it is paused (kept, as on a holiday) rather than sold at its last bar.
    """
    if not (isinstance(strategy, type) and issubclass(strategy, PortfolioStrategy)):
        raise StrategyError(f"{strategy!r} is not a PortfolioStrategy subclass")
    check_params(strategy, params)
    if strategy in BUILTINS.values():  # they read forecasts, never a feed: no warm-up bars to run through
        history = 0
    universe, frames = _prepare(prices, predictions, uncertainty, int(history), open_end)
    if held is not None:
        universe.held = held.reindex(universe.tickers).fillna(0.0).to_numpy(dtype="float64")
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True, preload=True)
    cerebro._lstmtrade_universe = universe
    timeframe = feed_timeframe(universe.dates)  # the bar size, as Backtrader names it (minutes x 60: hourly)
    feeds = {}
    for ticker in universe.tickers:
        feed = _ArrayFeed(frame=frames[ticker], **timeframe)
        cerebro.adddata(feed, name=str(ticker))
        feeds[feed] = frames[ticker]
    costs = costs if costs is not None else Costs(commission, slippage)
    strat = run_cerebro(cerebro, strategy, params, _Recorder, cash, costs, feeds)
    days = slice(universe.first, universe.last + 1)
    dates, tickers = universe.dates, universe.tickers
    index = dates[days]
    equity = pd.Series(strat._equity[days], index=index, name="equity").ffill().fillna(float(cash))
    returns = equity.pct_change().fillna(0.0).rename("returns")
    positions = pd.DataFrame(strat._positions[days], index=index, columns=tickers)
    weights = positions.abs().sum(axis=1).rename("weight")
    decisions = pd.DataFrame(np.nan, index=index, columns=tickers)
    for i, row in strat._decisions.items():
        decisions.iloc[i - universe.first] = row

    def frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
        out = pd.DataFrame(rows, columns=["bar", "col", *columns])
        bars, cols = out.pop("bar").to_numpy(dtype=np.int64), out.pop("col").to_numpy(dtype=np.int64)
        out.insert(0, "ticker", tickers[cols] if len(out) else pd.Index([], dtype=object))
        out.insert(0, "date", dates[bars] if len(out) else pd.DatetimeIndex([]))
        return out

    trades = frame(strat.fills, ["action", "size", "price", "value", "commission"])
    rejected = frame(strat.order_log, ["status", "size"])
    orders = frame(strat.analyzers.recorder.orders, ["size"])
    unfilled = frame(strat.unfilled, ["shares", "value"])
    used = {**strategy_params(strategy), **params}
    open_equity = pd.Series(strat._open_equity[days], index=index, name="open_equity")
    return BacktestResult(returns, equity, weights, trades, strategy.__name__, used, rejected, decisions, orders,
                          positions=positions, unfilled=unfilled, borrow_paid=borrow_paid(strat),
                          open_equity=open_equity)


def decide(prices: Mapping[str, pd.DataFrame | PriceData], forecasts: pd.Series,
           strategy: type[PortfolioStrategy] = TopK, *, uncertainty: pd.Series | None = None,
           held: pd.Series | None = None, history: int = 0, cash: float = 100_000.0, commission: float = 10.0,
           slippage: float = 0.0, costs: Costs | None = None, **params: Any) -> pd.Series:
    """The targets ``strategy`` chooses at the close of the data's last date: tomorrow's portfolio.

    ``forecasts`` (ticker -> prediction made after that close) go through the backtest's own machinery:
    a :func:`backtest_portfolio` run over the data's last two dates with forecasts on the last one only,
    so ``target_weights``, the gross limit and the handling of tickers without a bar are exactly the
    backtest's. ``held`` (ticker -> weight) is what the rule finds in ``last_targets`` (TopKDropout keeps
    names it holds); a ticker without a bar on the last date is paused, not sold (``open_end``). Rules
    reading indicators need ``history`` bars before the window to warm them up, as the backtest gives them.

    Returns ticker -> weight from the next open for every ticker with a bar in the window; NaN: the
    position is kept as it is (no forecast that day, or the rule said so). All NaN when the rule returned
    ``None`` (change nothing).
    """
    frames = {t: (p.frame if isinstance(p, PriceData) else p) for t, p in prices.items()}
    frames = {t: f.iloc[-(max(0, history) + 2):] for t, f in frames.items() if len(f)}
    dates = sorted({d for f in frames.values() for d in naive_dates(pd.DatetimeIndex(f.index[-2:]))})
    if len(dates) < 2:
        raise DataError("a decision needs the data's last two dates (the window the rule is run over)")
    prev, today = dates[-2:]
    tickers = [t for t, f in frames.items() if naive_dates(pd.DatetimeIndex(f.index[-1:]))[0] >= prev]
    frames = {t: frames[t] for t in tickers}
    wide = pd.DataFrame(np.nan, index=pd.DatetimeIndex([prev, today]), columns=pd.Index(tickers))
    known = forecasts.index.intersection(wide.columns)
    wide.loc[today, known] = forecasts[known].to_numpy(dtype="float64")
    unc = None
    if uncertainty is not None:
        unc = pd.DataFrame(np.nan, index=wide.index, columns=wide.columns)
        unc.loc[today, known] = uncertainty.reindex(known).to_numpy(dtype="float64")
    result = backtest_portfolio(frames, wide, strategy, uncertainty=unc, cash=cash, commission=commission,
                                slippage=slippage, costs=costs, history=history, held=held, open_end=True, **params)
    return result.decisions.loc[today].rename("weight")


def naive_dates(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Dates as tz-naive timestamps (a tz-aware index keeps its local dates)."""
    return index.tz_localize(None) if index.tz is not None else index


def normalise_frame(frame: Any, ticker: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"prices for {ticker} must be a DataFrame or PriceData, got {type(frame).__name__}")
    frame = frame.rename(columns=lambda c: str(c).lower())
    missing = [c for c in ("open", "high", "low", "close") if c not in frame.columns]
    if missing:
        raise DataError(f"prices for {ticker} lack column(s) {', '.join(missing)}")
    try:
        index = naive_dates(pd.DatetimeIndex(frame.index))
    except (TypeError, ValueError):
        raise DataError(f"prices for {ticker} need a date index") from None
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataError(f"prices for {ticker}: dates must be sorted and unique (sort_index(), drop duplicates)")
    out = frame[["open", "high", "low", "close"]].astype("float64").set_axis(index)
    out["volume"] = frame["volume"].to_numpy(dtype="float64") if "volume" in frame.columns else 0.0
    return out


def _prepare(prices: Mapping[str, Any], predictions: pd.DataFrame, uncertainty: pd.DataFrame | None,
             history: int, open_end: bool = False) -> tuple[UniverseArrays, dict[str, pd.DataFrame]]:
    """Check the inputs once and lay them out on the union calendar."""
    if not isinstance(predictions, pd.DataFrame):
        raise DataError("predictions must be a wide DataFrame: index = dates, columns = tickers")
    if not isinstance(prices, Mapping) or not prices:
        raise DataError("prices must be a non-empty mapping of ticker -> price frame")
    pred = predictions.set_axis(naive_dates(pd.DatetimeIndex(predictions.index))).sort_index()
    if pred.index.has_duplicates:
        raise DataError(f"predictions have duplicate dates, first {stamp(pred.index[pred.index.duplicated()][0])}")
    if pred.columns.has_duplicates:
        raise DataError(f"predictions have duplicate tickers: {list(pred.columns[pred.columns.duplicated()][:3])}")
    absent = [t for t in pred.columns if t not in prices]
    if absent:
        raise DataError(f"{len(absent)} ticker(s) in predictions have no prices, first {absent[:3]}")
    if len(pred) < 2:
        raise DataError("need at least two days with predictions to backtest")
    first_day, last_day = pred.index[0], pred.index[-1]
    frames: dict[str, pd.DataFrame] = {}
    for ticker in pred.columns:
        item = prices[ticker]  # PriceData was checked when loaded (sorted naive dates, float OHLCV): used as it is
        frame = item.frame if isinstance(item, PriceData) else normalise_frame(item, ticker)
        start = max(0, int(frame.index.searchsorted(first_day)) - max(0, history))
        frame = frame.iloc[start:int(frame.index.searchsorted(last_day, side="right"))]
        if frame.empty:
            continue
        bad = ~np.isfinite(frame[["open", "high", "low", "close"]].to_numpy()).all(axis=1)
        if bad.any():
            raise DataError(f"prices for {ticker} are missing or not finite on {stamp(frame.index[bad][0])}: "
                            "drop those rows (the ticker then has no bar that day)")
        frames[ticker] = frame
    if not frames:
        raise DataError("no ticker has a price bar between the first and last prediction dates")
    tickers = pd.Index([t for t in pred.columns if t in frames])
    dates = frames[tickers[0]].index
    for ticker in tickers[1:]:
        dates = dates.union(frames[ticker].index)
    unknown = pred.index.difference(dates)
    if len(unknown):
        raise DataError(f"{len(unknown)} prediction date(s) have no price bar for any ticker, first "
                        f"{stamp(unknown[0])}: use the price data the predictions were made on")
    shape = (len(dates), len(tickers))
    has_bar = np.zeros(shape, dtype=bool)
    paused = np.zeros(shape, dtype=bool)
    opens = np.full(shape, np.nan)
    closes = np.full(shape, np.nan)
    ends_early: dict[int, list[int]] = {}
    for j, ticker in enumerate(tickers):
        rows = dates.get_indexer(frames[ticker].index)
        has_bar[rows, j] = True
        paused[rows[0]:(len(dates) if open_end else rows[-1] + 1), j] = True
        opens[rows, j] = frames[ticker]["open"].to_numpy()
        closes[rows, j] = frames[ticker]["close"].to_numpy()
        if rows[-1] < len(dates) - 1 and not open_end:
            ends_early.setdefault(int(rows[-1]), []).append(j)
    paused &= ~has_bar
    closes = pd.DataFrame(closes).ffill().to_numpy()
    mark = np.where(has_bar, opens, np.vstack([np.full((1, len(tickers)), np.nan), closes[:-1]]))
    values = _on_calendar(pred, dates, tickers, "predictions")
    stray = np.isfinite(values) & ~has_bar
    if stray.any():
        r, c = np.argwhere(stray)[0]
        warnings.warn(f"{int(stray.sum())} forecast(s) fall on dates their ticker has no bar (first {tickers[c]} "
                      f"on {stamp(dates[r])}); they are ignored", stacklevel=3)
    values[~has_bar] = np.nan
    unc = None
    if uncertainty is not None:
        if not isinstance(uncertainty, pd.DataFrame):
            raise DataError("uncertainty must be a wide DataFrame shaped like predictions")
        unc = _on_calendar(uncertainty.set_axis(naive_dates(pd.DatetimeIndex(uncertainty.index))), dates, tickers,
                           "uncertainty")
        unc[~has_bar] = np.nan
    universe = UniverseArrays(tickers, dates, has_bar, paused, opens, mark, closes, values, unc,
                         int(dates.get_loc(first_day)), int(dates.get_loc(last_day)), ends_early)
    return universe, frames


def _on_calendar(wide: pd.DataFrame, dates: pd.DatetimeIndex, tickers: pd.Index, what: str) -> np.ndarray:
    if wide.index.has_duplicates:
        raise DataError(f"{what} have duplicate dates")
    try:
        return wide.reindex(index=dates, columns=tickers).to_numpy(dtype="float64", na_value=np.nan, copy=True)
    except (TypeError, ValueError):
        raise DataError(f"{what} must hold numbers (NaN: no forecast)") from None
