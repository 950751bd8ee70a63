"""Sweeps: a grid (or a seeded random sample) of settings, every trial an ordinary run, every trial counted.

>>> import lstmtrade
>>> result = lstmtrade.run_sweep(grid={"lookback": [20, 40], "hidden": [16, 32]}, seeds=2)   # doctest: +SKIP
>>> result.summary["pbo"], result.summary["spa_pvalue_vs_zero"], result.page                   # doctest: +SKIP

A sweep is planned once (:func:`lstmtrade.sweep_plan.make_plan`): every trial gets an id and its settings.
Trials that differ only in settings that cannot change a fold's predictions (strategy, its params,
threshold, costs: :data:`lstmtrade.cache.NOT_TRAINING`) share one walk-forward: the first trains (its
folds come from the fold cache under ``OUT/.cache`` when an earlier run trained them), the others re-use
its predictions and only re-run the backtest. Training goes through
:func:`lstmtrade.forecast.walk_forward_predict` and every backtest through
:func:`lstmtrade.pipeline.rebacktest`, the code paths of ``lstmtrade backtest``.

Each finished trial is written at once to ``OUT/sweep-<time>/trials/<id>/`` (an ordinary run folder:
config.toml, predictions.csv, returns.csv, positions.csv, trades.csv, metrics.json last) and recorded in
the trial ledger, so an interrupted sweep resumes (``resume=folder``) with the finished trials skipped.
When all are done, :mod:`lstmtrade.selection` judges them together: DSR over every trial on the same data
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
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from .config import Config, make_config
from .errors import ConfigError, Interrupted, LstmtradeError
from .sweep_plan import SweepPlan, Trial, make_plan, training_key

Progress = Callable[[dict], None]
REPORTS = ("best", "all", "none")
BACKENDS = ("local", "ray")


class SweepInterrupted(Interrupted):
    """Ctrl-C during a sweep: finished trials are saved and the sweep can be resumed."""

    def __init__(self, folder: Path, done: int, total: int):
        self.folder = folder
        Exception.__init__(self, f"interrupted after {done} of {total} trials; finished trials are saved: "
                                 f"resume with  lstmtrade sweep --resume {folder}")


# --------------------------------------------------------------------------- running trials


@dataclass
class Task:
    """Trials sharing one walk-forward: the first trains (or reads the fold cache), the rest re-use it."""

    trials: list[tuple[str, Config]]  # (trial id, full config with the worker's jobs and threads)
    cache: str | None  # fold cache folder (absolute), or None for no cache


@dataclass
class Outcome:
    """One finished trial, sent back from a worker (``result.prices`` is dropped for the trip)."""

    id: str
    origin: str  # trained | cached (every fold from the cache) | reused (predictions of a sibling trial)
    result: Any  # RunResult
    seconds: float
    folds: int
    folds_cached: int


def run_task(task: Task, prices: Any) -> list[Outcome]:
    """Train once, then backtest every trial of the task. Runs in a worker, the driver, or a Ray task."""
    from .cache import FoldCache
    from .forecast import walk_forward_predict
    from .pipeline import rebacktest

    first = task.trials[0][1]
    if first.model == "lstm":
        import torch

        torch.set_num_threads(first.threads or 1)  # the trial's own threads, whatever process runs it
    cache = FoldCache(task.cache) if task.cache and first.cache else None
    t0 = time.perf_counter()
    predictions = walk_forward_predict(prices, first, cache=cache)
    trained = time.perf_counter() - t0
    folds = len(predictions.folds)
    hits = cache.hits if cache is not None else 0
    outcomes = []
    for k, (trial_id, config) in enumerate(task.trials):
        t0 = time.perf_counter()
        result = rebacktest(predictions, config, prices=prices, write=False)
        seconds = time.perf_counter() - t0 + (trained if k == 0 else 0.0)
        if k == 0:
            result.metrics["timings"]["forecast"] = round(trained, 3)
        origin = "reused" if k else ("cached" if hits == folds and first.model == "lstm" else "trained")
        result.prices = None  # the driver has them; don't send them back
        outcomes.append(Outcome(trial_id, origin, result, seconds, folds, hits))
    return outcomes


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def plan_tasks(plan: SweepPlan, todo: list[Trial], cache: str | None, jobs: int,
               backend: str) -> tuple[list[Task], int]:
    """Unfinished trials grouped by training key, and how many groups run at once.

    Each trial trains with its torch threads (1 unless ``threads`` is set) and, with the native engine
    (whose folds train in threads), as many folds at once as there are cores per worker.
    """
    from .forecast import resolve_engine

    groups: dict[str, list[tuple[str, Config]]] = {}
    for trial in todo:
        config = plan.trial_config(trial)
        groups.setdefault(training_key(config), []).append((trial.id, config))
    workers = resolve_workers(jobs, backend, len(groups) or 1)
    tasks = []
    for members in groups.values():
        engine = resolve_engine(members[0][1])
        folds_at_once = max(1, _cores() // workers) if engine == "native" else 1
        tasks.append(Task([(i, c.replace(jobs=folds_at_once, threads=c.threads or 1)) for i, c in members], cache))
    return tasks, workers


def resolve_workers(jobs: int, backend: str, tasks: int) -> int:
    """Trials at once: ``jobs``, or one per core for 0 (local); with Ray 0 leaves it to Ray's scheduler."""
    if jobs < 0:
        raise ConfigError(f"--jobs must be a whole number >= 0 (got {jobs})")
    if backend == "ray":
        return max(1, min(jobs, tasks)) if jobs else max(1, tasks)
    return max(1, min(jobs or _cores(), tasks))


_PRICES: Any = None  # a local worker's copy of the prices, set once by _init_worker


def _init_worker(prices: Any) -> None:
    import signal

    global _PRICES
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle: it stops the workers
    _PRICES = prices


def _worker_task(task: Task) -> list[Outcome]:
    return run_task(task, _PRICES)


def execute(tasks: list[Task], prices: Any, backend: str = "local", workers: int = 1,
            address: str | None = None) -> Iterator[list[Outcome]]:
    """Run ``tasks``, yielding each task's outcomes as it finishes. The one place backends differ."""
    if backend == "ray":
        yield from _execute_ray(tasks, prices, workers, address)
    elif workers <= 1:
        yield from _execute_here(tasks, prices)
    else:
        yield from _execute_pool(tasks, prices, workers)


def _execute_here(tasks: list[Task], prices: Any) -> Iterator[list[Outcome]]:
    import sys

    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    try:
        for task in tasks:
            yield run_task(task, prices)
    finally:
        if threads is not None:
            torch.set_num_threads(threads)  # a notebook gets its torch threads back


def _execute_pool(tasks: list[Task], prices: Any, workers: int) -> Iterator[list[Outcome]]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's threads
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(prices,))
    finished = False
    try:
        pending = {pool.submit(_worker_task, task) for task in tasks}  # prices went once per worker
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
        finished = True
    except BrokenProcessPool:
        raise LstmtradeError("a sweep worker process died; rerun with --jobs 1 to see why (in a script, call "
                             "run_sweep under `if __name__ == \"__main__\":`, as multiprocessing requires)") from None
    finally:
        running = [] if finished else list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=finished, cancel_futures=True)
        for process in running:  # Ctrl-C or an error: stop the workers now, not after their trials
            process.terminate()
            process.join()


def _execute_ray(tasks: list[Task], prices: Any, workers: int, address: str | None) -> Iterator[list[Outcome]]:
    try:
        import ray
    except ImportError:
        raise ConfigError('--backend ray needs Ray: pip install "lstmtrade[ray]"') from None
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except ConnectionError as exc:  # no cluster there, or one that wants a token (RAY_AUTH_MODE=token)
            raise ConfigError(f"--address {address}: {str(exc).splitlines()[0]}") from None
    remote = ray.remote(num_cpus=1, max_retries=0)(run_task)
    prices_ref = ray.put(prices)  # into the object store once, shared by every task
    queue, pending = list(tasks), []
    try:
        while queue or pending:
            while queue and len(pending) < workers:
                pending.append(remote.remote(queue.pop(0), prices_ref))
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


# --------------------------------------------------------------------------- the driver


@dataclass
class SweepResult:
    folder: Path
    plan: SweepPlan
    trials: Any  # DataFrame: one row per trial, as trials.csv
    summary: dict[str, Any]  # as sweep.json

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
    its own plan.
    """
    from .pipeline import is_universe, load_data, preflight

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
        plan = make_plan(base, dict(grid or {}), seeds, random, stats, universe=is_universe(prices))
        reports = reports or "best"
    if reports not in REPORTS:
        raise ConfigError(f"--reports must be one of {', '.join(REPORTS)} (got {reports!r})")
    base = plan.base
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
    if resume is None:
        folder = _new_sweep_dir(out)
        from .report import write_json

        write_json(folder / "plan.json", {**plan.to_json(), "reports": reports,
                                          "data": {"source": prices.source, "name": prices.name,
                                                   "sha256": prices.sha256},
                                          "created": datetime.now().isoformat(timespec="seconds")})
    emit = progress or (lambda event: None)
    todo = [t for t in plan.trials if not (folder / "trials" / t.id / "metrics.json").exists()]
    cache = str((Path(out) / ".cache" / "folds").resolve())
    tasks, workers = plan_tasks(plan, todo, cache, jobs, backend)
    emit({"event": "sweep", "folder": folder, "plan": plan, "prices": prices, "todo": len(todo),
          "backend": backend, "workers": workers, "trainings": len(tasks)})
    done = len(plan.trials) - len(todo)
    started = time.perf_counter()
    runs = execute(tasks, prices, backend, workers, address)
    try:
        for outcomes in runs:
            for outcome in outcomes:
                sharpe = _write_trial(folder, plan, outcome, prices, Path(out), reports == "all")
                done += 1
                emit({"event": "trial", "id": outcome.id, "origin": outcome.origin, "sharpe": sharpe,
                      "seconds": outcome.seconds, "done": done, "total": len(plan.trials),
                      "todo": len(todo), "elapsed": time.perf_counter() - started})
    except KeyboardInterrupt:
        raise SweepInterrupted(folder, done, len(plan.trials)) from None
    finally:
        runs.close()  # stops the workers at once if anything above went wrong
    emit({"event": "stage", "name": "statistics"})
    from .sweep_summary import summarise

    trials, summary = summarise(folder, plan, prices, Path(out), reports, emit,
                                {"backend": backend, "workers": workers})
    result = SweepResult(folder, plan, trials, summary)
    emit({"event": "sweep-done", "result": result})
    return result


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
        from .strategy import BUILTINS

        if BUILTINS.get(strategy.__name__) is strategy:
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
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--resume {folder}: plan.json is damaged ({exc})") from None
    return SweepPlan.from_json(saved), saved


def _new_sweep_dir(root: str | Path) -> Path:
    """A fresh ``root/sweep-YYYYmmdd-HHMMSS`` (suffix -2, -3... if taken)."""
    from .report import new_run_dir

    return new_run_dir(root, "sweep", prefix="sweep")


def _write_trial(folder: Path, plan: SweepPlan, outcome: Outcome, prices: Any, root: Path,
                 full_report: bool) -> float:
    """Write one trial's run folder (metrics.json last) and record it in the ledger; returns its Sharpe."""
    from .config import to_toml
    from .ledger import record
    from .pipeline import resolve_strategy, write_run_files
    from .report import write_json, write_text
    from .stats import per_period_sharpe
    from .ledger import trial_key
    from .sweep_summary import refresh_significance, write_tables

    trial_dir = folder / "trials" / outcome.id
    trial_dir.mkdir(parents=True, exist_ok=True)
    result = outcome.result
    result.prices, result.folder = prices, trial_dir
    trial = next(t for t in plan.trials if t.id == outcome.id)
    cls, params = resolve_strategy(result.config, None, universe=not hasattr(prices, "frame"))
    found = record(root, prices.sha256, trial_key(result.config.to_dict(), cls.__name__, params),
                   per_period_sharpe(result.strategy.returns), str(trial_dir))
    refresh_significance(result.metrics, result.strategy.returns, [t["sharpe"] for t in found])
    result.metrics["sweep"] = {"id": outcome.id, "params": trial.params, "seed": trial.seed,
                               "origin": outcome.origin, "folds": outcome.folds,
                               "folds_cached": outcome.folds_cached, "seconds": round(outcome.seconds, 3)}
    write_text(trial_dir / "config.toml", to_toml(result.config))
    if full_report:
        write_run_files(result)
    else:
        write_tables(result)
    write_json(trial_dir / "metrics.json", result.metrics)  # last: marks the trial finished
    return result.metrics["strategy"]["sharpe"]

