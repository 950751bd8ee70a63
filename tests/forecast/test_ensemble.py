"""Seed ensembles (--seeds N): each member is the one-seed run with its own seed, the traded forecast is
the members' mean and its uncertainty their standard deviation, the guarantees (look-ahead, cache,
resume, signal parity) hold for the ensemble, and the uncertainty says when the forecast is right."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import needs_cc

import lstmtrade
from lstmtrade.backtesting.strategy import ConfidenceWeighted, PredictionStrategy
from lstmtrade.config import Config
from lstmtrade.data.prices import PriceData, load_prices
from lstmtrade.errors import Interrupted, StrategyError
from lstmtrade.evaluate.seeds import confidence_quintiles, confidence_summary, spread, spread_line
from lstmtrade.forecast.cache import FoldCache
from lstmtrade.forecast.ensemble import combine
from lstmtrade.forecast.predictions import Predictions
from lstmtrade.forecast.walkforward import walk_forward_predict


def _same(a: pd.Series, b: pd.Series) -> None:
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())  # bit for bit


# ------------------------------------------------------------------------------------------ members
@pytest.mark.parametrize("engine", [pytest.param("native", marks=needs_cc), "loop", "fused"])
def test_each_member_is_the_one_seed_run_with_its_seed(prices, tiny, engine):
    tiny = tiny.replace(engine=engine, jobs=2 if engine == "native" else 1)  # native: (fold, member) in threads
    if engine == "fused":
        tiny = tiny.replace(early_stopping=False)
    n = 3 if engine == "native" else 2  # the slower engines: member 1, the one that is not the plain run
    ensemble = walk_forward_predict(prices, tiny.replace(seeds=n))
    assert ensemble.seeds == [tiny.seed + m for m in range(n)] and ensemble.members.shape[1] == n
    for m in range(n) if engine == "native" else [1]:
        alone = walk_forward_predict(prices, tiny.replace(seed=tiny.seed + m)).frame
        assert ensemble.frame.index.equals(alone.index)
        _same(ensemble.members[m], alone["prediction"])
    frame = ensemble.frame
    assert list(frame.columns) == ["prediction", "uncertainty", "target", "fold"]
    np.testing.assert_allclose(frame["prediction"], ensemble.members.mean(axis=1), rtol=1e-15, atol=0)
    np.testing.assert_allclose(frame["uncertainty"], ensemble.members.std(axis=1, ddof=1), rtol=1e-12, atol=0)
    assert (frame["uncertainty"] > 0).all()


def test_one_seed_is_the_run_it_always_was(prices, tiny):
    one = walk_forward_predict(prices, tiny.replace(seeds=1))
    assert one.members is None and not one.has_uncertainty and list(one.frame.columns) == ["prediction", "target", "fold"]
    assert one.uncertainty.isna().all()
    assert walk_forward_predict(prices, tiny, model="linear").members is None  # baselines: one member
    assert walk_forward_predict(prices, tiny.replace(seeds=3), model="linear").members is None


def test_combine_is_member_by_member_and_row_independent():
    rng = np.random.default_rng(0)
    values = [rng.normal(size=300) for _ in range(5)]
    mean, std = combine(values)
    short_mean, short_std = combine([v[:7] for v in values])
    assert np.array_equal(mean[:7], short_mean) and np.array_equal(std[:7], short_std)
    np.testing.assert_allclose(std, np.std(values, axis=0, ddof=1), rtol=1e-12)
    assert np.isnan(combine(values[:1])[1]).all()


def test_ensemble_predictions_up_to_T_do_not_change_when_data_runs_on(prices, tiny):
    config = tiny.replace(seeds=2, jobs=2)
    full = walk_forward_predict(prices, config)
    for cut in (full.frame.index[150], full.frame.index[-40]):
        end_row = prices.frame.index.get_loc(cut)
        short = walk_forward_predict(PriceData(prices.frame.iloc[: end_row + 1], prices.source, prices.name), config)
        for column in ("prediction", "uncertainty"):
            pd.testing.assert_series_equal(short.frame[column], full.frame[column].loc[:cut], check_exact=True)


def test_members_are_cached_one_by_one_under_their_own_seeds(prices, tiny, tmp_path):
    single = FoldCache(tmp_path)
    walk_forward_predict(prices, tiny.replace(seed=tiny.seed + 1), cache=single)  # a one-seed run, seed S + 1
    n = single.misses
    cache = FoldCache(tmp_path)
    ensemble = walk_forward_predict(prices, tiny.replace(seeds=3), cache=cache)
    assert (cache.hits, cache.misses) == (n, 2 * n)  # member 1 came from the one-seed run's folds
    again = FoldCache(tmp_path)
    same = walk_forward_predict(prices, tiny.replace(seeds=3, threshold=0.001), cache=again)
    assert (again.hits, again.misses) == (3 * n, 0)
    pd.testing.assert_frame_equal(same.frame, ensemble.frame, check_exact=True)
    assert all(f.get("cached") for f in same.folds) and len(same.folds[0]["members"]) == 3


# ------------------------------------------------------------------------------ a run, end to end
@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory, prices):
    from conftest import TINY

    out = tmp_path_factory.mktemp("runs")
    return lstmtrade.run(Config(**TINY, seeds=3), prices=prices, out=out)


def test_run_shows_the_spread_and_each_member_is_its_own_one_seed_run(ensemble_run, prices, tiny):
    result = ensemble_run
    seeds = result.metrics["seeds"]
    assert seeds["n"] == 3 and [m["seed"] for m in seeds["members"]] == [7, 8, 9]
    assert set(seeds) >= {"members", "sharpe", "total_return", "max_drawdown", "hit_rate", "ic", "ensemble",
                          "confidence"}
    sharpes = [m["sharpe"] for m in seeds["members"]]
    assert seeds["sharpe"]["std"] == pytest.approx(np.std(sharpes, ddof=1))
    assert seeds["sharpe"]["min"] == min(sharpes) and seeds["sharpe"]["max"] == max(sharpes)
    assert seeds["ensemble"]["sharpe"] == result.metrics["strategy"]["sharpe"]
    # member 2 traded alone is the one-seed run with seed 9: same forecasts, same trades, same figures
    alone = lstmtrade.run(tiny.replace(seed=9), prices=prices, write=False)
    assert seeds["members"][2]["sharpe"] == alone.metrics["strategy"]["sharpe"]
    assert seeds["members"][2]["hit_rate"] == alone.metrics["forecast"]["hit_rate"]
    assert seeds["members"][2]["ic"] == alone.metrics["forecast"]["ic"]
    pd.testing.assert_series_equal(result.members[2].returns, alone.strategy.returns)
    assert alone.metrics["seeds"]["n"] == 1 and alone.metrics["seeds"]["sharpe"]["std"] is None
    assert "Ensemble of 3 seeds; each seed alone: Sharpe" in result.metrics["verdict"]


def test_run_folder_keeps_members_and_reads_them_back(ensemble_run):
    folder = ensemble_run.folder
    members = pd.read_csv(folder / "members.csv")
    assert list(members.columns) == ["date", "member", "seed", "prediction"] and len(members) == 3 * len(
        ensemble_run.predictions.frame)
    saved = Predictions.read_csv(folder)
    pd.testing.assert_frame_equal(saved.frame, ensemble_run.predictions.frame, check_exact=True, check_index_type=False)
    pd.testing.assert_frame_equal(saved.members, ensemble_run.predictions.members, check_exact=True,
                                  check_index_type=False)
    assert saved.seeds == [7, 8, 9]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["seeds"]["sharpe"]["std"] is not None and len(metrics["seeds"]["confidence"]["quintiles"]) == 5
    page = (folder / "comparison.html").read_text()
    assert "each of the 3 seeds alone" in page and "Does the ensemble know when it is right?" in page
    trials = (folder.parent / "trials.jsonl").read_text().splitlines()
    assert len(trials) == 1  # the ensemble is one trial; its members are descriptive


def test_rebacktest_of_an_ensemble_keeps_the_spread(ensemble_run, tmp_path):
    again = lstmtrade.rebacktest(ensemble_run.folder, prices=ensemble_run.prices, out=tmp_path, write=False)
    assert again.metrics["seeds"]["members"] == ensemble_run.metrics["seeds"]["members"]


def test_each_seed_is_annualised_as_the_ensemble_is(ensemble_run, tmp_path):
    weekly = lstmtrade.rebacktest(ensemble_run.folder, prices=ensemble_run.prices, out=tmp_path, write=False,
                                  periods_per_year=52)
    ratio = np.sqrt(52 / ensemble_run.metrics["data"]["periods_per_year"])  # same returns, other bars a year
    assert weekly.metrics["seeds"]["ensemble"]["sharpe"] == pytest.approx(
        ensemble_run.metrics["seeds"]["ensemble"]["sharpe"] * ratio)
    for week, day in zip(weekly.metrics["seeds"]["members"], ensemble_run.metrics["seeds"]["members"]):
        assert week["sharpe"] == pytest.approx(day["sharpe"] * ratio)


def test_console_says_the_spread_in_one_line():
    seeds = spread([{"seed": s, "sharpe": v} for s, v in zip(range(5), (0.1, -0.05, 0.44, 0.2, 0.36))],
                   {"sharpe": 0.27})
    assert spread_line(seeds) == "Sharpe over 5 seeds: 0.21 ± 0.20, from -0.05 to 0.44; ensemble 0.27"
    assert spread_line(spread([{"seed": 1, "sharpe": 0.3}], {"sharpe": 0.3})) is None


def test_interrupted_ensemble_resumes_to_the_same_predictions(prices, tiny, tmp_path, ensemble_run):
    seen = []

    def stop_after_two(event):
        if event["event"] == "fold":
            seen.append(event["fold"])
            if len(seen) == 2:
                raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        lstmtrade.run(tiny.replace(seeds=3), prices=prices, out=tmp_path, progress=stop_after_two)
    resumed = lstmtrade.run(resume=info.value.folder, prices=prices)
    pd.testing.assert_frame_equal(resumed.predictions.frame, ensemble_run.predictions.frame, check_exact=True)
    pd.testing.assert_frame_equal(resumed.predictions.members, ensemble_run.predictions.members, check_exact=True)


# ------------------------------------------------------------------------------------- strategies
SEEN: list = []


class Spy(PredictionStrategy):
    """Declares the uncertainty as target_weight's second argument, and reads the line as well."""

    def target_weight(self, prediction, uncertainty):
        SEEN.append((uncertainty, float(self.uncertainty[0])))
        return 0.0


def test_strategies_read_the_uncertainty_beside_the_prediction(msft, preds):
    frame = preds.frame.assign(uncertainty=np.linspace(0.001, 0.01, len(preds.frame)))
    SEEN.clear()
    lstmtrade.backtest(msft, Predictions(frame), Spy)
    assert len(SEEN) == len(frame)
    np.testing.assert_array_equal([s[0] for s in SEEN], frame["uncertainty"].to_numpy())
    np.testing.assert_array_equal([s[1] for s in SEEN], frame["uncertainty"].to_numpy())
    SEEN.clear()
    lstmtrade.backtest(msft, preds, Spy)  # no ensemble: NaN
    assert len(SEEN) == len(preds.frame) and all(math.isnan(a) and math.isnan(b) for a, b in SEEN)


def test_confidence_weighted_sizes_by_forecast_over_uncertainty(msft, preds):
    frame = preds.frame.assign(prediction=0.002, uncertainty=0.002)  # confidence 1: half of a full position
    result = lstmtrade.backtest(msft, Predictions(frame), ConfidenceWeighted)
    assert (result.decisions.dropna() == 0.5).all() and result.weights.iloc[5:].between(0.4, 0.6).all()
    flat = lstmtrade.backtest(msft, Predictions(frame), ConfidenceWeighted, min_confidence=1.5)
    assert (flat.weights == 0).all()
    with pytest.raises(StrategyError, match="--seeds 2 or more"):
        lstmtrade.backtest(msft, preds, ConfidenceWeighted)


def test_portfolio_strategies_receive_the_uncertainty_per_ticker():
    from types import SimpleNamespace

    from builders import universe

    from lstmtrade.backtesting.portfolio_strategy import PortfolioStrategy
    from lstmtrade.backtesting.stage import trade

    prices, pred = universe(n=4)
    unc = pred.abs() + 0.001
    long = pred.stack().rename("prediction").rename_axis(["date", "ticker"]).reset_index(level="ticker")
    long["uncertainty"] = unc.stack().to_numpy()
    long["target"], long["fold"] = 0.0, 0
    seen = []

    class Calm(PortfolioStrategy):
        def target_weights(self, predictions, uncertainty):
            seen.append(uncertainty)
            return pd.Series(1.0, index=[uncertainty.idxmin()])

    trade(SimpleNamespace(prices=prices), Predictions(long), Calm, {}, {})
    assert len(seen) == len(pred)
    pd.testing.assert_series_equal(seen[3], unc.iloc[3].rename("uncertainty"), check_names=False)


# ------------------------------------------------------------------------------------ universes
def test_universe_members_are_the_one_seed_runs_and_a_universe_of_one_is_the_single_ticker(prices, tiny):
    from test_universe import planted_universe

    config = Config(features=("logret", "gap"), min_train=150, retrain_every=60, lookback=5, hidden=8, epochs=2,
                    batch_size=256, baselines=False, seeds=2)
    universe = planted_universe(n_tickers=6, n_days=330)
    ensemble = walk_forward_predict(universe, config)
    alone = walk_forward_predict(universe, config.replace(seed=config.seed + 1, seeds=1))
    _same(ensemble.members[1], alone.prediction)
    assert ensemble.frame["ticker"].equals(alone.frame["ticker"])
    one = walk_forward_predict({"MSFT": prices}, tiny.replace(seeds=2))
    single = walk_forward_predict(prices, tiny.replace(seeds=2))
    for column in ("prediction", "uncertainty"):
        _same(one.frame[column], single.frame[column])


def test_universe_run_trades_each_member(tmp_path):
    from test_universe import planted_universe

    config = Config(features=("logret", "gap"), min_train=150, retrain_every=90, lookback=5, hidden=8, epochs=2,
                    batch_size=256, baselines=False, seeds=2, strategy="TopK", params={"k": 2})
    universe = planted_universe(n_tickers=6, n_days=330, gaps=False)
    result = lstmtrade.run(config, prices=_as_universe(universe), out=tmp_path)
    seeds = result.metrics["seeds"]
    assert seeds["n"] == 2 and len(result.members) == 2 and seeds["sharpe"]["std"] is not None
    assert (result.folder / "members.csv").exists()
    members = pd.read_csv(result.folder / "members.csv")
    assert list(members.columns) == ["date", "ticker", "member", "seed", "prediction"]
    assert "each of the 2 seeds alone" in (result.folder / "comparison.html").read_text()


def _as_universe(mapping):
    from lstmtrade.data.panel import load_universe

    frames = []
    for ticker, p in mapping.items():
        frame = p.frame.rename(columns=str.title).rename_axis("Date").reset_index()
        frames.append(frame.assign(Ticker=ticker))
    return load_universe(pd.concat(frames, ignore_index=True))


# ------------------------------------------------------------------------- train, signal, audit
def test_ensemble_model_file_and_signal_equal_the_backtest(tmp_path):
    from lstmtrade.features import warmup
    from lstmtrade.forecast.artifact import ENSEMBLE_FORMAT_VERSION, load_model
    from lstmtrade.live.signal import signal, train_final

    config = Config(min_train=300, retrain_every=100, epochs=2, lookback=10, hidden=8, batch_size=64,
                    early_stopping=False, baselines=False, engine="loop", seeds=3)
    msft = load_prices("sample:MSFT", end="2004-06-30")
    t = warmup(config.features) + config.min_train + 2 * config.retrain_every
    data = PriceData(msft.frame.iloc[: t + 1], msft.source, msft.name)
    backtest = walk_forward_predict(data, config).frame.iloc[-1]
    trained = train_final(data, config)
    path = trained.save(tmp_path / "ensemble.pt")
    loaded = load_model(path)
    assert loaded.metadata["format_version"] == ENSEMBLE_FORMAT_VERSION and loaded.seeds == [7, 8, 9]
    result = signal(path, data, strategy="ConfidenceWeighted")
    assert result["prediction"] == backtest["prediction"] == trained.prediction
    assert result["uncertainty"] == backtest["uncertainty"]
    assert [m["seed"] for m in result["members"]] == [7, 8, 9]
    expected = min(1.0, max(0.0, backtest["prediction"] / backtest["uncertainty"] / 2.0))
    assert result["target_weight"] == pytest.approx(expected)


def test_audit_passes_an_ensemble_and_its_uncertainty():
    from lstmtrade.evaluate.audit import audit

    config = Config(min_train=300, retrain_every=150, epochs=1, lookback=5, hidden=8, batch_size=128,
                    baselines=False, seeds=2)
    prices = load_prices("sample:IBM", end="2002-12-31")
    checks = audit(prices, config, ConfidenceWeighted, strategy_cuts=4, cuts=(0.5,))
    assert [c.status for c in checks if c.status != "INFO"] == ["PASS"] * 4, [c.line() for c in checks]
    assert "uncertainties" in checks[0].detail


# ------------------------------------------------------------------- does it know when it is right?
def _bars(returns: np.ndarray, volume: np.ndarray, seed: int) -> pd.DataFrame:
    """Daily bars with close(t) = open(t+1), so the target at t is the return of day t+1 itself."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(returns))
    opens = np.r_[50.0, close[:-1]]
    wiggle = rng.uniform(0.0, 0.004, (2, len(close)))
    return pd.DataFrame({"Date": pd.bdate_range("2000-01-03", periods=len(close)).strftime("%Y-%m-%d"),
                         "Open": opens, "High": np.maximum(opens, close) * (1 + wiggle[0]),
                         "Low": np.minimum(opens, close) * (1 - wiggle[1]), "Close": close, "Volume": volume})


# A small, well-trained ensemble: the edge is an interaction the networks must learn.
EDGE = Config(features=("logret", "volz"), lookback=2, hidden=8, epochs=30, batch_size=128, min_train=500,
              retrain_every=500, early_stopping=False, baselines=False, seeds=5)


def _quintiles(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    preds = walk_forward_predict(load_prices(frame, name="synthetic"), EDGE).frame
    return confidence_quintiles(preds["prediction"], preds["uncertainty"], preds["target"]), preds


def test_the_most_confident_fifth_is_right_more_often_when_the_edge_is_conditional():
    """r(t+1) = 0.5 r(t) + e on high-volume days t (40 %, visible in volz), pure noise otherwise."""
    n, rng = 4000, np.random.default_rng(3)
    high = rng.random(n) < 0.4
    volume = np.where(high, rng.uniform(3e6, 4e6, n), rng.uniform(1e6, 1.5e6, n)).round()
    eps = rng.normal(0, 0.01, n)
    r = eps.copy()
    for t in range(1, n):
        r[t] += 0.5 * r[t - 1] if high[t - 1] else 0.0
    table, preds = _quintiles(_bars(r, volume, 4))
    summary = confidence_summary(table)
    assert table["n"].sum() > 3000
    assert summary["hit_rate_spread"] > 0.08 and summary["hit_rate_spread_z"] > 3, table
    assert summary["return_spread_z"] > 3, table
    # and the confident days are the ones with the edge
    was_high = pd.Series(high, index=pd.bdate_range("2000-01-03", periods=n)).reindex(preds.index)
    confidence = preds["prediction"].abs() / preds["uncertainty"]
    top = confidence >= confidence.quantile(0.8)
    assert was_high[top].mean() > was_high[~top].mean() + 0.15


def test_on_a_random_walk_no_confidence_quintile_differs_beyond_chance():
    """Under the null every z below is standard normal; the seed is fixed, so the test is deterministic.
    (Over random walks with seeds 1..12, when this test was written, the largest |z| was 2.84.)"""
    rng = np.random.default_rng(1)
    n = 4000
    table, _ = _quintiles(_bars(rng.normal(0.0, 0.01, n), rng.integers(1_000_000, 2_000_000, n), 1))
    summary = confidence_summary(table)
    pooled = (table["hit_rate"] * table["n"]).sum() / table["n"].sum()
    z = (table["hit_rate"] - pooled) / np.sqrt(pooled * (1 - pooled) / table["n"])
    assert (z.abs() < 3).all(), table  # five tests at ~0.3 % each: a false alarm about 1 in 75
    assert abs(summary["hit_rate_spread_z"]) < 3 and abs(summary["return_spread_z"]) < 3, table
