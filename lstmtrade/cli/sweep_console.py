"""A sweep on screen: the start-up lines, a progress bar over trials, and the summary table."""
from __future__ import annotations

from typing import Any

import click

from ..evaluate.selection import SKILL_DSR
from ..formatting import label, num, pct
from .console import Terminal, tracked_lines


def _params(params: dict) -> str:
    return " ".join(f"{k}={label(v)}" for k, v in params.items())


class SweepConsole(Terminal):
    """A progress callback for :func:`lstmtrade.sweep.run.run_sweep` that also prints the final summary."""

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
                self.say(f"  {event['id']} {event['origin']:8} Sharpe {num(event['sharpe']):>6} "
                         f"({event['seconds']:.1f} s)  {_params(params.params)} seed={params.seed}")
            self._bar(self._progress(event))
        elif kind == "warning":
            self.warn(event["text"])
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
                       + f"{row['seed']:>6}{num(row['sharpe']):>8}{pct(row['total_return'], sign=True):>9}"
                       f"{pct(row['max_drawdown'], sign=True):>8}{num(row['hit_rate'], 3):>7}{num(row['ic'], 3):>7}"
                       f"{num(row['dsr']):>6}{'yes' if row['in_mcs'] else '':>5}")
        out.append(f"DSR counts {s['n_trials_counted']} trials on these data (this sweep and the ledger's earlier ones); "
                   f"skilful (DSR > {SKILL_DSR}): {len(s['skilful'])}")
        out.append(f"Hansen's SPA p: {num(s['spa_pvalue_vs_zero'], 3)} vs the zero forecast, "
                   f"{num(s['spa_pvalue_vs_benchmark'], 3)} vs buy-and-hold (White's Reality Check: "
                   f"{num(s['rc_pvalue_vs_zero'], 3)}, {num(s['rc_pvalue_vs_benchmark'], 3)})")
        pbo = s["pbo_detail"]
        out.append(f"PBO {num(s['pbo'])}" + ("" if pbo is None else
                   f" ({pbo['splits']} splits of {pbo['blocks']} blocks; the in-sample best lost money out of "
                   f"sample in {pbo['prob_oos_loss']:.0%} of them)")
                   + f"; Model Confidence Set ({1 - s['mcs_size']:.0%}): {len(s['mcs'])} of {s['n_trials']} trials")
        out.append(f"sweep page: {result.page}")
        out.append(f"trials: {result.folder / 'trials.csv'}; summary: {result.folder / 'sweep.json'}")
        out.append(f"every run: {result.folder.parent / 'index.html'} "
                       f"(or lstmtrade runs --out {result.folder.parent})")
        out.append(f"verdict: {s['verdict']}")
        out += tracked_lines(result.tracked)
        click.echo("\n".join(out))
