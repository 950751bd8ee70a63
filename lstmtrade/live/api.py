"""``lstmtrade.train`` and ``lstmtrade.signal``: the Python face of ``lstmtrade train`` and ``lstmtrade signal``, for
one ticker or a universe.

>>> import lstmtrade
>>> model = lstmtrade.train(data="sample:SP500", model_out="sp500.pt", epochs=5)        # doctest: +SKIP
>>> tomorrow = lstmtrade.signal("sp500.pt", "sample:SP500", holdings={"AAPL": 50, "cash": 20_000})  # doctest: +SKIP
>>> tomorrow.tickers.head(), tomorrow.orders, tomorrow.excluded                          # doctest: +SKIP
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..backtesting.engine import strategy_params
from ..backtesting.loader import resolve_strategy
from ..config import Config, Progress, make_config
from ..data.load import is_universe_data, load_data
from ..data.panel import Universe, is_universe, load_universe
from ..data.prices import PriceData, load_prices
from ..errors import DataError
from ..forecast.folds import check_needs_universe
from .journal import append, check_kind, check_new_date, check_writable, entry_of, last_holdings, verify
from .orders import Holdings, equity_of, make_orders, portfolio_value, read_holdings
from .portfolio import Signal, after_orders, model_info, universe_signal
from .signal import TrainedModel, as_model, check_age, check_end, resolve_weight_rule, train_final
from .signal import signal as one_ticker_signal
from .universe import train_universe


def train(data: str | None = None, *, prices: Any = None, model_out: str | Path | None = None,
          config: Config | None = None, strategy: str | None = None, params: Mapping[str, Any] | None = None,
          scheduled: bool = False, progress: Progress | None = None, **settings: Any) -> TrainedModel:
    """Train on all history as the backtest's fold starting at the data's last bar would be, for one ticker or a
    universe (``data``: anything ``--data`` takes; or loaded ``prices``), and save it to ``model_out``.

    ``settings`` are Config fields, as for :func:`lstmtrade.run`; ``strategy`` and ``params`` are stored with the
    model (what ``signal`` uses by default). ``result.forecasts`` holds the last date's forecast per ticker.
    """
    extra = {k: v for k, v in (("data", data), ("strategy", strategy)) if v is not None}
    if params is not None:
        extra["params"] = dict(params)
    config = make_config(config, **settings, **extra) if (settings or extra or config is None) else config
    prices = prices if prices is not None else load_data(config)
    universe = is_universe_data(prices)
    resolve_strategy(config, None, universe=universe)  # a rule of the wrong kind stops here, before training
    check_needs_universe(config, universe)  # --target rank on one ticker, as the backtest refuses it
    trained = (train_universe(prices, config, progress, scheduled) if universe
               else train_final(prices, config, progress, scheduled))
    if model_out is not None:
        trained.save(model_out)
    return trained


def load_for(model: Any, data: Any, end: str | None = None, date_format: str | None = None) -> Any:
    """The data ``model`` forecasts from: a Universe for a universe model (screened as the backtest screens it),
    one ticker's PriceData otherwise; rows after ``end`` are never read."""
    if isinstance(data, (PriceData, Universe)):
        return data.slice(None, end) if end else data
    if model.is_universe:
        if data is not None and not isinstance(data, pd.DataFrame) and not is_universe(data):
            raise DataError(f"--data {data} holds one ticker, but the model was trained on a universe of "
                            f"{len(model.tickers)} tickers ({model.metadata['data'].get('source')}); give a panel")
        return load_universe(data if data is not None else model.metadata["data"]["source"], end=end,
                             date_format=date_format)
    if data is not None and is_universe(data):
        raise DataError(f"--data {data} holds several tickers, but the model was trained on one "
                        f"({model.metadata.get('data', {}).get('name')}); give that ticker's bars")
    return load_prices(data, end=end, date_format=date_format)


def signal(model: Any, data: Any = None, *, strategy: str | type | None = None,
           params: Mapping[str, Any] | None = None, holdings: Any = None, equity: float | None = None,
           max_age: float | None = None, end: str | None = None, now: _dt.datetime | None = None,
           held_weights: pd.Series | None = None, journal: str | Path | None = None) -> Signal:
    """Tomorrow's forecasts, target weights and orders from a saved model (a path, or ``train``'s result).

    ``data``: what ``--data`` takes, or loaded prices (default for a universe model: the source it was trained
    on); ``holdings``: a ``ticker,shares`` CSV path or a ``{ticker: shares, "cash": amount}`` mapping;
    ``equity`` (default: holdings at the last close plus cash, else 100,000); ``max_age`` refuses an older model
    (days). Returns a :class:`~lstmtrade.live.portfolio.Signal` (``tickers``, ``orders``, ``excluded`` frames).

    ``journal`` (a folder) appends the signal to ``journal.jsonl`` there (:mod:`lstmtrade.live.journal`); its last
    entry's holdings and target weights are what is held unless ``holdings`` is given.
    """
    loaded = as_model(model)
    check_age(loaded, max_age, now)
    prices = load_for(loaded, data, end)
    entries = verify(journal) if journal is not None else []
    if journal is not None:
        check_writable(journal)  # before the forecast, not after it
    if entries:
        check_new_date(entries, prices.calendar[-1] if isinstance(prices, Universe) else prices.frame.index[-1],
                       journal)
        check_kind(entries, "universe" if loaded.is_universe else "ticker", journal)
        if holdings is None:
            holdings, held_weights = last_holdings(entries)
    result = _signal(loaded, prices, strategy, params, holdings, equity, now, held_weights)
    if journal is not None:
        append(journal, entry_of(result, now))
    return result


def _signal(loaded: Any, prices: Any, strategy: Any, params: Mapping[str, Any] | None, holdings: Any,
            equity: float | None, now: _dt.datetime | None, held_weights: pd.Series | None) -> Signal:
    holdings = read_holdings(holdings)
    if equity is not None and not (isinstance(equity, (int, float)) and math.isfinite(equity) and equity > 0):
        raise DataError(f"--equity must be a positive number (got {equity!r})")
    if loaded.is_universe:
        if not isinstance(prices, Universe):
            raise DataError(f"{getattr(prices, 'source', 'data')}: one ticker's data, but the model was trained "
                            f"on a universe of {len(loaded.tickers)} tickers; give a panel")
        check_end(loaded, prices.calendar[-1], prices.source)
        cls, typed = resolve_weight_rule(loaded.config, strategy, dict(params or {}), universe=True)
        return universe_signal(loaded, prices, cls, typed, holdings, equity, now, held_weights)
    if not isinstance(prices, PriceData):
        raise DataError(f"{prices.source}: a universe, but the model was trained on one ticker "
                        f"({loaded.metadata.get('data', {}).get('name')}); give that ticker's bars")
    check_end(loaded, prices.frame.index[-1], prices.source)
    return _one_ticker(loaded, prices, strategy, dict(params or {}) or None, holdings, equity, now)


def _one_ticker(loaded: Any, prices: PriceData, strategy: Any, params: dict | None, holdings: Holdings | None,
                equity: float | None, now: _dt.datetime | None) -> Signal:
    """One ticker's signal as a :class:`Signal`: its forecast, target weight and the order that trades it."""
    result = one_ticker_signal(loaded, prices, strategy, params, now=now)
    cls, typed = resolve_weight_rule(loaded.config, strategy, params)
    name = prices.name
    close = pd.Series({name: float(prices.frame["close"].iloc[-1])})
    if holdings is not None:
        holdings = Holdings(holdings.shares.rename(lambda t: name if t.upper() == name.upper() else t),
                            holdings.cash, holdings.source)
    value, unpriced = portfolio_value(holdings, close)
    equity = equity_of(holdings, value, equity)
    shares = holdings.shares if holdings is not None else pd.Series(dtype="float64")
    weight = result["target_weight"]
    min_trade = {**strategy_params(cls), **typed}["min_trade"]
    orders = make_orders(pd.Series({name: weight}), shares, close, equity, equity - value, loaded.config.commission,
                         loaded.config.slippage, min_trade, one_asset=True)
    unc = result["uncertainty"] if result["uncertainty"] is not None else math.nan
    tickers = pd.DataFrame([{"ticker": name, "prediction": result["prediction"], "uncertainty": unc, "rank": 1,
                             "weight": weight}])
    excluded = pd.DataFrame([{"ticker": t, "reason": f"held ({shares[t]:g} shares) but not in the data: close it "
                                                    "by hand"} for t in unpriced], columns=["ticker", "reason"])
    data = {"source": prices.source, "sha256": prices.sha256, "tickers": 1}
    after, cash_after = after_orders(shares, equity - value, orders)
    return Signal(prices.frame.index[-1], model_info(loaded, now), tickers, orders, excluded, cls.__name__, typed,
                  equity, equity - value, data, list(result["warnings"]), details=result, holdings_after=after,
                  cash_after=cash_after, min_trade=float(min_trade))


__all__ = ["train", "signal", "load_for"]
