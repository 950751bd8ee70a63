"""The verdict answers the claim: did the model beat the best traditional forecaster, on the same days, by how
much and how surely. Wording from the figures, and the figures from the predictions by hand."""
import numpy as np
import pytest

import lstmtrade
from lstmtrade.evaluate.verdict import universe_verdict, verdict, versus_clause
from lstmtrade.evaluate.xsection import newey_west_tstat

RANK = dict(name="reversal", by="rank_ic", model=0.02, baseline=0.012, se=0.002, n_days=500)


@pytest.mark.parametrize("diff, t, p, words", [
    (0.008, 4.0, 0.0001, "LSTM beat the best baseline by Rank IC (reversal): 0.008 higher, t = 4.0"),
    (0.008, 1.2, 0.23, "LSTM did not significantly beat the best baseline by Rank IC (reversal): 0.008 higher, "
                       "t = 1.2"),
    (-0.004, -1.9, 0.06, "LSTM did not beat the best baseline by Rank IC (reversal): 0.004 lower, t = -1.9"),
    (-0.004, -4.0, 0.0001, "LSTM did not beat the best baseline by Rank IC (reversal): 0.004 lower, t = -4.0"),
])
def test_versus_clause_by_rank_ic(diff, t, p, words):
    assert versus_clause({**RANK, "diff": diff, "tstat": t, "pvalue": p}) == words


def test_versus_clause_by_mse_names_the_change_and_the_forecaster():
    v = dict(name="linear", by="mse", model=0.9e-4, baseline=1.0e-4, diff=-0.1e-4, tstat=-2.5, pvalue=0.01)
    assert versus_clause(v, "linear") == "linear beat the best baseline by MSE (linear): MSE 10.0% lower, t = -2.5"
    worse = {**v, "diff": 0.05e-4, "tstat": 0.7, "pvalue": 0.5}
    assert versus_clause(worse) == "LSTM did not beat the best baseline by MSE (linear): MSE 5.0% higher, t = 0.7"
    assert versus_clause(None) is None
    assert versus_clause({**v, "diff": None}) == "LSTM vs the best baseline by MSE (linear): comparison n/a"


def test_verdicts_carry_the_clause_between_skill_and_trading():
    from lstmtrade.evaluate.verdict import Trading

    trading = Trading(sharpe=0.5, benchmark_sharpe=0.6, psr=0.8, dsr=0.8, above_benchmark_p=0.7)
    clause = {**RANK, "diff": -0.004, "tstat": -1.9, "pvalue": 0.06}
    report = {"rank_ic": 0.01, "rank_ic_tstat": 1.0, "rank_ic_pvalue": 0.3, "vs_best_baseline": clause}
    text = universe_verdict(report, trading)
    assert "; LSTM did not beat the best baseline by Rank IC (reversal): 0.004 lower, t = -1.9; portfolio" in text
    one = verdict(0.5, 1.01, trading, versus={**clause, "by": "mse", "name": "zero", "model": 1.01e-4,
                                              "baseline": 1e-4, "diff": 0.01e-4})
    assert ") ; " not in one and "; LSTM did not beat the best baseline by MSE (zero): MSE 1.0% higher" in one


def test_one_ticker_compares_squared_errors_with_the_lowest_mse_baseline_on_common_days():
    run = lstmtrade.run(data="sample:MSFT", end="2004-12-31", model="linear", min_train=300, retrain_every=150,
                        baselines=("zero", "persistence"), write=False)
    v = run.metrics["forecast"]["vs_best_baseline"]
    mses = {name: run.metrics["baselines"][name]["forecast"]["mse"] for name in ("zero", "persistence")}
    assert v["by"] == "mse" and v["name"] == min(mses, key=mses.get)
    base = run.baselines[v["name"]][0].frame
    model = run.predictions.frame
    common = model.index.intersection(base.index)
    y = model.loc[common, "target"]
    daily = (model.loc[common, "prediction"] - y) ** 2 - (base.loc[common, "prediction"] - y) ** 2
    daily = daily[np.isfinite(daily)]
    assert v["n_days"] == len(daily) > 100
    assert v["diff"] == pytest.approx(daily.mean(), rel=1e-12)
    assert v["tstat"] == pytest.approx(newey_west_tstat(daily)[2], rel=1e-9)
    assert "the best baseline by MSE (" in run.metrics["verdict"]
