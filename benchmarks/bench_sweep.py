"""Sweep benchmark: 12 configurations x 2 seeds on the bundled MSFT with the reference settings.

Usage::

    python benchmarks/bench_speed.py            # (the single-run benchmark)
    python benchmarks/bench_sweep.py            # this one: about 10 min on 2 cores
    python benchmarks/bench_sweep.py --quick    # 2 x 2 trials on a short slice (a smoke test)

The reference settings are those of ``bench_speed.py`` (features logret, lookback 30, 32 units, batch 64,
Adam 1e-3, exactly 10 epochs per fold, expanding window from 756 bars, retrain every 126: 20 folds). The
grid varies the lookback (20, 30, 40), the hidden size (16, 32) and the strategy threshold (0, 0.0005):
12 configurations, each with 2 seeds, so 24 trials of which 12 train a walk-forward and 12 re-use the
predictions of the trial that differs from them only in threshold.

Each of ``--jobs 1``, ``--jobs 0`` (one worker per core) and the Ray backend (when Ray is installed) runs
the whole sweep into a fresh output folder, so every one starts with an empty fold cache; then the
``--jobs 0`` sweep is run again into its own folder to show what the fold cache saves. Printed for each:
wall seconds, trials that trained, read every fold from the cache, or re-used predictions, and the PBO and
SPA p-values (equal across backends). Timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from lstmtrade.config import Config
from lstmtrade.sweep.run import run_sweep

REFERENCE = dict(features=("logret",), lookback=30, hidden=32, layers=1, epochs=10, batch_size=64, lr=1e-3,
                 retrain_every=126, min_train=756, early_stopping=False, baselines=False)
GRID = {"lookback": [20, 30, 40], "hidden": [16, 32], "threshold": [0.0, 0.0005]}


def one(label: str, out: Path, config: Config, grid: dict, seeds: int, **options) -> dict:
    t0 = time.perf_counter()
    result = run_sweep(config, grid=grid, seeds=seeds, out=out, **options)
    seconds = time.perf_counter() - t0
    s = result.summary
    n = s["n_trials"]
    return {"run": label, "seconds": seconds, "trials": n, "trained": s["trained"], "cached": s["cached"],
            "reused": s["reused"], "cache share": s["cached"] / n, "PBO": s["pbo"],
            "SPA p vs zero": s["spa_pvalue_vs_zero"], "SPA p vs B&H": s["spa_pvalue_vs_benchmark"]}


def table(rows: list[dict]) -> None:
    keys = list(rows[0])
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)  # noqa: E731
    widths = [max(len(k), *(len(fmt(r[k])) for r in rows)) for k in keys]
    print("  ".join(k.rjust(w) for k, w in zip(keys, widths)))
    for r in rows:
        print("  ".join(fmt(r[k]).rjust(w) for k, w in zip(keys, widths)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 x 2 trials on MSFT up to 2004 (seconds)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    args = parser.parse_args()
    config, grid, seeds = Config(**REFERENCE), GRID, 2
    if args.quick:
        config = config.replace(end="2004-12-31", min_train=300, epochs=2)
        grid, seeds = {"lookback": [20, 30], "threshold": [0.0, 0.0005]}, 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cores} cores; grid {grid} x {seeds} seeds; reference settings {REFERENCE}")
    common = dict(reports="none")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows.append(one("local --jobs 1", root / "jobs1", config, grid, seeds, jobs=1, **common))
        rows.append(one("local --jobs 0", root / "jobs0", config, grid, seeds, jobs=0, **common))
        if not args.no_ray:
            try:
                import ray  # noqa: F401
            except ImportError:
                print("ray: skipped (not installed)")
            else:
                rows.append(one("ray", root / "ray", config, grid, seeds, backend="ray", **common))
        rows.append(one("local --jobs 0, again (warm fold cache)", root / "jobs0", config, grid, seeds, jobs=0,
                        **common))
    table(rows)


if __name__ == "__main__":
    main()
