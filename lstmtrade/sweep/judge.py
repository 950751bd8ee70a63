"""Judging a finished sweep from its folder: the trial table, DSR, SPA/RC, MCS, PBO and the verdict (statistics
only; :mod:`lstmtrade.sweep.run` writes the files).

Everything is read back from the trial folders (``metrics.json``, ``returns.csv``), so an interrupted and
resumed sweep is judged exactly like an uninterrupted one. The selection statistics need the trials on the
same days: they use the days every trial traded (trials whose features need a longer warm-up start later).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import Progress
from ..errors import DamagedFileError
from ..evaluate import selection
from ..evaluate.ledger import trials as ledger_trials
from ..evaluate.performance import significance
from ..evaluate.selection import SKILL_DSR
from ..evaluate.verdict import run_verdict
from ..formatting import label

ALPHA = 0.05  # level of the SPA tests in the verdict


@dataclass
class Judgement:
    """A sweep judged: the trial table and summary (as trials.csv and sweep.json), and what the pages draw."""

    table: pd.DataFrame
    summary: dict[str, Any]
    best: Any  # the in-sample best Trial
    curves: pd.DataFrame  # daily returns of every trial on the common days, and buy and hold
    pbo: Any  # PBOResult, or None with too few common days
    metrics: dict[str, dict]  # each trial's metrics.json
    returns: dict[str, pd.Series]  # each trial's daily returns
    counted: list[float]  # per-bar Sharpe of every trial counted on these data


def refresh_significance(metrics: dict, returns: pd.Series, trial_sharpes: list[float]) -> None:
    """PSR, DSR and the verdict of one trial's metrics, with ``trial_sharpes`` (per period) as every trial
    tried on the same data, as an ordinary run counts them."""
    metrics["significance"].update(significance(returns, trial_sharpes))
    metrics["verdict"] = run_verdict(metrics)


def read_trial(trial_dir: Path) -> tuple[dict, pd.DataFrame]:
    """A finished trial's metrics.json and returns.csv; DamagedFileError when either does not read back."""
    try:
        metrics = json.loads((trial_dir / "metrics.json").read_text(encoding="utf-8"))
        frame = pd.read_csv(trial_dir / "returns.csv", index_col="date", parse_dates=True)
        if not isinstance(metrics, dict) or not {"strategy", "forecast", "backtest", "significance"} <= set(metrics):
            raise ValueError("metrics.json is not a trial's metrics")
        frame[["strategy", "benchmark"]].astype("float64")
    except (OSError, ValueError, KeyError, TypeError, pd.errors.ParserError) as exc:
        raise DamagedFileError(f"{trial_dir}: the trial's files do not read back ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}); resume the sweep to run it again") from None
    return metrics, frame


def judge(folder: Path, plan: Any, prices: Any, root: Path, emit: Progress, run: dict) -> Judgement:
    """Read every trial of ``folder`` and compute the selection statistics and the verdict."""
    metrics, strat, bench = {}, {}, {}
    for trial in plan.trials:
        metrics[trial.id], frame = read_trial(folder / "trials" / trial.id)
        strat[trial.id], bench[trial.id] = frame["strategy"], frame["benchmark"]
    ids = [t.id for t in plan.trials]
    counted = [t["sharpe"] for t in ledger_trials(root, prices.sha256)]  # this sweep and earlier runs
    n_counted = len(counted)
    dsr = {i: significance(strat[i], counted)["dsr"] for i in ids}

    matrix = pd.DataFrame(strat).dropna()  # the days every trial traded
    days = len(matrix)
    benchmark = bench[ids[0]].reindex(matrix.index).fillna(0.0).to_numpy()
    stats = plan.stats
    boot = {"reps": stats["reps"], "block_size": stats["block_size"], "seed": stats["seed"]}
    emit({"event": "stage", "name": "SPA, Reality Check and Model Confidence Set"})
    vs_bench = selection.reality_check(benchmark, matrix.to_numpy(), **boot)
    vs_zero = selection.reality_check(np.zeros(days), matrix.to_numpy(), **boot)
    in_mcs, mcs_p = selection.model_confidence_set(matrix.to_numpy(), size=stats["mcs_size"], **boot)
    pbo = None
    if days >= 2 * stats["blocks"]:
        emit({"event": "stage", "name": f"PBO ({stats['blocks']} blocks)"})
        pbo = selection.probability_of_backtest_overfitting(matrix.to_numpy(), blocks=stats["blocks"])

    rows = []
    for k, trial in enumerate(plan.trials):
        m = metrics[trial.id]
        s, f, info = m["strategy"], m["forecast"], m.get("sweep", {})
        rows.append({"id": trial.id, **{name: label(trial.params[name]) for name in plan.grid},
                     "seed": trial.seed, "origin": info.get("origin"), "sharpe": s["sharpe"],
                     "total_return": s["total_return"], "max_drawdown": s["max_drawdown"],
                     "hit_rate": f.get("hit_rate"), "ic": f.get("ic"), "dm_pvalue": f.get("dm_pvalue"),
                     **({"rank_ic": f.get("rank_ic"), "rank_ic_tstat": f.get("rank_ic_tstat")}
                        if "rank_ic" in f else {}),  # a universe's cross-sectional skill
                     "dsr": dsr[trial.id], "in_mcs": bool(in_mcs[k]), "mcs_pvalue": float(mcs_p[k]),
                     "skilful": bool(dsr[trial.id] > SKILL_DSR), "trades": s.get("trades"),
                     "days": m["backtest"]["days"], "folds": info.get("folds"),
                     "folds_cached": info.get("folds_cached"), "seconds": info.get("seconds")})
    table = pd.DataFrame(rows)
    best_row = table.loc[table["sharpe"].idxmax()]
    best = next(t for t in plan.trials if t.id == best_row["id"])

    line = selection.verdict(len(ids), n_counted, best.id, best_row["sharpe"], best_row["dsr"], vs_zero["spa"],
                   vs_bench["spa"], pbo.pbo if pbo else None, int(table["in_mcs"].sum()), ALPHA, SKILL_DSR)
    origins = table["origin"].value_counts()
    summary = {
        "n_trials": len(ids), "n_trials_counted": n_counted,
        "days": days, "first_day": str(matrix.index[0].date()), "last_day": str(matrix.index[-1].date()),
        "trained": int(origins.get("trained", 0)), "cached": int(origins.get("cached", 0)),
        "reused": int(origins.get("reused", 0)),
        "pbo": pbo.pbo if pbo else None,
        "pbo_detail": None if pbo is None else {
            "blocks": pbo.blocks, "splits": pbo.splits, "slope": pbo.slope, "intercept": pbo.intercept,
            "prob_oos_loss": pbo.prob_oos_loss, "logit_median": float(np.median(pbo.logits))},
        "spa_pvalue_vs_benchmark": vs_bench["spa"], "spa_pvalue_vs_zero": vs_zero["spa"],
        "rc_pvalue_vs_benchmark": vs_bench["rc"], "rc_pvalue_vs_zero": vs_zero["rc"],
        "mcs": table.loc[table["in_mcs"], "id"].tolist(), "mcs_size": stats["mcs_size"],
        "skilful": table.loc[table["skilful"], "id"].tolist(),
        "best": {"id": best.id, "params": best.params, "seed": best.seed,
                 "metrics": {k: best_row[k] for k in ("sharpe", "total_return", "max_drawdown", "hit_rate",
                                                      "ic", "dsr", "in_mcs")}},
        "verdict": line,
        "grid": plan.grid, "seeds": plan.seeds, "random": plan.random, "stats": stats,
        "data": {"source": prices.source, "name": prices.name, "sha256": prices.sha256},
        "run": run,
    }
    curves = matrix.assign(**{"buy and hold": benchmark})
    return Judgement(table, summary, best, curves, pbo, metrics, strat, counted)
