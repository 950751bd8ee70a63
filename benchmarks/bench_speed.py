"""Speed benchmark: the reference walk-forward (native, loop, --jobs), darts, the default run, scaling, --help.

Usage::

    python benchmarks/bench_speed.py                       # everything but darts and fused (about 3 min)
    python benchmarks/bench_speed.py --darts-python /tmp/dartsvenv/bin/python   # with darts, same run
    python benchmarks/bench_speed.py --quick               # small smoke version (seconds)

darts lives in its own environment (its dependencies would pin this one)::

    python -m venv /tmp/dartsvenv
    /tmp/dartsvenv/bin/pip install torch==2.13.0 "darts[torch]==0.48.1"

Sections:

(a) reference workload (the GitHub issue): bundled MSFT, features ("logret",), lookback 30, one LSTM
    layer of 32 units + linear head, MSE, Adam 1e-3, batch 64, exactly 10 epochs per fold, no early
    stopping, expanding window, min_train 756, retrain every 126 bars (2,513 predictions, 20 folds),
    trained by the native engine (jobs 1 and one per core), the loop engine (jobs 1, and 2 worker
    processes) and, with ``--fused``, the fused engine: seconds, predictions, folds, out-of-sample MSE
    over the zero-forecast MSE, hit rate, achieved GFLOP/s and the float32 512x512 matmul GFLOP/s of
    this process. Seconds cover :func:`walk_forward_predict`: features, training and prediction.

    FLOP count (matmuls only; elementwise gate math is not counted)::

        per sample per time step, forward = 2 * (F * 4H + H * 4H)   (input and recurrent projections)
        training FLOPs = 3 * forward * T * sum over folds of n_fit_k * epochs   (backward ~ 2x forward)

(d) darts' ``RNNModel(model="LSTM")`` ``historical_forecasts(retrain=126)`` on the same schedule
    (``benchmarks/darts_reference.py``), in this process when darts imports here, else with
    ``--darts-python``; then darts' seconds over lstmtrade's and the two MSE ratios side by side.
(b) the default ``lstmtrade.run(write=True, out=tmpdir)`` on the bundled sample: every stage's seconds
    (``metrics["timings"]``: data, forecast, backtest, report, total).
(c) cost vs bars on synthetic random-walk OHLCV (1k, 2k, 4k, 8k bars) with the reference settings and
    a rolling 500-bar training window, so work per fold is fixed and cost should grow linearly with bars
    (seconds per 1,000 bars about constant). With the default expanding window the training samples
    themselves grow quadratically with bars; the table also shows seconds per 1,000 training samples.
(e) ``lstmtrade --help`` wall time in a fresh process (heavy libraries are imported only when needed).

Timings are printed, never asserted.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd
import torch

import lstmtrade
from lstmtrade.config import Config
from lstmtrade.data.prices import load_prices
from lstmtrade.forecast.engines import resolve_engine, resolve_jobs
from lstmtrade.forecast.walkforward import walk_forward_predict

REFERENCE = dict(features=("logret",), lookback=30, hidden=32, layers=1, epochs=10, batch_size=64, lr=1e-3,
                 retrain_every=126, min_train=756, early_stopping=False)


def matmul_gflops(n: int = 512, repeat: int = 30, trials: int = 5) -> float:
    """float32 n x n matmul GFLOP/s with torch's current threads: the best of a few trials."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(trials):
        t0 = time.perf_counter()
        for _ in range(repeat):
            a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 * repeat / best / 1e9


def train_flops(result, config: Config) -> float:
    F, H, T = len(config.features), config.hidden, config.lookback
    forward = 2 * (F * 4 * H + H * 4 * H)
    samples = sum(f["n_fit"] for f in result.folds) * config.epochs
    return 3 * forward * T * samples


def reference(prices, config: Config, peak: float) -> dict:
    t0 = time.perf_counter()
    result = walk_forward_predict(prices, config)
    seconds = time.perf_counter() - t0
    frame = result.frame
    pred, target = frame["prediction"].to_numpy(), frame["target"].to_numpy()
    ok = ~np.isnan(target)
    mse = float(np.mean((pred[ok] - target[ok]) ** 2))
    mse0 = float(np.mean(target[ok] ** 2))
    flops = train_flops(result, config)
    return {"engine": resolve_engine(config), "seconds": seconds, "predictions": len(frame),
            "folds": len(result.folds), "mse/zero": mse / mse0,
            "hit": float(np.mean(np.sign(pred[ok]) == np.sign(target[ok]))),
            "GFLOP": flops / 1e9, "GFLOP/s": flops / seconds / 1e9, "% of matmul": 100 * flops / seconds / 1e9 / peak,
            "_pred": pred}


def synthetic(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    index = pd.bdate_range("1990-01-01", periods=n, name="Date")
    frame = pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close,
                          "Volume": rng.integers(1_000_000, 5_000_000, n).astype(float)}, index=index)
    return load_prices(frame)


def table(rows: list[dict], title: str) -> None:
    print(f"\n== {title}")
    if not rows:
        return
    keys = [k for k in rows[0] if not k.startswith("_")]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    widths = [max(len(k), *(len(fmt(r.get(k, ""))) for r in rows)) for k in keys]
    print("  ".join(k.rjust(w) for k, w in zip(keys, widths)))
    for r in rows:
        print("  ".join(fmt(r.get(k, "")).rjust(w) for k, w in zip(keys, widths)))


def run_darts(args, config: Config, end: str | None) -> dict | None:
    """darts on the reference schedule: ``{"seconds", "predictions", "mse", "mse_zero", "hit"}`` or None."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("darts_reference.py")
    csv = Path(lstmtrade.__file__).parent / "samples" / "MSFT.csv.gz"
    python = args.darts_python
    if python is None:
        import importlib.util

        if importlib.util.find_spec("darts") is None:
            print("\n== (d) darts: skipped (not importable here and no --darts-python). See this script's "
                  "docstring for a darts environment.")
            return None
        python = sys.executable
    cmd = [python, str(script), "--csv", str(csv), "--lookback", str(config.lookback), "--hidden",
           str(config.hidden), "--epochs", str(config.epochs), "--batch-size", str(config.batch_size), "--lr",
           str(config.lr), "--min-train", str(config.min_train), "--retrain-every", str(config.retrain_every)]
    if end:
        cmd += ["--end", end]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"\n== (d) darts failed: {done.stderr.strip()[-500:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke version (short data, 2 epochs)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--skip-loop", action="store_true", help="skip the (slow) loop engine in (a)")
    parser.add_argument("--fused", action="store_true", help="also time the fused engine in (a) (slow on CPUs)")
    parser.add_argument("--skip-default", action="store_true", help="skip (b) the default run")
    parser.add_argument("--skip-scaling", action="store_true", help="skip (c) cost vs bars")
    parser.add_argument("--skip-darts", action="store_true", help="skip (d) darts")
    parser.add_argument("--darts-python", help="python of an environment with darts, to run (d) there")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = dict(REFERENCE, threads=args.threads)
    prices = load_prices()
    if args.quick:
        settings.update(epochs=2, min_train=300, retrain_every=200)
        prices = load_prices(end="2004-12-31")
    peak = matmul_gflops()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    single = matmul_gflops()
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} threads; float32 512x512 matmul: {peak:.1f} GFLOP/s "
          f"({single:.1f} on one thread); '% of matmul' below is against the {threads}-thread figure")

    rows = []
    variants = [("native", 1), ("native", 0)]
    if not args.skip_loop:
        variants += [("loop", 1), ("loop", 2)]
    if args.fused:
        variants += [("fused", 1)]
    for engine, jobs in variants:
        config = Config(**settings, engine=engine, jobs=jobs)
        row = reference(prices, config, peak)
        rows.append({"engine": engine, "jobs": resolve_jobs(config, engine, row["folds"]),
                     **{k: v for k, v in row.items() if k != "engine"}})
    table(rows, "(a) reference workload" + (" (--quick)" if args.quick else ""))
    base = next((r for r in rows if r["engine"] == "loop" and r["jobs"] == 1), rows[0])
    for row in rows:
        if row is base:
            continue
        diff = np.abs(base["_pred"] - row["_pred"]).max() / np.abs(base["_pred"]).max()
        print(f"{row['engine']} jobs={row['jobs']}: {base['seconds'] / row['seconds']:.2f}x the speed of "
              f"{base['engine']} jobs={base['jobs']}; max |difference| / max |prediction| {diff:.2e}")
    best = min(rows, key=lambda r: r["seconds"])

    if not args.skip_darts:
        darts = run_darts(args, Config(**settings), "2004-12-31" if args.quick else None)
        if darts is not None:
            print(f"\n(d) darts RNNModel(LSTM) historical_forecasts(retrain={settings['retrain_every']}), "
                  "same schedule, in this run:", end="")
            table([{"": "darts", "seconds": darts["seconds"], "predictions": darts["predictions"],
                    "mse/zero": darts["mse"] / darts["mse_zero"], "hit": darts["hit"]},
                   {"": f"lstmtrade {best['engine']} jobs={best['jobs']}", "seconds": best["seconds"],
                    "predictions": best["predictions"], "mse/zero": best["mse/zero"], "hit": best["hit"]}],
                  "darts against lstmtrade's fastest")
            print(f"darts / lstmtrade time: {darts['seconds'] / best['seconds']:.1f}x (target >= 10x: "
                  f"{'met' if darts['seconds'] >= 10 * best['seconds'] else 'NOT met'}); MSE/zero "
                  f"{best['mse/zero']:.4f} vs darts {darts['mse'] / darts['mse_zero']:.4f} "
                  f"({'no worse' if best['mse/zero'] <= darts['mse'] / darts['mse_zero'] else 'WORSE'})")

    if not args.skip_default:
        with tempfile.TemporaryDirectory() as tmp:
            extra = dict(epochs=2, min_train=300, retrain_every=200, end="2004-12-31") if args.quick else {}
            result = lstmtrade.run(write=True, out=tmp, **extra)
            timings = result.metrics["timings"]
        table([{k: float(v) for k, v in timings.items()}], "(b) default lstmtrade.run(write=True) stages, seconds")

    if not args.skip_scaling:
        scale = []
        walk_forward_predict(synthetic(1000), Config(**dict(settings, min_train=300, epochs=1), jobs=1))  # warm-up
        for n in ((1000, 2000) if args.quick else (1000, 2000, 4000, 8000)):
            config = Config(**dict(settings, min_train=min(settings["min_train"], n // 3)), train_window=500, jobs=1)
            p = synthetic(n)
            t0 = time.perf_counter()
            result = walk_forward_predict(p, config)
            seconds = time.perf_counter() - t0
            samples = sum(f["n_fit"] for f in result.folds) * config.epochs
            scale.append({"bars": n, "folds": len(result.folds), "engine": resolve_engine(config), "jobs": 1,
                          "train samples": samples, "seconds": seconds, "s per 1k bars": 1000 * seconds / n,
                          "s per 1k samples": 1000 * seconds / samples})
        table(scale, "(c) cost vs bars (synthetic random walk, rolling 500-bar window, one fold at a time): "
                     "s per 1k samples ~ constant")

    import subprocess
    import sys

    cmd = [sys.executable, "-c", "from lstmtrade.cli import main; import sys; sys.argv=['lstmtrade','--help']; main()"]
    help_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
        help_times.append(time.perf_counter() - t0)
    print(f"\n== (e) lstmtrade --help: {min(help_times):.2f} s (best of 3, fresh process)")


if __name__ == "__main__":
    main()
