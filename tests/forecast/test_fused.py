"""The fused engine (all folds trained at once) against nn.LSTM and the loop engine."""
import numpy as np
import pytest
import torch

from lstmtrade.config import Config
from lstmtrade.errors import ConfigError
from lstmtrade.forecast import fused
from lstmtrade.forecast.engines import resolve_engine
from lstmtrade.forecast.model import LSTMRegressor
from lstmtrade.forecast.train import TrainSettings, fit, fold_seed
from lstmtrade.forecast.walkforward import walk_forward_predict

FUSED_TINY = dict(min_train=300, retrain_every=100, epochs=2, lookback=10, hidden=8, batch_size=64,
                  baselines=False, early_stopping=False)


def _nets(k, features=2, hidden=8, seed=0):
    nets = []
    for i in range(k):
        torch.manual_seed(fold_seed(seed, i))
        nets.append(LSTMRegressor(features, hidden))
    return nets


def test_fused_forward_equals_nn_lstm():
    nets = _nets(3)
    x = torch.randn(3, 16, 7, 2, generator=torch.Generator().manual_seed(1))
    flat, layout = fused.stack_nets(nets)
    hs, _ = fused.lstm_forward(x, *layout.views(flat)[:4])
    for k, net in enumerate(nets):
        out, _ = net.lstm(x[k])
        torch.testing.assert_close(hs[1:, k].transpose(0, 1), out.detach(), atol=1e-6, rtol=0)


def test_one_fused_step_equals_the_loop_first_adam_step():
    sizes = [40, 25, 33]  # one batch each (batch 64): the first step of train.fit
    gen = torch.Generator().manual_seed(2)
    xs = [torch.randn(n, 6, 2, generator=gen) for n in sizes]
    ys = [torch.randn(n, generator=gen) for n in sizes]
    settings = TrainSettings(epochs=1, batch_size=64, lr=1e-2, early_stopping=False)
    seeds = [fold_seed(7, k) for k in range(3)]
    loop_nets, fused_nets = _nets(3, seed=7), _nets(3, seed=7)
    for net, x, y, s in zip(loop_nets, xs, ys, seeds):
        fit(net, x, y, None, None, settings, s)
    fused.fit_folds(fused_nets, xs, ys, settings, seeds)
    for a, b in zip(loop_nets, fused_nets):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(q, p, atol=2e-6, rtol=1e-5, msg=name)


def test_inactive_fold_is_left_untouched():
    # fold 0 has 1 batch per epoch, fold 1 has 3: at steps 2 and 3 of each epoch fold 0 is inactive
    sizes = [20, 150]
    gen = torch.Generator().manual_seed(3)
    xs = [torch.randn(n, 5, 2, generator=gen) for n in sizes]
    ys = [torch.randn(n, generator=gen) for n in sizes]
    settings = TrainSettings(epochs=2, batch_size=64, lr=1e-2, early_stopping=False)
    seeds = [fold_seed(7, k) for k in range(2)]
    both = _nets(2, seed=7)
    alone = _nets(1, seed=7)
    fused.fit_folds(both, xs, ys, settings, seeds)
    fused.fit_folds(alone, xs[:1], ys[:1], settings, seeds[:1])
    for p, q in zip(both[0].parameters(), alone[0].parameters()):
        torch.testing.assert_close(p, q, atol=0, rtol=0)  # fixed group shapes: bit-identical
    # and the stacked Adam leaves a row that is not live exactly as it was
    flat = torch.randn(3, 8)
    adam = fused.StackedAdam(flat, 1e-2)
    before = flat.clone()
    adam.step(flat, torch.ones(3, 8), torch.tensor([False, True, False]))
    assert torch.equal(flat[0], before[0]) and torch.equal(flat[2], before[2])
    assert not torch.equal(flat[1], before[1]) and adam.steps.tolist() == [0, 1, 0]
    assert torch.equal(adam.exp_avg[0], torch.zeros(8)) and torch.equal(adam.exp_avg_sq[2], torch.zeros(8))


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_tiny_walk_forward_fused_matches_loop(prices, loss):
    loop = walk_forward_predict(prices, Config(**FUSED_TINY, loss=loss, engine="loop"))
    fast = walk_forward_predict(prices, Config(**FUSED_TINY, loss=loss, engine="fused"))
    assert len(fast.frame) == len(loop.frame) and len(fast.folds) == len(loop.folds)
    np.testing.assert_array_equal(fast.frame["fold"], loop.frame["fold"])
    a, b = fast.frame["prediction"].to_numpy(), loop.frame["prediction"].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
    for f, l in zip(fast.folds, loop.folds):
        assert f.keys() == l.keys()
        assert {k: v for k, v in f.items() if k != "seconds"} == {k: v for k, v in l.items() if k != "seconds"}


def test_fused_progress_events(prices):
    events = []
    walk_forward_predict(prices, Config(**FUSED_TINY, engine="fused"), progress=events.append)
    kinds = [e["event"] for e in events]
    assert kinds.count("epoch") == FUSED_TINY["epochs"] and kinds.count("fold") == events[0]["folds"]
    for e in events:
        if e["event"] == "fold":
            assert {"fold", "folds", "fit_start", "test_end", "epochs_run", "best_epoch", "seconds"} <= e.keys()


def test_engine_resolution(monkeypatch):
    from lstmtrade.forecast import native

    assert resolve_engine(Config(early_stopping=False, engine="fused")) == "fused"
    assert resolve_engine(Config(early_stopping=False, layers=2)) == "loop"  # native trains one layer
    assert resolve_engine(Config(hidden=12)) == "loop"  # native needs a multiple of 8
    assert resolve_engine(Config(early_stopping=False, engine="loop")) == "loop"
    assert resolve_engine(Config(early_stopping=False), model="linear") == "loop"
    with pytest.raises(ConfigError):
        resolve_engine(Config(engine="fused"))
    with pytest.raises(ConfigError, match="--engine native: it trains one LSTM layer"):
        resolve_engine(Config(engine="native", layers=2))
    # auto: native where the kernel builds (CI has a C compiler), else the loop
    if native.unavailable() is None:
        assert resolve_engine(Config()) == "native"
    monkeypatch.setattr(native, "unavailable", lambda: "no C compiler found (cc)")
    assert resolve_engine(Config()) == "loop"
    with pytest.raises(ConfigError, match="no C compiler"):
        resolve_engine(Config(engine="native"))
