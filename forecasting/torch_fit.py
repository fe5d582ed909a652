"""The one training loop of the torch models: mini-batch Adam with early stopping, deterministic.

`NeuralDemand` and `LateReturnHazard` differ in their networks, losses and data, not in how they
are trained: shuffle with a seeded generator, step through mini-batches, score the validation
window after each epoch, keep the best epoch's weights, stop after ``patience`` epochs without
improvement. Keeping that here means a fix (say, to how ties or an empty validation window are
handled) reaches both.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["TrainSettings", "deterministic", "fit_early_stopping", "pick_device"]


def pick_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def deterministic(device: torch.device, threads: int | None = None) -> Iterator[None]:
    """Deterministic kernels (warn-only on CUDA, where some have no deterministic variant) and,
    optionally, a thread count, for the block; the caller's settings come back afterwards."""
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(was_threads)


@dataclass(frozen=True)
class TrainSettings:
    """How long and how fast to train."""

    epochs: int
    batch: int
    patience: int
    lr: float
    weight_decay: float = 0.0


Loss = Callable[..., torch.Tensor]


def fit_early_stopping(
    net: nn.Module,
    loss: Loss,
    train: Sequence[torch.Tensor],
    valid: Sequence[torch.Tensor] | None,
    settings: TrainSettings,
    seed: int,
) -> tuple[int, int, dict[str, np.ndarray]]:
    """Train ``net`` on ``train`` (tensors with rows in step, on the net's device); ``loss(net,
    *rows)`` is the objective. Returns the epochs run, the best epoch and its weights as float32
    arrays. Without a validation window the last epoch is the best."""
    s = settings
    opt = torch.optim.Adam(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    shuffle = torch.Generator().manual_seed(seed)
    device = train[0].device
    rows = len(train[0])
    best, best_epoch, best_state, stale, epoch = math.inf, 0, copy.deepcopy(net.state_dict()), 0, 0
    for epoch in range(1, s.epochs + 1):
        net.train()
        order = torch.randperm(rows, generator=shuffle).to(device)
        for b in range(0, rows, s.batch):
            idx = order[b : b + s.batch]
            opt.zero_grad()
            step_loss = loss(net, *(t[idx] for t in train))
            step_loss.backward()
            opt.step()
        if valid is None:
            best_epoch, best_state = epoch, copy.deepcopy(net.state_dict())
            continue
        net.eval()
        with torch.no_grad():
            v = float(loss(net, *valid))
        if v < best:
            best, best_epoch, best_state, stale = v, epoch, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= s.patience:
                break
    state = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in best_state.items()}
    return epoch, best_epoch, state
