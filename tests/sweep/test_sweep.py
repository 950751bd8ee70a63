"""Sweeps: the plan, the two stages, the files, the statistics on known cases, resume, backends, the CLI."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY

import lstmtrade
from lstmtrade.config import Config
from lstmtrade.data.prices import load_prices
from lstmtrade.errors import ConfigError, StrategyError
from lstmtrade.sweep.plan import make_plan, parse_grid, training_key
from lstmtrade.sweep.run import SweepInterrupted, run_sweep


def bars(returns: np.ndarray, seed: int, name: str):
    """Daily bars whose open-to-open return is ``returns`` (close(t) = open(t+1), no gap)."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(returns))
    opens = np.r_[50.0, close[:-1]]
    wiggle = rng.uniform(0.0, 0.004, (2, len(close)))
    frame = pd.DataFrame({"Open": opens, "High": np.maximum(opens, close) * (1 + wiggle[0]),
                          "Low": np.minimum(opens, close) * (1 - wiggle[1]), "Close": close,
                          "Volume": rng.integers(1_000_000, 2_000_000, len(close)).astype(float)},
                         index=pd.bdate_range("2001-01-02", periods=len(close), name="Date"))
    return load_prices(frame, name=name)


def ar1(n: int, phi: float, seed: int) -> np.ndarray:
    eps = np.random.default_rng(seed).normal(0.0, 0.01, n)
    r = np.empty(n)
    r[0] = eps[0]
    for t in range(1, n):
        r[t] = phi * r[t - 1] + eps[t]
    return r


LINEAR = Config(model="linear", min_train=300, retrain_every=100, baselines=False)
FAST = dict(reports="none", reps=300, jobs=1)


# --------------------------------------------------------------------------- the plan


def test_grid_and_seeds_make_every_combination_with_ids_and_types():
    grid = parse_grid(["lookback=20,40", "features=logret,logret+vol20", "band=0,0.001"])
    plan = make_plan(Config(strategy="LongShort"), grid, seeds=3)
    assert len(plan.trials) == 2 * 2 * 2 * 3 and plan.trials[0].id == "t001" and plan.trials[-1].id == "t024"
    first = plan.trials[0]
    assert first.params == {"lookback": 20, "features": ["logret"], "band": 0.0} and first.seed == 7
    assert [t.seed for t in plan.trials[:3]] == [7, 8, 9]  # --seeds: the base seed, +1, +2, each a trial
    config = plan.trial_config(plan.trials[-1])
    assert config.lookback == 40 and config.features == ("logret", "vol20") and config.seed == 9
    assert config.params == {"band": 0.001} and config.strategy == "LongShort"


def test_random_samples_configurations_reproducibly():
    grid = {"lookback": [10, 20, 30, 40], "hidden": [8, 16, 32]}
    one = make_plan(Config(), grid, seeds=2, random=5)
    again = make_plan(Config(), grid, seeds=2, random=5)
    assert len(one.trials) == 10 and [t.params for t in one.trials] == [t.params for t in again.trials]
    other = make_plan(Config(seed=3), grid, random=5)
    assert [t.params for t in other.trials] != [t.params for t in one.trials[::2]]
    assert len(make_plan(Config(), grid, random=50).trials) == 12  # more than the grid: the whole grid


def test_strategy_only_settings_share_one_walk_forward():
    plan = make_plan(Config(), {"lookback": [10, 20], "threshold": [0.0, 0.001], "commission": [0.0, 10.0]})
    keys = {training_key(plan.trial_config(t)) for t in plan.trials}
    assert len(plan.trials) == 8 and len(keys) == 2


@pytest.mark.parametrize("grid, error, message", [
    ({"lookbak": [1, 2]}, ConfigError, "did you mean 'lookback'"),
    ({"seed": [1, 2]}, ConfigError, "--trial-seeds"),
    ({"data": ["a.csv", "b.csv"]}, ConfigError, "cannot be swept"),
    ({"lookback": [0, 10]}, ConfigError, "--lookback must be a whole number >= 1"),
    ({"lookback": ["x"]}, ConfigError, "'x' is not a valid int"),
    ({"band": [0.0, 0.1]}, ConfigError, "not a setting or a param of LongFlat; strategy params: min_trade"),
    ({"strategy": ["LongFlat", "LongShort"], "band": [0.0, 0.1]}, StrategyError, "LongFlat has no param 'band'"),
    ({"lookback": [10, 10]}, ConfigError, "twice"),
    ({"lookback": [10]}, ConfigError, "at least 2 trials"),
])
def test_bad_grids_are_refused_before_anything_runs(grid, error, message):
    with pytest.raises(error, match=message):
        make_plan(Config(), grid)


# --------------------------------------------------------------------------- known answers


@pytest.fixture(scope="module")
def walk():
    return bars(np.random.default_rng(21).normal(0.0, 0.01, 1000), seed=3, name="walk")


@pytest.fixture(scope="module")
def random_walk_sweep(walk, tmp_path_factory):
    """24 LSTM trials on a driftless random walk: lookback x hidden x 4 seeds, tiny nets, long or short."""
    base = Config(**{**TINY, "strategy": "LongShort"})
    return run_sweep(base, grid={"lookback": [5, 10, 20], "hidden": [8, 16]}, seeds=4, prices=walk,
                     out=tmp_path_factory.mktemp("walk"), **FAST)


def test_random_walk_sweep_finds_nothing(random_walk_sweep):
    s = random_walk_sweep.summary
    assert s["n_trials"] == 24 and s["trained"] == 24 and s["reused"] == 0
    assert s["pbo"] > 0.5, s["pbo"]  # one noise sweep's PBO is itself noisy: test_selection checks its mean
    assert s["spa_pvalue_vs_zero"] > 0.2 and s["spa_pvalue_vs_benchmark"] > 0.2
    assert s["rc_pvalue_vs_zero"] >= s["spa_pvalue_vs_zero"]
    assert s["skilful"] == [] and not random_walk_sweep.trials["skilful"].any()
    assert s["verdict"].startswith("best of 24 trials (")
    assert s["verdict"].endswith("the sweep found nothing that survives selection.")


def test_sweep_files_hold_what_the_issue_asks(random_walk_sweep):
    folder = random_walk_sweep.folder
    assert folder.name.startswith("sweep-")
    saved = json.loads((folder / "sweep.json").read_text())
    for key in ("n_trials", "pbo", "spa_pvalue_vs_benchmark", "spa_pvalue_vs_zero", "mcs", "best"):
        assert key in saved, key
    assert set(saved["mcs"]) <= {f"t{i:03d}" for i in range(1, 25)} and saved["mcs"]
    table = pd.read_csv(folder / "trials.csv")
    assert len(table) == 24 and {"id", "lookback", "hidden", "seed", "sharpe", "dsr",
                                 "in_mcs", "origin", "hit_rate", "ic", "max_drawdown"} <= set(table.columns)
    best = table.loc[table["sharpe"].idxmax()]
    assert saved["best"]["id"] == best["id"] and saved["best"]["metrics"]["sharpe"] == pytest.approx(best["sharpe"])
    # each trial is an ordinary run folder: rebacktest reads it; its metrics count every trial for DSR
    trial = folder / "trials" / best["id"]
    metrics = json.loads((trial / "metrics.json").read_text())
    assert metrics["significance"]["trials"] == 24
    assert metrics["significance"]["dsr"] == pytest.approx(best["dsr"])
    assert metrics["sweep"]["id"] == best["id"]
    page = (folder / "sweep.html").read_text()
    assert saved["verdict"].split(":")[0] in page and page.count("<svg") >= 4
    assert 'src="http' not in page and "<link" not in page and "<script" not in page  # works offline
    assert not (trial / "tearsheet.html").exists()  # --reports none


def test_planted_edge_is_found_and_kept_in_the_confidence_set(tmp_path):
    prices = bars(ar1(1400, 0.3, seed=5), seed=6, name="planted")
    grid = {"features": ["logret", "vol20", "range", "volz"], "strategy": ["LongShort", "LongFlat"]}
    result = run_sweep(LINEAR.replace(commission=2.0), grid=grid, prices=prices, out=tmp_path, **FAST)
    s, table = result.summary, result.trials
    planted = table.loc[(table["features"] == "logret") & (table["strategy"] == "LongShort"), "id"].item()
    assert s["spa_pvalue_vs_zero"] < 0.01 and s["spa_pvalue_vs_benchmark"] < 0.05
    assert planted in s["mcs"] and s["best"]["id"] == planted
    assert s["pbo"] < 0.1 and planted in s["skilful"]
    assert "survives selection" in s["verdict"] and "nothing" not in s["verdict"]
    noise = table.loc[table["features"].isin(["vol20", "range", "volz"]), "id"]
    assert not set(noise) & set(s["mcs"])


# --------------------------------------------------------------------------- nothing lost, any backend


@pytest.fixture(scope="module")
def small():
    return bars(np.random.default_rng(8).normal(0.0002, 0.01, 700), seed=9, name="small")


GRID = {"features": ["logret", "logret+range"], "threshold": [0.0, 0.001]}


def _numbers(result) -> pd.DataFrame:
    return result.trials.drop(columns=["seconds", "report"])


@pytest.fixture(scope="module")
def whole(small, tmp_path_factory):
    """The 4-trial sweep of ``small``, uninterrupted, in this process."""
    return run_sweep(LINEAR, grid=GRID, prices=small, out=tmp_path_factory.mktemp("whole"), **FAST)


def test_interrupted_sweep_resumes_to_the_same_result(small, whole, tmp_path):
    seen = []

    def stop_after_two(event):
        if event["event"] == "trial":
            seen.append(event["id"])
            if len(seen) == 2:
                raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted, match="lstmtrade sweep --resume") as info:
        run_sweep(LINEAR, grid=GRID, prices=small, out=tmp_path / "b", progress=stop_after_two, **FAST)
    folder = info.value.folder
    assert not (folder / "sweep.json").exists()
    assert sorted(p.parent.name for p in folder.glob("trials/*/metrics.json")) == sorted(seen)
    events = []
    resumed = run_sweep(resume=folder, prices=small, progress=events.append)
    assert [e["id"] for e in events if e["event"] == "trial"] == [t for t in ("t001", "t002", "t003", "t004")
                                                                  if t not in seen]
    pd.testing.assert_frame_equal(_numbers(resumed), _numbers(whole))
    for key in ("pbo", "spa_pvalue_vs_zero", "spa_pvalue_vs_benchmark", "mcs", "best"):
        assert resumed.summary[key] == whole.summary[key], key
    with pytest.raises(ConfigError, match="already finished"):
        run_sweep(resume=folder, prices=small)
    other = bars(np.random.default_rng(1).normal(0.0, 0.01, 700), seed=9, name="small")
    (folder / "sweep.json").unlink()
    with pytest.raises(ConfigError, match="data differ"):
        run_sweep(resume=folder, prices=other)


def test_worker_processes_give_the_same_trials_and_numbers(small, whole, tmp_path):
    pool = run_sweep(LINEAR, grid=GRID, prices=small, out=tmp_path, **{**FAST, "jobs": 2})
    assert pool.summary["run"] == {"backend": "local", "workers": 2} and whole.summary["run"]["workers"] == 1
    pd.testing.assert_frame_equal(_numbers(pool), _numbers(whole))
    for key in ("pbo", "spa_pvalue_vs_zero", "spa_pvalue_vs_benchmark", "mcs", "best", "verdict"):
        assert pool.summary[key] == whole.summary[key], key


def test_ray_gives_the_same_trials_and_numbers(small, whole, tmp_path):
    pytest.importorskip("ray")
    ray = run_sweep(LINEAR, grid=GRID, prices=small, out=tmp_path, backend="ray", **FAST)
    assert ray.summary["run"]["backend"] == "ray"
    pd.testing.assert_frame_equal(_numbers(ray), _numbers(whole))
    for key in ("pbo", "spa_pvalue_vs_zero", "spa_pvalue_vs_benchmark", "mcs", "best", "verdict"):
        assert ray.summary[key] == whole.summary[key], key


def test_lstm_trials_train_once_per_walk_forward_and_reuse_the_fold_cache(prices, tmp_path):
    base = Config(**TINY)
    grid = {"lookback": [5, 10], "threshold": [0.0, 0.0005]}
    first = run_sweep(base, grid=grid, seeds=2, prices=prices, out=tmp_path, **FAST)
    origins = first.trials.set_index("id")["origin"]
    assert (origins == "trained").sum() == 4 and (origins == "reused").sum() == 4  # 2 lookbacks x 2 seeds
    assert sorted(first.trials["seed"].unique()) == [7, 8]
    again = run_sweep(base, grid=grid, seeds=2, prices=prices, out=tmp_path, **FAST)
    assert set(again.trials["origin"]) == {"cached", "reused"} and again.summary["cached"] == 4
    assert (again.trials["folds_cached"] == again.trials["folds"]).all()
    pd.testing.assert_frame_equal(_numbers(again).drop(columns=["origin", "folds_cached", "dsr"]),
                                  _numbers(first).drop(columns=["origin", "folds_cached", "dsr"]))
    # the same trials again are not new trials: the ledger still counts 8
    assert again.summary["n_trials_counted"] == first.summary["n_trials_counted"] == 8
    seeds = first.trials.groupby(["lookback", "threshold"])["sharpe"].nunique()
    assert (seeds == 2).all()  # different seeds, different nets


def test_a_trial_folder_is_an_ordinary_run_folder(random_walk_sweep, walk):
    row = random_walk_sweep.trials.iloc[-1]
    trial = random_walk_sweep.folder / "trials" / row["id"]
    again = lstmtrade.rebacktest(trial, prices=walk, strategy="LongShort", write=False)  # its config.toml
    assert again.config.lookback == row["lookback"] and again.config.seed == row["seed"] == 10
    assert again.metrics["strategy"]["sharpe"] == pytest.approx(row["sharpe"], rel=1e-9)


def test_every_trial_with_reports_all_and_the_best_with_reports_best(small, tmp_path):
    grid = {"threshold": [0.0, 0.001]}
    best = run_sweep(LINEAR, grid=grid, prices=small, out=tmp_path / "best", reps=300)
    winner = best.summary["best"]["id"]
    for trial in best.plan.trials:
        has = (best.folder / "trials" / trial.id / "tearsheet.html").exists()
        assert has == (trial.id == winner)
    assert f'href="trials/{winner}/tearsheet.html"' in best.page.read_text()
    every = run_sweep(LINEAR, grid=grid, prices=small, out=tmp_path / "all", reports="all", reps=300)
    assert all((every.folder / "trials" / t.id / "comparison.html").exists() for t in every.plan.trials)


def test_the_best_trials_pages_reuse_its_capacity_runs(small, tmp_path, monkeypatch):
    import lstmtrade.pipeline as pipeline

    calls = []
    real = pipeline.capacity
    monkeypatch.setattr(pipeline, "capacity", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = run_sweep(LINEAR.replace(capacity=(1e5, 1e7)), grid={"threshold": [0.0, 0.001]}, prices=small,
                       out=tmp_path, reps=300, jobs=1)
    assert len(calls) == 2  # once per trial; the best trial's pages read its metrics, not a third re-run
    best = result.folder / "trials" / result.summary["best"]["id"]
    assert len(pd.read_csv(best / "capacity.csv")) == 2 and "capacity" in (best / "config.toml").read_text()
    assert "capacity.csv" in (best / "comparison.html").read_text()


# --------------------------------------------------------------------------- the command line


CONFIG = """model = "linear"
end = "2003-12-31"
min_train = 300
retrain_every = 100

[sweep]
reports = "none"
reps = 200
jobs = 1

[sweep.grid]
features = ["logret", "logret+vol20"]
"""


def test_cli_sweep_from_a_toml_sweep_table_with_ctrl_c_and_resume(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import lstmtrade.sweep.execute as sweep_module
    from lstmtrade.cli.main import cli
    from lstmtrade.config import load_toml

    config = tmp_path / "sweep.toml"
    config.write_text(CONFIG)
    assert "sweep" not in load_toml(config)  # `backtest --config` reads the same file, [sweep] aside
    real = sweep_module.run_task
    calls = []

    def interrupt_second(task, prices):
        calls.append(task)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(task, prices)

    monkeypatch.setattr(sweep_module, "run_task", interrupt_second)
    runner = CliRunner()
    args = ["sweep", "--config", str(config), "--grid", "threshold=0,0.001", "--out", str(tmp_path / "r")]
    stopped = runner.invoke(cli, args)
    assert stopped.exit_code == 130, stopped.output
    assert "interrupted after 2 of 4 trials" in stopped.output and "lstmtrade sweep --resume" in stopped.output
    (folder,) = (tmp_path / "r").glob("sweep-*")
    monkeypatch.setattr(sweep_module, "run_task", real)
    refused = runner.invoke(cli, ["sweep", "--resume", str(folder), "--lookback", "5"])
    assert refused.exit_code == 2 and "only --jobs" in refused.output
    resumed = runner.invoke(cli, ["sweep", "--resume", str(folder), "--jobs", "1"])
    assert resumed.exit_code == 0, resumed.output
    assert "2 already finished (resumed)" in resumed.output
    assert "t003 trained" in resumed.output and "t004 reused" in resumed.output
    assert resumed.output.strip().splitlines()[-1].startswith("verdict: best of 4 trials")
    table = pd.read_csv(folder / "trials.csv")
    assert list(table["features"]) == ["logret", "logret", "logret+vol20", "logret+vol20"]
    assert list(table["threshold"]) == [0.0, 0.001, 0.0, 0.001]
    assert (folder / "sweep.html").exists() and not list(folder.glob("trials/*/tearsheet.html"))


@pytest.mark.parametrize("args, message", [
    (["--grid", "seed=1,2"], "--trial-seeds"),
    (["--grid", "lookback"], "must look like name=value1,value2"),
    (["--grid", "lookback=5,10", "--blocks", "7"], "--blocks must be an even"),
    (["--grid", "lookback=5,10", "--backend", "spark"], "Invalid value for '--backend'"),
])
def test_cli_sweep_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    from click.testing import CliRunner

    from lstmtrade.cli.main import cli

    result = CliRunner().invoke(cli, ["sweep", "--out", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output and not list(tmp_path.glob("sweep-*"))


def test_cli_sweep_help_says_what_seeds_and_jobs_mean():
    from click.testing import CliRunner

    from lstmtrade.cli.main import cli

    text = CliRunner().invoke(cli, ["sweep", "--help"]).output
    assert "each a separate trial" in text and "--backend [local|ray]" in text and "--resume" in text
    assert "--lookback" in text and "--strategy" in text  # every backtest option
