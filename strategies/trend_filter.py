"""TrendFilter: follow the forecast only in an uptrend.

Long (fully invested) when the predicted return is positive AND today's close is above its
``sma``-day simple moving average; flat otherwise. The backtest feeds up to 252 bars of price
history (with no forecast, so no trading) before the first out-of-sample day, so an average of up to
252 days is warm when trading starts.

Run it:
    lstmtrade backtest --strategy strategies/trend_filter.py --param sma=100
    lstmtrade backtest --strategy strategies/trend_filter.py --param sma=50 --param threshold=0.001
"""
import backtrader as bt

from lstmtrade import PredictionStrategy


class TrendFilter(PredictionStrategy):
    """Long when the forecast is positive and the close is above its simple moving average."""

    params = (
        ("sma", 200),  # bars in the simple moving average of the close (the trend filter)
        ("threshold", 0.0),  # predicted return that must be beaten to go long
    )

    def __init__(self):
        super().__init__()  # first: the base class sets up self.prediction and the order machinery
        self.sma = bt.indicators.SimpleMovingAverage(self.data.close, period=self.p.sma)

    def target_weight(self, prediction):
        uptrend = self.data.close[0] > self.sma[0]
        return 1.0 if prediction > self.p.threshold and uptrend else 0.0
