"""Training many folds (and seed-ensemble members) at once: threads for the native engine, whose C kernel
releases the GIL, worker processes (one torch thread each) for the loop engine, and Ray tasks for
``--backend ray`` (:func:`on_ray`, through the one adapter :mod:`lstmtrade.forecast.ray_backend`).

Every job is one network: a fold's rows and the member's one-seed config. A job's result does not depend on
which thread or process trained it, nor on how many ran beside it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from ..config import Config, Progress
from .folds import FoldData
from .lstm import LSTM
from .workers import process_pool, sigterm_as_interrupt, stop_pool


@dataclass
class Job:
    """One network to train: a fold's rows and the member's one-seed config (seed + member)."""

    data: FoldData
    member: int
    config: Config

    @property
    def key(self) -> tuple[int, int]:
        return self.data.fold.index, self.member


def member_progress(progress: Progress | None, member: int, ensemble: bool) -> Progress | None:
    """``progress`` with the member's number added to each event (for a seed ensemble)."""
    if progress is None or not ensemble:
        return progress
    return lambda event: progress({**event, "member": member})


def _worker_fold(data: FoldData, config: Config):
    """One fold (one member) in a worker process (one torch thread, so workers don't fight over cores)."""
    t0 = time.perf_counter()
    state = LSTM.setup(config.replace(threads=1))
    values, info = LSTM.fit_predict(data, config, state, None)
    return values, info, time.perf_counter() - t0


def in_processes(jobs_list: list[Job], jobs: int):
    """Train (fold, member) jobs in ``jobs`` processes, largest first; yield results as they finish.

    The workers live exactly as long as this generator (:mod:`lstmtrade.forecast.workers`): SIGTERM stops the
    run like Ctrl-C, and a worker whose driver was killed ends by itself."""
    from concurrent.futures import as_completed

    pool = process_pool(jobs)
    finished = False
    with sigterm_as_interrupt():
        try:
            futures = {pool.submit(_worker_fold, job.data, job.config): job
                       for job in sorted(jobs_list, key=lambda j: -j.data.n_fit)}
            for future in as_completed(futures):
                values, info, seconds = future.result()
                yield futures[future], values, info, seconds
            finished = True
        finally:
            stop_pool(pool, finished)


def in_threads(jobs_list: list[Job], jobs: int, state: Any, progress: Progress | None, ensemble: bool):
    """Train (fold, member) jobs in ``jobs`` threads (native engine), largest first; yield results as they
    finish.

    Each job's training is one single-threaded C call that releases the GIL, so threads run folds and
    members in parallel without new processes; a job's result does not depend on which thread trained it.
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    def one(job: Job):
        t0 = time.perf_counter()
        values, info = LSTM.fit_predict(job.data, job.config, state, member_progress(progress, job.member, ensemble))
        return values, info, time.perf_counter() - t0

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="lstmtrade-fold")
    finished = False
    try:
        futures = {pool.submit(one, job): job for job in sorted(jobs_list, key=lambda j: -j.data.n_fit)}
        for future in as_completed(futures):
            values, info, seconds = future.result()
            yield futures[future], values, info, seconds
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=True)


def serialised(progress: Progress) -> Progress:
    """``progress`` called by one thread at a time."""
    lock = threading.Lock()

    def report(event: dict) -> None:
        with lock:
            progress(event)

    return report


@dataclass
class RayTask:
    """What one Ray task trains: one fold of one member, or (fused engine) a group of a member's folds trained
    together exactly as locally. The rows are rebuilt in the worker from the features in the object store."""

    folds: list  # Fold
    member: int
    config: Config  # the member's config, engine and threads made concrete by the driver
    first: int  # first row a window may end at
    lookback: int
    fused: bool = False


def _ray_task(task: RayTask, series: Any) -> list[tuple[Any, dict, float]]:
    """``(values, info, seconds)`` per fold of ``task``, in a Ray worker (its own torch threads, one per CPU)."""
    from .folds import fold_pieces

    t0 = time.perf_counter()
    datas = [FoldData(fold, lookback=task.lookback, pieces=fold_pieces(fold, series, task.first)) for fold in task.folds]
    state = LSTM.setup(task.config)
    if task.fused:
        return [(values, info, share) for values, info, share in LSTM.fit_predict_all(datas, task.config, state, None)]
    values, info = LSTM.fit_predict(datas[0], task.config, state, None)
    return [(values, info, time.perf_counter() - t0)]


def on_ray(jobs_list: list[Job], series: Any, first: int, engine: str, config: Config):
    """Train (fold, member) jobs as Ray tasks, largest first; yield ``(job, values, info, seconds)`` as they finish.

    The features of every ticker (``series``) go into the object store once; each task takes its fold's rows
    from them. Tasks run the engine the driver resolved (a worker that cannot build the native kernel fails
    with that reason rather than train another way) with ``threads`` torch threads (1 by default, one CPU
    each), so each fold's forecasts equal a local run's. With the fused engine a task is one of a member's
    fixed groups of folds, as grouped locally. ``config.jobs`` caps the tasks in flight (0: Ray decides).
    """
    from .engines import device_type
    from .fused import GROUP
    from .ray_backend import run_tasks

    by_key = {job.key: job for job in jobs_list}
    fused = engine == "fused"
    threads = config.threads or 1
    tasks = []
    for member in sorted({job.member for job in jobs_list}):
        mine = [job for job in jobs_list if job.member == member]
        if not fused:
            mine.sort(key=lambda j: -j.data.n_fit)
        size = GROUP if fused else 1
        for lo in range(0, len(mine), size):
            group = mine[lo: lo + size]
            member_config = group[0].config.replace(engine=engine, threads=threads)
            tasks.append(RayTask([job.data.fold for job in group], member, member_config, first,
                                 group[0].data.lookback, fused))
    gpus = 1 if device_type(config.device) == "cuda" else 0
    for task, results in run_tasks(_ray_task, tasks, series, workers=config.jobs, num_cpus=threads, num_gpus=gpus,
                                   address=config.ray_address):
        for fold, (values, info, seconds) in zip(task.folds, results):
            yield by_key[(fold.index, task.member)], values, info, seconds


def _ray_member(item: tuple[int, Config], data: FoldData) -> Any:
    from .lstm import fit_lstm_fold

    return fit_lstm_fold(data, item[1])


def members_on_ray(data: FoldData, configs: list[Config], engine: str, config: Config) -> list[Any]:
    """One fold's members (``lstmtrade train``), each a Ray task: their FittedFolds, in member order."""
    from .engines import device_type
    from .ray_backend import run_tasks

    threads = config.threads or 1
    configs = [c.replace(engine=engine, threads=threads) for c in configs]
    gpus = 1 if device_type(config.device) == "cuda" else 0
    done = {item[0]: fitted for item, fitted in run_tasks(
        _ray_member, list(enumerate(configs)), data, workers=config.jobs, num_cpus=threads, num_gpus=gpus,
        address=config.ray_address)}
    return [done[m] for m in range(len(configs))]
