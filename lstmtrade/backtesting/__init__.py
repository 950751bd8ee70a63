"""Stage 3, backtesting: forecasts turned into positions by Backtrader, against a benchmark on the same days and
costs. (The package is named so that it never hides the function ``lstmtrade.backtest``.)

Modules: :mod:`~lstmtrade.backtesting.strategy` (one-asset strategies and their feed),
:mod:`~lstmtrade.backtesting.portfolio_strategy` (the base class for many assets), :mod:`~lstmtrade.backtesting.rules`
(built-in portfolio rules), :mod:`~lstmtrade.backtesting.engine` (the broker, costs, params, the result type),
:mod:`~lstmtrade.backtesting.single` and :mod:`~lstmtrade.backtesting.portfolio` (running one asset, or a universe),
:mod:`~lstmtrade.backtesting.stage` (a run's strategy and benchmark), :mod:`~lstmtrade.backtesting.loader` (finding a
user's strategy class and typing its params). A new portfolio rule goes in ``rules.py``; a new cost model in
``engine.py``.
"""
