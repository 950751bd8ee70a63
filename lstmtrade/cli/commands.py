"""``lstmtrade backtest``, ``audit``, ``strategies`` and ``sweep``: parse the options, call the Python API, print.

Heavy libraries (torch, Backtrader, QuantStats) are imported inside the commands, so ``--help`` is fast.
"""
from __future__ import annotations

from pathlib import Path

import click

from ..config import load_toml
from .options import build_config, common_options, config_options


@click.command()
@config_options()
@common_options
@click.option("--predictions", type=click.Path(),
              help="Skip training: backtest the saved predictions of an earlier run "
                   "(its folder or predictions.csv) with the strategy and costs given here.")
@click.option("--resume", type=click.Path(file_okay=False),
              help="Continue an interrupted run folder with its saved settings; finished folds are reused.")
@click.option("--ticker", metavar="SYMBOL",
              help="Daily bars of SYMBOL from Yahoo Finance instead of --data (needs lstmtrade[yahoo]); "
                   "downloaded once, then read from the cache (`lstmtrade data list`).")
@click.option("--refresh", is_flag=True, help="With --ticker: download again even if cached.")
def backtest(config_file, param_pairs, out, quiet, verbose, predictions, resume, ticker, refresh, **options) -> None:
    """Walk-forward LSTM forecast, backtest against buy-and-hold, and write a run folder.

    With no options it runs on the bundled MSFT sample (2000-2013) with the defaults shown below and
    writes reports/<time>-MSFT-lstm/ holding tearsheet.html (QuantStats, against buy-and-hold),
    comparison.html (the model against the baselines and buy-and-hold, with the verdict), metrics.json,
    predictions.csv, returns.csv, positions.csv, trades.csv and config.toml. A universe adds
    weights.csv (each ticker's weight at each close), universe.html and the data report.

    Timing: features for day t use data up to its close; the order fills at the open of t+1; the
    model predicts the open(t+1) -> open(t+2) return that position earns.
    """
    from .console import Console

    if ticker:
        from ..data.sources import download
        from ..errors import ConfigError

        if options.get("data") or predictions or resume:
            raise ConfigError("--ticker is the data: give it without --data, --predictions or --resume")
        options["data"] = str(download(ticker, refresh=refresh))
    elif refresh:
        raise click.UsageError("--refresh goes with --ticker (it downloads the symbol's bars again)")
    config = build_config(config_file, param_pairs, options)
    console = Console(quiet=quiet, verbose=verbose)
    if predictions:
        from ..pipeline import rebacktest

        # Settings the user typed win; everything else comes from the earlier run's config.toml.
        given = {k: v for k, v in options.items() if v is not None}
        if param_pairs:
            given["params"] = config.params
        result = rebacktest(predictions, config if config_file else None, out=out, progress=console, **given)
    else:
        from ..pipeline import run

        # --mlflow / --no-mlflow apply to a resumed run too; its other settings are the saved ones
        tracking = {"tracking": options["tracking"]} if resume and options.get("tracking") else {}
        result = run(config, out=out, progress=console, resume=resume, **tracking)
    console.summary(result)


@click.command()
@config_options(skip=("tracking",))
@common_options
def audit(config_file, param_pairs, out, quiet, verbose, **options) -> None:
    """Prove the absence of look-ahead for your data, config and strategy.

    Reruns the whole pipeline on data cut at several dates (predictions and positions up to each date
    must not change), with garbage after a date (nothing up to it may change), and with every forecast
    traded one bar late (how much edge survives). Prints PASS or FAIL per check with the first
    offending date; exits 1 if any check fails. Takes the same options as `backtest`.
    """
    from ..backtesting.loader import resolve_strategy
    from ..data.load import is_universe_data, load_data
    from ..evaluate.audit import audit as run_audit

    config = build_config(config_file, param_pairs, options)
    prices = load_data(config)
    cls, params = resolve_strategy(config, None, universe=is_universe_data(prices))
    say = (lambda text: None) if quiet else (lambda text: click.echo(f"... {text}", err=True))
    checks = run_audit(prices, config, cls, params, progress=say)
    for check in checks:
        click.echo(check.line())
    failed = [c for c in checks if c.status == "FAIL"]
    click.echo(f"{len(failed)} check(s) failed" if failed else "no look-ahead found")
    if failed:
        raise SystemExit(1)


@click.command()
@click.option("--dir", "folder", default="strategies", show_default=True, type=click.Path(file_okay=False),
              help="Folder whose .py files are searched for PredictionStrategy and PortfolioStrategy subclasses.")
def strategies(folder: str) -> None:
    """List the built-in strategies and those found in a folder, with their params and defaults.

    Use any of them with `lstmtrade backtest --strategy NAME` (built-ins) or
    `--strategy path/file.py[:Class]`, and set params with `--param name=value`.
    """
    from ..backtesting.loader import describe, strategies_in_folder
    from ..backtesting.portfolio_strategy import PortfolioStrategy
    from ..backtesting.rules import BUILTINS as PORTFOLIO
    from ..backtesting.strategy import BUILTINS

    def show(label: str, cls: type) -> None:
        doc, params = describe(cls)
        click.echo(f"  {label}: {doc}")
        if params:
            click.echo("      " + ", ".join(f"{k}={v!r}" for k, v in params.items()))

    click.echo("built-in (--strategy NAME):")
    for name, cls in BUILTINS.items():
        show(name, cls)
    click.echo("\nportfolio built-ins, for a universe of tickers (--strategy NAME):")
    for name, cls in PORTFOLIO.items():
        show(name, cls)
    found, problems = strategies_in_folder(Path(folder))
    where = Path(folder).resolve()
    if found or problems:
        click.echo(f"\nin {folder}/ ({where}; --strategy {folder}/FILE.py[:Class]):")
    elif where.is_dir():
        click.echo(f"\nno strategy files in {folder}/ ({where}); give another folder with --dir")
    else:
        click.echo(f"\nno folder {folder}/ here ({where} does not exist): the repository's examples are in its "
                   f"strategies/ folder; give a folder of your own with --dir")
    for label, cls in found:
        show(label + (" [portfolio]" if issubclass(cls, PortfolioStrategy) else ""), cls)
    for problem in problems:
        click.echo(f"  could not load {problem}")


_SWEEP_DEFAULTS = {"seeds": 1, "random": 0, "reports": "best", "jobs": 0, "backend": "local", "address": None,
                   "blocks": 16, "reps": 1000, "block_size": 10, "mcs_size": 0.1}


@click.command()
@config_options(skip=("jobs", "backend", "ray_address"))  # the sweep's own --jobs, --backend, --address
@common_options
@click.option("--grid", "grid_pairs", multiple=True, metavar="NAME=V1,V2",
              help="A setting (lookback=20,40,60) or strategy param (band=0,0.001) and the values to try; "
                   "repeatable: trials are every combination. Features: features=logret,logret+vol20.")
@click.option("--trial-seeds", "trial_seeds", type=int, default=None, metavar="N",
              help="Run each configuration with N seeds (--seed, --seed+1, ...), each a separate trial "
                   "(seed is a column of trials.csv). Not --seeds, which as in backtest makes every trial a "
                   "seed ensemble of N networks. [default: 1]")
@click.option("--random", "random_n", type=int, default=None, metavar="N",
              help="Sample N configurations from the grid at random (seeded by --seed) instead of all.")
@click.option("--reports", type=click.Choice(["best", "all", "none"]), default=None,
              help="Full HTML reports (tearsheet and comparison) for the in-sample best trial, every trial, "
                   "or none. [default: best]")
@click.option("--jobs", type=int, default=None, metavar="N",
              help="Trials at once: local worker processes (0: one per core); with Ray, tasks in flight (0: as "
                   "many as Ray schedules). Each trial uses one torch thread unless --threads is given. [default: 0]")
@click.option("--backend", type=click.Choice(["local", "ray"]), default=None,
              help='Where trials run: local processes, or Ray tasks (pip install "lstmtrade[ray]"). [default: local]')
@click.option("--address", default=None, metavar="ADDR",
              help="Ray cluster to join: auto, or host:port. [default: start Ray on this machine]")
@click.option("--blocks", type=int, default=None, metavar="S",
              help="PBO: number of CSCV blocks (even). [default: 16]")
@click.option("--reps", type=int, default=None, metavar="N",
              help="Bootstrap replications for SPA, Reality Check and MCS. [default: 1000]")
@click.option("--block-size", type=int, default=None, metavar="N",
              help="Mean block length in days of their stationary bootstrap. [default: 10]")
@click.option("--mcs-size", type=float, default=None, metavar="X",
              help="Level of the Model Confidence Set (0.1: a 90 %% set). [default: 0.1]")
@click.option("--resume", type=click.Path(file_okay=False),
              help="Finish an interrupted sweep folder with its own plan; finished trials are skipped.")
def sweep(config_file, param_pairs, out, quiet, verbose, grid_pairs, resume, **options) -> None:
    """Run a grid of settings, every trial counted, and judge the best with SPA, MCS and PBO.

    Takes every `backtest` option as the base settings, plus a search space: e.g.
    `lstmtrade sweep --grid lookback=20,40,60 --grid hidden=16,32 --trial-seeds 3`, or a [sweep] table in the
    --config file ([sweep.grid] lookback = [20, 40]; trial_seeds = 3; ...). Each trial is an ordinary run in
    reports/sweep-<time>/trials/<id>/; trials that differ only in strategy, threshold or costs re-use
    one walk-forward's predictions; trials run without the baseline forecasters unless --baselines is
    given. Writes sweep.html, trials.csv and sweep.json. Ctrl-C stops; continue with
    `lstmtrade sweep --resume FOLDER`.
    """
    from ..sweep.plan import parse_grid, read_sweep_table
    from ..sweep.run import run_sweep
    from .sweep_console import SweepConsole

    names = {"trial_seeds": "seeds", "random_n": "random", "reports": "reports", "jobs": "jobs", "backend": "backend",
             "address": "address", "blocks": "blocks", "reps": "reps", "block_size": "block_size",
             "mcs_size": "mcs_size"}
    given = {names[k]: options.pop(k) for k in names}
    given = {k: v for k, v in given.items() if v is not None}
    console = SweepConsole(quiet=quiet, verbose=verbose)
    if resume:
        allowed = {"jobs", "backend", "address", "reports"}
        extra = [k for k in given if k not in allowed] + [k for k, v in options.items()
                                                          if v is not None and k != "tracking"]
        if extra or grid_pairs or param_pairs or config_file:
            raise click.UsageError("--resume takes the sweep's settings from its plan.json; only --jobs, "
                                   "--backend, --address, --reports and --mlflow may be given with it")
        runs = {**_SWEEP_DEFAULTS, "reports": None, **given}
        tracking = {"tracking": options["tracking"]} if options.get("tracking") else {}
        result = run_sweep(resume=resume, progress=console, reports=runs["reports"], jobs=runs["jobs"],
                           backend=runs["backend"], address=runs["address"], **tracking)
    else:
        table = read_sweep_table(config_file) if config_file else {}
        runs = {**_SWEEP_DEFAULTS, **{k: v for k, v in table.items() if k != "grid"}, **given}
        grid = {**table.get("grid", {}), **parse_grid(grid_pairs)}
        config = build_config(config_file, param_pairs, options)
        if options.get("baselines") is None and "baselines" not in (load_toml(config_file) if config_file else {}):
            config = config.replace(baselines=False)  # the sweep compares trials itself; --baselines to add them
        result = run_sweep(config, grid=grid, seeds=runs["seeds"], random=runs["random"], out=out,
                           reports=runs["reports"], jobs=runs["jobs"], backend=runs["backend"],
                           address=runs["address"], blocks=runs["blocks"], reps=runs["reps"],
                           block_size=runs["block_size"], mcs_size=runs["mcs_size"], progress=console)
    console.summary(result)


COMMANDS = (backtest, audit, strategies, sweep)
