"""sweep.html: a sweep on paper.

sweep.html is one self-contained page (inline SVG, no network): the verdict, the selection statistics,
every trial's equity curve, the PBO charts, parameter sensitivity and seed spread, and the trial table.
Every chart is titled with the question it answers.
"""
from __future__ import annotations

import html
import itertools
from pathlib import Path
from typing import Any

from ..evaluate.selection import SKILL_DSR
from ..files import write_text
from ..formatting import label, num
from .html import page, pyplot, svg

# --------------------------------------------------------------------------- sweep.html


def _fmt(value: Any, column: str, raw: bool = False) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if raw:  # a swept setting: as given (0.0005, not 0.00)
        return html.escape(f"{value:g}" if isinstance(value, float) else str(value))
    if isinstance(value, bool):
        return "yes" if value else ""
    if column in ("total_return", "max_drawdown"):
        return f"{value:.1%}"
    if column in ("hit_rate", "ic", "rank_ic", "rank_ic_tstat", "dm_pvalue", "mcs_pvalue"):
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return html.escape(str(value))


def _table(frame, best: str, names: list[str]) -> str:
    columns = [c for c in frame.columns if c not in ("report", "folds", "folds_cached", "seconds", "days", "mcs_pvalue")]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for c in columns:
            text = _fmt(row[c], c, raw=c in names)
            if c == "id" and row.get("report"):
                text = f'<a href="{html.escape(row["report"])}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        mark = ' class="best"' if row["id"] == best else ""
        rows.append(f"<tr{mark}>{''.join(cells)}</tr>")
    return (f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table></div>")


def _curves_chart(curves, best: str, mcs: list[str]) -> str:
    plt = pyplot()
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=(10, 4.2))
    growth = (1 + curves).cumprod() - 1
    for name in curves.columns:
        if name in (best, "buy and hold"):
            continue
        colour, width = ("#9ecae1", 0.9) if name in mcs else ("#bbbbbb", 0.7)
        ax.plot(growth.index, growth[name], color=colour, linewidth=width)
    ax.plot(growth.index, growth["buy and hold"], color="black", linewidth=1.6, label="buy and hold")
    ax.plot(growth.index, growth[best], color="#1f5fbf", linewidth=2.2, label=f"best in sample: {best}")
    ax.plot([], [], color="#9ecae1", label="other trials in the Model Confidence Set")
    ax.plot([], [], color="#bbbbbb", label="other trials")
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title("Is the best trial far from the pack? Cumulative return after costs, common days")
    ax.legend(loc="upper left", fontsize=8)
    return svg(fig)


def _pbo_charts(pbo, periods_per_year: int = 252) -> str:
    plt = pyplot()
    import numpy as np

    fig, ax = plt.subplots(figsize=(4.6, 3.8))
    edges = np.histogram_bin_edges(pbo.logits, bins=30)
    counts, edges = np.histogram(pbo.logits, bins=edges)
    centres = (edges[:-1] + edges[1:]) / 2
    ax.bar(centres, counts / counts.sum(), width=np.diff(edges),
           color=["#d62728" if c <= 0 else "#4c72b0" for c in centres])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("logit of its out-of-sample rank (< 0: below the median)", fontsize=9)
    ax.set_ylabel("share of splits", fontsize=9)
    ax.set_title(f"Does the in-sample best stay on top? PBO = {pbo.pbo:.2f}", fontsize=10)
    hist = svg(fig)

    fig, ax = plt.subplots(figsize=(4.6, 3.8))
    scale = np.sqrt(periods_per_year)  # per-bar Sharpes, annualised with the data's bars a year
    x, y = pbo.is_sharpe * scale, pbo.oos_sharpe * scale
    ax.scatter(x, y, s=3, alpha=0.25, color="#4c72b0")
    if np.isfinite(pbo.slope):
        xs = np.linspace(x.min(), x.max(), 2)
        ax.plot(xs, pbo.intercept * scale + pbo.slope * xs, color="#d62728", label=fit_label(pbo.intercept * scale,
                                                                                          pbo.slope))
        ax.legend(loc="upper left", fontsize=8)
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.set_xlabel("in-sample Sharpe of the in-sample best (annualised)", fontsize=9)
    ax.set_ylabel("its out-of-sample Sharpe", fontsize=9)
    ax.set_title(f"Does in-sample Sharpe carry over? P(OOS loss) = {pbo.prob_oos_loss:.2f}", fontsize=10)
    return hist + svg(fig)


def fit_label(intercept: float, slope: float) -> str:
    """The fitted line as a reader writes it: ``OOS = 0.11 − 0.75 × IS``, never ``+ -0.75``."""
    sign = "−" if slope < 0 else "+"
    return f"OOS = {intercept:.2f} {sign} {abs(slope):.2f} × IS".replace("= -", "= −")


def sensitivity(table, grid: dict) -> str:
    """Mean Sharpe (over seeds and the other swept settings) for each pair of swept settings."""
    plt = pyplot()
    import numpy as np

    names = [n for n in grid if len(grid[n]) > 1]
    charts = []
    if len(names) == 1:
        name = names[0]
        order = [label(v) for v in grid[name]]
        means = table.groupby(name)["sharpe"].agg(["mean", "min", "max"]).reindex(order)
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ticks = [str(v) for v in order]
        ax.bar(ticks, means["mean"], color="#4c72b0")
        ax.errorbar(ticks, means["mean"], yerr=[means["mean"] - means["min"], means["max"] - means["mean"]],
                    fmt="none", color="black", capsize=3)
        ax.set_xlabel(name), ax.set_ylabel("Sharpe (mean; bars: min to max)")
        ax.set_title(f"How much does {name} matter?", fontsize=10)
        charts.append(svg(fig))
    pairs = []
    for a, b in itertools.combinations(names, 2):
        rows, cols = [label(v) for v in grid[a]], [label(v) for v in grid[b]]
        pivot = table.pivot_table(index=a, columns=b, values="sharpe", aggfunc="mean").reindex(index=rows,
                                                                                              columns=cols)
        pairs.append((a, b, rows, cols, pivot.to_numpy(dtype=float)))
    # one colour scale for every heatmap, centred on zero: the same colour is the same Sharpe in each of them
    finite = [np.abs(v[np.isfinite(v)]).max() for *_, v in pairs if np.isfinite(v).any()]
    bound = float(max(finite)) if finite and max(finite) > 0 else 1.0
    for a, b, rows, cols, values in pairs:
        fig, ax = plt.subplots(figsize=(2.2 + 1.1 * len(cols), 1.6 + 0.75 * len(rows)))
        image = ax.imshow(values, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
        ax.grid(False)  # the style's grid would cut through the cells
        ax.set_xticks(range(len(cols)), [str(c) for c in cols], fontsize=10)
        ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=10)
        ax.set_xlabel(b, fontsize=10), ax.set_ylabel(a, fontsize=10)
        for (i, j), v in np.ndenumerate(values):
            dark = v == v and abs(v) > 0.6 * bound  # white on the deep colours at either end
            ax.text(j, i, "" if v != v else f"{v:.2f}", ha="center", va="center", fontsize=11,
                    color="white" if dark else "black")
        bar = fig.colorbar(image, ax=ax, shrink=0.8)
        bar.set_label("mean Sharpe (one scale for all)", fontsize=9)
        bar.ax.tick_params(labelsize=9)
        ax.set_title(f"Sharpe by {a} and {b}", fontsize=11)
        charts.append(svg(fig))
    return "".join(charts)


def _seed_spread(table, grid: dict) -> str:
    plt = pyplot()

    names = list(grid)
    key = (table[names].astype(str).radd([f"{n}=" for n in names]).agg(" ".join, axis=1) if names
           else table["id"])
    groups = table.assign(config=key).groupby("config", sort=False)["sharpe"]
    stats = groups.agg(["mean", "min", "max"]).sort_values("mean")
    fig, ax = plt.subplots(figsize=(10, 1.1 + 0.34 * len(stats)))
    for i, (config, row) in enumerate(stats.iterrows()):
        ax.plot([row["min"], row["max"]], [i, i], color="#888", linewidth=1)
        ax.scatter(groups.get_group(config), [i] * len(groups.get_group(config)), s=14, color="#4c72b0", zorder=3)
    ax.set_yticks(range(len(stats)), [str(c)[:60] for c in stats.index], fontsize=10)
    ax.axvline(0, color="#888", linewidth=0.6)
    ax.set_xlabel("Sharpe (annualised), one dot per seed")
    ax.set_title("How much does the seed alone move the result?", fontsize=11)
    return svg(fig)


def write_sweep_page(path: Path, title: str, summary: dict, table, curves, pbo,
                     periods_per_year: int = 252) -> None:
    """sweep.html: the verdict, selection statistics, charts and every trial; inline SVG, works offline."""
    s = summary
    best = s["best"]["id"]
    rows = [
        ("Trials in this sweep / counted for DSR", f"{s['n_trials']} / {s['n_trials_counted']}",
         "DSR deflates each Sharpe by every trial tried on these data, the ledger's earlier ones included."),
        ("Trained / from the fold cache / re-used predictions", f"{s['trained']} / {s['cached']} / {s['reused']}",
         "Trials that differ only in strategy or costs re-use one walk-forward's predictions."),
        ("Common out-of-sample days", f"{s['days']} ({s['first_day']} to {s['last_day']})",
         "SPA, MCS and PBO compare the trials on the days all of them traded."),
        ("Hansen's SPA p vs the zero forecast / buy-and-hold",
         f"{num(s['spa_pvalue_vs_zero'], 3)} / {num(s['spa_pvalue_vs_benchmark'], 3)}",
         "Could the best trial's edge be luck, given how many were tried? Small p: no."),
        ("White's Reality Check p vs the zero forecast / buy-and-hold",
         f"{num(s['rc_pvalue_vs_zero'], 3)} / {num(s['rc_pvalue_vs_benchmark'], 3)}",
         "The same question, more conservative (every trial counted as a contender)."),
        ("Probability of Backtest Overfitting", num(s["pbo"]),
         "How often the in-sample best lands in the bottom half out of sample (0.5: pure noise)."),
        (f"Model Confidence Set ({1 - s['mcs_size']:.0%})", f"{len(s['mcs'])} of {s['n_trials']}",
         "Trials that cannot be told apart from the best one."),
        (f"Skilful trials (DSR > {SKILL_DSR})", str(len(s["skilful"])) + (f": {', '.join(s['skilful'])}"
                                                                       if s["skilful"] else ""), ""),
    ]
    stats_html = "".join(f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td><td class='note'>{html.escape(c)}</td></tr>"
                         for a, b, c in rows)
    grid = s["grid"]
    sections = [f"<h2>Every trial</h2>{_curves_chart(curves, best, s['mcs'])}"]
    if pbo is not None:
        sections.append(f"<h2>Backtest overfitting (CSCV, {pbo.blocks} blocks, {pbo.splits} splits)</h2>"
                        f"<div class='row'>{_pbo_charts(pbo, periods_per_year)}</div>")
    else:
        sections.append("<h2>Backtest overfitting</h2><p>Too few common days for PBO.</p>")
    charts = sensitivity(table, grid)
    if charts:
        sections.append(f"<h2>Parameter sensitivity</h2><div class='row'>{charts}</div>")
    if len(s["seeds"]) > 1:
        sections.append(f"<h2>Spread across seeds</h2>{_seed_spread(table, grid)}")
    link = f'trials/{best}/tearsheet.html'
    report = table.loc[table["id"] == best, "report"].iloc[0]
    best_link = f' &middot; <a href="{link}">tearsheet of the best trial</a>' if report else ""
    body = f"""<p class="verdict">{html.escape(s['verdict'])}</p>
<p><a href="trials.csv">trials.csv</a> &middot; <a href="sweep.json">sweep.json</a>{best_link}</p>
<h2>Does the best trial survive selection?</h2>
<table>{stats_html}</table>
{''.join(sections)}
<h2>Trials</h2>
<p>Sharpe, return and drawdown over each trial's own out-of-sample days, after costs; hit rate and IC of its
forecasts; DM p: Diebold-Mariano test against the zero forecast; DSR: deflated Sharpe ratio over
{s['n_trials_counted']} trials; in_mcs: in the Model Confidence Set; origin: trained, read from the fold
cache, or re-used the predictions of a trial with the same training settings. The best trial (highest
Sharpe) is highlighted; an id links to its full report where one was written.</p>
{_table(table, best, list(grid))}
"""
    write_text(path, page(title, body, width=1200))
