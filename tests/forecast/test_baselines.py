"""The baselines the LSTM is judged against: reversal and momentum checked by hand from prices and blind to
the future, LightGBM on the LSTM's own windows and deterministic for a seed, and each one reported like the
model (metrics.json, the terminal table, comparison.html) with the verdict's comparison against the best."""
import json
import sys

import numpy as np
import pandas as pd
import pytest
from builders import panel
from click.testing import CliRunner
from scipy import stats

from lstmtrade.cli.main import cli
from lstmtrade.config import Config
from lstmtrade.data.panel import load_universe
from lstmtrade.data.prices import PriceData
from lstmtrade.errors import ConfigError
from lstmtrade.evaluate.audit import poison_after
from lstmtrade.evaluate.xsection import newey_west_tstat
from lstmtrade.forecast.walkforward import walk_forward_predict

RULES = Config(features=("logret",), min_train=260, retrain_every=60, lookback=5, baselines=False)


def _by_hand(frames: dict[str, pd.DataFrame], first_test: pd.Timestamp, forecast) -> pd.Series:
    """Daily Spearman correlation of ``forecast(frame)`` with open(t+1) -> open(t+2), from the raw bars, on every
    date from ``first_test`` with at least 5 tickers (scipy, not lstmtrade's code)."""
    pred = pd.DataFrame({t: forecast(f) for t, f in frames.items()})
    real = pd.DataFrame({t: f["open"].shift(-2) / f["open"].shift(-1) - 1 for t, f in frames.items()})
    pred, real = pred.loc[first_test:], real.loc[first_test:]
    daily = {}
    for date in pred.index:
        ok = pred.loc[date].notna() & real.loc[date].notna()
        if ok.sum() >= 5:
            daily[date] = stats.spearmanr(pred.loc[date, ok], real.loc[date, ok]).statistic
    return pd.Series(daily)


def test_reported_reversal_rank_ic_equals_a_hand_computation(tmp_path):
    """`backtest --baselines reversal,momentum` on a panel CSV: the reversal's Rank IC and t in metrics.json are
    the hand-computed ones; the table, comparison.html and the verdict show each baseline and the best one."""
    source = tmp_path / "panel.csv"
    panel(n=8, days=420).to_csv(source, index=False)
    args = ["backtest", "--data", str(source), "--model", "linear", "--features", "logret", "--min-train", "260",
            "--retrain-every", "60", "--baselines", "reversal,momentum,zero", "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    folder = next((tmp_path / "out").glob("2*"))
    m = json.loads((folder / "metrics.json").read_text())

    frames = load_universe(str(source)).prices
    frames = {t: p.frame for t, p in frames.items()}
    calendar = next(iter(frames.values())).index
    first_test = calendar[1 + 260]  # logret's one bar of warm-up, then --min-train bars
    reversal = _by_hand(frames, first_test, lambda f: -(f["close"] / f["close"].shift(1) - 1))
    reported = m["baselines"]["reversal"]["forecast"]
    assert reported["rank_ic"] == pytest.approx(reversal.mean(), abs=1e-12)
    assert reported["rank_ic_tstat"] == pytest.approx(newey_west_tstat(reversal)[2], abs=1e-9)
    assert reported["ic_days"] == len(reversal)
    momentum = _by_hand(frames, first_test, lambda f: f["close"].shift(21) / f["close"].shift(252) - 1)
    assert m["baselines"]["momentum"]["forecast"]["rank_ic"] == pytest.approx(momentum.mean(), abs=1e-12)

    versus = m["forecast"]["vs_best_baseline"]  # zero ranks nothing: the best is one of the two rules
    best = "reversal" if reversal.mean() > momentum.mean() else "momentum"
    assert versus["name"] == best and versus["by"] == "rank_ic"
    assert versus["diff"] == pytest.approx(versus["model"] - versus["baseline"], abs=1e-12)
    assert versus["model"] == pytest.approx(m["forecast"]["rank_ic"], abs=1e-12)  # every cell is common here
    assert f"the best baseline by Rank IC ({best})" in m["verdict"]
    for name in ("reversal", "momentum", "zero"):
        assert f"{name} baseline" in result.output
    assert "Rank IC" in result.output and "t: Newey-West" in result.output
    page = (folder / "comparison.html").read_text()
    assert "reversal baseline" in page and f"best baseline by mean Rank IC, {best}" in page
    assert "rank_ic_tstat" in page  # the same skill figures as the model: Rank IC and its Newey-West t


def _cut(frames: dict[str, PriceData], cut: pd.Timestamp, poison: bool) -> dict[str, PriceData]:
    out = {}
    for i, (t, p) in enumerate(frames.items()):
        frame = poison_after(p.frame, cut, i) if poison else p.frame.loc[:cut]
        out[t] = PriceData(frame, p.source, p.name)
    return out


@pytest.mark.parametrize("model", ["reversal", "momentum"])
def test_rules_use_no_data_after_t(model):
    """Cut every ticker after T, or fill its rows after T with random bars: no forecast up to T changes (a
    ticker with missing sessions and one that starts late included)."""
    universe = {t: PriceData(f.set_index("Date").drop(columns="Ticker").rename(columns=str.lower), "synthetic", t)
                for t, f in panel(n=6, days=460, gaps=True).groupby("Ticker")}
    full = walk_forward_predict(universe, RULES, model=model).frame.set_index("ticker", append=True)["prediction"]
    dates = full.index.get_level_values(0).unique()
    late = full.index.get_level_values(1) == "T2"  # starts 150 days late: momentum waits 252 of its own bars
    assert full[~late].notna().all() and full[late].notna().any()
    for cut in (dates[5], dates[len(dates) // 2]):
        for poison in (False, True):
            other = walk_forward_predict(_cut(universe, cut, poison), RULES, model=model).frame
            other = other.set_index("ticker", append=True)["prediction"]
            upto = lambda s: s[s.index.get_level_values(0) <= cut]  # noqa: E731
            pd.testing.assert_series_equal(upto(full), upto(other), check_exact=True)


def test_rules_on_one_ticker_are_the_stated_formulas(prices):
    """One ticker: reversal is minus the day's close-to-close return, momentum close(t-21) / close(t-252) - 1."""
    close = prices.frame["close"]
    rev = walk_forward_predict(prices, RULES, model="reversal").prediction
    mom = walk_forward_predict(prices, RULES, model="momentum").prediction
    np.testing.assert_allclose(rev, -(close / close.shift(1) - 1).loc[rev.index], rtol=0, atol=1e-15)
    np.testing.assert_allclose(mom, (close.shift(21) / close.shift(252) - 1).loc[mom.index], rtol=0, atol=1e-15)


@pytest.fixture(scope="module")
def six():
    return load_universe("sample:SP500", tickers=["AAL", "ABT", "ADM", "AIG", "AXP", "BAC"], end="2016-06-30")


def test_lightgbm_is_deterministic_for_a_seed_and_the_seed_matters(six):
    pytest.importorskip("lightgbm")
    config = Config(features=("logret", "range", "volz"), lookback=5, min_train=300, retrain_every=250,
                    early_stopping=False, baselines=False)  # every round grows: the randomness is used
    a = walk_forward_predict(six, config, model="lightgbm")
    b = walk_forward_predict(six, config, model="lightgbm")
    c = walk_forward_predict(six, config.replace(seed=config.seed + 1), model="lightgbm")
    assert a.frame.equals(b.frame)
    assert not np.allclose(a.prediction, c.prediction)
    assert a.prediction.std() > 0 and all(f["rounds"] == 500 for f in a.folds)


def test_lightgbm_trains_on_the_lstms_rows_and_stops_on_its_validation_tail(prices, tiny):
    pytest.importorskip("lightgbm")
    lstm = walk_forward_predict(prices, tiny)
    gbm = walk_forward_predict(prices, tiny, model="lightgbm")
    keys = ("fit_start", "fit_end", "val_start", "val_end", "test_start", "test_end", "n_fit", "n_val")
    assert [{k: f[k] for k in keys} for f in gbm.folds] == [{k: f[k] for k in keys} for f in lstm.folds]
    assert gbm.frame.index.equals(lstm.frame.index)
    assert all(1 <= f["rounds"] < 500 for f in gbm.folds)  # stopped early on the validation tail


def test_missing_lightgbm_is_one_line_before_anything_is_written(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now raises ImportError
    with pytest.raises(ConfigError, match=r'pip install "lstmtrade\[lightgbm\]"'):
        walk_forward_predict(load_universe(panel(n=5, days=300)), RULES, model="lightgbm")
    result = CliRunner().invoke(cli, ["backtest", "--baselines", "zero,lightgbm", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == ('error: the lightgbm forecaster needs LightGBM: '
                                     'pip install "lstmtrade[lightgbm]"')
    assert not any(tmp_path.iterdir())
