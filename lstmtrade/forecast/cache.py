"""Per-fold cache: a finished fold is never trained twice.

A fold's predictions depend only on the feature rows up to the end of its test range, the target rows
up to the end of its training range, the settings that affect training, and the library versions and
thread count that fix the float arithmetic. The cache key hashes exactly those, so a rerun that only
changes the strategy, threshold or costs reuses every fold, while changing a training setting or any
input row before a fold's end retrains exactly the folds it touches. Entries are written atomically as
each fold finishes, which is also what makes an interrupted run resumable.

Every entry carries a sha256 over its key, its values and its info, and :meth:`FoldCache.get` is the one read
path: an entry that does not load, has the wrong number of values, or fails its checksum (cut short, emptied,
a flipped byte, values edited by hand) is removed, counted in ``damaged`` and reported in one warning line,
and its fold is retrained. A cache folder that cannot be written (permission denied, a full disk) turns the
cache off for the rest of the run with one warning; the run goes on.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..files import atomic_write, ensure_folder

# Settings that do not change a fold's predictions (rows are hashed directly, so data/start/end too).
# ``seeds`` is not one of them in spirit, but each seed-ensemble member is cached on its own under its own
# seed, so member m of a run with --seed S is the entry of a one-seed run with --seed S + m.
NOT_TRAINING = {"data", "start", "end", "tickers", "strict", "benchmark", "strategy", "threshold", "params", "commission",
                "slippage", "cash", "borrow", "borrow_file", "spread", "impact", "max_participation", "min_commission",
                "capacity", "baselines", "jobs", "cache", "save_models", "date_format", "periods_per_year", "seeds",
                "tracking", "backend", "ray_address"}
DEFAULT_NOT_HASHED = {"xs_norm": "none"}  # settings added later: at their default, left out (earlier keys hold)


@functools.lru_cache(maxsize=None)
def _torch_version() -> str:
    """torch's version from its package metadata (read once: each read parses the METADATA file)."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "none"


FORMAT = 2  # entries carry a checksum; part of every key, so entries written before checksums are never read
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


class CacheWarning(UserWarning):
    """A damaged fold-cache entry was removed, or the cache could not be written (Python API without progress)."""


def _warn(text: str) -> None:
    warnings.warn(text, CacheWarning, stacklevel=3)


class FoldCache:
    """Folder of ``<key>.npz`` files holding one fold's predictions, its info dict and their checksum.

    ``warn`` receives each warning line (a damaged entry removed, the cache turned off); by default a
    :class:`CacheWarning`. ``damaged`` lists the entries removed (``"<key>.npz: why"``); ``off`` says why
    caching stopped, or is None.
    """

    def __init__(self, folder: str | Path, warn: Callable[[str], None] | None = None):
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0
        self.damaged: list[str] = []
        self.off: str | None = None
        self.warn = warn or _warn
        self._reported = 0

    def key(self, settings: dict[str, Any], model: str, threads: int, data: Any) -> str:
        """Hash of what fold ``data`` (a :class:`~lstmtrade.forecast.folds.FoldData`) depends on."""
        fold = data.fold
        digest = hashlib.sha256()
        relevant = {k: v for k, v in settings.items()
                    if k not in NOT_TRAINING and not (k in DEFAULT_NOT_HASHED and v == DEFAULT_NOT_HASHED[k])}
        digest.update(json.dumps({"format": FORMAT, "settings": relevant, "model": model, "threads": threads,
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
        ensure_folder(self.folder)
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(payload), encoding="utf-8"))

    def get(self, key: str, rows: int | None = None) -> tuple[np.ndarray, dict] | None:
        """The entry's ``(values, info)``, verified; None when missing, unreadable here or damaged (removed).

        ``rows``: how many predictions the fold makes; an entry holding another number is damaged."""
        path = self.folder / f"{key}.npz"
        why = None
        try:
            with np.load(path, allow_pickle=False) as stored:
                values, text, checksum = stored["values"], str(stored["info"]), str(stored["sha256"])
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            self.misses += 1  # absent, or a folder this user may not read: not damage
            return None
        except Exception as exc:  # noqa: BLE001 - BadZipFile, EOFError, ValueError, KeyError, zlib.error...
            why = f"unreadable ({type(exc).__name__})"
        else:
            if values.dtype != np.float64 or values.ndim != 1 or (rows is not None and len(values) != rows):
                why = f"{values.shape} {values.dtype} values where the fold makes {rows} predictions"
            elif checksum != _checksum(key, values, text):
                why = "checksum mismatch (edited or damaged)"
            else:
                try:
                    info = json.loads(text)
                except ValueError:
                    info = None
                if not isinstance(info, dict):
                    why = "info is not a JSON object"
        if why is not None:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass  # a folder we may not write: the entry stays, and is found damaged (and skipped) again
            self.damaged.append(f"{path.name}: {why}")
            self.misses += 1
            return None
        self.hits += 1
        return values, info

    def report_damage(self) -> None:
        """One warning line for the damaged entries found since the last call (none: nothing)."""
        new = self.damaged[self._reported:]
        self._reported = len(self.damaged)
        if new:
            many = len(new) > 1
            self.warn(f"fold cache: {len(new)} damaged entr{'ies' if many else 'y'} removed from {self.folder} "
                      f"(first: {new[0]}); {'their folds are' if many else 'its fold is'} retrained")

    def put(self, key: str, values: np.ndarray, info: dict) -> None:
        """Store a fold atomically; if the folder cannot be written, warn once and stop caching this run."""
        if self.off is not None:
            return
        values = np.asarray(values, dtype="float64")
        text = json.dumps(info)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, values=values, info=np.array(text), sha256=np.array(_checksum(key, values, text)))

        try:
            ensure_folder(self.folder)
            atomic_write(self.folder / f"{key}.npz", write)
        except OSError as exc:  # a WriteError: permission denied, no space left, read-only
            self.off = str(exc)
            self.warn(f"fold cache off: {exc}; the run goes on without caching its folds")


def _checksum(key: str, values: np.ndarray, info: str) -> str:
    """sha256 over the entry's key (so an entry copied under another name fails), values and info text."""
    digest = hashlib.sha256(key.encode("ascii", "replace") + b"\0")
    digest.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
    digest.update(b"\0" + info.encode("utf-8"))
    return digest.hexdigest()
