"""comparison.html of one ticker's run: the forecaster against the baselines and buy-and-hold on the same days,
strategy and costs, predicted against realised returns, and skill per fold.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from ..evaluate.performance import BREAK_EVEN_SEARCH, paid_per_side
from ..evaluate.verdict import break_even_text, forecaster_label
from ..files import write_text
from ..formatting import num, pvalue
from .fills import date_axis
from .html import html_table, page, pyplot, svg


def write_comparison(path: Path, title: str, verdict: str, table: pd.DataFrame, curves: pd.DataFrame,
                     predictions: pd.DataFrame, per_fold: pd.DataFrame, annualised: str = "",
                     members: pd.DataFrame | None = None, sections: str = "", claims: str = "") -> None:
    """comparison.html: the verdict, the LSTM vs baselines vs buy-and-hold table, cumulative returns of
    all of them on one chart, predicted vs realised returns, and skill per fold; inline SVG, offline.

    ``annualised`` says how the table's Sharpe and CAGR were annualised (printed under it). ``members``
    (daily returns, one column per seed-ensemble member traded alone) are drawn faintly under the
    curves; ``sections`` is HTML placed after the per-fold table (the seed ensemble's section); ``claims`` (HTML,
    :func:`claims_note`) goes under the verdict."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    fig, ax = plt.subplots(figsize=(10, 4.2))
    for i, name in enumerate(members.columns if members is not None else []):
        ax.plot(members.index, (1 + members[name]).cumprod() - 1, color="#1f77b4", alpha=0.3, linewidth=0.8,
                label=f"each of the {members.shape[1]} seeds alone" if i == 0 else None)
    for name in curves.columns:
        width = 2.2 if name == curves.columns[0] else 1.2
        ax.plot(curves.index, (1 + curves[name]).cumprod() - 1, label=name, linewidth=width)
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.set_title("Cumulative return after costs, same days")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(4, len(ax.get_legend_handles_labels()[1])),
              fontsize=8, frameon=False)  # below the axes: a legend inside would cover some curve somewhere
    date_axis(ax)
    cumulative = svg(fig)

    fig, ax = plt.subplots(figsize=(5, 4.2))
    known = predictions.dropna(subset=["target"])
    ax.scatter(known["prediction"], known["target"], s=4, alpha=0.35)
    ax.axhline(0, color="#888", linewidth=0.6), ax.axvline(0, color="#888", linewidth=0.6)
    ax.set_xlabel("predicted return"), ax.set_ylabel("realised return (next open to open)")
    ax.xaxis.set_major_locator(MaxNLocator(5))  # hourly forecasts are small numbers with long tick labels
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title("Predicted vs realised")
    scatter = svg(fig)

    fig, ax = plt.subplots(figsize=(5, 4.2))
    if len(per_fold):
        ax.bar(per_fold.index.astype(str), per_fold["ic"].fillna(0.0), color="#4c72b0")
        ax.axhline(0, color="#888", linewidth=0.6)
        ax.set_xlabel("fold"), ax.set_ylabel("information coefficient")
        ax.tick_params(axis="x", labelsize=7)
    ax.set_title("Skill per fold (IC)")
    folds_chart = svg(fig)

    body = f"""<p class="verdict">{html.escape(verdict)}</p>
{claims}
<p><a href="tearsheet.html">QuantStats tearsheet: strategy vs buy-and-hold</a></p>
<h2>Forecasters through the same walk-forward, strategy and costs</h2>
{html_table(table)}
<p>{html.escape(annualised)}</p>
<p>DM p: Diebold-Mariano test (Harvey-Leybourne-Newbold corrected) that the forecast's squared error is
lower than the zero forecast's; small p is evidence of skill. Hit rate skips zero forecasts. up_share: the
share of the days the hit rate counts on which the asset rose, which is the hit rate of always being long; a
hit rate shows skill only as far as it beats it.</p>
{cumulative}
<div class="row">{scatter}{folds_chart}</div>
<h2>Skill per fold</h2>
{html_table(per_fold)}
{sections}
"""
    write_text(path, page(title, body))


def annualised_note(data: dict) -> str:
    """How the run annualised: ``Sharpe, CAGR and volatility annualised with 6,240 bars a year (1h bars, 24 h × 5
    days, detected)``."""
    source = "set by --periods-per-year" if data.get("periods_per_year_source") == "--periods-per-year" else "detected"
    calendar = f", {data['calendar']}" if data.get("calendar") else ""
    return (f"Sharpe, CAGR and volatility are annualised with {data['periods_per_year']:,} bars a year "
            f"({data['bar']} bars{calendar}; {source}), in this page, metrics.json and the tearsheet alike.")


def comparison_table(result: Any) -> pd.DataFrame:
    """One row per forecaster (same strategy, costs, days) plus buy-and-hold."""
    m = result.metrics
    rows = {f"{result.config.model} ({result.strategy.strategy})": {**m["strategy"], **m["forecast"]}}
    for name, values in m["baselines"].items():
        rows[f"{name} baseline"] = {**values, **values["forecast"]}
    rows["buy and hold"] = dict(m["benchmark"])
    columns = ["total_return", "cagr", "sharpe", "max_drawdown", "hit_rate", "up_share", "ic", "mse_ratio", "dm_pvalue"]
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=columns)
    table.index.name = "forecaster"
    return table


def model_label(result: Any) -> str:
    """The run's forecaster as the curves name it: ``lstm``, or ``lstm, mean of 5 seeds``."""
    n = result.predictions.n_members
    return result.config.model + (f", mean of {n} seeds" if n > 1 else "")


def comparison_curves(result: Any) -> pd.DataFrame:
    curves = {model_label(result): result.strategy.returns}
    curves.update({name: bt_result.returns for name, (_, bt_result) in result.baselines.items()})
    curves["buy and hold"] = result.benchmark.returns
    return pd.DataFrame(curves)


def versus_line(metrics: dict) -> str | None:
    """The model against the best baseline in one sentence with its figures, or None without baselines."""
    v = metrics["forecast"].get("vs_best_baseline")
    if not v:
        return None
    model = forecaster_label((metrics.get("config") or {}).get("model", "lstm"))
    if v["by"] == "rank_ic":
        return (f"{model} against the best baseline by mean Rank IC, {v['name']}: Rank IC {num(v.get('model'), 4)} "
                f"against {num(v.get('baseline'), 4)} on the cells both forecast; mean daily difference "
                f"{num(v.get('diff'), 4)} (Newey-West t = {num(v.get('tstat'))}, p = {num(v.get('pvalue'), 3)}, "
                f"{v.get('n_days')} days).")
    return (f"{model} against the best baseline by MSE, {v['name']}: MSE {num(v.get('model'), 3, scale=1e4)} against "
            f"{num(v.get('baseline'), 3, scale=1e4)} (x 1e-4) on the days both forecast; mean daily difference in "
            f"squared error {num(v.get('diff'), 3, scale=1e4)} x 1e-4 (Newey-West t = {num(v.get('tstat'))}, "
            f"p = {num(v.get('pvalue'), 3)}, {v.get('n_days')} days; negative: {model}'s errors are smaller).")


def claims_note(metrics: dict, benchmark_name: str) -> str:
    """HTML under a page's verdict: the model against the best baseline, the test behind the comparison with the
    benchmark, and the two break-evens (extra cost per side on top of the run's), each named for what it
    compares."""
    test = metrics["significance"].get("vs_benchmark") or {}
    costs = metrics.get("costs") or {}
    s, b = metrics["strategy"], metrics["benchmark"]
    lines = [f"Sharpe above {benchmark_name}: difference {num(test.get('diff'))} ± {num(test.get('se'))} "
             f"(Ledoit-Wolf HAC test), one-sided p {pvalue(test.get('pvalue'), three_below=0.1, equals=True)}. "
             f"Sharpe above zero: PSR {num(metrics['significance']['psr'])}, DSR {num(metrics['significance']['dsr'])}."]
    versus = versus_line(metrics)
    if versus:
        lines.insert(0, versus)
    if costs:
        own = break_even_text(costs["break_even_bps"], s["cagr"], BREAK_EVEN_SEARCH)
        excess = break_even_text(costs["break_even_vs_benchmark_bps"], s["cagr"] - b["cagr"], BREAK_EVEN_SEARCH)
        lines.append(f"Break-even, as extra cost per side on top of this run's {paid_per_side(costs)}: "
                     f"the annual return {own}; the return over {benchmark_name} {excess}.")
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def break_even_banner(metrics: dict) -> str:
    """One line for the tearsheet's banner: the break-even cost per side, against the run's own."""
    costs = metrics.get("costs") or {}
    if not costs:
        return ""
    own = break_even_text(costs["break_even_bps"], metrics["strategy"]["cagr"], BREAK_EVEN_SEARCH)
    return (f"Break-even: with this run's costs ({paid_per_side(costs)}) plus an extra cost per side, "
            f"the annual return {own}.")
