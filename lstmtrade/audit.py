"""Look-ahead audit of a user's data, config and strategy: prove, don't assume.

Three checks, each run through the real pipeline (features, walk-forward training, Backtrader):

- **truncation**: for several cut dates T, retrain everything on data ending at T: every prediction
  up to T must be identical to the full run's. Then, at many more cut dates (backtest only), every
  decision the strategy took at a close up to T, every order and every position must be identical.
- **poisoning**: replace every row (and prediction) after T with random but valid garbage; nothing up
  to T may change. Decisions are compared, not only positions: a decision taken at T's close shows
  in the position only at T+1, so comparing positions alone would miss a one-bar peek.
- **delay**: trade each forecast one bar later; reports how much of the edge over buy-and-hold
  survives. An edge that vanishes with one bar of delay is fragile (informational, not PASS/FAIL).

A strategy that reads the next bar (``self.data.close[1]``) fails the poisoning check at the first cut
date, and usually crashes on truncated data: both are reported as FAIL with the offending date.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from .backtesting import BacktestResult, backtest, buy_and_hold
from .config import Config
from .data import PriceData
from .errors import StrategyError
from .evaluate import performance
from .forecast import Predictions, walk_forward_predict

CUTS = (0.25, 0.5, 0.75)  # model cut dates (each retrains): fractions of the out-of-sample period
STRATEGY_CUTS = 20  # strategy cut dates (backtest only, cheap): a one-bar peek shows at about half of them


@dataclass
class Check:
    name: str
    status: str  # PASS | FAIL | INFO
    detail: str
    first_bad: str | None = None  # first offending date

    def line(self) -> str:
        where = f" (first offending date {self.first_bad})" if self.first_bad else ""
        return f"{self.status:4}  {self.name}: {self.detail}{where}"


def audit(prices: PriceData, config: Config, strategy: type, params: dict[str, Any] | None = None,
          cuts: tuple[float, ...] = CUTS, strategy_cuts: int = STRATEGY_CUTS, seed: int = 0,
          progress: Callable[[str], None] | None = None) -> list[Check]:
    """Run the checks and return one :class:`Check` each (see the module docstring)."""
    params = params or {}
    say = progress or (lambda text: None)
    costs = {"cash": config.cash, "commission": config.commission, "slippage": config.slippage}
    say("full run")
    full = walk_forward_predict(prices, config)
    try:
        full_bt = backtest(prices, full, strategy, **costs, **params)
    except StrategyError as exc:
        return [Check("full run", "FAIL", f"the strategy fails when the data ends ({exc}); "
                      "reading bars after today raises there", str(prices.frame.index[-1].date()))]
    days = full.frame.index
    model_cuts = _cut_dates(days, [int(f * len(days)) for f in cuts])
    checks = []
    say(f"model: retraining on data cut at {', '.join(str(c.date()) for c in model_cuts)}")
    checks.append(_model_check("truncation (model)", full, config, [
        (cut, _truncate(prices, cut)) for cut in model_cuts]))
    say(f"model: retraining with garbage after {model_cuts[0].date()}")
    checks.append(_model_check("future poisoning (model)", full, config, [
        (model_cuts[0], PriceData(poison_after(prices.frame, model_cuts[0], seed), prices.source, prices.name))]))
    step = max(1, len(days) // (strategy_cuts + 1))
    strat_cuts = _cut_dates(days, list(range(step, len(days) - 2, step))[:strategy_cuts])
    say(f"strategy: {len(strat_cuts)} cut dates")
    checks.append(_strategy_check("truncation (strategy)", full, full_bt, strategy, params, costs, [
        (cut, _truncate(prices, cut), full.prediction.loc[:cut]) for cut in strat_cuts]))
    rng = np.random.default_rng(seed)
    checks.append(_strategy_check("future poisoning (strategy)", full, full_bt, strategy, params, costs, [
        (cut, PriceData(poison_after(prices.frame, cut, seed + i), prices.source, prices.name),
         full.prediction.where(full.prediction.index <= cut, rng.normal(0, 0.02, len(days))))
        for i, cut in enumerate(strat_cuts)]))
    say("one-bar delay")
    checks.append(_delay(prices, full, full_bt, strategy, params, costs))
    return checks


def _cut_dates(days: pd.DatetimeIndex, positions: list[int]) -> list[pd.Timestamp]:
    return sorted({days[min(len(days) - 3, max(1, p))] for p in positions})


def _truncate(prices: PriceData, cut: pd.Timestamp) -> PriceData:
    return PriceData(prices.frame.loc[:cut], prices.source, prices.name)


def _model_check(name: str, full: Predictions, config: Config, variants: list) -> Check:
    for cut, data in variants:
        other = walk_forward_predict(data, config)
        bad = _first_difference(full.prediction.loc[:cut], other.prediction.loc[:cut])
        if bad is not None:
            return Check(name, "FAIL", f"predictions up to {cut.date()} changed", bad)
    cuts = ", ".join(str(cut.date()) for cut, _ in variants)
    return Check(name, "PASS", f"predictions up to {cuts} identical after retraining")


def _strategy_check(name: str, full: Predictions, full_bt: BacktestResult, strategy: type, params: dict,
                    costs: dict, variants: list) -> Check:
    for cut, data, predictions in variants:
        try:
            other = backtest(data, predictions, strategy, **costs, **params)
        except StrategyError as exc:
            return Check(name, "FAIL", f"the strategy failed on data ending or altered after {cut.date()} "
                         f"({exc}); does it read future bars?", str(cut.date()))
        for what, a, b in (("decisions", full_bt.decisions, other.decisions),
                           ("positions", full_bt.weights, other.weights)):
            bad = _first_difference(a.loc[:cut], b.loc[:cut])
            if bad is not None:
                return Check(name, "FAIL", f"{what} taken up to {cut.date()} changed with the data after it", bad)
        mine = full_bt.orders[full_bt.orders["date"] <= cut].reset_index(drop=True)
        theirs = other.orders[other.orders["date"] <= cut].reset_index(drop=True)
        if not mine.equals(theirs):
            n = min(len(mine), len(theirs))
            diff = [i for i in range(n) if not mine.iloc[i].equals(theirs.iloc[i])]
            first = mine["date"].iloc[diff[0]] if diff else (mine if len(mine) > n else theirs)["date"].iloc[n]
            return Check(name, "FAIL", f"orders placed up to {cut.date()} changed with the data after it",
                         str(first.date()))
    return Check(name, "PASS", f"decisions, orders and positions identical at {len(variants)} cut dates")


def poison_after(frame: pd.DataFrame, cut: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    """A copy whose rows after ``cut`` are random but valid bars (so only look-ahead can notice)."""
    out = frame.copy()
    after = out.index > cut
    n = int(after.sum())
    rng = np.random.default_rng(seed)
    base = out.loc[after, "close"].to_numpy() * rng.uniform(0.3, 3.0, n)
    opens, closes = base * rng.uniform(0.9, 1.1, n), base * rng.uniform(0.9, 1.1, n)
    out.loc[after, "open"], out.loc[after, "close"] = opens, closes
    out.loc[after, "high"] = np.maximum(opens, closes) * rng.uniform(1.0, 1.05, n)
    out.loc[after, "low"] = np.minimum(opens, closes) * rng.uniform(0.95, 1.0, n)
    out.loc[after, "volume"] = out.loc[after, "volume"].to_numpy() * rng.uniform(0.1, 10.0, n)
    return out


def _first_difference(a: pd.Series, b: pd.Series) -> str | None:
    a, b = a.align(b, join="outer")
    differs = ~((a == b) | (a.isna() & b.isna()))
    if not differs.any():
        return None
    return str(differs.index[np.argmax(differs.to_numpy())].date())


def _delay(prices: PriceData, full: Predictions, full_bt: BacktestResult, strategy: type, params: dict,
           costs: dict) -> Check:
    delayed = full.prediction.shift(1)
    late = backtest(prices, delayed, strategy, **costs, **params)
    bench = performance(buy_and_hold(prices, full, **costs).returns)
    on_time, one_late = performance(full_bt.returns), performance(late.returns)
    edge = on_time["cagr"] - bench["cagr"]
    edge_late = one_late["cagr"] - bench["cagr"]
    kept = f"{edge_late / edge:.0%} of it" if edge > 0 else "n/a: no edge to keep"
    return Check("one-bar delay", "INFO",
                 f"CAGR edge over buy-and-hold {edge:+.2%} on time, {edge_late:+.2%} one bar late ({kept}); "
                 f"Sharpe {on_time['sharpe']:.2f} -> {one_late['sharpe']:.2f}")
