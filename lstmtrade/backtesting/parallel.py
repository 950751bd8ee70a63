"""A run's independent backtests on separate cores: the strategy, the benchmark, each baseline's strategy and
each seed member trade the same prices with different forecasts, and on a large universe each is a Backtrader
loop of a minute or more. They then run in worker processes (the prices sent to each worker once), so a
2-core machine runs two at a time; the results are those of the same call made here, since each is the same
deterministic computation.

Worker processes are used with ``--jobs 2`` or more (each costs a copy of the prices and its own backtest's
memory, so the default keeps to one process), only when a backtest is long (a worker takes a second or two
to start and to receive the prices), and only for strategies that a fresh process can import: the built-in
rules (a user's class from a file or a notebook could not be found there). Anything else runs here, one
backtest at a time, as before.
"""
from __future__ import annotations

import contextlib
from concurrent.futures import Future
from typing import Any, Callable, Iterator

MIN_FEED_BARS = 150_000  # tickers x out-of-sample bars from which a worker pays for its start (a backtest of ~10 s)

_PRICES: Any = None  # a worker's copy of the prices, set once by _init_worker


def _init_worker(prices: Any) -> None:
    import signal

    global _PRICES
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops the workers
    _PRICES = prices


def _in_worker(function: Callable, args: tuple) -> Any:
    return function(_PRICES, *args)


class Backtests:
    """Submit ``function(prices, *args)`` calls; each returns a Future. ``workers`` 0: run each call at once, here."""

    def __init__(self, prices: Any, workers: int = 0):
        self.prices, self.workers, self.pool = prices, workers, None
        if workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's threads
            self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                            initargs=(prices,))

    def submit(self, function: Callable, *args: Any) -> Future:
        if self.pool is not None:
            return _Fallback(self.pool.submit(_in_worker, function, args), function, self.prices, args)
        done: Future = Future()
        done.set_result(function(self.prices, *args))
        return done

    def close(self, finished: bool) -> None:
        if self.pool is None:
            return
        running = [] if finished else list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=finished, cancel_futures=True)
        for process in running:  # Ctrl-C or an error: stop the workers now, not after their backtests
            process.terminate()
            process.join()


class _Fallback:
    """A worker's Future whose ``result()`` runs the call here if the worker process died (killed for memory,
    say): a slower run, never a lost one."""

    def __init__(self, future: Future, function: Callable, prices: Any, args: tuple):
        self.future, self.function, self.prices, self.args = future, function, prices, args

    def result(self) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self.future.result()
        except BrokenProcessPool:
            return self.function(self.prices, *self.args)


def worth_workers(tickers: int, bars: int, strategy: type, jobs: int) -> int:
    """Worker processes for a run's backtests: ``jobs`` (``--jobs`` 2 or more) for a large universe traded by a
    strategy a worker can import, else 0 (here, one at a time). Each worker holds its own copy of the prices
    and its backtest (about 0.5 GB for 1,000 tickers x 500 days), so the default (``--jobs 0``) keeps them in
    this process: memory first; ``--jobs 2`` on two cores runs two backtests at once."""
    if jobs < 2 or tickers * bars < MIN_FEED_BARS or not strategy.__module__.startswith("lstmtrade."):
        return 0
    return jobs


@contextlib.contextmanager
def backtests(prices: Any, workers: int) -> Iterator[Backtests]:
    pool = Backtests(prices, workers)
    finished = False
    try:
        yield pool
        finished = True
    finally:
        pool.close(finished)
