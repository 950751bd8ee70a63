"""The paper trail: a journal that cannot be back-dated or edited silently, credited through the backtest's engine
with what its weights earned from the next open, and reconciled with the backtest."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal as signals
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_universe import planted_panel

import lstmtrade
from lstmtrade.backtesting.costs import run_costs
from lstmtrade.backtesting.portfolio import backtest_portfolio
from lstmtrade.backtesting.rules import TopK
from lstmtrade.cli.main import cli
from lstmtrade.config import Config
from lstmtrade.data.panel import load_universe
from lstmtrade.features import warmup
from lstmtrade.forecast.walkforward import walk_forward_predict
from lstmtrade.live import journal
from lstmtrade.live.journal import JournalError
from lstmtrade.live.paper import paper

SMALL = dict(features=("logret", "gap"), min_train=150, retrain_every=60, lookback=5, hidden=8, epochs=2,
             batch_size=256, early_stopping=False, baselines=False, engine="loop", threads=1, jobs=1)
NOW = dt.datetime(2030, 1, 2, 21, 30, tzinfo=dt.timezone.utc)
DAYS = 6


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A model trained at T (fold 0's first test day) and a journal of DAYS signals on data cut day by day."""
    config = Config(**SMALL)
    panel = planted_panel()
    full = load_universe(panel)
    t = warmup(config.features) + config.min_train
    days = full.calendar[t:t + DAYS + 2]
    model = lstmtrade.train(prices=load_universe(panel, end=str(days[0].date())), config=config)
    folder = tmp_path_factory.mktemp("paper")
    for day in days[:DAYS]:
        lstmtrade.signal(model, load_universe(panel, end=str(day.date())), strategy="TopK",
                         params={"k": 3, "min_trade": 0.0}, journal=folder / "j", now=NOW)
    panel.to_csv(folder / "panel.csv", index=False)
    return {"config": config, "panel": panel, "full": full, "days": days, "model": model, "folder": folder,
            "journal": folder / "j", "t": t, "csv": str(folder / "panel.csv")}


def test_paper_returns_are_weights_times_next_open_returns(world):
    result = paper(world["journal"], load_universe(world["panel"]), commission=0.0, slippage=0.0, cash=1e10,
                   write=False)
    panel = world["panel"].set_index(["Ticker", "Date"])["Open"]
    dates = world["full"].calendar
    done = result.credited
    assert len(done) == DAYS
    for entry, row in zip(result.entries, done.itertuples()):
        day = pd.Timestamp(entry["date"])
        after = dates[dates.get_loc(day) + 1], dates[dates.get_loc(day) + 2]
        expected = sum(t["weight"] * (panel[(t["ticker"], after[1])] / panel[(t["ticker"], after[0])] - 1)
                       for t in entry["tickers"] if t["weight"])
        assert row.from_open == after[0] and row.to_open == after[1]
        assert row.turnover > 0 and row.costs == pytest.approx(0.0, abs=1e-12)
        assert row._2 == pytest.approx(expected, abs=1e-8)  # whole shares of 1e10: weights exact to 1e-9


def test_an_entry_is_never_credited_before_the_next_open(world):
    panel, days = world["panel"], world["days"]
    first = world["journal"]
    clean = paper(first, load_universe(panel), write=False).credited["return"].iloc[0]
    before = panel.copy()  # every bar up to the first entry's close altered: its return cannot change
    up_to = before["Date"] <= days[0]
    before.loc[up_to, ["Open", "High", "Low", "Close"]] *= 1.02  # (small enough to pass screening)
    before.loc[up_to, "Volume"] *= 3
    assert paper(first, load_universe(before), write=False).credited["return"].iloc[0] == clean
    later = panel.copy()  # the open it is credited to does change it: the check can fail
    at = later["Date"] == days[2]
    later.loc[at, ["Open", "High", "Low", "Close"]] *= 1.01
    assert paper(first, load_universe(later), write=False).credited["return"].iloc[0] != clean
    short = paper(first, load_universe(panel, end=str(days[1].date())), write=False)
    assert (short.table["status"] == "pending").all() and short.credited.empty


@pytest.mark.parametrize("edit", ["value", "nested", "prev", "sha", "remove", "swap", "half"])
def test_editing_the_past_is_caught_naming_the_first_bad_entry(world, tmp_path, edit):
    lines = (world["journal"] / "journal.jsonl").read_text().splitlines()
    target = 2  # the third entry (or the link into it)
    entry = json.loads(lines[target])
    if edit == "value":
        entry["equity"] += 1.0
    elif edit == "nested":
        entry["tickers"][0]["weight"] = 0.5
    elif edit == "prev":
        entry["prev_sha256"] = "1" * 64
    elif edit == "sha":
        entry["sha256"] = "2" * 64
    lines[target] = json.dumps(entry, separators=(",", ":"))
    if edit == "remove":
        del lines[1]
    elif edit == "swap":
        lines[1], lines[2] = lines[2], lines[1]
    folder = tmp_path / "j"
    folder.mkdir()
    text = "\n".join(lines if edit != "half" else lines[:3]) + "\n"
    if edit == "half":
        text += lines[3][: len(lines[3]) // 2]  # a half line, no end of line
    (folder / "journal.jsonl").write_text(text)
    with pytest.raises(JournalError) as info:
        journal.verify(folder)
    message = str(info.value)
    assert "\n" not in message
    assert {"value": "entry 3", "nested": "entry 3", "prev": "entry 3", "sha": "entry 3", "remove": "entry 2",
            "swap": "entry 2", "half": "line 4 is incomplete"}[edit] in message
    result = CliRunner().invoke(cli, ["paper", str(folder), "--data", "sample:MSFT"])
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_every_field_of_every_entry_is_covered_by_the_chain(world):
    lines = (world["journal"] / "journal.jsonl").read_text().splitlines()
    for k, line in enumerate(lines):
        entry = json.loads(line)
        for key in entry:
            changed = dict(entry)
            changed[key] = {"edited": True}
            copy = list(lines)
            copy[k] = json.dumps(changed, separators=(",", ":"))
            with pytest.raises(JournalError, match=f"entry {k + 1} "):
                _verify_lines(copy)


def _verify_lines(lines):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "journal.jsonl").write_text("\n".join(lines) + "\n")
        return journal.verify(folder)


def test_same_or_earlier_dates_are_refused(world, tmp_path):
    folder = tmp_path / "j"
    journal.append(folder, {"date": "2020-01-02", "x": 1})
    journal.append(folder, {"date": "2020-01-03", "x": 2})
    for day, message in (("2020-01-03", "already has an entry for 2020-01-03"),
                         ("2020-01-01", "has a later entry than 2020-01-01")):
        with pytest.raises(JournalError, match=message):
            journal.append(folder, {"date": day, "x": 3})
    assert len(journal.verify(folder)) == 2
    again = world["days"][DAYS - 1]  # through signal: the data's last date already journaled
    with pytest.raises(JournalError, match="already has an entry"):
        lstmtrade.signal(world["model"], load_universe(world["panel"], end=str(again.date())),
                         journal=world["journal"])


def test_a_process_killed_during_an_append_leaves_a_valid_journal(tmp_path):
    folder = tmp_path / "j"
    journal.append(folder, {"date": "2020-01-02", "x": 1})
    before = (folder / "journal.jsonl").read_bytes()
    ready = tmp_path / "ready"
    child = textwrap.dedent(f"""
        import time
        from lstmtrade.live import journal

        def slow(tmp, data):  # half the bytes on disk, then hang: the kill lands mid-append
            with open(tmp, "wb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
            open({str(ready)!r}, "w").close()
            time.sleep(120)

        journal.fill_file = slow
        journal.append({str(folder)!r}, {{"date": "2020-01-03", "x": 2}})
    """)
    process = subprocess.Popen([sys.executable, "-c", child])
    try:
        deadline = time.time() + 60
        while not ready.exists() and time.time() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert ready.exists(), "the child never reached the write"
        os.kill(process.pid, signals.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert (folder / "journal.jsonl").read_bytes() == before  # the old journal, whole
    assert [e["date"] for e in journal.verify(folder)] == ["2020-01-02"]
    assert list(folder.glob(".journal.jsonl.*.tmp"))  # the half-written file is beside it, not in it
    journal.append(folder, {"date": "2020-01-03", "x": 2})  # and it goes on
    assert [e["date"] for e in journal.verify(folder)] == ["2020-01-02", "2020-01-03"]
    assert not list(folder.glob(".journal.jsonl.*.tmp"))  # the dead writer's file is cleared under the lock


def test_journal_reconciled_with_the_backtest_gives_its_returns(world):
    """The backtest's fold 0 over the journal's days, same model (no retrain), same rule and costs."""
    config, days = world["config"], world["days"]
    data = load_universe(world["panel"], end=str(days[DAYS].date()))
    preds = walk_forward_predict(data, config).wide()
    assert preds.index[0] == days[0]
    run = backtest_portfolio(data.prices, preds, TopK, k=3, min_trade=0.0, **run_costs(config))
    result = paper(world["journal"], data, write=False)
    decided = run.decisions.loc[days[:DAYS]]
    for entry in result.entries:
        weights = pd.Series({t["ticker"]: t["weight"] for t in entry["tickers"]})
        row = decided.loc[pd.Timestamp(entry["date"])]
        assert (weights.reindex(row.index) == row).all()  # the journal's decisions are the backtest's
    common = result.engine.equity.index
    assert (result.engine.equity == run.equity.reindex(common)).all()  # the same money, to the cent and beyond
    assert (result.engine.returns.iloc[1:] == run.returns.reindex(common).iloc[1:]).all()
    done = result.credited
    opens = run.open_equity
    expected = [opens[b] / opens[a] - 1 for a, b in zip(done["from_open"], done["to_open"])]
    assert done["return"].tolist() == expected


def test_band_alarms_and_json(world, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    dates = pd.bdate_range("2019-01-01", periods=300)
    pd.DataFrame({"date": dates, "strategy": 0.01, "benchmark": 0.0}).to_csv(run / "returns.csv", index=False)
    (run / "metrics.json").write_text(json.dumps({"forecast": {"rank_ic": 0.05, "rank_ic_tstat": 2.5}}))
    skipping = tmp_path / "skip"
    for day in [d for k, d in enumerate(world["days"][:4]) if k != 1]:  # one data date left out
        lstmtrade.signal(world["model"], load_universe(world["panel"], end=str(day.date())), journal=skipping)
    result = CliRunner().invoke(cli, ["paper", str(skipping), "--data", "sample:SP500"])
    assert result.exit_code == 2 and "none of the journal's tickers" in result.stderr
    result = CliRunner().invoke(cli, ["paper", str(skipping), "--json", "--backtest", str(run), "--reps", "50",
                                      "--data", world["csv"]])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    kinds = {a["kind"] for a in payload["alarms"]}
    assert {"outside_band", "missing_days"} <= kinds  # +1 % a day every day: the record is below that band
    assert payload["band"]["p05"] == pytest.approx(1.01 ** payload["band"]["days"] - 1)
    assert payload["skill"]["backtest"]["mean"] == 0.05 and payload["credited"] == 3
    assert (skipping / "paper.csv").exists() and (skipping / "paper.html").exists()
    frame = pd.read_csv(skipping / "paper.csv")
    assert list(frame.columns)[:6] == ["date", "return", "benchmark", "turnover", "costs", "rank_ic"]


def test_model_age_and_inputs_alarms():
    from types import SimpleNamespace

    from lstmtrade.live.reconcile import alarms

    calendar = pd.bdate_range("2020-01-01", periods=40)
    entries = [{"date": str(d.date()), "inputs": {"outside": 30, "values": 100}} for d in calendar[30:35]]
    result = SimpleNamespace(entries=entries, band=None, credited=pd.DataFrame())
    loaded = SimpleNamespace(train_end=calendar[10], config=Config(retrain_every=20),
                             metadata={"inputs": {"usual_outside": 0.05}})
    found = {a["kind"]: a["message"] for a in alarms(result, loaded, SimpleNamespace(calendar=calendar))}
    assert set(found) == {"model_age", "inputs_unlike_training"}
    assert "24 bars past its training end" in found["model_age"]
    assert "30.0%" in found["inputs_unlike_training"] and "5.0%" in found["inputs_unlike_training"]
    calm = SimpleNamespace(train_end=calendar[30], config=Config(retrain_every=20),
                           metadata={"inputs": {"usual_outside": 0.2}})
    assert alarms(result, calm, SimpleNamespace(calendar=calendar)) == []


def test_empty_and_pending_only_journals_say_so(world, tmp_path):
    (tmp_path / "none").mkdir()
    empty = CliRunner().invoke(cli, ["paper", str(tmp_path / "none")])
    assert empty.exit_code == 0 and "the journal is empty" in empty.stdout
    missing = CliRunner().invoke(cli, ["paper", str(tmp_path / "typo")])
    assert missing.exit_code == 2 and "no such folder" in missing.output and not (tmp_path / "typo").exists()
    pending = tmp_path / "pending"
    last = world["full"].calendar[-1]
    lstmtrade.signal(world["model"], world["full"], journal=pending)
    result = CliRunner().invoke(cli, ["paper", str(pending), "--runs", str(tmp_path), "--data", world["csv"]])
    assert result.exit_code == 0, result.output
    assert "0 credited, 1 pending" in result.stdout and "nothing credited yet" in result.stdout
    assert pd.read_csv(pending / "paper.csv")["status"].tolist() == ["pending"]
    assert str(last.date()) in result.stdout


def test_one_ticker_journal_and_paper(tmp_path):
    config = Config(min_train=300, retrain_every=100, epochs=1, lookback=10, hidden=8, batch_size=64,
                    early_stopping=False, baselines=False, engine="loop", threads=1)
    msft = lstmtrade.load_prices("sample:MSFT", end="2004-12-31")
    model = lstmtrade.train(prices=msft.slice(end="2004-12-15"), config=config)
    folder = tmp_path / "one"
    for day in msft.frame.index[msft.frame.index >= "2004-12-15"][:5]:
        lstmtrade.signal(model, msft.slice(end=str(day.date())), params={"min_trade": 0.0}, journal=folder)
    result = paper(folder, msft, commission=0.0, cash=1e10, write=False)
    assert result.skill_name == "hit" and len(result.credited) == 5
    opens = msft.frame["open"]
    for entry, row in zip(result.entries, result.credited.itertuples()):
        weight = entry["tickers"][0]["weight"]
        assert row._2 == pytest.approx(weight * (opens[row.to_open] / opens[row.from_open] - 1), abs=1e-8)
        assert np.isnan(row.hit) or row.hit in (0.0, 1.0)


def test_the_journal_hands_its_holdings_to_the_next_signal(world):
    """Without --holdings, each signal starts from the last entry's holdings (after its orders) and weights."""
    entries = journal.verify(world["journal"])
    full = world["full"]
    for before, after in zip(entries, entries[1:]):
        day = pd.Timestamp(after["date"])
        held = before["holdings_after"]
        value = sum(n * full.prices[t].frame["close"][day] for t, n in held["shares"].items())
        assert after["equity"] == pytest.approx(value + held["cash"], rel=1e-12)
        for order in after["orders"]:  # a name held and kept is resized, not bought again from nothing
            if order["ticker"] in held["shares"] and order["side"] == "buy":
                assert order["shares"] < held["shares"][order["ticker"]]
    assert entries[0]["equity"] == 100_000.0 and entries[0]["prev_sha256"] == journal.GENESIS


@pytest.mark.parametrize("option, value", [("--reps", "0"), ("--reps", "-1"), ("--block-size", "0"),
                                           ("--block-size", "-2")])
def test_reps_and_block_size_must_be_at_least_one(world, option, value):
    result = CliRunner().invoke(cli, ["paper", str(world["journal"]), "--data", world["csv"], option, value])
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.stderr
    assert "Traceback" not in result.output and "unexpected" not in result.stderr
    name = option[2:].replace("-", "_")
    with pytest.raises(lstmtrade.errors.ConfigError, match=f"{option} must be a whole number >= 1"):
        paper(world["journal"], load_universe(world["panel"]), write=False, **{name: int(value)})


def test_a_model_file_given_that_cannot_be_read_is_an_error(world, tmp_path):
    missing = tmp_path / "moved.pt"
    result = CliRunner().invoke(cli, ["paper", str(world["journal"]), "--data", world["csv"], "--model", str(missing)])
    assert result.exit_code == 2 and "model file not found" in result.stderr and result.stderr.count("\n") == 1
    bad = tmp_path / "bad.pt"
    bad.write_text("not a model")
    with pytest.raises(lstmtrade.errors.ModelFileError, match="bad.pt"):
        paper(world["journal"], load_universe(world["panel"]), model=bad, write=False)


def _journal_of(folder, prices, days, written=None, **fields):
    """A one-ticker journal of made-up entries (weight 1 on each day), fast: no model needed."""
    for k, day in enumerate(days):
        entry = {"date": str(day.date()), "kind": "ticker", "model": {"path": None, "sha256": "a" * 64},
                 "data": {"source": prices.source, "sha256": prices.slice(end=str(day.date())).sha256},
                 "strategy": "LongFlat", "params": {}, "min_trade": 0.0,
                 "tickers": [{"ticker": prices.name, "prediction": 0.001, "weight": 1.0}],
                 "written_at": written(day) if written else f"{day.date()}T21:30:00+00:00"}
        entry.update({key: value[k] for key, value in fields.items()})
        journal.append(folder, entry)
    return folder


@pytest.fixture(scope="module")
def msft_2004():
    return lstmtrade.load_prices("sample:MSFT", end="2004-12-31")


def test_back_filled_entries_are_flagged_not_refused(msft_2004, tmp_path):
    days = msft_2004.frame.index[-6:-2]
    forward = paper(_journal_of(tmp_path / "f", msft_2004, days), msft_2004, write=False)
    assert forward.table["forward"].tolist() == [True] * 4
    assert "back_filled" not in {a["kind"] for a in forward.alarms}
    late = _journal_of(tmp_path / "late", msft_2004, days, written=lambda d: "2030-01-02T09:00:00+00:00")
    result = CliRunner().invoke(cli, ["paper", str(late), "--data", "sample:MSFT", "--json", "--runs",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    alarm = [a["message"] for a in payload["alarms"] if a["kind"] == "back_filled"]
    assert len(alarm) == 1 and alarm[0].startswith("4 entries written after their first fill")
    assert [d["forward"] for d in payload["days"]] == [False] * 4
    assert pd.read_csv(late / "paper.csv")["forward"].tolist() == [False] * 4
    assert "back_filled" in (late / "paper.html").read_text()
    # written on the day of the first fill (before its open) is still forward; the day after is not
    fill = msft_2004.frame.index[-5]
    edge = _journal_of(tmp_path / "edge", msft_2004, days[:1], written=lambda d: f"{fill.date()}T13:00:00+00:00")
    assert paper(edge, msft_2004, write=False).table["forward"].tolist() == [True]


def test_one_ticker_data_of_another_ticker_is_refused(msft_2004, tmp_path):
    folder = _journal_of(tmp_path / "j", msft_2004, msft_2004.frame.index[-6:-2])
    result = CliRunner().invoke(cli, ["paper", str(folder), "--data", "sample:AAPL", "--runs", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "entries are for MSFT" in result.stderr and "AAPL" in result.stderr
    renamed = tmp_path / "msft_continued.csv"  # the same bars under a file's own name are the journal's data
    msft_2004.frame.rename_axis("Date").to_csv(renamed, float_format="%.17g")
    assert len(paper(folder, lstmtrade.load_prices(str(renamed)), write=False).credited) == 4


def test_each_entry_is_credited_with_its_own_min_trade_and_changes_are_alarmed(msft_2004, tmp_path):
    days = msft_2004.frame.index[-8:-2]
    weights = [1.0, 0.9, 1.0, 0.95, 1.0, 0.97]
    tickers = [[{"ticker": "MSFT", "prediction": 0.001, "weight": w}] for w in weights]
    small = _journal_of(tmp_path / "small", msft_2004, days, tickers=tickers, min_trade=[0.0] * 6)
    mixed = _journal_of(tmp_path / "mixed", msft_2004, days, tickers=tickers, min_trade=[0.0] * 3 + [0.5] * 3,
                        strategy=["LongFlat"] * 3 + ["LongShort"] * 3)
    a, b = paper(small, msft_2004, write=False), paper(mixed, msft_2004, write=False)
    assert (a.table["return"].iloc[:3] == b.table["return"].iloc[:3]).all()  # the first three are unchanged
    assert not np.allclose(a.table["turnover"].iloc[3:], b.table["turnover"].iloc[3:])
    changed = [x["message"] for x in b.alarms if x["kind"] == "settings_changed"]
    assert len(changed) == 1 and changed[0].startswith(f"entry 4 ({days[3].date()}) was made with another rule")
    assert "settings_changed" not in {x["kind"] for x in a.alarms}


def test_a_given_backtest_run_with_other_settings_is_noted(world, tmp_path):
    """Found by hand: `paper --backtest RUN` took the band of any run (a one-ticker run for a universe journal)
    without a word. The run's settings are now compared with the model's, as the automatic search does."""
    from types import SimpleNamespace

    from lstmtrade.config import to_toml
    from lstmtrade.live.reconcile import given_backtest_note

    loaded = SimpleNamespace(config=world["config"])
    same, other = tmp_path / "same", tmp_path / "other"
    for folder, config in ((same, world["config"].replace(start="2001-01-01", jobs=3)),
                           (other, world["config"].replace(lookback=world["config"].lookback + 1, data="x.csv"))):
        folder.mkdir()
        (folder / "config.toml").write_text(to_toml(config))
    assert given_backtest_note(loaded, same) is None  # differs only in settings a run may change (RUN_ONLY)
    note = given_backtest_note(loaded, other)
    assert note is not None and "(data, lookback)" in note and "not this model's" in note
    assert given_backtest_note(None, other) is None and given_backtest_note(loaded, tmp_path) is None
