import numpy as np
import pandas as pd
import pytest

from lstmtrade.errors import ConfigError
from lstmtrade.features import FEATURES, LABEL_REACH, StandardScaler, build_features, build_target, warmup, windows


def test_every_feature_is_causal(prices):
    """Features for day t computed on data ending at t equal those computed on the full series."""
    full = build_features(prices.frame, tuple(FEATURES))
    for cut in (60, 250, 500):
        short = build_features(prices.frame.iloc[: cut + 1], tuple(FEATURES))
        pd.testing.assert_frame_equal(short, full.iloc[: cut + 1])


def test_features_defined_exactly_from_warmup(prices):
    names = tuple(FEATURES)
    feats = build_features(prices.frame, names)
    for name in names:
        first = warmup((name,))
        assert feats[name].iloc[:first].isna().all(), name
        assert feats[name].iloc[first:].notna().all(), name


def test_target_is_next_open_to_open_return():
    idx = pd.date_range("2020-01-01", periods=5, freq="B")
    frame = pd.DataFrame({"open": [10.0, 11.0, 12.1, 12.1, 6.05], "close": 1.0}, index=idx)
    target = build_target(frame)
    # target[t] = open[t+2] / open[t+1] - 1: the order after t's close fills at t+1's open.
    assert target.iloc[0] == pytest.approx(12.1 / 11.0 - 1)
    assert target.iloc[2] == pytest.approx(6.05 / 12.1 - 1)
    assert target.iloc[-LABEL_REACH:].isna().all()


def test_unknown_feature_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'logret'"):
        warmup(("logrt",))


def test_scaler_uses_only_the_rows_it_is_fit_on():
    x = np.arange(20.0).reshape(10, 2)
    scaler = StandardScaler().fit(x[:5])
    assert np.allclose(scaler.mean_, x[:5].mean(axis=0))
    assert np.allclose(scaler.transform(x[:5]).mean(axis=0), 0)
    constant = StandardScaler().fit(np.ones((4, 1)))
    assert np.all(np.isfinite(constant.transform(np.ones((2, 1)))))


def test_windows_end_at_each_row():
    x = np.arange(30.0).reshape(10, 3)
    w = windows(x, [4, 9], lookback=3)
    assert w.shape == (2, 3, 3)
    assert np.array_equal(w[0], x[2:5]) and np.array_equal(w[1], x[7:10])


def test_many_tickers_at_once_are_bit_for_bit_one_at_a_time():
    """The live signal's wide computation gives the numbers the walk-forward computes ticker by ticker, on a raw
    universe with late starts, missing sessions and dropped rows."""
    from lstmtrade.data.panel import load_universe
    from lstmtrade.features import FEATURES, build_features, build_features_many

    universe = load_universe("sample:SP500")
    frames = {t: p.frame for t, p in universe.prices.items()}
    names = tuple(FEATURES)
    many = build_features_many(frames, names)
    assert set(many) == set(frames)
    for ticker, frame in frames.items():
        one = build_features(frame, names).to_numpy()
        assert many[ticker].shape == one.shape
        assert np.array_equal(np.signbit(many[ticker]), np.signbit(one))
        assert np.array_equal(many[ticker], one, equal_nan=True), ticker
