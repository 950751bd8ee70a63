"""Selection statistics on constructed cases whose answer is known."""
import math

import numpy as np
import pytest

from lstmtrade.evaluate.selection import (
    model_confidence_set,
    probability_of_backtest_overfitting,
    reality_check,
    verdict,
)


def noise(seed: int, days: int = 640, trials: int = 10) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.01, (days, trials))


def test_pbo_of_pure_noise_is_about_one_half():
    # iid skill-less trials: the in-sample winner is as likely to land below the out-of-sample median as
    # above it. One matrix is a noisy estimate (its 12,870 splits share data); the mean of 40 is not
    values = [probability_of_backtest_overfitting(noise(seed, trials=20)).pbo for seed in range(40)]
    assert abs(np.mean(values) - 0.5) < 0.1, values
    assert min(values) < 0.4 and max(values) > 0.6  # and any one sweep of noise can read either way


def test_pbo_with_one_real_edge_among_noise_is_about_zero():
    returns = noise(1, days=1500, trials=20)
    returns[:, 13] += 0.002  # annualised Sharpe about 3 against 0 for the noise
    result = probability_of_backtest_overfitting(returns)
    assert result.pbo < 0.02
    assert result.prob_oos_loss < 0.05 and np.median(result.logits) > 2


def test_pbo_exact_answers_for_two_trials():
    rng = np.random.default_rng(3)
    base = rng.normal(0.0, 0.01, (40, 1))
    # A beats B by the same margin in every block: the in-sample winner is A, best out of sample: PBO 0
    dominant = np.hstack([base + 0.005, base])
    result = probability_of_backtest_overfitting(dominant, blocks=4)
    assert result.pbo == 0.0 and result.splits == math.comb(4, 2)
    np.testing.assert_allclose(result.logits, math.log(2))  # rank 2 of 2: w = 2/3
    # A wins the first half, B the second; with S = 2 the in-sample winner always loses out of sample
    a = np.r_[np.full(20, 0.01), np.full(20, -0.01)] + base[:, 0] * 0.1
    b = np.r_[np.full(20, -0.01), np.full(20, 0.01)] + base[:, 0] * 0.1
    result = probability_of_backtest_overfitting(np.column_stack([a, b]), blocks=2)
    assert result.pbo == 1.0
    np.testing.assert_allclose(result.logits, -math.log(2))
    assert result.prob_oos_loss == 1.0


def test_pbo_degradation_line_and_identical_trials():
    returns = noise(4, days=320, trials=5)
    returns[:, 1] = returns[:, 0]  # identical trials tie, ranks are averaged, nothing breaks
    returns[:, 2] = 0.0  # a trial that never trades has Sharpe 0, not NaN
    result = probability_of_backtest_overfitting(returns, blocks=8)
    assert np.isfinite(result.logits).all() and 0 <= result.pbo <= 1
    fit = np.polyfit(result.is_sharpe, result.oos_sharpe, 1)
    assert result.slope == pytest.approx(fit[0]) and result.intercept == pytest.approx(fit[1])


@pytest.mark.parametrize("blocks, shape, message", [
    (15, (100, 3), "even"),
    (16, (100, 1), "at least 2 trials"),
    (16, (20, 3), "too few"),
])
def test_pbo_refuses_what_it_cannot_compute(blocks, shape, message):
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(np.zeros(shape), blocks=blocks)


def test_pbo_refuses_missing_values():
    returns = noise(5)
    returns[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        probability_of_backtest_overfitting(returns)


def test_reality_check_finds_no_winner_among_noise_and_the_planted_one():
    returns = noise(6, days=1500, trials=20)
    none = reality_check(np.zeros(1500), returns, reps=500)
    assert none["spa"] > 0.1 and none["rc"] >= none["spa"] - 1e-12
    returns[:, 4] += 0.0015
    found = reality_check(np.zeros(1500), returns, reps=500)
    assert found["spa"] < 0.01 and found["rc"] < 0.01


def test_reality_check_against_a_benchmark_that_is_better_than_every_trial():
    returns = noise(7, days=1000, trials=5)
    benchmark = np.random.default_rng(8).normal(0.002, 0.01, 1000)
    assert reality_check(benchmark, returns, reps=300)["spa"] > 0.5


def test_reality_check_is_reproducible_with_its_seed():
    returns = noise(9, days=500, trials=5)
    assert reality_check(np.zeros(500), returns, reps=200, seed=3) == reality_check(np.zeros(500), returns,
                                                                                    reps=200, seed=3)


def test_model_confidence_set_keeps_the_edge_drops_the_losers_and_groups_duplicates():
    returns = noise(10, days=1500, trials=8)
    returns[:, 2] += 0.002  # the edge
    returns[:, 5] -= 0.002  # a clear loser
    returns = np.column_stack([returns, returns[:, 2], returns[:, 5], np.zeros(1500), np.zeros(1500)])
    included, pvalues = model_confidence_set(returns, size=0.1, reps=500)
    assert included[2] and included[8]  # the edge and its twin
    assert not included[5] and not included[9]
    assert pvalues[2] == pvalues[8] and pvalues[10] == pvalues[11] and pvalues[2] == 1.0
    assert included.sum() < 6


def test_model_confidence_set_of_identical_trials_holds_them_all():
    returns = np.tile(noise(11, days=200, trials=1), (1, 4))
    included, pvalues = model_confidence_set(returns)
    assert included.all() and (pvalues == 1).all()


def test_verdict_ranks_nothing_as_best_without_the_statistics():
    nothing = verdict(24, 24, "t007", 0.61, 0.42, 0.31, 0.64, 0.58, 20)
    assert nothing.startswith("best of 24 trials (t007): Sharpe 0.61, DSR 0.42, SPA p = 0.31 vs the zero forecast")
    assert "PBO 0.58" in nothing and nothing.endswith("the sweep found nothing that survives selection.")
    # a high DSR alone is not enough: SPA must reject too, and PBO stay below 0.5
    assert verdict(24, 24, "t1", 2.0, 0.99, 0.20, 0.5, 0.1, 3).endswith("nothing that survives selection.")
    assert verdict(24, 24, "t1", 2.0, 0.99, 0.001, 0.5, 0.7, 3).endswith("nothing that survives selection.")
    survives = verdict(24, 40, "t1", 2.0, 0.99, 0.0004, 0.2, 0.05, 3)
    assert "DSR 0.99 over 40 trials" in survives and "SPA p < 0.001" in survives
    assert survives.endswith("survives selection, but it does not beat buy-and-hold.")
    assert verdict(24, 24, "t1", 2.0, 0.99, 0.0004, 0.01, None, 3).endswith("and beats buy-and-hold.")
