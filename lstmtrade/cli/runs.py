"""``lstmtrade runs``: list past runs, show one, compare several, rewrite index.html, log runs to MLflow.

The reading is :mod:`lstmtrade.report.runs`; this module only prints. Imports happen inside the commands, so
``lstmtrade --help`` stays fast.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..formatting import num, pct, pvalue

OUT_HELP = "Folder holding the run folders (what --out was for the runs). [default: reports]"
P_VALUES = {"dm_pvalue", "rank_ic_pvalue", "spa_pvalue_vs_zero", "spa_pvalue_vs_benchmark", "vs_benchmark_pvalue"}
THREE = {"ic", "rank_ic", "mse_ratio"}


def figure_text(key: str, value: Any) -> str:
    """One figure as the other commands print it: percentages, p-values, 2 or 3 decimals, counts."""
    from ..report.runs import PERCENT

    if value is None:
        return "n/a"
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    if key in PERCENT:
        return pct(value)
    if key in P_VALUES:
        return pvalue(value)
    if key.startswith("break_even"):
        return num(value, 1)
    return num(value, 3 if key in THREE else 2)


def _when(run: Any) -> str:
    return (run.when or "").replace("T", " ")[:16]


def _skill(run: Any) -> str:
    if run.figures.get("rank_ic") is not None:
        return f"Rank IC {num(run.figures['rank_ic'], 3)}"
    if run.figures.get("hit_rate") is not None:
        return f"hit {pct(run.figures['hit_rate'])}"
    return ""


def _columns(rows: list[list[str]], right: set[int], ragged: bool = False) -> list[str]:
    """Rows of cells as aligned text; ``ragged``: the last column is not padded (a long verdict)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        if ragged:
            cells[-1] = row[-1]
        out.append("  ".join(cells).rstrip())
    return out


def _setting(value: Any) -> str:
    """A setting as config.toml spells it: true/false, none, numbers and text as they are."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _root(ctx: click.Context, out: str | None) -> str:
    """--out of the subcommand, else of the group (``lstmtrade runs --out DIR show RUN``), else reports."""
    return out or (ctx.obj or {}).get("out") or "reports"


def _json_wanted(ctx: click.Context, as_json: bool) -> bool:
    return as_json or bool((ctx.obj or {}).get("json"))


@click.group("runs", invoke_without_command=True)
@click.option("--out", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: each run's path, status and figures at full "
                                                      "precision (as metrics.json holds them).")
@click.pass_context
def runs(ctx: click.Context, out: str | None, as_json: bool) -> None:
    """List the runs under reports/ (or --out), newest first: when, kind, data, strategy, Sharpe against the
    benchmark's, hit rate (Rank IC for a universe), the verdict in a few words, and whether each finished
    (an unfinished run is shown with the command that resumes it). A sweep shows its best trial and PBO.

    Subcommands: `runs show RUN`, `runs compare A B [C ...]`, `runs index` (rewrite index.html) and
    `runs log RUN` (to MLflow). A RUN is a folder name under --out, or a path.
    """
    ctx.obj = {"out": out, "json": as_json}
    if ctx.invoked_subcommand is not None:
        return
    from ..report.runs import INDEX, list_runs

    root = _root(ctx, None)
    found = list_runs(root)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in found], indent=2))
        return
    if not found:
        click.echo(f"no runs under {root}/ yet: `lstmtrade backtest --out {root}` makes one")
        return
    rows = [["when", "run", "kind", "data", "strategy", "Sharpe", "B&H", "skill", "status", "verdict"]]
    extra: dict[int, list[str]] = {}
    for run in found:
        f = run.figures
        rows.append([_when(run), run.name, run.kind or "?", run.data or "", run.strategy or "",
                     num(f.get("sharpe")) if run.finished else "", num(f.get("benchmark_sharpe")) if run.finished
                     else "", _skill(run) if run.finished else "", run.status, run.headline or ""])
        extra[len(rows) - 1] = ([f"    resume: {run.resume}"] if run.resume else []) + \
                               ([f"    note: {run.note}"] if run.note else [])
    lines = _columns(rows, right={5, 6}, ragged=True)
    for i, line in enumerate(lines):
        click.echo(line)
        for more in extra.get(i, []):
            click.echo(more)
    finished = sum(r.finished for r in found)
    index = f"; all of them in {root}/{INDEX}" if (found[0].path.parent / INDEX).exists() else ""
    click.echo(f"\n{len(found)} folder(s) in {root}/, {finished} finished{index}. Sharpe ratios annualised, "
               "after costs; `lstmtrade runs show RUN` for one run's figures.")


def _figure_rows(found: list[Any]) -> list[tuple[str, str]]:
    """(key, label) of every figure any of ``found`` has, backtest figures first."""
    from ..report.runs import RUN_FIGURES, SWEEP_FIGURES

    labels = {**RUN_FIGURES, **{k: v for k, v in SWEEP_FIGURES.items() if k not in RUN_FIGURES}}
    if all(r.kind == "sweep" for r in found):
        labels = SWEEP_FIGURES
    return [(k, v) for k, v in labels.items() if any(r.figures.get(k) is not None for r in found)]


@runs.command("show", short_help="One run's summary table.")
@click.argument("run")
@click.option("--out", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the run's record as JSON, figures at full precision.")
@click.pass_context
def show(ctx: click.Context, run: str, out: str | None, as_json: bool) -> None:
    """The summary table of one run: what it was, how it ended, every headline figure, and its pages."""
    from ..report.runs import read_named_runs

    (found,) = read_named_runs([run], _root(ctx, out))
    if _json_wanted(ctx, as_json):
        click.echo(json.dumps(found.to_json(), indent=2))
        return
    head = [("run", str(found.path)), ("kind", found.kind or "?"), ("status", found.status),
            ("started", (found.when or "n/a").replace("T", " ")), ("data", found.data or "n/a"),
            ("strategy", found.strategy or "n/a"), ("model", found.model or "n/a")]
    if found.resume:
        head.append(("resume", found.resume))
    if found.note:
        head.append(("note", found.note))
    rows = [[k, v] for k, v in head]
    rows += [[label, figure_text(key, found.figures.get(key))] for key, label in _figure_rows([found])]
    if found.verdict:
        rows.append(["verdict", found.verdict])
    rows += [[f"page: {label}", str(found.path / path)] for label, path in found.pages.items()]
    for line in _columns(rows, right=set(), ragged=True):
        click.echo(line)


@runs.command("compare", short_help="The settings that differ, then the figures side by side.")
@click.argument("names", nargs=-1, required=True, metavar="A B [C ...]")
@click.option("--out", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the settings that differ and each run's record.")
@click.pass_context
def compare(ctx: click.Context, names: tuple[str, ...], out: str | None, as_json: bool) -> None:
    """The settings that differ between two or more runs, then their figures side by side."""
    from ..report.runs import read_named_runs, settings_that_differ

    if len(names) < 2:
        raise click.UsageError("give two runs or more to compare")
    found = read_named_runs(names, _root(ctx, out))
    differ = settings_that_differ(found)
    if _json_wanted(ctx, as_json):
        click.echo(json.dumps({"differ": differ, "runs": [r.to_json() for r in found]}, indent=2))
        return
    header = [""] + [r.name for r in found]
    if differ:
        click.echo("settings that differ:")
        rows = [header] + [[k] + [_setting(v) for v in values] for k, values in differ.items()]
        for line in _columns(rows, right=set(range(1, len(header)))):
            click.echo("  " + line)
    else:
        click.echo("settings: the same in every run")
    click.echo("\nfigures:")
    rows = [header, ["kind"] + [r.kind or "?" for r in found], ["status"] + [r.status for r in found]]
    rows += [[label] + [figure_text(key, r.figures.get(key)) for r in found] for key, label in _figure_rows(found)]
    for line in _columns(rows, right=set(range(1, len(header)))):
        click.echo("  " + line)
    for r in found:
        if r.verdict:
            click.echo(f"\n{r.name}: {r.verdict}")


@runs.command("index", short_help="Rewrite index.html from the run folders.")
@click.option("--out", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
@click.pass_context
def index(ctx: click.Context, out: str | None) -> None:
    """Rewrite index.html (every run, sortable, offline); runs and sweeps rewrite it themselves when they
    finish, so this is for runs made before it existed, or after deleting some."""
    from ..errors import ConfigError
    from ..report.index import write_index
    from ..report.runs import INDEX

    root = _root(ctx, out)
    path = write_index(root)
    if path is None:
        raise ConfigError(f"{Path(root) / INDEX} was not written by lstmtrade: not overwritten (move it, or give "
                          "another --out)")
    click.echo(str(path))


@runs.command("log", short_help="Log finished runs or sweeps to MLflow.")
@click.argument("names", nargs=-1, required=True, metavar="RUN [RUN ...]")
@click.option("--out", default=None, type=click.Path(file_okay=False), help=OUT_HELP)
@click.pass_context
def log(ctx: click.Context, names: tuple[str, ...], out: str | None) -> None:
    """Log finished runs or sweeps to MLflow, as --mlflow does when a run finishes (pip install
    "lstmtrade[mlflow]"). The store is the one MLflow resolves (MLFLOW_TRACKING_URI, else its default);
    logging a run twice makes two MLflow runs."""
    from ..report.runs import find_run
    from ..report.tracking import log_to_mlflow

    root = _root(ctx, out)
    for name in names:
        tracked = log_to_mlflow(find_run(name, root))
        nested = f", {tracked.nested} trials nested" if tracked.nested else ""
        click.echo(f"{name}: MLflow run {tracked.run_id} in experiment {tracked.experiment!r}{nested}, "
                   f"store {tracked.uri}")


COMMANDS = (runs,)
