"""MinHold: long when the forecast is positive, but once in, stay in for at least ``hold`` bars.

Like the built-in LongFlat (long when the predicted return beats ``threshold``, flat otherwise), but
an exit is ignored until the position has been held for ``hold`` bars (closes), which cuts the
number of round trips, and the commission, when the forecast flips sign every other day.

Run it:
    lstmtrade backtest --strategy strategies/min_hold.py --param hold=10
"""
from lstmtrade import PredictionStrategy


class MinHold(PredictionStrategy):
    """Long when the forecast beats the threshold; once long, hold at least `hold` bars."""

    params = (
        ("hold", 5),  # minimum number of bars to stay long after an entry
        ("threshold", 0.0),  # predicted return that must be beaten to want a position
    )

    def __init__(self):
        super().__init__()
        self.entry_bar = None  # len(self) at the first close in the current position

    def next(self):
        if self.position.size > 0:
            if self.entry_bar is None:
                self.entry_bar = len(self)  # bought at this bar's open
        else:
            self.entry_bar = None
        super().next()  # the base class calls target_weight() (or skips a NaN forecast)

    def target_weight(self, prediction):
        if prediction > self.p.threshold:
            return 1.0
        if self.entry_bar is not None and len(self) - self.entry_bar + 1 < self.p.hold:
            return 1.0  # too early to exit: keep holding
        return 0.0
