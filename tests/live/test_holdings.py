"""The holdings file and the orders that take it to tomorrow's weights (whole shares, sells first, the backtest's
sizing)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lstmtrade.backtesting.strategy import target_shares
from lstmtrade.errors import ConfigError, DataError
from lstmtrade.live.orders import make_orders, read_holdings


def _file(tmp_path, text):
    path = tmp_path / "holdings.csv"
    path.write_text(text)
    return path


def test_holdings_file_reads_positions_and_cash(tmp_path):
    held = read_holdings(_file(tmp_path, "ticker,shares\nAAPL,100\nMSFT,-20.5\nIBM,0\ncash,2500.75\n\n"))
    assert held.shares.to_dict() == {"AAPL": 100.0, "MSFT": -20.5} and held.cash == 2500.75
    assert read_holdings(_file(tmp_path, "Ticker,Shares\nAAPL,3\n")).cash is None


@pytest.mark.parametrize("text, message", [
    ("ticker,shares\nAAPL,1\ncash,-1\n", "negative cash"),
    ("ticker,shares\nAAPL,1\naapl,2\n", "AAPL appears twice|aapl appears twice"),
    ("ticker,shares\nAAPL,ten\n", "shares of AAPL are not a number"),
    ("ticker,shares\nAAPL,nan\n", "not a finite number"),
    ("symbol,qty\nAAPL,1\n", "expected the header ticker,shares"),
    ("ticker,shares\nAAPL,1,2\n", "line 2 has 3 fields"),
    ("ticker,shares\ncash,1\ncash,2\n", "cash is given twice"),
])
def test_bad_holdings_are_refused_in_one_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message) as info:
        read_holdings(_file(tmp_path, text))
    assert "\n" not in str(info.value)


def test_missing_holdings_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        read_holdings(tmp_path / "nope.csv")


def test_orders_sell_before_buy_in_whole_shares_within_the_cash():
    weights = pd.Series({"A": 0.5, "B": 0.5, "C": 0.0})
    held = pd.Series({"C": 100.0})
    price = pd.Series({"A": 10.0, "B": 33.0, "C": 50.0})
    orders = make_orders(weights, held, price, equity=10_000.0, cash=5_000.0, commission=10.0, slippage=0.0,
                         min_trade=0.005)
    assert list(orders["side"]) == ["sell", "buy", "buy"] and list(orders["ticker"]) == ["C", "A", "B"]
    assert orders["shares"].tolist() == [100, math.floor(5000 / (10 * 1.001)), math.floor(5000 / (33 * 1.001))]
    assert (orders["value"] == orders["shares"] * orders["price"]).all()
    assert np.allclose(orders["commission"], orders["value"] * 0.001)
    cash_after = 5_000 + 100 * 50 * 0.999 - (orders.loc[orders.side == "buy", "value"] * 1.001).sum()
    assert cash_after >= 0


def test_buys_scale_down_when_the_cash_is_short_and_small_resizes_are_skipped():
    weights = pd.Series({"A": 1.0, "B": 0.301})
    price = pd.Series({"A": 10.0, "B": 10.0})
    held = pd.Series({"B": 3000.0})  # 0.3 of 100,000: a 0.001 resize is under min_trade 0.005
    orders = make_orders(weights, held, price, equity=100_000.0, cash=70_000.0, commission=0.0, slippage=0.0,
                         min_trade=0.005)
    assert orders["ticker"].tolist() == ["A"]
    assert orders["value"].sum() <= 70_000.0  # scaled down to the cash: never an order the broker would refuse


def test_one_asset_orders_use_the_one_asset_sizing():
    orders = make_orders(pd.Series({"MSFT": 1.0}), pd.Series({"MSFT": 10.0}), pd.Series({"MSFT": 25.0}),
                         equity=10_250.0, cash=10_000.0, commission=10.0, slippage=5.0, min_trade=0.05,
                         one_asset=True)
    expected = target_shares(1.0, 10.0, 25.0, 10_000.0, 0.0015, 0.05) - 10
    assert orders["shares"].tolist() == [expected] and orders["side"].tolist() == ["buy"]
    assert make_orders(pd.Series({"MSFT": np.nan}), pd.Series(dtype=float), pd.Series({"MSFT": 25.0}), 1e4, 1e4,
                       10.0, 0.0, 0.05).empty  # NaN: leave it as it is
