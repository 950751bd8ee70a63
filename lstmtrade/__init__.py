"""lstmtrade: do an LSTM's return forecasts make money once you trade them?

The public API is imported lazily so that ``import lstmtrade`` (and ``lstmtrade --help``) stays fast:
torch, Backtrader and QuantStats load only when something that needs them is used.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "lstmtrade.config",
    "load_prices": "lstmtrade.data.prices",
    "PriceData": "lstmtrade.data.prices",
    "load_universe": "lstmtrade.data.panel",
    "Universe": "lstmtrade.data.panel",
    "WalkForward": "lstmtrade.splits",
    "walk_forward_predict": "lstmtrade.forecast.walkforward",
    "Predictions": "lstmtrade.forecast.predictions",
    "PredictionStrategy": "lstmtrade.backtesting.strategy",
    "LongFlat": "lstmtrade.backtesting.strategy",
    "LongShort": "lstmtrade.backtesting.strategy",
    "Proportional": "lstmtrade.backtesting.strategy",
    "VolTarget": "lstmtrade.backtesting.strategy",
    "BuyAndHold": "lstmtrade.backtesting.strategy",
    "PortfolioStrategy": "lstmtrade.backtesting.portfolio_strategy",
    "TopK": "lstmtrade.backtesting.rules",
    "TopKDropout": "lstmtrade.backtesting.rules",
    "LongShortQuantile": "lstmtrade.backtesting.rules",
    "RankWeighted": "lstmtrade.backtesting.rules",
    "EqualWeight": "lstmtrade.backtesting.rules",
    "backtest_portfolio": "lstmtrade.backtesting.portfolio",
    "equal_weight_buy_and_hold": "lstmtrade.backtesting.stage",
    "series_benchmark": "lstmtrade.backtesting.stage",
    "backtest": "lstmtrade.backtesting.single",
    "load_strategy": "lstmtrade.backtesting.loader",
    "Costs": "lstmtrade.backtesting.costs",
    "BacktestResult": "lstmtrade.backtesting.engine",
    "run": "lstmtrade.pipeline",
    "rebacktest": "lstmtrade.pipeline",
    "RunResult": "lstmtrade.pipeline",
    "train": "lstmtrade.live.api",
    "signal": "lstmtrade.live.api",
    "Signal": "lstmtrade.live.portfolio",
    "paper": "lstmtrade.live.paper",
    "run_sweep": "lstmtrade.sweep.run",
    "SweepResult": "lstmtrade.sweep.run",
    "list_runs": "lstmtrade.report.runs",
    "read_run": "lstmtrade.report.runs",
    "RunSummary": "lstmtrade.report.runs",
    "write_index": "lstmtrade.report.index",
    "log_to_mlflow": "lstmtrade.report.tracking",
    "LstmtradeError": "lstmtrade.errors",
    "DataError": "lstmtrade.errors",
    "ConfigError": "lstmtrade.errors",
    "StrategyError": "lstmtrade.errors",
    "WriteError": "lstmtrade.errors",
    "DamagedFileError": "lstmtrade.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lstmtrade' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
