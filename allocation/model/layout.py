"""Where each variable block and constraint family sits in the allocation LP.

Its own module so that the constraint families (``rules``) and the builder (``network``) both use
it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Layout"]


@dataclass
class Layout:
    """Where each variable block and constraint family sits in the problem."""

    K: int
    S: int
    T: int
    off_I: int
    off_D: int
    off_C: int
    off_X: int
    off_Y: int
    off_TR: int
    n: int
    tr_k: np.ndarray
    tr_a: np.ndarray
    tr_b: np.ndarray
    tr_tau: np.ndarray
    tr_days: np.ndarray
    row_blocks: dict[str, tuple[int, int]]
