"""Scale benchmark: peak memory and each stage's time of a whole run on synthetic universes.

Usage::

    python benchmarks/bench_scale.py                        # 250, 1,000 and 2,000 tickers x 1,300 days
    python benchmarks/bench_scale.py --tickers 250 1000     # some sizes only
    python benchmarks/bench_scale.py --format parquet       # the panel as one Parquet file (lstmtrade[parquet])
    python benchmarks/bench_scale.py --keep /tmp/scale      # keep the panels and run folders there

Each size is one ``lstmtrade backtest`` in a child process, exactly as a user types it, on a synthetic
long-format panel (random-walk OHLCV, one business-day calendar, every ticker on every day), with a small
model: ``--hidden 16 --epochs 2`` and every other setting at its default (lookback 20, six features, early
stopping, baselines, TopK, the report). Printed per size: the run's peak memory (``peak``: the RSS high-water
mark of its largest process, ``os.wait4``'s ``ru_maxrss``; ``all``: the largest sum of the RSS of the run and
the worker processes it starts, sampled every 0.2 s from /proc, which is what the machine must hold), its wall
time, and each stage's seconds from the run's ``metrics.json`` ``timings``.

Then the projection for 3,000 tickers x 5,000 days (a Russell 3000 over 20 years, 15 million rows): peak
memory by a straight line through the measured (rows, peak) points; the data, backtest, baselines and report
stages in proportion to rows; the forecast stage in proportion to training windows x epochs (with an
expanding window they grow with the square of the days: the schedule is counted, not guessed). A projection,
not a measurement: say so wherever it is quoted.

Memory figures do not depend on what else runs on the machine; timings do (a shared machine is noisy).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SETTINGS = ["--hidden", "16", "--epochs", "2"]
STAGES = ("data", "forecast", "backtest", "baselines", "report")
TARGET = (3000, 5000)


def synthetic_panel(tickers: int, days: int, seed: int = 0) -> pd.DataFrame:
    """Random-walk OHLCV for ``tickers`` tickers on ``days`` business days, long format (what a user's panel is)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2000-01-03", periods=days)
    vol = rng.uniform(0.01, 0.03, tickers)
    close = 20.0 * np.exp(np.cumsum(rng.normal(0.0002, vol, (days, tickers)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.3 * vol, (days, tickers)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.3 * vol, (days, tickers))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.3 * vol, (days, tickers))))
    volume = np.round(rng.lognormal(13, 0.5, (days, tickers)))
    names = np.array([f"T{j:04d}" for j in range(tickers)])
    return pd.DataFrame({
        "Date": np.tile(dates.strftime("%Y-%m-%d").to_numpy(), tickers),
        "Ticker": np.repeat(names, days),
        **{col: values.T.ravel().round(4) for col, values in
           (("Open", open_), ("High", high), ("Low", low), ("Close", close))},
        "Volume": volume.T.ravel(),
    })


def write_panel(tickers: int, days: int, folder: Path, fmt: str) -> Path:
    frame = synthetic_panel(tickers, days)
    if fmt == "parquet":
        path = folder / f"panel-{tickers}x{days}.parquet"
        frame.to_parquet(path, index=False)
    else:
        path = folder / f"panel-{tickers}x{days}.csv"
        frame.to_csv(path, index=False)
    return path


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and every process below it, now (Linux /proc; 0 elsewhere)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, todo = set(), [pid]
    while todo:
        p = todo.pop()
        tree.add(p)
        todo.extend(c for c, parent in parents.items() if parent == p and c not in tree)
    total = 0
    for p in tree:
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total


def run_child(data: Path, out: Path, extra: list[str]) -> tuple[float, float, float, int]:
    """``lstmtrade backtest`` in a child process: (peak RSS of the child, peak RSS summed over the child and any
    worker processes it starts, sampled every 0.2 s, both in bytes; wall seconds; exit status)."""
    import threading

    command = [sys.executable, "-c", "from lstmtrade.cli import main; main()", "backtest", "--data", str(data),
               "--out", str(out), "--quiet", *SETTINGS, *extra]
    t0 = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    summed, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            summed[0] = max(summed[0], tree_rss(child.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    done.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * 1024.0  # KiB on Linux; the largest of the child and the processes it waited for
    return peak, max(summed[0], peak), time.perf_counter() - t0, child.returncode


def training_windows(days: int) -> int:
    """Training windows (fit + validation rows) of one ticker over every fold, at the default schedule."""
    from lstmtrade.config import Config
    from lstmtrade.features import warmup
    from lstmtrade.splits import WalkForward

    c = Config()
    first = warmup(c.features)
    folds = WalkForward(c.min_train, c.retrain_every, c.train_window, c.lookback, c.val_fraction).split(days, first)
    return sum(len(f.fit) + len(f.val) for f in folds)


def project(rows: list[dict], tickers: int, days: int) -> dict:
    """Peak memory (summed over processes) on a line through (rows, peak); stages scaled by rows (forecast: by training windows)."""
    x = np.array([r["tickers"] * r["days"] for r in rows], dtype=float)
    peak = np.array([r["peak"] for r in rows])
    slope, intercept = np.polyfit(x, peak, 1) if len(rows) > 1 else (peak[0] / x[0], 0.0)
    target_rows = tickers * days
    largest = max(rows, key=lambda r: r["tickers"] * r["days"])
    scale = target_rows / (largest["tickers"] * largest["days"])
    windows = tickers * training_windows(days) / (largest["tickers"] * training_windows(largest["days"]))
    stages = {s: largest["timings"].get(s, 0.0) * (windows if s == "forecast" else scale) for s in STAGES}
    return {"peak": intercept + slope * target_rows, "per_million_rows": slope * 1e6, "stages": stages,
            "total": sum(stages.values()), "from": f"{largest['tickers']:,} x {largest['days']:,}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, nargs="+", default=[250, 1000, 2000], help="universe sizes")
    parser.add_argument("--days", type=int, default=1300, help="business days per ticker")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv", help="how the panel is stored")
    parser.add_argument("--keep", type=Path, help="keep panels and run folders in this folder")
    parser.add_argument("extra", nargs="*", help="more backtest options after --, e.g. -- --jobs 1")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="lstmtrade-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    import platform

    print(f"lstmtrade backtest {' '.join(SETTINGS + args.extra)} on synthetic {args.format} panels of "
          f"{args.days:,} days; {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print("peak = the run's RSS high-water mark (its largest process); all = the peak of its processes' RSS summed "
          "(sampled); stage seconds from metrics.json (noisy on a shared machine)")
    head = (f"{'tickers':>8} {'rows':>10} {'peak GB':>8} {'all GB':>8} {'wall s':>7} "
            + " ".join(f"{s:>9}" for s in STAGES))
    print(head)
    rows = []
    try:
        for n in args.tickers:
            data = write_panel(n, args.days, folder, args.format)
            out = folder / f"runs-{n}"
            peak, summed, wall, code = run_child(data, out, args.extra)
            if code != 0:
                print(f"{n:>8} failed with exit status {code}")
                continue
            metrics = json.loads(next(out.glob("*/metrics.json")).read_text())
            timings = metrics["timings"]
            rows.append({"tickers": n, "days": args.days, "peak": summed, "wall": wall, "timings": timings})
            print(f"{n:>8,} {n * args.days:>10,} {peak / 1e9:>8.2f} {summed / 1e9:>8.2f} {wall:>7.1f} "
                  + " ".join(f"{timings.get(s, 0.0):>9.1f}" for s in STAGES), flush=True)
            if args.keep is None:
                data.unlink()
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    if rows:
        tickers, days = TARGET
        p = project(rows, tickers, days)
        print(f"\nprojection for {tickers:,} tickers x {days:,} days ({tickers * days / 1e6:.0f} million rows), "
              f"not measured: peak about {p['peak'] / 1e9:.1f} GB ({p['per_million_rows'] / 1e9:.2f} GB per million "
              f"rows, fit through the sizes above); stages scaled from {p['from']}: "
              + ", ".join(f"{s} {v / 60:.0f} min" for s, v in p["stages"].items())
              + f"; total about {p['total'] / 3600:.1f} h")


if __name__ == "__main__":
    main()
