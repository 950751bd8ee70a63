"""Ground truth: on data whose best possible skill is known, the numbers must land where theory says.

- A Gaussian random walk has no forecastable return: hit rate ~ 0.5, no DM evidence, verdict "no skill".
- AR(1) returns with phi = 0.3: the best possible hit rate is 1/2 + arcsin(phi)/pi = 0.597. The LSTM must
  learn most of it (>= 0.56), and no model may beat the bound by more than 3 standard errors (that
  would prove leakage). The synthetic bars have close(t) = open(t+1), so the return the target measures,
  open(t+1) -> open(t+2), is the next close-to-close return: the AR(1) return itself.
"""
import math

import numpy as np
import pandas as pd
import pytest

from lstmtrade.config import Config
from lstmtrade.data.prices import load_prices
from lstmtrade.evaluate.stats import forecast_report
from lstmtrade.evaluate.verdict import Trading, verdict
from lstmtrade.forecast.walkforward import walk_forward_predict

PHI = 0.3
BOUND = 0.5 + math.asin(PHI) / math.pi  # 0.597


def synthetic(returns: np.ndarray, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(returns))
    opens = np.r_[50.0, close[:-1]]  # no overnight gap: close(t) = open(t+1)
    wiggle = rng.uniform(0.0, 0.004, (2, len(close)))
    return pd.DataFrame({"Date": pd.bdate_range("2000-01-03", periods=len(close)).strftime("%Y-%m-%d"),
                         "Open": opens, "High": np.maximum(opens, close) * (1 + wiggle[0]),
                         "Low": np.minimum(opens, close) * (1 - wiggle[1]),
                         "Close": close, "Volume": rng.integers(1_000_000, 2_000_000, len(close))})


def ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    eps = rng.normal(0.0, 0.01, n)
    r = np.empty(n)
    r[0] = eps[0]
    for t in range(1, n):
        r[t] = phi * r[t - 1] + eps[t]
    return r


CONFIG = Config(features=("logret",), lookback=5, hidden=8, epochs=8, batch_size=128, min_train=500,
                retrain_every=500, early_stopping=True, patience=2, baselines=False)


def _skill(frame: pd.DataFrame, model: str) -> dict:
    prices = load_prices(frame, name="synthetic")
    preds = walk_forward_predict(prices, CONFIG, model=model).frame
    return forecast_report(preds["prediction"], preds["target"])


@pytest.fixture(scope="module")
def random_walk():
    return synthetic(np.random.default_rng(11).normal(0.0003, 0.01, 3600), seed=1)


@pytest.fixture(scope="module")
def ar_process():
    return synthetic(ar1(3000, PHI, seed=5), seed=2)


def test_random_walk_shows_no_skill(random_walk):
    report = _skill(random_walk, "lstm")
    assert report["n"] >= 3000
    assert abs(report["hit_rate"] - 0.5) <= 0.03
    assert report["dm_pvalue"] > 0.01
    line = verdict(report["dm_pvalue"], report["mse_ratio"], Trading(0.1, 0.3, 0.6, 0.4, 1))
    assert line.startswith("No evidence of forecasting skill")


def test_lstm_learns_ar1_up_to_the_theoretical_bound(ar_process):
    report = _skill(ar_process, "lstm")
    se = math.sqrt(BOUND * (1 - BOUND) / report["n"])
    assert report["hit_rate"] >= 0.56, report
    assert report["hit_rate"] <= BOUND + 3 * se, f"beats the best possible hit rate: leakage? {report}"
    assert report["dm_pvalue"] < 0.01 and report["mse_ratio"] < 1


@pytest.mark.parametrize("model", ["linear", "persistence"])
def test_no_baseline_beats_the_bound(ar_process, model):
    report = _skill(ar_process, model)
    se = math.sqrt(BOUND * (1 - BOUND) / report["n"])
    assert report["hit_rate"] <= BOUND + 3 * se, report
