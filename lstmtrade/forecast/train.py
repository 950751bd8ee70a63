"""The one training loop: seeded batches, Adam, MSE or Huber, early stopping on a validation tail.

Backpropagation through time runs over each fixed lookback window (the whole window is one sequence).
Everything random (weight init, batch order) is drawn from generators seeded per fold, so a fold's
model depends only on its own rows and the seed: never on other folds or on rows after it.
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

EpochCallback = Callable[[int, int, float], None]  # (epoch, epochs, validation or training loss)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    loss: str = "mse"  # mse | huber
    early_stopping: bool = True
    patience: int = 3


@dataclass
class TrainHistory:
    epochs_run: int = 0
    best_epoch: int = 0
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random (the per-fold generators below do not depend on this)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fold_seed(seed: int, fold: int) -> int:
    """A well-mixed seed for one fold, independent of how many folds there are."""
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])


def make_adam(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam; the fused single-kernel update where this torch and device have it (about 8 % faster per
    step on a 2-core CPU for these small models), else torch's default implementation."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=lr)


def loss_function(name: str) -> nn.Module:
    return nn.HuberLoss(delta=1.0) if name == "huber" else nn.MSELoss()


def fit(model: nn.Module, x_fit: torch.Tensor, y_fit: torch.Tensor, x_val: torch.Tensor | None,
        y_val: torch.Tensor | None, settings: TrainSettings, seed: int,
        on_epoch: EpochCallback | None = None, engine: str = "loop") -> TrainHistory:
    """Train ``model`` in place; with early stopping, restore the weights of the best validation epoch.

    Shapes: x (N, T, F), y (N,), all on the model's device; x may be a dense tensor or
    :class:`~lstmtrade.forecast.windows.Windows` (gathered batch by batch, the same floats). ``engine`` runs each epoch's minibatches:
    ``loop`` with torch autograd and Adam, ``native`` in the C kernel (:mod:`lstmtrade.forecast.native`, one
    LSTM layer on the CPU). Batch order, initial weights, early stopping and the returned history are
    the same for both.
    """
    generator = torch.Generator().manual_seed(seed)
    criterion = loss_function(settings.loss)
    if engine == "native":
        from .native import NativeTrainer

        run_epoch = NativeTrainer(model, x_fit, y_fit, settings.batch_size, settings.lr, settings.loss).epoch
    else:
        run_epoch = _torch_epoch(model, x_fit, y_fit, settings, criterion)
    use_val = settings.early_stopping and x_val is not None and len(x_val) > 0
    history = TrainHistory()
    best, best_state, waited = float("inf"), None, 0
    n = len(x_fit)
    for epoch in range(1, settings.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=generator)
        history.train_loss.append(run_epoch(order))
        history.epochs_run = epoch
        if use_val:
            val = evaluate_loss(model, x_val, y_val, criterion)
            history.val_loss.append(val)
            if val < best - 1e-12:
                best, best_state, waited, history.best_epoch = val, copy.deepcopy(model.state_dict()), 0, epoch
            else:
                waited += 1
        else:
            history.best_epoch = epoch
        if on_epoch is not None:
            on_epoch(epoch, settings.epochs, history.val_loss[-1] if use_val else history.train_loss[-1])
        if use_val and waited >= settings.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def _torch_epoch(model: nn.Module, x_fit: torch.Tensor, y_fit: torch.Tensor, settings: TrainSettings,
                 criterion: nn.Module) -> Callable[[torch.Tensor], float]:
    """The loop engine's epoch: minibatches in the given order, an Adam step after each."""
    optimizer = make_adam(model, settings.lr)
    n = len(x_fit)

    def run_epoch(order: torch.Tensor) -> float:
        order = order.to(x_fit.device)
        total = 0.0
        for lo in range(0, n, settings.batch_size):
            idx = order[lo: lo + settings.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(x_fit[idx]), y_fit[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        return total / n

    return run_epoch


@torch.no_grad()
def evaluate_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: nn.Module) -> float:
    was_training = model.training
    model.eval()
    loss = criterion(predict(model, x), y).item()
    model.train(was_training)
    return loss


PREDICT_CHUNK = 256  # fixed batch shape: row t's prediction is bit-identical however many rows follow


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predictions for windows x (N, T, F) -> (N,), computed in zero-padded chunks of a fixed size (x: a tensor
    or :class:`~lstmtrade.forecast.windows.Windows`, each chunk gathered as it is predicted).

    Padding every chunk to the same shape makes each row's result independent of how many rows are
    predicted with it, so truncating the data cannot change a prediction even in its last bit.
    """
    model.eval()
    outputs = []
    for lo in range(0, len(x), PREDICT_CHUNK):
        chunk = x[lo: lo + PREDICT_CHUNK]
        pad = PREDICT_CHUNK - len(chunk)
        if pad:
            chunk = torch.cat([chunk, chunk.new_zeros((pad,) + tuple(chunk.shape[1:]))])
        outputs.append(model(chunk)[: PREDICT_CHUNK - pad])
    return torch.cat(outputs) if outputs else torch.zeros(0, device=x.device)
