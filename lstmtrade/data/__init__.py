"""Stage 1, data: reading prices of any bar size (CSV files, folders, bundled samples, downloads), the bar size
and calendar, and per-ticker future-blind screening of universes.

Modules: :mod:`~lstmtrade.data.prices` (one ticker, validated), :mod:`~lstmtrade.data.panel` (a universe),
:mod:`~lstmtrade.data.screen` (its per-ticker screening), :mod:`~lstmtrade.data.bars` (bar size, calendar,
periods per year), :mod:`~lstmtrade.data.timestamps` (reading dates and zones), :mod:`~lstmtrade.data.sources`
(downloads and their cache), :mod:`~lstmtrade.data.load` (``--data`` to prices). A new source or file format
goes here.
"""
