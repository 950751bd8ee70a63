"""What a seed ensemble costs: the default run with --seeds 1 and --seeds 5, and the ratio.

Usage::

    python benchmarks/bench_seeds.py                 # each setting once (about a minute on 2 cores)
    python benchmarks/bench_seeds.py --repeat 3      # alternate the settings three times; medians
    python benchmarks/bench_seeds.py --seeds 1 3 5   # other ensemble sizes

Each run is ``lstmtrade backtest --seeds N --no-cache`` on the bundled MSFT in a fresh process (so the
import of torch, Backtrader and QuantStats is counted, as a user pays it), with everything else at its
default (baselines, report). The settings alternate, so drift in a shared machine's load spreads over
both. Printed per setting: the wall time of the command, and the stages recorded in metrics.json
(``forecast``: training all folds and members; ``members``: trading each member alone; ``report``:
tearsheet and comparison page; ``total``). Timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("forecast", "backtest", "baselines", "members", "report", "total")


def one_run(seeds: int, out: Path) -> dict[str, float]:
    cmd = [sys.executable, "-c", "from lstmtrade.cli import main; main()", "backtest", "--seeds", str(seeds),
           "--no-cache", "-q", "--out", str(out)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    folder = Path(done.stdout.strip()).parent
    timings = json.loads((folder / "metrics.json").read_text())["timings"]
    return {"wall": wall, **{k: float(timings.get(k, 0.0)) for k in STAGES}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 5], help="ensemble sizes to time")
    parser.add_argument("--repeat", type=int, default=1, help="runs per setting (medians are printed)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"default `lstmtrade backtest` on the bundled MSFT, --no-cache, fresh process each; {cores} CPU cores "
          f"(load average {load:.1f} at start); python {sys.version.split()[0]}")
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in args.seeds}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for n in args.seeds:
                runs[n].append(one_run(n, Path(tmp) / f"seeds{n}"))
    median = {n: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for n, rows in runs.items()}
    head = f"{'--seeds':>8}" + "".join(f"{k:>11}" for k in ("wall", *STAGES))
    print(head)
    for n, row in median.items():
        print(f"{n:>8}" + "".join(f"{row[k]:>11.2f}" for k in ("wall", *STAGES)))
    base = median[args.seeds[0]]
    for n in args.seeds[1:]:
        print(f"--seeds {n} / --seeds {args.seeds[0]}: wall {median[n]['wall'] / base['wall']:.2f}x, "
              f"forecast (training) {median[n]['forecast'] / base['forecast']:.2f}x "
              f"(medians of {args.repeat} run(s) each; a shared machine varies by about 20 %)")


if __name__ == "__main__":
    main()
