"""Training many folds (and seed-ensemble members) at once: threads for the native engine, whose C kernel
releases the GIL, and worker processes (one torch thread each) for the loop engine.

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


