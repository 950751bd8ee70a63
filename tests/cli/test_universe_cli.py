"""A universe run as a user makes it: a panel CSV through the CLI, the run folder, a re-backtest, --strict."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_universe import planted_universe

from lstmtrade.cli.main import cli
from lstmtrade.forecast.predictions import Predictions

SMALL = ["--min-train", "150", "--retrain-every", "60", "--lookback", "5", "--hidden", "8", "--epochs", "1",
         "--features", "logret,gap", "--no-baselines", "-q"]


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory):
    rows = []
    for ticker, prices in planted_universe(n_tickers=8, n_days=330).items():
        frame = prices.frame.rename(columns=str.capitalize).rename_axis("Date").reset_index()
        frame.insert(0, "Ticker", ticker)
        rows.append(frame)
    panel = pd.concat(rows, ignore_index=True).sample(frac=1.0, random_state=0)  # any order of rows
    panel.loc[panel.index[5], "Close"] = np.nan  # one vendor fault: the row is dropped, the ticker repaired
    path = tmp_path_factory.mktemp("panel") / "panel.csv"
    panel.to_csv(path, index=False)
    return path


def _run(args, tmp_path):
    result = CliRunner().invoke(cli, ["backtest", *args, "--out", str(tmp_path)])
    folders = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return result, folders


def test_panel_csv_runs_as_a_universe_and_writes_its_folder(panel_csv, tmp_path):
    result, folders = _run(["--data", str(panel_csv), *SMALL], tmp_path)
    assert result.exit_code == 0, result.output
    (folder,) = folders
    report = pd.read_csv(folder / "data_report.csv")
    assert list(report.columns) == ["ticker", "status", "issue", "first_date", "last_date", "rows"]
    assert len(report) == 8 and (report["status"] == "repaired").sum() == 1
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["universe"]["repaired"]) == set(report.loc[report["status"] == "repaired", "ticker"])
    for key in ("rank_ic", "ic_ir", "ic_tstat", "rank_ic_tstat", "up_share"):
        assert key in metrics["forecast"]
    assert metrics["backtest"]["strategy"] == "TopK"  # the default rule for a universe
    preds = Predictions.read_csv(folder)
    assert preds.is_universe and set(preds.tickers) == set(report["ticker"])
    trades = pd.read_csv(folder / "trades.csv")
    assert "ticker" in trades.columns and len(trades)
    page = (folder / "comparison.html").read_text()
    assert "Rank IC" in page and "Data report" in page
    assert (folder / "tearsheet.html").exists()


def test_universe_predictions_are_retraded_without_training(panel_csv, tmp_path):
    result, folders = _run(["--data", str(panel_csv), *SMALL, "--model", "linear"], tmp_path)
    assert result.exit_code == 0, result.output
    (first,) = folders
    again = CliRunner().invoke(cli, ["backtest", "--predictions", str(first), "--strategy", "LongShortQuantile",
                                     "--out", str(tmp_path / "re"), "-q"])
    assert again.exit_code == 0, again.output
    (second,) = [p for p in (tmp_path / "re").iterdir() if p.is_dir()]
    metrics = json.loads((second / "metrics.json").read_text())
    assert metrics["backtest"]["strategy"] == "LongShortQuantile"
    assert metrics["forecast"]["rank_ic"] == json.loads((first / "metrics.json").read_text())["forecast"]["rank_ic"]


def test_strict_refuses_a_faulty_universe_pointing_to_the_report(panel_csv, tmp_path):
    result, folders = _run(["--data", str(panel_csv), *SMALL, "--strict"], tmp_path)
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("error: --strict") and "data_report.csv" in line and "Traceback" not in result.output
    (folder,) = folders
    assert (folder / "data_report.csv").exists() and not (folder / "metrics.json").exists()


def test_tickers_subset_and_wrong_rule_for_the_data(panel_csv, tmp_path):
    result, folders = _run(["--data", str(panel_csv), *SMALL, "--model", "zero", "--tickers", "T00,T03,T05"],
                           tmp_path)
    assert result.exit_code == 0, result.output
    preds = Predictions.read_csv(folders[0])
    assert preds.tickers == ["T00", "T03", "T05"]
    wrong = CliRunner().invoke(cli, ["backtest", "--data", str(panel_csv), *SMALL, "--strategy", "LongFlat",
                                     "--out", str(tmp_path)])
    assert wrong.exit_code == 2 and "needs a portfolio rule" in wrong.output
    single = CliRunner().invoke(cli, ["backtest", "--end", "2003-12-31", "--strategy", "TopK", "--out",
                                      str(tmp_path)])
    assert single.exit_code == 2 and "portfolio rule" in single.output


def test_benchmark_file_replaces_equal_weight(panel_csv, tmp_path):
    index = planted_universe(n_tickers=1, n_days=330)["T00"].frame.rename(columns=str.capitalize)
    bench = tmp_path / "index.csv"
    (index * 1.5).rename_axis("Date").to_csv(bench)
    result, folders = _run(["--data", str(panel_csv), *SMALL, "--model", "zero", "--benchmark", str(bench)],
                           tmp_path / "runs")
    assert result.exit_code == 0, result.output
    metrics = json.loads((folders[0] / "metrics.json").read_text())
    returns = pd.read_csv(folders[0] / "returns.csv", index_col="date", parse_dates=True)
    held = (index["Close"] * 1.5).reindex(returns.index)
    # bought at the second out-of-sample open, then the index's own close-to-close moves
    assert np.allclose(returns["benchmark"].iloc[3:], held.pct_change().iloc[3:], atol=1e-4)
    assert metrics["universe"]["benchmark"] == str(bench)


def test_a_sweep_runs_on_a_universe(panel_csv, tmp_path):
    result = CliRunner().invoke(cli, ["sweep", "--data", str(panel_csv), *SMALL, "--model", "linear",
                                      "--grid", "k=2,4", "--reports", "none", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith("sweep-")]
    trials = pd.read_csv(folder / "trials.csv")
    assert list(trials["k"]) == [2, 4] and trials["rank_ic"].notna().all()
    assert json.loads((folder / "sweep.json").read_text())["n_trials"] == 2


def test_what_a_universe_cannot_do_yet_is_said_in_one_line(panel_csv, tmp_path):
    saving = CliRunner().invoke(cli, ["backtest", "--data", str(panel_csv), *SMALL, "--save-models",
                                      "--out", str(tmp_path)])
    assert saving.exit_code == 2 and "--save-models" in saving.output and "Traceback" not in saving.output
    # `train` on a universe works now (tests/cli/test_universe_signal_cli.py); a one-asset rule is refused first
    train = CliRunner().invoke(cli, ["train", "--data", str(panel_csv), "--strategy", "LongFlat",
                                     "--model-out", str(tmp_path / "m.pt")])
    assert train.exit_code == 2 and "a universe needs a portfolio rule" in train.output
    assert not (tmp_path / "m.pt").exists()


def test_universe_only_settings_fail_before_any_folder_is_written(panel_csv, tmp_path):
    cases = [(["--data", str(panel_csv), "--benchmark", str(tmp_path / "none.csv")], "--benchmark: data file not found"),
             (["--end", "2003-12-31", "--target", "rank"], "--target rank"),
             (["--end", "2003-12-31", "--benchmark", str(panel_csv)], "--benchmark replaces")]
    for args, message in cases:
        result = CliRunner().invoke(cli, ["backtest", *args, *SMALL, "--out", str(tmp_path / "out")])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or not any(p.is_dir() for p in (tmp_path / "out").iterdir())
