"""Lookback windows gathered batch by batch from one feature matrix, never all held at once.

A fold trains on N windows of T bars x F features. Held as one (N, T, F) array they cost T times the
feature matrix itself (20x at the default lookback: 2 GB for a 1,000-ticker fold), and for nothing: every
window is T consecutive rows of its ticker's scaled feature matrix. :class:`Windows` keeps that matrix
(every ticker's rows that any window touches, stacked) and each window's first row, and builds a batch
(B, T, F) only when asked. The values are the very floats the whole array would hold, so training and
prediction are bit for bit what they were.

A window is also T x F contiguous floats of the row-major matrix, which is how the native kernel reads
it: it takes the matrix and the window starts as they are (:mod:`lstmtrade.forecast.native`).

torch is imported only when windows are made (a rerun served from the fold cache never loads it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


class Windows:
    """(N, T, F) windows, stored as a (rows, F) float32 matrix and N start rows; indexes like a tensor.

    ``windows[idx]`` (a tensor or array of window numbers, or a slice) returns the gathered (B, T, F) tensor.
    """

    def __init__(self, matrix: torch.Tensor, starts: torch.Tensor, lookback: int):
        self.matrix = matrix  # (rows, F) float32
        self.starts = starts  # (N,) int64: first matrix row of each window
        import torch

        self.lookback = int(lookback)
        self._steps = torch.arange(self.lookback, dtype=torch.int64, device=matrix.device)

    @classmethod
    def dense(cls, x: torch.Tensor) -> "Windows":
        """Windows over an (N, T, F) tensor as given (a view of it, no copy when it is contiguous)."""
        import torch

        n, lookback, features = x.shape
        x = x.contiguous()
        return cls(x.reshape(n * lookback, features), torch.arange(n, dtype=torch.int64, device=x.device) * lookback,
                   lookback)

    @classmethod
    def of(cls, x: Any) -> "Windows":
        """``x`` as Windows: itself, or a dense (N, T, F) tensor wrapped."""
        return x if isinstance(x, Windows) else cls.dense(x)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.starts), self.lookback, self.matrix.shape[1]

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    def __getitem__(self, index: Any) -> torch.Tensor:
        starts = self.starts[index]
        if not isinstance(index, slice):
            starts = starts.reshape(-1)
        rows = (starts[:, None] + self._steps).reshape(-1)
        return self.matrix.index_select(0, rows).view(len(starts), self.lookback, self.matrix.shape[1])


def scaled_windows(features: np.ndarray, scaler: Any, spans: list[Any], lookback: int) -> tuple[np.ndarray, list]:
    """One ticker's scaled rows that the windows ending at the rows of ``spans`` touch (float32, only those rows
    scaled), and each span's window starts in it. ``spans``: ranges or arrays of rows, not all empty."""
    spans = [np.asarray(s, dtype=np.int64) for s in spans]
    used = [s for s in spans if len(s)]
    lo = min(int(s.min()) for s in used) - lookback + 1
    hi = max(int(s.max()) for s in used) + 1
    return scaler.transform(features[lo:hi]).astype(np.float32), [s - lookback + 1 - lo for s in spans]
