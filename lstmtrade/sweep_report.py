"""A sweep on screen and on paper: the progress bar and summary in the terminal, and sweep.html.

sweep.html is one self-contained page (inline SVG, no network): the verdict, the selection statistics,
every trial's equity curve, the PBO charts, parameter sensitivity and seed spread, and the trial table.
Every chart is titled with the question it answers.
"""
from __future__ import annotations

import html
import itertools
import logging
from pathlib import Path
from typing import Any

import click

from .console import Terminal
from .sweep_summary import SKILL_DSR, label


# --------------------------------------------------------------------------- terminal


def _num(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None or x != x else f"{x:.{digits}f}"


def _pct(x: Any) -> str:
    return "n/a" if x is None or x != x else f"{x:+.1%}"


def _params(params: dict) -> str:
    return " ".join(f"{k}={label(v)}" for k, v in params.items())


class SweepConsole(Terminal):
    """A progress callback for :func:`lstmtrade.sweep.run_sweep` that also prints the final summary."""

    def __init__(self, quiet: bool = False, verbose: bool = False, stream=None) -> None:
        super().__init__(quiet, verbose, stream)
        self.counts = {"trained": 0, "cached": 0, "reused": 0}
        self.plan: Any = None

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "sweep":
            self._start(event)
        elif kind == "trial":
            self.counts[event["origin"]] += 1
            params = next(t for t in self.plan.trials if t.id == event["id"])
            if self.verbose or not self.tty:
                self.say(f"  {event['id']} {event['origin']:8} Sharpe {_num(event['sharpe']):>6} "
                         f"({event['seconds']:.1f} s)  {_params(params.params)} seed={params.seed}")
            self._bar(self._progress(event))
        elif kind == "stage":
            self._bar(f"{event['name']}...")

    def _start(self, event: dict) -> None:
        plan, prices = event["plan"], event["prices"]
        self.plan = plan
        index = prices.frame.index if hasattr(prices, "frame") else prices.calendar
        base = plan.base
        what = f"{len(prices)} bars" if hasattr(prices, "frame") else f"universe of {len(prices.tickers)} tickers"
        self.say(f"data: {prices.source}, {what} {index[0].date()}..{index[-1].date()}")
        self.say(f"base: model {base.model}, strategy {base.strategy}, commission {base.commission:g} bps"
                 + ("" if base.model != "lstm" else f", epochs {base.epochs}, lookback {base.lookback}, "
                                                    f"hidden {base.hidden}"))
        grid = "; ".join(f"{k} = {', '.join(str(label(x)) for x in v)}" for k, v in plan.grid.items())
        configs = len(plan.trials) // len(plan.seeds)
        sampled = f" ({plan.random} sampled at random)" if plan.random else ""
        self.say(f"grid: {grid}{sampled}; seeds {', '.join(map(str, plan.seeds))}")
        finished = len(plan.trials) - event["todo"]
        self.say(f"{len(plan.trials)} trials = {configs} configurations x {len(plan.seeds)} seed(s); "
                 f"{event['trainings']} walk-forward(s) to train, the other trials re-use their predictions"
                 + (f"; {finished} already finished (resumed)" if finished else ""))
        self.say(f"backend {event['backend']}, {event['workers']} trial(s) at once; folder {event['folder']}")

    def _progress(self, event: dict) -> str:
        width = 24
        filled = int(width * event["done"] / max(event["total"], 1))
        ran = sum(self.counts.values())
        left = event["total"] - event["done"]
        eta = f" eta {event['elapsed'] / ran * left:.0f}s" if ran and left else ""
        c = self.counts
        return (f"[{'#' * filled}{'.' * (width - filled)}] {event['done']}/{event['total']} trials "
                f"({c['trained']} trained, {c['cached']} from the fold cache, {c['reused']} re-used predictions)"
                f"{eta}")

    def summary(self, result: Any) -> None:
        self._clear()
        if self.quiet:
            click.echo(str(result.page))
            return
        s, table = result.summary, result.trials
        names = list(result.plan.grid)
        top = table.sort_values("sharpe", ascending=False).head(10)
        out = [f"\n{s['n_trials']} trials on {s['days']} common out-of-sample days {s['first_day']}..{s['last_day']} "
               f"({s['trained']} trained, {s['cached']} from the fold cache, {s['reused']} re-used predictions); "
               f"top {len(top)} by Sharpe:"]
        head = f"{'id':6}" + "".join(f"{n[:12]:>13}" for n in names) + f"{'seed':>6}{'Sharpe':>8}{'return':>9}" \
               f"{'maxDD':>8}{'hit':>7}{'IC':>7}{'DSR':>6}{'MCS':>5}"
        out.append(head)
        for _, row in top.iterrows():
            out.append(f"{row['id']:6}" + "".join(f"{str(row[n])[:12]:>13}" for n in names)
                       + f"{row['seed']:>6}{_num(row['sharpe']):>8}{_pct(row['total_return']):>9}"
                       f"{_pct(row['max_drawdown']):>8}{_num(row['hit_rate'], 3):>7}{_num(row['ic'], 3):>7}"
                       f"{_num(row['dsr']):>6}{'yes' if row['in_mcs'] else '':>5}")
        out.append(f"DSR counts {s['n_trials_counted']} trials on these data (this sweep and the ledger's earlier ones); "
                   f"skilful (DSR > {SKILL_DSR}): {len(s['skilful'])}")
        out.append(f"Hansen's SPA p: {_num(s['spa_pvalue_vs_zero'], 3)} vs the zero forecast, "
                   f"{_num(s['spa_pvalue_vs_benchmark'], 3)} vs buy-and-hold (White's Reality Check: "
                   f"{_num(s['rc_pvalue_vs_zero'], 3)}, {_num(s['rc_pvalue_vs_benchmark'], 3)})")
        pbo = s["pbo_detail"]
        out.append(f"PBO {_num(s['pbo'])}" + ("" if pbo is None else
                   f" ({pbo['splits']} splits of {pbo['blocks']} blocks; the in-sample best lost money out of "
                   f"sample in {pbo['prob_oos_loss']:.0%} of them)")
                   + f"; Model Confidence Set ({1 - s['mcs_size']:.0%}): {len(s['mcs'])} of {s['n_trials']} trials")
        out.append(f"sweep page: {result.page}")
        out.append(f"trials: {result.folder / 'trials.csv'}; summary: {result.folder / 'sweep.json'}")
        out.append(f"verdict: {s['verdict']}")
        click.echo("\n".join(out))


# --------------------------------------------------------------------------- sweep.html


def _svg(fig) -> str:
    from .report import _svg as svg

    return svg(fig)


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
    import matplotlib.pyplot as plt
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
    return _svg(fig)


def _pbo_charts(pbo) -> str:
    import matplotlib.pyplot as plt
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
    hist = _svg(fig)

    fig, ax = plt.subplots(figsize=(4.6, 3.8))
    scale = np.sqrt(252)
    x, y = pbo.is_sharpe * scale, pbo.oos_sharpe * scale
    ax.scatter(x, y, s=3, alpha=0.25, color="#4c72b0")
    if np.isfinite(pbo.slope):
        xs = np.linspace(x.min(), x.max(), 2)
        ax.plot(xs, pbo.intercept * scale + pbo.slope * xs, color="#d62728",
                label=f"OOS = {pbo.intercept * scale:.2f} + {pbo.slope:.2f} x IS")
        ax.legend(loc="upper left", fontsize=8)
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.set_xlabel("in-sample Sharpe of the in-sample best (annualised)", fontsize=9)
    ax.set_ylabel("its out-of-sample Sharpe", fontsize=9)
    ax.set_title(f"Does in-sample Sharpe carry over? P(OOS loss) = {pbo.prob_oos_loss:.2f}", fontsize=10)
    return hist + _svg(fig)


def _sensitivity(table, grid: dict) -> str:
    """Mean Sharpe (over seeds and the other swept settings) for each pair of swept settings."""
    import matplotlib.pyplot as plt
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
        charts.append(_svg(fig))
    for a, b in itertools.combinations(names, 2):
        rows, cols = [label(v) for v in grid[a]], [label(v) for v in grid[b]]
        pivot = table.pivot_table(index=a, columns=b, values="sharpe", aggfunc="mean").reindex(index=rows,
                                                                                              columns=cols)
        values = pivot.to_numpy(dtype=float)
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(cols), 1.2 + 0.6 * len(rows)))
        bound = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
        image = ax.imshow(values, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
        ax.set_xticks(range(len(cols)), [str(c) for c in cols], fontsize=8)
        ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=8)
        ax.set_xlabel(b), ax.set_ylabel(a)
        for (i, j), v in np.ndenumerate(values):
            dark = v == v and abs(v) > 0.6 * bound  # white on the deep colours at either end
            ax.text(j, i, "" if v != v else f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
        fig.colorbar(image, ax=ax, shrink=0.8, label="mean Sharpe")
        ax.set_title(f"Sharpe by {a} and {b}", fontsize=10)
        charts.append(_svg(fig))
    return "".join(charts)


def _seed_spread(table, grid: dict) -> str:
    import matplotlib.pyplot as plt

    names = list(grid)
    key = table[names].astype(str).agg(" ".join, axis=1) if names else table["id"]
    groups = table.assign(config=key).groupby("config", sort=False)["sharpe"]
    stats = groups.agg(["mean", "min", "max"]).sort_values("mean")
    fig, ax = plt.subplots(figsize=(10, 0.9 + 0.28 * len(stats)))
    for i, (config, row) in enumerate(stats.iterrows()):
        ax.plot([row["min"], row["max"]], [i, i], color="#888", linewidth=1)
        ax.scatter(groups.get_group(config), [i] * len(groups.get_group(config)), s=14, color="#4c72b0", zorder=3)
    ax.set_yticks(range(len(stats)), [str(c)[:60] for c in stats.index], fontsize=7)
    ax.axvline(0, color="#888", linewidth=0.6)
    ax.set_xlabel("Sharpe (annualised), one dot per seed")
    ax.set_title("How much does the seed alone move the result? (" + " ".join(names) + ")", fontsize=10)
    return _svg(fig)


def write_sweep_page(path: Path, title: str, summary: dict, table, curves, pbo) -> None:
    """sweep.html: the verdict, selection statistics, charts and every trial; inline SVG, works offline."""
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib

    matplotlib.use("Agg", force=True)
    from .report import write_text

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
         f"{_num(s['spa_pvalue_vs_zero'], 3)} / {_num(s['spa_pvalue_vs_benchmark'], 3)}",
         "Could the best trial's edge be luck, given how many were tried? Small p: no."),
        ("White's Reality Check p vs the zero forecast / buy-and-hold",
         f"{_num(s['rc_pvalue_vs_zero'], 3)} / {_num(s['rc_pvalue_vs_benchmark'], 3)}",
         "The same question, more conservative (every trial counted as a contender)."),
        ("Probability of Backtest Overfitting", _num(s["pbo"]),
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
                        f"<div class='row'>{_pbo_charts(pbo)}</div>")
    else:
        sections.append("<h2>Backtest overfitting</h2><p>Too few common days for PBO.</p>")
    sensitivity = _sensitivity(table, grid)
    if sensitivity:
        sections.append(f"<h2>Parameter sensitivity</h2><div class='row'>{sensitivity}</div>")
    if len(s["seeds"]) > 1:
        sections.append(f"<h2>Spread across seeds</h2>{_seed_spread(table, grid)}")
    link = f'trials/{best}/tearsheet.html'
    report = table.loc[table["id"] == best, "report"].iloc[0]
    best_link = f' &middot; <a href="{link}">tearsheet of the best trial</a>' if report else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 14px/1.45 Arial, Helvetica, sans-serif; margin: 24px; color: #222; max-width: 1200px; }}
.verdict {{ font-size: 17px; padding: 12px 16px; background: #f4f6f8; border-left: 4px solid #4c72b0; }}
table {{ border-collapse: collapse; margin: 12px 0 20px; font-size: 13px; }}
th, td {{ padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: right; }}
thead th {{ border-bottom: 2px solid #999; }} tbody th {{ text-align: left; }}
td.note {{ text-align: left; color: #555; }} .wide {{ overflow-x: auto; }} tr.best td {{ background: #e8f0fc; font-weight: bold; }}
.row {{ display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }} svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="verdict">{html.escape(s['verdict'])}</p>
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
</body></html>
"""
    write_text(path, page)
