"""Terminal output for the CLI: settings at start, a progress bar over folds and epochs, a summary."""
from __future__ import annotations

import sys
import time
from typing import Any

import click

from ..formatting import num, pct, pvalue, stamp, stamper


def _engine(config: Any) -> str:
    """``engine native, 2 folds at a time`` as the run will train (auto and jobs 0 resolved; on Ray: where)."""
    if config.model != "lstm":
        return "no LSTM"
    from ..forecast.engines import resolve_engine, resolve_jobs

    engine = resolve_engine(config)
    if config.backend == "ray":
        where = config.ray_address or "a Ray started here"
        cap = f", at most {config.jobs} at a time" if config.jobs else ""
        return f"engine {engine}, each fold a Ray task on {where}{cap}"
    jobs = resolve_jobs(config, engine)
    how = "threads" if engine == "native" else "processes"
    return f"engine {engine}" + (f", {jobs} folds at a time ({how})" if jobs > 1 else "")


def _seeds(config: Any) -> str:
    """``seed 7``, or for an ensemble ``seeds 7..11 (5 networks per fold, forecast = their mean)``."""
    if config.seeds == 1 or config.model != "lstm":
        return f"seed {config.seed}"
    return (f"seeds {config.seed}..{config.seed + config.seeds - 1} ({config.seeds} networks per fold, "
            "forecast = their mean)")


def hit_vs_up(stats: dict) -> str:
    """``hit rate 48.5% vs 52.3% up days``: a hit rate beside its base rate, the share of up days among
    the days it counts (the hit rate of always being long)."""
    return f"hit rate {pct(stats.get('hit_rate'))} vs {pct(stats.get('up_share'))} up days"


def tracked_lines(tracked: Any) -> list[str]:
    """Where MLflow logged a run (nothing when it was not logged)."""
    if tracked is None:
        return []
    trials = f", its {tracked.nested} trials nested" if tracked.nested else ""
    return [f"MLflow: run {tracked.run_id} in experiment {tracked.experiment!r}{trials}, store {tracked.uri}",
            f"        see it: {tracked.where}"]


def forecaster_table(m: dict, label: str) -> list[str]:
    """The model and each baseline on the same days, strategy and costs: skill (Rank IC and its Newey-West t for
    a universe; hit rate, IC and MSE ratio for one ticker), Sharpe and return after costs."""
    universe = "universe" in m
    rows = [(label, m["forecast"], m["strategy"])]
    rows += [(f"{name} baseline", v["forecast"], v) for name, v in m["baselines"].items()]
    width = max(len(r[0]) for r in rows) + 2
    if universe:
        head = f"{'':{width}}{'Rank IC':>9}{'t':>7}{'Sharpe':>8}{'return':>9}"
        cells = lambda f, s: (f"{num(f.get('rank_ic'), 4):>9}{num(f.get('rank_ic_tstat'), 1):>7}"  # noqa: E731
                              f"{num(s['sharpe']):>8}{pct(s['total_return'], sign=True):>9}")
    else:
        head = f"{'':{width}}{'hit rate':>9}{'IC':>7}{'MSE/0':>7}{'Sharpe':>8}{'return':>9}"
        cells = lambda f, s: (f"{pct(f.get('hit_rate')):>9}{num(f.get('ic'), 3):>7}"  # noqa: E731
                              f"{num(f.get('mse_ratio'), 3):>7}{num(s['sharpe']):>8}"
                              f"{pct(s['total_return'], sign=True):>9}")
    out = ["forecasters, same days, strategy and costs (MSE/0: MSE over the zero forecast's):" if not universe
           else "forecasters, same days, portfolio rule and costs (t: Newey-West):", "  " + head]
    out += [f"  {name:{width}}{cells(f, s)}" for name, f, s in rows]
    return out


class Terminal:
    """Lines on stderr, and one progress line redrawn in place when stderr is a terminal."""

    def __init__(self, quiet: bool = False, verbose: bool = False, stream=None) -> None:
        self.quiet, self.verbose = quiet, verbose
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._line = ""

    def say(self, text: str = "") -> None:
        if not self.quiet:
            self._clear()
            click.echo(text, file=self.stream)

    def warn(self, text: str) -> None:
        """A warning line: printed even with --quiet (it says something was lost, damaged or turned off)."""
        self._clear()
        click.echo(f"warning: {text}", file=self.stream)

    def _clear(self) -> None:
        if self._line and self.tty:
            click.echo("\r" + " " * len(self._line) + "\r", file=self.stream, nl=False)
            self._line = ""

    def _bar(self, text: str) -> None:
        if self.quiet or not self.tty:
            return
        self._clear()
        self._line = text
        click.echo(text, file=self.stream, nl=False)


class Console(Terminal):
    """A progress callback (``console(event)``) that also prints the final summary."""

    def __init__(self, quiet: bool = False, verbose: bool = False, stream=None) -> None:
        super().__init__(quiet, verbose, stream)
        self.folds = 0
        self.seeds = 1
        self.done = 0
        self.work: list[int] = []
        self.work_done = 0
        self.started = time.perf_counter()
        self._pending: dict[int, dict] = {}  # finished folds waiting for an earlier one (printed in order)
        self._next = 1  # the fold whose line comes next (folds count from 1)

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "data":
            self._settings(event)
        elif kind == "start":
            self.folds, self.done = event["folds"], 0
            self.seeds = event.get("seeds", 1)
            self.work = list(event.get("work") or [1] * self.folds)  # the bar fills by training rows, not folds
            self.work_done = 0
            self._pending, self._next = {}, 1
            self.started = time.perf_counter()
            self.say(f"walk-forward: {event['folds']} folds, {event['n_test']} out-of-sample bars from "
                     f"{stamp(event['first_test'])}, model {event['model']}"
                     + (f", {self.seeds} seeds per fold" if self.seeds > 1 else ""))
        elif kind == "epoch":
            seed = f" seed {event['member'] + 1}/{self.seeds}" if "member" in event else ""
            self._bar(self._progress(f"fold {event['fold']}/{self.folds}{seed} epoch {event['epoch']}/"
                                     f"{event['epochs']} loss {event['loss']:.4f}"))
        elif kind == "fold":
            self.done += 1
            if 1 <= event["fold"] <= len(self.work):
                self.work_done += self.work[event["fold"] - 1]
            if self.verbose or not self.tty:
                # folds finish in any order (several train at once, largest first); their lines come out
                # in fold order: a finished fold waits until every earlier one has been printed
                self._pending[event["fold"]] = event
                self._release()
            if self.tty:
                self._bar(self._progress(f"fold {self.done}/{self.folds} done"))
        elif kind == "warning":
            self.warn(event["text"])
        elif kind == "cache":
            self.say(cache_line(event))
        elif kind == "stage":
            self._release(everything=True)
            self._clear()
            self._bar(f"{event['name']}...")

    def _release(self, everything: bool = False) -> None:
        """Print the pending fold lines that are next in fold order (``everything``: all, in order)."""
        while self._pending and (everything or self._next in self._pending):
            fold = self._next if self._next in self._pending else min(self._pending)
            self.say(self._fold_line(self._pending.pop(fold)))
            self._next = fold + 1

    @staticmethod
    def _fold_line(event: dict) -> str:
        extra = f", epochs {event['epochs_run']}" if "epochs_run" in event else ""
        if "predicted" in event and "hit_rate" not in event:  # the walk-forward sends the fold's forecasts
            from ..evaluate.stats import hit_rates

            event = {**event, **hit_rates(event["predicted"], event["realised"])}
        if "hit_rate" in event:  # the fold's hit rate beside its base rate
            extra += f", {hit_vs_up(event)}"
        return (f"  fold {event['fold']}/{event['folds']}: train {event['fit_start']}..{event['fit_end']}"
                f", test {event['test_start']}..{event['test_end']}{extra} ({event['seconds']:.1f} s)")

    def _progress(self, tail: str) -> str:
        width = 24
        total = sum(self.work) or 1
        filled = int(width * self.work_done / total)
        elapsed = time.perf_counter() - self.started
        eta = elapsed / self.work_done * (total - self.work_done) if self.work_done else float("nan")
        eta_text = f" eta {eta:.0f}s" if eta == eta else ""
        return f"[{'#' * filled}{'.' * (width - filled)}] {tail}{eta_text}"

    def _settings(self, event: dict) -> None:
        prices, config = event["prices"], event["config"]
        bars = event.get("bars") or prices.bars.with_periods(config.periods_per_year)
        if hasattr(prices, "frame"):
            index = prices.frame.index
            if config.data is None:
                self.say(f"data: bundled sample {prices.name} (no --data given; try --data sample:AAPL or a CSV)")
            else:
                self.say(f"data: {prices.source}")
            show = stamper(index)
            self.say(f"      {len(prices)} bars {show(index[0])}..{show(index[-1])}")
            self.say(f"      {bars.describe()}")
        else:
            index = prices.calendar
            self.say(f"data: universe {prices.source}: {prices.summary}")
            show = stamper(index)
            self.say(f"      {len(index)} dates {show(index[0])}..{show(index[-1])}; every decision in "
                     "data_report.csv")
            self.say(f"      {bars.describe()}")
            if prices.survivorship:
                self.say(f"caveat: {prices.survivorship}")
        for warning in prices.warnings:
            if hasattr(prices, "frame") or prices.summary not in warning:  # the summary is printed above
                self.say(f"warning: {warning}")
        if "predictions_from" in event:
            self.say(f"predictions: reused from {event['predictions_from']} (no training)")
        else:
            window = (f"rolling {config.train_window:,}-bar ({bars.duration(config.train_window)})"
                      if config.train_window else "expanding")
            stop = (f"early stopping (patience {config.patience}, val {config.val_fraction:.0%})"
                    if config.early_stopping_active else "no early stopping")
            pooled = f"pooled over {len(prices.tickers)} tickers, target {config.target}, " if not hasattr(prices, "frame") else ""
            self.say(f"model: {config.model}, {pooled}features {','.join(config.features)}, lookback {config.lookback}, "
                     f"hidden {config.hidden}x{config.layers}, dropout {config.dropout}, {config.loss} loss")
            self.say(f"train: up to {config.epochs} epochs, {stop}, batch {config.batch_size}, lr {config.lr}, "
                     f"{_seeds(config)}, device {config.device}"
                     f"{' (' + event['device_why'] + ')' if event.get('device_why') else ''}, {_engine(config)}")
            self.say(f"walk-forward: {window} window, min-train {config.min_train:,} bars "
                     f"{bars.duration(config.min_train)}; retrain every {config.retrain_every:,} bars "
                     f"{bars.duration(config.retrain_every)}")
        params = ", ".join(f"{k}={v}" for k, v in event["params"].items())
        self.say(f"strategy: {event['strategy']}{f' ({params})' if params else ''}; commission "
                 f"{config.commission:g} bps, slippage {config.slippage:g} bps, cash {config.cash:,.0f}")

    def summary(self, result: Any) -> None:
        self._release(everything=True)
        self._clear()
        path = result.tearsheet
        if self.quiet:
            click.echo(str(path))
            return
        m = result.metrics
        s, b, f = m["strategy"], m["benchmark"], m["forecast"]
        bt = m["backtest"]
        rows = [("Total return", pct(s["total_return"], sign=True), pct(b["total_return"], sign=True)),
                ("CAGR", pct(s["cagr"], sign=True), pct(b["cagr"], sign=True)),
                ("Sharpe", num(s["sharpe"]), num(b["sharpe"])),
                ("Max drawdown", pct(s["max_drawdown"], sign=True), pct(b["max_drawdown"], sign=True))]
        year = m.get("data", {}).get("periods_per_year")
        annual = f"; Sharpe and CAGR annualised with {year:,} bars a year" if year else ""
        bench = "Buy & hold"
        if "universe" in m:
            bench = "EW B&H" if not result.config.benchmark else "Benchmark"
        width = max(12, len(bt["strategy"]) + 2)  # the strategy's whole name heads its column
        out = [f"\nout-of-sample {bt['start']}..{bt['end']} ({bt['days']} bars, {bt['folds']} folds), "
               f"after {result.config.commission:g} bps commission{annual}",
               f"{'':16}{bt['strategy']:>{width}}{bench:>12}"]
        out += [f"{name:16}{x:>{width}}{y:>12}" for name, x, y in rows]
        if "universe" in m:
            u = m["universe"]
            out.append(f"forecast: mean Rank IC {num(f.get('rank_ic'), 4)} (t {num(f.get('rank_ic_tstat'), 2)}, "
                       f"p {num(f.get('rank_ic_pvalue'), 3)}), IC {num(f.get('ic'), 4)}, Rank ICIR "
                       f"{num(f.get('rank_ic_ir'), 3)}, on {f.get('n_days')} days x {u['traded']} tickers")
            out.append(f"          hit rate {num(f.get('hit_rate'), 1, scale=100)}% (up-day share "
                       f"{num(f.get('up_share'), 1, scale=100)}%), top-bottom quantile "
                       f"{num(f.get('quantile_spread'), 1, scale=1e4)} bps/day (t {num(f.get('quantile_spread_t'), 2)}), "
                       f"DM p {num(f.get('dm_pvalue'), 3)} vs the zero forecast")
            return self._tail(out, result, m, s, bt, path)
        ratio = f["mse"] / f["mse_zero"] if f["mse_zero"] else float("nan")
        out.append(f"forecast: {hit_vs_up(f)} (the hit rate of always long) on {f['n']} bars")
        out.append(f"          IC {num(f['ic'], 3)}, MSE / zero-forecast MSE {num(ratio, 3)}")
        if "dm_pvalue" in f:
            out.append(f"          Spearman IC {num(f.get('ic_spearman'), 3)}, out-of-sample R2 {num(f.get('oos_r2'), 4)}, "
                       f"Diebold-Mariano p {num(f.get('dm_pvalue'), 3)} (vs the zero forecast)")
        self._tail(out, result, m, s, bt, path)

    @staticmethod
    def _cost_lines(costs: dict, capacity: list | None) -> list[str]:
        """What the costs took (each kind that was charged, a year), what a volume cap cut, and capacity."""
        lines = []
        paid, share = costs.get("paid") or {}, costs.get("paid_pct_a_year") or {}
        kinds = [k for k in ("commission", "spread", "impact", "borrow", "slippage") if paid.get(k)]
        if kinds and kinds != ["commission"]:
            lines.append("costs: " + ", ".join(f"{k} {paid[k]:,.0f} ({pct(share.get(k), 2)} a year)" for k in kinds)
                         + f"; turnover {num(costs.get('turnover'), 1)}x a year")
        unfilled = costs.get("unfilled") or {}
        if unfilled.get("orders"):
            lines.append(f"volume cap: {unfilled['orders']} order(s) cut to {costs.get('max_participation'):g} of "
                         f"their bar's volume; {unfilled['value']:,.0f} of value not traded")
        for row in capacity or []:
            lines.append(f"capacity {row['capital']:>14,.0f}: Sharpe {num(row['sharpe'])}, CAGR {pct(row['cagr'])}, "
                         f"volume share mean {pct(row['participation_mean'], 3)} max {pct(row['participation_max'], 2)}"
                         f", unfilled {pct(row['unfilled'])}")
        return lines

    def _tail(self, out: list[str], result: Any, m: dict, s: dict, bt: dict, path: Any) -> None:
        extras = any((m.get("costs") or {}).get("paid", {}).get(k) for k in ("spread", "impact"))
        out.append(f"trades: {s['trades']}, average exposure {s['exposure']:.0%}, "
                   f"{'paid on fills' if extras else 'commission paid'} {s['commission_paid']:,.0f}")
        out += self._cost_lines(m.get("costs") or {}, m.get("capacity"))
        seeds = m.get("seeds") or {}
        if seeds.get("n", 1) > 1:
            from ..evaluate.seeds import spread_line

            out.append(spread_line(seeds))
            conf = seeds.get("confidence") or {}
            if conf.get("hit_rate_spread") is not None:
                out.append(f"          most vs least confident fifth: hit rate {num(conf['hit_rate_spread'], 1, scale=100)} "
                           f"points (z {num(conf.get('hit_rate_spread_z'))}); confidence = |forecast| / uncertainty")
        elif result.config.model == "lstm" and "predictions_from" not in m.get("run", {}):
            out.append("seeds: one network per fold; --seeds 5 shows how much another seed would change this")
        if m.get("baselines"):
            out += forecaster_table(m, f"{result.config.model} ({bt['strategy']})")
        bench_name = ("the benchmark" if result.config.benchmark else
                      "equal-weight buy-and-hold" if "universe" in m else "buy-and-hold")
        sig = m.get("significance")
        if sig:
            test = sig.get("vs_benchmark") or {}
            out.append(f"significance: Sharpe above zero: PSR {num(sig['psr'])}, DSR {num(sig['dsr'])} over "
                       f"{sig['trials']} trial(s); above {bench_name}: Sharpe difference {num(test.get('diff'))} "
                       f"± {num(test.get('se'))}, p {pvalue(test.get('pvalue'), three_below=0.1, equals=True)} "
                       "(Ledoit-Wolf)")
        costs = m.get("costs")
        if costs:
            from ..evaluate.performance import BREAK_EVEN_SEARCH, paid_per_side
            from ..evaluate.verdict import break_even_text

            own = break_even_text(costs["break_even_bps"], s["cagr"], BREAK_EVEN_SEARCH)
            excess = break_even_text(costs["break_even_vs_benchmark_bps"], s["cagr"] - m["benchmark"]["cagr"],
                                     BREAK_EVEN_SEARCH)
            out.append(f"break-even, extra cost per side on top of this run's {paid_per_side(costs)}: the annual "
                       f"return {own}; "
                       f"the return over {bench_name} {excess}")
        if bt.get("rejected_orders"):
            out.append(f"warning: the broker rejected {bt['rejected_orders']} order(s)")
        if self.verbose and "timings" in m:
            out.append("timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in m["timings"].items()))
        if path is not None:
            out.append(f"tearsheet: {path}")
            out.append(f"comparison: {result.folder / 'comparison.html'}")
            out.append(f"run folder: {result.folder}")
            out.append(f"every run: {result.folder.parent / 'index.html'} "
                       f"(or lstmtrade runs --out {result.folder.parent})")
        if m.get("verdict"):
            out.append(f"verdict: {m['verdict']}")
        out += tracked_lines(getattr(result, "tracked", None))
        click.echo("\n".join(out))


def cache_line(event: dict) -> str:
    """What the fold cache gave: with seeds, each member of each fold is a model of its own, cached on its own
    (a one-seed run's models are member 1 of a later --seeds N run), so say how many were reused and trained."""
    hits, folds, seeds = event["hits"], event["folds"], event.get("seeds", 1)
    models = folds * seeds
    if seeds == 1:
        return (f"reused {hits} of {folds} folds from the cache, trained {folds - hits} "
                "(same rows and training settings; --no-cache retrains)")
    return (f"reused {hits} of {models} models from the cache ({folds} folds x {seeds} seeds), trained "
            f"{models - hits} (same rows and training settings; --no-cache retrains)")
