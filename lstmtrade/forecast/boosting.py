"""The ``lightgbm`` forecaster: gradient-boosted trees on exactly what the LSTM sees.

On qlib's own benchmark tables gradient-boosted trees are the traditional model to beat, so the comparison
is made on equal terms: the same folds, the same training rows (windows of ``config.lookback`` bars after
the features' warm-up), the same per-ticker scaling fit on training rows only, the same label, and early
stopping on the same purged validation tail the LSTM stops on. The only difference is the model: each
window of ``lookback x features`` values is flattened into one row of ``lookback * features`` columns.

Deterministic for a seed: each fold seeds LightGBM with the per-fold seed the LSTM uses
(``SeedSequence([seed, fold])``), and LightGBM runs with ``deterministic=True`` and row-wise histograms,
so the same rows, settings and thread count give the same trees. It runs on ``config.threads`` threads, and on
one when that is 0: LightGBM's results may depend on its thread count, so the default does not depend on the
machine, and OpenMP threads that wait by spinning can make two threads much slower than one on a small
machine shared with other work.

LightGBM is an optional extra (``pip install "lstmtrade[lightgbm]"``), imported only when a fold needs it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..config import Config, Progress
from ..errors import ConfigError
from ..features import windows
from .folds import FoldData, fit_scaler, rows_of

INSTALL_HINT = 'the lightgbm forecaster needs LightGBM: pip install "lstmtrade[lightgbm]"'
# Shallow, heavily regularised trees for noisy daily returns; a small learning rate with early stopping
# decides how many of them a fold keeps (at most MAX_ROUNDS, stopping after STOP_ROUNDS without a better
# validation loss). Chosen once, never tuned on test data.
PARAMS = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 200,
          "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 10.0,
          "max_bin": 63, "verbosity": -1, "deterministic": True, "force_row_wise": True}
MAX_ROUNDS = 500
STOP_ROUNDS = 50


def import_lightgbm() -> Any:
    """The lightgbm module, or a one-line ConfigError with the install command."""
    try:
        import lightgbm
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return lightgbm


def _flat(x: np.ndarray, rows: range, lookback: int) -> np.ndarray:
    """Windows ending at each row, flattened to (rows, lookback * features) float32 (oldest bar first)."""
    w = windows(x, rows, lookback)
    return w.reshape(len(w), -1).astype(np.float32)


class LightGBM:
    @staticmethod
    def fit_predict(data: FoldData, config: Config, state: Any, progress: Progress | None):
        lgb = import_lightgbm()
        lookback = data.lookback
        labels = np.concatenate([p.label[rows_of(p.fit)] for p in data.pieces])
        y_mean, y_std = float(labels.mean()), float(labels.std()) or 1.0
        scaled, fit_x, fit_y, val_x, val_y = [], [], [], [], []
        for p in data.pieces:
            x = fit_scaler(p, lookback).transform(p.features)
            scaled.append(x)
            fit_x.append(_flat(x, p.fit, lookback))
            fit_y.append(p.label[rows_of(p.fit)])
            if len(p.val):
                val_x.append(_flat(x, p.val, lookback))
                val_y.append(p.label[rows_of(p.val)])
        standard = lambda ys: (np.concatenate(ys) - y_mean) / y_std  # noqa: E731
        train = lgb.Dataset(np.concatenate(fit_x), standard(fit_y), free_raw_data=True)
        del fit_x
        seed = int(np.random.SeedSequence([config.seed, data.fold.index]).generate_state(1)[0]) % (2**31 - 1)
        params = {**PARAMS, "seed": seed, "num_threads": config.threads or 1}
        stop = config.early_stopping_active and bool(val_x)
        kwargs: dict[str, Any] = {}
        if stop:
            valid = lgb.Dataset(np.concatenate(val_x), standard(val_y), reference=train)
            kwargs = {"valid_sets": [valid], "valid_names": ["validation"],
                      "callbacks": [lgb.early_stopping(STOP_ROUNDS, verbose=False)]}
        booster = lgb.train(params, train, num_boost_round=MAX_ROUNDS, **kwargs)
        rounds = booster.best_iteration if stop and booster.best_iteration > 0 else booster.current_iteration()
        tests = [_flat(x, p.test, lookback) for x, p in zip(scaled, data.pieces) if len(p.test)]
        if not tests:
            return np.zeros(0), {"rounds": rounds}
        values = booster.predict(np.concatenate(tests), num_iteration=rounds) * y_std + y_mean
        return np.asarray(values, dtype="float64"), {"rounds": int(rounds)}
