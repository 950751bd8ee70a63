"""A universe's pooled model out of the backtest: `train` + `signal` on data cut at a fold's first test day give the
backtest's forecasts bit for bit and the names its portfolio rules hold; a live day's gaps, holdings and refusals."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from test_universe import planted_panel

import lstmtrade
from lstmtrade.backtesting.costs import run_costs
from lstmtrade.backtesting.portfolio import backtest_portfolio
from lstmtrade.backtesting.rules import LongShortQuantile, RankWeighted, TopK, TopKDropout
from lstmtrade.config import Config
from lstmtrade.data.panel import load_universe
from lstmtrade.errors import DataError, ModelFileError
from lstmtrade.features import warmup
from lstmtrade.forecast.artifact import UNIVERSE_FORMAT_VERSION, load_model
from lstmtrade.forecast.walkforward import walk_forward_predict

# engine "loop" and one thread: train_final's fold and the backtest's are then trained by the same loop, bit for bit
SMALL = dict(features=("logret", "gap"), min_train=150, retrain_every=60, lookback=5, hidden=8, epochs=2,
             batch_size=256, early_stopping=False, baselines=False, engine="loop", threads=1, jobs=1)


@pytest.fixture(scope="module")
def case():
    """A backtest on the whole panel, and a model trained on the panel cut at T, fold 1's first test day."""
    config = Config(**SMALL, seeds=2)
    panel = planted_panel()
    full = load_universe(panel)
    t = warmup(config.features) + config.min_train + config.retrain_every
    day = full.calendar[t]
    cut = load_universe(panel, end=str(day.date()))
    backtest = walk_forward_predict(full, config)
    trained = lstmtrade.train(prices=cut, config=config)
    return {"config": config, "panel": panel, "full": full, "cut": cut, "day": day, "backtest": backtest,
            "trained": trained}


def _at(frame: pd.DataFrame, day) -> pd.DataFrame:
    return frame.loc[[day]].set_index("ticker")


def test_train_and_signal_give_the_backtests_forecasts_bit_for_bit(case, tmp_path):
    expected = _at(case["backtest"].frame, case["day"])
    assert (expected["fold"] == 2).all()  # T is the first test day of fold 2 (index 1)
    path = tmp_path / "u.pt"
    case["trained"].save(path)
    loaded = load_model(path)
    assert loaded.is_universe and loaded.metadata["format_version"] == UNIVERSE_FORMAT_VERSION
    assert loaded.tickers == sorted(expected.index) and len(loaded.seeds) == 2
    result = lstmtrade.signal(path, case["cut"])
    got = result.tickers.set_index("ticker")
    assert result.date == case["day"] and set(got.index) == set(expected.index)
    assert (got["prediction"] == expected["prediction"].reindex(got.index)).all()  # to the last bit
    assert (got["uncertainty"] == expected["uncertainty"].reindex(got.index)).all()
    assert list(got["rank"]) == list(range(1, len(got) + 1))  # ranked, best first
    assert result.excluded.empty and result.orders["side"].eq("buy").all()


def _backtest_decision(case, rule, **params):
    wide = case["backtest"].wide()
    unc = case["backtest"].wide("uncertainty")
    result = backtest_portfolio(case["full"].prices, wide, rule, uncertainty=unc, **run_costs(case["config"]), **params)
    return result


@pytest.mark.parametrize("rule, params", [(TopK, {"k": 3}), (LongShortQuantile, {"quantile": 0.2}),
                                          (RankWeighted, {})], ids=["TopK", "LongShortQuantile", "RankWeighted"])
def test_signal_holds_the_names_the_backtest_holds(case, rule, params):
    decision = _backtest_decision(case, rule, **params).decisions.loc[case["day"]]
    result = lstmtrade.signal(case["trained"], case["cut"], strategy=rule.__name__, params=params)
    weights = result.tickers.set_index("ticker")["weight"]
    expected = decision[decision != 0]
    assert set(weights[weights != 0].index) == set(expected.index)
    assert (weights.reindex(expected.index) == expected).all()  # the same numbers, through the same code


def test_topk_dropout_keeps_the_names_the_backtest_held(case):
    params = {"k": 4, "n_drop": 1}
    run = _backtest_decision(case, TopKDropout, **params)
    day = case["day"]
    decision = run.decisions.loc[day]
    close = pd.Series({t: p.frame["close"].loc[day] for t, p in case["full"].prices.items()})
    held = run.positions.loc[day]
    held = held[held != 0]
    shares = (held * run.equity.loc[day] / close[held.index]).round()  # what the backtest holds at T's close
    holdings = {**shares.to_dict(), "cash": float(run.equity.loc[day] - (shares * close[shares.index]).sum())}
    with_holdings = lstmtrade.signal(case["trained"], case["cut"], strategy="TopKDropout", params=params,
                                     holdings=holdings)
    weights = with_holdings.tickers.set_index("ticker")["weight"]
    assert set(weights[weights != 0].index) == set(decision[decision != 0].index)
    fresh = lstmtrade.signal(case["trained"], case["cut"], strategy="TopKDropout", params=params)
    fresh_weights = fresh.tickers.set_index("ticker")["weight"]
    assert set(fresh_weights[fresh_weights != 0].index) != set(weights[weights != 0].index)  # holdings mattered
    sold = {o.ticker for o in with_holdings.orders.itertuples() if o.side == "sell"}
    assert sold <= set(held.index) and len(sold) <= params["n_drop"]
    sides = list(with_holdings.orders["side"])
    assert sides == sorted(sides, key=lambda s: s != "sell")  # sells before buys


def test_held_out_raw_panel_forecasts_are_the_backtests():
    """sample:SP500 (raw, vendor faults: bad prints, missing sessions, a level shift) screened per ticker."""
    config = Config(min_train=250, retrain_every=100, lookback=5, hidden=8, epochs=1, batch_size=512,
                    early_stopping=False, baselines=False, engine="loop", threads=1, jobs=1)
    tickers = ["AAL", "ABC", "ABT", "ALLE", "DHR", "DISCK", "ES", "O"]
    t = warmup(config.features) + config.min_train + 3 * config.retrain_every
    calendar = load_universe("sample:SP500", tickers=tickers).calendar
    day = calendar[t]
    backtest = walk_forward_predict(load_universe("sample:SP500", tickers=tickers, end=str(calendar[t + 20].date())),
                                    config).frame
    cut = load_universe("sample:SP500", tickers=tickers, end=str(day.date()))
    assert {"repaired", "excluded"} <= set(cut.report["status"])  # the faults are there
    result = lstmtrade.signal(lstmtrade.train(prices=cut, config=config), cut)
    expected = _at(backtest, day)["prediction"]
    got = result.tickers.set_index("ticker")["prediction"]
    assert set(got.index) == set(expected.index) and (got == expected.reindex(got.index)).all()
    reasons = result.excluded.set_index("ticker")["reason"]
    assert "DISCK" in reasons and "level shift" in reasons["DISCK"]


def test_a_live_day_with_gaps_unknown_tickers_and_holdings(case):
    """No bar today, excluded by screening, unknown to the model, held but not in the data."""
    panel = case["panel"]
    day = case["day"]
    later = panel[panel["Date"] <= day + pd.Timedelta(days=3)].copy()
    last = later["Date"].max()
    later = later[~((later["Ticker"] == "T03") & (later["Date"] == last))]  # T03: no bar on the last date
    new = later[later["Ticker"] == "T04"].assign(Ticker="NEW")  # a ticker the model never saw
    shifted = later[later["Ticker"] == "T05"].copy()
    tail = shifted["Date"] >= shifted["Date"].iloc[-3]
    shifted.loc[tail, ["Open", "High", "Low", "Close"]] *= 0.4  # an unadjusted split: 3 bars at a new level
    later = pd.concat([later[later["Ticker"] != "T05"], shifted, new])
    universe = load_universe(later)
    holdings = {"T03": 40, "T05": 30, "NEW": 10, "GONE": 7, "cash": 5_000}
    result = lstmtrade.signal(case["trained"], universe, holdings=holdings)
    reasons = result.excluded.set_index("ticker")["reason"]
    assert set(reasons.index) == {"T03", "T05", "NEW", "GONE"}
    assert reasons["T03"].startswith(f"no bar on {last.date()}") and "left alone" in reasons["T03"]
    assert "level shift" in reasons["T05"] and "left alone" in reasons["T05"]
    assert reasons["NEW"].startswith("unknown to the model") and "left alone" in reasons["NEW"]
    assert "not in the data: close it by hand" in reasons["GONE"]
    assert not set(result.orders["ticker"]) & {"T03", "T05", "NEW", "GONE"}  # no order in any of them
    assert not set(result.tickers["ticker"]) & {"T03", "T05", "NEW"}


def test_refusals_are_one_line(case, tmp_path):
    model = case["trained"]
    early = load_universe(case["panel"], end=str((case["day"] - pd.Timedelta(days=5)).date()))
    with pytest.raises(DataError, match="before the model's training data ends"):
        lstmtrade.signal(model, early)
    with pytest.raises(DataError, match="holds one ticker, but the model was trained on a universe"):
        lstmtrade.signal(model, "sample:MSFT")
    path = tmp_path / "u.pt"
    model.save(path)
    import datetime as dt

    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)
    with pytest.raises(ModelFileError, match="older than --max-age 1"):
        lstmtrade.signal(path, case["cut"], max_age=1, now=future)
    raw = torch.load(path, weights_only=True, map_location="cpu")
    raw["format_version"] = "4"
    torch.save(raw, tmp_path / "v4.pt")
    with pytest.raises(ModelFileError, match="incompatible model format version 4"):
        lstmtrade.signal(tmp_path / "v4.pt", case["cut"])
    raw["format_version"] = "3"
    raw["metadata"] = raw["metadata"].replace('"scalers": {"T00"', '"scalers": {"T99"')
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        lstmtrade.signal(tmp_path / "bad.pt", case["cut"])
    for bad in ({"T00": 1, "cash": -5}, {"T00": "ten"}, [("T00", 1), ("t00", 2)]):
        holdings = dict(bad) if isinstance(bad, list) else bad
        if isinstance(bad, list):  # a duplicate ticker: a mapping cannot hold one, so through the file
            file = tmp_path / "dup.csv"
            file.write_text("ticker,shares\nT00,1\nt00,2\n")
            holdings = file
        with pytest.raises(DataError, match="negative cash|not a number|appears twice"):
            lstmtrade.signal(model, case["cut"], holdings=holdings)


def test_model_with_features_this_version_lacks_is_refused(case, tmp_path):
    """A model whose feature list does not match what this lstmtrade computes: one line, not a traceback."""
    import hashlib
    import json

    path = tmp_path / "u.pt"
    case["trained"].save(path)
    raw = torch.load(path, weights_only=True, map_location="cpu")
    meta = json.loads(raw["metadata"])
    meta["features"] = ["logret", "gap_v2"]
    raw["metadata"] = json.dumps(meta, sort_keys=True)
    raw["metadata_sha256"] = hashlib.sha256(raw["metadata"].encode()).hexdigest()
    torch.save(raw, tmp_path / "newer.pt")
    with pytest.raises(ModelFileError, match="unknown feature 'gap_v2'"):
        lstmtrade.signal(tmp_path / "newer.pt", case["cut"])


def test_signal_json_shape_and_orders_from_equity(case):
    result = lstmtrade.signal(case["trained"], case["cut"], equity=50_000.0, strategy="TopK", params={"k": 2})
    payload = result.to_dict()
    assert list(payload)[:5] == ["date", "model", "tickers", "orders", "excluded"]
    assert set(payload["tickers"][0]) == {"ticker", "prediction", "uncertainty", "rank", "weight"}
    assert {"ticker", "side", "shares", "price", "value"} <= set(payload["orders"][0])
    assert len(payload["orders"]) == 2 and all(o["side"] == "buy" for o in payload["orders"])
    spent = sum(o["value"] + o["commission"] for o in payload["orders"])
    assert 0.95 * 50_000 < spent <= 50_000  # whole shares, net of commission, within the equity
    for order in payload["orders"]:
        close = case["cut"].prices[order["ticker"]].frame["close"].iloc[-1]
        assert order["price"] == close and order["shares"] == np.floor(25_000 / (close * 1.001))


def test_held_weights_given_reach_the_rule_instead_of_the_holdings(case):
    """A journal's last target weights are what the rule finds it holds, not weights rebuilt from the shares."""
    params = {"k": 2, "n_drop": 0}  # keep whatever is held: the choice is the held names
    ranked = lstmtrade.signal(case["trained"], case["cut"], strategy="TopK", params={"k": 2}).tickers
    best, worst = list(ranked["ticker"][:1]), list(ranked["ticker"][-2:])
    held = pd.Series(0.5, index=worst)
    result = lstmtrade.signal(case["trained"], case["cut"], strategy="TopKDropout", params=params,
                              holdings={best[0]: 10, "cash": 50_000}, held_weights=held)
    weights = result.tickers.set_index("ticker")["weight"]
    assert set(weights[weights != 0].index) == set(worst)
