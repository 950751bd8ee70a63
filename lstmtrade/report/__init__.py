"""Stage 5, report: every page and the run folder.

Modules: :mod:`~lstmtrade.report.html` (the one page helper: head, style, tables, inline SVG),
:mod:`~lstmtrade.report.tearsheet` (QuantStats against the benchmark), :mod:`~lstmtrade.report.comparison` (one
ticker's comparison page), :mod:`~lstmtrade.report.universe` (a universe's pages), :mod:`~lstmtrade.report.seeds`
(the seed ensemble's section), :mod:`~lstmtrade.report.sweep` (sweep.html), :mod:`~lstmtrade.report.run` (a run
folder's files). A new page or chart goes here.
"""
