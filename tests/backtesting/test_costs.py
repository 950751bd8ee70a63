"""Costs beyond commission, each checked against an answer known in advance: borrow, spread, volume caps, impact,
minimum fees, the break-even and capacity."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from builders import universe
from click.testing import CliRunner

import lstmtrade
from lstmtrade.backtesting.costs import Costs, half_spread, participation, read_borrow_file
from lstmtrade.backtesting.portfolio import backtest_portfolio
from lstmtrade.backtesting.rules import LongShortQuantile, TopK
from lstmtrade.cli.main import cli
from lstmtrade.errors import ConfigError
from lstmtrade.evaluate.capacity import capacity
from lstmtrade.evaluate.performance import performance


def planted(n: int = 8, days: int = 400, oos: int = 300, seed: int = 3, skill: float = 1.0):
    """A universe whose forecasts know tomorrow's open-to-open return (times ``skill``, plus noise)."""
    prices, _ = universe(n=n, days=days, oos=oos, seed=seed)
    rng = np.random.default_rng(seed + 1)
    opens = pd.DataFrame({t: f["open"] for t, f in prices.items()})
    target = opens.shift(-2) / opens.shift(-1) - 1  # what a position taken after the close of t earns
    pred = skill * target.iloc[-oos:] + rng.normal(0, 0.01, (oos, n))
    return prices, pred.iloc[:-2]


def short_exposure(result) -> float:
    return float(result.positions.clip(upper=0).sum(axis=1).abs().mean())


def test_plain_costs_set_up_the_broker_as_before():
    """Only commission and slippage: the same numbers, bit for bit, as the broker lstmtrade always set up."""
    prices, pred = universe(n=5)
    before = backtest_portfolio(prices, pred, TopK, k=2, commission=10.0, slippage=2.0)
    now = backtest_portfolio(prices, pred, TopK, k=2, costs=Costs(commission=10.0, slippage=2.0))
    assert Costs(10.0, 2.0).plain and not Costs(borrow=1.0).plain
    pd.testing.assert_series_equal(before.returns, now.returns, check_exact=True)


def test_borrow_costs_the_rate_times_the_short_exposure():
    """A market-neutral book's annual return falls by the borrow rate times its average short exposure."""
    prices, pred = planted(skill=0.0)
    rate = 200.0  # bps a year: a hard-to-borrow book, so the effect stands out of the rounding
    free = backtest_portfolio(prices, pred, LongShortQuantile, quantile=0.25)
    paying = backtest_portfolio(prices, pred, LongShortQuantile, quantile=0.25, costs=Costs(borrow=rate))
    days = len(free.returns)
    years = (free.returns.index[-1] - free.returns.index[0]).days / 365.0
    lost = free.equity.iloc[-1] / paying.equity.iloc[-1] - 1  # what the fees took, compounded
    expected = rate / 1e4 * short_exposure(free) * years
    assert lost == pytest.approx(expected, rel=0.1), (lost, expected, days)
    assert paying.borrow_paid > 0 and free.borrow_paid == 0.0


def test_a_volume_cap_holds_every_fill_under_its_share_of_the_bar():
    prices, pred = planted(skill=0.0)
    for frame in prices.values():
        frame["volume"] = 2_000.0  # a thin market: $100,000 needs more than 1 % of it
    costs = Costs(max_participation=0.01)
    result = backtest_portfolio(prices, pred, TopK, k=2, costs=costs)
    share = participation(result, prices, costs)
    assert len(share) and share.max() <= 0.01 + 1e-12
    assert len(result.unfilled) > 0 and (result.unfilled["value"] > 0).all()


def test_impact_never_lets_sharpe_rise_with_capital():
    prices, pred = planted(skill=0.5)
    costs = Costs(impact=1.0)
    rows = capacity(prices, _frame(pred), TopK, costs, {"k": 3}, [1e4, 1e6, 1e8], 252)
    sharpes = [r["sharpe"] for r in rows]
    assert sharpes[0] >= sharpes[1] >= sharpes[2], sharpes
    assert sharpes[0] > sharpes[2] + 0.1  # and it really bites at 100 million
    assert rows[-1]["participation_max"] > rows[0]["participation_max"]


def test_the_return_at_the_break_even_cost_is_about_zero():
    """A planted edge, all costs on: re-run at the run's commission plus the break-even, the CAGR is about zero."""
    prices, pred = planted(skill=0.05)
    costs = Costs(commission=10.0, spread=4.0, impact=0.2, borrow=50.0)
    from lstmtrade.backtesting.stage import trade
    from lstmtrade.evaluate.performance import break_even

    first = trade(prices, _frame(pred), TopK, {"cash": 100_000.0, "costs": costs}, {"k": 3}, 252)
    bench = trade(prices, _frame(pred), TopK, {"cash": 100_000.0, "costs": costs}, {"k": 8}, 252)
    cagr = performance(first.returns)["cagr"]
    extra = break_even(first, bench, 100_000.0, costs.commission, 252)["break_even_bps"]
    assert cagr > 0 and extra is not None and extra > 0
    dearer = Costs(commission=10.0 + extra, spread=4.0, impact=0.2, borrow=50.0)
    again = trade(prices, _frame(pred), TopK, {"cash": 100_000.0, "costs": dearer}, {"k": 3}, 252)
    assert abs(performance(again.returns)["cagr"]) < 0.1 * cagr


def _frame(pred: pd.DataFrame):
    """Wide forecasts as the Predictions a pipeline passes to ``trade``."""
    from lstmtrade.forecast.predictions import Predictions

    long = pred.stack().rename("prediction").reset_index()
    long.columns = ["date", "ticker", "prediction"]
    long = long.assign(target=0.0, fold=0).set_index("date").sort_values(["date", "ticker"])
    return Predictions(long[["ticker", "prediction", "target", "fold"]])


def test_the_spread_estimator_finds_a_planted_spread():
    """Trades at the bid or the ask around a random walk: the estimate recovers the spread within its known error
    (about 10 % per 20-bar window when the spread is twice the daily volatility)."""
    rng = np.random.default_rng(1)
    days, steps, sigma, spread = 2000, 200, 0.005, 0.01
    walk = np.cumsum(rng.normal(0, sigma / np.sqrt(steps), (days, steps)).ravel()).reshape(days, steps)
    prints = walk + np.log(50) + rng.choice([-1, 1], size=(days, steps)) * spread / 2
    frame = pd.DataFrame({"open": np.exp(prints[:, 0]), "high": np.exp(prints.max(1)), "low": np.exp(prints.min(1)),
                          "close": np.exp(prints[:, -1]), "volume": 1e6},
                         index=pd.bdate_range("2000-01-03", periods=days))
    estimate = 2 * half_spread(frame)
    assert estimate.iloc[:21].isna().all() and estimate.iloc[21:].notna().all()  # 20 terms, each needing the
    # next bar: the first fill that has them is bar 21, whose terms end with bars 19 and 20
    assert estimate.median() == pytest.approx(spread, rel=0.05)
    assert estimate.std() < 0.15 * spread


def test_the_spread_estimate_for_a_fill_uses_no_bar_of_that_day_or_later():
    rng = np.random.default_rng(2)
    n = 80
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    frame = pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1e6},
                         index=pd.bdate_range("2020-01-01", periods=n))
    full = half_spread(frame)
    for t in (30, 50, 79):
        changed = frame.copy()
        changed.iloc[t:, :4] *= rng.uniform(0.5, 2.0, size=(n - t, 1))  # garbage from bar t on
        np.testing.assert_array_equal(half_spread(changed).iloc[:t + 1].to_numpy(), full.iloc[:t + 1].to_numpy())


def test_minimum_commission_per_fill():
    prices, pred = universe(n=5)
    small = backtest_portfolio(prices, pred, TopK, k=2, cash=1_000.0, costs=Costs(min_commission=5.0))
    assert len(small.trades) and (small.trades["commission"] >= 5.0 - 1e-9).all()


def test_a_single_ticker_run_reports_costs_and_capacity(tmp_path):
    result = lstmtrade.run(data="sample:IBM", end="2004-12-31", model="persistence", min_train=300,
                           retrain_every=200, baselines=False, strategy="LongShort", borrow=100.0, spread="auto",
                           impact=0.2, capacity=(1e5, 1e8), out=tmp_path)
    costs = result.metrics["costs"]
    assert costs["paid"]["borrow"] > 0 and costs["paid"]["spread"] > 0 and costs["paid"]["impact"] > 0
    assert set(costs["paid_pct_a_year"]) == {"commission", "spread", "impact", "borrow", "slippage"}
    assert costs["turnover"] > 0
    table = pd.read_csv(result.folder / "capacity.csv")
    assert list(table.columns) == ["capital", "sharpe", "cagr", "participation_mean", "participation_max",
                                   "unfilled"]
    assert list(table["capital"]) == [1e5, 1e8] and table["sharpe"].iloc[1] <= table["sharpe"].iloc[0]
    page = (result.folder / "comparison.html").read_text()
    assert "What trading cost" in page and "Sharpe by capital" in page
    assert "Break-even" in (result.folder / "tearsheet.html").read_text()


@pytest.mark.parametrize("args, words", [
    (["--commission", "-1"], "--commission must be a number >= 0"),
    (["--borrow", "-5"], "--borrow must be a number >= 0"),
    (["--max-participation", "1.5"], "--max-participation must be a fraction in (0, 1]"),
    (["--max-participation", "0"], "--max-participation must be a fraction in (0, 1]"),
    (["--spread", "wide"], "--spread must be auto or a number"),
    (["--capacity", "1e6,lots"], "--capacity must list starting capitals"),
])
def test_bad_cost_options_are_one_line_and_exit_2(args, words, tmp_path):
    result = CliRunner().invoke(cli, ["backtest", "--out", str(tmp_path), *args])
    assert result.exit_code == 2 and words in result.output, result.output
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("text, words", [
    ("symbol,rate\nAAPL,30\n", "the header must be ticker,bps"),
    ("ticker,bps\nAAPL,30\nAAPL,40\n", "ticker AAPL is listed twice"),
    ("ticker,bps\nAAPL,cheap\n", "'cheap' is not a number"),
    ("ticker,bps\nAAPL,-3\n", "must be >= 0"),
])
def test_a_bad_borrow_file_is_refused_in_one_line(tmp_path, text, words):
    path = tmp_path / "borrow.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):
        read_borrow_file(path)
    result = CliRunner().invoke(cli, ["backtest", "--borrow-file", str(path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and words in result.output


def test_a_borrow_file_sets_rates_per_ticker(tmp_path):
    path = tmp_path / "borrow.csv"
    path.write_text("ticker,bps\nT0,300\nT1,0\n")
    assert read_borrow_file(path) == {"T0": 300.0, "T1": 0.0}
    costs = Costs(borrow=25.0, borrow_rates=read_borrow_file(path))
    assert costs.borrow_rate("T0") == 300.0 and costs.borrow_rate("T2") == 25.0
