"""GPU benchmark: the pooled LSTM on the 252-ticker dev universe, CUDA (engine auto) against the CPU.

Usage (on a machine with a CUDA GPU and torch built for it; needs the repository for the dev file)::

    python benchmarks/bench_gpu_universe.py                  # every case, about 4-6 minutes on an H200 machine
    python benchmarks/bench_gpu_universe.py --epochs 20      # the default epochs (longer)
    python benchmarks/bench_gpu_universe.py --cases cuda cpu2

The workload is the forecast stage of a default universe run, ``lstmtrade backtest --data DEV`` (six
features, lookback 20, one layer of 32 units, batch 128, early stopping on a purged validation tail), with at
most ``--epochs`` epochs (default 5, so the whole script fits in a few minutes), timed around
:func:`lstmtrade.forecast.walkforward.walk_forward_predict` (features, every fold's training and prediction).
Each case runs in a fresh child process, so CUDA start-up is paid once per case, as in a real run:

- ``cuda``: ``--device cuda --engine auto`` (the loop engine: early stopping rules out the fused one);
- ``cuda-fused``: the same with ``--no-early-stopping`` (exactly ``--epochs`` epochs), where auto picks fused;
- ``cpu``: ``--device cpu --engine auto`` (the native C kernel, one fold per core) on every core here;
- ``cpu2``: the same pinned to 2 cores (``sched_setaffinity``), as on the 2-core machine the figures in the
  README come from;
- ``cpu2-fixed``: ``cpu2`` with ``--no-early-stopping``, the CPU side of ``cuda-fused``.

Printed per case: seconds, of which CUDA start-up, training windows, predictions, and the largest difference
of its forecasts from the ``cpu`` case's (engines agree to float32 rounding, not bit for bit). Then which
device ``--device auto`` picks today for this run (:func:`lstmtrade.forecast.engines.choose_device`) and which
one was faster. Timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV = next((p for p in (ROOT / "shared", ROOT.parent / "shared", ROOT.parent.parent / "shared", Path("/work/shared"))
            if (p / "data" / "sp500_2013_2018_dev.csv.gz").exists()), ROOT / "shared") / "data" / "sp500_2013_2018_dev.csv.gz"
CASES = {
    "cuda": dict(device="cuda"),
    "cuda-fused": dict(device="cuda", early_stopping=False),
    "cpu": dict(device="cpu"),
    "cpu2": dict(device="cpu", cores=2),
    "cpu2-fixed": dict(device="cpu", cores=2, early_stopping=False),
}


def child(case: str, data: Path, epochs: int, out: Path) -> None:
    """One case in this process: time the walk-forward, write its figures and forecasts to ``out``."""
    spec = dict(CASES[case])
    cores = spec.pop("cores", None)
    if cores:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    import torch

    from lstmtrade.config import Config
    from lstmtrade.data.panel import load_universe
    from lstmtrade.forecast.engines import resolve_engine, resolve_jobs
    from lstmtrade.forecast.walkforward import walk_forward_predict

    if cores:
        torch.set_num_threads(cores)
    universe = load_universe(str(data))
    config = Config(epochs=epochs, **spec)
    start = 0.0
    t0 = time.perf_counter()
    if config.device == "cuda":
        torch.zeros(1, device="cuda")  # CUDA start-up, timed apart and counted in the total
        torch.cuda.synchronize()
        start = time.perf_counter() - t0
    predictions = walk_forward_predict(universe, config)
    if config.device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    engine = resolve_engine(config)
    predictions.frame.to_pickle(out / f"{case}.pkl")
    (out / f"{case}.json").write_text(json.dumps({
        "seconds": seconds, "cuda_start": start, "engine": engine, "jobs": resolve_jobs(config, engine),
        "cores": len(os.sched_getaffinity(0)), "folds": len(predictions.folds), "tickers": len(universe.tickers),
        "windows": sum(f.get("samples_fit", 0) for f in predictions.folds), "predictions": len(predictions.frame),
        "epochs_run": [f.get("epochs_run") for f in predictions.folds],
        "gpu": torch.cuda.get_device_name(0) if config.device == "cuda" else None, "torch": torch.__version__}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEV, help="the panel (default: the 252-ticker dev file)")
    parser.add_argument("--epochs", type=int, default=5, help="most epochs per fold (the default run has 20)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--out", type=Path, default=Path("/tmp/lstmtrade-gpu-bench"), help="figures and forecasts")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args.child, args.data, args.epochs, args.out)
        return
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU visible to torch here: the cuda cases will fail (torch "
              f"{torch.__version__}, built for CUDA {torch.version.cuda})")
    print(f"{args.data.name}, at most {args.epochs} epochs, default settings otherwise; "
          f"{len(os.sched_getaffinity(0))} cores here; torch {torch.__version__}")
    print(f"{'case':>11} {'seconds':>8} {'CUDA start':>10} {'engine':>7} {'jobs':>5} {'cores':>5} "
          f"{'windows':>10} {'max |diff| vs cpu':>18}")
    results = {}
    for case in args.cases:
        done = subprocess.run([sys.executable, __file__, "--child", case, "--data", str(args.data),
                               "--epochs", str(args.epochs), "--out", str(args.out)])
        if done.returncode:
            print(f"{case:>11} failed (exit status {done.returncode})", flush=True)
            continue
        r = results[case] = json.loads((args.out / f"{case}.json").read_text())
        diff = ""
        if case != "cpu" and (args.out / "cpu.pkl").exists():
            import pandas as pd

            a, b = pd.read_pickle(args.out / f"{case}.pkl"), pd.read_pickle(args.out / "cpu.pkl")
            diff = f"{(a['prediction'] - b['prediction']).abs().max():.2e}"
        print(f"{case:>11} {r['seconds']:>8.1f} {r['cuda_start']:>10.1f} {r['engine']:>7} {r['jobs']:>5} "
              f"{r['cores']:>5} {r['windows']:>10,} {diff:>18}", flush=True)
    if results:
        first = next(iter(results.values()))
        print(f"{first['tickers']} tickers, {first['folds']} folds, {first['predictions']:,} predictions; "
              f"epochs run per fold: " + ", ".join(f"{c} {r['epochs_run']}" for c, r in results.items()))
        gpu = next((r["gpu"] for r in results.values() if r["gpu"]), None)
        if gpu:
            print(f"GPU: {gpu}")
        from lstmtrade.config import Config
        from lstmtrade.forecast.engines import choose_device

        picked, why = choose_device(Config(device="auto"), first["tickers"])
        print(f"--device auto picks today: {picked} ({why})")
        for gpu_case, cpu_case in (("cuda", "cpu2"), ("cuda", "cpu"), ("cuda-fused", "cpu2-fixed")):
            if gpu_case in results and cpu_case in results:
                g, c = results[gpu_case]["seconds"], results[cpu_case]["seconds"]
                faster = gpu_case if g < c else cpu_case
                print(f"{gpu_case} {g:.1f} s vs {cpu_case} {c:.1f} s: {faster} is {max(g, c) / min(g, c):.1f}x faster")


if __name__ == "__main__":
    main()
