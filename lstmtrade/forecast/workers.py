"""Worker processes, the one place that starts them and makes sure they end with the run that started them.

Two pools use it: the loop engine's folds (:func:`lstmtrade.forecast.parallel.in_processes`) and a sweep's
trials (:mod:`lstmtrade.sweep.execute`). Each holds a few hundred MB per worker, so a worker must never
outlive its driver:

- the driver stops its workers when it stops for any reason it can see: a result, an error, Ctrl-C, and
  SIGTERM, which :func:`sigterm_as_interrupt` turns into the same ``KeyboardInterrupt`` as Ctrl-C while a pool
  runs (so ``kill PID`` stops a run the way Ctrl-C does: workers ended, finished folds kept, exit 130);
- a worker ignores Ctrl-C (the terminal sends it to the whole process group; the driver decides) and watches
  its parent: a thread polls ``os.getppid()`` every :data:`PARENT_POLL` seconds and ends the worker as soon as
  the parent is gone (``kill -9`` of the driver, a crash, an out-of-memory kill), which no signal handler in
  the driver can see. Polling the parent's id works the same on Linux and macOS (an orphan is re-parented to
  init, launchd or a subreaper, so its parent id changes), where ``PR_SET_PDEATHSIG`` exists on Linux only.

When the workers are gone, multiprocessing's resource tracker, which they kept open, ends too.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any, Callable, Iterator

PARENT_POLL = 0.5  # seconds between a worker's looks at its parent


def process_pool(workers: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Any:
    """A ``ProcessPoolExecutor`` of ``workers`` spawned processes that die with this one (module docstring).

    Spawned, not forked: forking a process that holds torch's threads can deadlock the child."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=start_worker,
                               initargs=(os.getpid(), initializer, initargs))


def start_worker(parent: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    """First thing in each worker: leave Ctrl-C to the driver, watch the parent, then the pool's own set-up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def watch_parent(parent: int, every: float = PARENT_POLL) -> threading.Thread | None:
    """End this process as soon as its parent ``parent`` is gone (checked now, then every ``every`` seconds)."""
    if os.getppid() != parent:
        os._exit(1)  # the driver died while this worker was starting
    thread = threading.Thread(target=_watch, args=(parent, every), name="lstmtrade-parent-watch", daemon=True)
    thread.start()
    return thread


def _watch(parent: int, every: float) -> None:
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(1)  # no cleanup to do: the driver owned every file this worker's results went to


def stop_pool(pool: Any, finished: bool) -> None:
    """Shut ``pool`` down: after a complete run, wait for it; otherwise (Ctrl-C, SIGTERM, an error) end its
    workers now rather than after the jobs they are running."""
    running = [] if finished else list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=finished, cancel_futures=True)
    for process in running:
        process.terminate()
    for process in running:
        process.join(timeout=10)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``KeyboardInterrupt`` in the main thread, as Ctrl-C does.

    Only from the main thread (where Python runs signal handlers), and only where SIGTERM still has its
    default action: an application that handles SIGTERM itself keeps its handler."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupt(signum: int, frame: Any) -> None:
    """A SIGTERM handler: stop the way Ctrl-C stops."""
    raise KeyboardInterrupt(f"signal {signum}")
