"""Tomorrow's portfolio: a saved model's forecasts after the last close, the weights the strategy chooses from
them, and the orders that take the current holdings there.

The weights come from the backtest's own decision code (:func:`lstmtrade.backtesting.portfolio.decide`): the
strategy's ``target_weights`` with ``last_targets`` set from the holdings, so a rule that keeps what it holds
(TopKDropout) does so live too. A ticker with no bar on the last date, left out by screening or unknown to the
model gets no forecast and no new weight; a holding in it is left alone, as the backtest leaves a ticker
without a bar, and reported. A holding in a ticker the data does not have at all gets one line: close it by
hand. Orders are sized at the last close (:mod:`lstmtrade.live.orders`).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..backtesting.costs import run_costs
from ..backtesting.engine import HISTORY, strategy_params
from ..backtesting.portfolio import decide
from ..backtesting.rules import BUILTINS
from ..data.panel import Universe
from ..data.prices import frame_sha256
from ..files import file_sha256
from ..formatting import stamp
from .orders import (
    ORDER_COLUMNS,
    Holdings,
    equity_of,
    make_orders,
    portfolio_value,
)
from .signal import past_retraining
from .universe import forecasts


@dataclass
class Signal:
    """What ``lstmtrade signal`` prints, as objects: ``tickers`` (ticker, prediction, uncertainty, rank, weight;
    best forecast first), ``orders`` (ticker, side, shares, price, value, commission; sells first) and
    ``excluded`` (ticker, reason)."""

    date: pd.Timestamp  # the data's last date: the forecasts are made after its close, traded from the next open
    model: dict[str, Any]
    tickers: pd.DataFrame
    orders: pd.DataFrame
    excluded: pd.DataFrame
    strategy: str
    params: dict[str, Any]
    equity: float
    cash: float
    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)  # today's scaled features outside the training range
    details: dict[str, Any] = field(default_factory=dict)  # one ticker: the fields `signal` always printed
    holdings_after: pd.Series = field(default_factory=lambda: pd.Series(dtype="float64"))  # shares once filled
    cash_after: float = 0.0  # cash once the orders fill at the last close's prices, commission paid
    min_trade: float = 0.0  # the rule's min_trade: the paper record trades the weights with it

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object: date, model, tickers, orders, excluded, then strategy, params, equity, cash,
        data, inputs and warnings (NaN as null); one ticker's also keeps the fields it always had."""
        from ..files import jsonable

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
                    for row in frame.astype(object).to_dict("records")]

        legacy = {k: v for k, v in self.details.items() if k not in ("model", "warnings")}
        return jsonable({**legacy, "date": stamp(self.date), "model": self.model, "tickers": records(self.tickers),
                         "orders": records(self.orders), "excluded": records(self.excluded),
                         "strategy": self.strategy, "params": self.params, "equity": self.equity,
                         "cash": self.cash, "data": self.data, "inputs": self.inputs, "warnings": self.warnings})


def model_info(loaded: Any, now: _dt.datetime | None = None) -> dict[str, Any]:
    meta = loaded.metadata
    path = str(loaded.path) if loaded.path else None
    return {"path": path, "sha256": file_sha256(path) if path else None,
            "format_version": int(meta["format_version"]), "train_end": stamp(loaded.train_end),
            "created_at": meta.get("created_at"), "age_days": round(loaded.age_days(now), 3),
            "seeds": loaded.seeds, "tickers": len(loaded.tickers) or 1,
            "trained_on": {k: meta.get("data", {}).get(k) for k in ("source", "sha256", "first_date", "last_date")}}


def universe_signal(loaded: Any, universe: Universe, cls: type, params: dict[str, Any],
                    holdings: Holdings | None = None, equity: float | None = None,
                    now: _dt.datetime | None = None, held_weights: pd.Series | None = None) -> Signal:
    """Forecasts, weights and orders for the universe's last date (module docstring). ``held_weights`` (a
    journal's last target weights) replaces the holdings' weights as what the rule finds it holds."""
    config = loaded.config
    fc = forecasts(loaded, universe)
    date, table = fc.date, fc.table.copy()
    close = pd.Series({t: float(p.frame["close"].iloc[-1]) for t, p in universe.prices.items()}, dtype="float64")
    holdings = _match(holdings, list(universe.prices) + list(universe.report["ticker"]))
    value, unpriced = portfolio_value(holdings, close)
    equity = equity_of(holdings, value, equity)
    cash = equity - value
    shares = holdings.shares if holdings is not None else pd.Series(dtype="float64")
    if held_weights is None:  # what the rule finds it holds: the holdings' weights, unless the journal's are given
        held_weights = (shares.drop(unpriced) * close.reindex(shares.drop(unpriced).index) / equity
                        if equity > 0 else shares.drop(unpriced) * 0.0)
    held_weights = held_weights[held_weights != 0]
    forecast = table.set_index("ticker")["prediction"]
    # a holding with no forecast today is left alone: the rule sees it as not trading, as the backtest would
    frames = {t: p.frame for t, p in universe.prices.items()}
    for ticker in set(shares.index) | set(held_weights.index):
        if ticker in frames and ticker not in forecast.index and frames[ticker].index[-1] == date:
            frames[ticker] = frames[ticker].iloc[:-1]
    history = 0 if cls in BUILTINS.values() else HISTORY  # built-in rules read forecasts and holdings only
    decided = decide(frames, forecast, cls, held=held_weights if len(held_weights) else None, history=history,
                     uncertainty=table.set_index("ticker")["uncertainty"] if "uncertainty" in table else None,
                     **{**run_costs(config), **params})
    tradable = decided.reindex(forecast.index)
    weights = tradable.fillna(held_weights.reindex(forecast.index).fillna(0.0))
    min_trade = {**strategy_params(cls), **params}["min_trade"]
    orders = make_orders(tradable, shares, close, equity, cash, config.commission, config.slippage, min_trade)
    table["rank"] = table["prediction"].rank(ascending=False, method="min").astype(int)
    table["weight"] = weights.reindex(table["ticker"]).to_numpy()
    if "uncertainty" not in table:
        table["uncertainty"] = np.nan
    columns = ["ticker", "prediction", "uncertainty", "rank", "weight"]
    table = table.sort_values(["rank", "ticker"], kind="stable")[columns].reset_index(drop=True)
    excluded = _excluded(fc.excluded, shares, forecast.index, unpriced, date)
    warnings = list(universe.warnings) + _data_warnings(loaded, universe, date)
    data = {"source": universe.source, "sha256": universe.sha256, "tickers": len(universe.prices),
            "summary": universe.summary}
    after, cash_after = after_orders(shares, cash, orders)
    return Signal(date, model_info(loaded, now), table, orders if len(orders) else _no_orders(), excluded,
                  cls.__name__, params, equity, cash, data, warnings, fc.inputs, holdings_after=after,
                  cash_after=cash_after, min_trade=float(min_trade))


def after_orders(shares: pd.Series, cash: float, orders: pd.DataFrame) -> tuple[pd.Series, float]:
    """Holdings and cash once ``orders`` fill at their prices (commission paid): what a journal hands on."""
    signed = orders["shares"].astype("float64").where(orders["side"] == "buy", -orders["shares"].astype("float64"))
    delta = signed.groupby(orders["ticker"]).sum() if len(orders) else pd.Series(dtype="float64")
    after = shares.add(delta, fill_value=0.0)
    spent = float((signed * orders["price"]).sum()) + float(orders["commission"].sum()) if len(orders) else 0.0
    return after[after != 0].astype("float64"), float(cash - spent)


def _match(holdings: Holdings | None, tickers: list[str]) -> Holdings | None:
    """Holdings with their tickers spelled as the data spells them (``brk.b`` holds ``BRK.B``)."""
    if holdings is None:
        return None
    lookup = {t.upper(): t for t in tickers}
    renamed = holdings.shares.rename(lambda t: lookup.get(t.upper(), t))
    return Holdings(renamed, holdings.cash, holdings.source)


def _excluded(found: list[dict[str, str]], shares: pd.Series, forecast: pd.Index, unpriced: list[str],
              date: pd.Timestamp) -> pd.DataFrame:
    rows = []
    for item in found:
        reason = item["reason"]
        if item["ticker"] in shares.index:
            reason += f"; holding of {shares[item['ticker']]:g} shares left alone (not traded)"
        rows.append({"ticker": item["ticker"], "reason": reason})
    for ticker in unpriced:
        rows.append({"ticker": ticker, "reason": f"held ({shares[ticker]:g} shares) but not in the data: "
                                                 "close it by hand"})
    return pd.DataFrame(rows, columns=["ticker", "reason"])


def _no_orders() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object if c in ("ticker", "side") else "float64")
                         for c in ORDER_COLUMNS})


def _data_warnings(loaded: Any, universe: Universe, date: pd.Timestamp) -> list[str]:
    """The data the model was trained on, and how far past its training end the data runs."""
    out = []
    trained = loaded.metadata.get("data", {})
    first, end = trained.get("first_date"), loaded.train_end
    names = trained.get("tickers") or []
    if first and names and pd.Timestamp(first) >= universe.calendar[0]:
        digest = hashlib.sha256()
        for ticker in sorted(names):
            frame = universe.prices[ticker].frame.loc[pd.Timestamp(first):end] if ticker in universe.prices else None
            if frame is not None and len(frame):
                digest.update(ticker.encode() + b"\0" + frame_sha256(frame).encode())
        if digest.hexdigest() != trained.get("sha256"):
            out.append(f"the data up to {stamp(end)} differs from the data the model was trained on (another "
                       "source, prices re-adjusted since, or tickers missing)")
    return out + past_retraining(int((universe.calendar > end).sum()), end, loaded.config.retrain_every)


__all__ = ["Signal", "after_orders", "model_info", "universe_signal"]
