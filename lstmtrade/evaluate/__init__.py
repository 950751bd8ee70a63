"""Stage 4, evaluate: what the forecasts and the trades are worth, and how sure we can be.

Modules: :mod:`~lstmtrade.evaluate.performance` (returns, skill, significance, costs),
:mod:`~lstmtrade.evaluate.stats` (skill and Sharpe-ratio statistics), :mod:`~lstmtrade.evaluate.xsection`
(cross-sectional skill of a universe), :mod:`~lstmtrade.evaluate.selection` (SPA, MCS, PBO over a sweep's
trials), :mod:`~lstmtrade.evaluate.ledger` (every trial counted), :mod:`~lstmtrade.evaluate.metrics`
(metrics.json), :mod:`~lstmtrade.evaluate.seeds` (seed ensembles judged), :mod:`~lstmtrade.evaluate.verdict`
(each claim with the test that earned it), :mod:`~lstmtrade.evaluate.audit` (the look-ahead audit). A new
statistic or test goes here.
"""
