"""Does the LSTM beat traditional models? The LSTM against LightGBM and the factor baselines, measured.

Usage::

    python benchmarks/bench_models.py                      # the dev half of the S&P panel (about 10 min on 2 cores)
    python benchmarks/bench_models.py --dev-file PATH --epochs 10 --retrain-every 126

Two runs of ``lstmtrade.run`` on the same panel, each through the same walk-forward and traded by the same
default universe strategy (TopK) with the same costs:

(a) the default LSTM (features logret, vol20, range, gap, volz, rsi14; per-ticker scaling), with the
    baselines ``lightgbm`` (trees on the same windows and rows), ``reversal`` and ``momentum``;
(b) the LSTM on the ``alpha`` feature set with ``--xs-norm rank``.

Both runs test the same days: ``alpha`` needs 60 bars of warm-up where the default features need fewer, so
run (a) gets that many more ``min_train`` bars, and the first test day (and every fold boundary after it) is
the same calendar day in both. The settings are printed with the table, since they are smaller than the
defaults to fit 2 shared cores: at most 10 epochs (early stopping ends sooner anyway; the per-fold line shows
it) and two years of training before the first test day instead of three.

Per forecaster: mean daily Rank IC of the forecast with open(t+1) -> open(t+2) and its Newey-West t, the
portfolio's annualised Sharpe and total return after costs, and the wall seconds of its walk-forward and
backtest. Figures are printed, never asserted; the panel has survivorship bias (today's index members), so
every absolute figure is flattered, and only the comparison between rows on the same days is meaningful.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import lstmtrade
from lstmtrade.config import Config
from lstmtrade.data.panel import load_universe
from lstmtrade.features import warmup
from lstmtrade.formatting import num, pct

# the shared data folder beside the checkout (main) or two levels up (a worktree under wt/)
_ROOT = Path(__file__).resolve().parents[1]
DEV = next((p for p in (_ROOT / "shared", _ROOT.parent / "shared", _ROOT.parent.parent / "shared")
            if (p / "data" / "sp500_2013_2018_dev.csv.gz").exists()), _ROOT.parent / "shared") \
    / "data" / "sp500_2013_2018_dev.csv.gz"
BASELINES = ("lightgbm", "reversal", "momentum")


def row(name: str, forecast: dict, strategy: dict, seconds: float) -> str:
    return (f"| {name} | {num(forecast.get('rank_ic'), 4)} | {num(forecast.get('rank_ic_tstat'), 1)} | "
            f"{num(strategy['sharpe'])} | {pct(strategy['total_return'], sign=True)} | {seconds:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev-file", type=Path, default=DEV, help="panel CSV (Ticker, Date, OHLCV)")
    parser.add_argument("--epochs", type=int, default=10, help="most LSTM epochs per fold (early stopping on)")
    parser.add_argument("--min-train", type=int, default=504, help="training bars before the first test day, "
                        "for the alpha run (the default-feature run gets the warm-up difference on top)")
    parser.add_argument("--retrain-every", type=int, default=126, help="test days per fold")
    parser.add_argument("--seed", type=int, default=0, help="seed of every model")
    args = parser.parse_args()

    universe = load_universe(str(args.dev_file))
    default = Config()
    shift = warmup(("alpha",)) - warmup(default.features)
    common = dict(epochs=args.epochs, retrain_every=args.retrain_every, seed=args.seed, cache=False)
    print(f"panel {args.dev_file.name}: {len(universe.tickers)} tickers; lstmtrade {lstmtrade.__version__}, "
          f"{os.cpu_count()} CPUs")
    print(f"settings: epochs {args.epochs} (early stopping, patience {default.patience}), retrain every "
          f"{args.retrain_every} bars, min_train {args.min_train} (alpha run) / {args.min_train + shift} "
          f"(default features: {shift} bars less warm-up), lookback {default.lookback}, hidden {default.hidden}, "
          f"seed {args.seed}, strategy TopK, commission {num(default.commission, 0)} bps per side")

    t0 = time.perf_counter()
    a = lstmtrade.run(prices=universe, write=False, baselines=BASELINES, min_train=args.min_train + shift, **common)
    wall_a = time.perf_counter() - t0
    t0 = time.perf_counter()
    b = lstmtrade.run(prices=universe, write=False, baselines=(), features=("alpha",), xs_norm="rank",
                      min_train=args.min_train, **common)
    wall_b = time.perf_counter() - t0

    ma, mb = a.metrics, b.metrics
    assert ma["backtest"]["start"] == mb["backtest"]["start"], "the two runs must test the same days"
    lstm_seconds = lambda m: m["timings"]["forecast"] + m["timings"]["backtest"]  # noqa: E731
    print(f"\ntest days {ma['backtest']['start']} to {ma['backtest']['end']} ({ma['backtest']['days']} days, "
          f"{ma['backtest']['folds']} folds); run walls {wall_a:.0f} s and {wall_b:.0f} s\n")
    print("| forecaster | Rank IC | t (NW) | Sharpe | return | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    print(row("LSTM, default features", ma["forecast"], ma["strategy"], lstm_seconds(ma)))
    print(row("LSTM, alpha + xs-norm rank", mb["forecast"], mb["strategy"], lstm_seconds(mb)))
    for name in BASELINES:
        v = ma["baselines"][name]
        print(row(name, v["forecast"], v, v.get("seconds", float("nan"))))
    bench = ma["benchmark"]
    print(f"| equal-weight buy-and-hold | | | {num(bench['sharpe'])} | {pct(bench['total_return'], sign=True)} | |")
    fits = lambda m, key: ", ".join(str(f.get(key)) for f in m["folds"])  # noqa: E731
    print(f"\nper fold: LSTM epochs run {fits(ma, 'epochs_run')} (best {fits(ma, 'best_epoch')}); alpha LSTM "
          f"{fits(mb, 'epochs_run')} (best {fits(mb, 'best_epoch')}); LightGBM rounds "
          f"{', '.join(str(f.get('rounds')) for f in a.baselines['lightgbm'][0].folds)}")
    versus = ma["forecast"].get("vs_best_baseline") or {}
    print(f"\nverdict (default LSTM): {ma['verdict']}")
    if versus:
        print(f"vs best baseline ({versus['name']}): mean daily Rank IC difference {num(versus['diff'], 4)}, "
              f"Newey-West t {num(versus['tstat'], 1)}, {versus['n_days']} days")


if __name__ == "__main__":
    main()
