"""How much money a strategy can run: the same forecasts traded again from other starting capitals.

No retraining: only the backtest runs again, with every cost of the run. With impact or a volume cap on, a larger
book pays more per unit traded and fills less of what it wants, so its Sharpe ratio falls as capital grows.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backtesting.costs import Costs, participation
from ..backtesting.stage import trade
from .performance import performance

COLUMNS = ("capital", "sharpe", "cagr", "participation_mean", "participation_max", "unfilled")


def capacity(prices: Any, predictions: Any, strategy: type, costs: Costs, params: dict,
             capitals: Sequence[float], periods: int) -> list[dict[str, float | None]]:
    """One row per starting capital (capacity.csv): Sharpe, CAGR, mean and largest share of a bar's volume a fill
    took, and ``unfilled``, the share of the value the strategy wanted to trade that a volume cap kept out."""
    rows = []
    for capital in capitals:
        result = trade(prices, predictions, strategy, {"cash": float(capital), "costs": costs}, params, periods)
        perf = performance(result.returns, periods)
        share = participation(result, prices, costs).to_numpy()
        share = share[np.isfinite(share)]
        traded = float(result.trades["value"].sum()) if len(result.trades) else 0.0
        cut = float(result.unfilled["value"].sum()) if len(result.unfilled) else 0.0
        rows.append({"capital": float(capital), "sharpe": perf["sharpe"], "cagr": perf["cagr"],
                     "participation_mean": float(share.mean()) if len(share) else None,
                     "participation_max": float(share.max()) if len(share) else None,
                     "unfilled": cut / (traded + cut) if traded + cut > 0 else 0.0})
    return rows
