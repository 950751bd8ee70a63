"""Speed benchmark: the reference walk-forward (loop, --jobs 2, fused), the default run, scaling, --help.

Usage::

    python benchmarks/bench_speed.py            # everything (about 4 minutes on 2 cores)
    python benchmarks/bench_speed.py --quick    # small smoke version (seconds)
    python benchmarks/bench_speed.py --skip-loop --skip-default --skip-scaling --threads 1

Sections:

(a) reference workload (the GitHub issue): bundled MSFT, features ("logret",), lookback 30, one LSTM
    layer of 32 units + linear head, MSE, Adam 1e-3, batch 64, exactly 10 epochs per fold, no early
    stopping, expanding window, min_train 756, retrain every 126 bars (2,513 predictions, 20 folds),
    with ``engine=loop``, ``engine=loop`` with ``jobs=2`` (two processes, one thread each) and
    ``engine=fused``: seconds, predictions, folds, out-of-sample MSE over the
    zero-forecast MSE, hit rate, achieved GFLOP/s and the float32 512x512 matmul GFLOP/s of this process.

    FLOP count (matmuls only; elementwise gate math is not counted)::

        per sample per time step, forward = 2 * (F * 4H + H * 4H)   (input and recurrent projections)
        training FLOPs = 3 * forward * T * sum over folds of n_fit_k * epochs   (backward ~ 2x forward)

(b) the default ``lstmtrade.run(write=True, out=tmpdir)`` on the bundled sample: every stage's seconds
    (``metrics["timings"]``: data, forecast, backtest, report, total).
(c) cost vs bars on synthetic random-walk OHLCV (1k, 2k, 4k, 8k bars) with the reference settings and
    a rolling 500-bar training window, so work per fold is fixed and cost should grow linearly with bars
    (seconds per 1,000 bars about constant). With the default expanding window the training samples
    themselves grow quadratically with bars; the table also shows seconds per 1,000 training samples.
(e) ``lstmtrade --help`` wall time in a fresh process (heavy libraries are imported only when needed).
(d) darts' ``RNNModel(model="LSTM")`` ``historical_forecasts(retrain=126)`` on the same schedule when
    darts is importable, and the ratio; otherwise it says how to install darts in a separate venv.

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
from lstmtrade.data import load_prices
from lstmtrade.forecast import resolve_engine, walk_forward_predict

REFERENCE = dict(features=("logret",), lookback=30, hidden=32, layers=1, epochs=10, batch_size=64, lr=1e-3,
                 retrain_every=126, min_train=756, early_stopping=False)


def matmul_gflops(n: int = 512, repeat: int = 30) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t0 = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n ** 3 * repeat / (time.perf_counter() - t0) / 1e9


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


def run_darts(prices, config: Config) -> float | None:
    try:
        from darts import TimeSeries
        from darts.models import RNNModel
    except ImportError:
        print("\n== (d) darts: skipped (not importable). To compare, install it in a separate venv:\n"
              "   python -m venv /tmp/dartsvenv && /tmp/dartsvenv/bin/pip install darts==0.48.1 torch==2.13.0 "
              "&& /tmp/dartsvenv/bin/pip install -e . && /tmp/dartsvenv/bin/python benchmarks/bench_speed.py")
        return None
    frame = prices.frame
    logret = np.log(frame["close"]).diff().dropna().astype(np.float32)
    series = TimeSeries.from_values(logret.to_numpy())
    model = RNNModel(model="LSTM", input_chunk_length=config.lookback, training_length=config.lookback,
                     hidden_dim=config.hidden, n_rnn_layers=config.layers, batch_size=config.batch_size,
                     n_epochs=config.epochs, optimizer_kwargs={"lr": config.lr}, random_state=config.seed,
                     pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False,
                                        "enable_model_summary": False, "logger": False})
    t0 = time.perf_counter()
    model.historical_forecasts(series, start=config.min_train, forecast_horizon=1, retrain=config.retrain_every,
                               last_points_only=True, verbose=False)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke version (short data, 2 epochs)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--skip-loop", action="store_true", help="skip the (slow) loop engine in (a)")
    parser.add_argument("--skip-default", action="store_true", help="skip (b) the default run")
    parser.add_argument("--skip-scaling", action="store_true", help="skip (c) cost vs bars")
    parser.add_argument("--skip-darts", action="store_true", help="skip (d) darts")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = dict(REFERENCE, threads=args.threads)
    prices = load_prices()
    if args.quick:
        settings.update(epochs=2, min_train=300, retrain_every=200)
        prices = load_prices(end="2004-12-31")
    peak = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32 512x512 matmul: {peak:.1f} GFLOP/s")

    rows = []
    variants = [("loop", 1), ("loop", 2), ("fused", 1)]
    for engine, jobs in (variants[2:] if args.skip_loop else variants):
        row = reference(prices, Config(**settings, engine=engine, jobs=jobs), peak)
        rows.append({"engine": engine, "jobs": jobs, **{k: v for k, v in row.items() if k != "engine"}})
    table(rows, "(a) reference workload" + (" (--quick)" if args.quick else ""))
    base = rows[0]
    for row in rows[1:]:
        diff = np.abs(base["_pred"] - row["_pred"]).max() / np.abs(base["_pred"]).max()
        print(f"{row['engine']} jobs={row['jobs']}: {base['seconds'] / row['seconds']:.2f}x the speed of "
              f"{base['engine']} jobs={base['jobs']}; max |difference| / max |prediction| {diff:.2e}")

    if not args.skip_default:
        with tempfile.TemporaryDirectory() as tmp:
            extra = dict(epochs=2, min_train=300, retrain_every=200, end="2004-12-31") if args.quick else {}
            result = lstmtrade.run(write=True, out=tmp, **extra)
            timings = result.metrics["timings"]
        table([{k: float(v) for k, v in timings.items()}], "(b) default lstmtrade.run(write=True) stages, seconds")

    if not args.skip_scaling:
        scale = []
        for n in ((1000, 2000) if args.quick else (1000, 2000, 4000, 8000)):
            config = Config(**dict(settings, min_train=min(settings["min_train"], n // 3)), train_window=500)
            p = synthetic(n)
            t0 = time.perf_counter()
            result = walk_forward_predict(p, config)
            seconds = time.perf_counter() - t0
            samples = sum(f["n_fit"] for f in result.folds) * config.epochs
            scale.append({"bars": n, "folds": len(result.folds), "engine": resolve_engine(config),
                          "train samples": samples, "seconds": seconds, "s per 1k bars": 1000 * seconds / n,
                          "s per 1k samples": 1000 * seconds / samples})
        table(scale, "(c) cost vs bars (synthetic random walk, rolling 500-bar window): s per 1k bars ~ constant")

    import subprocess
    import sys

    cmd = [sys.executable, "-c", "from lstmtrade.cli import main; import sys; sys.argv=['lstmtrade','--help']; main()"]
    help_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
        help_times.append(time.perf_counter() - t0)
    print(f"\n== (e) lstmtrade --help: {min(help_times):.2f} s (best of 3, fresh process)")

    if not args.skip_darts:
        darts_s = run_darts(prices, Config(**settings))
        if darts_s is not None:
            best = min(rows, key=lambda r: r["seconds"])
            print(f"\n== (d) darts RNNModel(LSTM) historical_forecasts(retrain={settings['retrain_every']}): "
                  f"{darts_s:.1f} s; lstmtrade best ({best['engine']}, jobs={best['jobs']}) {best['seconds']:.1f} s; "
                  f"ratio {darts_s / best['seconds']:.1f}x")


if __name__ == "__main__":
    main()
