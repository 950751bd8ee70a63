"""Training and prediction windows gathered batch by batch: the same floats as whole windows, in rows x features."""
import numpy as np
import torch

from lstmtrade.config import Config
from lstmtrade.features import windows
from lstmtrade.forecast.folds import FoldData, calendar_of, fold_pieces, frames_of, rows_of, ticker_series
from lstmtrade.forecast.lstm import prepare_lstm_fold
from lstmtrade.forecast.windows import Windows
from lstmtrade.splits import WalkForward


def test_gathered_windows_are_the_whole_windows_bit_for_bit():
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    rows = np.array([4, 9, 49, 20, 4])
    whole = torch.from_numpy(windows(x, rows, lookback=5))
    w = Windows(torch.from_numpy(x), torch.from_numpy(rows - 4), 5)
    assert len(w) == 5 and w.shape == (5, 5, 3)
    assert torch.equal(w[torch.arange(5)], whole)
    assert torch.equal(w[1:3], whole[1:3])
    assert torch.equal(w[torch.tensor([3, 0])], whole[[3, 0]])
    dense = Windows.dense(whole)  # an (N, T, F) tensor wrapped, as tests and callers may pass
    assert torch.equal(dense[torch.tensor([2, 1])], whole[[2, 1]])


def test_a_fold_keeps_each_tickers_feature_rows_once(prices):
    """Every training window equals what the whole (N, T, F) array held (scaled, then float32), while the
    fold stores only the rows those windows touch: memory in rows x features, not rows x lookback."""
    config = Config(lookback=15, min_train=300, retrain_every=100)
    frames, universe = frames_of({"A": prices, "B": prices.slice(start="2001-01-01")})
    series = ticker_series(frames, calendar_of(frames), config, universe)
    fold = WalkForward(300, 100, None, 15, 0.2).split(len(calendar_of(frames)), 20)[1]
    data = FoldData(fold, lookback=15, pieces=fold_pieces(fold, series, 20 + 14))
    prepared = prepare_lstm_fold(data, config, torch.device("cpu"))
    from lstmtrade.forecast.folds import fit_scaler

    expected_fit, expected_val = [], []
    for p in data.pieces:
        x = fit_scaler(p, 15).transform(p.features)
        expected_fit.append(windows(x, p.fit, 15).astype(np.float32))
        expected_val.append(windows(x, p.val, 15).astype(np.float32))
    x_fit = prepared.x_fit[torch.arange(len(prepared.x_fit))]
    assert torch.equal(x_fit, torch.from_numpy(np.concatenate(expected_fit)))
    assert torch.equal(prepared.x_val[0:len(prepared.x_val)], torch.from_numpy(np.concatenate(expected_val)))
    touched = sum(len(rows_of(range(p.fit.start - 14, p.val.stop))) for p in data.pieces)
    assert prepared.x_fit.matrix.shape == (touched, 6) and prepared.x_val.matrix is prepared.x_fit.matrix
