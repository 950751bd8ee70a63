"""The issue's reference walk-forward in darts, for bench_speed.py to time beside lstmtrade.

Runs in an environment that has darts (it needs only darts, numpy and pandas, not lstmtrade):

    python -m venv /tmp/dartsvenv
    /tmp/dartsvenv/bin/pip install torch==2.13.0 "darts[torch]==0.48.1"
    /tmp/dartsvenv/bin/python benchmarks/darts_reference.py --csv lstmtrade/samples/MSFT.csv.gz

``bench_speed.py --darts-python /tmp/dartsvenv/bin/python`` runs it as a subprocess in the same
benchmark run. Schedule: daily close-to-close log returns of the CSV; ``RNNModel(model="LSTM")``, 32
units, one layer, input chunk 30 (training length 31, darts' minimum above the chunk), batch 64, Adam
lr 1e-3, 10 epochs; ``historical_forecasts`` from return 756 on, one step ahead, retraining every 126
steps on an expanding window. Prints one JSON line: seconds, predictions, MSE, zero-forecast MSE, hit
rate.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
import warnings

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, help="daily prices with a close column")
    parser.add_argument("--lookback", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--min-train", type=int, default=756)
    parser.add_argument("--retrain-every", type=int, default=126)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--end", help="last date to use (YYYY-MM-DD), as lstmtrade's --end")
    args = parser.parse_args()
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    from darts import TimeSeries
    from darts.models import RNNModel

    frame = pd.read_csv(args.csv)
    frame.columns = [c.lower() for c in frame.columns]
    if args.end:
        frame = frame[pd.to_datetime(frame["date"]) <= pd.Timestamp(args.end)]
    returns = np.log(frame["close"].astype(float)).diff().dropna().to_numpy(np.float32)
    series = TimeSeries.from_values(returns)
    model = RNNModel(model="LSTM", input_chunk_length=args.lookback, training_length=args.lookback + 1,
                     hidden_dim=args.hidden, n_rnn_layers=1, batch_size=args.batch_size, n_epochs=args.epochs,
                     optimizer_kwargs={"lr": args.lr}, random_state=args.seed,
                     pl_trainer_kwargs={"accelerator": "cpu", "enable_progress_bar": False,
                                        "enable_model_summary": False, "logger": False,
                                        "enable_checkpointing": False})
    t0 = time.perf_counter()
    forecast = model.historical_forecasts(series, start=args.min_train, forecast_horizon=1, stride=1,
                                          retrain=args.retrain_every, last_points_only=True, verbose=False)
    seconds = time.perf_counter() - t0
    pred = forecast.values().ravel().astype(float)
    actual = returns[np.asarray(forecast.time_index, dtype=np.int64)].astype(float)
    print(json.dumps({"seconds": seconds, "predictions": len(pred), "mse": float(np.mean((pred - actual) ** 2)),
                      "mse_zero": float(np.mean(actual ** 2)),
                      "hit": float(np.mean(np.sign(pred) == np.sign(actual)))}))


if __name__ == "__main__":
    main()
