"""Shared fixtures: a short slice of the bundled MSFT and a tiny config so tests stay fast."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


from lstmtrade.config import Config  # noqa: E402
from lstmtrade.data.prices import load_prices  # noqa: E402
from lstmtrade.forecast.native import _compiler  # noqa: E402

# Tests of the native engine need a C compiler (CI has one); elsewhere they skip rather than fail.
needs_cc = pytest.mark.skipif(_compiler() is None, reason="no C compiler for the native kernel")

TINY = dict(min_train=300, retrain_every=100, epochs=2, lookback=10, hidden=8, batch_size=64, baselines=False)


@pytest.fixture(scope="session")
def prices():
    """MSFT 2000-03-01..2003-12-31 (965 bars)."""
    return load_prices("sample:MSFT", end="2003-12-31")


@pytest.fixture()
def tiny():
    return Config(**TINY)


@pytest.fixture(scope="session")
def msft():
    """MSFT 2000-03-01..2004-12-31, for strategy tests."""
    return load_prices("sample:MSFT", end="2004-12-31")


@pytest.fixture(scope="session")
def preds(msft):
    """Instant persistence-forecast predictions on ``msft`` (no training)."""
    from lstmtrade.forecast.walkforward import walk_forward_predict

    return walk_forward_predict(msft, Config(min_train=300, retrain_every=63), model="persistence")


@pytest.fixture(scope="session")
def past_runs(tmp_path_factory, prices):
    """A runs folder as a user leaves it after a while: two backtests that differ in one setting, a re-backtest,
    a sweep (index.html as it stood then), and then folders that are not finished runs: an interrupted
    backtest, an interrupted sweep, a damaged metrics.json, a run from an older lstmtrade, a stray folder."""
    import json
    import shutil

    import lstmtrade

    out = tmp_path_factory.mktemp("past-runs")
    first = lstmtrade.run(prices=prices, out=out, **TINY)
    second = lstmtrade.run(prices=prices, out=out, threshold=0.001, **TINY)  # folds from the cache
    again = lstmtrade.rebacktest(first.folder, prices=prices, out=out, strategy="LongShort")
    sweep = lstmtrade.run_sweep(prices=prices, out=out, grid={"threshold": [0.0, 0.0005]}, reps=100, blocks=4,
                                jobs=1, **TINY)
    index = (out / "index.html").read_text(encoding="utf-8")
    bad = {"interrupted": out / "20240101-090000-MSFT-lstm", "half_sweep": out / "sweep-20240102-090000",
           "damaged": out / "20240103-090000-MSFT-lstm", "older": out / "20190104-090000-IBM-lstm",
           "foreign": out / "holiday-photos"}
    bad["interrupted"].mkdir()  # interrupted before its first fold finished
    shutil.copy(first.folder / "config.toml", bad["interrupted"])
    shutil.copytree(sweep.folder / "trials" / "t001", bad["half_sweep"] / "trials" / "t001")  # 1 of 2 trials
    shutil.copy(sweep.folder / "plan.json", bad["half_sweep"])
    bad["damaged"].mkdir()  # metrics.json cut short
    shutil.copy(first.folder / "config.toml", bad["damaged"])
    (bad["damaged"] / "metrics.json").write_text('{"strategy": {"sharpe": 0.4', encoding="utf-8")
    bad["older"].mkdir()  # an early lstmtrade's metrics.json: fewer blocks, no verdict, no config.toml
    (bad["older"] / "metrics.json").write_text(json.dumps(
        {"strategy": {"sharpe": 0.41, "total_return": 0.12}, "benchmark": {"sharpe": 0.35},
         "forecast": {"hit_rate": 0.51}}), encoding="utf-8")
    bad["foreign"].mkdir()
    (bad["foreign"] / "beach.jpg").write_bytes(b"\xff\xd8\xff")
    (out / "notes.txt").write_text("not a folder", encoding="utf-8")
    return {"out": out, "first": first.folder, "second": second.folder, "again": again.folder,
            "sweep": sweep.folder, "index": index, **bad}


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    """Training sets torch's thread count; each test module leaves it as it found it (cheap: torch is imported
    only if a test already imported it)."""
    import sys

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    if before is not None:
        torch.set_num_threads(before)
