"""Trading live: tomorrow's signal from a saved model (:mod:`~lstmtrade.live.signal`). Signals, their journal and
the paper record go here.
"""
