"""The built-in portfolio rules: each one ``target_weights(predictions)`` on the
:class:`~lstmtrade.backtesting.portfolio_strategy.PortfolioStrategy` base class. A new rule goes here, with one
entry in :data:`BUILTINS`."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import StrategyError
from .portfolio_strategy import PortfolioStrategy


class TopK(PortfolioStrategy):
    """Equal weights in the k highest forecasts, rebalanced at every decision.

    A held name without a bar today is kept (it has no forecast to rank) and counts towards k. On a day
    whose forecasts are all equal (the zero baseline) there is nothing to rank and the book goes flat.
    """

    params = (
        ("k", 10),  # names held; each gets gross_limit / k of equity (fewer names: the rest stays in cash)
        ("min_forecast", None),  # a name must forecast more than this to be bought (None: no floor; 0: positive only)
    )

    def start(self) -> None:
        super().start()
        _check_positive_int(self, "k")

    def target_weights(self, predictions: pd.Series) -> pd.Series:
        if _no_ranking(predictions):
            return pd.Series(dtype="float64")
        if self.p.min_forecast is not None:
            predictions = predictions[predictions > self.p.min_forecast]
        chosen = self.last_targets.index if self.last_targets is not None else pd.Index([])
        idle = chosen[chosen.isin(self.paused)]  # no bar today: the base class keeps them
        return pd.Series(self.gross / self.p.k, index=_largest(predictions, self.p.k - len(idle)))


class TopKDropout(PortfolioStrategy):
    """qlib's TopkDropout: hold k names; each day swap at most n_drop of the worst for the best not held.

    Held names and the best-ranked names not held are ranked together; held names among the n_drop
    worst of that list are sold and as many of the best new names are bought (more while fewer than k
    are held). A held name without a forecast today ranks last; one without a bar today is left alone
    and still counts towards k. Equal weights, gross_limit / k each. "Held" means chosen at the
    previous decision (``self.last_targets``), whether or not its order has filled yet.
    """

    params = (
        ("k", 10),  # names held
        ("n_drop", 2),  # most names replaced per day (turnover control)
    )

    def start(self) -> None:
        super().start()
        _check_positive_int(self, "k")
        if not (isinstance(self.p.n_drop, int) and self.p.n_drop >= 0):
            raise StrategyError(f"{type(self).__name__}: n_drop must be an integer >= 0, got {self.p.n_drop!r}")

    def target_weights(self, predictions: pd.Series) -> pd.Series:
        if _no_ranking(predictions):
            return pd.Series(dtype="float64")
        k, n_drop = self.p.k, self.p.n_drop
        chosen = self.last_targets.index if self.last_targets is not None else pd.Index([])
        idle = chosen[chosen.isin(self.paused)]  # no bar today: the base class keeps them; they count towards k
        room = k - len(idle)
        last = predictions.reindex(chosen[chosen.isin(self.trading)])
        last = last.sort_values(ascending=False, kind="stable").index  # best first, no forecast last
        others = predictions[~predictions.index.isin(chosen)].sort_values(ascending=False, kind="stable")
        fresh = others.index[:max(0, n_drop + room - len(last))]
        comb = predictions.reindex(last.append(fresh)).sort_values(ascending=False, kind="stable").index
        worst = comb[len(comb) - n_drop:] if n_drop else comb[:0]
        sell = last[last.isin(worst)]
        buy = fresh[:max(0, len(sell) + room - len(last))]
        keep = last[~last.isin(sell)].append(buy)
        return pd.Series(self.gross / k, index=keep)


class LongShortQuantile(PortfolioStrategy):
    """Long the top quantile, short the bottom quantile, equal weights: market-neutral.

    Half of gross_limit long, half short (0.5 / 0.5 by default). Each side holds
    max(1, floor(quantile * names)) names; with fewer than two forecasts the book is flat.
    """

    params = (
        ("quantile", 0.2),  # fraction of the forecasts on each side (at most 0.5)
    )

    def start(self) -> None:
        super().start()
        if not (isinstance(self.p.quantile, (int, float)) and 0 < self.p.quantile <= 0.5):
            raise StrategyError(f"{type(self).__name__}: quantile must be in (0, 0.5], got {self.p.quantile!r}")

    def target_weights(self, predictions: pd.Series) -> pd.Series:
        if len(predictions) < 2 or _no_ranking(predictions):
            return pd.Series(dtype="float64")
        n = max(1, math.floor(self.p.quantile * len(predictions)))
        ranked = predictions.sort_values(kind="stable").index
        side = 0.5 * self.gross / n
        return pd.concat([pd.Series(side, index=ranked[-n:]), pd.Series(-side, index=ranked[:n])])


class RankWeighted(PortfolioStrategy):
    """Weights proportional to the demeaned cross-sectional rank of the forecast (long-short).

    Rank 1..N (ties averaged), minus its mean, scaled so the sum of |weights| is gross_limit: net zero.
    ``long_only`` keeps the above-average half, weighted by how far above.
    """

    params = (
        ("long_only", False),  # keep only the positive (above-average rank) side
    )

    def target_weights(self, predictions: pd.Series) -> pd.Series:
        rank = predictions.rank(method="average")
        centred = rank - rank.mean()
        if self.p.long_only:
            centred = centred.clip(lower=0.0)
        total = centred.abs().sum()
        if total == 0:
            return pd.Series(dtype="float64")
        return centred * (self.gross / total)


class EqualWeight(PortfolioStrategy):
    """Equal weights in every ticker with a forecast on the first day, then held: the benchmark."""

    def target_weights(self, predictions: pd.Series) -> pd.Series | None:
        if self.last_targets is not None:
            return None  # bought once; never rebalanced
        return pd.Series(self.gross / len(predictions), index=predictions.index)


BUILTINS = {cls.__name__: cls for cls in (TopK, TopKDropout, LongShortQuantile, RankWeighted, EqualWeight)}


def _no_ranking(predictions: pd.Series) -> bool:
    """Every forecast equal (the zero forecast, say): no ranking, so the ranking rules hold nothing, as a
    single-asset rule stays flat on a zero forecast (rather than buy the first k names in ticker order)."""
    values = predictions.to_numpy(dtype="float64")
    return len(values) > 0 and bool(np.all(values == values[0]))


def _largest(values: pd.Series, n: int) -> pd.Index:
    """Index of the ``n`` largest values, ties to the earlier entry (Series.nlargest, 50x faster)."""
    order = np.argsort(-values.to_numpy(dtype="float64"), kind="stable")
    return values.index[order[:max(0, n)]]


def _check_positive_int(strat: PortfolioStrategy, name: str) -> None:
    value = getattr(strat.p, name)
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise StrategyError(f"{type(strat).__name__}: {name} must be an integer >= 1, got {value!r}")
