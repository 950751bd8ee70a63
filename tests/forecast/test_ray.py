"""--backend ray: every fold and seed member a Ray task, with the local run's forecasts exactly."""
from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import TINY

from lstmtrade.config import Config
from lstmtrade.data.panel import load_universe
from lstmtrade.errors import ConfigError
from lstmtrade.forecast import ray_backend
from lstmtrade.forecast.walkforward import walk_forward_predict
from lstmtrade.live.signal import train_final

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (a start costs seconds); the adapter joins it and leaves it running."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def universe():
    return load_universe("sample:SP500", tickers=["AAL", "ABBV", "ABT"], end="2016-06-30")


def test_folds_and_members_on_ray_forecast_as_locally(universe):
    config = Config(**TINY, seeds=2)
    local = walk_forward_predict(universe, config)
    events = []
    remote = walk_forward_predict(universe, config.replace(backend="ray"), progress=events.append)
    pd.testing.assert_frame_equal(remote.frame, local.frame, check_exact=True)
    pd.testing.assert_frame_equal(remote.members, local.members, check_exact=True)
    folds = [e for e in events if e["event"] == "fold"]
    assert len(folds) == len(local.folds) and {e["fold"] for e in folds} == {f["fold"] for f in local.folds}


def test_fused_groups_on_ray_forecast_as_locally(prices):
    config = Config(**{**TINY, "min_train": 200, "retrain_every": 60}, engine="fused", early_stopping=False)
    local = walk_forward_predict(prices, config)
    assert len(local.folds) > 8  # more than one group of folds, so groups are tasks of their own
    remote = walk_forward_predict(prices, config.replace(backend="ray"))
    pd.testing.assert_frame_equal(remote.frame, local.frame, check_exact=True)


def test_train_on_ray_saves_the_local_model(prices):
    config = Config(**TINY, seeds=2)
    local = train_final(prices, config)
    remote = train_final(prices, config.replace(backend="ray"))
    assert remote.prediction == local.prediction
    features = np.random.default_rng(0).normal(size=(40, 6))
    assert np.array_equal(remote.fitted.predict(features, [30, 39]), local.fitted.predict(features, [30, 39]))


def _dies_once(item, marker):
    """Kills its worker the first time it runs for item 1 (a lost node); then returns the item doubled."""
    path = f"{marker}-{item}"
    if item == 1 and not os.path.exists(path):
        open(path, "w").close()
        os._exit(1)
    return item * 2


def test_a_task_whose_worker_dies_runs_again(tmp_path):
    got = dict(ray_backend.run_tasks(_dies_once, [0, 1, 2], str(tmp_path / "died")))
    assert got == {0: 0, 1: 2, 2: 4} and (tmp_path / "died-1").exists()
    with pytest.raises(ray.exceptions.WorkerCrashedError):  # no retries: the loss is reported
        dict(ray_backend.run_tasks(_dies_once, [1], str(tmp_path / "again"), retries=0))


def _refuses(item, shared):
    raise ConfigError(f"--lookback too long for {item}")


def test_errors_and_a_missing_ray_stay_one_line(monkeypatch):
    with pytest.raises(ConfigError, match="^--lookback too long for 5$"):  # the task's own error, not a trace
        list(ray_backend.run_tasks(_refuses, [5], None))
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r'pip install "lstmtrade\[ray\]"'):
        ray_backend.check(Config(backend="ray"))
    ray_backend.check(Config())  # local: Ray is not needed


def test_backtest_command_on_ray(tmp_path):
    from click.testing import CliRunner

    from lstmtrade.cli.main import cli
    from lstmtrade.data.prices import load_prices
    from lstmtrade.forecast.predictions import Predictions

    options = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items() if k != "baselines"]
    result = CliRunner().invoke(cli, ["backtest", "--data", "sample:MSFT", "--end", "2003-12-31", *options,
                                      "--no-baselines", "--backend", "ray", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "each fold a Ray task" in result.output
    saved = Predictions.read_csv(next(tmp_path.glob("*/predictions.csv")))
    local = walk_forward_predict(load_prices("sample:MSFT", end="2003-12-31"), Config(**TINY))
    np.testing.assert_array_equal(saved.frame["prediction"].to_numpy(), local.frame["prediction"].to_numpy())


def test_a_cluster_that_cannot_be_joined_stops_the_run_before_its_folder_is_made(monkeypatch, tmp_path):
    import contextlib

    import lstmtrade

    @contextlib.contextmanager
    def unreachable(address=None, option="--ray-address"):
        raise ConfigError(f"{option} {address}: Failed to connect to Ray cluster")
        yield  # pragma: no cover

    monkeypatch.setattr(ray_backend, "session", unreachable)
    with pytest.raises(ConfigError, match="--ray-address 10.0.0.1:1"):
        lstmtrade.run(data="sample:MSFT", end="2003-12-31", backend="ray", ray_address="10.0.0.1:1",
                      out=tmp_path, **TINY)
    assert not [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
