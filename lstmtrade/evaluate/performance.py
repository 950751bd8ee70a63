"""Performance, forecast skill, significance and costs of a run, computed here (not by QuantStats) so they
are cheap, documented and testable. The statistical formulas live in :mod:`lstmtrade.evaluate.stats`."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..backtesting.costs import paid
from . import stats

PERIODS = 252  # bars a year of weekday daily data; other data passes its own (lstmtrade.data.bars)


def performance(returns: pd.Series, periods: int = PERIODS) -> dict[str, float]:
    """total_return, cagr, sharpe (annualised, rf = 0), volatility, max_drawdown (negative), n_days (bars).

    ``periods``: bars a year, from the data's calendar (:attr:`lstmtrade.data.bars.BarSpec.periods_per_year`):
    ``sharpe = mean / std(ddof 1) * sqrt(periods)``, ``volatility = std * sqrt(periods)``, and CAGR counts
    ``n / periods`` years, as QuantStats does with the same ``periods``.
    """
    r = pd.Series(returns, dtype="float64").fillna(0.0)
    equity = (1.0 + r).cumprod()
    n = len(r)
    total = float(equity.iloc[-1] - 1.0) if n else 0.0
    years = n / periods
    cagr = float((1.0 + total) ** (1.0 / years) - 1.0) if n and total > -1 else -1.0
    std = float(r.std(ddof=1)) if n > 1 else 0.0
    sharpe = float(r.mean() / std * math.sqrt(periods)) if std > 0 else 0.0
    drawdown = float((equity / equity.cummax() - 1.0).min()) if n else 0.0
    return {"total_return": total, "cagr": cagr, "sharpe": sharpe,
            "volatility": std * math.sqrt(periods), "max_drawdown": drawdown, "n_days": n}


# --- skill, significance and costs (the formulas live in stats.py) --------------------------------

def forecast_metrics(frame: pd.DataFrame, target_full: pd.Series) -> tuple[dict, pd.DataFrame]:
    """Skill of ``frame``'s predictions (overall dict, per-fold table).

    ``target_full`` is the target on every bar, so the out-of-sample R² benchmark (the expanding mean of
    targets known at each day) can use the history before the first out-of-sample day.
    """
    history = stats.expanding_mean_forecast(target_full).reindex(frame.index)
    overall = stats.forecast_report(frame["prediction"], frame["target"], history_mean=history)
    folds = stats.per_fold(frame["prediction"], frame["target"], frame["fold"], history_mean=history)
    return overall, folds


def turnover(returns: pd.Series, equity: pd.Series, trades: pd.DataFrame, cash: float) -> pd.Series:
    """Traded value each day as a fraction of the previous close's equity."""
    if not len(trades):
        return pd.Series(0.0, index=returns.index)
    traded = trades.groupby("date")["value"].sum().reindex(returns.index, fill_value=0.0)
    return traded / equity.shift(1).fillna(cash)


def returns_at_cost(returns: pd.Series, turn: pd.Series, extra_bps: float) -> pd.Series:
    """Daily returns had each side cost ``extra_bps`` more, first order in cost.

    Each day loses the extra cost x turnover; the small change in order sizes a different cost would cause is
    ignored (a few shares in 100,000 of equity).
    """
    return returns - extra_bps / 1e4 * turn


BREAK_EVEN_SEARCH = 1000.0  # bps per side: the largest extra cost a break-even is searched up to


def break_even(strategy, benchmark, cash: float, paid_bps: float, periods: int = PERIODS) -> dict[str, float | None]:
    """The run's two break-evens, from one computation: the **extra** cost per side, in basis points on top of
    every cost the run already paid, at which

    - ``break_even_bps``: the strategy's annual return (CAGR) after costs reaches zero;
    - ``break_even_vs_benchmark_bps``: its annual return minus the benchmark's reaches zero (the benchmark pays
      the same extra cost on what it trades).

    A negative figure means the run's own costs are already past the break-even: trading would have to cost that
    much less per side (never below zero in all: ``paid_bps`` is what the run paid per side). None: not positive
    even at zero cost, or still positive :data:`BREAK_EVEN_SEARCH` bps further (the strategy's CAGR at the run's
    costs tells which). First order in cost: each day loses the extra cost times that day's turnover (see
    :func:`returns_at_cost`); the tests re-run the backtest at the break-even to bound the error.
    """
    turn_s = turnover(strategy.returns, strategy.equity, strategy.trades, cash)
    turn_b = turnover(benchmark.returns, benchmark.equity, benchmark.trades, cash)

    def cagr(result, turn, extra: float) -> float:
        return performance(returns_at_cost(result.returns, turn, extra), periods)["cagr"]

    def own(extra: float) -> float:
        return cagr(strategy, turn_s, extra)

    def excess(extra: float) -> float:
        return cagr(strategy, turn_s, extra) - cagr(benchmark, turn_b, extra)

    return {"break_even_bps": _crossing(own, -paid_bps), "break_even_vs_benchmark_bps": _crossing(excess, -paid_bps)}


def paid_per_side(costs: dict) -> str:
    """What a run paid per side, the point its break-evens add to (``costs``: metrics.json's ``costs``): "10 bps",
    or "10 bps of commission and slippage, plus the spread and impact charged" when other costs were on."""
    paid = f"{costs['commission_bps'] + costs['slippage_bps']:g} bps"
    more = [name for name, on in (("spread", costs.get("spread")), ("impact", costs.get("impact")),
                                  ("borrow fee", costs.get("borrow_bps") or costs.get("borrow_file_tickers")),
                                  ("minimum commission", costs.get("min_commission"))) if on]
    if not more:
        return paid
    listed = more[0] if len(more) == 1 else ", ".join(more[:-1]) + " and " + more[-1]
    return f"{paid} of commission and slippage, plus the {listed} charged"


def _crossing(edge, lo: float) -> float | None:
    """Where ``edge`` (falling with cost) crosses zero in [lo, BREAK_EVEN_SEARCH]; None outside that range."""
    def positive(x: float) -> bool:
        value = edge(x)
        return value is not None and bool(np.isfinite(value)) and value > 0

    if not positive(lo) or positive(BREAK_EVEN_SEARCH):
        return None
    return stats.breakeven_cost(edge, lo, BREAK_EVEN_SEARCH, tol=0.01)


def cost_summary(strategy, benchmark, costs, prices, cash: float, periods: int = PERIODS) -> dict[str, Any]:
    """metrics.json's ``costs``: the settings, what each kind took (currency and % of mean equity a year), annual
    turnover, what a volume cap left unfilled, and the two break-evens (:func:`break_even`)."""
    kinds = paid(strategy, prices, costs)
    years = max(len(strategy.returns), 1) / periods
    mean_equity = float(strategy.equity.mean()) if len(strategy.equity) else float(cash)
    turn = turnover(strategy.returns, strategy.equity, strategy.trades, cash)
    unfilled = getattr(strategy, "unfilled", None)
    has_unfilled = isinstance(unfilled, pd.DataFrame) and len(unfilled)
    return {
        "commission_bps": costs.commission, "slippage_bps": costs.slippage, "borrow_bps": costs.borrow,
        "borrow_file_tickers": len(costs.borrow_rates), "spread": costs.spread, "impact": costs.impact,
        "max_participation": costs.max_participation, "min_commission": costs.min_commission,
        "paid": kinds, "paid_total": float(sum(kinds.values())),
        "paid_pct_a_year": {k: v / mean_equity / years for k, v in kinds.items()},
        "turnover": float(turn.sum() / years),
        "unfilled": {"orders": int(len(unfilled)) if has_unfilled else 0,
                     "value": float(unfilled["value"].sum()) if has_unfilled else 0.0},
        "commission_paid": float(strategy.trades["commission"].sum()) if len(strategy.trades) else 0.0,
        **break_even(strategy, benchmark, cash, costs.commission + costs.slippage, periods),
    }


def vs_benchmark(strategy, benchmark, periods: int = PERIODS) -> dict:
    """The test behind "above the benchmark": the Sharpe-ratio difference of the two on their common days
    (:func:`lstmtrade.evaluate.stats.sharpe_difference`)."""
    a, b = strategy.returns.align(benchmark.returns, join="inner")
    return stats.sharpe_difference(a, b, periods)


def significance(returns: pd.Series, trial_sharpes: list[float]) -> dict:
    """PSR against zero, and DSR deflated by the number of trials and the spread of their Sharpes.

    Both work on per-bar Sharpe ratios and the number of bars, so they need no periods per year: the same
    returns give the same PSR whatever the bar size is called (``trial_sharpes`` are per bar too). A trial
    whose Sharpe is undefined (it never traded: NaN or None) still counts as tried; the spread is taken
    over the defined Sharpes."""
    n_trials = max(1, len(trial_sharpes))
    defined = [s for s in trial_sharpes if s is not None and np.isfinite(s)]
    variance = float(np.var(defined, ddof=1)) if len(defined) >= 2 else None
    return {"psr": stats.probabilistic_sharpe_ratio(returns, 0.0),
            "dsr": stats.deflated_sharpe_ratio(returns, n_trials, variance),
            "trials": n_trials}

