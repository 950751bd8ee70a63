"""Sweeps: a grid of settings, every trial an ordinary run, every trial counted, the best judged by SPA, MCS
and PBO.

Modules: :mod:`~lstmtrade.sweep.plan` (what runs, stored as plan.json), :mod:`~lstmtrade.sweep.execute` (tasks on
local processes or Ray), :mod:`~lstmtrade.sweep.judge` (the statistics), :mod:`~lstmtrade.sweep.run` (the driver
and every file it writes).
"""
