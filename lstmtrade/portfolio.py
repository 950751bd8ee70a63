"""Portfolio backtests: one strategy trading many tickers from a wide frame of forecasts.

Write your own by subclassing :class:`PortfolioStrategy` and overriding one method::

    import pandas as pd
    from lstmtrade import PortfolioStrategy

    class BestThree(PortfolioStrategy):
        '''A third of equity in each of the three highest forecasts.'''
        params = (("n", 3),)  # names held

        def target_weights(self, predictions):
            return pd.Series(1.0 / self.p.n, index=predictions.nlargest(self.p.n).index)

``target_weights(predictions)`` receives today's forecasts (a Series: index = the tickers that traded
today and have a finite forecast, values = predicted returns) and returns the fraction of equity to
hold in each ticker from the next open (negative = short). Tickers it leaves out are closed (except
those that did not trade today, see Calendars); a NaN weight keeps that ticker's position as it is;
returning ``None`` keeps every position (no orders).
If the wide ``uncertainty`` frame was given to :func:`backtest_portfolio`, today's values are in
``self.uncertainty`` (a Series aligned with ``predictions``; ``None`` without the frame), and an
override declared as ``target_weights(self, predictions, uncertainty)`` receives them as its second
argument: the base class looks at the override's signature, so one-argument overrides keep working.

Timing, the same as for one asset: decisions are taken after the close of day t from forecasts made
with data up to that close; orders go in at the open of t+1 (Backtrader's cheat-on-open hook),
sized with that open's price net of commission and slippage. Reductions and sells are sent before
buys, and buys are scaled down to the cash the sells free, so a full rotation is never refused for
want of cash. Resizing a held position is skipped when the change is smaller than ``min_trade``;
opening and closing a position always trade. The sum of ``|weight|`` is capped at ``gross_limit``
(1.0 by default, a class attribute; the ``gross_limit`` param overrides it per run): larger requests
are scaled down. The simulated broker does not lend, so long positions beyond equity plus short
proceeds are cut to the cash available.

Calendars: the feeds run on the union of the tickers' trading dates. A ticker without a bar on a
date is not traded that day (Backtrader would fill an order at its previous bar's open): its
position is kept, valued at its last close, and any change waits for its next bar. It has no
forecast that day, so a decision that leaves it out does not close it: its target, and any change
still waiting, stand until it trades again or a decision names it. A ticker whose data ends before
the last out-of-sample day is sold at the open of its last bar, because nothing could be priced
after it; the cash stays in the portfolio.

``next()`` runs on every date of the union calendar, even while some feeds have not started (their
``len()`` is 0: check :meth:`has_bar` before reading a feed or an indicator built on it).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._backtrader import bt
from .backtesting import HISTORY, BacktestResult, buy_and_hold, check_params, run_cerebro, strategy_params
from .data import PriceData
from .errors import DataError, StrategyError
from .timestamps import stamp
from .strategy import takes_uncertainty


@dataclass
class _Universe:
    """Everything the strategy needs as arrays on the union calendar: shape (T, N) unless noted."""

    tickers: pd.Index  # (N,)
    dates: pd.DatetimeIndex  # (T,) union of the feeds' dates
    has_bar: np.ndarray  # bool: the ticker has a bar on that date
    paused: np.ndarray  # bool: no bar that date, though the ticker has bars before and after it
    open: np.ndarray  # NaN where no bar
    mark: np.ndarray  # price that values a position at that open: the open, else the last close
    close: np.ndarray  # last close up to that date (what the broker values a position at)
    pred: np.ndarray  # forecast made after that close, NaN: none (or no bar that day)
    unc: np.ndarray | None  # uncertainty of the forecast, same shape
    first: int  # index of the first out-of-sample date
    last: int  # index of the last out-of-sample date
    ends_early: dict[int, list[int]]  # date index -> tickers whose last bar it is (before ``last``)


class _ArrayFeed(bt.feed.DataBase):
    """Daily OHLCV bars from plain lists: Backtrader's PandasData reads every field of every bar with
    a pandas ``iloc`` lookup, which was a third of a 100-ticker run's time."""

    params = (("frame", None),)  # DataFrame: tz-naive date index; open, high, low, close, volume

    def start(self) -> None:
        super().start()
        frame = self.p.frame
        stamps = frame.index.values.astype("datetime64[us]").astype(np.int64)
        self._rows = list(zip((stamps / 86_400e6 + _ORDINAL_1970).tolist(),  # Backtrader's date numbers
                              *(frame[c].to_numpy(dtype="float64").tolist()
                                for c in ("open", "high", "low", "close", "volume"))))
        self._next_row = 0

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


class PortfolioStrategy(bt.Strategy):
    """Base class: turns ``target_weights(predictions)`` into orders at the next open, for many tickers.

    Simple path: override ``target_weights(self, predictions) -> pd.Series`` (ticker -> fraction of
    equity, negative = short; missing = closed, unless it has no bar today; NaN = keep; ``None`` = no
    change at all).

    Advanced path: override ``next()``, read ``self.predictions`` after calling ``self.today()``
    (or :meth:`recent_predictions`), ``self.feed(ticker)`` and indicators built in ``__init__``
    (call ``super().__init__()`` first), and call ``self.set_targets(weights)``.

    Available inside: ``self.tickers`` (list), ``self.trading`` (tickers with a bar today),
    ``self.paused`` (tickers between two of their bars without one today),
    ``self.predictions`` and ``self.uncertainty``
    (today's Series, or None), ``self.last_targets`` (the previous decision, a Series of nonzero
    weights, None before the first), :meth:`has_bar`, :meth:`feed`, :meth:`current_weights`,
    :meth:`recent_predictions`, ``self.gross`` (the gross limit in force).
    """

    params = (
        ("min_trade", 0.005),  # smallest change in a held name's weight worth an order (entries and exits always trade)
        ("gross_limit", None),  # cap on the sum of |weights|; None: the class attribute gross_limit (1.0)
    )
    gross_limit = 1.0  # default cap on sum |weight|: larger target vectors are scaled down

    def __init__(self) -> None:
        universe = getattr(self.env, "_lstmtrade_universe", None)
        if universe is None:
            raise StrategyError(f"{type(self).__name__} is a PortfolioStrategy: run it with backtest_portfolio()")
        self._u: _Universe = universe
        self.tickers: list[str] = list(universe.tickers)
        self._index = {ticker: j for j, ticker in enumerate(self.tickers)}
        self._col = {data: j for j, data in enumerate(self.datas)}
        self._wanted = np.full(len(self.tickers), np.nan)  # targets not yet traded (NaN: nothing to do)
        self._target = np.zeros(len(self.tickers))  # the weight each ticker is meant to have
        self._opening = False  # True inside next_open
        self._pending: dict[int, bt.Order] = {}
        self.predictions: pd.Series | None = None
        self.uncertainty: pd.Series | None = None
        self.last_targets: pd.Series | None = None
        self.order_log: list[tuple] = []
        self.fills: list[tuple] = []
        self._decisions: dict[int, np.ndarray] = {}
        self._equity = np.full(len(universe.dates), np.nan)
        self._positions = np.zeros((len(universe.dates), len(self.tickers)))
        self._pass_uncertainty = takes_uncertainty(type(self).target_weights)

    def start(self) -> None:
        if "_wanted" not in vars(self):
            raise StrategyError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                "anything else (it sets up the tickers and the order machinery)")
        limit = self.p.gross_limit if self.p.gross_limit is not None else type(self).gross_limit
        if not (isinstance(limit, (int, float)) and math.isfinite(limit) and limit > 0):
            raise StrategyError(f"gross_limit must be a positive number, got {limit!r}")
        self.gross = float(limit)
        info = self.broker.getcommissioninfo(self.datas[0])
        comm = float(info.p.commission)  # a fraction: Backtrader has already divided percentages by 100
        slip = float(self.broker.p.slip_perc or 0.0)
        self._buy_cost = (1.0 + slip) * (1.0 + comm)  # per unit of open price, at worst
        self._sell_net = (1.0 - slip) * (1.0 - comm)  # per unit of open price, at worst

    # -- the hook most users override
    def target_weights(self, predictions: pd.Series, uncertainty: pd.Series | None = None) -> pd.Series | None:
        """Fraction of equity per ticker to hold from the next open, given today's forecasts."""
        raise NotImplementedError(f"{type(self).__name__} must override target_weights() or next()")

    # -- helpers for strategies
    def feed(self, ticker: str) -> bt.feed.DataBase:
        """The Backtrader data feed of ``ticker`` (its own bars only)."""
        return self.datas[self._index[ticker]]

    def has_bar(self, ticker: str) -> bool:
        """Whether ``ticker`` traded on today's date (at the close: today; in next_open: this open)."""
        return bool(self._u.has_bar[self._today(), self._index[ticker]])

    @property
    def trading(self) -> pd.Index:
        """Tickers with a bar today (at the close: today's; in next_open: this open's)."""
        return self._u.tickers[self._u.has_bar[self._today()]]

    @property
    def paused(self) -> pd.Index:
        """Tickers without a bar today that have bars before and after it (a holiday or a halt).

        A decision leaves these as they are unless it names them (they have no forecast today).
        """
        return self._u.tickers[self._u.paused[self._today()]]

    def current_weights(self) -> pd.Series:
        """Nonzero weights held now, valued at the last close."""
        i = self._today()
        shares = self._shares()
        value = self.broker.getvalue()
        held = np.flatnonzero(shares)
        return pd.Series(shares[held] * self._u.close[i, held] / value, index=self._u.tickers[held], dtype="float64")

    def recent_predictions(self, n: int) -> pd.DataFrame:
        """The last ``n`` rows of forecasts up to today's close (dates x tickers; NaN: none)."""
        i = self._today()
        lo = max(0, i - int(n) + 1)
        return pd.DataFrame(self._u.pred[lo:i + 1], index=self._u.dates[lo:i + 1], columns=self._u.tickers)

    def today(self) -> bool:
        """Set ``self.predictions`` and ``self.uncertainty`` for today; False when there is no forecast."""
        i = self._today()
        row = self._u.pred[i]
        mask = ~np.isnan(row)
        if i < self._u.first or not mask.any():
            self.predictions = self.uncertainty = None
            return False
        index = self._u.tickers[mask]
        self.predictions = pd.Series(row[mask], index=index, name="prediction")
        unc = self._u.unc
        self.uncertainty = None if unc is None else pd.Series(unc[i, mask], index=index, name="uncertainty")
        return True

    def _today(self) -> int:
        """Index of today's date on the union calendar: in next_open the strategy has not advanced yet."""
        return len(self) if self._opening else len(self) - 1

    # -- the decision at the close
    def prenext(self) -> None:
        self.next()  # some feeds have not started (or indicators are warming up): decide anyway

    def next(self) -> None:
        if not self.today():
            return  # no forecast today: keep what we hold
        if self._pass_uncertainty:
            weights = self.target_weights(self.predictions, self.uncertainty)
        else:
            weights = self.target_weights(self.predictions)
        if weights is not None:
            self.set_targets(weights)

    def set_targets(self, weights: pd.Series | Mapping[str, float] | None) -> None:
        """Hold ``weights`` (ticker -> fraction of equity) from the next open; tickers left out are closed.

        Tickers left out that did not trade today are not closed: their target and any change still
        waiting for their next bar stand (they had no forecast to decide on). NaN keeps a ticker's
        position as it is; ``None`` changes nothing. When the sum of ``|weight|`` (names left alone
        included) exceeds ``self.gross``, every weight is scaled down alike. Ignored before the first
        out-of-sample day (those bars only warm indicators up).
        """
        i = self._today()
        if weights is None or i < self._u.first or i > self._u.last:
            return
        if not isinstance(weights, pd.Series):
            weights = pd.Series(weights, dtype="float64") if len(weights) else pd.Series(dtype="float64")
        if weights.index.has_duplicates:
            raise StrategyError(f"{type(self).__name__} returned a ticker twice: "
                                f"{list(weights.index[weights.index.duplicated()][:3])}")
        cols = self._u.tickers.get_indexer(weights.index)
        if (cols < 0).any():
            unknown = list(weights.index[cols < 0][:3])
            raise StrategyError(f"{type(self).__name__} returned weights for unknown ticker(s) {unknown}; "
                                f"the universe is {self.tickers[:5]}{'...' if len(self.tickers) > 5 else ''}")
        idle = self._u.paused[i].copy()  # no bar today, so no forecast: left as they are unless named
        idle[cols] = False
        target = np.where(idle, self._target, 0.0)
        try:
            target[cols] = np.asarray(weights, dtype="float64")
        except (TypeError, ValueError):
            raise StrategyError(f"{type(self).__name__} returned weights that are not numbers") from None
        target[np.isinf(target)] = np.nan  # not finite: keep the position, like NaN
        gross = np.nansum(np.abs(target))
        if gross > self.gross:
            target *= self.gross / gross
        self._decisions[i] = target
        wish = target.copy()
        wish[idle & np.isnan(self._wanted)] = np.nan  # an idle name with nothing pending keeps its position
        self._wanted = wish
        self._target = np.where(np.isnan(target), self._target, target)
        chosen = self._target != 0
        self.last_targets = pd.Series(self._target[chosen], index=self._u.tickers[chosen], dtype="float64")

    # -- machinery: orders at the next open
    def prenext_open(self) -> None:
        self.next_open()

    def nextstart_open(self) -> None:
        self.next_open()

    def next_open(self) -> None:
        """At the open of t+1, before orders are matched: size each order with this open's price."""
        self._opening = True
        try:
            self._rebalance()
        finally:
            self._opening = False

    def _rebalance(self) -> None:
        u = self._u
        i = len(self)  # this open's date (the strategy has not moved on to today's close yet)
        if i >= len(u.dates):
            return
        want = self._wanted
        shares = None
        for j in u.ends_early.get(i, ()):  # its last bar: nothing could be priced after it
            shares = self._shares() if shares is None else shares
            self._target[j] = 0.0
            if shares[j] != 0:
                want[j] = 0.0
        todo = u.has_bar[i] & ~np.isnan(want)
        for j in self._pending:
            todo[j] = False
        if not todo.any():
            return
        cols = np.flatnonzero(todo)
        w = want[cols].copy()
        want[cols] = np.nan  # handled today, whether or not an order is needed
        shares = self._shares() if shares is None else shares
        held = np.flatnonzero(shares)
        equity = self.broker.getcash() + float(np.dot(shares[held], u.mark[i, held]))
        if equity <= 0:
            return
        price = u.open[i, cols]
        have = shares[cols]
        target = np.floor(np.abs(w) * equity / (price * self._buy_cost)) * np.sign(w)
        delta = target - have
        current = have * price / equity
        trade = (delta != 0) & ((np.abs(w - current) >= self.p.min_trade) | (w == 0) | (have == 0))
        sells = trade & (delta < 0)
        buys = trade & (delta > 0)
        budget = self.broker.getcash() + float(np.sum(-delta[sells] * price[sells])) * self._sell_net
        cost = float(np.sum(delta[buys] * price[buys])) * self._buy_cost
        if cost > budget:  # not enough cash for every buy: scale them all down alike
            delta[buys] = np.floor(delta[buys] * max(budget, 0.0) / cost)
        for k in np.flatnonzero(sells):
            self._send(int(cols[k]), float(delta[k]))
        for k in np.flatnonzero(buys):
            if delta[k] > 0:
                self._send(int(cols[k]), float(delta[k]))

    def _send(self, j: int, size: float) -> None:
        data = self.datas[j]
        order = self.buy(data=data, size=size) if size > 0 else self.sell(data=data, size=-size)
        if order is not None:
            self._pending[j] = order

    def _shares(self) -> np.ndarray:
        out = np.zeros(len(self.tickers))
        for data, position in self.broker.positions.items():
            if position.size:
                out[self._col[data]] = position.size
        return out

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Submitted, order.Accepted):
            return
        j = self._col[order.data]
        bar = len(self) - 1
        if order.status == order.Completed:
            self.fills.append((bar, j, "buy" if order.isbuy() else "sell", order.executed.size,
                               order.executed.price, abs(order.executed.size) * order.executed.price,
                               order.executed.comm))
        elif order.status in (order.Canceled, order.Margin, order.Rejected, order.Expired):
            self.order_log.append((bar, j, order.getstatusname(), order.created.size))
        pending = self._pending.get(j)
        if pending is not None and pending.ref == order.ref and not order.alive():  # notified: a clone
            del self._pending[j]

    def _record_close(self) -> None:
        """Equity and weights at this close (called by the recorder whatever next() does)."""
        i = len(self) - 1
        value = self.broker.getvalue()
        self._equity[i] = value
        shares = self._shares()
        held = np.flatnonzero(shares)
        if len(held) and value:
            self._positions[i, held] = shares[held] * self._u.close[i, held] / value


# -- built-in rules -----------------------------------------------------------------------------------

class TopK(PortfolioStrategy):
    """Equal weights in the k highest forecasts, rebalanced at every decision.

    A held name without a bar today is kept (it has no forecast to rank) and counts towards k. On a day
    whose forecasts are all equal (the zero baseline) there is nothing to rank and the book goes flat.
    """

    params = (
        ("k", 10),  # names held; each gets gross_limit / k of equity (fewer names: the rest stays in cash)
        ("min_forecast", None),  # a name must forecast more than this to be bought (None: no floor; 0: positive only)
    )

    def start(self) -> None:
        super().start()
        _check_positive_int(self, "k")

    def target_weights(self, predictions: pd.Series) -> pd.Series:
        if _no_ranking(predictions):
            return pd.Series(dtype="float64")
        if self.p.min_forecast is not None:
            predictions = predictions[predictions > self.p.min_forecast]
        chosen = self.last_targets.index if self.last_targets is not None else pd.Index([])
        idle = chosen[chosen.isin(self.paused)]  # no bar today: the base class keeps them
        return pd.Series(self.gross / self.p.k, index=_largest(predictions, self.p.k - len(idle)))


class TopKDropout(PortfolioStrategy):
    """qlib's TopkDropout: hold k names; each day swap at most n_drop of the worst for the best not held.

    Held names and the best-ranked names not held are ranked together; held names among the n_drop
    worst of that list are sold and as many of the best new names are bought (more while fewer than k
    are held). A held name without a forecast today ranks last; one without a bar today is left alone
    and still counts towards k. Equal weights, gross_limit / k each. "Held" means chosen at the
    previous decision (``self.last_targets``), whether or not its order has filled yet.
    """

    params = (
        ("k", 10),  # names held
        ("n_drop", 2),  # most names replaced per day (turnover control)
    )

    def start(self) -> None:
        super().start()
        _check_positive_int(self, "k")
        if not (isinstance(self.p.n_drop, int) and self.p.n_drop >= 0):
            raise StrategyError(f"{type(self).__name__}: n_drop must be an integer >= 0, got {self.p.n_drop!r}")

    def target_weights(self, predictions: pd.Series) -> pd.Series:
        if _no_ranking(predictions):
            return pd.Series(dtype="float64")
        k, n_drop = self.p.k, self.p.n_drop
        chosen = self.last_targets.index if self.last_targets is not None else pd.Index([])
        idle = chosen[chosen.isin(self.paused)]  # no bar today: the base class keeps them; they count towards k
        room = k - len(idle)
        last = predictions.reindex(chosen[chosen.isin(self.trading)])
        last = last.sort_values(ascending=False, kind="stable").index  # best first, no forecast last
        others = predictions[~predictions.index.isin(chosen)].sort_values(ascending=False, kind="stable")
        fresh = others.index[:max(0, n_drop + room - len(last))]
        comb = predictions.reindex(last.append(fresh)).sort_values(ascending=False, kind="stable").index
        worst = comb[len(comb) - n_drop:] if n_drop else comb[:0]
        sell = last[last.isin(worst)]
        buy = fresh[:max(0, len(sell) + room - len(last))]
        keep = last[~last.isin(sell)].append(buy)
        return pd.Series(self.gross / k, index=keep)


class LongShortQuantile(PortfolioStrategy):
    """Long the top quantile, short the bottom quantile, equal weights: market-neutral.

    Half of gross_limit long, half short (0.5 / 0.5 by default). Each side holds
    max(1, floor(quantile * names)) names; with fewer than two forecasts the book is flat.
    """

    params = (
        ("quantile", 0.2),  # fraction of the forecasts on each side (at most 0.5)
    )

    def start(self) -> None:
        super().start()
        if not (isinstance(self.p.quantile, (int, float)) and 0 < self.p.quantile <= 0.5):
            raise StrategyError(f"{type(self).__name__}: quantile must be in (0, 0.5], got {self.p.quantile!r}")

    def target_weights(self, predictions: pd.Series) -> pd.Series:
        if len(predictions) < 2 or _no_ranking(predictions):
            return pd.Series(dtype="float64")
        n = max(1, math.floor(self.p.quantile * len(predictions)))
        ranked = predictions.sort_values(kind="stable").index
        side = 0.5 * self.gross / n
        return pd.concat([pd.Series(side, index=ranked[-n:]), pd.Series(-side, index=ranked[:n])])


class RankWeighted(PortfolioStrategy):
    """Weights proportional to the demeaned cross-sectional rank of the forecast (long-short).

    Rank 1..N (ties averaged), minus its mean, scaled so the sum of |weights| is gross_limit: net zero.
    ``long_only`` keeps the above-average half, weighted by how far above.
    """

    params = (
        ("long_only", False),  # keep only the positive (above-average rank) side
    )

    def target_weights(self, predictions: pd.Series) -> pd.Series:
        rank = predictions.rank(method="average")
        centred = rank - rank.mean()
        if self.p.long_only:
            centred = centred.clip(lower=0.0)
        total = centred.abs().sum()
        if total == 0:
            return pd.Series(dtype="float64")
        return centred * (self.gross / total)


class EqualWeight(PortfolioStrategy):
    """Equal weights in every ticker with a forecast on the first day, then held: the benchmark."""

    def target_weights(self, predictions: pd.Series) -> pd.Series | None:
        if self.last_targets is not None:
            return None  # bought once; never rebalanced
        return pd.Series(self.gross / len(predictions), index=predictions.index)


BUILTINS = {cls.__name__: cls for cls in (TopK, TopKDropout, LongShortQuantile, RankWeighted, EqualWeight)}


def _no_ranking(predictions: pd.Series) -> bool:
    """Every forecast equal (the zero forecast, say): no ranking, so the ranking rules hold nothing, as a
    single-asset rule stays flat on a zero forecast (rather than buy the first k names in ticker order)."""
    values = predictions.to_numpy(dtype="float64")
    return len(values) > 0 and bool(np.all(values == values[0]))


def _largest(values: pd.Series, n: int) -> pd.Index:
    """Index of the ``n`` largest values, ties to the earlier entry (Series.nlargest, 50x faster)."""
    order = np.argsort(-values.to_numpy(dtype="float64"), kind="stable")
    return values.index[order[:max(0, n)]]


def _check_positive_int(strat: PortfolioStrategy, name: str) -> None:
    value = getattr(strat.p, name)
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise StrategyError(f"{type(strat).__name__}: {name} must be an integer >= 1, got {value!r}")


# -- running it ---------------------------------------------------------------------------------------

class _Recorder(bt.Analyzer):
    """Equity and weights at every close, and every order created, whatever the strategy's next() does."""

    def start(self) -> None:
        self.orders: list[tuple[int, int, float]] = []

    def prenext(self) -> None:
        self.next()

    def next(self) -> None:
        self.strategy._record_close()

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Submitted:
            self.orders.append((len(self.strategy) - 1, self.strategy._col[order.data], order.created.size))


def backtest_portfolio(prices: Mapping[str, pd.DataFrame | PriceData], predictions: pd.DataFrame,
                       strategy: type[PortfolioStrategy] = TopK, *, uncertainty: pd.DataFrame | None = None,
                       cash: float = 100_000.0, commission: float = 10.0, slippage: float = 0.0,
                       history: int = HISTORY, **params: Any) -> BacktestResult:
    """Run a :class:`PortfolioStrategy` over the out-of-sample days; costs in basis points per side.

    ``prices`` maps ticker -> daily OHLCV bars (a DataFrame with open, high, low, close[, volume]
    columns, or PriceData). ``predictions`` is a wide frame: index = out-of-sample dates, columns =
    tickers (each must be in ``prices``), NaN = no forecast; a forecast on a date the ticker has no bar
    is ignored (with a warning). ``uncertainty`` is an optional frame shaped like it. Each feed starts up
    to ``history`` of its own bars before the first out-of-sample day, for indicator warm-up.

    Returns a BacktestResult on the union calendar's dates from the first to the last out-of-sample
    day: ``weights`` is the gross exposure (sum of |weight|) at each close, ``positions`` the weight of
    each ticker at each close, ``decisions`` the targets chosen at each close (NaN rows: no decision),
    ``trades``, ``orders`` and ``rejected`` carry a ``ticker`` column.
    """
    if not (isinstance(strategy, type) and issubclass(strategy, PortfolioStrategy)):
        raise StrategyError(f"{strategy!r} is not a PortfolioStrategy subclass")
    check_params(strategy, params)
    universe, frames = _prepare(prices, predictions, uncertainty, int(history))
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True, preload=True)
    cerebro._lstmtrade_universe = universe
    from .backtesting import feed_timeframe

    timeframe = feed_timeframe(universe.dates)  # the bar size, as Backtrader names it (minutes x 60: hourly)
    for ticker in universe.tickers:
        cerebro.adddata(_ArrayFeed(frame=frames[ticker], **timeframe), name=str(ticker))
    strat = run_cerebro(cerebro, strategy, params, _Recorder, cash, commission, slippage)
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
    used = {**strategy_params(strategy), **params}
    return BacktestResult(returns, equity, weights, trades, strategy.__name__, used, rejected, decisions, orders,
                          positions=positions)


def equal_weight_buy_and_hold(prices: Mapping[str, pd.DataFrame | PriceData], predictions: pd.DataFrame, *,
                              cash: float = 100_000.0, commission: float = 10.0,
                              slippage: float = 0.0) -> BacktestResult:
    """The universe's benchmark: equal weights in the tickers with a forecast on the first day, held.

    It decides at the first out-of-sample close, like any strategy, so it buys at the first open a
    strategy can trade, pays the same costs and covers the same days. No rebalancing afterwards. A
    ticker whose data ends early is sold at the open of its last bar and the cash is kept (not
    reinvested); a ticker without a bar at that first open is bought at its next bar.
    """
    return backtest_portfolio(prices, predictions, EqualWeight, cash=cash, commission=commission,
                              slippage=slippage, history=0)


def series_benchmark(prices: PriceData | pd.DataFrame, days: pd.DatetimeIndex, *, cash: float = 100_000.0,
                     commission: float = 10.0, slippage: float = 0.0) -> BacktestResult:
    """Buy-and-hold of one series (an index or ETF) over ``days``, with the same costs and timing.

    It decides at the first of ``days`` that the series trades and buys at its next open (so, like the
    strategy, from the open after the first out-of-sample close). Dates in ``days`` the series does
    not trade carry its last equity (return 0); dates it trades outside ``days`` are left out.
    """
    frame = prices.frame if isinstance(prices, PriceData) else prices
    frame = _normalise(frame, "benchmark")
    days = _naive(pd.DatetimeIndex(days))
    common = days.intersection(frame.index)
    if len(common) < 2:
        raise DataError(f"the benchmark series trades on {len(common)} of the {len(days)} backtest days; "
                        "it needs at least two (check its dates)")
    result = buy_and_hold(frame, pd.Series(0.0, index=common, name="prediction"),
                          cash=cash, commission=commission, slippage=slippage)
    equity = result.equity.reindex(days).ffill().fillna(float(cash))
    result.equity = equity
    result.returns = equity.pct_change().fillna(0.0).rename("returns")
    result.weights = result.weights.reindex(days).ffill().fillna(0.0)
    result.decisions = result.decisions.reindex(days)
    return result


def _naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Dates as tz-naive timestamps (a tz-aware index keeps its local dates)."""
    return index.tz_localize(None) if index.tz is not None else index


def _normalise(frame: Any, ticker: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"prices for {ticker} must be a DataFrame or PriceData, got {type(frame).__name__}")
    frame = frame.rename(columns=lambda c: str(c).lower())
    missing = [c for c in ("open", "high", "low", "close") if c not in frame.columns]
    if missing:
        raise DataError(f"prices for {ticker} lack column(s) {', '.join(missing)}")
    try:
        index = _naive(pd.DatetimeIndex(frame.index))
    except (TypeError, ValueError):
        raise DataError(f"prices for {ticker} need a date index") from None
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataError(f"prices for {ticker}: dates must be sorted and unique (sort_index(), drop duplicates)")
    out = frame[["open", "high", "low", "close"]].astype("float64").set_axis(index)
    out["volume"] = frame["volume"].to_numpy(dtype="float64") if "volume" in frame.columns else 0.0
    return out


def _prepare(prices: Mapping[str, Any], predictions: pd.DataFrame, uncertainty: pd.DataFrame | None,
             history: int) -> tuple[_Universe, dict[str, pd.DataFrame]]:
    """Check the inputs once and lay them out on the union calendar."""
    if not isinstance(predictions, pd.DataFrame):
        raise DataError("predictions must be a wide DataFrame: index = dates, columns = tickers")
    if not isinstance(prices, Mapping) or not prices:
        raise DataError("prices must be a non-empty mapping of ticker -> price frame")
    pred = predictions.set_axis(_naive(pd.DatetimeIndex(predictions.index))).sort_index()
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
        frame = _normalise(prices[ticker].frame if isinstance(prices[ticker], PriceData) else prices[ticker], ticker)
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
        paused[rows[0]:rows[-1] + 1, j] = True
        opens[rows, j] = frames[ticker]["open"].to_numpy()
        closes[rows, j] = frames[ticker]["close"].to_numpy()
        if rows[-1] < len(dates) - 1:
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
        unc = _on_calendar(uncertainty.set_axis(_naive(pd.DatetimeIndex(uncertainty.index))), dates, tickers,
                           "uncertainty")
        unc[~has_bar] = np.nan
    universe = _Universe(tickers, dates, has_bar, paused, opens, mark, closes, values, unc,
                         int(dates.get_loc(first_day)), int(dates.get_loc(last_day)), ends_early)
    return universe, frames


def _on_calendar(wide: pd.DataFrame, dates: pd.DatetimeIndex, tickers: pd.Index, what: str) -> np.ndarray:
    if wide.index.has_duplicates:
        raise DataError(f"{what} have duplicate dates")
    try:
        return wide.reindex(index=dates, columns=tickers).to_numpy(dtype="float64", na_value=np.nan, copy=True)
    except (TypeError, ValueError):
        raise DataError(f"{what} must hold numbers (NaN: no forecast)") from None
