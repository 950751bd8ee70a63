"""MLflow tracking against a real MLflow store (SQLite in a temporary folder): params, metrics with per-fold
steps, tags, artifacts, a sweep's nested trials; MLflow missing or its store unusable said in one line before
any training."""
import json
import sys

import pytest
from click.testing import CliRunner

import lstmtrade
from lstmtrade.cli.main import cli
from lstmtrade.errors import ConfigError
from lstmtrade.report.runs import read_run


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """MLFLOW_TRACKING_URI pointing at a fresh SQLite store; MLflow's default artifact folder lands beside it."""
    pytest.importorskip("mlflow", reason='MLflow tracking: pip install "lstmtrade[mlflow]"')
    folder = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        patch.chdir(folder)  # ./mlruns (artifacts) goes here, not into the repository
        yield folder


def _client():
    import mlflow

    return mlflow.MlflowClient()


def test_a_rebacktest_with_tracking_is_logged_with_params_metrics_tags_and_pages(store, past_runs, prices):
    result = lstmtrade.rebacktest(past_runs["first"], prices=prices, out=store / "reports", tracking="mlflow")
    tracked = result.tracked
    assert tracked.experiment == "MSFT" and tracked.uri.startswith("sqlite:")
    run = _client().get_run(tracked.run_id)
    m = json.loads((result.folder / "metrics.json").read_text())
    assert run.info.status == "FINISHED" and run.info.run_name == result.folder.name
    assert run.data.params["lookback"] == "10" and run.data.params["tracking"] == "mlflow"
    assert run.data.params["params.min_trade"] == str(m["backtest"]["params"]["min_trade"])
    assert run.data.metrics["sharpe"] == m["strategy"]["sharpe"]
    assert run.data.metrics["benchmark_sharpe"] == m["benchmark"]["sharpe"]
    assert run.data.metrics["dsr"] == m["significance"]["dsr"]
    steps = _client().get_metric_history(tracked.run_id, "fold.ic")
    assert sorted(p.step for p in steps) == [row["fold"] for row in m["forecast_per_fold"]]
    assert [p.value for p in sorted(steps, key=lambda p: p.step)] == [row["ic"] for row in m["forecast_per_fold"]]
    tags = run.data.tags
    assert tags["data.sha256"] == m["data"]["sha256"] and tags["verdict"] == m["verdict"]
    assert tags["version.lstmtrade"] == lstmtrade.__version__ and tags["mlflow.note.content"] == m["verdict"]
    artifacts = {a.path for a in _client().list_artifacts(tracked.run_id)}
    assert {"tearsheet.html", "comparison.html", "metrics.json", "config.toml"} <= artifacts


def test_a_sweep_is_a_parent_run_with_its_trials_nested(store, past_runs):
    result = CliRunner().invoke(cli, ["runs", "log", str(past_runs["sweep"])])
    assert result.exit_code == 0, result.output
    assert "2 trials nested" in result.output
    client = _client()
    (experiment,) = [e for e in client.search_experiments() if e.name == "MSFT"]
    sweep = read_run(past_runs["sweep"])
    (parent,) = client.search_runs([experiment.experiment_id], f"attributes.run_name = '{sweep.name}'")
    assert parent.data.metrics["pbo"] == sweep.figures["pbo"]
    assert parent.data.params["grid.threshold"] == "0.0,0.0005"
    children = client.search_runs([experiment.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(c.info.run_name for c in children) == ["t001", "t002"]
    for child in children:
        trial = json.loads((past_runs["sweep"] / "trials" / child.info.run_name / "metrics.json").read_text())
        assert child.data.metrics["sharpe"] == trial["strategy"]["sharpe"]
    assert "sweep.html" in {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_a_store_failing_after_the_run_says_the_folder_is_complete(store, past_runs, monkeypatch):
    import mlflow

    def refuse(*args, **kwargs):
        raise ConnectionError("the tracking server went away\nsecond line")

    monkeypatch.setattr(mlflow.MlflowClient, "log_batch", refuse)
    with pytest.raises(ConfigError) as info:
        lstmtrade.log_to_mlflow(past_runs["second"])
    message = str(info.value)
    assert "ConnectionError: the tracking server went away" in message and "second line" not in message
    assert f"log it later with  lstmtrade runs log {past_runs['second']}" in message


def test_an_unfinished_run_is_not_logged(store, past_runs):
    result = CliRunner().invoke(cli, ["runs", "log", str(past_runs["interrupted"])])
    assert result.exit_code == 2 and "is unfinished" in result.output and "Traceback" not in result.output


def test_the_cli_flag_logs_and_says_where(store, past_runs):
    result = CliRunner().invoke(cli, ["backtest", "--predictions", str(past_runs["first"]), "--mlflow",
                                      "--out", str(store / "cli"), "--end", "2003-12-31"])
    assert result.exit_code == 0, result.output
    assert "MLflow: run " in result.output and "experiment 'MSFT'" in result.output
    assert "see it: mlflow ui --backend-store-uri sqlite:" in result.output


def test_mlflow_missing_is_one_line_before_any_folder(past_runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    with pytest.raises(ConfigError, match=r'pip install "lstmtrade\[mlflow\]"'):
        lstmtrade.rebacktest(past_runs["first"], out=tmp_path / "r", tracking="mlflow", end="2003-12-31")
    result = CliRunner().invoke(cli, ["sweep", "--mlflow", "--grid", "threshold=0,0.001", "--out",
                                      str(tmp_path / "s"), "--end", "2003-12-31"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "lstmtrade[mlflow]" in result.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


def test_mlflow_given_with_resume_applies_to_the_resumed_run(past_runs, tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / past_runs["interrupted"].name
    shutil.copytree(past_runs["interrupted"], folder)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    result = CliRunner().invoke(cli, ["backtest", "--resume", str(folder), "--mlflow"])
    assert result.exit_code == 2 and "lstmtrade[mlflow]" in result.output  # checked before any training
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml"]  # nothing written, nothing lost


def test_a_store_mlflow_cannot_use_stops_the_run_before_training(past_runs, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="MLflow tracking store .* cannot be used"):
        lstmtrade.rebacktest(past_runs["first"], out=tmp_path / "r", tracking="mlflow", end="2003-12-31")
    assert not (tmp_path / "r").exists()


def test_tracking_is_a_setting_that_changes_no_result():
    from lstmtrade.config import Config
    from lstmtrade.evaluate.ledger import trial_key

    with pytest.raises(ConfigError, match="--tracking must be one of none, mlflow"):
        Config(tracking="wandb")
    plain, tracked = Config().to_dict(), Config(tracking="mlflow").to_dict()
    assert trial_key(plain, "LongFlat", {}) == trial_key(tracked, "LongFlat", {})  # not another trial for DSR
