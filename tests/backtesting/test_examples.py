"""The example strategies in strategies/ load by path and behave as their docstrings say."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmtrade import PortfolioStrategy, PredictionStrategy
from lstmtrade.backtesting.engine import strategy_params
from lstmtrade.backtesting.loader import describe, load_strategy, parse_params
from lstmtrade.backtesting.single import backtest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "strategies"
FILES = sorted(p for p in FOLDER.glob("*.py") if not p.name.startswith("_"))


def _load(name: str) -> type:
    return load_strategy(str(FOLDER / name))


def test_there_are_at_least_three_examples():
    assert {"trend_filter.py", "min_hold.py", "confidence.py"} <= {p.name for p in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_loads_documents_itself_and_runs(path, msft, preds, monkeypatch):
    monkeypatch.chdir(ROOT)
    cls = load_strategy(f"strategies/{path.name}")  # the relative form users type, no :Class
    if issubclass(cls, PortfolioStrategy):
        pytest.skip("a portfolio strategy: tests/test_portfolio.py checks and runs it on a universe")
    assert issubclass(cls, PredictionStrategy)
    source = path.read_text()
    tree = ast.parse(source)
    module_doc = ast.get_docstring(tree)
    assert module_doc and f"--strategy strategies/{path.name}" in module_doc
    imported = {n.module if isinstance(n, ast.ImportFrom) else a.name
                for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert imported <= {"lstmtrade", "backtrader", "math"}, imported
    assert describe(cls)[0], "the class needs its own docstring"
    own = set(strategy_params(cls)) - {"min_trade"}
    assert own, "an example should show params"
    for name in own:  # each param entry carries a comment
        line = next(ln for ln in source.splitlines() if f'("{name}",' in ln)
        assert "#" in line, line
    result = backtest(msft, preds, cls)
    assert len(result.returns) == len(preds.frame)
    assert result.rejected.empty
    assert np.isfinite(result.equity).all()


def test_trend_filter_is_flat_below_the_sma(msft, preds):
    cls = _load("trend_filter.py")
    result = backtest(msft, preds, cls, sma=50)
    # The feed carries a year of history before the first predicted day, so the average is warm at once.
    sma = msft.frame["close"].rolling(50).mean().loc[preds.frame.index]
    close = msft.frame["close"].loc[preds.frame.index]
    decided = result.decisions
    below = close < sma
    assert sma.notna().all() and decided.notna().all()
    assert below.sum() > 50 and (close > sma).sum() > 50
    assert (decided[below] == 0.0).all()
    up = (close > sma) & (preds.prediction > 0)
    assert (decided[up] == 1.0).all()
    # held overnight only after a close above the average
    held = result.weights > 0.5
    assert (~below.shift(1, fill_value=True)[held]).all()
    assert held.sum() > 20


def test_trend_filter_param_typing():
    cls = _load("trend_filter.py")
    assert parse_params(cls, ["sma=100", "threshold=0.001"]) == {"sma": 100, "threshold": 0.001}


def test_min_hold_never_exits_early(msft, preds):
    cls = _load("min_hold.py")
    for hold in (1, 5, 12):
        result = backtest(msft, preds, cls, hold=hold)
        trades = result.trades
        dates = result.returns.index
        bars = [dates.get_loc(d) for d in trades["date"]]
        buys = [b for b, a in zip(bars, trades["action"]) if a == "buy"]
        sells = [b for b, a in zip(bars, trades["action"]) if a == "sell"]
        assert len(sells) > 5
        for entry, exit_ in zip(buys, sells):
            assert exit_ - entry >= hold, (hold, entry, exit_)
        if hold == 12:
            assert min(s - b for b, s in zip(buys, sells)) == 12  # it does exit once allowed
    flat = backtest(msft, preds, _load("min_hold.py"), hold=1)
    longflat = backtest(msft, preds, load_strategy("LongFlat"))
    pd.testing.assert_series_equal(flat.equity, longflat.equity)  # hold=1 is plain LongFlat


def test_confidence_is_flat_on_small_predictions(msft, preds):
    cls = _load("confidence.py")
    window, k = 40, 1.0
    result = backtest(msft, preds, cls, window=window, k=k)
    pred = preds.prediction
    spread = pred.rolling(window).std(ddof=0)
    small = pred.abs() < 0.99 * k * spread
    large = pred.abs() > 1.01 * k * spread
    assert small.sum() > 100 and large.sum() > 20
    assert (result.decisions[small] == 0.0).all()
    assert (result.decisions[large & (pred > 0)] == 1.0).all()
    assert (result.decisions[large & (pred < 0)] == 0.0).all()  # no shorts by default
    assert (result.weights >= -1e-12).all()
    shorting = backtest(msft, preds, cls, window=window, k=k, allow_short=True)
    assert (shorting.decisions[large & (pred < 0)] == -1.0).all()
    assert (shorting.weights < -0.95).any()
    picky = backtest(msft, preds, cls, window=window, k=3.0)
    assert picky.trades.shape[0] < result.trades.shape[0]
