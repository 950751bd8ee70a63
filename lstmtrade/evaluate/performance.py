"""Performance, forecast skill, significance and costs of a run, computed here (not by QuantStats) so they
are cheap, documented and testable. The statistical formulas live in :mod:`lstmtrade.evaluate.stats`."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

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


def returns_at_cost(returns: pd.Series, turn: pd.Series, actual_bps: float, new_bps: float) -> pd.Series:
    """Daily returns had commission been ``new_bps`` instead of ``actual_bps``, first order in cost.

    Each day loses (new - actual) x turnover; the small change in order sizes a different commission
    would cause is ignored (a few shares in 100,000 of equity).
    """
    return returns - (new_bps - actual_bps) / 1e4 * turn


def breakeven_bps(strategy, benchmark, commission: float, cash: float, periods: int = PERIODS) -> float | None:
    """Commission (bps per side) at which the strategy's CAGR edge over buy-and-hold vanishes.

    0.0: no edge even without costs; None: the edge survives 200 bps (see stats.breakeven_cost).
    """
    turn_s = turnover(strategy.returns, strategy.equity, strategy.trades, cash)
    turn_b = turnover(benchmark.returns, benchmark.equity, benchmark.trades, cash)

    def edge(bps: float) -> float:
        mine = performance(returns_at_cost(strategy.returns, turn_s, commission, bps), periods)["cagr"]
        theirs = performance(returns_at_cost(benchmark.returns, turn_b, commission, bps), periods)["cagr"]
        return mine - theirs

    return stats.breakeven_cost(edge)


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

