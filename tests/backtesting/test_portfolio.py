"""Portfolio backtests: decide at the close of t, trade at the open of t+1, on many tickers and calendars."""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders import bars, universe
from click.testing import CliRunner

from lstmtrade import (
    DataError,
    EqualWeight,
    LongShortQuantile,
    PortfolioStrategy,
    RankWeighted,
    StrategyError,
    TopK,
    TopKDropout,
    backtest_portfolio,
    equal_weight_buy_and_hold,
    series_benchmark,
)
from lstmtrade.backtesting.engine import strategy_params
from lstmtrade.backtesting.loader import describe, load_strategy
from lstmtrade.backtesting.single import buy_and_hold
from lstmtrade.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]


def names(row: pd.Series) -> set:
    return set(row.index[row.abs() > 1e-12])


def next_date(index: pd.DatetimeIndex, date: pd.Timestamp) -> pd.Timestamp:
    return index[index.get_loc(date) + 1]


# -- timing and the base class -------------------------------------------------------------------------

def test_topk_picks_the_top_names_and_fills_at_the_next_open():
    prices, pred = universe(n=6)
    result = backtest_portfolio(prices, pred, TopK, k=2, min_trade=0.0)
    days = result.returns.index
    assert days.equals(pred.index) and result.returns.iloc[0] == 0.0
    decided = result.decisions.dropna(how="all")
    assert decided.index.equals(pred.index)  # a decision at every close with forecasts
    for date, row in decided.iterrows():
        assert names(row) == set(pred.loc[date].nlargest(2).index)
        assert np.allclose(row[row != 0], 0.5)
    # held from the next open: the positions at the next close are the names chosen the evening before
    for date in decided.index[:-1]:
        assert names(result.positions.loc[next_date(days, date)]) == names(decided.loc[date])
    trades = result.trades
    assert {"date", "ticker", "action", "size", "price", "value", "commission"} <= set(trades.columns)
    assert trades["date"].min() == days[1]  # nothing trades at the first out-of-sample open
    opens = np.array([prices[t].loc[d, "open"] for d, t in zip(trades["date"], trades["ticker"])])
    np.testing.assert_allclose(trades["price"], opens)  # no slippage: exactly the open
    np.testing.assert_allclose(trades["commission"], trades["value"] * 10 / 1e4)
    assert result.rejected.empty
    assert len(result.orders) == len(trades) and (result.orders["ticker"] == trades["ticker"]).all()


def test_topk_min_forecast_buys_only_positive_forecasts():
    prices, pred = universe(n=6, seed=1)
    result = backtest_portfolio(prices, pred, TopK, k=3, min_forecast=0.0)
    for date, row in result.decisions.dropna(how="all").iterrows():
        chosen = names(row)
        assert len(chosen) <= 3 and all(pred.loc[date, t] > 0 for t in chosen)
        assert chosen == set(pred.loc[date][pred.loc[date] > 0].nlargest(3).index)
        assert np.allclose(row[list(chosen)], 1 / 3)  # 1/k each: cash when fewer qualify


def test_full_rotation_sells_before_buys_and_never_runs_out_of_cash():
    """Every day the whole book is swapped; costs are high; no order may be refused for cash."""
    prices, _ = universe(n=6, days=80, seed=2)
    dates = prices["T0"].index[-40:]
    flip = np.tile([[3, 2, 1, 0, 0, 0], [0, 0, 0, 1, 2, 3]], (20, 1)) / 1000.0
    pred = pd.DataFrame(flip, index=dates, columns=list(prices))
    result = backtest_portfolio(prices, pred, TopK, k=3, commission=50.0, slippage=20.0)
    assert result.rejected.empty
    per_day = result.trades.groupby("date")["action"].agg(lambda a: (a == "sell").sum())
    assert (per_day.iloc[1:] == 3).all()  # the old three sold every day after the first
    for _, day in result.orders.groupby("date"):
        sizes = day["size"].to_numpy()
        assert not (np.diff(np.sign(sizes)) < 0).any(), sizes  # every sell is sent before any buy
    # cash = equity * (1 - invested weight) never goes negative, yet the money is put to work
    assert (result.positions.sum(axis=1) <= 1.0 + 1e-9).all()
    assert (result.weights.iloc[1:] > 0.97).all()
    for _, fill in result.trades.iterrows():  # 20 bps slippage against us, capped by the bar's range
        bar = prices[fill["ticker"]].loc[fill["date"]]
        expected = min(bar["open"] * 1.002, bar["high"]) if fill["action"] == "buy" else \
            max(bar["open"] * 0.998, bar["low"])
        assert fill["price"] == pytest.approx(expected)


def test_topk_dropout_replaces_at_most_n_drop_names_and_holds_k():
    prices, pred = universe(n=8, days=150, oos=90, seed=3)
    result = backtest_portfolio(prices, pred, TopKDropout, k=3, n_drop=1)
    decided = result.decisions.dropna(how="all")
    sets = [names(row) for _, row in decided.iterrows()]
    assert sets[0] == set(pred.iloc[0].nlargest(3).index)
    changes = 0
    for before, after in zip(sets, sets[1:]):
        assert len(after) == 3
        assert len(before - after) <= 1 and len(after - before) == len(before - after)
        changes += len(before - after)
    assert changes > 10  # it does trade
    held = [names(row) for _, row in result.positions.iloc[1:].iterrows()]
    assert all(len(h) == 3 for h in held)
    assert max(len(a - b) for a, b in zip(held, held[1:])) <= 1


def test_long_short_quantile_is_market_neutral_with_gross_one():
    prices, pred = universe(n=10, seed=4)
    result = backtest_portfolio(prices, pred, LongShortQuantile, quantile=0.2)
    for date, row in result.decisions.dropna(how="all").iterrows():
        assert abs(row.sum()) < 1e-12 and row.abs().sum() == pytest.approx(1.0)
        assert set(row[row > 0].index) == set(pred.loc[date].nlargest(2).index)
        assert set(row[row < 0].index) == set(pred.loc[date].nsmallest(2).index)
    held = result.positions.iloc[1:]
    assert (held.sum(axis=1).abs() < 0.03).all()  # net ~0 at every close
    assert held.abs().sum(axis=1).between(0.95, 1.03).all()  # gross ~1
    assert result.rejected.empty


def test_rank_weighted_long_short_and_long_only():
    prices, pred = universe(n=7, seed=5)
    both = backtest_portfolio(prices, pred, RankWeighted)
    only = backtest_portfolio(prices, pred, RankWeighted, long_only=True)
    for date in pred.index[:10]:
        row, forecast = both.decisions.loc[date], pred.loc[date]
        assert abs(row.sum()) < 1e-12 and row.abs().sum() == pytest.approx(1.0)
        assert (np.diff(row[forecast.sort_values().index].to_numpy()) > 0).all()  # more forecast, more weight
        long_row = only.decisions.loc[date]
        assert (long_row >= 0).all() and long_row.sum() == pytest.approx(1.0)
    assert both.rejected.empty and only.rejected.empty


class Heavy(PortfolioStrategy):
    """Asks for 3x gross: long the two best, short the worst, 1.0 each."""

    def target_weights(self, predictions):
        ranked = predictions.sort_values()
        return pd.Series([-1.0, 1.0, 1.0], index=[ranked.index[0], *ranked.index[-2:]])


class HalfGross(Heavy):
    """Same, with a lower cap set as a class attribute."""

    gross_limit = 0.5


def test_gross_limit_scales_weights_down():
    prices, pred = universe(n=5, seed=6)
    default = backtest_portfolio(prices, pred, Heavy)
    raised = backtest_portfolio(prices, pred, Heavy, gross_limit=1.5)
    halved = backtest_portfolio(prices, pred, HalfGross)
    for result, cap in ((default, 1.0), (raised, 1.5), (halved, 0.5)):
        decided = result.decisions.dropna(how="all")
        np.testing.assert_allclose(decided.abs().sum(axis=1), cap)
        np.testing.assert_allclose(decided.max(axis=1), cap / 3)  # scaled alike
        assert (result.weights <= cap * 1.04).all() and result.weights.iloc[-1] > cap * 0.9
        assert result.rejected.empty


# -- calendars ---------------------------------------------------------------------------------------

def gapped(gap: int = 10) -> tuple[dict, pd.DataFrame, pd.Timestamp]:
    """T1 misses one session (the ``gap``-th out-of-sample day) and has no forecast that day."""
    prices, pred = universe(n=3, days=80, oos=40, seed=7)
    missing = pred.index[gap]
    prices["T1"] = prices["T1"].drop(missing)
    pred.loc[missing, "T1"] = np.nan
    return prices, pred, missing


def test_a_ticker_without_a_bar_is_not_traded_that_day():
    """Backtrader aligns feeds by date and would fill T1 at its previous open; the base class waits."""
    prices, pred, missing = gapped()
    days = pred.index
    before = days[days.get_loc(missing) - 1]
    pred.loc[:, :] = 0.0
    pred.loc[pred.index < before, "T0"] = 0.01  # T0 the best until the evening before the gap...
    pred.loc[before:, "T1"] = 0.01  # ...then T1, so T1 is bought for the open of its missing session
    pred.loc[missing, "T1"] = np.nan
    result = backtest_portfolio(prices, pred, TopK, k=1)
    trades = result.trades.set_index(["date", "ticker"])
    assert ("T0" in trades.loc[missing].index) and trades.loc[(missing, "T0"), "action"] == "sell"
    assert "T1" not in trades.loc[missing].index  # no fill on its missing session
    after = next_date(days, missing)
    fill = trades.loc[(after, "T1")]
    assert fill["action"] == "buy" and fill["price"] == pytest.approx(prices["T1"].loc[after, "open"])
    assert result.positions.loc[missing, "T1"] == 0.0 and result.positions.loc[after, "T1"] > 0.9
    assert "T2" not in set(result.trades["ticker"])  # T1's missing forecast did not make TopK switch


def test_a_held_ticker_keeps_its_position_through_a_missing_session():
    prices, pred, missing = gapped()
    pred.loc[:, "T1"] = 0.05  # always the best when it trades
    pred.loc[missing, "T1"] = np.nan
    result = backtest_portfolio(prices, pred, TopK, k=1)
    assert list(result.trades["ticker"]) == ["T1"]  # bought once, never sold or topped up
    close_before = prices["T1"]["close"].asof(missing)
    held = result.positions.loc[missing, "T1"] * result.equity.loc[missing]
    assert held == pytest.approx(result.trades["size"].iloc[0] * close_before)  # valued at its last close


def test_a_ticker_whose_data_ends_is_sold_at_its_last_open():
    prices, pred = universe(n=3, days=80, oos=40, seed=8)
    last = pred.index[25]
    prices["T2"] = prices["T2"].loc[:last]
    pred.loc[:, "T2"] = 0.05  # always the best while it trades
    pred.loc[pred.index > last, "T2"] = np.nan
    result = backtest_portfolio(prices, pred, TopK, k=1)
    sold = result.trades[(result.trades["ticker"] == "T2") & (result.trades["action"] == "sell")]
    assert list(sold["date"]) == [last]
    assert sold["price"].iloc[0] == pytest.approx(prices["T2"].loc[last, "open"])
    assert (result.positions.loc[last:, "T2"] == 0).all()
    later = result.decisions.loc[result.decisions.index > last]
    assert (later["T2"].fillna(0) == 0).all() and np.allclose(later.abs().sum(axis=1), 1.0)


def test_feeds_on_different_calendars_start_and_stop_independently():
    prices, pred = universe(n=3, days=100, oos=50, seed=9)
    prices["T0"] = prices["T0"].iloc[60:]  # starts ten days into the out-of-sample period
    pred.loc[pred.index < prices["T0"].index[0], "T0"] = np.nan
    result = backtest_portfolio(prices, pred, EqualWeight)
    assert result.returns.index.equals(pred.index)
    assert "T0" not in set(result.trades["ticker"])  # no forecast on the first day: not in the benchmark
    assert set(result.trades["ticker"]) == {"T1", "T2"}


# -- honesty checks -----------------------------------------------------------------------------------

class Peeking(PortfolioStrategy):
    """Buys the ticker whose close rises tomorrow: reads the next bar."""

    def target_weights(self, predictions):
        up = [t for t in predictions.index if len(self.feed(t)) < self.feed(t).buflen()
              and self.feed(t).close[1] > self.feed(t).close[0]]
        return pd.Series(1.0 / max(1, len(up)), index=up)


def poisoned(prices: dict, pred: pd.DataFrame, at: pd.Timestamp, seed: int) -> tuple[dict, pd.DataFrame]:
    """Prices and forecasts after ``at`` replaced with other random, valid ones."""
    rng = np.random.default_rng(seed)
    out = {}
    for ticker, frame in prices.items():
        frame = frame.copy()
        later = frame.index > at
        close = frame.loc[~later, "close"].iloc[-1] * np.exp(np.cumsum(rng.normal(0, 0.02, later.sum())))
        frame.loc[later] = bars(close, close * np.exp(rng.normal(0, 0.01, later.sum())), frame.index[later]).to_numpy()
        out[ticker] = frame
    pred = pred.copy()
    pred.loc[pred.index > at] = rng.normal(0, 0.01, pred.loc[pred.index > at].shape)
    return out, pred


@pytest.mark.parametrize("strategy", [TopK, TopKDropout, LongShortQuantile, RankWeighted, Peeking])
def test_truncation_decisions_up_to_a_date_ignore_what_comes_after(strategy):
    prices, pred = universe(n=6, seed=10)
    at = pred.index[30]
    full = backtest_portfolio(prices, pred, strategy, k=2) if strategy in (TopK, TopKDropout) else \
        backtest_portfolio(prices, pred, strategy)
    other_prices, other_pred = poisoned(prices, pred, at, seed=11)
    params = {"k": 2} if strategy in (TopK, TopKDropout) else {}
    changed = backtest_portfolio(other_prices, other_pred, strategy, **params)
    same = full.decisions.loc[:at].equals(changed.decisions.loc[:at])
    if strategy is Peeking:
        assert not same  # the check catches a strategy that reads tomorrow's close
    else:
        assert same
        pd.testing.assert_frame_equal(full.positions.loc[:at], changed.positions.loc[:at])
        pd.testing.assert_frame_equal(full.trades[full.trades["date"] <= at],
                                      changed.trades[changed.trades["date"] <= at])


# -- benchmarks ---------------------------------------------------------------------------------------

def test_equal_weight_benchmark_enters_at_the_first_open_with_equal_weights_and_pays_commission():
    prices, pred = universe(n=4, seed=12)
    pred.iloc[0, 3] = np.nan  # T3 has no forecast on the first day: not part of the benchmark
    bench = equal_weight_buy_and_hold(prices, pred, cash=100_000.0, commission=10.0)
    days = pred.index
    assert bench.returns.index.equals(days) and bench.returns.iloc[0] == 0.0
    trades = bench.trades
    assert set(trades["date"]) == {days[1]} and list(trades["action"].unique()) == ["buy"]
    assert set(trades["ticker"]) == {"T0", "T1", "T2"}
    np.testing.assert_allclose(trades["price"], [prices[t].loc[days[1], "open"] for t in trades["ticker"]])
    assert (trades["value"] / (100_000.0 / 3)).between(0.995, 1.0).all()  # a third each, net of costs
    np.testing.assert_allclose(trades["commission"], trades["value"] * 1e-3)
    cash = 100_000.0 - trades["value"].sum() - trades["commission"].sum()
    shares = trades.set_index("ticker")["size"]
    value = cash + sum(shares[t] * prices[t].loc[days[-1], "close"] for t in shares.index)
    assert bench.equity.iloc[-1] == pytest.approx(value)  # held, never rebalanced


def test_series_benchmark_is_buy_and_hold_on_the_same_days():
    prices, pred = universe(n=3, seed=13)
    index = prices["T0"]
    days = pred.index
    bench = series_benchmark(index, days, commission=10.0)
    single = buy_and_hold(index, pd.Series(0.0, index=days))
    pd.testing.assert_series_equal(bench.equity, single.equity)
    short = series_benchmark(index.drop(days[5]), days)  # a day the index does not trade: return 0
    assert short.returns.index.equals(days) and short.returns.loc[days[5]] == 0.0


# -- uncertainty and inputs -----------------------------------------------------------------------------

class Confident(PortfolioStrategy):
    """Long the best forecast among the two least uncertain."""

    def target_weights(self, predictions, uncertainty):
        self.seen.append(uncertainty)
        calm = uncertainty.nsmallest(2).index
        return pd.Series(1.0, index=[predictions[calm].idxmax()])

    def start(self):
        super().start()
        self.seen = []


class OneArg(PortfolioStrategy):
    """Reads self.uncertainty with a one-argument override."""

    def target_weights(self, predictions):
        assert self.uncertainty is not None and self.uncertainty.index.equals(predictions.index)
        return pd.Series(1.0, index=[self.uncertainty.idxmin()])


def test_uncertainty_reaches_two_and_one_argument_overrides():
    prices, pred = universe(n=5, seed=14)
    unc = pd.DataFrame(np.random.default_rng(0).uniform(0.1, 1, pred.shape), index=pred.index, columns=pred.columns)
    result = backtest_portfolio(prices, pred, Confident, uncertainty=unc)
    for date, row in result.decisions.dropna(how="all").iterrows():
        calm = unc.loc[date].nsmallest(2).index
        assert names(row) == {pred.loc[date, calm].idxmax()}
    one = backtest_portfolio(prices, pred, OneArg, uncertainty=unc)
    assert names(one.decisions.iloc[0]) == {unc.iloc[0].idxmin()}
    plain = backtest_portfolio(prices, pred, TopK, k=2)  # no uncertainty: self.uncertainty is None
    assert len(plain.trades)


class Unknown(PortfolioStrategy):
    """Asks for a ticker outside the universe."""

    def target_weights(self, predictions):
        return pd.Series({"NOPE": 0.5})


def test_input_errors_name_the_problem():
    prices, pred = universe(n=3, seed=15)
    with pytest.raises(DataError, match=r"ticker\(s\) in predictions have no prices, first \['T0'\]"):
        backtest_portfolio({k: v for k, v in prices.items() if k != "T0"}, pred)
    with pytest.raises(StrategyError, match=r"unknown ticker\(s\) \['NOPE'\]"):
        backtest_portfolio(prices, pred, Unknown)
    with pytest.raises(StrategyError, match="TopK has no param 'kk'; did you mean 'k'"):
        backtest_portfolio(prices, pred, TopK, kk=3)
    with pytest.raises(StrategyError, match="k must be an integer >= 1"):
        backtest_portfolio(prices, pred, TopK, k=0)
    with pytest.raises(StrategyError, match="not a PortfolioStrategy subclass"):
        backtest_portfolio(prices, pred, int)
    late = pred.set_axis(pred.index + pd.Timedelta(hours=12))
    with pytest.raises(DataError, match="have no price bar for any ticker"):
        backtest_portfolio(prices, late)
    stray = pred.copy()
    prices["T1"] = prices["T1"].drop(pred.index[3])
    with pytest.warns(UserWarning, match="1 forecast\\(s\\) fall on dates their ticker has no bar"):
        backtest_portfolio(prices, stray, TopK, k=1)


def test_tz_aware_dates_keep_their_local_dates():
    prices, pred = universe(n=3, seed=16)
    naive = backtest_portfolio(prices, pred, TopK, k=1)
    aware = {t: f.tz_localize("America/New_York") for t, f in prices.items()}
    result = backtest_portfolio(aware, pred.tz_localize("America/New_York"), TopK, k=1)
    pd.testing.assert_series_equal(naive.equity, result.equity, check_freq=False)  # freq metadata differs by pandas


# -- loading and listing --------------------------------------------------------------------------------

MINE = '''
import pandas as pd
from lstmtrade import PortfolioStrategy


class BestTwo(PortfolioStrategy):
    """Half in each of the two best forecasts."""
    params = (("n", 2),)  # names held

    def target_weights(self, predictions):
        return pd.Series(1.0 / self.p.n, index=predictions.nlargest(self.p.n).index)
'''


def test_loader_loads_portfolio_strategies_by_name_and_from_a_file(tmp_path):
    assert load_strategy("TopKDropout") is TopKDropout and load_strategy("topk") is TopK
    path = tmp_path / "best_two.py"
    path.write_text(textwrap.dedent(MINE))
    cls = load_strategy(str(path))
    assert cls.__name__ == "BestTwo" and issubclass(cls, PortfolioStrategy)
    prices, pred = universe(n=4, seed=17)
    result = backtest_portfolio(prices, pred, cls)
    assert all(len(names(row)) == 2 for _, row in result.decisions.dropna(how="all").iterrows())


def test_cli_lists_portfolio_builtins_and_example():
    result = CliRunner().invoke(cli, ["strategies", "--dir", str(ROOT / "strategies")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "portfolio built-ins" in out
    for name in ("TopK", "TopKDropout", "LongShortQuantile", "RankWeighted", "EqualWeight"):
        assert f"  {name}: " in out
    assert "n_drop=2" in out and "topk_trend.py:TopKTrend [portfolio]" in out


def test_example_topk_trend_documents_itself_and_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    cls = load_strategy("strategies/topk_trend.py")
    assert issubclass(cls, PortfolioStrategy) and describe(cls)[0]
    source = (ROOT / "strategies" / "topk_trend.py").read_text()
    tree = ast.parse(source)
    assert "--strategy strategies/topk_trend.py" in ast.get_docstring(tree)
    imported = {n.module if isinstance(n, ast.ImportFrom) else a.name
                for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert imported <= {"lstmtrade", "backtrader", "math"}, imported
    for name in set(strategy_params(cls)) - set(strategy_params(PortfolioStrategy)):
        line = next(ln for ln in source.splitlines() if f'("{name}",' in ln)
        assert "#" in line, line
    prices, pred = universe(n=6, days=120, oos=60, seed=18)
    result = backtest_portfolio(prices, pred, cls, k=2, sma=20)
    assert result.rejected.empty and len(result.trades) > 0
    for date, row in result.decisions.dropna(how="all").iterrows():
        for ticker in names(row):  # only names closing above their 20-day average
            close = prices[ticker]["close"]
            assert close.loc[date] > close.loc[:date].iloc[-20:].mean()


def test_a_portfolio_rule_on_one_asset_is_refused_before_training(msft, preds):
    from lstmtrade.backtesting.loader import resolve_strategy
    from lstmtrade.backtesting.single import backtest
    from lstmtrade.config import Config

    with pytest.raises(StrategyError, match="TopK is a portfolio strategy: it trades a universe"):
        resolve_strategy(Config(), "TopK")
    with pytest.raises(StrategyError, match="TopKDropout is a portfolio strategy: run it on a universe"):
        backtest(msft, preds, TopKDropout)


@pytest.mark.parametrize("rule", [TopK, TopKDropout, LongShortQuantile, RankWeighted])
def test_ranking_rules_hold_nothing_on_forecasts_without_a_ranking(rule):
    """The zero forecast carries no ranking: a ranking rule stays in cash, as LongFlat does for one asset."""
    prices, pred = universe(n=5)
    result = backtest_portfolio(prices, pred * 0.0, rule)
    assert len(result.trades) == 0 and (result.returns == 0).all()
