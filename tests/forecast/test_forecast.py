"""The look-ahead guarantees, proven on the real training path (tiny LSTM, short slice)."""
import numpy as np
import pandas as pd
import pytest
from conftest import needs_cc

from lstmtrade.data.prices import PriceData
from lstmtrade.features import LABEL_REACH, StandardScaler, build_features, warmup
from lstmtrade.forecast import forecasters as forecast_mod
from lstmtrade.forecast.walkforward import walk_forward_predict


def _truncated(prices, end_row):
    return PriceData(prices.frame.iloc[: end_row + 1], prices.source, prices.name)


@pytest.mark.parametrize("engine", [pytest.param("native", marks=needs_cc), "loop", "fused"])
def test_predictions_up_to_T_do_not_change_when_data_runs_on(prices, tiny, engine):
    tiny = tiny.replace(engine=engine, jobs=2 if engine == "native" else 1)  # native: folds in threads
    if engine == "fused":  # all folds trained at once: the fold count itself changes with the data
        tiny = tiny.replace(early_stopping=False)
    full = walk_forward_predict(prices, tiny).frame
    for cut in (full.index[5], full.index[150], full.index[-40]):
        end_row = prices.frame.index.get_loc(cut)
        short = walk_forward_predict(_truncated(prices, end_row), tiny).frame
        assert short.index[-1] == cut
        # Bit-identical, not merely close: nothing after T reaches a prediction for a day <= T.
        pd.testing.assert_series_equal(short["prediction"], full["prediction"].loc[:cut], check_exact=True)
        pd.testing.assert_series_equal(short["fold"], full["fold"].loc[:cut])


def test_garbage_after_T_leaves_predictions_up_to_T_unchanged(prices, tiny):
    full = walk_forward_predict(prices, tiny).frame
    cut = full.index[120]
    poisoned = prices.frame.copy()
    after = poisoned.index > cut
    rng = np.random.default_rng(0)
    factor = rng.uniform(0.5, 3.0, after.sum())
    for col in ("open", "high", "low", "close"):
        poisoned.loc[after, col] = poisoned.loc[after, col] * factor
    poisoned.loc[after, "high"] = poisoned.loc[after, ["open", "high", "low", "close"]].max(axis=1)
    poisoned.loc[after, "low"] = poisoned.loc[after, ["open", "high", "low", "close"]].min(axis=1)
    poisoned.loc[after, "volume"] = 1.0
    other = walk_forward_predict(PriceData(poisoned, "poisoned", "X"), tiny).frame
    pd.testing.assert_series_equal(other["prediction"].loc[:cut], full["prediction"].loc[:cut], check_exact=True)
    assert not np.allclose(other["prediction"].loc[cut:].iloc[2:], full["prediction"].loc[cut:].iloc[2:])


def test_scaler_is_fit_on_training_rows_only(prices, tiny, monkeypatch):
    seen = []
    original = StandardScaler.fit

    def spy(self, x):
        seen.append(np.array(x))
        return original(self, x)

    monkeypatch.setattr(StandardScaler, "fit", spy)
    result = walk_forward_predict(prices, tiny.replace(jobs=1))  # one fold at a time, in order
    feats = build_features(prices.frame, tiny.features).to_numpy()
    index = prices.frame.index
    assert len(seen) == len(result.folds)
    for x, info in zip(seen, result.folds):
        fit_end = index.get_loc(pd.Timestamp(info["fit_end"]))
        test_start = index.get_loc(pd.Timestamp(info["test_start"]))
        assert fit_end <= test_start - LABEL_REACH - 1
        # The scaler saw exactly the feature rows of the fold's training windows: none after fit_end.
        assert np.array_equal(x[-1], feats[fit_end])
        assert np.array_equal(x, feats[fit_end + 1 - len(x): fit_end + 1])
        assert not np.isnan(x).any() and fit_end + 1 - len(x) >= warmup(tiny.features)


def test_every_out_of_sample_day_is_predicted_once_by_a_model_that_never_saw_it(prices, tiny):
    result = walk_forward_predict(prices, tiny)
    frame = result.frame
    assert frame.index.is_unique and frame["prediction"].notna().all()
    for info in result.folds:
        days = frame.index[frame["fold"] == info["fold"]]
        assert str(days[0].date()) == info["test_start"] and str(days[-1].date()) == info["test_end"]
        last_seen = pd.Timestamp(info.get("val_end", info["fit_end"]))
        # The label of the last training row needs the open two bars later: still before the first test day.
        label_known = prices.frame.index[prices.frame.index.get_loc(last_seen) + LABEL_REACH]
        assert label_known < days[0]


def test_same_seed_same_predictions_other_seed_differs(prices, tiny):
    a = walk_forward_predict(prices, tiny).frame["prediction"]
    b = walk_forward_predict(prices, tiny).frame["prediction"]
    c = walk_forward_predict(prices, tiny.replace(seed=tiny.seed + 1)).frame["prediction"]
    assert a.equals(b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("model", ["zero", "persistence", "linear"])
def test_baselines_share_the_schedule(prices, tiny, model):
    lstm_days = walk_forward_predict(prices, tiny, model="zero").frame.index
    frame = walk_forward_predict(prices, tiny, model=model).frame
    assert frame.index.equals(lstm_days)
    if model == "persistence":
        # The last realised target at day t is the open(t-1)->open(t) return: known at t's open.
        opens = prices.frame["open"]
        expected = (opens / opens.shift(1) - 1).loc[frame.index]
        np.testing.assert_allclose(frame["prediction"], expected)


def test_forecasters_registry_lists_all_models():
    from lstmtrade.config import MODELS

    assert set(forecast_mod.FORECASTERS) == {"lstm", "linear", "persistence", "zero", "lightgbm", "reversal",
                                             "momentum"} == set(MODELS)
