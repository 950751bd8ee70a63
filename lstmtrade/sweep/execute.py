"""Running a sweep's trials: grouped into tasks that share one walk-forward, then run here, in local worker
processes, or as Ray tasks. :func:`execute` is the one place backends differ."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterator

from ..config import Config
from ..errors import ConfigError, LstmtradeError
from ..forecast.engines import cpu_cores
from ..forecast.workers import process_pool, sigterm_as_interrupt, stop_pool
from .plan import SweepPlan, Trial, training_key


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
    warnings: tuple[str, ...] = ()  # lines for the driver to show (a damaged cache entry, the cache turned off)


def run_task(task: Task, prices: Any) -> list[Outcome]:
    """Train once, then backtest every trial of the task. Runs in a worker, the driver, or a Ray task."""
    from ..forecast.cache import FoldCache
    from ..forecast.walkforward import walk_forward_predict
    from ..pipeline import rebacktest

    first = task.trials[0][1]
    if first.model == "lstm":
        import torch

        torch.set_num_threads(first.threads or 1)  # the trial's own threads, whatever process runs it
    notes: list[str] = []
    cache = FoldCache(task.cache, warn=notes.append) if task.cache and first.cache else None
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
        outcomes.append(Outcome(trial_id, origin, result, seconds, folds, hits, tuple(notes) if k == 0 else ()))
    return outcomes


def plan_tasks(plan: SweepPlan, todo: list[Trial], cache: str | None, jobs: int,
               backend: str) -> tuple[list[Task], int]:
    """Unfinished trials grouped by training key, and how many groups run at once.

    Each trial trains with its torch threads (1 unless ``threads`` is set) and, with the native engine
    (whose folds train in threads), as many folds at once as there are cores per worker.
    """
    from ..forecast.engines import resolve_engine

    groups: dict[str, list[tuple[str, Config]]] = {}
    for trial in todo:
        config = plan.trial_config(trial)
        groups.setdefault(training_key(config), []).append((trial.id, config))
    workers = resolve_workers(jobs, backend, len(groups) or 1)
    tasks = []
    for members in groups.values():
        engine = resolve_engine(members[0][1])
        folds_at_once = max(1, cpu_cores() // workers) if engine == "native" else 1
        # trials run where the sweep's backend puts them; their folds train where the trial runs
        tasks.append(Task([(i, c.replace(jobs=folds_at_once, threads=c.threads or 1, backend="local"))
                           for i, c in members], cache))
    return tasks, workers


def resolve_workers(jobs: int, backend: str, tasks: int) -> int:
    """Trials at once: ``jobs``, or one per core for 0 (local); with Ray 0 leaves it to Ray's scheduler."""
    if jobs < 0:
        raise ConfigError(f"--jobs must be a whole number >= 0 (got {jobs})")
    if backend == "ray":
        return max(1, min(jobs, tasks)) if jobs else max(1, tasks)
    return max(1, min(jobs or cpu_cores(), tasks))


_PRICES: Any = None  # a local worker's copy of the prices, set once by _init_worker


def _init_worker(prices: Any) -> None:
    global _PRICES
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
    """Tasks in local worker processes that live exactly as long as this generator
    (:mod:`lstmtrade.forecast.workers`: SIGTERM stops like Ctrl-C; a worker whose driver died ends itself)."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = process_pool(workers, _init_worker, (prices,))  # the prices go once per worker
    finished = False
    with sigterm_as_interrupt():
        try:
            pending = {pool.submit(_worker_task, task) for task in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
            finished = True
        except BrokenProcessPool:
            raise LstmtradeError("a sweep worker process died; rerun with --jobs 1 to see why (in a script, call "
                                 "run_sweep under `if __name__ == \"__main__\":`, as multiprocessing requires)") from None
        finally:
            stop_pool(pool, finished)  # Ctrl-C or an error: the workers stop now, not after their trials


def _execute_ray(tasks: list[Task], prices: Any, workers: int, address: str | None) -> Iterator[list[Outcome]]:
    """Each task a Ray task (:mod:`lstmtrade.forecast.ray_backend`): the prices in the object store once."""
    from ..forecast.ray_backend import run_tasks

    for _, outcomes in run_tasks(run_task, tasks, prices, workers=workers, address=address, option="--address"):
        yield outcomes
