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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import StrategyError
from ._backtrader import bt
from .strategy import takes_uncertainty, trade_cap


@dataclass
class UniverseArrays:
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
    held: np.ndarray | None = None  # (N,) targets of a decision taken before the first day (live: the holdings)


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
        self._u: UniverseArrays = universe
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
        self.unfilled: list[tuple] = []  # (bar, ticker column, shares, value) a volume cap kept from trading
        self._decisions: dict[int, np.ndarray] = {}
        self._equity = np.full(len(universe.dates), np.nan)
        self._open_equity = np.full(len(universe.dates), np.nan)  # value at each open, before its orders
        if universe.held is not None:  # a decision from before the first day (live: the holdings) stands
            self._target = np.asarray(universe.held, dtype="float64").copy()
            chosen = self._target != 0
            if chosen.any():
                self.last_targets = pd.Series(self._target[chosen], index=universe.tickers[chosen], dtype="float64")
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
        self._slip_up, self._slip_down = 1.0 + slip, 1.0 - slip
        self.costs = getattr(self.env, "_lstmtrade_costs", None)  # the run's Costs (spread, impact, volume cap)
        self._plain = self.costs is None or self.costs.plain

    # -- the hook most users override
    def target_weights(self, predictions: pd.Series, uncertainty: pd.Series | None = None) -> pd.Series | None:
        """Fraction of equity per ticker to hold from the next open, given today's forecasts."""
        raise NotImplementedError(f"{type(self).__name__} must override target_weights() or next()")

    # -- helpers for strategies
    def feed(self, ticker: str) -> bt.feed.DataBase:
        """The Backtrader data feed of ``ticker`` (its own bars only)."""
        return self.datas[self._index[ticker]]

    @property
    def date(self) -> pd.Timestamp:
        """Today's date (at the close: today's; in next_open: this open's)."""
        return self._u.dates[self._today()]

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
        shares = self._shares()
        for j in u.ends_early.get(i, ()):  # its last bar: nothing could be priced after it
            self._target[j] = 0.0
            if shares[j] != 0:
                want[j] = 0.0
        held = np.flatnonzero(shares)
        cash = self.broker.getcash()
        equity = cash + float(np.dot(shares[held], u.mark[i, held]))
        self._open_equity[i] = equity
        todo = u.has_bar[i] & ~np.isnan(want)
        for j in self._pending:
            todo[j] = False
        if not todo.any():
            return
        cols = np.flatnonzero(todo)
        w = want[cols].copy()
        want[cols] = np.nan  # handled today, whether or not an order is needed
        if equity <= 0:
            return
        price = u.open[i, cols]
        have = shares[cols]
        buy_cost, sell_net = self._buy_cost, self._sell_net
        extra = self._extra_rates(cols, np.zeros(len(cols)))
        if extra is not None:  # spread (and impact, at the first sizing's trade) per name, paid on each fill
            buy_cost, sell_net = self._buy_cost + self._slip_up * extra, self._sell_net - self._slip_down * extra
            if self.costs.impact:
                first = np.floor(np.abs(w) * equity / (price * buy_cost)) * np.sign(w) - have
                extra = self._extra_rates(cols, first)
                buy_cost, sell_net = self._buy_cost + self._slip_up * extra, self._sell_net - self._slip_down * extra
        cap = None
        if self.costs is not None and self.costs.max_participation is not None:
            def cap(delta: np.ndarray, trade: np.ndarray) -> np.ndarray:
                return self._capped(cols, delta, trade, price)
        delta = order_sizes(w, have, price, equity, cash, buy_cost, sell_net, self.p.min_trade, cap)
        for k in np.flatnonzero(delta < 0):
            self._send(int(cols[k]), float(delta[k]))
        for k in np.flatnonzero(delta > 0):
            self._send(int(cols[k]), float(delta[k]))

    def _extra_rates(self, cols: np.ndarray, delta: np.ndarray) -> np.ndarray | None:
        """Per name in ``cols``, the cost per unit traded beyond commission and slippage (half spread, impact at
        ``delta`` shares), or None when the run charges none."""
        if self._plain:
            return None
        out = np.zeros(len(cols))
        for k, j in enumerate(cols):
            data = self.datas[int(j)]
            info = self.broker.getcommissioninfo(data)
            if hasattr(info, "bars"):
                out[k] = info.bars.rate(len(data) - 1, float(delta[k]), info.p.impact)
        return out

    def _capped(self, cols: np.ndarray, delta: np.ndarray, trade: np.ndarray, price: np.ndarray) -> np.ndarray:
        """``delta`` with each order held to the run's share of its bar's volume; what is cut is recorded."""
        delta = delta.copy()
        bar = len(self)  # the open being traded (next_open: the strategy has not advanced yet)
        for k in np.flatnonzero(trade):
            j = int(cols[k])
            cap = trade_cap(self, self.datas[j])
            if cap is not None and abs(delta[k]) > cap:
                cut = delta[k] - math.copysign(cap, delta[k])
                self.unfilled.append((bar, j, float(cut), abs(float(cut)) * float(price[k])))
                delta[k] -= cut
        return delta

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


def order_sizes(weights: np.ndarray, held: np.ndarray, price: np.ndarray, equity: float, cash: float,
                buy_cost: float | np.ndarray, sell_net: float | np.ndarray, min_trade: float,
                cap: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Whole-share changes that take ``held`` shares to ``weights`` of ``equity`` at ``price``: the portfolio
    backtest's sizing at each open, and the orders ``lstmtrade signal`` prints at the last close.

    ``buy_cost`` and ``sell_net`` are the worst-case cost factors per unit of price ((1 + slippage) x
    (1 + commission) and its opposite), one for every name or one per name (spread and impact differ by name).
    A held name's resize smaller than ``min_trade`` of equity is skipped; opening and closing always trade.
    ``cap(delta, trade)`` returns the changes a volume cap allows. When the buys cost more than the cash plus
    what the sells free, every buy is scaled down alike, so a full rotation is never refused for want of cash.
    Negative: sell.
    """
    weights = np.asarray(weights, dtype="float64")
    target = np.floor(np.abs(weights) * equity / (price * buy_cost)) * np.sign(weights)
    delta = target - held
    current = held * price / equity
    trade = (delta != 0) & ((np.abs(weights - current) >= min_trade) | (weights == 0) | (held == 0))
    if cap is not None:
        delta = cap(delta, trade)
        trade &= delta != 0
    delta = np.where(trade, delta, 0.0)
    sells, buys = delta < 0, delta > 0
    if np.ndim(buy_cost) == 0:  # one cost rate for every name
        budget = cash + float(np.sum(-delta[sells] * price[sells])) * sell_net
        cost = float(np.sum(delta[buys] * price[buys])) * buy_cost
    else:
        budget = cash + float(np.sum(-delta[sells] * price[sells] * sell_net[sells]))
        cost = float(np.sum(delta[buys] * price[buys] * buy_cost[buys]))
    if cost > budget:  # not enough cash for every buy: scale them all down alike
        delta[buys] = np.floor(delta[buys] * max(budget, 0.0) / cost)
    return delta
