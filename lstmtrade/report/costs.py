"""The comparison pages' costs section: what each kind of cost took, how Sharpe falls as trading gets dearer, and
how it falls as the book grows (the capacity table)."""
from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from ..evaluate.performance import performance, returns_at_cost, turnover
from ..formatting import num, pct
from .html import pyplot, svg

KINDS = ("commission", "spread", "impact", "borrow", "slippage")


def sharpe_by_cost(result: Any, cash: float, periods: int, extra_bps: np.ndarray) -> np.ndarray:
    """The strategy's Sharpe ratio at each extra cost per side (first order in turnover, as the break-evens)."""
    turn = turnover(result.returns, result.equity, result.trades, cash)
    return np.array([performance(returns_at_cost(result.returns, turn, x), periods)["sharpe"]
                     for x in extra_bps])


def costs_section(metrics: dict, result: Any, cash: float) -> str:
    """HTML: the cost breakdown table, Sharpe against extra cost per side (break-even marked) and, when the run was
    asked for capacity, Sharpe against starting capital."""
    costs = metrics.get("costs")
    if not costs:
        return ""
    periods = metrics["data"]["periods_per_year"]
    plt = pyplot()
    paid, share = costs["paid"], costs["paid_pct_a_year"]
    rows = "".join(f"<tr><th>{k}</th><td>{paid[k]:,.0f}</td><td>{pct(share[k], 2)}</td></tr>" for k in KINDS)
    breakdown = (f"<table><thead><tr><th>cost</th><th>paid</th><th>share of mean equity a year</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>")
    fig, ax = plt.subplots(figsize=(5.2, 2.6))
    values = [100 * share[k] for k in KINDS]
    ax.barh(list(KINDS)[::-1], values[::-1], color="#4c72b0")
    ax.set_xlabel("% of mean equity a year")
    ax.set_title("Where the costs went", fontsize=10)
    charts_first = svg(fig)
    be = costs.get("break_even_bps")
    top = max(20.0, 2.0 * be if be and be > 0 else 20.0)
    grid = np.linspace(-(costs["commission_bps"] + costs["slippage_bps"]), top, 41)
    sharpe = sharpe_by_cost(result, cash, periods, grid)
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.plot(grid, sharpe, color="#1f4e79", linewidth=1.8)
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.axvline(0, color="#888", linewidth=0.6, linestyle=":")
    if be is not None:
        ax.axvline(be, color="#c0392b", linewidth=1, linestyle="--", label=f"annual return zero at {be:+.1f} bps")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("extra cost per side (bps), on top of this run's costs")
    ax.set_ylabel("Sharpe ratio")
    ax.set_title("How dear can trading get? Sharpe by extra cost", fontsize=10)
    charts = [charts_first, svg(fig)]
    capacity = metrics.get("capacity")
    if capacity:
        frame = pd.DataFrame(capacity)
        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        ax.plot(frame["capital"], frame["sharpe"], marker="o", color="#1f4e79")
        ax.set_xscale("log")
        ax.axhline(0, color="#888", linewidth=0.6)
        ax.set_xlabel("starting capital")
        ax.set_ylabel("Sharpe ratio")
        ax.set_title("How much money can it run? Sharpe by capital", fontsize=10)
        charts.append(svg(fig))
    text = (f"Turnover {num(costs.get('turnover'), 1)}x a year. The curve charges an extra cost per side on every "
            "unit traded, to first order in turnover (the break-evens are computed the same way).")
    capacity_table = ""
    if capacity:
        body = "".join(f"<tr><th>{r['capital']:,.0f}</th><td>{num(r['sharpe'])}</td><td>{pct(r['cagr'])}</td>"
                       f"<td>{pct(r['participation_mean'], 3)}</td><td>{pct(r['participation_max'], 2)}</td>"
                       f"<td>{pct(r['unfilled'])}</td></tr>" for r in capacity)
        capacity_table = ("<p>The same forecasts traded from other starting capitals, every cost of the run included "
                          "(capacity.csv). Volume share: a fill's shares over its bar's volume; unfilled: the share of "
                          "the value the strategy wanted to trade that a volume cap kept out.</p>"
                          "<table><thead><tr><th>capital</th><th>Sharpe</th><th>CAGR</th><th>volume share, mean</th>"
                          f"<th>volume share, max</th><th>unfilled</th></tr></thead><tbody>{body}</tbody></table>")
    unfilled = costs.get("unfilled") or {}
    cut = (f" A volume cap of {costs['max_participation']:g} of each bar's volume cut {unfilled['orders']} order(s); "
           f"{unfilled['value']:,.0f} of value was not traded." if unfilled.get("orders") else "")
    return (f"<h2>What trading cost</h2><p>{html.escape(text + cut)}</p>{breakdown}"
            f"<div class=\"row\">{''.join(charts)}</div>{capacity_table}")
