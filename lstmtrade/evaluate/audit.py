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

A universe is audited the same way: every ticker is cut (or poisoned) after T, and predictions,
decisions, orders and positions are compared per (date, ticker).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..backtesting.costs import run_costs
from ..backtesting.engine import BacktestResult
from ..backtesting.stage import benchmark, trade
from ..config import Config
from ..data.prices import PriceData
from ..errors import StrategyError
from ..forecast.predictions import Predictions
from ..forecast.ray_backend import session_for
from ..forecast.walkforward import walk_forward_predict
from ..formatting import stamp
from .performance import performance

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
    """Run the checks and return one :class:`Check` each (see the module docstring). With ``--backend ray`` every
    walk-forward's folds run on one Ray session."""
    with session_for(config):
        return _audit(prices, config, strategy, params or {}, cuts, strategy_cuts, seed, progress)


def _audit(prices: PriceData, config: Config, strategy: type, params: dict[str, Any], cuts: tuple[float, ...],
           strategy_cuts: int, seed: int, progress: Callable[[str], None] | None) -> list[Check]:
    say = progress or (lambda text: None)
    costs = run_costs(config)
    # one periods-per-year for every run, from the full data: a cut must not change how VolTarget annualises
    periods = prices.bars.with_periods(config.periods_per_year).periods_per_year
    say("full run: training every fold")
    full = walk_forward_predict(prices, config)
    try:
        full_bt = trade(prices, full, strategy, costs, params, periods)
    except StrategyError as exc:
        return [Check("full run", "FAIL", f"the strategy fails when the data ends ({exc}); "
                      "reading bars after today raises there", stamp(full.frame.index[-1]))]
    days = full.frame.index.unique()
    model_cuts = _cut_dates(days, [int(f * len(days)) for f in cuts])
    checks = []
    checks.append(_model_check("truncation (model)", full, config, [
        (cut, _truncate(prices, cut)) for cut in model_cuts], say))
    checks.append(_model_check("future poisoning (model)", full, config, [
        (model_cuts[0], _poisoned(prices, model_cuts[0], seed))], say))
    step = max(1, len(days) // (strategy_cuts + 1))
    strat_cuts = _cut_dates(days, list(range(step, len(days) - 2, step))[:strategy_cuts])
    checks.append(_strategy_check("truncation (strategy)", full, full_bt, strategy, params, costs, periods, [
        (cut, _truncate(prices, cut), _replace(full, full.frame.index <= cut)) for cut in strat_cuts], say))
    rng = np.random.default_rng(seed)
    n = len(full.frame)
    checks.append(_strategy_check("future poisoning (strategy)", full, full_bt, strategy, params, costs, periods, [
        (cut, _poisoned(prices, cut, seed + i),
         _replace(full, None, full.prediction.where(full.frame.index <= cut, rng.normal(0, 0.02, n)),
                  full.uncertainty.where(full.frame.index <= cut, rng.uniform(0.001, 0.02, n))
                  if full.has_uncertainty else None))
        for i, cut in enumerate(strat_cuts)], say))
    say("one-bar delay")
    checks.append(_delay(prices, full, full_bt, strategy, params, costs, periods, config))
    return checks


def _cut_dates(days: pd.DatetimeIndex, positions: list[int]) -> list[pd.Timestamp]:
    return sorted({days[min(len(days) - 3, max(1, p))] for p in positions})


def _each(prices: Any, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Any:
    """``prices`` with ``change`` applied to its frame, or to every ticker's frame of a universe."""
    if hasattr(prices, "frame"):
        return PriceData(change(prices.frame), prices.source, prices.name)
    changed = {t: PriceData(change(p.frame), p.source, p.name) for t, p in prices.prices.items()}
    return SimpleNamespace(prices={t: p for t, p in changed.items() if len(p.frame)})


def _truncate(prices: Any, cut: pd.Timestamp) -> Any:
    return _each(prices, lambda frame: frame.loc[:cut])


def _poisoned(prices: Any, cut: pd.Timestamp, seed: int) -> Any:
    return _each(prices, lambda frame: poison_after(frame, cut, seed))


def _replace(full: Predictions, keep: np.ndarray | None = None, values: pd.Series | None = None,
             uncertainty: pd.Series | None = None) -> Predictions:
    """``full`` restricted to the rows ``keep``, or with its predictions (and a seed ensemble's
    uncertainties) replaced by ``values`` (and ``uncertainty``)."""
    frame = full.frame if keep is None else full.frame[keep]
    if values is not None:
        frame = frame.assign(prediction=values.to_numpy())
    if uncertainty is not None:
        frame = frame.assign(uncertainty=uncertainty.to_numpy())
    return Predictions(frame, full.model, full.folds)


def _keyed(values: pd.Series | pd.DataFrame, predictions: Predictions | None = None) -> pd.Series:
    """A Series keyed by date, or by (date, ticker) for a universe's predictions or positions."""
    if isinstance(values, pd.DataFrame):
        keys = pd.MultiIndex.from_product([values.index, values.columns])  # NaN kept (stack's default drops it)
        return pd.Series(values.to_numpy().ravel(), index=keys)
    if predictions is not None and predictions.is_universe:
        return pd.Series(values.to_numpy(), index=pd.MultiIndex.from_arrays(
            [predictions.frame.index, predictions.frame["ticker"]]))
    return values


def _upto(series: pd.Series, cut: pd.Timestamp) -> pd.Series:
    dates = series.index.get_level_values(0) if isinstance(series.index, pd.MultiIndex) else series.index
    return series[dates <= cut]


def _model_check(name: str, full: Predictions, config: Config, variants: list,
                 say: Callable[[str], None]) -> Check:
    for k, (cut, data) in enumerate(variants, start=1):
        say(f"{name}: retraining on data cut at {stamp(cut)} ({k} of {len(variants)})")
        other = walk_forward_predict(data, config)
        columns = ["prediction"] + (["uncertainty"] if full.has_uncertainty else [])  # a seed ensemble's too
        for column in columns:
            bad = _first_difference(_upto(_keyed(full.frame[column], full), cut),
                                    _upto(_keyed(other.frame[column], other), cut))
            if bad is not None:
                what = "predictions" if column == "prediction" else "uncertainties"
                return Check(name, "FAIL", f"{what} up to {stamp(cut)} changed", bad)
    cuts = ", ".join(stamp(cut) for cut, _ in variants)
    what = "predictions and their seed-ensemble uncertainties" if full.has_uncertainty else "predictions"
    return Check(name, "PASS", f"{what} up to {cuts} identical after retraining")


def _strategy_check(name: str, full: Predictions, full_bt: BacktestResult, strategy: type, params: dict,
                    costs: dict, periods: int, variants: list, say: Callable[[str], None]) -> Check:
    for k, (cut, data, predictions) in enumerate(variants, start=1):
        say(f"{name}: cut date {k} of {len(variants)} ({stamp(cut)})")
        try:
            other = trade(data, predictions, strategy, costs, params, periods)
        except StrategyError as exc:
            return Check(name, "FAIL", f"the strategy failed on data ending or altered after {stamp(cut)} "
                         f"({exc}); does it read future bars?", stamp(cut))
        portfolio = isinstance(getattr(full_bt, "positions", None), pd.DataFrame) and len(full_bt.positions)
        if portfolio:
            # a ticker with no forecast up to the cut is not in the shorter run at all: it must not be held
            known = other.positions.columns
            unknown = full_bt.positions.columns.difference(known)
            held = _upto(_keyed(full_bt.positions[unknown]), cut)
            if (held.fillna(0.0) != 0).any():
                return Check(name, "FAIL", f"positions in tickers without a forecast up to {cut.date()}",
                             _first_difference(held, held * 0))
            pairs = [("decisions", full_bt.decisions[known.intersection(full_bt.decisions.columns)],
                      other.decisions), ("positions", full_bt.positions[known], other.positions)]
        else:
            pairs = [("decisions", full_bt.decisions, other.decisions),
                     ("positions", full_bt.weights, other.weights)]
        for what, a, b in pairs:
            bad = _first_difference(_upto(_keyed(a), cut), _upto(_keyed(b), cut))
            if bad is not None:
                return Check(name, "FAIL", f"{what} taken up to {stamp(cut)} changed with the data after it", bad)
        mine, theirs = _order_rows(full_bt.orders, cut), _order_rows(other.orders, cut)
        if mine != theirs:
            n = min(len(mine), len(theirs))
            i = next((k for k in range(n) if mine[k] != theirs[k]), n)  # first that differs, or the first extra
            first = (mine if i < len(mine) else theirs)[i][0]
            return Check(name, "FAIL", f"orders placed up to {stamp(cut)} changed with the data after it", first)
    return Check(name, "PASS", f"decisions, orders and positions identical at {len(variants)} cut dates")


def _order_rows(orders: pd.DataFrame, cut: pd.Timestamp) -> list[tuple]:
    """The orders created up to ``cut`` as plain (date, ticker, size) rows, so two runs compare by content only
    (an empty frame of one run and of another may differ in dtypes, never in orders)."""
    if not len(orders):
        return []
    part = orders[pd.DatetimeIndex(orders["date"]) <= cut]
    tickers = part["ticker"].astype(str) if "ticker" in part.columns else [""] * len(part)
    return [(stamp(d), t, float(size)) for d, t, size in zip(part["date"], tickers, part["size"])]


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
    first = differs.index[np.argmax(differs.to_numpy())]
    if isinstance(first, tuple):
        return f"{stamp(first[0])} ({first[1]})"
    return stamp(first)


def _delay(prices: Any, full: Predictions, full_bt: BacktestResult, strategy: type, params: dict,
           costs: dict, periods: int, config: Config) -> Check:
    columns = ["prediction"] + (["uncertainty"] if full.has_uncertainty else [])
    if full.is_universe:  # each ticker's forecast one of its own bars late
        delayed = full.frame.groupby("ticker", sort=False)[columns].shift(1)
    else:
        delayed = full.frame[columns].shift(1)
    late = trade(prices, _replace(full, None, delayed["prediction"],
                                  delayed["uncertainty"] if full.has_uncertainty else None),
                 strategy, costs, params, periods)
    bench = performance(benchmark(prices, full, config, costs).returns, periods)  # the run's own benchmark
    on_time, one_late = performance(full_bt.returns, periods), performance(late.returns, periods)
    edge = on_time["cagr"] - bench["cagr"]
    edge_late = one_late["cagr"] - bench["cagr"]
    kept = f"{edge_late / edge:.0%} of it" if edge > 0 else "n/a: no edge to keep"
    return Check("one-bar delay", "INFO",
                 f"CAGR edge over {'the --benchmark series' if config.benchmark else 'buy-and-hold'} "
                 f"{edge:+.2%} on time, {edge_late:+.2%} one bar late ({kept}); "
                 f"Sharpe {on_time['sharpe']:.2f} -> {one_late['sharpe']:.2f}")
