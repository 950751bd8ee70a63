"""Trading live: tomorrow's forecasts, weights and orders from a saved model (:mod:`~lstmtrade.live.api`), the
journal that records them before the open (:mod:`~lstmtrade.live.journal`) and the paper record that credits
it (:mod:`~lstmtrade.live.paper`).
"""
