"""Stage 2, forecast: the walk-forward, the forecasters and how the LSTM is trained.

Modules: :mod:`~lstmtrade.forecast.folds` (each ticker's rows in each fold), :mod:`~lstmtrade.forecast.forecasters`
(zero, persistence, linear and the registry), :mod:`~lstmtrade.forecast.lstm` (the pooled LSTM forecaster),
:mod:`~lstmtrade.forecast.model` (the network), :mod:`~lstmtrade.forecast.train` (the training loop),
:mod:`~lstmtrade.forecast.fused` and :mod:`~lstmtrade.forecast.native` (the batched and C-kernel engines),
:mod:`~lstmtrade.forecast.engines` (device, engine and jobs: the one place that picks them),
:mod:`~lstmtrade.forecast.walkforward` and :mod:`~lstmtrade.forecast.parallel` (running every fold),
:mod:`~lstmtrade.forecast.workers` (worker processes that end with their driver, for folds and sweeps),
:mod:`~lstmtrade.forecast.cache` (folds never trained twice), :mod:`~lstmtrade.forecast.ensemble` (seed
members), :mod:`~lstmtrade.forecast.artifact` (model files), :mod:`~lstmtrade.forecast.predictions` (the value
that flows to the backtest). A new forecaster is one class in ``forecasters.py`` (or a module of its own) and one
line in its registry.
"""
