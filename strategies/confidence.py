"""Confidence: trade only forecasts that stand out from the recent spread of forecasts.

Each day it compares |prediction| with ``k`` times the standard deviation of the last ``window``
predictions (today's included). A forecast above that bar goes long if positive, or short if
negative and ``allow_short`` is set; anything smaller, or a spread not yet known, means flat.

Run it:
    lstmtrade backtest --strategy strategies/confidence.py --param k=1.5 --param window=40
    lstmtrade backtest --strategy strategies/confidence.py --param allow_short=true
"""
import math

import backtrader as bt

from lstmtrade import PredictionStrategy


class Confidence(PredictionStrategy):
    """Long (or short) only when |forecast| > k * rolling std of recent forecasts; flat otherwise."""

    params = (
        ("k", 1.0),  # how many rolling standard deviations |prediction| must exceed
        ("window", 60),  # number of recent predictions in the rolling standard deviation
        ("allow_short", False),  # go short on large negative forecasts (else stay flat)
    )

    def __init__(self):
        super().__init__()
        self.spread = bt.indicators.StandardDeviation(self.prediction, period=self.p.window)

    def target_weight(self, prediction):
        spread = self.spread[0]
        if not math.isfinite(spread) or abs(prediction) <= self.p.k * spread:
            return 0.0  # not confident (or a NaN forecast still inside the window)
        if prediction > 0:
            return 1.0
        return -1.0 if self.p.allow_short else 0.0
