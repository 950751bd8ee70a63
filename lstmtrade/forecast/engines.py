"""The one place that picks how LSTM folds are trained: the device, the engine and how many folds at once.

- device: ``cpu``, ``cuda``, or ``auto`` made concrete by :func:`choose_device` (:func:`resolve_auto_device`
  for a run, with the reason printed at start-up); :func:`resolve_device` gives torch's device;
- engine: ``loop`` (torch), ``native`` (the C kernel) or ``fused`` (all folds as one batched computation),
  :func:`resolve_engine`;
- jobs: folds trained at once, :func:`resolve_jobs`.
"""
from __future__ import annotations

import os
from typing import Any

from ..config import Config
from ..errors import ConfigError


def resolve_engine(config: Config, model: str | None = None) -> str:
    """The engine that trains this config's LSTM folds: ``loop``, ``native`` or ``fused``.

    ``auto`` is ``native`` where the C kernel builds on this machine and supports the network (one LSTM
    layer, hidden size a multiple of 8, on the CPU), else ``loop``; on a CUDA device it is ``fused``
    where that engine applies (one layer, a fixed number of epochs), else ``loop``. On the reference workload of a
    2-core CPU the native engine measured about twice as fast as the loop per fold; the fused engine
    (all folds as one batched torch computation) measured slower than the loop there, so ``auto`` never
    picks it. Asking for ``native`` or ``fused`` with a config it cannot train raises ConfigError.
    """
    model = model or config.model
    if model != "lstm" or config.engine == "loop":
        return "loop"
    if config.engine == "auto" and device_type(config.device) == "cuda":
        from .fused import unsupported

        # measured on an H200: the fused engine took 9.1 s where the loop took 16.0 s (reference workload)
        return "loop" if unsupported(config.replace(model=model)) else "fused"
    if config.engine == "fused":
        from .fused import unsupported

        why = unsupported(config.replace(model=model))
        if why:
            raise ConfigError(f"--engine fused: {why}; use --engine loop or auto")
        return "fused"
    from . import native

    why = native.unsupported(config.layers, config.hidden, device_type(config.device)) or native.unavailable()
    if why is None:
        return "native"
    if config.engine == "native":
        raise ConfigError(f"--engine native: {why}; use --engine loop or auto")
    return "loop"


GPU_HIDDEN = 64  # from this many units, or with 2+ layers, --device auto trains on a GPU
GPU_TICKERS = 20  # a universe of this many tickers has enough windows per fold to keep a GPU busy


def choose_device(config: Config, tickers: int = 1) -> tuple[str, str]:
    """``(cpu | cuda, why)`` for ``--device auto``: the GPU only where it pays.

    Measured on an H200 machine with 16 cores: the default run (one layer of 32 units, one ticker) took
    7.2 s on CUDA (4 s of it CUDA start-up) against 3.7 s in the C kernel on the CPU, while a 2-layer,
    128-unit network with lookback 60 took 5.1 s on CUDA against 32.0 s on the CPU. So a small
    one-layer network stays on the CPU, and a bigger network or a pooled universe goes to the GPU.
    """
    if config.device != "auto":
        return config.device, "as asked"
    import torch

    if not torch.cuda.is_available():
        return "cpu", "no CUDA GPU here"
    if config.model != "lstm":
        return "cpu", f"the {config.model} baseline needs no GPU"
    big = config.layers > 1 or config.hidden >= GPU_HIDDEN
    if big or tickers >= GPU_TICKERS:
        what = (f"{config.layers} layers of {config.hidden} units" if big else f"{tickers} tickers pooled")
        return "cuda", f"{what}: the GPU's throughput pays for its start-up"
    return "cpu", (f"a one-layer {config.hidden}-unit network on {tickers} ticker(s) trains faster in the C "
                   "kernel on the CPU than on the GPU (CUDA start-up and per-step launches dominate)")


def device_type(name: str) -> str:
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def resolve_jobs(config: Config, engine: str, folds: int | None = None) -> int:
    """How many folds train at once: ``config.jobs``, or for 0 one per CPU core with the native engine
    (threads cost nothing to start) and 1 otherwise (a worker process takes seconds to start)."""
    jobs = config.jobs
    if jobs == 0:
        jobs = cpu_cores() if engine == "native" else 1
    return max(1, min(jobs, folds)) if folds else max(1, jobs)



def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def resolve_device(name: str) -> Any:
    """torch's device for ``--device``: ``cpu``, ``cuda`` (refused without a CUDA GPU), or ``auto``."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is available to torch here; use --device cpu or auto")
    return torch.device(name)


def resolve_auto_device(config: Config, tickers: int) -> tuple[Config, str | None]:
    """``--device auto`` made concrete (``cpu`` or ``cuda``) for data of ``tickers`` tickers, with the reason for
    the start-up lines."""
    if config.device != "auto":
        return config, None
    device, why = choose_device(config, tickers)
    return config.replace(device=device), f"auto: {why}"
