"""What you hold and the orders that take it to tomorrow's weights: the holdings file, and whole-share orders
sized as the backtest sizes them.

Holdings file (``--holdings FILE``): a CSV with the header ``ticker,shares`` and one row per position
(negative shares: a short), plus an optional row ``cash,AMOUNT``. It is refused, in one line, when a
ticker appears twice, shares are not numbers, or cash is negative (a margin balance is not modelled).

Orders are sized at the last close with the backtest's own arithmetic (:func:`~lstmtrade.backtesting.
portfolio_strategy.order_sizes` for a portfolio, :func:`~lstmtrade.backtesting.strategy.target_shares` for one
asset): whole shares, net of the run's commission and slippage, held names resized only when the change
reaches the strategy's ``min_trade``, buys scaled down to the cash the sells free. Sells come first.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..backtesting.portfolio_strategy import order_sizes
from ..backtesting.strategy import target_shares
from ..errors import ConfigError, DataError

DEFAULT_EQUITY = 100_000.0  # equity assumed without holdings or --equity
ORDER_COLUMNS = ["ticker", "side", "shares", "price", "value", "commission"]


@dataclass(frozen=True)
class Holdings:
    """Shares held per ticker (nonzero only) and cash (None: the file had no cash row)."""

    shares: pd.Series
    cash: float | None = None
    source: str = "holdings"


def read_holdings(source: str | Path | Mapping[str, float] | Holdings | None) -> Holdings | None:
    """A :class:`Holdings` from a CSV path, a ``{ticker: shares, "cash": amount}`` mapping, or itself."""
    if source is None or isinstance(source, Holdings):
        return source
    if isinstance(source, Mapping):
        return _holdings([(str(k), v) for k, v in source.items()], "holdings")
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"--holdings {path}: file not found")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"--holdings {path}: cannot read it ({exc})") from None
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["ticker", "shares"] or len(rows[0]) != 2:
        raise DataError(f"--holdings {path}: expected the header ticker,shares (then one row per position and "
                        "an optional cash,AMOUNT row)")
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise DataError(f"--holdings {path}: line {n} has {len(row)} fields; expected ticker,shares")
    return _holdings([(row[0], row[1]) for row in rows[1:]], f"--holdings {path}")


def _holdings(pairs: list[tuple[str, Any]], label: str) -> Holdings:
    shares: dict[str, float] = {}
    cash = None
    for name, value in pairs:
        name = name.strip()
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise DataError(f"{label}: shares of {name or '(no ticker)'} are not a number ({value!r})") from None
        if not math.isfinite(number):
            raise DataError(f"{label}: shares of {name} are not a finite number ({value!r})")
        if not name:
            raise DataError(f"{label}: a row without a ticker")
        if name.lower() == "cash":
            if cash is not None:
                raise DataError(f"{label}: cash is given twice")
            if number < 0:
                raise DataError(f"{label}: negative cash ({number:,.2f}) is not supported: the simulated broker "
                                "does not lend; give the cash you hold (0 or more)")
            cash = number
            continue
        if name.upper() in {t.upper() for t in shares}:
            raise DataError(f"{label}: ticker {name} appears twice; give one row per ticker")
        shares[name] = number
    series = pd.Series(shares, dtype="float64")
    return Holdings(series[series != 0], cash, label)


def equity_of(holdings: Holdings | None, value: float, equity: float | None) -> float:
    """The equity the weights apply to: ``equity`` (--equity), else the holdings' ``value`` at the last close
    plus their cash, else ``DEFAULT_EQUITY``. Holdings worth nothing or less (shorts without their cash) are
    refused: no order could take them to any weights."""
    if equity is not None:
        return float(equity)
    if holdings is None:
        return DEFAULT_EQUITY
    total = value + (holdings.cash or 0.0)
    if not total > 0:
        raise DataError(f"{holdings.source}: the positions are worth {value:,.2f} at the last close and the cash "
                        f"{holdings.cash or 0.0:,.2f}, so the equity is {total:,.2f}: give the cash you hold (a "
                        "cash,AMOUNT row) or --equity")
    return total


def make_orders(weights: pd.Series, held: pd.Series, price: pd.Series, equity: float, cash: float,
                commission: float, slippage: float, min_trade: float, one_asset: bool = False) -> pd.DataFrame:
    """Orders (``ORDER_COLUMNS``; sells before buys) that take ``held`` shares to ``weights`` of ``equity`` at
    ``price`` (the last close). ``weights`` names only the tickers that may trade (NaN: leave it as it is);
    costs in basis points, as the backtest takes them."""
    weights = weights.dropna()
    if weights.empty or equity <= 0:
        return pd.DataFrame({c: [] for c in ORDER_COLUMNS})
    tickers = weights.index
    have = held.reindex(tickers).fillna(0.0).to_numpy(dtype="float64")
    px = price.reindex(tickers).to_numpy(dtype="float64")
    w = weights.to_numpy(dtype="float64")
    comm, slip = commission / 1e4, slippage / 1e4
    if one_asset:
        delta = np.array([target_shares(w[k], have[k], px[k], cash, comm + slip, min_trade) - have[k]
                          for k in range(len(w))])
    else:
        delta = order_sizes(w, have, px, equity, cash, (1 + slip) * (1 + comm), (1 - slip) * (1 - comm), min_trade)
    rows = []
    for side, chosen in (("sell", delta < 0), ("buy", delta > 0)):
        for k in np.flatnonzero(chosen):
            shares = int(abs(delta[k]))  # whole shares: a fractional holding's remainder stays held
            if shares == 0:
                continue
            value = shares * float(px[k])
            rows.append((str(tickers[k]), side, shares, float(px[k]), value, value * comm))
    return pd.DataFrame(rows, columns=ORDER_COLUMNS)


def portfolio_value(holdings: Holdings | None, last_close: pd.Series) -> tuple[float, list[str]]:
    """Value of the positions at ``last_close`` (tickers without a price are left out and returned)."""
    if holdings is None:
        return 0.0, []
    priced = holdings.shares.index.intersection(last_close.index)
    missing = [t for t in holdings.shares.index if t not in last_close.index]
    return float((holdings.shares[priced] * last_close[priced]).sum()), missing


__all__ = ["Holdings", "read_holdings", "equity_of", "make_orders", "portfolio_value", "DEFAULT_EQUITY", "ORDER_COLUMNS"]
