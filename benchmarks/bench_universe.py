"""Universe benchmark: the default universe run on the bundled sample, and the pooled reference workload.

Usage::

    python benchmarks/bench_universe.py                    # both sections (several minutes on 2 cores)
    python benchmarks/bench_universe.py --skip-default     # the reference workload only
    python benchmarks/bench_universe.py --dev-file PATH    # another panel CSV for the reference workload

Sections:

(a) ``lstmtrade.run(data="sample:SP500")`` with every default (pooled LSTM, TopK, baselines, report):
    each stage's seconds from ``metrics["timings"]``.
(b) the pooled reference workload on the whole S&P 500 dev file (252 tickers, 2013-2018): features
    ("logret",), lookback 30, one LSTM layer of 32 units, exactly 10 epochs (no early stopping), batch
    512, min_train 504, retrain every 126 bars; trained by the engine ``auto`` picks with one fold per
    core, and with one fold at a time: seconds, pooled training windows, achieved GFLOP/s and the float32
    512x512 matmul GFLOP/s of this process on the same threads. FLOPs as in ``bench_speed.py``:
    3 x 2 (F x 4H + H x 4H) x T per training window per epoch.

Timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from bench_speed import matmul_gflops

import lstmtrade
from lstmtrade.config import Config
from lstmtrade.data.panel import load_universe
from lstmtrade.forecast.engines import resolve_engine
from lstmtrade.forecast.walkforward import walk_forward_predict

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_2013_2018_dev.csv.gz"
REFERENCE = dict(features=("logret",), lookback=30, hidden=32, layers=1, epochs=10, batch_size=512,
                 min_train=504, retrain_every=126, early_stopping=False, baselines=False)


def reference(path: Path, jobs: int) -> None:
    t0 = time.perf_counter()
    universe = load_universe(str(path))
    load = time.perf_counter() - t0
    config = Config(**REFERENCE, jobs=jobs)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    used = cores if jobs == 0 else jobs
    torch.set_num_threads(1)
    peak1 = matmul_gflops()
    torch.set_num_threads(used)
    peak = matmul_gflops()
    t0 = time.perf_counter()
    result = walk_forward_predict(universe, config)
    seconds = time.perf_counter() - t0
    windows = sum(f["samples_fit"] for f in result.folds)
    F, H, T = 1, config.hidden, config.lookback
    flops = 3 * 2 * (F * 4 * H + H * 4 * H) * T * windows * config.epochs
    frame = result.frame
    print(f"\n== reference workload, {path.name}: {len(universe.tickers)} tickers used, loaded in {load:.1f} s")
    print(f"engine {resolve_engine(config)}, {used} fold(s) at a time; {len(result.folds)} folds, "
          f"{windows:,} training windows x {config.epochs} epochs, {len(frame):,} predictions")
    print(f"seconds {seconds:.1f}; {flops / 1e9:.0f} GFLOP -> {flops / seconds / 1e9:.1f} GFLOP/s; "
          f"float32 matmul here: {peak:.0f} GFLOP/s on {used} thread(s), {peak1:.0f} on 1 "
          f"({100 * flops / seconds / 1e9 / peak:.0f} % of the {used}-thread figure)")


def default_run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = lstmtrade.run(data="sample:SP500", out=tmp)
        wall = time.perf_counter() - t0
    m = result.metrics
    print("\n== default universe run: lstmtrade.run(data='sample:SP500')")
    print(f"{m['universe']['traded']} tickers traded, {m['backtest']['days']} days, {m['backtest']['folds']} folds; "
          f"wall {wall:.1f} s")
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in m["timings"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev-file", type=Path, default=DEV)
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs")
    if not args.skip_default:
        default_run()
    if not args.skip_reference:
        reference(args.dev_file, jobs=0)
        reference(args.dev_file, jobs=1)


if __name__ == "__main__":
    main()
