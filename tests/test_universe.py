"""Universes through the one walk-forward: a universe of one is the single-ticker run, the look-ahead
guarantees hold per (date, ticker), and a planted cross-sectional signal is recovered, never exceeded."""
import math

import numpy as np
import pandas as pd
import pytest

from lstmtrade.config import Config
from lstmtrade.data.prices import PriceData
from lstmtrade.features import LABEL_REACH, warmup
from lstmtrade.forecast.folds import calendar_of, fold_pieces, frames_of
from lstmtrade.forecast.folds import ticker_series as _series
from lstmtrade.forecast.walkforward import walk_forward_predict
from lstmtrade.splits import WalkForward

SIGMA_S, BETA, SIGMA_N = 0.01, 0.3, 0.005  # intraday move, echo of day t's return two bars later, noise


def planted_universe(n_tickers=24, n_days=420, beta=BETA, seed=0, gaps=True) -> dict[str, PriceData]:
    """Bars whose overnight gap into day t+2 is beta x day t's close-to-close log return plus noise.

    The open(t+1)->open(t+2) log return is then s(t+1) + beta * l(t) + n, where only l(t) is known at
    t's close, and its correlation with beta * l(t) is exactly beta (var l = var of that return), so no
    forecast can have a rank IC above (6 / pi) asin(beta / 2).
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-01", periods=n_days, name="date")
    out = {}
    for j in range(n_tickers):
        s = rng.normal(0, SIGMA_S, n_days)
        noise = rng.normal(0, SIGMA_N, n_days)
        gap, logret = np.zeros(n_days), np.zeros(n_days)
        for t in range(n_days):
            gap[t] = (beta * logret[t - 2] if t >= 2 else 0.0) + noise[t]
            logret[t] = gap[t] + s[t]
        log_open = np.cumsum(logret) - s  # open(t) = close(t-1) * exp(gap(t))
        opens = 50 * np.exp(log_open)
        closes = opens * np.exp(s)
        frame = pd.DataFrame({"open": opens, "high": np.maximum(opens, closes) * 1.002,
                              "low": np.minimum(opens, closes) * 0.998, "close": closes,
                              "volume": rng.uniform(1e5, 2e5, n_days)}, index=dates)
        if gaps and j == 1:
            frame = frame.drop(frame.index[[200, 201, 305]])  # missing sessions inside the history
        if gaps and j == 2:
            frame = frame.iloc[150:]  # a ticker that starts late
        out[f"T{j:02d}"] = PriceData(frame, "synthetic", f"T{j:02d}")
    return out


def planted_panel(n_tickers=10, n_days=330) -> pd.DataFrame:
    """The planted universe as a long panel (Ticker, Date, Open, ..., Volume), as a user's CSV holds it."""
    rows = []
    for ticker, prices in planted_universe(n_tickers=n_tickers, n_days=n_days).items():
        frame = prices.frame.rename(columns=str.capitalize).rename_axis("Date").reset_index()
        frame.insert(0, "Ticker", ticker)
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def best_rank_ic(beta=BETA) -> float:
    return 6 / math.pi * math.asin(beta / 2)


@pytest.fixture(scope="module")
def universe():
    return planted_universe()


@pytest.fixture
def ucfg():
    return Config(features=("logret", "gap"), min_train=150, retrain_every=60, lookback=5, hidden=8, epochs=2,
                  batch_size=256, baselines=False, jobs=1)


def _truncated(universe, cut):
    return {t: PriceData(p.frame.loc[:cut], p.source, p.name) for t, p in universe.items() if len(p.frame.loc[:cut])}


def test_a_universe_of_one_is_the_single_ticker_run(prices, tiny):
    single = walk_forward_predict(prices, tiny)
    one = walk_forward_predict({"MSFT": prices}, tiny)
    assert list(one.frame["ticker"].unique()) == ["MSFT"]
    pd.testing.assert_series_equal(one.prediction, single.prediction, check_exact=True)
    pd.testing.assert_series_equal(one.frame["fold"], single.frame["fold"])


@pytest.mark.parametrize("model", ["lstm", "linear"])
def test_universe_predictions_up_to_T_do_not_change_when_data_runs_on(universe, ucfg, model):
    config = ucfg.replace(model=model)
    full = walk_forward_predict(universe, config).frame
    for cut in (full.index[30], full.index[len(full) // 2]):
        short = walk_forward_predict(_truncated(universe, cut), config).frame
        a = full.loc[:cut].set_index("ticker", append=True)["prediction"]
        b = short.set_index("ticker", append=True)["prediction"]
        assert b.index.get_level_values(0).max() == cut
        pd.testing.assert_series_equal(a, b, check_exact=True)


def test_poisoning_every_ticker_after_T_leaves_earlier_predictions(universe, ucfg):
    from lstmtrade.evaluate.audit import poison_after

    full = walk_forward_predict(universe, ucfg).frame
    cut = full.index[len(full) // 3]
    poisoned = {t: PriceData(poison_after(p.frame, cut, i), p.source, p.name) for i, (t, p) in enumerate(universe.items())}
    other = walk_forward_predict(poisoned, ucfg).frame
    a = full.loc[:cut].set_index("ticker", append=True)["prediction"]
    b = other.loc[:cut].set_index("ticker", append=True)["prediction"]
    pd.testing.assert_series_equal(a, b, check_exact=True)
    later = full.index > cut + pd.Timedelta(days=7)
    assert not np.allclose(full.loc[later, "prediction"], other.loc[later, "prediction"])


def test_every_training_label_is_known_before_the_test_range(universe, ucfg):
    """Per ticker: a training row's label needs that ticker's open two of its own bars later; with a
    missing session that is later on the calendar, and the row must then not train."""
    frames, _ = frames_of(universe)
    calendar = calendar_of(frames)
    series = _series(frames, calendar, ucfg, True)
    first_row = warmup(ucfg.features)
    folds = WalkForward(ucfg.min_train, ucfg.retrain_every, None, ucfg.lookback, ucfg.val_fraction).split(
        len(calendar), first_row)
    by = {s.ticker: s for s in series}
    checked = 0
    for fold in folds:
        for piece in fold_pieces(fold, series, first_row + ucfg.lookback - 1):
            s = by[piece.ticker]
            for rows, span in ((piece.fit, fold.fit), (piece.val, fold.val)):
                if len(rows):
                    assert s.label_pos[rows.stop - 1] < span.stop + LABEL_REACH
                    assert s.pos[rows.start] >= span.start and s.pos[rows.stop - 1] < span.stop
                    checked += 1
            if len(piece.test):
                assert s.label_pos[(piece.val or piece.fit).stop - 1] <= fold.test.start
    gappy = by["T01"]
    assert (np.diff(gappy.pos) > 1).any() and checked > 40


def test_each_tickers_scaler_sees_its_training_rows_only(universe, ucfg, monkeypatch):
    from lstmtrade.forecast import lstm as forecasters  # where the LSTM fits each ticker's scaler

    seen = []
    original = forecasters.fit_scaler

    def spy(piece, lookback):
        scaler = original(piece, lookback)
        seen.append((piece, scaler.n_rows_))
        return scaler

    monkeypatch.setattr(forecasters, "fit_scaler", spy)
    result = walk_forward_predict(universe, ucfg)
    assert len(seen) >= len(result.folds) * (len(universe) - 1)
    for piece, n_rows in seen:
        index = universe[piece.ticker].frame.index
        assert n_rows == piece.fit.stop - (piece.fit.start - ucfg.lookback + 1)  # the windows' rows, no more
        if len(piece.test):  # every row it saw is at least a purge before the ticker's first test day
            assert index[piece.fit.stop - 1] < index[piece.test.start - LABEL_REACH]
    late = result.frame[result.frame["ticker"] == "T02"].index.min()
    assert late > universe["T02"].frame.index[20]  # a late starter waits for enough training rows


def test_planted_cross_sectional_signal_is_recovered_never_exceeded(ucfg):
    from lstmtrade.evaluate.xsection import universe_report

    data = planted_universe(n_tickers=40, n_days=700, seed=3)
    result = walk_forward_predict(data, ucfg.replace(model="linear", features=("logret",), min_train=200,
                                                     retrain_every=100))
    report = universe_report(result.wide("prediction"), result.wide("target"))
    bound = best_rank_ic()
    se = report["rank_ic"] / report["rank_ic_tstat"]
    assert report["rank_ic"] > bound - 4 * se  # recovered ...
    assert report["rank_ic"] < bound + 3 * se  # ... never beyond what the data allow
    assert report["rank_ic_tstat"] > 5


def test_no_signal_no_claimed_skill(ucfg):
    from lstmtrade.evaluate.xsection import universe_report

    data = planted_universe(n_tickers=40, n_days=700, beta=0.0, seed=4)
    result = walk_forward_predict(data, ucfg.replace(model="linear", features=("logret",), min_train=200,
                                                     retrain_every=100))
    report = universe_report(result.wide("prediction"), result.wide("target"))
    assert abs(report["rank_ic_tstat"]) < 3
    assert report["rank_ic_pvalue"] > 0.003


def test_lstm_learns_the_planted_signal_pooled(ucfg):
    from lstmtrade.evaluate.xsection import universe_report

    data = planted_universe(n_tickers=30, n_days=500, seed=5, gaps=False)
    result = walk_forward_predict(data, ucfg.replace(min_train=250, retrain_every=125, epochs=8, hidden=16,
                                                     early_stopping=False, lr=3e-3))
    report = universe_report(result.wide("prediction"), result.wide("target"))
    assert report["rank_ic"] > 0.5 * best_rank_ic()
    assert report["rank_ic"] < best_rank_ic() + 0.05


def test_rank_target_needs_a_universe(prices, tiny):
    from lstmtrade.errors import ConfigError

    with pytest.raises(ConfigError, match="needs a universe"):
        walk_forward_predict(prices, tiny.replace(target="rank"))


def test_rank_target_trains_on_centred_ranks(universe, ucfg):
    result = walk_forward_predict(universe, ucfg.replace(target="rank", model="linear"))
    # a ranked label is centred, so a linear fit's forecasts hover around 0 whatever the return scale
    assert abs(result.prediction.mean()) < 0.05
    assert result.frame["target"].abs().max() < 1  # the target column stays the realised return


def test_audit_passes_a_portfolio_rule_and_catches_one_that_peeks(ucfg):
    from lstmtrade.backtesting.portfolio_strategy import PortfolioStrategy
    from lstmtrade.backtesting.rules import TopK
    from lstmtrade.evaluate.audit import audit

    class PeeksAtTomorrow(PortfolioStrategy):
        """Buys the names whose next open is higher: look-ahead, so the audit must fail it."""

        def target_weights(self, predictions):
            up = [t for t in predictions.index if len(self.feed(t).open.array) > len(self.feed(t))
                  and self.feed(t).open[1] > self.feed(t).close[0]]
            return pd.Series(1.0 / max(len(up), 1), index=up)

    from lstmtrade.data.panel import load_universe

    long = pd.concat([p.frame.assign(ticker=t) for t, p in planted_universe(n_tickers=6, n_days=330).items()])
    universe = load_universe(long.rename_axis("date").reset_index())
    config = ucfg.replace(model="linear")
    checks = {c.name: c for c in audit(universe, config, TopK, {"k": 2}, cuts=(0.5,), strategy_cuts=4)}
    assert all(c.status in ("PASS", "INFO") for c in checks.values()), [c.line() for c in checks.values()]
    peeking = {c.name: c for c in audit(universe, config, PeeksAtTomorrow, {}, cuts=(0.5,), strategy_cuts=4)}
    assert "FAIL" in {peeking["truncation (strategy)"].status, peeking["future poisoning (strategy)"].status}


def test_fold_cache_for_a_universe_invalidates_exactly_the_folds_an_edit_touches(universe, ucfg, tmp_path):
    from lstmtrade.forecast.cache import FoldCache

    first_cache = FoldCache(tmp_path)
    first = walk_forward_predict(universe, ucfg, cache=first_cache)
    n = len(first.folds)
    again = FoldCache(tmp_path)
    same = walk_forward_predict(universe, ucfg.replace(commission=25.0), cache=again)
    assert (first_cache.misses, again.hits) == (n, n) and same.frame.equals(first.frame)
    # one bar of one ticker, inside fold 2's test range: folds 0-1 reused, folds 2.. retrained
    day = pd.Timestamp(first.folds[2]["test_start"]) + pd.Timedelta(days=3)
    edited = dict(universe)
    frame = universe["T05"].frame.copy()
    day = frame.index[frame.index.searchsorted(day)]
    frame.loc[day, ["open", "high", "low", "close"]] *= 1.01
    edited["T05"] = PriceData(frame, "edited", "T05")
    partial = FoldCache(tmp_path)
    walk_forward_predict(edited, ucfg, cache=partial)
    assert (partial.hits, partial.misses) == (2, n - 2)
