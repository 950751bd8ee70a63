"""A universe run's pages: the QuantStats tearsheet against the universe benchmark, and a
comparison page that answers the cross-sectional questions one chart at a time:

- Does the forecast rank tickers? Daily Rank IC over time (and its mean by month).
- Does the ranking pay? Mean next-day return by forecast quantile, with standard errors.
- Which tickers, which folds? Per-ticker skill with base rates; per-fold skill.
- What did the data allow? The data report's summary: tickers used, repaired, excluded and why.
"""
from __future__ import annotations

import html
from typing import Any

import pandas as pd

from ..evaluate.xsection import daily_ic, ic_by_month, per_ticker_skill, quantile_returns
from ..files import write_text
from ..formatting import num, pct, stamper
from .comparison import annualised_note, break_even_banner, claims_note
from .costs import costs_section
from .fills import date_axis, fills_section
from .html import html_table, page, pyplot, svg
from .seeds import confidence_section
from .tearsheet import write_tearsheet


def write_universe_pages(result: Any) -> None:
    """A universe run's tearsheet (against its benchmark) and comparison page."""
    folder, preds = result.folder, result.predictions
    m = result.metrics
    frame = preds.frame
    universe = m["universe"]
    title = (f"{result.prices.name} universe ({universe['traded']} of {universe['tickers']} tickers traded): "
             f"{result.config.model.upper()} "
             f"pooled walk-forward, {result.strategy.strategy} vs {_bench_label(result)}, "
             f"{stamper(frame.index)(frame.index[0])} to {stamper(frame.index)(frame.index[-1])}")
    caveat = universe.get("survivorship")
    banner = (f"<b>Verdict:</b> {html.escape(verdict_alone(m))}<br>{html.escape(break_even_banner(m))}"
              + (f"<br><b>Survivorship:</b> {html.escape(caveat)}" if caveat else "")
              + ' &middot; <a href="comparison.html">cross-sectional skill, baselines and the data report</a>')
    write_tearsheet(folder / "tearsheet.html", result.strategy.returns, result.benchmark.returns, title, banner,
                    periods=m["data"]["periods_per_year"], bar=m["data"].get("bar", ""),
                    weights=(result.strategy.weights, result.benchmark.weights),
                    benchmark_name="Benchmark" if result.config.benchmark else "Equal-weight B&H")
    write_text(folder / "comparison.html", comparison_page(result, title))


def verdict_alone(metrics: dict) -> str:
    """The verdict without the survivorship caveat it ends with: the pages print the caveat once, under its own
    heading, instead of twice in a row."""
    verdict, caveat = metrics["verdict"], metrics["universe"].get("survivorship")
    if caveat and caveat in verdict:
        verdict = verdict.replace(caveat + ".", "").replace(caveat, "").strip()
    return verdict


def counts_note(result: Any) -> str:
    """How the universe's counts relate: tickers in the data, used, repaired, excluded, and forecast and traded."""
    universe = result.metrics["universe"]
    traded = set(result.predictions.tickers)
    excluded = universe.get("excluded") or {}
    early = sorted(t for t in excluded if t in traded)
    text = (f"The data hold {universe['tickers']} tickers: {len(universe.get('used') or [])} passed the screen as "
            f"they were, {len(universe.get('repaired') or {})} after rows were dropped (repaired), and "
            f"{len(excluded)} were excluded from a date on, their earlier rows kept. The network is trained on the "
            f"kept rows of them all, pooled; {universe['traded']} tickers have bars in the test period, so they were "
            "forecast and could be traded (the per-ticker table below)")
    if early:
        text += (f", including {len(early)} excluded ticker{'s' if len(early) > 1 else ''} up to its exclusion date "
                 f"({', '.join(early)})")
    return text + "."


def _bench_label(result: Any) -> str:
    return "the benchmark series" if result.config.benchmark else "equal-weight buy-and-hold"


def comparison_page(result: Any, title: str) -> str:
    plt = pyplot()
    from matplotlib.ticker import PercentFormatter

    m, preds = result.metrics, result.predictions
    pred, real = preds.wide("prediction"), preds.wide("target")
    rank_ic = daily_ic(pred, real, method="spearman")
    f = m["forecast"]

    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.plot(rank_ic.index, rank_ic.to_numpy(), color="#9fb3c8", linewidth=0.6, label="daily Rank IC")
    ax.plot(rank_ic.index, rank_ic.rolling(63, min_periods=20).mean(), color="#1f4e79", linewidth=1.8,
            label="63-day mean")
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.axhline(f.get("rank_ic") or 0.0, color="#c0392b", linewidth=1, linestyle="--", label="mean over the run")
    ax.set_title("Does the forecast rank the tickers? Daily Rank IC (Spearman, forecast vs next return)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=8, frameon=False)
    date_axis(ax)
    ic_chart = svg(fig)

    monthly = ic_by_month(rank_ic)
    fig, ax = plt.subplots(figsize=(10, 3.2))
    ax.bar(range(len(monthly)), monthly.to_numpy(), color=["#4c72b0" if v >= 0 else "#c44e52" for v in monthly])
    step = max(1, len(monthly) // 12)
    ax.set_xticks(range(0, len(monthly), step), list(monthly.index)[::step], fontsize=7)
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.set_title("Mean Rank IC by month")
    month_chart = svg(fig)

    quantiles = quantile_returns(pred, real, n_quantiles=5)
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    ax.bar(quantiles.index.astype(str), quantiles["mean"] * 1e4, yerr=1.96 * quantiles["se"] * 1e4,
           color="#4c72b0", capsize=4)
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.set_xlabel("forecast quantile (1 = lowest)"), ax.set_ylabel("mean next open-to-open return (bps)")
    ax.set_title("Does the ranking pay? Return by forecast quantile (95 % CI)", fontsize=10)
    quantile_chart = svg(fig)

    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    n = result.predictions.n_members
    curves = {result.config.model + (f", mean of {n} seeds" if n > 1 else ""): result.strategy.returns}
    curves.update({name: bt.returns for name, (_, bt) in result.baselines.items()})
    curves[_bench_label(result)] = result.benchmark.returns
    for i, r in enumerate(getattr(result, "members", None) or []):  # each seed-ensemble member, traded alone
        ax.plot(r.returns.index, (1 + r.returns).cumprod() - 1, color="#1f77b4", alpha=0.3, linewidth=0.8,
                label=f"each of the {len(result.members)} seeds alone" if i == 0 else None)
    for i, (name, r) in enumerate(curves.items()):
        ax.plot(r.index, (1 + r).cumprod() - 1, label=name, linewidth=2.2 if i == 0 else 1.1)
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title("Cumulative return after costs, same days", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=7, frameon=False)
    date_axis(ax, 7)
    curve_chart = svg(fig)

    table = _forecaster_table(result)
    tickers = per_ticker_skill(pred, real).sort_values("ic", ascending=False)
    report = result.prices.report
    faults = report[report["status"] != "used"]
    counts = report["status"].value_counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("used", "repaired", "excluded"))
    caveat = m["universe"].get("survivorship")
    spread = f.get("quantile_spread")
    explain = (f"Mean daily Rank IC {num(f.get('rank_ic'), 4)} (Newey-West t = {num(f.get('rank_ic_tstat'), 2)}, "
               f"p = {num(f.get('rank_ic_pvalue'), 3)}), Pearson IC {num(f.get('ic'), 4)}, Rank ICIR "
               f"{num(f.get('rank_ic_ir'), 3)} per day; top-minus-bottom quantile "
               f"{num(None if spread is None else spread * 1e4, 1)} bps a day (t = {num(f.get('quantile_spread_t'), 2)}); "
               f"hit rate {pct(f.get('hit_rate'))} against an up-day share of {pct(f.get('up_share'))} "
               "(the hit rate of always predicting up).")
    body = f"""<p class="verdict">{html.escape(verdict_alone(m))}</p>
{claims_note(m, _bench_label(result))}
{f'<p class="caveat"><b>Survivorship bias:</b> {html.escape(caveat)}</p>' if caveat else ''}
<p><a href="tearsheet.html">QuantStats tearsheet: portfolio vs {html.escape(_bench_label(result))}</a></p>
<h2>Cross-sectional skill</h2>
<p>{html.escape(explain)}</p>
{ic_chart}
{month_chart}
<div class="row">{quantile_chart}{curve_chart}</div>
{fills_section(result)}
<h2>Forecasters through the same walk-forward, portfolio rule and costs</h2>
{html_table(table)}
<p>{html.escape(annualised_note(m["data"]))}</p>
{costs_section(m, result.strategy, result.config.cash)}
{confidence_section(m.get("seeds"))}
<h2>Skill per fold</h2>
{html_table(result.per_fold)}
<h2>Skill per ticker ({len(tickers)} tickers, best IC first)</h2>
<p>Hit rate: share of days whose return had the forecast's sign; up share: share of days the ticker rose
(the hit rate of always predicting up, the base rate to beat).</p>
<div class="scroll">{html_table(tickers)}</div>
<h2>Data report: {len(report)} tickers, {summary}</h2>
<p>{html.escape(counts_note(result))} Every decision is in <a href="data_report.csv">data_report.csv</a>.
Tickers not used as they were:</p>
<div class="scroll">{html_table(faults.set_index('ticker')) if len(faults) else '<p>none</p>'}</div>
"""
    return page(title, body)


def _forecaster_table(result: Any) -> pd.DataFrame:
    m = result.metrics
    keys = ["total_return", "cagr", "sharpe", "max_drawdown", "rank_ic", "rank_ic_tstat", "ic", "hit_rate",
            "up_share", "dm_pvalue"]
    rows = {f"{result.config.model} ({result.strategy.strategy})": {**m["strategy"], **m["forecast"]}}
    for name, values in m["baselines"].items():
        rows[f"{name} baseline"] = {**values, **values["forecast"]}
    rows[_bench_label(result)] = dict(m["benchmark"])
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=keys)
    table.index.name = "forecaster"
    return table
