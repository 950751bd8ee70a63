"""Backtrader wiring shared by one-asset and portfolio backtests: the result type, the broker and its costs, and
strategy params.

Costs are set explicitly (Backtrader's default commission is zero): commission in basis points of traded value
on every fill, and optional slippage against the fill price. A user's strategy failing inside Backtrader
becomes one :class:`~lstmtrade.errors.StrategyError` line.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..data.bars import BarSpec, detect_bars
from ..errors import StrategyError
from ._backtrader import bt
from .costs import Costs, install

HISTORY = 252  # bars of price history before the first predicted day, for indicator warm-up


@dataclass
class BacktestResult:
    """Daily results of one strategy on the out-of-sample days."""

    returns: pd.Series  # daily simple returns of equity (close to close), first day 0
    equity: pd.Series  # portfolio value at each close
    weights: pd.Series  # fraction of equity in the asset at each close
    trades: pd.DataFrame  # fills: date, action, size, price, value, commission
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)  # orders the broker refused
    decisions: pd.Series = field(default_factory=pd.Series)  # target weight chosen at each close (NaN: none)
    orders: pd.DataFrame = field(default_factory=pd.DataFrame)  # every order created: date, size
    positions: pd.DataFrame = field(default_factory=pd.DataFrame)  # portfolios: weight per ticker at each close
    unfilled: pd.DataFrame = field(default_factory=pd.DataFrame)  # shares a volume cap kept from trading
    borrow_paid: float = 0.0  # borrow fees charged on short positions, in currency
    open_equity: pd.Series = field(default_factory=pd.Series)  # value at each open, before that open's orders


def strategy_params(cls: type) -> dict[str, Any]:
    """A strategy class's params and their defaults, in declaration order."""
    names = cls.params._getkeys()
    defaults = cls.params._getdefaults()
    return dict(zip(names, defaults))


def check_params(cls: type, params: dict[str, Any]) -> None:
    valid = strategy_params(cls)
    for name in params:
        if name not in valid:
            close = difflib.get_close_matches(name, list(valid), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise StrategyError(f"{cls.__name__} has no param '{name}'; {hint}valid params: {', '.join(valid)}")


def run_cerebro(cerebro: Any, strategy: type, params: dict[str, Any], recorder: type, cash: float,
                costs: Costs, frames: Mapping[Any, pd.DataFrame]) -> Any:
    """Add the strategy, its recorder, the broker's cash and costs to ``cerebro`` (``frames``: each feed's rows, for
    per-bar costs), run it, and return the strategy instance; a user's strategy failing inside Backtrader becomes
    one StrategyError line."""
    cerebro.addstrategy(strategy, **params)
    cerebro.addanalyzer(recorder, _name="recorder")
    cerebro.broker.setcash(float(cash))
    cerebro._lstmtrade_costs = costs  # read by the base strategies' sizing (spread, impact, volume cap)
    install(cerebro, costs, frames)
    if costs.slippage:
        cerebro.broker.set_slippage_perc(costs.slippage / 1e4, slip_open=True, slip_match=True, slip_out=False)
    try:
        (strat,) = cerebro.run()
    except StrategyError:
        raise
    except Exception as exc:  # a user's strategy failing inside Backtrader
        raise StrategyError(f"{strategy.__name__} failed during the backtest: "
                            f"{type(exc).__name__}: {exc}") from exc
    return strat


def borrow_paid(strat: Any) -> float:
    """Borrow fees charged on short positions over the run (:class:`~lstmtrade.backtesting.costs.Borrow`)."""
    borrow = getattr(strat.analyzers.recorder, "borrow", None)
    return float(borrow.paid) if borrow is not None else 0.0


def feed_timeframe(index: pd.DatetimeIndex, bars: BarSpec | None = None) -> dict[str, Any]:
    """``timeframe`` and ``compression`` for a Backtrader feed of bars on ``index`` (days x 1 for daily bars,
    Backtrader's default, so daily runs are unchanged)."""
    name, compression = (bars or detect_bars(index)).timeframe()
    return {"timeframe": getattr(bt.TimeFrame, name), "compression": int(compression)}


