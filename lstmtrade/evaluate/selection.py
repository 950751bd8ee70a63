"""Statistics of selection: did the best of many trials win by skill or by being the luckiest draw?

Inputs are plain arrays: ``returns`` is ``(T, N)``, the daily returns after costs of ``N`` trials on the
same ``T`` days; a benchmark is a length-``T`` vector. Losses, where a test needs them, are negative
returns, so "lower loss" means "higher return".

* **Hansen's SPA and White's Reality Check** (:func:`reality_check`, via ``arch.bootstrap.SPA``). H0: no
  trial's expected daily return exceeds the benchmark's. The SPA p-value is arch's "consistent" one
  (trials far worse than the benchmark are not allowed to inflate the null distribution); White's RC is
  the "upper" one (every trial treated as if it sat on the null boundary), so RC >= SPA. The bootstrap is
  the stationary bootstrap with mean block length ``block_size`` days, ``reps`` replications, seeded.
* **Model Confidence Set** (:func:`model_confidence_set`, ``arch.bootstrap.MCS``, Hansen, Lunde and
  Nason 2011, range statistic): the trials that cannot be told apart from the best at level ``size``.
  Trials with identical returns (strategy variants that never differ) are tested once and share a fate.
* **Probability of Backtest Overfitting** (:func:`probability_of_backtest_overfitting`; Bailey, Borwein,
  Lopez de Prado and Zhu 2017, combinatorially symmetric cross-validation). The ``T`` rows are cut into
  ``S`` contiguous blocks; for each of the ``C(S, S/2)`` ways to pick half of them as in-sample (IS), the
  rest out-of-sample (OOS), the trial with the best IS Sharpe ratio ``n*`` is found and its OOS rank
  ``r`` among the ``N`` trials (1 = worst, ties averaged) turned into ``w = r / (N + 1)`` and the logit
  ``lambda = ln(w / (1 - w))``. PBO is the share of splits with ``lambda <= 0``: the IS winner did no
  better than the OOS median. Pure noise gives PBO near 0.5; a real, persistent edge gives PBO near 0.
  The performance degradation is the least-squares line of the winner's OOS Sharpe on its IS Sharpe.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from ..formatting import num, pvalue

SKILL_DSR = 0.95  # a trial is called skilful when its deflated Sharpe ratio exceeds this

__all__ = ["PBOResult", "probability_of_backtest_overfitting", "reality_check", "model_confidence_set", "verdict"]


def _matrix(returns) -> np.ndarray:
    r = np.asarray(returns, dtype=float)
    if r.ndim != 2:
        raise ValueError(f"returns must be a (days, trials) matrix, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("returns hold NaN or infinite values; align the trials on common days first")
    return r


# --------------------------------------------------------------------------- PBO (CSCV)


@dataclass(frozen=True)
class PBOResult:
    """Outcome of CSCV; one entry per split in ``logits``, ``is_sharpe`` and ``oos_sharpe``."""

    pbo: float  # share of splits whose IS winner ranks at or below the OOS median (lambda <= 0)
    logits: np.ndarray  # lambda of the IS winner's OOS rank, per split
    is_sharpe: np.ndarray  # the IS winner's in-sample Sharpe ratio (per period), per split
    oos_sharpe: np.ndarray  # the same trial's out-of-sample Sharpe ratio, per split
    slope: float  # degradation: OOS Sharpe ~ intercept + slope * IS Sharpe (least squares)
    intercept: float
    prob_oos_loss: float  # share of splits where the IS winner lost money out of sample
    blocks: int  # S
    trials: int  # N

    @property
    def splits(self) -> int:
        return len(self.logits)


def _sharpe(sums: np.ndarray, squares: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-period Sharpe (mean / sample std) from sums, sums of squares and row counts; 0 where flat."""
    n = counts[:, None]
    mean = sums / n
    var = np.maximum(squares - n * mean**2, 0.0) / (n - 1)
    sd = np.sqrt(var)
    scale = np.maximum(np.abs(mean), 1e-300)
    flat = sd <= 1e-12 * scale  # a constant series (e.g. never invested): no Sharpe, count it as 0
    return np.where(flat, 0.0, mean / np.where(flat, 1.0, sd))


@functools.lru_cache(maxsize=4)
def _halves(blocks: int) -> np.ndarray:
    """``(C(S, S/2), S)`` 0/1 matrix: row k marks the in-sample blocks of split k."""
    combos = np.array(list(itertools.combinations(range(blocks), blocks // 2)))
    chosen = np.zeros((len(combos), blocks))
    np.put_along_axis(chosen, combos, 1.0, axis=1)
    chosen.setflags(write=False)
    return chosen


def probability_of_backtest_overfitting(returns, blocks: int = 16) -> PBOResult:
    """PBO of picking the trial with the best Sharpe ratio, by CSCV over ``blocks`` contiguous blocks.

    ``returns`` is ``(T, N)`` with ``N >= 2`` trials and at least 2 rows per block; ``blocks`` must be even
    (16 gives 12,870 splits). Blocks differ in length by at most one row when ``T`` is not a multiple.
    """
    r = _matrix(returns)
    t, n = r.shape
    if n < 2:
        raise ValueError(f"PBO needs at least 2 trials, got {n}")
    if blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be an even number >= 2, got {blocks}")
    if t < 2 * blocks:
        raise ValueError(f"{t} days are too few for {blocks} blocks (need at least {2 * blocks})")
    parts = np.array_split(np.arange(t), blocks)
    counts = np.array([len(p) for p in parts], dtype=float)
    sums = np.array([r[p].sum(axis=0) for p in parts])  # (S, N)
    squares = np.array([(r[p] ** 2).sum(axis=0) for p in parts])
    chosen = _halves(blocks)
    other = 1.0 - chosen
    is_perf = _sharpe(chosen @ sums, chosen @ squares, chosen @ counts)  # (C, N)
    oos_perf = _sharpe(other @ sums, other @ squares, other @ counts)
    best = is_perf.argmax(axis=1)  # first trial on ties
    rows = np.arange(len(best))
    winner_oos = oos_perf[rows, best]
    below = (oos_perf < winner_oos[:, None]).sum(axis=1)
    equal = (oos_perf == winner_oos[:, None]).sum(axis=1)  # includes the winner itself
    rank = below + (equal + 1) / 2.0  # average rank, 1 = worst
    w = rank / (n + 1)
    logits = np.log(w / (1.0 - w))
    winner_is = is_perf[rows, best]
    if np.ptp(winner_is) > 0:
        slope, intercept = np.polyfit(winner_is, winner_oos, 1)
    else:  # one trial wins every split with the same IS Sharpe: no line to fit
        slope, intercept = float("nan"), float(winner_oos.mean())
    return PBOResult(pbo=float(np.mean(logits <= 0)), logits=logits, is_sharpe=winner_is, oos_sharpe=winner_oos,
                     slope=float(slope), intercept=float(intercept),
                     prob_oos_loss=float(np.mean(winner_oos < 0)), blocks=blocks, trials=n)


# --------------------------------------------------------------------------- SPA, RC and MCS (arch)


def reality_check(benchmark, returns, reps: int = 1000, block_size: int = 10, seed: int = 0) -> dict[str, float]:
    """p-values of H0 "no trial beats ``benchmark``" on mean daily return.

    Returns ``{"spa": Hansen's SPA (consistent), "spa_lower": its lower bound, "rc": White's Reality
    Check}``. A small p-value says the best trial's edge over the benchmark survives having tried them all.
    """
    from arch.bootstrap import SPA

    r = _matrix(returns)
    b = np.asarray(benchmark, dtype=float).ravel()
    if b.shape[0] != r.shape[0]:
        raise ValueError(f"benchmark has {b.shape[0]} days, returns {r.shape[0]}")
    test = SPA(-b, -r, block_size=block_size, reps=reps, seed=seed)
    test.compute()
    p = test.pvalues
    return {"spa": float(p["consistent"]), "spa_lower": float(p["lower"]), "rc": float(p["upper"])}


def model_confidence_set(returns, size: float = 0.1, reps: int = 1000, block_size: int = 10,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(included, pvalues)``: which trials are in the ``1 - size`` Model Confidence Set, and each trial's
    MCS p-value (a trial is in the set when its p-value exceeds ``size``).

    Identical columns are collapsed before testing (their pairwise loss variance is zero, which the
    range statistic cannot divide by) and share the result.
    """
    from arch.bootstrap import MCS

    r = _matrix(returns)
    unique, first, inverse = np.unique(r, axis=1, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    if unique.shape[1] == 1:
        return np.ones(r.shape[1], dtype=bool), np.ones(r.shape[1])
    order = np.argsort(first)  # keep the trials' own order among the distinct columns
    distinct = r[:, first[order]]
    test = MCS(-distinct, size=size, reps=reps, block_size=block_size, method="R", seed=seed)
    test.compute()
    pvalues = test.pvalues["Pvalue"].sort_index().to_numpy()  # index: column number in ``distinct``
    position = np.empty_like(order)
    position[order] = np.arange(len(order))  # unique column -> its column in ``distinct``
    p = pvalues[position[inverse]]
    return p > size, p


# --------------------------------------------------------------------------- the verdict


def verdict(n_trials: int, n_counted: int, best_id: str, sharpe: float, dsr: float, spa_vs_zero: float,
            spa_vs_benchmark: float, pbo: float | None, in_mcs: int, alpha: float = 0.05,
            skill_dsr: float = SKILL_DSR) -> str:
    """One line on the sweep's best trial that ranks nothing as 'best' without the statistics of selection.

    The best trial's edge is said to survive selection only when its DSR (over ``n_counted`` trials)
    exceeds ``skill_dsr``, the SPA test against the zero forecast rejects at ``alpha``, and PBO (when
    known) is below 0.5; it beats buy-and-hold only when the SPA test against buy-and-hold rejects too.
    """
    counted = f" over {n_counted} trials" if n_counted != n_trials else ""
    head = (f"best of {n_trials} trials ({best_id}): Sharpe {num(sharpe)}, DSR {num(dsr)}{counted}, "
            f"SPA p {pvalue(spa_vs_zero, equals=True)} vs the zero forecast and "
            f"p {pvalue(spa_vs_benchmark, equals=True)} vs buy-and-hold, "
            f"PBO {num(pbo)}, {in_mcs} of {n_trials} in the Model Confidence Set")
    survives = (np.isfinite(dsr) and dsr > skill_dsr and np.isfinite(spa_vs_zero) and spa_vs_zero < alpha
                and (pbo is None or not np.isfinite(pbo) or pbo < 0.5))
    if not survives:
        return head + ": the sweep found nothing that survives selection."
    if np.isfinite(spa_vs_benchmark) and spa_vs_benchmark < alpha:
        return head + ": the best trial's edge survives selection and beats buy-and-hold."
    return head + ": the best trial's edge survives selection, but it does not beat buy-and-hold."
