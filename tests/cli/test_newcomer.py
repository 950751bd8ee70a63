"""What a new user trips over in the terminal (issue 27): one fold numbering, honest cache and progress lines,
samples that all show, short data that says what to try, --ticker on backtest, help texts that name the files."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import lstmtrade
from lstmtrade.cli.console import Console, cache_line
from lstmtrade.cli.main import cli
from lstmtrade.config import load_toml
from lstmtrade.errors import DataError, Interrupted
from lstmtrade.splits import WalkForward

from conftest import TINY

CLI_TINY = ["--min-train", "300", "--retrain-every", "100", "--epochs", "1", "--lookback", "10", "--hidden", "8",
            "--no-baselines"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny single-ticker run, with every event it sent."""
    from lstmtrade.data.prices import load_prices

    out = tmp_path_factory.mktemp("runs")
    events = []
    result = lstmtrade.run(prices=load_prices("sample:MSFT", end="2003-12-31"), out=out, progress=events.append,
                           **TINY)
    return result, events, out


def test_folds_count_from_one_everywhere_a_user_looks(tiny_run):
    result, events, _ = tiny_run
    n = len(result.predictions.folds)
    numbers = list(range(1, n + 1))
    assert sorted(e["fold"] for e in events if e["event"] == "fold") == numbers  # the console's lines (any order)
    assert sorted({e["fold"] for e in events if e["event"] == "epoch"}) == numbers  # the progress bar
    saved = pd.read_csv(result.folder / "predictions.csv")
    assert sorted(saved["fold"].unique()) == numbers
    assert sorted(p.name for p in (result.folder / "folds").glob("fold-*.csv")) == [f"fold-{k:03d}.csv" for k in numbers]
    assert [row["fold"] for row in result.metrics["forecast_per_fold"]] == numbers  # the pages' per-fold tables
    assert [f["fold"] for f in result.predictions.folds] == numbers


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_fills_by_training_rows_not_by_folds():
    screen = Terminal()
    console = Console(stream=screen)
    console({"event": "start", "folds": 2, "n_test": 10, "first_test": pd.Timestamp("2020-01-01"), "model": "lstm",
             "work": [100, 300]})
    console({"event": "fold", "fold": 2, "folds": 2, "fit_start": "a", "fit_end": "b", "test_start": "c",
             "test_end": "d", "seconds": 1.0})
    bar = screen.getvalue().rsplit("\r", 1)[-1]  # the larger fold done first: three quarters of the work
    assert "[" + "#" * 18 + "." * 6 + "] fold 1/2 done" in bar, bar


def test_cache_line_says_what_was_reused_and_what_was_trained():
    assert cache_line({"hits": 20, "folds": 20, "seeds": 5}).startswith(
        "reused 20 of 100 models from the cache (20 folds x 5 seeds), trained 80")
    assert cache_line({"hits": 3, "folds": 5}).startswith("reused 3 of 5 folds from the cache, trained 2")


def test_more_seeds_after_a_one_seed_run_reuse_its_networks_and_say_how_many(tiny_run):
    result, _, out = tiny_run
    events = []
    lstmtrade.run(prices=result.prices, out=out, progress=events.append, **{**TINY, "seeds": 2})
    cache = [e for e in events if e["event"] == "cache"]
    n = len(result.predictions.folds)
    assert len(cache) == 1 and cache[0]["hits"] == n and cache[0]["folds"] == n and cache[0]["seeds"] == 2
    assert f"reused {n} of {2 * n} models" in cache_line(cache[0])


def test_ctrl_c_while_the_pages_are_written_names_the_resume_command(tiny_run, monkeypatch, tmp_path):
    result, _, _ = tiny_run

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("lstmtrade.pipeline.write_run_files", interrupted)
    with pytest.raises(Interrupted, match="--resume") as info:
        lstmtrade.run(prices=result.prices, out=tmp_path, **TINY)
    monkeypatch.undo()
    resumed = lstmtrade.run(resume=info.value.folder, prices=result.prices)
    pd.testing.assert_frame_equal(resumed.predictions.frame, result.predictions.frame, check_exact=True)


def test_every_bundled_sample_shows_and_an_unknown_one_lists_them_all():
    shown = invoke("data", "show", "SP500")
    assert shown.exit_code == 0 and re.search(r"tickers\s+60", shown.output)
    assert invoke("data", "show", "sample:SP500").exit_code == 0
    unknown = invoke("backtest", "--data", "sample:NOPE")
    assert unknown.exit_code == 2 and "SP500" in unknown.output and "MSFT" in unknown.output


def test_data_too_short_for_the_defaults_says_what_to_try():
    from lstmtrade.data.prices import load_prices

    result = invoke("backtest", "--data", "sample:FB")
    assert result.exit_code == 2 and "too little history: 196 bars" in result.output
    hint = re.search(r"try --min-train (\d+) --retrain-every (\d+)", result.output)
    assert hint, result.output
    folds = WalkForward(int(hint[1]), int(hint[2]), lookback=20, val_fraction=0.2).split(
        len(load_prices("sample:FB")), 20)
    assert len(folds) >= 2 and all(len(f.fit) >= 20 for f in folds)  # the suggestion itself runs
    with pytest.raises(DataError) as info:  # nothing to suggest when even a small split cannot train
        WalkForward(756, 126, lookback=20).split(30, 20)
    assert "try" not in str(info.value)


def test_backtest_takes_a_cached_ticker_as_train_and_signal_do(tmp_path, monkeypatch):
    from lstmtrade.data.prices import load_prices

    cache = tmp_path / "cache"
    cache.mkdir()
    frame = load_prices("sample:MSFT", end="2003-12-31").frame
    frame.rename(columns=str.title).rename_axis("Date").to_csv(cache / "ACME.csv")
    (cache / "ACME.json").write_text(json.dumps({"symbol": "ACME", "downloaded": "2026-01-01"}))
    monkeypatch.setenv("LSTMTRADE_CACHE", str(cache))
    out = tmp_path / "runs"
    result = invoke("backtest", "--ticker", "acme", "--out", str(out), "-q", *CLI_TINY)
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert "ACME" in folder.name and (folder / "tearsheet.html").exists()
    both = invoke("backtest", "--ticker", "ACME", "--data", "sample:MSFT")
    assert both.exit_code == 2 and "--ticker" in both.output and "Traceback" not in both.output


def test_help_texts_name_the_files_and_the_two_kinds_of_seeds():
    text = invoke("backtest", "--help").output
    assert "comparison.html" in text and "weights.csv" in text and "--ticker" in text
    assert "where it pays" in text  # --device auto, as the README describes it
    sweep = invoke("sweep", "--help").output
    assert "--trial-seeds" in sweep and "seed ensemble" in sweep


def test_sweep_trial_seeds_in_a_config_file(tmp_path):
    from lstmtrade.sweep.plan import read_sweep_table

    path = tmp_path / "s.toml"
    path.write_text("[sweep]\ntrial_seeds = 3\n")
    assert read_sweep_table(path)["seeds"] == 3


def test_strategies_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = invoke("strategies").output
    assert str(tmp_path / "strategies") in text and "does not exist" in text and "--dir" in text


def test_config_toml_says_what_an_unset_setting_meant_and_loads_back(tiny_run):
    result, _, _ = tiny_run
    text = (result.folder / "config.toml").read_text()
    assert "# train_window: not set, so expanding" in text and "(not set)" not in text
    assert load_toml(result.folder / "config.toml")["epochs"] == TINY["epochs"]


def test_the_trial_ledger_keeps_the_annualised_sharpe_the_screen_shows(tiny_run):
    result, _, out = tiny_run
    entries = [json.loads(line) for line in (Path(out) / "trials.jsonl").read_text().splitlines()]
    mine = [e for e in entries if e["folder"] == str(result.folder)]
    assert mine and mine[0]["sharpe_annualised"] == pytest.approx(result.metrics["strategy"]["sharpe"])
