"""``lstmtrade paper DIR``: credit a signal journal through the backtest's engine and say whether it still looks like
the backtest. Parses, calls :func:`lstmtrade.live.paper.paper`, prints."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..config import COST_FIELDS, FIELD_HELP
from ..errors import DataError
from .options import existing_model_file

_COSTS = (*COST_FIELDS, "cash")


def _cost_options(func):
    """The backtest's cost options (the Config fields it takes its costs from), defaulting to the model's."""
    for name in reversed(_COSTS):
        func = click.option(f"--{name.replace('_', '-')}", name, type=float, default=None, metavar="X",
                            help=f"{FIELD_HELP[name]} [default: the model's, as its backtest used]")(func)
    return func


def _folder(ctx, param, value):
    """A missing folder is refused here, before pandas and Backtrader are imported (one line, exit 2)."""
    if value is not None and not Path(value).is_dir():
        raise DataError(f"{value}: no such folder; give the folder `lstmtrade signal --journal DIR` writes to")
    return value


@click.command("paper")
@click.argument("folder", type=click.Path(file_okay=False), callback=_folder)
@click.option("--data", metavar="FILE", help="Prices to credit the entries with: the data the signals were made from "
              "and its continuation [default: the source the journal's last entry names].")
@_cost_options
@click.option("--model", "model_path", type=click.Path(dir_okay=False), metavar="FILE",
              callback=existing_model_file,
              help="The model file, if it moved since the entries [default: the path the last entry names]; its "
                   "costs are the default ones, its settings find the backtest run.")
@click.option("--backtest", "backtest_run", type=click.Path(file_okay=False), metavar="RUN",
              help="The backtest run folder to compare with [default: the latest run under --runs with the model's "
                   "settings and the journal's rule].")
@click.option("--runs", default="reports", show_default=True, type=click.Path(file_okay=False),
              help="Where to look for the backtest run.")
@click.option("--reps", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Bootstrap replications for the band.")
@click.option("--block-size", type=click.IntRange(min=1), default=10, show_default=True,
              help="Mean block length in days of the band's stationary bootstrap.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the alarms as a list) instead of text.")
def paper_cmd(folder, data, model_path, backtest_run, runs, reps, block_size, as_json, **costs) -> None:
    """Credit the journal DIR/journal.jsonl that `lstmtrade signal --journal DIR` keeps, and reconcile it.

    Checks the hash chain first (an altered, missing or reordered entry stops it, naming the first bad one).
    Each entry earns its target weights' return from the next open to the open after, through the
    backtest's engine with the same costs; entries whose opens are not in the data yet are pending. Writes
    DIR/paper.csv and DIR/paper.html: the paper equity against buy-and-hold and the backtest's 5-95 % band,
    live skill against the backtest's, and the alarms.
    """
    from ..live.paper import paper

    given = {k: v for k, v in costs.items() if v is not None}
    result = paper(folder, data, model=model_path, backtest_run=backtest_run, runs=runs, reps=reps,
                   block_size=block_size, **given)
    summary = result.to_dict()
    if as_json:
        click.echo(json.dumps(summary, allow_nan=False))
        return
    if not result.entries:
        click.echo(f"{summary['journal']}: the journal is empty (no signal recorded yet); record one with "
                   f"`lstmtrade signal --model FILE --journal {folder}`")
        return
    click.echo("\n".join(_lines(summary)))


def _lines(summary: dict) -> list[str]:
    from ..formatting import num, pct

    lines = [f"journal {summary['journal']}: {summary['entries']} entries {summary['first']} .. {summary['last']}, "
             f"{summary['credited']} credited, {summary['pending']} pending"]
    if not summary["credited"]:
        lines.append("nothing credited yet: every entry waits for the two opens after its date (pending)")
    else:
        lines.append(f"paper {pct(summary['cumulative_return'], 2)} vs buy-and-hold "
                     f"{pct(summary['benchmark_cumulative_return'], 2)} over the same days, after costs")
        band = summary["band"]
        if band:
            lines.append(f"backtest over {band['days']} day(s): 5 % {pct(band['p05'], 2)}, median "
                         f"{pct(band['p50'], 2)}, 95 % {pct(band['p95'], 2)}")
        skill = summary["skill"]
        label = "Rank IC" if skill["name"] == "rank_ic" else "hit rate"
        live, bt = skill["live"], skill["backtest"] or {}
        lines.append(f"live {label} {num(live.get('mean'), 3)} over {live.get('days', 0)} day(s); backtest "
                     f"{num(bt.get('mean'), 3)}")
    alarms = summary["alarms"]
    lines += [f"ALARM {a['kind']}: {a['message']}" for a in alarms] or ["no alarms"]
    lines += [f"note: {n}" for n in summary["notes"]]
    lines.append(f"wrote {summary['files']['csv']} and {summary['files']['html']}")
    return lines


COMMANDS = (paper_cmd,)
