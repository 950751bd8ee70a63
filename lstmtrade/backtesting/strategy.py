"""Strategies that turn predicted returns into positions, and the feed that carries the predictions.

Write your own by subclassing :class:`PredictionStrategy`. The simple path is one method::

    from lstmtrade import PredictionStrategy

    class HalfIn(PredictionStrategy):
        '''Half long when the forecast is positive, flat otherwise.'''
        params = (("size", 0.5),)  # fraction of equity when long

        def target_weight(self, prediction):
            return self.p.size if prediction > 0 else 0.0

A seed ensemble (``--seeds N``) also hands strategies its **uncertainty**, the standard deviation of
the members' forecasts: ``self.uncertainty[0]`` beside ``self.prediction[0]`` (NaN without an
ensemble), and ``target_weight(self, prediction, uncertainty)`` receives it when the override declares
a second argument (one-argument overrides keep working). :class:`ConfidenceWeighted` sizes by it.

Timing: ``next()`` runs after the close of day t and reads ``self.prediction[0]`` (the forecast made
from data up to that close). The base class trades at the open of t+1 (Backtrader's cheat-on-open
hook ``next_open``), sizing the order with that open's price, so a full-size order is not rejected
when the price gaps up overnight. Orders you place yourself in an overridden ``next()`` also fill at
the next open.
"""
from __future__ import annotations

import inspect
import math
from typing import Any

from ..errors import StrategyError
from ._backtrader import bt


class PredictionFeed(bt.feeds.PandasData):
    """OHLCV bars plus a ``prediction`` line (the forecast made after each bar's close) and an
    ``uncertainty`` line (the seed ensemble's spread of that forecast; NaN without the column)."""

    lines = ("prediction", "uncertainty")
    params = (("prediction", -1), ("uncertainty", -1))  # -1: take the column of that name (if any)


class PredictionStrategy(bt.Strategy):
    """Base class: turns ``target_weight(prediction)`` into orders at the next open.

    Simple path: override ``target_weight(self, prediction) -> float``, the fraction of equity to hold
    in [-1, 1] (negative = short, 0 = flat). The base class handles ``next()``, the pending-order guard,
    sizing at the next open net of commission and slippage, a NaN prediction (no trade), and logs
    rejected or margin orders in ``self.order_log``.

    With a seed ensemble, an override declared ``target_weight(self, prediction, uncertainty)`` also gets
    the members' standard deviation of today's forecast (NaN without an ensemble).

    Advanced path: override ``next()`` and use ``self.prediction[0]`` (today's forecast),
    ``self.uncertainty[0]`` (its ensemble spread, NaN without one),
    ``self.prediction[-1]`` (yesterday's), ``self.data``, indicators built in ``__init__`` (call
    ``super().__init__()`` first), and ``self.p.<param>``; call ``self.set_target(weight)`` to trade at the
    next open with the base class's sizing, or place Backtrader orders yourself.
    """

    params = (
        ("min_trade", 0.05),  # smallest change in weight worth an order (avoids daily dust trades)
    )
    weight_limit = 1.0  # |weight| is clipped to this: the simulated broker does not lend

    def __init__(self) -> None:
        self.prediction = self.data.prediction
        self.uncertainty = getattr(self.data, "uncertainty", None)
        if self.uncertainty is None:  # a feed without the line (built by hand): NaN, as without an ensemble
            self.uncertainty = _NaNLine()
        self._pass_uncertainty = takes_uncertainty(type(self).target_weight)
        self._target: float | None = None
        self._pending = None
        self.order_log: list[dict] = []
        self.fills: list[dict] = []
        self.unfilled: list[dict] = []  # shares a volume cap kept from trading (bar, shares, value)
        self.open_values: list[tuple[int, float]] = []  # (bar, equity at its open before orders)

    def start(self) -> None:
        if "_pending" not in vars(self):  # a subclass __init__ that skipped the base class's
            raise StrategyError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                "anything else (it sets up self.prediction and the order machinery)")

    # -- the hook most users override
    def target_weight(self, prediction: float, uncertainty: float = math.nan) -> float:
        """Fraction of equity to hold after the next open, given today's predicted return (and, for an
        override that declares it, the seed ensemble's uncertainty of it)."""
        raise NotImplementedError(f"{type(self).__name__} must override target_weight() or next()")

    def set_target(self, weight: float) -> None:
        """Ask for ``weight`` of equity to be held from the next open (clipped to ``weight_limit``)."""
        weight = float(weight)
        if not math.isfinite(weight):
            self._target = None
            return
        self._target = max(-self.weight_limit, min(self.weight_limit, weight))

    def next(self) -> None:
        prediction = float(self.prediction[0])
        if math.isnan(prediction):
            self._target = None  # no forecast today: keep what we hold
            return
        if self._pass_uncertainty:
            self.set_target(self.target_weight(prediction, float(self.uncertainty[0])))
        else:
            self.set_target(self.target_weight(prediction))

    # -- machinery
    def next_open(self) -> None:
        """At the open of t+1, before orders are matched: size the order with this open's price."""
        target, self._target = self._target, None
        price = self.data.open[0]
        position = self.getposition().size
        cash = self.broker.getcash()
        self.open_values.append((len(self), cash + position * price))  # equity marked at this open
        if target is None or self._pending is not None:
            return
        shares = target_shares(target, position, price, cash, self._cost_rate(), self.p.min_trade)
        if shares != position:  # with spread or impact costs: size again at the first sizing's rate
            shares = target_shares(target, position, price, cash, self._cost_rate(shares - position),
                                   self.p.min_trade)
        cap = trade_cap(self)
        if cap is not None and abs(shares - position) > cap:  # a volume cap: trade what the bar allows
            wanted = shares
            shares = position + math.copysign(cap, shares - position)
            self.unfilled.append({"bar": len(self) - 1, "shares": wanted - shares,
                                  "value": abs(wanted - shares) * price})
        if shares != position:
            self._pending = self.order_target_size(target=shares)

    def _cost_rate(self, shares: float = 0.0) -> float:
        """Costs per unit traded at this open: commission and slippage, plus half spread and impact if charged."""
        info = self.broker.getcommissioninfo(self.data)
        slip = self.broker.p.slip_perc if self.broker.p.slip_perc else 0.0
        extra = info.bars.rate(len(self.data) - 1, shares, info.p.impact) if hasattr(info, "bars") else 0.0
        return float(info.p.commission) + float(slip) + extra

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Submitted, order.Accepted):
            return
        if order.status == order.Completed:
            self.fills.append({
                "bar": len(self) - 1,
                "action": "buy" if order.isbuy() else "sell",
                "size": order.executed.size,
                "price": order.executed.price,
                "value": abs(order.executed.size) * order.executed.price,
                "commission": order.executed.comm,
            })
        elif order.status in (order.Canceled, order.Margin, order.Rejected, order.Expired):
            self.order_log.append({"bar": len(self) - 1, "status": order.getstatusname(),
                                   "size": order.created.size})
        if order is self._pending or not order.alive():
            self._pending = None


class LongFlat(PredictionStrategy):
    """Long when the predicted return is above the threshold, flat otherwise (the default rule)."""

    params = (
        ("threshold", 0.0),  # predicted return that must be beaten to hold a position
    )

    def target_weight(self, prediction: float) -> float:
        return 1.0 if prediction > self.p.threshold else 0.0


class LongShort(PredictionStrategy):
    """Long above +band, short below -band, flat inside the no-trade band."""

    params = (
        ("band", 0.0),  # no-trade band around zero, in return units (0.001 = 10 bps)
    )

    def target_weight(self, prediction: float) -> float:
        if prediction > self.p.band:
            return 1.0
        if prediction < -self.p.band:
            return -1.0
        return 0.0


class Proportional(PredictionStrategy):
    """Weight = prediction / scale, clipped to [-max_weight, max_weight]."""

    params = (
        ("scale", 0.005),  # predicted return that maps to a full position
        ("max_weight", 1.0),  # cap on |weight|
        ("long_only", False),  # clip shorts to flat
    )

    def target_weight(self, prediction: float) -> float:
        weight = max(-self.p.max_weight, min(self.p.max_weight, prediction / self.p.scale))
        return max(weight, 0.0) if self.p.long_only else weight


class VolTarget(PredictionStrategy):
    """Long (or short) in the forecast's direction, sized so expected annual volatility hits a target.

    Weight = sign(prediction) * target_vol / realised_vol, where realised volatility is the standard
    deviation of the last ``window`` bar-to-bar close returns annualised with the data's periods per year
    (252 for weekday daily bars, 6,240 for hourly 24 h x 5 days; see lstmtrade.data.bars), capped at ``max_leverage``.
    """

    params = (
        ("target_vol", 0.15),  # annualised volatility to aim for
        ("window", 20),  # bars of returns in the volatility estimate
        ("max_leverage", 1.0),  # cap on |weight| (at most 1: the simulated broker does not lend)
        ("long_only", True),  # never short
    )

    def __init__(self) -> None:
        super().__init__()
        returns = bt.indicators.PctChange(self.data.close, period=1)
        self.vol = bt.indicators.StandardDeviation(returns, period=self.p.window)

    def target_weight(self, prediction: float) -> float:
        if len(self.vol) == 0 or not math.isfinite(self.vol[0]) or self.vol[0] <= 0:
            return 0.0
        if prediction <= 0 and self.p.long_only:
            return 0.0
        periods = getattr(self.data, "periods_per_year", 252)  # set on the feed by lstmtrade.backtesting.single
        size = min(self.p.max_leverage, self.p.target_vol / (self.vol[0] * math.sqrt(periods)))
        return size if prediction > 0 else -size


class ConfidenceWeighted(PredictionStrategy):
    """Weight = (prediction / uncertainty) / scale: sized by the seed ensemble's confidence (--seeds 2+).

    Clipped to [-max_weight, max_weight]; flat while |prediction| / uncertainty is below min_confidence.
    Without an uncertainty (a one-seed run) it stops with an error rather than trade blind.
    """

    params = (
        ("scale", 2.0),  # forecast / uncertainty (a t-like ratio) that maps to a full position
        ("min_confidence", 0.0),  # below this |forecast| / uncertainty the position is flat
        ("max_weight", 1.0),  # cap on |weight|
        ("long_only", True),  # clip shorts to flat
    )

    def target_weight(self, prediction: float, uncertainty: float = math.nan) -> float:
        if not math.isfinite(uncertainty):
            raise StrategyError("ConfidenceWeighted sizes by the seed ensemble's uncertainty, and these "
                                "predictions have none: run with --seeds 2 or more (5 recommended)")
        if uncertainty <= 0:
            return 0.0
        confidence = prediction / uncertainty
        if abs(confidence) < self.p.min_confidence:
            return 0.0
        weight = max(-self.p.max_weight, min(self.p.max_weight, confidence / self.p.scale))
        return max(weight, 0.0) if self.p.long_only else weight


class BuyAndHold(PredictionStrategy):
    """Fully invested from the first possible open to the end: the benchmark."""

    def target_weight(self, prediction: float) -> float:
        return 1.0

    def next(self) -> None:
        if not math.isnan(float(self.prediction[0])):  # enters with the strategy, on the first forecast
            self.set_target(1.0)


def trade_cap(strategy: bt.Strategy, data: Any = None) -> float | None:
    """The most shares one order of ``strategy`` may trade on ``data`` at this open (the run's volume cap, a
    fraction of this bar's volume), or None: no cap."""
    costs = getattr(strategy.env, "_lstmtrade_costs", None)
    if costs is None or costs.max_participation is None:
        return None
    return float(math.floor(costs.max_participation * float((data or strategy.data).volume[0])))


def target_shares(target: float, position: float, price: float, cash: float, cost_rate: float,
                  min_trade: float) -> float:
    """The shares a one-asset strategy holds after an open that trades ``target`` (a weight) at ``price``: the
    backtest's sizing, net of costs (``cost_rate``: commission plus slippage, as fractions), and what
    ``lstmtrade signal`` orders at the last close. A change under ``min_trade`` keeps ``position``."""
    value = cash + position * price
    current = position * price / value if value > 0 else 0.0
    if abs(target - current) < min_trade and not (target == 0 and position != 0):
        return position
    costs = 1.0 + cost_rate
    shares = math.floor(abs(target) * value / (price * costs)) * (1 if target >= 0 else -1)
    if shares > position:  # a buy must be paid from cash, commission on the whole trade included
        shares = min(shares, position + math.floor(cash / (price * costs)))
    return shares


def takes_uncertainty(method) -> bool:
    """Whether a ``target_weight``/``target_weights`` override declares a second argument (the uncertainty)."""
    try:
        args = list(inspect.signature(method).parameters.values())[1:]
    except (TypeError, ValueError):
        return False
    return any(a.kind == a.VAR_POSITIONAL for a in args) or sum(
        a.kind in (a.POSITIONAL_ONLY, a.POSITIONAL_OR_KEYWORD) for a in args) >= 2


class _NaNLine:
    """Stands in for a missing ``uncertainty`` line: NaN at every index."""

    def __getitem__(self, index: int) -> float:
        return math.nan

    def __len__(self) -> int:
        return 0


BUILTINS = {cls.__name__: cls for cls in (LongFlat, LongShort, Proportional, VolTarget, ConfidenceWeighted,
                                          BuyAndHold)}
