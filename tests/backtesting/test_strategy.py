"""Built-in strategies and the base class's timing: decide at the close of t, fill at the open of t+1."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmtrade import BuyAndHold, LongFlat, LongShort, PredictionStrategy, Proportional, VolTarget
from lstmtrade.backtesting.single import backtest

COMMISSION = 10.0  # bps, the backtest default


def synthetic(closes, opens=None, start="2020-01-01") -> pd.DataFrame:
    """OHLCV bars on business days; open defaults to the close (no overnight gap)."""
    closes = np.asarray(closes, dtype=float)
    opens = closes.copy() if opens is None else np.asarray(opens, dtype=float)
    index = pd.bdate_range(start, periods=len(closes), name="date")
    return pd.DataFrame({"open": opens, "high": np.maximum(opens, closes) * 1.001,
                         "low": np.minimum(opens, closes) * 0.999, "close": closes,
                         "volume": 1e6}, index=index)


class AlwaysLong(PredictionStrategy):
    """Always fully invested, through target_weight()."""

    def target_weight(self, prediction):
        return 1.0


# -- timing -----------------------------------------------------------------------------------------

def test_first_fill_is_at_the_next_open(msft, preds):
    result = backtest(msft, preds, LongFlat)
    pred = preds.prediction
    first_positive = pred.index[pred.to_numpy() > 0][0]
    next_day = pred.index[pred.index.get_loc(first_positive) + 1]
    first = result.trades.iloc[0]
    assert first["action"] == "buy"
    assert first["date"] == next_day
    assert first["price"] == pytest.approx(msft.frame.loc[next_day, "open"], rel=1e-12)
    assert result.weights.loc[first_positive] == 0.0
    assert result.weights.loc[next_day] > 0.99
    assert result.rejected.empty


def test_every_fill_is_at_its_days_open_after_the_decision(msft, preds):
    result = backtest(msft, preds, LongShort)
    opens = msft.frame["open"]
    assert len(result.trades) > 10
    np.testing.assert_allclose(result.trades["price"], opens.loc[result.trades["date"]].to_numpy(), rtol=1e-12)
    dates = result.decisions.index
    for date in result.trades["date"]:
        decided = result.decisions.iloc[dates.get_loc(date) - 1]
        assert np.isfinite(decided)  # a decision at the previous close led to it


def test_nan_prediction_does_not_trade():
    prices = synthetic(np.full(8, 100.0))
    pred = pd.Series([np.nan, np.nan, 0.01, 0.01, np.nan, -0.01, -0.01, -0.01], index=prices.index)
    result = backtest(prices, pred, LongFlat)
    d = prices.index
    assert list(result.trades["date"]) == [d[3], d[6]]  # buy after day 2's forecast, sell after day 5's
    assert list(result.trades["action"]) == ["buy", "sell"]
    assert result.decisions.iloc[:2].isna().all() and np.isnan(result.decisions.iloc[4])
    assert result.weights.iloc[4] > 0.99 and result.weights.iloc[5] > 0.99  # NaN on day 4 kept the position


def test_gap_up_does_not_reject_a_full_size_order():
    closes = np.full(6, 100.0)
    closes[1:] = 118.0  # rises further after the gapped-up open
    opens = np.array([100.0, 110.0, 118.0, 118.0, 118.0, 118.0])  # open of day 1 is 10% above day 0's close
    prices = synthetic(closes, opens)
    pred = pd.Series(0.01, index=prices.index)
    for slippage in (0.0, 5.0):
        result = backtest(prices, pred, LongFlat, slippage=slippage)
        assert result.rejected.empty, result.rejected
        assert len(result.trades) == 1
        fill = result.trades.iloc[0]
        assert fill["date"] == prices.index[1]
        assert fill["price"] == pytest.approx(110.0 * (1 + slippage / 1e4))
        assert fill["value"] + fill["commission"] <= 100_000.0
        assert fill["value"] > 100_000.0 * (1 - 0.003)  # ~100% invested
        assert result.weights.iloc[1] > 0.997


def test_always_long_reproduces_buy_and_hold(msft, preds):
    mine = backtest(msft, preds, AlwaysLong)
    bench = backtest(msft, preds, BuyAndHold)
    np.testing.assert_allclose(mine.returns.iloc[2:], bench.returns.iloc[2:], rtol=0, atol=1e-12)
    assert abs(mine.returns.iloc[1] - bench.returns.iloc[1]) <= COMMISSION / 1e4
    assert mine.trades["date"].iloc[0] == preds.prediction.index[1]

    # and both earn the asset's close-to-close return times the weight held at the previous close
    close = msft.frame["close"].loc[mine.returns.index]
    asset = close.pct_change()
    np.testing.assert_allclose(mine.returns.iloc[2:], (mine.weights.shift(1) * asset).iloc[2:], rtol=0, atol=1e-12)
    # entry day: open -> close of the asset, less the commission
    day = mine.returns.index[1]
    intraday = close.loc[day] / msft.frame.loc[day, "open"] - 1
    assert abs(mine.returns.iloc[1] - intraday) <= COMMISSION / 1e4 + 1e-3


# -- built-ins --------------------------------------------------------------------------------------

def test_long_short_goes_short(msft, preds):
    result = backtest(msft, preds, LongShort)
    assert (result.weights < -0.95).any()
    assert (result.weights > 0.95).any()
    assert "sell" in set(result.trades["action"])
    assert result.rejected.empty
    # with a band, small forecasts stay flat
    banded = backtest(msft, preds, LongShort, band=0.02)
    small = preds.prediction.abs() <= 0.02
    assert (banded.decisions[small] == 0.0).all()


def test_proportional_weight_scales_and_clips():
    prices = synthetic(np.full(10, 100.0))
    pred = pd.Series([0.0025, 0.0025, 0.005, 0.005, 0.05, 0.05, -0.002, -0.002, -0.1, -0.1], index=prices.index)
    result = backtest(prices, pred, Proportional, scale=0.01, commission=0.0)
    expected = np.clip(pred / 0.01, -1, 1)
    np.testing.assert_allclose(result.decisions, expected, atol=1e-12)
    held = result.weights.iloc[1::2].to_numpy()  # the day after each new forecast level
    np.testing.assert_allclose(held, [0.25, 0.5, 1.0, -0.2, -1.0], atol=0.002)
    long_only = backtest(prices, pred, Proportional, scale=0.01, long_only=True, max_weight=0.5)
    np.testing.assert_allclose(long_only.decisions, np.clip(pred / 0.01, 0, 0.5), atol=1e-12)


def test_vol_target_shrinks_when_volatility_rises():
    rng = np.random.default_rng(0)
    rets = np.concatenate([rng.normal(0, 0.003, 80), rng.normal(0, 0.03, 80)])
    prices = synthetic(100 * np.cumprod(1 + rets))
    pred = pd.Series(0.01, index=prices.index)
    result = backtest(prices, pred, VolTarget, target_vol=0.15, window=20)
    calm = result.decisions.iloc[30:80]
    wild = result.decisions.iloc[110:]
    assert (calm == 1.0).all()  # 0.3% daily vol -> capped at max_leverage
    assert wild.max() < 0.5 and wild.min() > 0
    assert result.weights.iloc[115:].mean() < 0.5
    assert result.rejected.empty


def test_nan_target_is_ignored():
    class Weird(PredictionStrategy):
        def target_weight(self, prediction):
            return float("nan")

    prices = synthetic(np.full(5, 100.0))
    result = backtest(prices, pd.Series(0.01, index=prices.index), Weird)
    assert result.trades.empty


def test_strategy_without_target_weight_fails_with_a_clear_message():
    from lstmtrade import StrategyError

    class Empty(PredictionStrategy):
        pass

    prices = synthetic(np.full(5, 100.0))
    with pytest.raises(StrategyError, match="must override target_weight"):
        backtest(prices, pd.Series(0.01, index=prices.index), Empty)


def test_forgetting_super_init_is_explained():
    import backtrader as bt

    from lstmtrade import StrategyError

    class NoSuper(PredictionStrategy):
        def __init__(self):
            self.sma = bt.indicators.SMA(self.data.close, period=2)

        def target_weight(self, prediction):
            return 1.0

    prices = synthetic(np.full(5, 100.0))
    with pytest.raises(StrategyError, match=r"NoSuper.__init__ must call super\(\).__init__\(\)"):
        backtest(prices, pd.Series(0.01, index=prices.index), NoSuper)


def test_advanced_path_orders_fill_at_the_next_open():
    class Own(PredictionStrategy):
        def next(self):
            if len(self) == 2:
                self.buy(size=10)  # a Backtrader order placed by hand
            if len(self) == 4:
                self.set_target(0.5)  # the base class's sizing

    opens = np.array([100.0, 101, 102, 103, 104, 105])
    prices = synthetic(opens + 0.5, opens)
    result = backtest(prices, pd.Series(0.01, index=prices.index), Own)
    d = prices.index
    assert list(result.trades["date"]) == [d[2], d[4]]
    assert list(result.trades["price"]) == [102.0, 104.0]
    assert result.weights.iloc[4] == pytest.approx(0.5, abs=0.01)
