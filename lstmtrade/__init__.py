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
    "load_prices": "lstmtrade.data",
    "PriceData": "lstmtrade.data",
    "load_universe": "lstmtrade.panel",
    "Universe": "lstmtrade.panel",
    "WalkForward": "lstmtrade.splits",
    "walk_forward_predict": "lstmtrade.walkforward",
    "Predictions": "lstmtrade.predictions",
    "PredictionStrategy": "lstmtrade.strategy",
    "LongFlat": "lstmtrade.strategy",
    "LongShort": "lstmtrade.strategy",
    "Proportional": "lstmtrade.strategy",
    "VolTarget": "lstmtrade.strategy",
    "BuyAndHold": "lstmtrade.strategy",
    "PortfolioStrategy": "lstmtrade.portfolio",
    "TopK": "lstmtrade.portfolio",
    "TopKDropout": "lstmtrade.portfolio",
    "LongShortQuantile": "lstmtrade.portfolio",
    "RankWeighted": "lstmtrade.portfolio",
    "EqualWeight": "lstmtrade.portfolio",
    "backtest_portfolio": "lstmtrade.portfolio",
    "equal_weight_buy_and_hold": "lstmtrade.portfolio",
    "series_benchmark": "lstmtrade.portfolio",
    "backtest": "lstmtrade.backtesting",
    "BacktestResult": "lstmtrade.backtesting",
    "run": "lstmtrade.pipeline",
    "rebacktest": "lstmtrade.pipeline",
    "RunResult": "lstmtrade.pipeline",
    "run_sweep": "lstmtrade.sweep",
    "SweepResult": "lstmtrade.sweep",
    "LstmtradeError": "lstmtrade.errors",
    "DataError": "lstmtrade.errors",
    "ConfigError": "lstmtrade.errors",
    "StrategyError": "lstmtrade.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lstmtrade' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
