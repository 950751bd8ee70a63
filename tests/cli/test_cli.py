"""End to end through the command line, as a user runs it (tiny config, short slice)."""
import json
import tomllib

import pandas as pd
import pytest
from click.testing import CliRunner

from lstmtrade.cli.main import cli

TINY_ARGS = ["--end", "2003-12-31", "--min-train", "300", "--retrain-every", "100", "--epochs", "2",
             "--lookback", "10", "--hidden", "8", "--no-baselines"]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    result = CliRunner().invoke(cli, ["backtest", *TINY_ARGS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    (folder,) = _runs(out)
    return out, folder, result


def _runs(root):
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_run_folder_is_complete(first_run):
    _, folder, _ = first_run
    for name in ("tearsheet.html", "comparison.html", "metrics.json", "predictions.csv", "returns.csv",
                 "trades.csv", "config.toml"):
        assert (folder / name).stat().st_size > 0, name
    predictions = pd.read_csv(folder / "predictions.csv")
    assert list(predictions.columns) == ["date", "prediction", "target", "fold"]
    assert list(pd.read_csv(folder / "returns.csv").columns) == ["date", "strategy", "benchmark"]
    config = tomllib.loads((folder / "config.toml").read_text())
    assert config["lookback"] == 10 and config["end"] == "2003-12-31" and config["strategy"] == "LongFlat"


def test_metrics_have_the_documented_names(first_run):
    _, folder, _ = first_run
    metrics = json.loads((folder / "metrics.json").read_text())
    for side in ("strategy", "benchmark"):
        assert {"total_return", "cagr", "sharpe", "max_drawdown"} <= set(metrics[side])
    assert {"n", "hit_rate", "up_share", "ic", "mse", "mse_zero"} <= set(metrics["forecast"])
    predictions = pd.read_csv(folder / "predictions.csv").dropna()
    counted = predictions[(predictions["prediction"] != 0) & (predictions["target"] != 0)]
    assert metrics["forecast"]["up_share"] == pytest.approx((counted["target"] > 0).mean())
    assert all(0 <= fold["up_share"] <= 1 for fold in metrics["forecast_per_fold"])
    comparison = (folder / "comparison.html").read_text()
    # the LSTM's row: hit rate, then its up share, as percentages
    assert f"<td>{metrics['forecast']['hit_rate']:.1%}</td><td>{metrics['forecast']['up_share']:.1%}</td>" in comparison
    assert comparison.count("<th>up_share</th>") == 2  # forecasters table and per-fold table
    assert {"source", "rows", "start", "end", "sha256"} <= set(metrics["data"])
    assert metrics["data"]["source"] == "sample:MSFT" and metrics["data"]["end"] == "2003-12-31"
    assert metrics["config"]["lookback"] == 10
    timings = metrics["timings"]
    assert {"data", "forecast", "forecast_train", "forecast_other", "backtest", "report", "total"} <= set(timings)
    assert timings["forecast_train"] > 0 and timings["forecast_other"] >= 0  # the first run trains every fold
    assert abs(timings["forecast_train"] + timings["forecast_other"] - timings["forecast"]) <= 0.002  # rounding


def test_tearsheet_compares_with_buy_and_hold_offline(first_run):
    _, folder, _ = first_run
    html = (folder / "tearsheet.html").read_text()
    assert "Buy &amp; Hold" in html or "Buy & Hold" in html
    assert "MSFT" in html and "LSTM" in html
    assert "<svg" in html  # charts inline, nothing to fetch
    assert 'rel="shortcut icon"' not in html


def test_terminal_shows_settings_progress_and_summary(first_run):
    _, folder, result = first_run
    out = result.output
    assert "data: bundled sample MSFT" in out
    assert "walk-forward:" in out and "Buy & hold" in out and "Sharpe" in out
    assert "hit rate" in out and str(folder / "tearsheet.html") in out
    metrics = json.loads((folder / "metrics.json").read_text())
    f = metrics["forecast"]
    assert f"hit rate {f['hit_rate']:.1%} vs {f['up_share']:.1%} up days" in out
    fold_lines = [line for line in out.splitlines() if line.startswith("  fold ")]
    assert all(" up days" in line for line in fold_lines)
    # the output is not a terminal: one line per fold, in fold order (they train two at a time, largest first)
    numbers = [int(line.split()[1].split("/")[0]) for line in fold_lines]
    assert numbers == list(range(1, metrics["backtest"]["folds"] + 1)) and len(numbers) > 3


def test_second_run_writes_a_new_folder_and_quiet_prints_only_the_path(first_run):
    out, folder, _ = first_run
    before = (folder / "metrics.json").read_text()
    result = CliRunner().invoke(cli, ["backtest", *TINY_ARGS, "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert len(_runs(out)) == 2
    assert result.output.strip().endswith("tearsheet.html") and len(result.output.strip().splitlines()) == 1
    assert (folder / "metrics.json").read_text() == before


def test_rebacktest_on_saved_predictions_skips_training(first_run, tmp_path):
    out, folder, _ = first_run
    result = CliRunner().invoke(cli, ["backtest", "--predictions", str(folder), "--strategy", "LongShort",
                                      "--param", "band=0.001", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"predictions: reused from {folder}" in result.output
    (new,) = _runs(tmp_path)
    # the predictions read back are exactly those written: the new file repeats the old one byte for byte
    assert (new / "predictions.csv").read_bytes() == (folder / "predictions.csv").read_bytes()
    metrics = json.loads((new / "metrics.json").read_text())
    assert metrics["backtest"]["strategy"] == "LongShort" and metrics["backtest"]["params"]["band"] == 0.001
    assert metrics["run"]["predictions_from"] == str(folder)
    assert metrics["config"]["lookback"] == 10  # the saved run's settings


def test_config_file_keys_match_options_and_the_command_line_wins(tmp_path):
    from lstmtrade.cli.options import build_config

    path = tmp_path / "run.toml"
    path.write_text('lookback = 7\nhidden = 5\nfeatures = ["logret", "range"]\n[params]\nthreshold = 0.001\n')
    config = build_config(str(path), (), {"lookback": 6})
    assert config.lookback == 6 and config.hidden == 5 and config.features == ("logret", "range")
    assert config.params == {"threshold": 0.001}


def test_help_lists_every_option_with_its_default():
    result = CliRunner().invoke(cli, ["backtest", "--help"])
    assert result.exit_code == 0
    for option in ("--data", "--out", "--seed", "--start", "--end", "--lookback", "--hidden", "--layers",
                   "--dropout", "--epochs", "--batch-size", "--lr", "--retrain-every", "--train-window",
                   "--min-train", "--commission", "--threshold", "--device", "--quiet", "--config"):
        assert option in result.output, option
    assert "[default: 20]" in result.output  # lookback
    version = CliRunner().invoke(cli, ["--version"])
    assert version.exit_code == 0 and "lstmtrade" in version.output


def test_the_cli_imports_no_heavy_library_until_a_command_runs():
    import subprocess
    import sys

    code = "import sys, lstmtrade.cli; print(sorted(m for m in ('pandas', 'torch', 'backtrader') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
