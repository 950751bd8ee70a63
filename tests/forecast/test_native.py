"""The native engine: the C kernel's gradients, Adam and folds against torch; threads; fallbacks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import needs_cc

from lstmtrade.cli.main import cli
from lstmtrade.config import Config
from lstmtrade.forecast import native
from lstmtrade.forecast.engines import resolve_jobs
from lstmtrade.forecast.model import LSTMRegressor
from lstmtrade.forecast.train import TrainSettings, fit
from lstmtrade.forecast.walkforward import walk_forward_predict


@pytest.fixture()
def fresh_kernel(monkeypatch, tmp_path):
    """Forget the loaded kernel for one test, and again afterwards so later tests load the normal one."""
    monkeypatch.setenv("LSTMTRADE_KERNEL_DIR", str(tmp_path / "kernels"))
    native._load.cache_clear()
    yield tmp_path / "kernels"
    native._load.cache_clear()


def torch_grad(net, x, y, loss):
    criterion = torch.nn.MSELoss() if loss == "mse" else torch.nn.HuberLoss(delta=1.0)
    net.zero_grad()
    value = criterion(net(x), y)
    value.backward()
    return float(value.detach()), torch.cat([p.grad.ravel() for p in native._parameters(net)]).numpy()


@needs_cc
@pytest.mark.parametrize("features,hidden,batch,loss", [
    (1, 32, 64, "mse"),     # the reference shape
    (6, 16, 7, "huber"),    # rows not a multiple of the 4-row tile
    (3, 8, 5, "mse"),       # hidden 8: columns not a multiple of the 16-column tile
    (40, 8, 3, "huber"),    # more features than hidden units
])
def test_loss_and_gradient_match_autograd(features, hidden, batch, loss):
    torch.manual_seed(features + hidden)
    net = LSTMRegressor(features, hidden)
    x = torch.randn(batch, 12, features)
    y = torch.randn(batch) * 3  # large errors: Huber's linear branch is exercised too
    expected_loss, expected = torch_grad(net, x, y, loss)
    value, grad = native.loss_and_grad(net, x, y, loss)
    assert value == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


@needs_cc
def test_epochs_match_the_loop_engine():
    """Same initial weights and batch order: after 3 epochs of Adam the weights agree to float rounding."""
    torch.manual_seed(0)
    x, y = torch.randn(300, 15, 2), torch.randn(300)
    settings = TrainSettings(epochs=3, batch_size=32, lr=1e-2, early_stopping=False)
    nets = {}
    for engine in ("loop", "native"):
        torch.manual_seed(1)
        nets[engine] = LSTMRegressor(2, 16)
        history = fit(nets[engine], x, y, None, None, settings, seed=5, engine=engine)
        assert history.epochs_run == 3 and len(history.train_loss) == 3
        nets[engine + "_loss"] = history.train_loss
    for a, b in zip(nets["loop"].parameters(), nets["native"].parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(nets["loop_loss"], nets["native_loss"], rtol=1e-5)
    assert nets["native_loss"][-1] < nets["native_loss"][0]  # it learns


@needs_cc
def test_early_stopping_restores_the_best_epoch():
    torch.manual_seed(0)
    x, y = torch.randn(200, 10, 1), torch.randn(200)
    xv, yv = torch.randn(50, 10, 1), torch.randn(50)
    settings = TrainSettings(epochs=30, batch_size=64, lr=3e-2, early_stopping=True, patience=2)
    net = LSTMRegressor(1, 8)
    history = fit(net, x, y, xv, yv, settings, seed=1, engine="native")
    assert history.epochs_run < 30  # pure noise: validation stops improving
    assert history.best_epoch == int(np.argmin(history.val_loss)) + 1
    with torch.no_grad():
        best = float(torch.nn.functional.mse_loss(net(xv), yv))
    assert best == pytest.approx(min(history.val_loss), rel=1e-5)


@needs_cc
def test_walk_forward_native_matches_loop_and_threads_change_nothing(prices, tiny):
    loop = walk_forward_predict(prices, tiny.replace(engine="loop")).frame["prediction"].to_numpy()
    one = walk_forward_predict(prices, tiny.replace(engine="native", jobs=1)).frame["prediction"].to_numpy()
    two = walk_forward_predict(prices, tiny.replace(engine="native", jobs=2)).frame["prediction"].to_numpy()
    np.testing.assert_array_equal(one, two)  # each fold is one deterministic single-threaded call
    assert np.abs(one - loop).max() < 1e-4 * np.std(loop)


def test_jobs_zero_means_one_per_core_with_native_only():
    assert resolve_jobs(Config(jobs=3), "loop") == 3
    assert resolve_jobs(Config(jobs=0), "loop") == 1
    assert resolve_jobs(Config(jobs=0), "native") >= 1
    assert resolve_jobs(Config(jobs=8), "native", folds=2) == 2


@needs_cc
def test_kernel_builds_into_the_kernel_folder(fresh_kernel):
    assert native.unavailable() is None
    built = list(fresh_kernel.glob("lstm-*.so"))
    assert len(built) == 1 and native.kernel_id() == built[0].name


def test_no_compiler_falls_back_to_the_loop(fresh_kernel, monkeypatch, prices, tiny):
    monkeypatch.setenv("LSTMTRADE_CC", "no-such-compiler-lstmtrade")
    assert "no C compiler found" in native.unavailable()
    from lstmtrade.forecast.engines import resolve_engine

    assert resolve_engine(tiny) == "loop"
    short = tiny.replace(epochs=1)
    assert len(walk_forward_predict(prices, short).frame) > 0
    result = CliRunner().invoke(cli, ["backtest", "--engine", "native", "--end", "2003-12-31", "-q"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: --engine native: no C compiler found")
    assert "Traceback" not in result.output


def test_compile_error_is_reported_not_raised(fresh_kernel, monkeypatch, tmp_path):
    broken = tmp_path / "cc"
    broken.write_text("#!/bin/sh\necho 'pretend compiler' ; [ \"$1\" = --version ] && exit 0; echo nope >&2; exit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("LSTMTRADE_CC", str(broken))
    why = native.unavailable()
    assert why and "failed: nope" in why
    assert not list(fresh_kernel.glob("*.so")) and not list(fresh_kernel.glob("tmp*"))


def test_turned_off_by_environment(fresh_kernel, monkeypatch):
    monkeypatch.setenv("LSTMTRADE_NATIVE", "0")
    assert native.unavailable() == "turned off by LSTMTRADE_NATIVE=0"


def test_native_refuses_what_it_cannot_train():
    result = CliRunner().invoke(cli, ["backtest", "--engine", "native", "--layers", "2", "--end", "2003-12-31"])
    assert result.exit_code == 2
    assert "--engine native: it trains one LSTM layer, not 2" in result.output
    assert "Traceback" not in result.output


@needs_cc
def test_unwritable_kernel_folder_falls_back_to_a_temporary_one(fresh_kernel, monkeypatch):
    monkeypatch.setenv("LSTMTRADE_KERNEL_DIR", "/proc/lstmtrade-kernels")  # not writable, even for root
    assert native.unavailable() is None
    assert "lstmtrade-kernels-" in str(native._load()[0]._name)
