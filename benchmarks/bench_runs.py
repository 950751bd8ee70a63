"""Cost of finding runs again: `lstmtrade runs` (list_runs) and index.html (write_index), which every run and
sweep rewrites when it finishes, for a runs folder holding many runs.

    python benchmarks/bench_runs.py                      # 50 and 200 runs
    python benchmarks/bench_runs.py --runs 500 --repeat 5

One real run (the bundled MSFT to 2004, a tiny LSTM) is made in a temporary folder and copied under new
names (each a distinct start time) until the folder holds ``--runs`` runs; each copy is a whole run folder
(metrics.json, config.toml, positions.csv for the sparkline, the pages). Timings are the best of
``--repeat``, wall and CPU time in this process.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import lstmtrade
from lstmtrade.report.index import write_index
from lstmtrade.report.runs import list_runs

TINY = dict(end="2004-12-31", min_train=300, retrain_every=100, epochs=2, lookback=10, hidden=8, baselines=False)


def best(call, repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "reports"
        seed = lstmtrade.run(out=Path(tmp) / "seed", **TINY).folder
        start = datetime(2020, 1, 1)
        made = 0
        for count in sorted(args.runs):
            root.mkdir(exist_ok=True)
            while made < count:
                stamp = (start + timedelta(minutes=made)).strftime("%Y%m%d-%H%M%S")
                shutil.copytree(seed, root / f"{stamp}-MSFT-lstm", ignore=shutil.ignore_patterns("folds"))
                made += 1
            listed = len(list_runs(root))
            wall, cpu = best(lambda: list_runs(root), args.repeat)
            print(f"{listed:5d} runs: list_runs  {wall * 1000:7.1f} ms wall, {cpu * 1000:7.1f} ms CPU")
            wall, cpu = best(lambda: write_index(root), args.repeat)
            size = (root / "index.html").stat().st_size
            print(f"{listed:5d} runs: write_index {wall * 1000:6.1f} ms wall, {cpu * 1000:7.1f} ms CPU "
                  f"(index.html {size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
