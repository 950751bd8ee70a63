"""Nothing lost: cached folds, interrupted runs that resume to the same result, reproducible reruns."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import lstmtrade
from lstmtrade.cli.main import cli
from lstmtrade.data.prices import PriceData
from lstmtrade.errors import Interrupted
from lstmtrade.files import read_exact_csv
from lstmtrade.forecast.cache import FoldCache
from lstmtrade.forecast.walkforward import walk_forward_predict


def test_cache_reuses_folds_and_invalidates_exactly_the_folds_a_change_touches(prices, tiny, tmp_path):
    cache = FoldCache(tmp_path)
    first = walk_forward_predict(prices, tiny, cache=cache)
    n = len(first.folds)
    assert (cache.hits, cache.misses) == (0, n)
    again = FoldCache(tmp_path)
    same = walk_forward_predict(prices, tiny.replace(commission=30.0, threshold=0.001), cache=again)
    assert again.hits == n and same.frame.equals(first.frame)
    retrain = FoldCache(tmp_path)
    walk_forward_predict(prices, tiny.replace(epochs=3), cache=retrain)
    assert retrain.hits == 0
    # change one bar inside fold 3's test range: folds 0-2 are untouched, folds 3.. are retrained
    day = pd.Timestamp(first.folds[3]["test_start"]) + pd.Timedelta(days=7)
    day = prices.frame.index[prices.frame.index.searchsorted(day)]
    edited = prices.frame.copy()
    edited.loc[day, ["open", "high", "low", "close"]] *= 1.01
    partial = FoldCache(tmp_path)
    walk_forward_predict(PriceData(edited, "edited", "X"), tiny, cache=partial)
    assert (partial.hits, partial.misses) == (3, n - 3)


def test_interrupted_run_resumes_to_the_same_predictions(prices, tiny, tmp_path):
    whole = lstmtrade.run(tiny, prices=prices, out=tmp_path / "a")
    seen = []

    def stop_after_three(event):
        if event["event"] == "fold":
            seen.append(event["fold"])
            if len(seen) == 3:
                raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="--resume") as info:
        lstmtrade.run(tiny, prices=prices, out=tmp_path / "b", progress=stop_after_three)
    folder = info.value.folder
    assert (folder / "config.toml").exists() and not (folder / "metrics.json").exists()
    saved = sorted((folder / "folds").glob("fold-*.csv"))  # each finished fold, written as it finished
    assert [p.name for p in saved] == sorted(f"fold-{k:03d}.csv" for k in seen)
    first = read_exact_csv(saved[0], ("prediction", "target"), index_col="date", parse_dates=True)
    np.testing.assert_array_equal(first["prediction"], whole.predictions.frame["prediction"].loc[first.index])
    events = []
    resumed = lstmtrade.run(resume=folder, prices=prices, progress=events.append)
    assert resumed.folder == folder and (folder / "metrics.json").exists()
    cached = [e for e in events if e["event"] == "fold" and e.get("cached")]
    assert len(cached) == 3
    pd.testing.assert_frame_equal(resumed.predictions.frame, whole.predictions.frame, check_exact=True)
    # both record the class --strategy auto chose, as config.toml does (a resumed run recorded it, a whole one "auto")
    assert resumed.metrics["config"]["strategy"] == whole.metrics["config"]["strategy"] == "LongFlat"
    with pytest.raises(lstmtrade.ConfigError, match="already finished"):
        lstmtrade.run(resume=folder, prices=prices)


def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path, monkeypatch):
    import lstmtrade.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "walk_forward_predict", interrupted)
    result = CliRunner().invoke(cli, ["backtest", "--end", "2003-12-31", "--min-train", "300",
                                      "--out", str(tmp_path), "-q"])
    assert result.exit_code == 130
    assert "lstmtrade backtest --resume" in result.output and "Traceback" not in result.output


def test_parallel_jobs_give_the_same_predictions_as_one_thread(prices, tiny):
    serial = walk_forward_predict(prices, tiny.replace(threads=1))
    parallel = walk_forward_predict(prices, tiny.replace(jobs=2))
    pd.testing.assert_frame_equal(parallel.frame, serial.frame, check_exact=True)
    import torch

    torch.set_num_threads(2)  # threads=1 above is process-wide; give the rest of the suite its default back


SCRIPT = """
import sys, lstmtrade
r = lstmtrade.run(end="2003-12-31", min_train=300, retrain_every=100, epochs=2, lookback=10, hidden=8,
                  baselines=False, write=False)
r.predictions.to_csv(sys.argv[1])
"""


def test_two_fresh_processes_write_identical_predictions(tmp_path):
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path in paths:
        subprocess.run([sys.executable, "-c", SCRIPT, str(path)], check=True, timeout=300)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert np.isfinite(pd.read_csv(paths[0])["prediction"]).all()


CACHED = """
import json, sys
from lstmtrade.forecast.cache import FoldCache, default_torch_threads
from lstmtrade.config import Config
from lstmtrade.data.prices import load_prices
from lstmtrade.forecast.walkforward import walk_forward_predict
prices = load_prices("sample:MSFT", end="2003-12-31")
config = Config(min_train=300, retrain_every=100, epochs=2, lookback=10, hidden=8, batch_size=64, baselines=False)
cache = FoldCache(sys.argv[1])
predictions = walk_forward_predict(prices, config, cache=cache)
predictions.to_csv(sys.argv[2])
print(json.dumps({"torch": "torch" in sys.modules, "hits": cache.hits, "misses": cache.misses,
                  "threads": default_torch_threads(), "train": predictions.timings["train"]}))
"""


def test_a_rerun_from_the_cache_does_not_import_torch(tmp_path):
    """Importing torch only to read its thread count (part of the cache key) cost a cached rerun ~1 s."""
    import json
    import os

    def run(name: str, **env: str) -> dict:
        done = subprocess.run([sys.executable, "-c", CACHED, str(tmp_path / "cache"), str(tmp_path / f"{name}.csv")],
                              check=True, capture_output=True, text=True, timeout=300, env={**os.environ, **env})
        return json.loads(done.stdout.strip().splitlines()[-1])

    first = run("first")
    assert first["torch"] and first["hits"] == 0 and first["misses"] > 3 and first["train"] > 0
    again = run("again")
    assert not again["torch"], "a rerun whose folds all come from the cache imported torch"
    assert (again["hits"], again["misses"], again["train"]) == (first["misses"], 0, 0.0)
    assert again["threads"] == first["threads"] >= 1  # the count that keyed the cache, known without torch
    assert (tmp_path / "first.csv").read_bytes() == (tmp_path / "again.csv").read_bytes()
    other = run("other", OMP_NUM_THREADS="1")  # torch's default may differ here: ask torch again
    assert other["torch"] and other["threads"] == 1


def test_an_unexpected_error_prints_one_line_and_keeps_the_traceback_in_a_log(tmp_path, monkeypatch):
    import re

    import lstmtrade.pipeline as pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(pipeline, "walk_forward_predict", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = CliRunner().invoke(cli, ["backtest", "--end", "2003-12-31", "--min-train", "300",
                                      "--out", str(tmp_path / "reports"), "-q"])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "simulated bug" in lines[0] and "Traceback" not in result.stderr
    log = re.search(r"full traceback in (\S+)\)", lines[0]).group(1)
    assert "RuntimeError: simulated bug" in open(log).read()


def test_save_models_writes_each_fold_model_that_reproduces_its_predictions(prices, tiny, tmp_path):
    from lstmtrade.forecast.artifact import load_model

    result = lstmtrade.run(tiny.replace(save_models=True), prices=prices, out=tmp_path)
    models = sorted((result.folder / "folds").glob("fold-*.pt"))
    assert len(models) == len(result.predictions.folds)
    last = load_model(models[-1])
    frame = result.predictions.frame
    day, value = last.predict_last(prices)
    assert day == frame.index[-1] and value == pytest.approx(frame["prediction"].iloc[-1], rel=1e-9)
