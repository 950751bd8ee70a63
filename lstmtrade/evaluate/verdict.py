"""Verdicts: one plain-words line per run, each claim beside the test that earned it.

Forecast skill: for one ticker, the Diebold-Mariano test against the zero forecast with the MSE ratio; for a
universe, the mean daily Rank IC and its Newey-West p-value. Trading: the strategy's Sharpe against the
benchmark's after costs, the best baseline, PSR and DSR.
"""
from __future__ import annotations

from typing import Any

from ..formatting import missing, num, pvalue


def finite(x: Any) -> bool:
    """A number that can be compared (not None, NaN or infinite)."""
    return not missing(x)


def verdict(
    dm_pvalue: float,
    mse_ratio: float,
    sharpe: float,
    benchmark_sharpe: float,
    psr: float,
    dsr: float,
    trials: int,
    baseline_name: str | None = None,
    baseline_sharpe: float | None = None,
    alpha: float = 0.05,
) -> str:
    """One plain-words line summarising forecast skill and the trading result after costs.

    Forecasting skill is claimed only when ``dm_pvalue < alpha`` AND ``mse_ratio < 1`` (both finite);
    anything else, including n/a inputs, reads "No evidence of forecasting skill". The Sharpe
    comparison with buy-and-hold is called significant only when the strategy's Sharpe is higher and
    ``dsr > 0.95``. Missing values print as "n/a".
    """
    skill = finite(dm_pvalue) and finite(mse_ratio) and dm_pvalue < alpha and mse_ratio < 1
    head = "Evidence of forecasting skill" if skill else "No evidence of forecasting skill"
    parts = [f"{head} (DM p = {pvalue(dm_pvalue)}, MSE ratio {num(mse_ratio, 3)})"]

    parts += trading_clauses("strategy", sharpe, "buy-and-hold", benchmark_sharpe, psr, dsr, trials,
                             baseline_name, baseline_sharpe)
    return "; ".join(parts) + "."


def trading_clauses(label: str, sharpe: float | None, benchmark_name: str, benchmark_sharpe: float | None,
                    psr: float | None, dsr: float | None, trials: int, baseline_name: str | None = None,
                    baseline_sharpe: float | None = None) -> list[str]:
    """The verdict's clauses on trading: against the benchmark after costs, the best baseline, PSR, DSR."""
    sr, bh = num(sharpe), num(benchmark_sharpe)
    if finite(sharpe) and finite(benchmark_sharpe):
        if sharpe > benchmark_sharpe:
            sig = "significant" if finite(dsr) and dsr > 0.95 else "not significant"
            trade = f"{label} Sharpe {sr} beat {benchmark_name} {bh} after costs ({sig}: DSR {num(dsr)})"
        else:
            trade = f"{label} Sharpe {sr} did not beat {benchmark_name} {bh} after costs"
    else:
        trade = f"{label} Sharpe {sr} vs {benchmark_name} {bh} after costs (comparison n/a)"
    parts = [trade]
    if baseline_name is not None:
        parts.append(f"best baseline {baseline_name} Sharpe {num(baseline_sharpe)}")
    parts.append(f"PSR {num(psr)}")
    parts.append(f"DSR {num(dsr)} over {trials} trial{'s' if trials != 1 else ''}")
    return parts
def universe_verdict(
    report: dict,
    strategy_sharpe: float,
    benchmark_sharpe: float,
    psr: float,
    dsr: float,
    trials: int,
    baseline_name: str | None = None,
    baseline_sharpe: float | None = None,
    survivorship: str | None = None,
    benchmark_name: str = "equal-weight buy-and-hold",
    alpha: float = 0.05,
) -> str:
    """Plain-words summary of a universe run, in the style of :func:`verdict`.

    Cross-sectional skill is claimed only when the mean Rank IC is positive AND its Newey-West p-value
    (``report["rank_ic_pvalue"]``, two-sided) is below ``alpha``; anything else, n/a included, reads
    "No evidence of cross-sectional skill". The portfolio's Sharpe is called a significant win over
    ``benchmark_name`` only when it is higher and ``dsr > 0.95``. ``survivorship``, when given, is
    appended as a final sentence (e.g. "Tickers are today's index members: survivorship bias
    flatters every result."). Missing values print as "n/a".
    """
    ric, t, pv = report.get("rank_ic"), report.get("rank_ic_tstat"), report.get("rank_ic_pvalue")
    skill = finite(ric) and finite(pv) and ric > 0 and pv < alpha
    head = "Evidence of cross-sectional skill" if skill else "No evidence of cross-sectional skill"
    p_text = pvalue(pv, three_below=0.1)
    p_text = p_text if p_text.startswith("<") or p_text == "n/a" else f"= {p_text}"
    parts = [f"{head} (mean Rank IC {num(ric, 3)}, t = {num(t, 1)}, p {p_text})"]

    parts += trading_clauses("portfolio", strategy_sharpe, benchmark_name, benchmark_sharpe, psr, dsr,
                             trials, baseline_name, baseline_sharpe)
    line = "; ".join(parts) + "."
    if survivorship:
        note = survivorship.strip()
        line += " " + (note if note.endswith((".", "!", "?")) else note + ".")
    return line


def run_verdict(metrics: dict) -> str:
    """The verdict on the ensemble's result (the forecast traded), quoting the spread across seeds."""
    line = skill_verdict(metrics)
    seeds = metrics.get("seeds") or {}
    if seeds.get("n", 1) > 1:
        s = seeds["sharpe"]
        line += (f" Ensemble of {seeds['n']} seeds; each seed alone: Sharpe {num(s['mean'])} ± {num(s['std'])}, "
                 f"from {num(s['min'])} to {num(s['max'])}.")
    return line


def skill_verdict(metrics: dict) -> str:
    """The verdict on forecast skill and trading, from a run's metrics (one ticker or a universe)."""
    f, sig = metrics["forecast"], metrics["significance"]
    best = max(metrics.get("baselines", {}).items(), key=lambda kv: kv[1]["sharpe"], default=None)
    if "universe" in metrics:
        return universe_verdict(f, metrics["strategy"]["sharpe"], metrics["benchmark"]["sharpe"], sig["psr"],
                                sig["dsr"], sig["trials"], baseline_name=best[0] if best else None,
                                baseline_sharpe=best[1]["sharpe"] if best else None,
                                survivorship=metrics["universe"].get("survivorship"))
    return verdict(dm_pvalue=f.get("dm_pvalue"), mse_ratio=f.get("mse_ratio"),
                   sharpe=metrics["strategy"]["sharpe"], benchmark_sharpe=metrics["benchmark"]["sharpe"],
                   psr=sig["psr"], dsr=sig["dsr"], trials=sig["trials"],
                   baseline_name=best[0] if best else None, baseline_sharpe=best[1]["sharpe"] if best else None)
