"""Verdicts that cannot contradict themselves: the claim against the benchmark carries the test of the difference,
the break-evens agree with the headline figures and with re-runs at those costs, on every bundled sample."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

import lstmtrade
from lstmtrade.data.prices import SAMPLES
from lstmtrade.evaluate.performance import BREAK_EVEN_SEARCH, break_even, paid_per_side
from lstmtrade.evaluate.stats import sharpe_difference
from lstmtrade.formatting import num

SMALL = dict(model="persistence", min_train=150, retrain_every=100, baselines=False)


# ------------------------------------------------------------------- the Sharpe-ratio difference test

def test_sharpe_difference_standard_error_matches_the_iid_normal_formula():
    """For iid normal returns the HAC standard error must agree with the closed form (Jobson-Korkie/Memmel):
    Var(SR_a - SR_b) = (2 - 2 rho + (SR_a^2 + SR_b^2 - 2 SR_a SR_b rho^2) / 2) / n."""
    rng = np.random.default_rng(3)
    n, rho, sa, sb = 20_000, 0.6, 0.08, 0.02
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    result = sharpe_difference(0.01 * (z[:, 0] + sa), 0.01 * (z[:, 1] + sb))
    theory = math.sqrt((2 - 2 * rho + 0.5 * (sa**2 + sb**2 - 2 * sa * sb * rho**2)) / n)
    assert result["se"] == pytest.approx(theory, rel=0.05)
    assert result["pvalue"] < 1e-6  # a true difference of 0.06 per day at n = 20,000 is unmistakable


def test_sharpe_difference_holds_its_level_under_the_null():
    """Equal Sharpe ratios: the one-sided test rejects at 5 % about 5 % of the time (binomial bounds)."""
    rng = np.random.default_rng(11)
    rejections = 0
    for _ in range(300):
        z = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=500)
        rejections += sharpe_difference(0.01 * (z[:, 0] + 0.05), 0.01 * (z[:, 1] + 0.05))["pvalue"] < 0.05
    assert 5 <= rejections <= 27, rejections  # 15 expected; 27 is beyond 3 binomial standard deviations


def test_sharpe_difference_widens_for_autocorrelated_returns():
    """An AR(1) process: the HAC error must exceed the iid formula's (which autocorrelation breaks)."""
    rng = np.random.default_rng(5)
    n, phi = 5000, 0.6
    e = rng.normal(size=(n, 2))
    x = np.zeros((n, 2))
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    result = sharpe_difference(0.01 * (x[:, 0] + 0.05), 0.01 * (x[:, 1]))
    iid = math.sqrt(2 / n)  # rho ~ 0, small Sharpes
    assert result["se"] > 1.5 * iid


def test_sharpe_difference_is_undefined_not_invented():
    r = np.random.default_rng(0).normal(0.001, 0.01, 300)
    same = sharpe_difference(r, r)
    assert same["diff"] == 0.0 and same["pvalue"] is None and same["se"] is None
    flat = sharpe_difference(np.zeros(300), r)  # a strategy that never traded has no Sharpe
    assert flat["diff"] is None and flat["pvalue"] is None
    assert "Ledoit-Wolf" in flat["method"]


def test_sharpe_difference_is_annualised_like_the_headline():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.001, 0.01, 2000), rng.normal(0.0005, 0.01, 2000)
    per_day, per_year = sharpe_difference(a, b), sharpe_difference(a, b, periods=252)
    assert per_year["diff"] == pytest.approx(per_day["diff"] * math.sqrt(252))
    assert per_year["se"] == pytest.approx(per_day["se"] * math.sqrt(252))
    assert per_year["pvalue"] == pytest.approx(per_day["pvalue"])
    assert per_day["pvalue"] == pytest.approx(st.norm.sf(per_day["diff"] / per_day["se"]))


# ------------------------------------------------------------------- break-evens checked by re-runs

@pytest.fixture(scope="module")
def msft_run():
    return lstmtrade.run(data="sample:MSFT", end="2006-12-31", write=False, **SMALL)


def test_break_evens_agree_with_re_runs_at_those_costs(msft_run):
    """Re-run the backtest with the run's commission plus each break-even: the figure it names is about zero."""
    costs = msft_run.metrics["costs"]
    checked = 0
    for key, figure in (("break_even_bps", lambda m: m["strategy"]["cagr"]),
                        ("break_even_vs_benchmark_bps", lambda m: m["strategy"]["cagr"] - m["benchmark"]["cagr"])):
        extra = costs[key]
        if extra is None or costs["commission_bps"] + extra < 0:
            continue
        again = lstmtrade.rebacktest(msft_run.predictions, commission=costs["commission_bps"] + extra,
                                     prices=msft_run.prices, write=False, **SMALL)
        at_run = abs(figure(msft_run.metrics))
        assert abs(figure(again.metrics)) < 0.05 * at_run + 0.002, (key, extra, figure(again.metrics))
        checked += 1
    assert checked >= 1


def test_break_even_is_consistent_with_the_sign_at_the_runs_costs(msft_run):
    strat, bench = msft_run.strategy, msft_run.benchmark
    for cash_edge, key in ((msft_run.metrics["strategy"]["cagr"], "break_even_bps"),
                           (msft_run.metrics["strategy"]["cagr"] - msft_run.metrics["benchmark"]["cagr"],
                            "break_even_vs_benchmark_bps")):
        extra = break_even(strat, bench, 100_000.0, 10.0)[key]
        if extra is not None:
            assert (extra > 0) == (cash_edge > 0), (key, extra, cash_edge)  # behind already: not a positive one
            assert -10.0 <= extra <= BREAK_EVEN_SEARCH


# ------------------------------------------------------------------- every bundled sample

@pytest.mark.parametrize("sample", [*SAMPLES, "SP500"])
def test_verdict_break_evens_and_headline_agree(sample):
    settings = dict(SMALL)
    if sample == "EURUSD_1H":
        settings.update(min_train=2000, retrain_every=1500, end="2017-06-30")
    if sample == "SP500":
        settings.update(min_train=300, retrain_every=250, tickers="AAL,ABT,ADM,AIG,AXP,BAC")
    result = lstmtrade.run(data=f"sample:{sample}", write=False, **settings)
    m = result.metrics
    s, b, verdict = m["strategy"], m["benchmark"], m["verdict"]
    # the verdict quotes the headline Sharpes and says "beat" exactly when the strategy's is higher
    assert f"Sharpe {num(s['sharpe'])}" in verdict and num(b["sharpe"]) in verdict
    assert ("did not beat" not in verdict) == (s["sharpe"] > b["sharpe"]), verdict
    # "significantly" only next to the difference test, and only when it rejects
    test = m["significance"]["vs_benchmark"]
    assert set(test) == {"diff", "se", "pvalue", "method"}
    if test["diff"] is not None:
        assert test["diff"] == pytest.approx(s["sharpe"] - b["sharpe"], rel=1e-9, abs=1e-12)
    earned = test["pvalue"] is not None and test["pvalue"] < 0.05 and s["sharpe"] > b["sharpe"]
    assert ("beat" in verdict and ", significantly (above" in verdict) == earned, verdict
    assert "significant:" not in verdict and "Sharpe above zero: PSR" in verdict
    # each break-even agrees in sign with the figure it brings to zero at the run's own costs
    costs = m["costs"]
    for key, edge in (("break_even_bps", s["cagr"]), ("break_even_vs_benchmark_bps", s["cagr"] - b["cagr"])):
        extra = costs[key]
        if extra is None:
            continue
        assert (extra > 0) == (edge > 0), (sample, key, extra, edge)


def test_the_break_even_text_names_every_cost_the_run_paid_beside_commission():
    plain = {"commission_bps": 10.0, "slippage_bps": 2.0, "spread": None, "impact": 0.0, "borrow_bps": 0.0,
             "borrow_file_tickers": 0, "min_commission": 0.0}
    assert paid_per_side(plain) == "12 bps"
    assert paid_per_side({**plain, "spread": "auto", "borrow_bps": 30.0}) == (
        "12 bps of commission and slippage, plus the spread and borrow fee charged")
    assert paid_per_side({**plain, "impact": 0.5, "min_commission": 1.0, "borrow_file_tickers": 3}) == (
        "12 bps of commission and slippage, plus the impact, borrow fee and minimum commission charged")
