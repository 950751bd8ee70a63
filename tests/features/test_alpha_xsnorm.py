"""The ``alpha`` feature set and ``--xs-norm`` are causal: a feature of bar t, and its normalisation across the
tickers of date t, never move when anything after t changes; and the whole pipeline with both passes the
look-ahead audit."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders import panel

from lstmtrade.backtesting.rules import TopK
from lstmtrade.config import Config
from lstmtrade.data.panel import load_universe
from lstmtrade.evaluate.audit import audit, poison_after
from lstmtrade.features import SETS, build_features, cross_sectional, warmup
from lstmtrade.features.xsnorm import RANK_SCALE
from lstmtrade.forecast.walkforward import walk_forward_predict

ALPHA = SETS["alpha"]
DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_alpha_has_30_features_or_more_each_defined_in_the_docs_table():
    assert len(ALPHA) >= 30
    rows = {line.split("|")[1].strip().strip("`") for line in DOC.read_text().splitlines()
            if line.startswith("| `")}
    assert set(ALPHA) <= rows, sorted(set(ALPHA) - rows)


def test_alpha_features_of_bar_t_ignore_every_bar_after_t(prices):
    """Random bars after T, or none: every alpha feature up to T is bit-for-bit the same."""
    full = build_features(prices.frame, ("alpha",))
    first = warmup(("alpha",))
    assert list(full.columns) == list(ALPHA)
    assert full.iloc[first:].notna().all().all() and full.iloc[:first].isna().any(axis=1).all()
    for k, cut in enumerate(prices.frame.index[[first, 300, 700]]):
        poisoned = build_features(poison_after(prices.frame, cut, seed=k), ("alpha",))
        short = build_features(prices.frame.loc[:cut], ("alpha",))
        pd.testing.assert_frame_equal(poisoned.loc[:cut], full.loc[:cut], check_exact=True)
        pd.testing.assert_frame_equal(short, full.loc[:cut], check_exact=True)
        assert not poisoned.loc[cut:].iloc[1:].equals(full.loc[cut:].iloc[1:])  # the poison did reach later rows


@pytest.mark.parametrize("how", ["rank", "zscore"])
def test_xs_norm_of_a_date_is_that_dates_rows_only(how):
    rng = np.random.default_rng(1)
    wide = rng.normal(size=(40, 7, 3))
    wide[:5, 2, :] = np.nan  # a ticker that starts late
    wide[10, 4, 1] = np.nan  # a gap
    out = cross_sectional(wide, how)
    changed = wide.copy()
    changed[21:] = rng.normal(size=changed[21:].shape) * 50  # every date after 20 rewritten
    np.testing.assert_array_equal(cross_sectional(changed, how)[:21], out[:21])
    np.testing.assert_array_equal(cross_sectional(wide[:21], how), out[:21])  # and the future absent
    x = wide[10, :, 1]
    ok = np.isfinite(x)
    if how == "rank":  # by hand: the centred percentile rank among the date's finite values, times sqrt(12)
        order = x[ok].argsort().argsort() + 1
        expected = (order / ok.sum() - (1 + 1 / ok.sum()) / 2) * RANK_SCALE
    else:
        expected = (x[ok] - x[ok].mean()) / x[ok].std()
    np.testing.assert_allclose(out[10, ok, 1], expected, rtol=0, atol=1e-12)
    assert np.isnan(out[10, 4, 1]) and np.isnan(out[:5, 2]).all()


@pytest.mark.parametrize("how", ["rank", "zscore"])
def test_predictions_with_alpha_and_xs_norm_do_not_change_when_data_is_appended(how):
    """A pooled model on alpha features normalised across tickers: forecasts up to T are identical whether the
    data ends at T or goes on (a ticker that starts late and one with missing sessions included)."""
    frame = panel(n=6, days=520, gaps=True)
    config = Config(model="linear", features=("alpha",), xs_norm=how, min_train=300, retrain_every=60,
                    baselines=False)
    full = walk_forward_predict(load_universe(frame), config).frame.set_index("ticker", append=True)
    dates = full.index.get_level_values(0).unique()
    for cut in (dates[3], dates[len(dates) // 2]):
        short = walk_forward_predict(load_universe(frame[frame["Date"] <= cut]), config).frame
        short = short.set_index("ticker", append=True)
        upto = full[full.index.get_level_values(0) <= cut]
        pd.testing.assert_series_equal(short["prediction"], upto["prediction"], check_exact=True)


def test_the_look_ahead_audit_passes_with_alpha_features_and_xs_norm():
    universe = load_universe("sample:SP500", tickers=["AAL", "ABT", "ADM", "AIG", "AXP", "BAC"], end="2016-06-30")
    config = Config(model="linear", features=("alpha",), xs_norm="rank", min_train=300, retrain_every=120,
                    baselines=False)
    checks = audit(universe, config, TopK, {"k": 2}, strategy_cuts=4)
    assert [c.status for c in checks if c.status != "INFO"] == ["PASS"] * 4, [c.line() for c in checks]


def test_xs_norm_on_one_ticker_is_one_line_before_anything_is_written(tmp_path):
    from click.testing import CliRunner

    from lstmtrade.cli.main import cli

    result = CliRunner().invoke(cli, ["backtest", "--data", "sample:MSFT", "--xs-norm", "rank", "--out",
                                      str(tmp_path / "out")])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: --xs-norm rank") and "needs a universe" in lines[0]
    assert not (tmp_path / "out").exists()


def test_train_refuses_xs_norm_on_a_universe_before_training(tmp_path):
    """signal scales each ticker's features with its own scaler; a model trained on features normalised across
    tickers would get other inputs there, so train refuses it, as docs/features.md says."""
    import lstmtrade
    from lstmtrade.errors import ConfigError

    with pytest.raises(ConfigError, match="--xs-norm rank"):
        lstmtrade.train("sample:SP500", xs_norm="rank", model_out=tmp_path / "m.pt", epochs=1)
    assert not (tmp_path / "m.pt").exists()
