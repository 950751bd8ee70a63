"""Per-fold cache: a finished fold is never trained twice.

A fold's predictions depend only on the feature rows up to the end of its test range, the target rows
up to the end of its training range, the settings that affect training, and the library versions and
thread count that fix the float arithmetic. The cache key hashes exactly those, so a rerun that only
changes the strategy, threshold or costs reuses every fold, while changing a training setting or any
input row before a fold's end retrains exactly the folds it touches. Entries are written atomically as
each fold finishes, which is also what makes an interrupted run resumable.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

# Settings that do not change a fold's predictions (rows are hashed directly, so data/start/end too).
# ``seeds`` is not one of them in spirit, but each seed-ensemble member is cached on its own under its own
# seed, so member m of a run with --seed S is the entry of a one-seed run with --seed S + m.
NOT_TRAINING = {"data", "start", "end", "tickers", "strict", "benchmark", "strategy", "threshold", "params", "commission", "slippage", "cash",
                "baselines", "jobs", "cache", "save_models", "date_format", "periods_per_year", "seeds"}
DEFAULT_NOT_HASHED = {"xs_norm": "none"}  # settings added later: at their default, left out (earlier keys hold)


@functools.lru_cache(maxsize=None)
def _torch_version() -> str:
    """torch's version from its package metadata (read once: each read parses the METADATA file)."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "none"


THREADS_FILE = "torch-threads.json"  # in the cache folder: torch's default thread count per environment
_default_threads: int | None = None  # torch's default thread count in this process, once known


def _environment_id() -> str:
    """What torch's default number of threads depends on: torch, the machine and its CPUs, and the
    variables torch reads (it uses OMP_NUM_THREADS or MKL_NUM_THREADS, else the physical cores)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return json.dumps([_torch_version(), platform.node(), platform.machine(), os.cpu_count(), cpus,
                       os.environ.get("OMP_NUM_THREADS"), os.environ.get("MKL_NUM_THREADS")])


def default_torch_threads() -> int | None:
    """torch's default thread count in this process if torch is loaded or a fold cache looked it up."""
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    return _default_threads


class FoldCache:
    """Folder of ``<key>.npz`` files holding one fold's predictions and its info dict."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def key(self, settings: dict[str, Any], model: str, threads: int, data: Any) -> str:
        """Hash of what fold ``data`` (a :class:`~lstmtrade.forecast.folds.FoldData`) depends on."""
        fold = data.fold
        digest = hashlib.sha256()
        relevant = {k: v for k, v in settings.items()
                    if k not in NOT_TRAINING and not (k in DEFAULT_NOT_HASHED and v == DEFAULT_NOT_HASHED[k])}
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

    def torch_threads(self) -> int:
        """torch's current thread count (part of every key), without importing torch when it can.

        Importing torch takes about a second, which a rerun whose folds all come from the cache would
        otherwise spend on this one number. A fresh import gives torch's default for the environment
        (:func:`_environment_id`), so the default is kept in the cache folder and read from there while
        torch is not loaded; once torch is loaded (maybe with ``set_num_threads``) torch itself answers.
        """
        global _default_threads
        if "torch" in sys.modules:
            return sys.modules["torch"].get_num_threads()
        path = self.folder / THREADS_FILE
        environment = _environment_id()
        try:
            known = json.loads(path.read_text())
            threads = known[environment]
            if isinstance(threads, int) and threads > 0:
                _default_threads = threads
                return threads
        except (OSError, ValueError, KeyError, TypeError):
            known = {}
        import torch

        _default_threads = threads = torch.get_num_threads()  # a fresh import: the default
        known = known if isinstance(known, dict) else {}
        try:
            self._write_json(path, {**known, environment: threads})
        except OSError:
            pass  # only costs the next rerun the import
        return threads

    def _write_json(self, path: Path, payload: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".threads-", suffix=".json", dir=self.folder)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(payload, handle)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
