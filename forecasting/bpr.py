"""The BPR optimisation of `forecasting.embeddings.ItemEmbeddings`: its loss, one mini-batch step,
and the lazy Adam that makes an epoch cost in proportion to the rentals rather than to the users.

Split from the model so that the model module reads as what it offers (fit, recommend,
neighbours, substitutes, save/load) and this one as how it learns.
"""

from __future__ import annotations

import torch

__all__ = ["LazyAdam", "bpr_loss", "bpr_step"]


class LazyAdam:
    """Adam that moves only the rows a batch touched.

    A dense optimiser step walks every row (105k users on RTR) for a batch that touches 4k; this
    one keeps Adam's moments per row and updates the touched rows only (bias correction by the
    global step count, as TensorFlow's LazyAdam), so an epoch costs in proportion to the rentals.
    """

    def __init__(self, weight: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.weight, self.lr, self.betas = weight, lr, betas
        self.m = torch.zeros_like(weight)
        self.v = torch.zeros_like(weight)
        self.t = 0

    def step(self, rows: torch.Tensor, grad: torch.Tensor) -> None:
        """Apply the gradient ``grad`` of the gathered rows ``rows`` (a row may repeat: summed)."""
        uniq, inverse = torch.unique(rows, return_inverse=True)
        g = torch.zeros((len(uniq), *grad.shape[1:]), dtype=grad.dtype, device=grad.device)
        g.index_add_(0, inverse, grad)
        b1, b2 = self.betas
        self.t += 1
        m = self.m[uniq] * b1 + (1 - b1) * g
        v = self.v[uniq] * b2 + (1 - b2) * g * g
        self.m[uniq], self.v[uniq] = m, v
        update = (m / (1 - b1**self.t)) / ((v / (1 - b2**self.t)).sqrt() + 1e-8)
        self.weight[uniq] -= self.lr * update


def bpr_step(steps: list[LazyAdam], u: torch.Tensor, i: torch.Tensor, j: torch.Tensor, l2: float) -> None:
    """One mini-batch: BPR gradients of the rows used, applied by the lazy Adam of each table."""
    user, item, bias = (s.weight for s in steps)
    # Gathered copies as leaves: their gradients are per batch row, never a whole table.
    p_u, p_i, p_j, b_i, b_j = (t.requires_grad_(True) for t in (user[u], item[i], item[j], bias[i], bias[j]))
    loss = bpr_loss(p_u, p_i, p_j, b_i, b_j, l2)
    g_u, g_i, g_j, g_bi, g_bj = torch.autograd.grad(loss, [p_u, p_i, p_j, b_i, b_j])
    steps[0].step(u, g_u)
    both = torch.cat([i, j])
    steps[1].step(both, torch.cat([g_i, g_j]))
    steps[2].step(both, torch.cat([g_bi, g_bj]))


def bpr_loss(
    u: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, b_pos: torch.Tensor, b_neg: torch.Tensor, l2: float
) -> torch.Tensor:
    """BPR: ``-log sigmoid(s_ui - s_uj)`` averaged over the batch, plus L2 on the vectors used."""
    diff = (u * (pos - neg)).sum(dim=1) + b_pos - b_neg
    penalty = l2 * (u.pow(2).sum() + pos.pow(2).sum() + neg.pow(2).sum()) / len(u)
    return -torch.nn.functional.logsigmoid(diff).mean() + penalty
