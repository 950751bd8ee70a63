"""Fused walk-forward training: every fold's LSTM trained at once, as one batched computation.

The folds of a walk-forward are independent models, so their weights are stacked along a leading fold
dimension ``K`` and each optimiser step runs every active fold's batch through one set of batched matrix
products (``torch.baddbmm``/``torch.bmm``). The LSTM recurrence is written out here with exactly
``nn.LSTM``'s equations and weight layout (gates i, f, g, o; ``W_ih (4H, F)``, ``W_hh (4H, H)``,
``b_ih``, ``b_hh``)::

    gates = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the four H-wide slices
    c_t = f * c_{t-1} + i * g,    h_t = o * tanh(c_t),    prediction = head(h_T)

and the backward pass (backpropagation through the whole window) is written out by hand too: no
autograd graph, the per-step work is a handful of elementwise ops and one small batched matmul, and the
weight gradients are one batched matmul per weight over all time steps.

What stays per fold, exactly as in :func:`lstmtrade.forecast.train.fit`:

- weight init: a real :class:`~lstmtrade.forecast.model.LSTMRegressor` is built under
  ``torch.manual_seed(fold_seed(seed, k))`` and its weights are copied into the stacks (the caller
  builds it, see :func:`lstmtrade.forecast.lstm.prepare_lstm_fold`);
- batch order: ``torch.randperm(n_k, generator=Generator().manual_seed(fold_seed(seed, k)))`` per epoch;
- loss: the mean over the fold's own batch rows (a short last batch is padded with zero-weight rows);
- Adam (betas 0.9/0.999, eps 1e-8, PyTorch's update formula) with per-fold step counts: a fold whose
  epoch has no batch left at a step is not in the computation at that step, so neither its weights nor
  its Adam moments nor its step count change.

Results agree with the loop engine to float32 rounding (about 1e-6 relative), not bit for bit: the
batched products sum in a different order than ``nn.LSTM``'s kernel.

Scope: one LSTM layer (so no inter-layer dropout), MSE or Huber loss, no early stopping. ``engine="auto"``
uses this engine exactly when :func:`unsupported` returns ``None`` for the config (model ``lstm``,
``layers == 1``, early stopping off or ``val_fraction == 0``) and the loop engine otherwise;
``engine="fused"`` with an unsupported config raises :class:`~lstmtrade.errors.ConfigError`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .train import TrainHistory, TrainSettings
from .windows import Windows

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # torch.optim.Adam defaults, as train.fit uses them
ALIGN = 64  # each fold's flat parameter row is padded to a multiple of this (vector-width alignment)

FusedEpochCallback = Callable[[int, int, list], None]  # (epoch, epochs, per-fold training loss)


def unsupported(config) -> str | None:
    """Why the fused engine cannot train ``config``, or ``None`` when it can."""
    if config.model != "lstm":
        return f"model {config.model} is not an LSTM"
    if config.layers != 1:
        return f"layers={config.layers} (the fused engine trains one LSTM layer)"
    if config.early_stopping_active:
        return "early stopping is on (the fused engine trains a fixed number of epochs)"
    return None


@dataclass
class _Layout:
    """Offsets of each parameter in a fold's flat row: w_ih, w_hh, b_ih, b_hh, head.weight, head.bias."""

    F: int
    H: int

    def __post_init__(self):
        F, H = self.F, self.H
        sizes = [4 * H * F, 4 * H * H, 4 * H, 4 * H, H, 1]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        self.width = -(-self.offsets[-1] // ALIGN) * ALIGN

    def views(self, flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        K, F, H, o = flat.shape[0], self.F, self.H, self.offsets
        shapes = [(K, 4 * H, F), (K, 4 * H, H), (K, 4 * H), (K, 4 * H), (K, H), (K, 1)]
        return tuple(flat[:, o[i]: o[i + 1]].view(shape) for i, shape in enumerate(shapes))


def stack_nets(nets: Sequence[torch.nn.Module]) -> tuple[torch.Tensor, _Layout]:
    """Flat (K, width) parameter stack of single-layer LSTMRegressors (zero padding at the row ends)."""
    lstm = nets[0].lstm
    layout = _Layout(lstm.input_size, lstm.hidden_size)
    flat = torch.zeros(len(nets), layout.width, dtype=torch.float32, device=lstm.weight_ih_l0.device)
    for view, name in zip(layout.views(flat), ("lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                                                "lstm.bias_hh_l0", "head.weight", "head.bias")):
        for k, net in enumerate(nets):
            view[k].copy_(net.get_parameter(name).detach().reshape(view[k].shape))
    return flat, layout


def unstack_nets(flat: torch.Tensor, layout: _Layout, nets: Sequence[torch.nn.Module]) -> None:
    """Copy each fold's trained row back into its LSTMRegressor (in place)."""
    with torch.no_grad():
        for view, name in zip(layout.views(flat), ("lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                                                    "lstm.bias_hh_l0", "head.weight", "head.bias")):
            for k, net in enumerate(nets):
                param = net.get_parameter(name)
                param.copy_(view[k].reshape(param.shape))


def lstm_forward(x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                 b_hh: torch.Tensor):
    """Batched single-layer LSTM over K independent folds, zero initial state (``nn.LSTM``'s equations).

    x (K, B, T, F) -> (hs, cache) with hs (T+1, K, B, H) time-major: hs[0] = 0 and hs[t+1] = h_t.
    Buffers are time-major so that every per-step slice is contiguous.
    """
    K, B, T, F = x.shape
    H = w_hh.shape[-1]
    xt = x.permute(2, 0, 1, 3).contiguous()  # (T, K, B, F)
    xp = torch.matmul(xt, w_ih.transpose(1, 2).contiguous())  # (T, K, B, 4H)
    xp += (b_ih + b_hh)[:, None, :]
    whh_t = w_hh.transpose(1, 2).contiguous()  # (K, H, 4H)
    acts = x.new_empty(T, K, B, 4 * H)
    hs = x.new_empty(T + 1, K, B, H)
    cs = x.new_empty(T + 1, K, B, H)
    tcs = x.new_empty(T, K, B, H)
    hs[0].zero_()
    cs[0].zero_()
    for t in range(T):
        gates = torch.baddbmm(xp[t], hs[t], whh_t)
        a = acts[t]
        torch.sigmoid(gates, out=a)
        a[..., 2 * H: 3 * H] = torch.tanh(gates[..., 2 * H: 3 * H])
        c = cs[t + 1]
        torch.mul(a[..., H: 2 * H], cs[t], out=c)
        c.addcmul_(a[..., :H], a[..., 2 * H: 3 * H])
        torch.tanh(c, out=tcs[t])
        torch.mul(a[..., 3 * H:], tcs[t], out=hs[t + 1])
    return hs, (xt, acts, cs, tcs, hs)


def _backward(cache, w_hh: torch.Tensor, dh_last: torch.Tensor):
    """Gradients (w_ih, w_hh, b) of the loss given dL/dh_T (K, B, H); backprop through the whole window."""
    xt, acts, cs, tcs, hs = cache
    T, K, B, H4 = acts.shape
    H, F = H4 // 4, xt.shape[-1]
    # local derivatives of the pre-activations, vectorised over all steps (d pre = upstream * deriv):
    # i: dc * g * i(1-i);  f: dc * c_{t-1} * f(1-f);  g: dc * i * (1-g^2);  o: dh * tanh(c) * o(1-o)
    deriv = acts * (1 - acts)
    i, g = acts[..., :H], acts[..., 2 * H: 3 * H]
    deriv[..., :H] *= g
    deriv[..., H: 2 * H] *= cs[:T]
    deriv[..., 2 * H: 3 * H] = (1 - g * g) * i
    deriv[..., 3 * H:] *= tcs
    dc_from_h = acts[..., 3 * H:] * (1 - tcs * tcs)  # dc_t += dh_t * o * (1 - tanh(c_t)^2)
    f_all = acts[..., H: 2 * H]
    w_hh = w_hh.contiguous()
    g_whh = xt.new_zeros(K, H4, H)
    g_wih = xt.new_zeros(K, H4, F)
    g_b = xt.new_zeros(K, B, H4)
    dh = dh_last
    dc = torch.zeros_like(dh_last)
    for t in range(T - 1, -1, -1):
        dc.addcmul_(dh, dc_from_h[t])
        d = torch.mul(deriv[t].view(K, B, 4, H), dc[:, :, None, :]).view(K, B, H4)
        d[..., 3 * H:] = deriv[t, ..., 3 * H:] * dh
        g_b += d
        dt = d.transpose(1, 2)
        g_whh.baddbmm_(dt, hs[t])
        g_wih.baddbmm_(dt, xt[t])
        if t:
            dc.mul_(f_all[t])
            dh = torch.bmm(d, w_hh)
    return g_wih, g_whh, g_b.sum(1)


def _loss_grad(pred: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, count: torch.Tensor, loss: str):
    """Per-fold mean loss over real rows (K,) and its gradient w.r.t. pred (K, B)."""
    err = pred - y
    if loss == "huber":  # nn.HuberLoss(delta=1.0)
        small = err.abs() < 1.0
        value = torch.where(small, 0.5 * err * err, err.abs() - 0.5)
        grad = torch.where(small, err, err.sign())
    else:
        value, grad = err * err, 2 * err
    scale = weight / count[:, None]
    return (value * scale).sum(-1), grad * scale


def fused_grads(flat: torch.Tensor, layout: _Layout, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor,
                count: torch.Tensor, loss: str = "mse"):
    """Per-fold losses (K,) and gradients (K, width) for one batch per fold: x (K, B, T, F), y (K, B)."""
    w_ih, w_hh, b_ih, b_hh, w_head, b_head = layout.views(flat)
    hs, cache = lstm_forward(x, w_ih, w_hh, b_ih, b_hh)
    h_last = hs[-1]  # (K, B, H)
    pred = torch.baddbmm(b_head[:, :, None], h_last, w_head[:, :, None]).squeeze(-1)  # (K, B)
    losses, dpred = _loss_grad(pred, y, weight, count, loss)
    grad = torch.zeros_like(flat)
    gw_ih, gw_hh, gb_ih, gb_hh, gw_head, gb_head = layout.views(grad)
    gw_head.copy_(torch.bmm(dpred[:, None, :], h_last).squeeze(1))
    gb_head.copy_(dpred.sum(-1, keepdim=True))
    dh_last = dpred[:, :, None] * w_head[:, None, :]
    g_wih, g_whh, g_b = _backward(cache, w_hh, dh_last)
    gw_ih.copy_(g_wih)
    gw_hh.copy_(g_whh)
    gb_ih.copy_(g_b)
    gb_hh.copy_(g_b)
    return losses, grad


class StackedAdam:
    """torch.optim.Adam's update over stacked fold rows, with a step count per fold."""

    def __init__(self, flat: torch.Tensor, lr: float):
        self.lr = lr
        self.exp_avg = torch.zeros_like(flat)
        self.exp_avg_sq = torch.zeros_like(flat)
        self.steps = torch.zeros(flat.shape[0], dtype=torch.float64)

    def step(self, flat: torch.Tensor, grad: torch.Tensor, live: torch.Tensor) -> None:
        """Update the rows where ``live`` is true; the others keep weights, moments and step count.

        Every row is computed and the result selected with ``where``, so the arithmetic of a row never
        depends on which other rows are live (fixed shapes: bit-identical results).
        """
        self.steps += live.double()
        steps = self.steps.clamp_min(1.0)
        step_size = (self.lr / (1 - BETA1 ** steps)).to(flat)[:, None]
        bc2_sqrt = (1 - BETA2 ** steps).sqrt().to(flat)[:, None]
        m = torch.lerp(self.exp_avg, grad, 1 - BETA1)
        v = (self.exp_avg_sq * BETA2).addcmul_(grad, grad, value=1 - BETA2)
        denom = (v.sqrt() / bc2_sqrt).add_(EPS)
        p = flat - (m * step_size) / denom
        mask = live.to(flat.device)[:, None]
        self.exp_avg.copy_(torch.where(mask, m, self.exp_avg))
        self.exp_avg_sq.copy_(torch.where(mask, v, self.exp_avg_sq))
        flat.copy_(torch.where(mask, p, flat))


GROUP = 8  # folds trained together; fixed so that a fold's arithmetic never depends on how many follow


def fit_folds(nets: Sequence[torch.nn.Module], xs: Sequence, ys: Sequence[torch.Tensor],
              settings: TrainSettings, seeds: Sequence[int],
              on_epoch: FusedEpochCallback | None = None, group: int = GROUP) -> list[TrainHistory]:
    """Train single-layer LSTMRegressors ``nets[k]`` on ``(xs[k], ys[k])`` together, in place (``xs[k]``: an
    (N, T, F) tensor or :class:`~lstmtrade.forecast.windows.Windows`).

    Equivalent, fold by fold, to ``train.fit(nets[k], xs[k], ys[k], None, None, settings, seeds[k])``
    without early stopping: ``settings.epochs`` epochs of seeded batch order and Adam.

    Folds are trained in consecutive groups of ``group`` (the last group padded with dummy folds), and
    every step computes the whole group with inactive folds masked. Tensor shapes therefore depend only
    on the settings, never on the number of folds, so adding data (more folds) leaves the earlier folds'
    models bit-identical: the look-ahead guarantee holds for this engine too.
    """
    histories: list[TrainHistory] = []
    for lo in range(0, len(nets), group):
        real = len(nets[lo: lo + group])
        pad = group - real
        g_nets = list(nets[lo: lo + group]) + [copy.deepcopy(nets[lo]) for _ in range(pad)]
        first = Windows.of(xs[lo])
        dummy = Windows.dense(first.matrix.new_zeros(1, first.lookback, first.matrix.shape[1]))  # one zero window
        g_xs = [Windows.of(x) for x in xs[lo: lo + group]] + [dummy] * pad
        g_ys = list(ys[lo: lo + group]) + [ys[lo][:1] * 0 for _ in range(pad)]
        g_seeds = list(seeds[lo: lo + group]) + [0] * pad
        cb = None
        if on_epoch is not None:
            cb = lambda e, n, losses, real=real: on_epoch(e, n, losses[:real])  # noqa: E731
        histories.extend(_fit_group(g_nets, g_xs, g_ys, settings, g_seeds, cb)[:real])
    return histories


def _fit_group(nets, xs, ys, settings: TrainSettings, seeds, on_epoch) -> list[TrainHistory]:
    K = len(nets)
    device = xs[0].device
    flat, layout = stack_nets(nets)
    adam = StackedAdam(flat, settings.lr)
    B = settings.batch_size
    sizes = [len(x) for x in xs]
    n_max = max(sizes)
    T, F = xs[0].shape[1:]
    # every fold's feature rows in one matrix and each window's first row in it: a batch (K, B, T, F) is
    # gathered step by step, never the (K, n_max, T, F) array of every window
    matrix = torch.cat([x.matrix.to(device) for x in xs])
    offsets = [0]
    for x in xs[:-1]:
        offsets.append(offsets[-1] + len(x.matrix))
    starts = torch.zeros(K, n_max, dtype=torch.long, device=device)
    y_all = ys[0].new_zeros(K, n_max)
    for k in range(K):
        starts[k, : sizes[k]] = xs[k].starts.to(device) + offsets[k]
        y_all[k, : sizes[k]] = ys[k]
    steps = torch.arange(T, device=device)
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    batches = torch.tensor([-(-n // B) for n in sizes])
    n_steps = int(batches.max())
    rows = torch.arange(K, device=device)[:, None]
    histories = [TrainHistory() for _ in range(K)]
    for epoch in range(1, settings.epochs + 1):
        # per-fold batch index table (K, steps, B), padded with row 0 at zero weight
        index = torch.zeros(K, n_steps * B, dtype=torch.long)
        weight = torch.zeros(K, n_steps * B)
        for k in range(K):
            index[k, : sizes[k]] = torch.randperm(sizes[k], generator=generators[k])
            weight[k, : sizes[k]] = 1.0
        index, weight = index.view(K, n_steps, B), weight.view(K, n_steps, B).to(device)
        totals = torch.zeros(K, dtype=torch.float64)
        for s in range(n_steps):
            live = batches > s
            idx = index[:, s].to(device)
            w = weight[:, s]
            count = w.sum(-1).clamp_min(1.0)
            xb = matrix.index_select(0, (starts[rows, idx][..., None] + steps).reshape(-1)).view(K, B, T, F)
            yb = y_all[rows, idx]
            losses, grad = fused_grads(flat, layout, xb, yb, w, count, settings.loss)
            adam.step(flat, grad, live)
            totals += (losses.double() * count.double()).cpu() * live.double()
        epoch_losses = [float(totals[k]) / sizes[k] for k in range(K)]
        for k in range(K):
            histories[k].train_loss.append(epoch_losses[k])
            histories[k].epochs_run = histories[k].best_epoch = epoch
        if on_epoch is not None:
            on_epoch(epoch, settings.epochs, epoch_losses)
    unstack_nets(flat, layout, nets)
    for net in nets:
        net.eval()
    return histories
