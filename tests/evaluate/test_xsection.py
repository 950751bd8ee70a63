"""lstmtrade.xsection: cross-sectional skill on synthetic universes with a planted signal of known
strength, and hand-checked cases (fixed seeds, fast)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from lstmtrade.evaluate.stats import diebold_mariano, forecast_report
from lstmtrade.evaluate.verdict import Trading, universe_verdict
from lstmtrade.evaluate.xsection import (
    daily_ic,
    ic_by_month,
    ic_summary,
    newey_west_tstat,
    per_ticker_skill,
    pooled_dm,
    quantile_returns,
    quantile_spread,
    universe_report,
)

T, N = 1000, 60


def universe(
    b: float, seed: int, days: int = T, names: int = N, sigma: float = 1.0, scale: float | None = None
):
    """``real = b s + e`` with ``s, e`` iid N(0, 1), N(0, sigma^2); ``pred = scale * s`` (default ``b``,
    the conditional mean, so the forecast is calibrated). Returns (pred, real) wide frames."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((days, names))
    y = b * s + sigma * rng.standard_normal((days, names))
    idx = pd.bdate_range("2016-01-04", periods=days, name="date")
    cols = [f"T{i:03d}" for i in range(names)]
    return pd.DataFrame((b if scale is None else scale) * s, idx, cols), pd.DataFrame(y, idx, cols)


def expected_spearman(rho: float, n: int) -> float:
    """Exact E[Spearman] of n bivariate-normal pairs: 6/(pi (n+1)) (asin rho + (n-2) asin(rho/2));
    -> (6/pi) asin(rho/2) as n grows."""
    return 6 / (math.pi * (n + 1)) * (math.asin(rho) + (n - 2) * math.asin(rho / 2))


# --------------------------------------------------------------------------- planted signal


@pytest.mark.parametrize("b,seed", [(0.1, 0), (0.1, 1), (0.5, 2)])
def test_planted_signal_ic_matches_theory(b, seed):
    pred, real = universe(b, seed)
    rho = b / math.sqrt(b**2 + 1)
    ic, ric = daily_ic(pred, real), daily_ic(pred, real, "spearman")
    assert len(ic) == len(ric) == T
    se = ic.std(ddof=1) / math.sqrt(T)
    # the sample correlation is biased towards 0 by about rho (1 - rho^2) / (2 N)
    assert abs(ic.mean() - rho * (1 - (1 - rho**2) / (2 * N))) < 4 * se
    assert ic.mean() < rho + 3 * se  # never beyond the true correlation by more than noise
    rse = ric.std(ddof=1) / math.sqrt(T)
    assert abs(ric.mean() - expected_spearman(rho, N)) < 4 * rse
    assert abs(ric.mean() - 6 / math.pi * math.asin(rho / 2)) < 4 * rse + 0.005
    assert ric.mean() < ic.mean()  # ranks lose a little against a Gaussian signal

    rep = universe_report(pred, real)
    assert rep["rank_ic_tstat"] > 10 and rep["ic_tstat"] > 10 and rep["rank_ic_pvalue"] < 1e-6
    assert rep["ic"] == pytest.approx(ic.mean()) and rep["rank_ic"] == pytest.approx(ric.mean())
    assert rep["n"] == T * N and rep["n_days"] == T and rep["n_tickers"] == N
    line = universe_verdict(rep, Trading(1.2, 0.8, 0.99, 0.97, 3))
    assert line.startswith("Evidence of cross-sectional skill (mean Rank IC ")


def test_planted_signal_quantiles_are_monotone():
    pred, real = universe(0.1, 0)
    table = quantile_returns(pred, real)
    assert list(table.index) == [1, 2, 3, 4, 5] and list(table.columns) == ["mean", "se", "n_days"]
    assert (np.diff(table["mean"]) > 0).all()
    assert (table["n_days"] == T).all() and (table["se"] > 0).all()
    qs = quantile_spread(pred, real)
    assert qs["monotonicity"] == pytest.approx(1.0)
    assert qs["spread"] == pytest.approx(table["mean"][5] - table["mean"][1])
    assert qs["tstat"] > 10 and qs["pvalue"] < 1e-6 and qs["n_days"] == T
    # the expected top-minus-bottom quintile spread of b s is b (E[s | top 20 %] - E[s | bottom 20 %])
    z = st.norm.ppf(0.8)
    expected = 0.1 * 2 * st.norm.pdf(z) / 0.2
    assert abs(qs["spread"] - expected) < 4 * qs["se"] + 0.01  # + finite-N ordering effects
    # a forecast of the wrong sign orders the quantiles the other way
    assert quantile_spread(-pred, real)["monotonicity"] == pytest.approx(-1.0)
    assert quantile_spread(pred, real, n_quantiles=2)["monotonicity"] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_no_signal_claims_no_skill(seed):
    pred, real = universe(0.0, seed, scale=0.01)
    rep = universe_report(pred, real)
    assert abs(rep["rank_ic_tstat"]) < 3 and abs(rep["ic_tstat"]) < 3
    assert abs(rep["quantile_spread_t"]) < 3
    assert rep["dm_pvalue"] > 0.05 and rep["mse_ratio"] > 1
    assert universe_verdict(rep, Trading(0.3, 0.8, 0.6, 0.3, 5)).startswith("No evidence of cross-sectional skill")


def test_no_signal_false_claims_at_nominal_rate():
    # 60 skill-less universes: the Rank IC test should reject about 5 % of the time, not more
    claims, spreads = 0, 0
    for seed in range(100, 160):
        pred, real = universe(0.0, seed, days=250, names=30, scale=0.01)
        rep = universe_report(pred, real)
        claims += rep["rank_ic_pvalue"] < 0.05 and rep["rank_ic"] > 0
        spreads += rep["quantile_spread_pvalue"] < 0.05
    assert claims <= 6  # one-sided claims: expected 1.5 of 60
    assert spreads <= 9  # two-sided: expected 3 of 60


# --------------------------------------------------------------------------- Newey-West


def test_newey_west_by_hand():
    x = np.array([1.0, 2.0, 3.0, 5.0])  # mean 2.75; e = [-1.75, -0.75, 0.25, 2.25]
    g0 = (1.75**2 + 0.75**2 + 0.25**2 + 2.25**2) / 4  # 8.75 / 4
    g1 = (-0.75 * -1.75 + 0.25 * -0.75 + 2.25 * 0.25) / 4  # 1.6875 / 4
    var = g0 + 2 * 0.5 * g1  # Bartlett weight 1 - 1/2 at lag 1 of 1
    mean, se, t = newey_west_tstat(x, lags=1)
    assert mean == pytest.approx(2.75)
    assert se == pytest.approx(math.sqrt(var / 4))
    assert t == pytest.approx(2.75 / math.sqrt(var / 4))


def test_newey_west_iid_is_close_to_naive():
    x = np.random.default_rng(3).normal(0.1, 1.0, 2000)
    naive = x.mean() / (x.std(ddof=0) / math.sqrt(x.size))
    assert newey_west_tstat(x, lags=0)[2] == pytest.approx(naive, rel=1e-12)
    assert newey_west_tstat(x)[2] == pytest.approx(naive, rel=0.1)
    # default lags floor(4 (n/100)^(2/9)): floor(7.78) = 7 at n = 2000, 4 at n = 100
    assert newey_west_tstat(x) == newey_west_tstat(x, lags=7)
    assert newey_west_tstat(x[:100]) == newey_west_tstat(x[:100], lags=4)


def test_newey_west_widens_for_positive_autocorrelation():
    rng = np.random.default_rng(4)
    phi, n = 0.5, 5000
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    _, se, _ = newey_west_tstat(x)
    naive = x.std(ddof=0) / math.sqrt(n)
    # the true long-run ratio is sqrt((1 + phi) / (1 - phi)) = 1.73; Bartlett at 10 lags gets most of it
    assert 1.4 < se / naive < 1.8


def test_newey_west_degenerate_and_nan():
    assert all(math.isnan(v) for v in newey_west_tstat([]))
    mean, se, t = newey_west_tstat([0.3])
    assert mean == 0.3 and math.isnan(se) and math.isnan(t)
    assert math.isnan(newey_west_tstat([0.1] * 50)[2])  # constant: no variance
    x = np.array([0.1, np.nan, 0.3, 0.2, np.inf, 0.5])
    assert newey_west_tstat(x, lags=1) == newey_west_tstat(x[np.isfinite(x)], lags=1)
    with pytest.raises(ValueError, match="lags"):
        newey_west_tstat([1.0, 2.0, 3.0], lags=-1)


# --------------------------------------------------------------------------- daily IC: names and gaps


def test_min_names_and_flat_days():
    idx = pd.bdate_range("2020-01-01", periods=4)
    cols = list("ABCDEFGHIJ")
    rng = np.random.default_rng(5)
    pred = pd.DataFrame(rng.standard_normal((4, 10)), idx, cols)
    real = pd.DataFrame(rng.standard_normal((4, 10)), idx, cols)
    pred.iloc[0, 4:] = np.nan  # 4 valid pairs
    real.iloc[1, 5:] = np.nan  # 5 valid pairs
    pred.iloc[3] = 0.002  # every name the same forecast: no cross-section to rank
    ic = daily_ic(pred, real, min_names=5)
    assert list(ic.index) == [idx[1], idx[2]]
    assert list(daily_ic(pred, real, min_names=4).index) == [idx[0], idx[1], idx[2]]
    assert list(daily_ic(pred, real, "spearman", min_names=4).index) == [idx[0], idx[1], idx[2]]
    assert ic[idx[1]] == pytest.approx(np.corrcoef(pred.iloc[1, :5], real.iloc[1, :5])[0, 1])
    with pytest.raises(ValueError, match=r"`min_names` \(2\) must be >= 3"):
        daily_ic(pred, real, min_names=2)
    with pytest.raises(ValueError, match="`method`"):
        daily_ic(pred, real, method="kendall")


def test_missing_cells_and_sessions_match_a_loop():
    rng = np.random.default_rng(6)
    pred, real = universe(0.2, 6, days=120, names=25)
    pred = pred.mask(rng.random(pred.shape) < 0.2)
    real = real.mask(rng.random(real.shape) < 0.1)
    real.iloc[7] = np.nan  # a missing session
    pred.iloc[50:53] = np.nan  # no forecasts for three days
    ic, ric = daily_ic(pred, real), daily_ic(pred, real, "spearman")
    want, want_rank = {}, {}
    for d in pred.index:
        m = pred.loc[d].notna() & real.loc[d].notna()
        if m.sum() >= 5:
            want[d] = np.corrcoef(pred.loc[d, m], real.loc[d, m])[0, 1]
            want_rank[d] = st.spearmanr(pred.loc[d, m], real.loc[d, m])[0]
    assert list(ic.index) == list(want) == list(ric.index)
    assert pred.index[7] not in ic.index and pred.index[51] not in ic.index
    np.testing.assert_allclose(ic.to_numpy(), list(want.values()), rtol=1e-10)
    np.testing.assert_allclose(ric.to_numpy(), list(want_rank.values()), rtol=1e-10)

    valid = pred.notna() & real.notna()
    rep = universe_report(pred, real)
    assert rep["n"] == int(valid.to_numpy().sum()) and rep["n_days"] == 120 - 4
    json.dumps(rep, allow_nan=False)  # JSON-safe
    assert (per_ticker_skill(pred, real)["n"] == valid.sum()).all()


def test_inputs_are_checked_once():
    pred, real = universe(0.1, 7, days=30, names=8)
    shuffled = real[real.columns[::-1]]
    assert daily_ic(pred, shuffled).equals(daily_ic(pred, real))  # same labels, other order: aligned
    with pytest.raises(ValueError, match="same shape"):
        daily_ic(pred, real.iloc[:-1])
    with pytest.raises(ValueError, match="same dates and tickers"):
        daily_ic(pred, real.rename(columns={"T000": "XYZ"}))
    with pytest.raises(TypeError, match="`real` must be a pandas DataFrame"):
        daily_ic(pred, real.to_numpy())


def test_nothing_valid_reports_none():
    pred, real = universe(0.1, 8, days=20, names=6)
    rep = universe_report(pred, real * np.nan)
    assert rep["n"] == 0 and rep["ic"] is None and rep["dm_pvalue"] is None and rep["hit_rate"] is None
    json.dumps(rep, allow_nan=False)
    line = universe_verdict(rep, Trading(float("nan"), 0.5, float("nan"), float("nan"), 1))
    assert line.startswith("No evidence of cross-sectional skill (mean Rank IC n/a, t = n/a, p n/a)")


# --------------------------------------------------------------------------- summaries


def test_ic_summary_and_by_month():
    idx = pd.to_datetime(["2021-01-04", "2021-01-05", "2021-02-01", "2021-02-02", "2021-03-01"])
    ic = pd.Series([0.1, -0.05, 0.2, np.nan, 0.05], idx, name="ic")
    s = ic_summary(ic)
    x = np.array([0.1, -0.05, 0.2, 0.05])
    assert s["n_days"] == 4 and s["share_positive"] == 0.75
    assert s["mean"] == pytest.approx(0.075) and s["std"] == pytest.approx(x.std(ddof=1))
    assert s["ic_ir"] == pytest.approx(0.075 / x.std(ddof=1))
    assert s["tstat"] == pytest.approx(newey_west_tstat(x)[2])
    assert s["pvalue"] == pytest.approx(2 * st.t.sf(abs(s["tstat"]), 3))
    by_month = ic_by_month(ic)
    assert list(by_month.index) == ["2021-01", "2021-02", "2021-03"]
    np.testing.assert_allclose(by_month.to_numpy(), [0.025, 0.2, 0.05])
    with pytest.raises(TypeError, match="DatetimeIndex"):
        ic_by_month(pd.Series([0.1, 0.2]))


def test_quantile_groups_by_hand():
    idx = pd.bdate_range("2022-01-03", periods=2)
    cols = list("ABCDEFGHIJ")
    pred = pd.DataFrame([np.arange(10.0), np.arange(10.0)[::-1]], idx, cols)
    real = pd.DataFrame([np.arange(10.0) / 100, np.arange(10.0) / 100], idx, cols)
    table = quantile_returns(pred, real)
    # day 1: quintile q holds names with forecasts 2q-2, 2q-1 -> returns (4q - 3) / 200
    # day 2: forecasts reversed -> quintile q holds returns (9 - 2q + 1 + 9 - 2q) / 200
    day1 = np.array([(4 * q - 3) / 200 for q in range(1, 6)])
    day2 = day1[::-1]
    np.testing.assert_allclose(table["mean"], (day1 + day2) / 2)
    assert (table["n_days"] == 2).all()
    # tied forecasts share a group; a date with fewer names than groups is skipped
    pred.iloc[0] = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    pred.iloc[1, 4:] = np.nan
    t2 = quantile_returns(pred, real)
    # average ranks 2.5 (four zeros) and 7.5 (six ones) of 10 fall in quintiles 2 and 4
    assert list(t2["n_days"]) == [0, 1, 0, 1, 0]
    assert t2["mean"][2] == pytest.approx(np.mean(np.arange(4)) / 100)
    assert t2["mean"][4] == pytest.approx(np.mean(np.arange(4, 10)) / 100)
    assert math.isnan(quantile_spread(pred, real)["spread"])  # no date has both ends


def test_per_ticker_skill_matches_single_ticker_report():
    pred, real = universe(0.2, 9, days=300, names=6)
    real.iloc[::25, 0] = 0.0  # zero returns: skipped by hit rate and up share alike
    pred.iloc[::40, 1] = 0.0  # zero forecasts: skipped by hit rate only
    pred.iloc[:30, 2] = np.nan
    table = per_ticker_skill(pred, real)
    assert list(table.columns) == ["n", "hit_rate", "up_share", "ic", "mean_prediction"]
    for t in pred.columns:
        rep = forecast_report(pred[t], real[t])
        row = table.loc[t]
        assert row["n"] == rep["n"]
        assert row["hit_rate"] == pytest.approx(rep["hit_rate"])
        assert row["ic"] == pytest.approx(rep["ic"])
        y = real[t][pred[t].notna()]
        assert row["up_share"] == pytest.approx((y > 0).sum() / (y != 0).sum())
        assert row["mean_prediction"] == pytest.approx(pred[t].mean())
    # always-long's hit rate is the up share
    longs = pd.DataFrame(1.0, pred.index, pred.columns)
    always = per_ticker_skill(longs, real)
    np.testing.assert_allclose(always["hit_rate"], always["up_share"])
    assert table.loc["T002", "n"] == 270


# --------------------------------------------------------------------------- pooled Diebold-Mariano


def test_pooled_dm_with_and_without_signal():
    pred, real = universe(0.1, 10)
    dm = pooled_dm(pred, real)
    assert dm["dm_pvalue"] < 1e-6 and dm["dm_stat"] < 0
    assert dm["mse_ratio"] == pytest.approx(1 / 1.01, abs=0.005)  # sigma^2 / (b^2 + sigma^2)
    assert dm["n"] == T * N and dm["n_days"] == T
    for seed in range(11, 14):
        pred, real = universe(0.0, seed, scale=0.01)
        assert pooled_dm(pred, real)["dm_pvalue"] > 0.05


def test_pooled_dm_is_not_fooled_by_a_common_shock():
    # equal expected loss by construction: the forecast's real skill (b s) is paid for by a common daily
    # tilt of the same size that is pure noise (E[(p - y)^2 - y^2] = c^2 + b^2 - 2 b^2 = 0 for c = b).
    # Every name shares the market move and the tilt, so a date's cells are correlated, and treating
    # 40 x 300 cells as independent overstates |t|; the daily mean loss differential does not.
    b = c = 0.3
    naive_rejects = pooled_rejects = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        days, names = 300, 40
        market = 2.0 * rng.standard_normal((days, 1))
        tilt = c * rng.standard_normal((days, 1))
        s = rng.standard_normal((days, names))
        real = pd.DataFrame(market + b * s + 0.5 * rng.standard_normal((days, names)))
        pred = pd.DataFrame(tilt + b * s)
        loss_model = ((pred - real) ** 2).to_numpy().ravel()
        loss_zero = (real**2).to_numpy().ravel()
        naive_rejects += diebold_mariano(loss_model, loss_zero, alternative="two-sided")[1] < 0.05
        stat = pooled_dm(pred, real)["dm_stat"]
        pooled_rejects += 2 * st.t.sf(abs(stat), days - 1) < 0.05
    assert pooled_rejects <= 3  # about 1 of 20 expected
    assert naive_rejects >= 8  # about 13 of 20 expected


# --------------------------------------------------------------------------- verdict


def test_universe_verdict_wording():
    rep = {"rank_ic": 0.004, "rank_ic_tstat": 0.6, "rank_ic_pvalue": 0.55}
    line = universe_verdict(rep, Trading(0.31, 0.85, 0.60, 0.40, 7, 0.93))
    assert line == (
        "No evidence of cross-sectional skill (mean Rank IC 0.004, t = 0.6, p = 0.55); portfolio Sharpe "
        "0.31 did not beat equal-weight buy-and-hold 0.85 after costs (above equal-weight buy-and-hold: p = 0.93); "
        "Sharpe above zero: PSR 0.60, DSR 0.40 over 7 trials."
    )
    # significant but negative: the forecast ranks names the wrong way round, which is not skill
    neg = {"rank_ic": -0.03, "rank_ic_tstat": -5.0, "rank_ic_pvalue": 1e-6}
    assert universe_verdict(neg, Trading(1.0, 0.5, 0.9, 0.9, 1)).startswith("No evidence")
    pos = {"rank_ic": 0.031, "rank_ic_tstat": 6.2, "rank_ic_pvalue": 1e-9}
    line = universe_verdict(pos, Trading(1.1, 0.85, 0.99, 0.97, 4, 0.0004, "momentum", 0.9),
                            survivorship="Tickers are today's S&P 500 members: survivorship bias flatters")
    assert line == (
        "Evidence of cross-sectional skill (mean Rank IC 0.031, t = 6.2, p < 0.001); portfolio Sharpe 1.10 "
        "beat equal-weight buy-and-hold 0.85 after costs, significantly (above equal-weight buy-and-hold: "
        "p < 0.001); best baseline momentum Sharpe 0.90; Sharpe above zero: PSR 0.99, DSR 0.97 over 4 trials. "
        "Tickers are today's S&P 500 members: survivorship bias flatters."
    )
    border = {"rank_ic": 0.01, "rank_ic_tstat": 1.9, "rank_ic_pvalue": 0.051}
    # just above alpha: no claim, and the p-value is not rounded down to read "p = 0.05"
    assert universe_verdict(border, Trading(1.0, 0.5, 0.9, 0.9, 1)).startswith(
        "No evidence of cross-sectional skill (mean Rank IC 0.010, t = 1.9, p = 0.051)")
    top = {"rank_ic": -0.01, "rank_ic_tstat": -0.01, "rank_ic_pvalue": 0.998}
    assert universe_verdict(top, Trading(1.0, 0.5, 0.9, 0.9, 1)).startswith(
        "No evidence of cross-sectional skill (mean Rank IC -0.010, t = -0.0, p > 0.99)")  # not "p = > 0.99"
