"""Verdicts: one plain-words line per run, each claim beside the test that earned it.

- Forecast skill: for one ticker, the Diebold-Mariano test against the zero forecast with the MSE ratio; for a
  universe, the mean daily Rank IC and its Newey-West p-value.
- Against the benchmark: the Sharpe ratios after costs, and the Ledoit-Wolf test of their difference
  (``above buy-and-hold: p = 0.47``). "Significantly" is said only when that test rejects at ``alpha``.
- Above zero: PSR and DSR test the strategy's own Sharpe against zero (DSR deflated by the trials counted on the
  same data), and say so (``Sharpe above zero: PSR 0.91, DSR 0.77 over 3 trials``); they never vouch for a
  comparison with the benchmark.
- Against the best baseline (``forecast.vs_best_baseline``, :mod:`lstmtrade.evaluate.versus`): the best by mean
  Rank IC (a universe) or by MSE (one ticker), the mean daily difference and its Newey-West t
  (``LSTM did not beat the best baseline by Rank IC (reversal): 0.004 lower, t = -1.2``). "beat" is said only
  when the difference favours the model with p < ``alpha``; in its favour without that, "did not significantly beat".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..formatting import missing, num, pvalue

ALPHA = 0.05  # level of every test a verdict reports


def finite(x: Any) -> bool:
    """A number that can be compared (not None, NaN or infinite)."""
    return not missing(x)


@dataclass
class Trading:
    """What a verdict says about trading: the Sharpe ratios after costs and the tests behind each claim."""

    sharpe: float | None  # the strategy's, annualised
    benchmark_sharpe: float | None
    psr: float | None  # P(Sharpe > 0)
    dsr: float | None  # P(Sharpe > the best of `trials` skill-less trials)
    trials: int = 1
    above_benchmark_p: float | None = None  # one-sided p of the Sharpe-ratio difference test
    baseline_name: str | None = None  # the best baseline by Sharpe, same strategy and costs
    baseline_sharpe: float | None = None

    @classmethod
    def from_metrics(cls, metrics: dict) -> "Trading":
        sig = metrics["significance"]
        best = max(metrics.get("baselines", {}).items(), key=lambda kv: kv[1]["sharpe"], default=None)
        return cls(metrics["strategy"]["sharpe"], metrics["benchmark"]["sharpe"], sig["psr"], sig["dsr"],
                   sig["trials"], (sig.get("vs_benchmark") or {}).get("pvalue"),
                   best[0] if best else None, best[1]["sharpe"] if best else None)


def trading_clauses(label: str, benchmark_name: str, t: Trading, alpha: float = ALPHA) -> list[str]:
    """The verdict's clauses on trading: against the benchmark after costs (with the difference test), the best
    baseline, and the Sharpe above zero (PSR, DSR)."""
    sr, bh = num(t.sharpe), num(t.benchmark_sharpe)
    test = f"above {benchmark_name}: p {pvalue(t.above_benchmark_p, three_below=0.1, equals=True)}"
    if finite(t.sharpe) and finite(t.benchmark_sharpe):
        if t.sharpe > t.benchmark_sharpe:
            earned = finite(t.above_benchmark_p) and t.above_benchmark_p < alpha
            how = "significantly" if earned else "not significantly"
            trade = f"{label} Sharpe {sr} beat {benchmark_name} {bh} after costs, {how} ({test})"
        else:
            trade = f"{label} Sharpe {sr} did not beat {benchmark_name} {bh} after costs ({test})"
    else:
        trade = f"{label} Sharpe {sr} vs {benchmark_name} {bh} after costs (comparison n/a)"
    parts = [trade]
    if t.baseline_name is not None:
        parts.append(f"best baseline {t.baseline_name} Sharpe {num(t.baseline_sharpe)}")
    parts.append(f"Sharpe above zero: PSR {num(t.psr)}, DSR {num(t.dsr)} over {t.trials} "
                 f"trial{'s' if t.trials != 1 else ''}")
    return parts


def versus_clause(versus: dict | None, model: str = "LSTM", alpha: float = ALPHA) -> str | None:
    """The model against the best baseline (``forecast.vs_best_baseline``), or None when no baseline ran."""
    if not versus:
        return None
    diff, t, p = versus.get("diff"), versus.get("tstat"), versus.get("pvalue")
    by_rank = versus.get("by") == "rank_ic"
    where = f"the best baseline by {'Rank IC' if by_rank else 'MSE'} ({versus['name']})"
    if not finite(diff):
        return f"{model} vs {where}: comparison n/a"
    if by_rank:
        better = diff > 0
        size = f"{num(abs(diff), 3)} {'higher' if better else 'lower'}"
    else:  # diff: the model's squared error minus the baseline's, per day
        better = diff < 0
        base = versus.get("baseline")
        change = abs(diff) / base if finite(base) and base > 0 else None
        size = f"MSE {num(change, 1, scale=100)}% {'lower' if better else 'higher'}"
    if better and finite(p) and p < alpha:
        head = f"{model} beat {where}"
    elif better:
        head = f"{model} did not significantly beat {where}"
    else:
        head = f"{model} did not beat {where}"
    return f"{head}: {size}, t = {num(t, 1)}"


def forecaster_label(model: str) -> str:
    """How a verdict names the forecaster: ``LSTM``, or a baseline's own name."""
    return "LSTM" if model == "lstm" else model


def verdict(dm_pvalue: float | None, mse_ratio: float | None, trading: Trading, alpha: float = ALPHA,
            versus: dict | None = None, model: str = "lstm") -> str:
    """One ticker's verdict: forecast skill, the best baseline (``versus``), then trading after costs.

    Forecasting skill is claimed only when ``dm_pvalue < alpha`` AND ``mse_ratio < 1`` (both finite); anything
    else, n/a included, reads "No evidence of forecasting skill". Missing values print as "n/a".
    """
    skill = finite(dm_pvalue) and finite(mse_ratio) and dm_pvalue < alpha and mse_ratio < 1
    head = "Evidence of forecasting skill" if skill else "No evidence of forecasting skill"
    p_text = pvalue(dm_pvalue, equals=True)  # "= 0.47", "< 0.001", "> 0.99" (never "= > 0.99")
    p_text = p_text if p_text[:1] in "<>=" else f"= {p_text}"
    parts = [f"{head} (DM p {p_text}, MSE ratio {num(mse_ratio, 3)})"]
    clause = versus_clause(versus, forecaster_label(model), alpha)
    parts += [clause] if clause else []
    parts += trading_clauses("strategy", "buy-and-hold", trading, alpha)
    return "; ".join(parts) + "."


def universe_verdict(report: dict, trading: Trading, survivorship: str | None = None,
                     benchmark_name: str = "equal-weight buy-and-hold", alpha: float = ALPHA,
                     model: str = "lstm") -> str:
    """A universe's verdict, in the style of :func:`verdict`.

    Cross-sectional skill is claimed only when the mean Rank IC is positive AND its Newey-West p-value
    (``report["rank_ic_pvalue"]``, two-sided) is below ``alpha``; anything else, n/a included, reads "No evidence
    of cross-sectional skill". ``survivorship``, when given, is appended as a final sentence.
    """
    ric, t, pv = report.get("rank_ic"), report.get("rank_ic_tstat"), report.get("rank_ic_pvalue")
    skill = finite(ric) and finite(pv) and ric > 0 and pv < alpha
    head = "Evidence of cross-sectional skill" if skill else "No evidence of cross-sectional skill"
    p_text = pvalue(pv, three_below=0.1, equals=True)  # "= 0.047", "< 0.001", "> 0.99", "n/a"
    parts = [f"{head} (mean Rank IC {num(ric, 3)}, t = {num(t, 1)}, p {p_text})"]
    clause = versus_clause(report.get("vs_best_baseline"), forecaster_label(model), alpha)
    parts += [clause] if clause else []
    parts += trading_clauses("portfolio", benchmark_name, trading, alpha)
    line = "; ".join(parts) + "."
    if survivorship:
        note = survivorship.strip()
        line += " " + (note if note.endswith((".", "!", "?")) else note + ".")
    return line


def run_verdict(metrics: dict) -> str:
    """The verdict on a run's result (for an ensemble: the forecast traded), quoting the spread across seeds."""
    line = skill_verdict(metrics)
    seeds = metrics.get("seeds") or {}
    if seeds.get("n", 1) > 1:
        s = seeds["sharpe"]
        line += (f" Ensemble of {seeds['n']} seeds; each seed alone: Sharpe {num(s['mean'])} ± {num(s['std'])}, "
                 f"from {num(s['min'])} to {num(s['max'])}.")
    return line


def skill_verdict(metrics: dict) -> str:
    """The verdict on forecast skill and trading, from a run's metrics (one ticker or a universe)."""
    f = metrics["forecast"]
    trading = Trading.from_metrics(metrics)
    model = (metrics.get("config") or {}).get("model", "lstm")
    if "universe" in metrics:
        benchmark = metrics["universe"].get("benchmark", "")
        name = "equal-weight buy-and-hold" if benchmark.startswith("equal-weight") or not benchmark else "the benchmark"
        return universe_verdict(f, trading, survivorship=metrics["universe"].get("survivorship"), benchmark_name=name,
                                model=model)
    return verdict(f.get("dm_pvalue"), f.get("mse_ratio"), trading, versus=f.get("vs_best_baseline"), model=model)


def break_even_text(extra_bps: float | None, edge_at_run_costs: float | None, search_bps: float) -> str:
    """A break-even (extra cost per side on top of the run's, :func:`lstmtrade.evaluate.performance.break_even`)
    in words, given the figure it brings to zero (an annual return, or one minus the benchmark's) at the run's own
    costs: ``reaches zero at +12.5 bps``."""
    if extra_bps is None:
        if finite(edge_at_run_costs) and edge_at_run_costs > 0:
            return f"stays above zero beyond +{search_bps:,.0f} bps"
        return "is below zero even at zero cost"
    if extra_bps > 0:
        return f"reaches zero at +{extra_bps:.1f} bps"
    return f"is already below zero at this run's costs (zero at {extra_bps:.1f} bps)"
