"""TopKTrend: the k best forecasts of a universe, among the tickers in an uptrend.

Equal weights (1/k of equity each) in the ``k`` highest forecasts among the tickers whose close is
above their own ``sma``-day simple moving average; the rest of the equity stays in cash when fewer
than ``k`` qualify. Rebalanced at every close, traded at the next open. A portfolio strategy: it
needs a universe (many tickers and a wide frame of forecasts), not a single price series.

Each ticker's feed carries up to 252 of its own bars before the first out-of-sample day, so an
average of up to 252 days is warm when trading starts.

Run it (Python):
    from lstmtrade import backtest_portfolio, load_strategy
    result = backtest_portfolio(prices, predictions, load_strategy("strategies/topk_trend.py"), k=5)

or with a universe backtest on the command line: --strategy strategies/topk_trend.py --param k=5
"""
import backtrader as bt

from lstmtrade import PortfolioStrategy


class TopKTrend(PortfolioStrategy):
    """Equal weights in the k highest forecasts among tickers closing above their moving average."""

    params = (
        ("k", 5),  # names held at most; each gets 1/k of equity
        ("sma", 100),  # bars in each ticker's simple moving average of the close (the trend filter)
    )

    def __init__(self):
        super().__init__()  # first: the base class sets up the tickers and the order machinery
        self.sma = {ticker: bt.indicators.SimpleMovingAverage(self.feed(ticker).close, period=self.p.sma)
                    for ticker in self.tickers}

    def target_weights(self, predictions):
        # predictions holds only tickers with a bar today, so their feeds and averages are current
        uptrend = [t for t in predictions.index if self.feed(t).close[0] > self.sma[t][0]]
        best = predictions[uptrend].nlargest(self.p.k)
        return {ticker: self.gross / self.p.k for ticker in best.index}
