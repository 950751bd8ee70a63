"""The fills chart (what cerebro.plot() shows): one marker per fill, at its date and price, and the position."""
import numpy as np
import pandas as pd

from lstmtrade.backtesting.single import backtest
from lstmtrade.report.fills import fills_figure


def test_fills_chart_marks_every_trade_at_its_price(msft, preds):
    result = backtest(msft, preds)
    trades = result.trades
    assert len(trades) > 4
    close = msft.frame["close"].loc[result.weights.index[0]:result.weights.index[-1]]
    fig = fills_figure(close, trades, result.weights, "MSFT")
    top, bottom = fig.axes
    marks = {c.get_gid(): c.get_offsets() for c in top.collections}
    for action in ("buy", "sell"):
        part = trades[trades["action"] == action]
        points = np.asarray(marks[f"fills-{action}"])
        assert len(points) == len(part)
        assert np.allclose(points[:, 1], part["price"].to_numpy())
    assert len(marks["fills-buy"]) + len(marks["fills-sell"]) == len(trades)
    (step,) = [line for line in bottom.lines if len(line.get_xdata()) > 2]
    assert np.array_equal(np.asarray(step.get_ydata(), dtype=float), result.weights.to_numpy())
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert f"buy fill ({(trades['action'] == 'buy').sum()})" in labels


def test_fills_chart_without_trades_draws_the_price_alone():
    index = pd.bdate_range("2020-01-01", periods=20)
    close = pd.Series(np.linspace(10, 11, 20), index=index)
    empty = pd.DataFrame(columns=["date", "action", "size", "price", "value", "commission"])
    fig = fills_figure(close, empty, pd.Series(0.0, index=index), "flat")
    assert all(len(c.get_offsets()) == 0 for c in fig.axes[0].collections)
