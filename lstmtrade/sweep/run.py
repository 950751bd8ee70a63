"""Sweeps: a grid (or a seeded random sample) of settings, every trial an ordinary run, every trial counted.

>>> import lstmtrade
>>> result = lstmtrade.run_sweep(grid={"lookback": [20, 40], "hidden": [16, 32]}, seeds=2)   # doctest: +SKIP
>>> result.summary["pbo"], result.summary["spa_pvalue_vs_zero"], result.page                   # doctest: +SKIP

A sweep is planned once (:func:`lstmtrade.sweep.plan.make_plan`): every trial gets an id and its settings.
Trials that differ only in settings that cannot change a fold's predictions (strategy, its params,
threshold, costs: :data:`lstmtrade.forecast.cache.NOT_TRAINING`) share one walk-forward: the first trains (its
folds come from the fold cache under ``OUT/.cache`` when an earlier run trained them), the others re-use
its predictions and only re-run the backtest. Training goes through
:func:`lstmtrade.forecast.walkforward.walk_forward_predict` and every backtest through
:func:`lstmtrade.pipeline.rebacktest`, the code paths of ``lstmtrade backtest``.

Each finished trial is written at once to ``OUT/sweep-<time>/trials/<id>/`` (an ordinary run folder:
config.toml, predictions.csv, returns.csv, positions.csv, trades.csv, metrics.json last) and recorded in
the trial ledger, so an interrupted sweep resumes (``resume=folder``) with the finished trials skipped.
When all are done, :mod:`lstmtrade.evaluate.selection` judges them together: DSR over every trial on the same data
(this sweep and the ledger's earlier ones), Hansen's SPA and White's Reality Check against buy-and-hold and
against the zero forecast (which stays flat: 0 every day), the Model Confidence Set, and the Probability
of Backtest Overfitting; the results go to ``trials.csv``, ``sweep.html`` and ``sweep.json`` (written
last: its presence marks a finished sweep).

Trials run in the driver process (one worker), in local worker processes, or as Ray tasks
(``backend="ray"``); each trial trains with one torch thread unless ``threads`` is set, so a trial's
numbers do not depend on the backend or the number of workers.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..backtesting.loader import all_builtins, resolve_strategy
from ..config import Config, Progress, make_config, to_toml
from ..data.load import bar_spec, is_universe_data, load_data
from ..errors import ConfigError, DamagedFileError, Interrupted, WriteError
from ..evaluate.ledger import record, trial_key, trials
from ..evaluate.stats import per_period_sharpe
from ..files import ensure_folder, new_run_dir, write_csv, write_json, write_text
from ..report.index import write_index
from ..report.run import write_run_files, write_run_tables
from ..report.sweep import write_sweep_page
from ..report.tracking import check_store, log_to_mlflow
from .execute import Outcome, execute, plan_tasks
from .judge import Judgement, judge, read_trial, refresh_significance
from .plan import SweepPlan, make_plan, training_key

REPORTS = ("best", "all", "none")
BACKENDS = ("local", "ray")


class SweepInterrupted(Interrupted):
    """Ctrl-C during a sweep: finished trials are saved and the sweep can be resumed."""

    def __init__(self, folder: Path, done: int, total: int):
        self.folder = folder
        Exception.__init__(self, f"interrupted after {done} of {total} trials; finished trials are saved: "
                                 f"resume with  lstmtrade sweep --resume {folder}")


# --------------------------------------------------------------------------- the driver


@dataclass
class SweepResult:
    folder: Path
    plan: SweepPlan
    trials: Any  # DataFrame: one row per trial, as trials.csv
    summary: dict[str, Any]  # as sweep.json
    tracked: Any = None  # where MLflow logged it (lstmtrade.report.tracking.Tracked), with tracking = "mlflow"

    @property
    def page(self) -> Path:
        return self.folder / "sweep.html"


def run_sweep(config: Config | None = None, *, grid: Mapping[str, Sequence] | None = None, seeds: int = 1,
              random: int = 0, strategy: str | None = None, prices: Any = None, out: str | Path = "reports",
              reports: str | None = None, jobs: int = 0, backend: str = "local", address: str | None = None,
              blocks: int = 16, reps: int = 1000, block_size: int = 10, mcs_size: float = 0.1,
              progress: Progress | None = None, resume: str | Path | None = None, **settings: Any) -> SweepResult:
    """Run every trial of a sweep and judge them together; see the module docstring.

    ``config`` and ``settings`` give the base settings (as :func:`lstmtrade.run`), ``grid`` maps setting or
    strategy-param names to the values to try, ``seeds`` runs each configuration with that many seeds (the
    base seed, +1, ...), ``random`` samples that many configurations instead of the full grid. ``reports``:
    full HTML reports for the ``best`` trial (default), ``all`` or ``none``. ``jobs``: trials at once (0: one
    per core). ``blocks``: CSCV blocks for PBO; ``reps``, ``block_size``: the stationary bootstrap of SPA and
    MCS; ``mcs_size``: the MCS level (0.1: a 90 % set). ``resume`` finishes an interrupted sweep folder with
    its own plan (``tracking="mlflow"`` may be added then). With ``tracking="mlflow"`` the finished sweep is
    logged to MLflow, its trials as nested runs.
    """
    from ..pipeline import preflight

    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
    if resume is not None:
        folder = Path(resume)
        plan, saved = _load_plan(folder)
        out, reports = folder.parent, reports or saved["reports"]
    else:
        base = make_config(config, **settings) if settings or config is None else config
        if strategy is not None:
            base = base.replace(strategy=_strategy_label(strategy))
        stats = _check_stats(blocks, reps, block_size, mcs_size)
        prices = prices if prices is not None else load_data(base)
        plan = make_plan(base, dict(grid or {}), seeds, random, stats, universe=is_universe_data(prices))
        reports = reports or "best"
    if reports not in REPORTS:
        raise ConfigError(f"--reports must be one of {', '.join(REPORTS)} (got {reports!r})")
    base = plan.base
    tracking = settings.get("tracking") if resume is not None and settings.get("tracking") else base.tracking
    if tracking == "mlflow":
        check_store()  # MLflow missing, or a store it cannot use: said before any trial runs
    prices = prices if prices is not None else load_data(base)
    if resume is not None and saved["data"]["sha256"] != prices.sha256:
        raise ConfigError(f"--resume {folder}: the data differ from those the sweep started on "
                          f"({saved['data']['source']})")
    configs = {}
    for trial in plan.trials:
        config = plan.trial_config(trial)
        configs.setdefault(training_key(config), config)
    for config in configs.values():
        preflight(prices, config)  # a schedule or engine that cannot work stops here, before any folder
    trials(Path(out), prices.sha256)  # so does a damaged trial ledger
    if resume is None:
        folder = new_run_dir(out, "sweep", prefix="sweep")
        write_json(folder / "plan.json", {**plan.to_json(), "reports": reports,
                                          "data": {"source": prices.source, "name": prices.name,
                                                   "sha256": prices.sha256},
                                          "created": datetime.now().isoformat(timespec="seconds")})
    emit = progress or (lambda event: None)
    todo = [t for t in plan.trials if not (folder / "trials" / t.id / "metrics.json").exists()]
    damaged = [t.id for t in plan.trials if t not in todo and not _reads_back(folder / "trials" / t.id)]
    if damaged:  # a finished trial whose files no longer read back runs again, its folder rewritten
        todo = [t for t in plan.trials if t in todo or t.id in damaged]
        emit({"event": "warning", "text": f"{len(damaged)} finished trial(s) ({', '.join(damaged[:5])}"
                                          f"{', ...' if len(damaged) > 5 else ''}) do not read back (metrics.json "
                                          "or returns.csv damaged): they run again"})
    cache = str((Path(out) / ".cache" / "folds").resolve())
    tasks, workers = plan_tasks(plan, todo, cache, jobs, backend)
    emit({"event": "sweep", "folder": folder, "plan": plan, "prices": prices, "todo": len(todo),
          "backend": backend, "workers": workers, "trainings": len(tasks)})
    done = len(plan.trials) - len(todo)
    started = time.perf_counter()
    runs = execute(tasks, prices, backend, workers, address)
    shown: set[str] = set()
    try:
        for outcomes in runs:
            for outcome in outcomes:
                for text in outcome.warnings:
                    if text not in shown:  # every task finds the same unwritable folder: say it once
                        shown.add(text)
                        emit({"event": "warning", "text": text})
                sharpe = _write_trial(folder, plan, outcome, prices, Path(out), reports == "all")
                done += 1
                emit({"event": "trial", "id": outcome.id, "origin": outcome.origin, "sharpe": sharpe,
                      "seconds": outcome.seconds, "done": done, "total": len(plan.trials),
                      "todo": len(todo), "elapsed": time.perf_counter() - started})
    except KeyboardInterrupt:
        raise SweepInterrupted(folder, done, len(plan.trials)) from None
    except WriteError as exc:  # a full disk: the finished trials are whole, the sweep resumable
        raise WriteError(f"{exc}; finished trials are intact: once it can be written, resume with  lstmtrade "
                         f"sweep --resume {folder}") from None
    finally:
        runs.close()  # stops the workers at once if anything above went wrong
    emit({"event": "stage", "name": "statistics"})
    judged = judge(folder, plan, prices, Path(out), emit, {"backend": backend, "workers": workers})
    _write_judgement(folder, plan, prices, judged, reports, emit)
    write_index(folder.parent)
    result = SweepResult(folder, plan, judged.table, judged.summary)
    if tracking == "mlflow":
        emit({"event": "stage", "name": "MLflow"})
        result.tracked = log_to_mlflow(folder)
    emit({"event": "sweep-done", "result": result})
    return result


def _reads_back(trial_dir: Path) -> bool:
    """Whether a finished trial's metrics.json and returns.csv read back as the judge reads them."""
    try:
        read_trial(trial_dir)
    except DamagedFileError:
        return False
    return True


def _check_stats(blocks: int, reps: int, block_size: int, mcs_size: float) -> dict[str, Any]:
    if not isinstance(blocks, int) or blocks < 2 or blocks % 2:
        raise ConfigError(f"--blocks must be an even whole number >= 2 (got {blocks!r})")
    if not isinstance(reps, int) or reps < 100:
        raise ConfigError(f"--reps must be a whole number >= 100 (got {reps!r})")
    if not isinstance(block_size, int) or block_size < 1:
        raise ConfigError(f"--block-size must be a whole number >= 1 (got {block_size!r})")
    if not 0 < mcs_size < 1:
        raise ConfigError(f"--mcs-size must be in (0, 1) (got {mcs_size!r})")
    return {"blocks": blocks, "reps": reps, "block_size": block_size, "mcs_size": float(mcs_size), "seed": 0}


def _strategy_label(strategy: str | type) -> str:
    """What ``--strategy`` accepts, with a file made absolute (Ray workers start in another folder)."""
    if isinstance(strategy, type):
        if all_builtins().get(strategy.__name__) is strategy:
            return strategy.__name__
        if strategy.__module__ == "__main__":
            raise ConfigError(f"give the strategy {strategy.__name__} as path/file.py:Class or module:Class: "
                              "trials may run in other processes, which cannot see this one's classes")
        return f"{strategy.__module__}:{strategy.__qualname__}"
    text = str(strategy)
    path, sep, rest = text.partition(".py")
    if sep and Path(path + sep).is_file():
        return str(Path(path + sep).resolve()) + rest
    return text


def _load_plan(folder: Path) -> tuple[SweepPlan, dict]:
    path = folder / "plan.json"
    if not path.exists():
        raise ConfigError(f"--resume {folder}: not a sweep folder (no plan.json)")
    if (folder / "sweep.json").exists():
        raise ConfigError(f"--resume {folder}: that sweep already finished (sweep.json exists)")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return SweepPlan.from_json(saved), saved
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # cut short, edited, damaged
        raise DamagedFileError(f"--resume {folder}: plan.json is damaged ({type(exc).__name__}: {exc}); the "
                               "sweep cannot resume without it (finished trials stay in trials/)") from None


def _write_trial(folder: Path, plan: SweepPlan, outcome: Outcome, prices: Any, root: Path,
                 full_report: bool) -> float:
    """Write one trial's run folder (metrics.json last) and record it in the ledger; returns its Sharpe."""
    trial_dir = folder / "trials" / outcome.id
    ensure_folder(trial_dir)
    result = outcome.result
    result.prices, result.folder = prices, trial_dir
    trial = next(t for t in plan.trials if t.id == outcome.id)
    cls, params = resolve_strategy(result.config, None, universe=not hasattr(prices, "frame"))
    found = record(root, prices.sha256, trial_key(result.config.to_dict(), cls.__name__, params),
                   per_period_sharpe(result.strategy.returns), str(trial_dir),
                   annualised=result.metrics["strategy"]["sharpe"])
    refresh_significance(result.metrics, result.strategy.returns, [t["sharpe"] for t in found])
    result.metrics["sweep"] = {"id": outcome.id, "params": trial.params, "seed": trial.seed,
                               "origin": outcome.origin, "folds": outcome.folds,
                               "folds_cached": outcome.folds_cached, "seconds": round(outcome.seconds, 3)}
    write_text(trial_dir / "config.toml", to_toml(result.config))
    if full_report:
        write_run_files(result)
    else:
        write_run_tables(result)
    write_json(trial_dir / "metrics.json", result.metrics)  # last: marks the trial finished
    return result.metrics["strategy"]["sharpe"]


def _write_judgement(folder: Path, plan: SweepPlan, prices: Any, judged: Judgement, reports: str,
                     emit: Progress) -> None:
    """trials.csv, the best trial's report, sweep.html and (last: it marks a finished sweep) sweep.json."""
    table, summary, best = judged.table, judged.summary, judged.best
    _update_trials(folder, plan, judged.metrics, judged.returns, judged.counted)
    write_csv(folder / "trials.csv", table, index=False)
    if reports == "best":
        emit({"event": "stage", "name": f"report of the best trial {best.id}"})
        _full_report(folder / "trials" / best.id, plan.trial_config(best), prices, judged.metrics[best.id])
    ids = [t.id for t in plan.trials]
    table["report"] = [f"trials/{i}/tearsheet.html" if (folder / "trials" / i / "tearsheet.html").exists()
                       else "" for i in ids]
    emit({"event": "stage", "name": "sweep.html"})
    periods = bar_spec(prices, plan.base).periods_per_year  # the trials' bar size, as their Sharpes use it
    write_sweep_page(folder / "sweep.html", f"{prices.name}: sweep of {len(ids)} trials", summary, table,
                     judged.curves, judged.pbo, periods_per_year=periods)
    write_json(folder / "sweep.json", summary)


def _update_trials(folder: Path, plan: Any, metrics: dict, strat: dict, counted: list[float]) -> None:
    """Each trial's metrics.json with the final count of trials, as its own run would see it now."""
    for trial in plan.trials:
        m = metrics[trial.id]
        if m["significance"].get("trials") != len(counted):
            refresh_significance(m, strat[trial.id], counted)
            write_json(folder / "trials" / trial.id / "metrics.json", m)


def _full_report(trial_dir: Path, config: Any, prices: Any, metrics: dict) -> None:
    """The tearsheet and comparison page of a finished trial, from its saved predictions (no retraining)."""
    from ..pipeline import rebacktest

    # the capacity re-runs are in the trial's metrics already: the pages read them from there
    result = rebacktest(trial_dir / "predictions.csv", config.replace(capacity=None), prices=prices, write=False)
    result.config, result.folder, result.metrics = config, trial_dir, metrics
    write_run_files(result)
    write_json(trial_dir / "metrics.json", metrics)
