"""The one Ray adapter: joining or starting a cluster, one shared object in its store, tasks in flight, retries.

Used by the walk-forward (``--backend ray``: each fold and seed member a task, :mod:`lstmtrade.forecast.parallel`)
and by sweeps (each group of trials a task, :mod:`lstmtrade.sweep.execute`), so both start, stop and fail the
same way:

- Ray is imported only here and only when asked for; without it, one line with the install hint;
- :func:`session` joins ``address`` (``auto``, or ``host:port`` of ``ray start --head``) or starts Ray on this
  machine, and stops only a Ray it started, so a notebook's own ``ray.init()`` and a caller's session (the
  audit's many walk-forwards) are reused rather than restarted;
- :func:`run_tasks` puts the shared object (the panel's features, a sweep's prices) in the object store once,
  keeps at most ``workers`` tasks in flight, yields each result as it finishes, and on Ctrl-C or an error
  cancels what is still pending. A task whose worker process dies (a lost node, an out-of-memory kill) is
  run again, up to ``retries`` times (Ray's ``max_retries``); an exception raised by the task itself is not
  retried: it would fail again.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator

from ..errors import ConfigError, LstmtradeError

RETRIES = 3  # runs of a task whose worker died, after the first


def check(config: Any) -> None:
    """Stop now, with the install hint, when ``config`` asks for Ray and it is not installed."""
    if config.backend == "ray":
        _ray()


def session_for(config: Any) -> contextlib.AbstractContextManager:
    """One Ray session for everything inside it when ``config`` asks for Ray (the audit's many walk-forwards
    share it instead of starting Ray for each), else nothing."""
    return session(config.ray_address) if config.backend == "ray" and config.model == "lstm" else \
        contextlib.nullcontext()


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError('--backend ray needs Ray: pip install "lstmtrade[ray]"') from None
    return ray


@contextlib.contextmanager
def session(address: str | None = None, option: str = "--ray-address") -> Iterator[Any]:
    """Ray, joined at ``address`` or started here (stopped on exit only if started here)."""
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except ConnectionError as exc:  # no cluster there, or one that wants a token (RAY_AUTH_MODE=token)
            raise ConfigError(f"{option} {address}: {str(exc).splitlines()[0]}") from None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def run_tasks(function: Callable, items: Iterable[Any], shared: Any, *, workers: int = 0,
              retries: int = RETRIES, num_cpus: float = 1, num_gpus: float = 0, address: str | None = None,
              option: str = "--ray-address") -> Iterator[tuple[Any, Any]]:
    """``(item, function(item, shared))`` for every item, each call a Ray task, in the order they finish.

    ``shared`` goes into the object store once and reaches every task as the same object (numpy arrays in it
    are read in place, read-only). ``workers``: tasks in flight at most (0: all, Ray schedules them).
    """
    items = list(items)
    with session(address, option) as ray:
        remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=retries)(function)
        shared_ref = ray.put(shared)
        limit = workers if workers > 0 else max(1, len(items))
        queue, pending = list(items), {}
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    item = queue.pop(0)
                    pending[remote.remote(item, shared_ref)] = item
                done, _ = ray.wait(list(pending), num_returns=1)
                item = pending.pop(done[0])
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayTaskError as exc:  # our own errors stay one line (exit 2)
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, LstmtradeError):
                        raise cause from None
                    raise
                yield item, result
        finally:
            for ref in pending:  # Ctrl-C, an error, or the caller stopped early
                ray.cancel(ref, force=True)
