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
