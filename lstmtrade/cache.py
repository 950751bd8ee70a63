"""Per-fold cache: a finished fold is never trained twice.

A fold's predictions depend only on the feature rows up to the end of its test range, the target rows
up to the end of its training range, the settings that affect training, and the library versions and
thread count that fix the float arithmetic. The cache key hashes exactly those, so a rerun that only
changes the strategy, threshold or costs reuses every fold, while changing a training setting or any
input row before a fold's end retrains exactly the folds it touches. Entries are written atomically as
each fold finishes, which is also what makes an interrupted run resumable.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

# Settings that do not change a fold's predictions (rows are hashed directly, so data/start/end too).
# ``seeds`` is not one of them in spirit, but each seed-ensemble member is cached on its own under its own
# seed, so member m of a run with --seed S is the entry of a one-seed run with --seed S + m.
NOT_TRAINING = {"data", "start", "end", "tickers", "strict", "benchmark", "strategy", "threshold", "params", "commission", "slippage", "cash",
                "baselines", "jobs", "cache", "save_models", "seeds"}


def _torch_version() -> str:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "none"


class FoldCache:
    """Folder of ``<key>.npz`` files holding one fold's predictions and its info dict."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def key(self, settings: dict[str, Any], model: str, threads: int, data: Any) -> str:
        """Hash of what fold ``data`` (a :class:`~lstmtrade.forecasters.FoldData`) depends on."""
        fold = data.fold
        digest = hashlib.sha256()
        relevant = {k: v for k, v in settings.items() if k not in NOT_TRAINING}
        digest.update(json.dumps({"settings": relevant, "model": model, "threads": threads,
                                  "torch": _torch_version(), "fold": fold.index, "fit": [fold.fit.start, fold.fit.stop],
                                  "val": [fold.val.start, fold.val.stop], "test": [fold.test.start, fold.test.stop]},
                                 sort_keys=True, default=str).encode())
        for p in data.pieces:  # each ticker's rows: features to the end of its test range, labels of training
            train_stop = (p.val or p.fit).stop
            digest.update(json.dumps([p.ticker, [p.fit.start, p.fit.stop], [p.val.start, p.val.stop],
                                      [p.test.start, p.test.stop]]).encode())
            digest.update(np.ascontiguousarray(p.features[: max(p.test.stop, train_stop)]).tobytes())
            digest.update(np.ascontiguousarray(p.label[:train_stop]).tobytes())
            digest.update(np.ascontiguousarray(p.target[:train_stop]).tobytes())
        return digest.hexdigest()[:32]

    def get(self, key: str) -> tuple[np.ndarray, dict] | None:
        path = self.folder / f"{key}.npz"
        try:
            with np.load(path, allow_pickle=False) as stored:
                values, info = stored["values"], json.loads(str(stored["info"]))
        except (OSError, KeyError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return values, info

    def put(self, key: str, values: np.ndarray, info: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fold-", suffix=".npz", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, values=np.asarray(values, dtype="float64"), info=np.array(json.dumps(info)))
            os.replace(tmp, self.folder / f"{key}.npz")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
