"""What ``lstmtrade signal`` prints for a universe: the forecasts ranked, the target weights, the orders and what
was left out. Plain text from a :class:`~lstmtrade.live.portfolio.Signal`; nothing is computed here."""
from __future__ import annotations

import math
from typing import Any

SHOWN = 10  # best (and worst) forecasts always shown; every ticker with a weight is shown too


def _num(value: Any, spec: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def universe_table(result: Any) -> str:
    model, tickers = result.model, result.tickers
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    seeds = len(model["seeds"])
    lines = [
        f"signal after the close of {result.details.get('last_date') or _day(result.date)}: weights to hold from "
        "the next open",
        f"model   {model['path'] or '(in memory)'} trained through {model['train_end']} "
        f"({model['tickers']} tickers{f', {seeds} seeds' if seeds > 1 else ''}), created {model['created_at']}",
        f"rule    {result.strategy}({params})",
        f"data    {result.data['source']} ({result.data['summary']}) sha256 {result.data['sha256'][:12]}",
        f"equity  {result.equity:,.2f} (cash {result.cash:,.2f})",
        "",
    ]
    n = len(tickers)
    unc = seeds > 1
    lines.append(f"{'rank':>4}  {'ticker':<8} {'prediction':>11}" + (f" {'uncertainty':>11}" if unc else "")
                 + f" {'weight':>8}")
    hidden = 0
    for row in tickers.itertuples(index=False):
        if row.rank <= SHOWN or row.rank > n - 3 or (isinstance(row.weight, float) and row.weight != 0):
            lines.append(f"{row.rank:>4}  {row.ticker:<8} {row.prediction:>+11.6f}"
                         + (f" {_num(row.uncertainty, '11.6f')}" if unc else "") + f" {_num(row.weight, '>+8.3f')}")
        else:
            hidden += 1
    if hidden:
        lines.append(f"      ... {hidden} more with weight 0 (--json lists every ticker)")
    held = tickers["weight"].fillna(0.0)
    lines.append(f"      {int((held > 0).sum())} long, {int((held < 0).sum())} short, gross {held.abs().sum():.3f}")
    lines += [""] + order_lines(result)
    if len(result.excluded):
        lines += ["", f"left out ({len(result.excluded)}):"]
        lines += [f"  {row.ticker:<8} {row.reason}" for row in result.excluded.itertuples(index=False)]
    lines += [f"warning: {w}" for w in result.warnings if not w.startswith("data faults:")]  # the data line says it
    return "\n".join(lines)


def order_lines(result: Any) -> list[str]:
    orders = result.orders
    if not len(orders):
        return ["orders: none (the holdings already match the weights)"]
    lines = [f"orders at the last close ({len(orders)}, sells first; whole shares, costs as the backtest's):"]
    for row in orders.itertuples(index=False):
        lines.append(f"  {row.side:<4} {row.ticker:<8} {int(row.shares):>8,} @ {row.price:>10.2f} = "
                     f"{row.value:>13,.2f}  (commission {row.commission:,.2f})")
    sells = orders.loc[orders["side"] == "sell", "value"].sum()
    buys = orders.loc[orders["side"] == "buy", "value"].sum()
    lines.append(f"  total: sells {sells:,.2f}, buys {buys:,.2f}, commission {orders['commission'].sum():,.2f}")
    return lines


def _day(value: Any) -> str:
    from ..formatting import stamp

    return stamp(value)
