"""Speed of ``lstmtrade signal`` for a universe: the 252-ticker dev file, from the data file to the orders.

    python benchmarks/bench_signal.py                       # trains a quick model once (cached in the temp folder)
    python benchmarks/bench_signal.py --model dev.pt        # an existing universe model of that file
    python benchmarks/bench_signal.py --repeat 5

Needs the repository's sibling folder ``../shared/data/sp500_2013_2018_dev.csv.gz`` (``--data`` for another).
The model's quality does not matter to the timing, so the quick model is the default network (6 features,
lookback 20, 32 units) trained for one epoch with ``--min-train 504``. "After start-up" means once Python,
torch, pandas and Backtrader are imported: the figure is ``lstmtrade.signal(model, data, holdings=...)`` in
one process, stage by stage (reading and screening the data, the forecasts, the rule's decision through the
backtest's code, the orders), best of ``--repeat`` runs; then the whole command (``lstmtrade signal --json``)
in a fresh process, start-up included, once.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_2013_2018_dev.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEV), help="universe file (default: the 252-ticker dev file)")
    parser.add_argument("--model", help="universe model of that file (default: train a quick one, cached)")
    parser.add_argument("--repeat", type=int, default=3, help="runs in one process; the best is reported")
    args = parser.parse_args()
    t0 = time.perf_counter()
    import lstmtrade
    from lstmtrade.backtesting.portfolio import decide
    from lstmtrade.data.panel import load_universe
    from lstmtrade.forecast.artifact import load_model
    from lstmtrade.live import portfolio, universe

    print(f"start-up (imports): {time.perf_counter() - t0:.2f} s")
    model = Path(args.model) if args.model else Path(tempfile.gettempdir()) / "lstmtrade-bench-signal.pt"
    if not model.exists():
        t = time.perf_counter()
        lstmtrade.train(args.data, model_out=model, epochs=1, min_train=504, early_stopping=False)
        print(f"trained the quick model in {time.perf_counter() - t:.1f} s: {model}")
    loaded = load_model(model)
    holdings = {t: 10 for t in loaded.tickers[:15]}  # a book to rotate, so the orders are not trivial
    stages = {"load and screen": [], "forecasts": [], "decision": [], "whole signal": []}
    calls = {"forecasts": universe.forecasts, "decide": portfolio.decide}

    def timed(name, func):
        def wrapper(*a, **k):
            t, c = time.perf_counter(), time.process_time()
            out = func(*a, **k)
            stages[name].append((time.perf_counter() - t, time.process_time() - c))
            return out
        return wrapper

    portfolio.forecasts = timed("forecasts", calls["forecasts"])  # measure the stages inside one signal call
    portfolio.decide = timed("decision", calls["decide"])
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        data = load_universe(args.data)
        stages["load and screen"].append((time.perf_counter() - t, time.process_time() - c))
        result = lstmtrade.signal(loaded, data, holdings={**holdings, "cash": 50_000})
        stages["whole signal"].append((time.perf_counter() - t, time.process_time() - c))
    portfolio.forecasts, portfolio.decide = calls["forecasts"], calls["decide"]
    assert decide is calls["decide"]
    print(f"{len(data.prices)} tickers, {len(data.calendar)} dates, {len(result.tickers)} forecasts, "
          f"{len(result.orders)} orders, {len(result.excluded)} left out")
    print(f"  {'stage':<16} {'wall':>7} {'CPU':>7}   (best of {args.repeat}; CPU counts every thread)")
    for name, times in stages.items():
        print(f"  {name:<16} {min(w for w, _ in times):6.2f}s {min(c for _, c in times):6.2f}s")
    t = time.perf_counter()
    code = "import sys; from lstmtrade.cli import main; sys.argv[0] = 'lstmtrade'; main()"
    run = subprocess.run([sys.executable, "-c", code, "signal", "--model", str(model), "--data", args.data, "--json"],
                         capture_output=True, text=True)
    wall = time.perf_counter() - t
    print(f"lstmtrade signal --json in a fresh process, start-up included: {wall:.2f} s (exit {run.returncode})")
    import os

    print(f"load average while measuring: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
