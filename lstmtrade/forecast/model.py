"""Network architecture only: an ``nn.LSTM`` over a lookback window and a linear head."""
from __future__ import annotations

import torch
from torch import nn


class LSTMRegressor(nn.Module):
    """Maps a window of features (B, T, F) to one predicted return per window (B,)."""

    def __init__(self, n_features: int, hidden: int = 32, layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(
            input_size=n_features,
            hidden_size=hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,  # torch applies it between layers only
        )
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, H): gates and cell state unrolled over the window
        return self.head(out[:, -1]).squeeze(-1)  # last step's hidden state -> (B,)
