"""lstmtrade.stats: hand-checked formulas and behaviour on synthetic data (fixed seeds, fast)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from lstmtrade.evaluate.stats import (
    breakeven_cost,
    deflated_sharpe_ratio,
    diebold_mariano,
    expanding_mean_forecast,
    expected_max_sharpe,
    forecast_report,
    hit_rates,
    per_fold,
    per_period_sharpe,
    probabilistic_sharpe_ratio,
    sharpe_estimator_variance,
    sharpe_ratio,
)
from lstmtrade.evaluate.verdict import Trading, verdict

LOSS_MODEL = np.array([1.0, 2.0, 0.5, 1.5, 1.0, 0.2])
LOSS_BENCH = np.array([2.0, 2.5, 1.0, 1.0, 2.0, 1.0])


# --------------------------------------------------------------------------- Diebold-Mariano


def test_dm_hln_by_hand_h2():
    # d = model - bench = [-1, -0.5, -0.5, 0.5, -1, -0.8], n = 6, mean -3.3 / 6 = -0.55
    d = [-1.0, -0.5, -0.5, 0.5, -1.0, -0.8]
    n, h = 6, 2
    dbar = sum(d) / n
    assert dbar == pytest.approx(-0.55)
    e = [x - dbar for x in d]  # [-0.45, 0.05, 0.05, 1.05, -0.45, -0.25]
    g0 = sum(x * x for x in e) / n  # 1.575 / 6
    assert g0 == pytest.approx(0.2625)
    g1 = sum(e[t] * e[t - 1] for t in range(1, n)) / n  # -0.3275 / 6
    assert g1 == pytest.approx(-0.3275 / 6)
    v = g0 + 2 * g1
    dm = dbar / math.sqrt(v / n)
    factor = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)  # sqrt((3 + 1/3) / 6)
    assert factor == pytest.approx(math.sqrt(10 / 18))
    expected = dm * factor
    assert expected == pytest.approx(-2.5644, abs=1e-3)
    stat, p = diebold_mariano(LOSS_MODEL, LOSS_BENCH, h=2)
    assert stat == pytest.approx(expected, rel=1e-12)
    assert p == pytest.approx(st.t.cdf(expected, df=n - 1), rel=1e-12)
    assert 0.02 < p < 0.03


def test_dm_hln_by_hand_h1():
    # h = 1: V = g0 = 0.2625; DM = -0.55 / sqrt(0.2625 / 6); HLN factor sqrt(5 / 6)
    expected = -0.55 / math.sqrt(0.2625 / 6) * math.sqrt(5 / 6)
    stat, p = diebold_mariano(LOSS_MODEL, LOSS_BENCH)
    assert stat == pytest.approx(expected, rel=1e-12)
    assert p == pytest.approx(st.t.cdf(expected, df=5), rel=1e-12)
    _, p2 = diebold_mariano(LOSS_MODEL, LOSS_BENCH, alternative="two-sided")
    assert p2 == pytest.approx(2 * st.t.sf(abs(expected), df=5), rel=1e-12)


def test_dm_symmetry():
    rng = np.random.default_rng(1)
    a, b = rng.chisquare(1, 200), rng.chisquare(1, 200) * 1.1
    s_ab, p_ab = diebold_mariano(a, b)
    s_ba, p_ba = diebold_mariano(b, a)
    assert s_ab == pytest.approx(-s_ba)
    assert p_ab + p_ba == pytest.approx(1.0)
    _, p_two = diebold_mariano(a, b, alternative="two-sided")
    assert p_two == pytest.approx(2 * min(p_ab, p_ba))
    _, p_greater = diebold_mariano(a, b, alternative="greater")
    assert p_greater == pytest.approx(p_ba)


def test_dm_degenerate_is_nan():
    same = np.array([0.1, 0.4, 0.2, 0.3])
    assert all(math.isnan(x) for x in diebold_mariano(same, same))  # identical losses: nan, nan
    assert all(math.isnan(x) for x in diebold_mariano(same + 1.0, same))  # constant differential
    assert all(math.isnan(x) for x in diebold_mariano([1.0, 2.0], [2.0, 1.0]))  # n < 3
    with pytest.raises(ValueError):
        diebold_mariano(same, same, alternative="bigger")


# --------------------------------------------------------------------------- forecasts


def test_expanding_mean_never_uses_unknown_targets():
    rng = np.random.default_rng(2)
    idx = pd.bdate_range("2020-01-01", periods=60)
    target = pd.Series(rng.normal(0, 0.01, 60), index=idx)
    target.iloc[[5, 17]] = np.nan
    fc = expanding_mean_forecast(target, reach=2)
    assert fc.index.equals(idx)
    assert fc.iloc[:2].isna().all()
    assert fc.iloc[2] == target.iloc[0]
    assert fc.iloc[10] == pytest.approx(target.iloc[:9].mean())  # rows <= 10 - 2
    for t in (0, 3, 20, 40, 57):
        perturbed = target.copy()
        perturbed.iloc[t - 1 :] = 1e6  # everything from row t-1 on is unknown at the close of t
        before = expanding_mean_forecast(perturbed, reach=2).iloc[: t + 1]
        pd.testing.assert_series_equal(before, fc.iloc[: t + 1])


def test_forecast_report_basics():
    idx = pd.bdate_range("2021-01-01", periods=8)
    pred = pd.Series([0.01, -0.02, 0.0, 0.03, -0.01, 0.02, np.nan, 0.01], index=idx)
    target = pd.Series([0.02, 0.01, 0.05, 0.01, -0.03, 0.0, 0.04, -0.01], index=idx)
    rep = forecast_report(pred, target)
    assert rep["n"] == 7
    # usable non-zero pairs: rows 0,1,3,4,7 -> hits at 0,3,4 -> 3/5
    assert rep["hit_rate"] == pytest.approx(0.6)
    p, y = pred.drop(idx[6]).to_numpy(), target.drop(idx[6]).to_numpy()
    assert rep["mse"] == pytest.approx(np.mean((p - y) ** 2))
    assert rep["mse_zero"] == pytest.approx(np.mean(y**2))
    assert rep["mse_ratio"] == pytest.approx(rep["mse"] / rep["mse_zero"])
    assert rep["oos_r2"] == pytest.approx(1 - rep["mse_ratio"])  # zero benchmark
    assert rep["ic"] == pytest.approx(np.corrcoef(p, y)[0, 1])
    assert rep["ic_spearman"] == pytest.approx(st.spearmanr(p, y)[0])
    hm = pd.Series(0.005, index=idx)
    rep2 = forecast_report(pred, target, history_mean=hm)
    assert rep2["oos_r2"] == pytest.approx(1 - np.sum((p - y) ** 2) / np.sum((y - 0.005) ** 2))
    assert rep["up_share"] == pytest.approx(0.6)  # targets of rows 0,1,3,4,7: three of five positive
    zeros = forecast_report(pd.Series(0.0, index=idx), target)
    assert math.isnan(zeros["hit_rate"]) and math.isnan(zeros["up_share"])


def test_up_share_is_the_hit_rate_of_always_long_on_the_counted_days():
    p = np.array([1.0, -1.0, 1.0, 0.0, 1.0, -2.0])
    y = np.array([0.5, 0.2, -0.1, 0.3, np.nan, 0.0])
    # counted: rows 0-2 (row 3 has p == 0, row 4 a NaN target, row 5 y == 0)
    assert hit_rates(p, y) == {"hit_rate": pytest.approx(1 / 3), "up_share": pytest.approx(2 / 3)}
    rng = np.random.default_rng(3)
    target = rng.normal(0.0005, 0.01, 500)
    always_long = hit_rates(np.ones(500), target)
    assert always_long["hit_rate"] == always_long["up_share"] == np.mean(target > 0)
    always_short = hit_rates(-np.ones(500), target)
    assert always_short["hit_rate"] == pytest.approx(1 - always_short["up_share"])


def _walk(n=3000, seed=7):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2005-01-03", periods=n)
    target = pd.Series(rng.normal(0.0, 0.01, n), index=idx)
    return rng, idx, target


def test_random_walk_has_no_skill():
    rng, idx, target = _walk()
    pred = pd.Series(rng.normal(0.0, 0.01, len(idx)), index=idx)
    rep = forecast_report(pred, target, history_mean=expanding_mean_forecast(target))
    assert 0.47 <= rep["hit_rate"] <= 0.53
    assert rep["dm_pvalue"] > 0.01
    assert rep["oos_r2"] < 0
    line = verdict(rep["dm_pvalue"], rep["mse_ratio"], Trading(0.3, 0.45, 0.7, 0.4, 7, 0.8))
    assert line.startswith("No evidence of forecasting skill")


def test_informative_forecast_has_skill():
    rng, idx, target = _walk()
    pred = target + pd.Series(rng.normal(0.0, 0.003, len(idx)), index=idx)
    rep = forecast_report(pred, target)
    assert rep["dm_pvalue"] < 0.01 and rep["mse_ratio"] < 1 and rep["hit_rate"] > 0.7
    line = verdict(rep["dm_pvalue"], rep["mse_ratio"], Trading(1.2, 0.45, 0.99, 0.97, 7, 0.004))
    assert line.startswith("Evidence of forecasting skill")
    assert "beat buy-and-hold 0.45 after costs, significantly (above buy-and-hold: p = 0.004)" in line


def test_per_fold():
    rng, idx, target = _walk(n=600)
    pred = target + pd.Series(rng.normal(0.0, 0.02, len(idx)), index=idx)
    fold = pd.Series(np.repeat([0, 1, 2], 200), index=idx)
    table = per_fold(pred, target, fold, history_mean=expanding_mean_forecast(target))
    assert list(table.index) == [0, 1, 2]
    assert list(table.columns) == ["n", "hit_rate", "up_share", "ic", "mse_ratio", "oos_r2", "dm_pvalue"]
    assert table.loc[2, "up_share"] == pytest.approx(np.mean(target.iloc[400:] > 0))
    assert (table["n"] == 200).all()
    one = forecast_report(pred.iloc[200:400], target.iloc[200:400])
    assert table.loc[1, "ic"] == pytest.approx(one["ic"])
    assert table.loc[1, "dm_pvalue"] == pytest.approx(one["dm_pvalue"])


# --------------------------------------------------------------------------- Sharpe family

R = np.array([0.01, -0.02, 0.03, 0.015, -0.005, 0.02, 0.0, 0.01, -0.01, 0.025])


def _psr_by_hand(r, sr_star, kurt_offset=0.0):
    n = len(r)
    mean = sum(r) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1))
    sr = mean / sd
    m2 = sum((x - mean) ** 2 for x in r) / n
    m3 = sum((x - mean) ** 3 for x in r) / n
    m4 = sum((x - mean) ** 4 for x in r) / n
    skew, kurt = m3 / m2**1.5, m4 / m2**2 - kurt_offset  # raw kurtosis unless offset = 3
    z = (sr - sr_star) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_sharpe():
    sr = R.mean() / R.std(ddof=1)
    assert per_period_sharpe(R) == pytest.approx(sr)
    assert sharpe_ratio(R) == pytest.approx(sr * math.sqrt(252))
    assert sharpe_ratio(R, periods=12) == pytest.approx(sr * math.sqrt(12))
    assert math.isnan(sharpe_ratio(np.zeros(5)))


def test_psr_by_hand():
    for sr_star in (0.0, 0.1, -0.05):
        assert probabilistic_sharpe_ratio(R, sr_star) == pytest.approx(_psr_by_hand(R, sr_star), rel=1e-10)


def test_psr_at_own_sharpe_is_half():
    assert abs(probabilistic_sharpe_ratio(R, per_period_sharpe(R)) - 0.5) < 1e-12


def test_psr_increases_with_n():
    values = [probabilistic_sharpe_ratio(np.tile(R, k)) for k in (1, 2, 4, 8)]
    assert per_period_sharpe(R) > 0
    assert all(a < b for a, b in zip(values, values[1:]))


def test_psr_uses_raw_kurtosis():
    # fat tails plus a large per-period Sharpe, so raw (g4) vs excess (g4 - 3) differ clearly
    r = np.array([0.02, 0.021, 0.019, 0.02, 0.12, 0.018, 0.02, -0.06, 0.021, 0.019, 0.02, 0.02])
    raw, excess = _psr_by_hand(r, 0.0), _psr_by_hand(r, 0.0, kurt_offset=3.0)
    assert abs(raw - excess) > 1e-3
    assert probabilistic_sharpe_ratio(r) == pytest.approx(raw, rel=1e-10)


def test_dsr_by_hand():
    n_trials, var = 10, 0.002
    gamma = 0.5772156649
    sr0 = math.sqrt(var) * ((1 - gamma) * st.norm.ppf(1 - 1 / 10) + gamma * st.norm.ppf(1 - 1 / (10 * math.e)))
    assert expected_max_sharpe(n_trials, var) == pytest.approx(sr0, rel=1e-9)
    dsr = deflated_sharpe_ratio(R, n_trials, var)
    assert dsr == pytest.approx(_psr_by_hand(R, sr0), rel=1e-9)
    assert dsr <= probabilistic_sharpe_ratio(R)


def test_dsr_edge_cases():
    psr0 = probabilistic_sharpe_ratio(R)
    assert deflated_sharpe_ratio(R, 1, 0.5) == psr0  # N = 1: SR0 = 0
    assert deflated_sharpe_ratio(R, 1) == psr0
    fallback = deflated_sharpe_ratio(R, 5)  # unknown variance -> Sharpe estimator variance
    assert fallback == pytest.approx(
        probabilistic_sharpe_ratio(R, expected_max_sharpe(5, sharpe_estimator_variance(R)))
    )
    assert fallback < psr0
    for k in (2, 3, 50):
        assert deflated_sharpe_ratio(R, k, 0.01) <= psr0


# --------------------------------------------------------------------------- costs and verdict


def test_breakeven_cost():
    root = 37.3
    found = breakeven_cost(lambda c: 0.02 * (1 - c / root))
    assert found is not None and abs(found - root) <= 0.05
    assert breakeven_cost(lambda c: -0.01 - c) == 0.0  # no edge even at lo
    assert breakeven_cost(lambda c: 1.0 - c / 1000) is None  # edge survives at hi
    assert breakeven_cost(lambda c: float("nan")) == 0.0


def test_verdict_wording():
    line = verdict(0.41, 1.002, Trading(0.31, 0.45, 0.72, 0.40, 7, 0.71))
    assert line == ("No evidence of forecasting skill (DM p = 0.41, MSE ratio 1.002); strategy Sharpe 0.31 did not "
                    "beat buy-and-hold 0.45 after costs (above buy-and-hold: p = 0.71); Sharpe above zero: PSR 0.72, "
                    "DSR 0.40 over 7 trials.")
    # small p but worse than the zero forecast: never claims skill
    assert verdict(0.001, 1.01, Trading(1.0, 0.5, 0.9, 0.9, 3)).startswith("No evidence")
    beat = verdict(0.3, 0.99, Trading(0.8, 0.45, 0.9, 0.6, 7, 0.21, "momentum", 0.7))
    assert "beat buy-and-hold 0.45 after costs, not significantly (above buy-and-hold: p = 0.21)" in beat
    assert "best baseline momentum Sharpe 0.70" in beat
    # a high PSR or DSR never makes the comparison with buy-and-hold "significant": only its own test does
    tiny = verdict(0.3, 0.99, Trading(1.30, 1.27, 1.0, 1.0, 1, 0.47))
    assert "not significantly (above buy-and-hold: p = 0.47)" in tiny and "Sharpe above zero: PSR 1.00" in tiny
    assert tiny.count("significant") == 1
    nan = float("nan")
    na = verdict(nan, nan, Trading(nan, 0.45, nan, nan, 1))
    assert na.startswith("No evidence of forecasting skill (DM p = n/a")
    assert "(comparison n/a)" in na and "1 trial." in na and "significant" not in na
    assert verdict(0.999, 1.2, Trading(0.1, 0.45, 0.5, 0.5, 1)).startswith(
        "No evidence of forecasting skill (DM p > 0.99,")  # not "p = > 0.99"


def test_a_trial_that_never_traded_counts_but_does_not_make_dsr_undefined():
    from lstmtrade.evaluate.performance import significance

    r = pd.Series(np.random.default_rng(0).normal(0.001, 0.01, 1000))
    with_flat = significance(r, [0.01, 0.02, float("nan"), None])
    assert with_flat["trials"] == 4 and math.isfinite(with_flat["dsr"])
    expected = deflated_sharpe_ratio(r, 4, float(np.var([0.01, 0.02], ddof=1)))
    assert with_flat["dsr"] == pytest.approx(expected)
