"""Files every stage writes and reads back: run folders, atomic writes, JSON, and CSVs whose floats round-trip.

Writing is atomic: :func:`atomic_write` writes a temporary file in the same folder and renames it onto the
target, so a run killed half-way never leaves a file that looks complete. A write the system refuses (a full
disk, an unwritable or read-only folder) removes its temporary file and raises :class:`~lstmtrade.errors.WriteError`,
one line naming the file, with the earlier version of the file (if any) untouched. Run folders are new each
time (:func:`new_run_dir`) and never overwritten.

Exact CSVs (predictions.csv, folds/fold-NNN.csv): ``%.17g`` gives every float64 a decimal text that names
exactly that double. Reading: pandas' default float parser is not exact on every supported version (pandas
2.2.3, 2.3.3 and 3.0.6 read ``-0.0017327059699897066`` as ``-0.0017327059699897``, relative errors up to
1e-12), and ``float_precision="round_trip"``, which fixes those, is deprecated from pandas 3.1. So
:func:`read_exact_csv` parses the float columns with Python's ``float()``, which is correctly rounded on every
platform: the value read back is bit for bit the value written.

This module sits on the ground floor: it imports only the standard library, numpy, pandas and
:mod:`lstmtrade.errors`, so any stage may write through it.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from .errors import ConfigError, WriteError

DATE_ONLY = "%Y-%m-%d"
DATE_TIME = "%Y-%m-%d %H:%M:%S"


# ------------------------------------------------------------------------------ run folders and atomic writes
def new_run_dir(root: str | Path, name: str, prefix: str | None = None) -> Path:
    """Create a fresh folder ``root/YYYYmmdd-HHMMSS-name``, or ``root/prefix-YYYYmmdd-HHMMSS`` with a
    ``prefix`` (suffix -2, -3... if taken)."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output folder {root}: {exc.strerror or exc}") from None
    if not os.access(root, os.W_OK):
        raise ConfigError(f"output folder {root} is not writable")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        base = f"{prefix}-{stamp}" if prefix else f"{stamp}-{safe}"
        folder = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot create run folder in {root}: {exc.strerror or exc}") from None
    raise ConfigError(f"could not find a free run folder name in {root}")  # pragma: no cover


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` then rename tmp onto ``path``; the temporary file is removed on failure.

    An ``OSError`` on the way (no space left, permission denied, a read-only file system) becomes a
    :class:`WriteError` naming ``path``; ``path`` itself is never left half-written."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the user's usual mode
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, WriteError):
            raise
        raise write_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_error(path: Path, exc: OSError) -> WriteError:
    """One line for a write the system refused: the path and the system's reason."""
    error = WriteError(f"cannot write {path}: {exc.strerror or exc}")
    error.errno = exc.errno
    return error


def check_writable_file(path: Path) -> None:
    """Refuse, before the work whose result it would hold, a file whose folder is missing or not writable."""
    parent = Path(path).parent
    if not parent.is_dir():
        raise write_error(Path(path), FileNotFoundError(errno.ENOENT, f"no such folder {parent}"))
    _check_access(Path(path), parent)


def check_not_an_input(output: str | Path, option: str, inputs: Iterable[str | Path | None]) -> None:
    """Refuse an ``output`` that is one of the command's input files, or a file in an input folder (a folder
    of one CSV per ticker): writing it would destroy or change what the command reads. ``inputs`` may hold
    None and names that are not paths (sample:MSFT)."""
    out = Path(output)
    for item in inputs:
        where = Path(item) if item is not None else None
        if where is None or not where.exists():
            continue
        if where.is_file() and out.exists() and os.path.samefile(out, where):
            what = "an input file"
        elif where.is_dir() and out.parent.exists() and os.path.samefile(out.parent, where):
            what = "in the input folder"
        else:
            continue
        raise ConfigError(f"{option} {output} is {what} ({item}): writing it would destroy or change what this "
                          "command reads; give another path")


def check_can_create(folder: str | Path) -> None:
    """Refuse, before the work whose result it would hold, a folder :func:`ensure_folder` could not make: its
    nearest existing ancestor is not a folder, or not writable."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise write_error(Path(folder), NotADirectoryError(errno.ENOTDIR, f"{probe} is not a folder"))
    _check_access(Path(folder), probe)


def _check_access(path: Path, folder: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise write_error(path, PermissionError(errno.EACCES, f"permission denied in {folder}"))


def ensure_folder(folder: Path) -> Path:
    """``folder`` (and its parents) created if missing; a refusal is a :class:`WriteError`."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(Path(folder), exc) from None
    return Path(folder)


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes (what a run records of the files it may read back, in metrics.json)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, payload: dict) -> None:
    write_text(path, json.dumps(jsonable(payload), indent=2, allow_nan=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame, **kwargs: Any) -> None:
    date_format = csv_date_format(frame)  # dates as dates; intraday rows keep their time
    atomic_write(path, lambda tmp: frame.to_csv(tmp, float_format="%.10g", date_format=date_format, **kwargs))


def jsonable(value: Any) -> Any:
    """NaN and infinities become null (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------------------ CSVs
def csv_date_format(*values) -> str:
    """``%Y-%m-%d`` when every timestamp in ``values`` (indexes, Series, frames) is at midnight, else with the
    time of day, so a CSV of daily rows is written as before and intraday rows keep their times."""
    for value in values:
        if isinstance(value, pd.DataFrame):
            parts = [value.index] + [value[c] for c in value.columns if pd.api.types.is_datetime64_any_dtype(value[c])]
        else:
            parts = [value]
        for part in parts:
            if isinstance(part, pd.Series):
                part = pd.DatetimeIndex(part) if pd.api.types.is_datetime64_any_dtype(part) else None
            if isinstance(part, pd.DatetimeIndex) and len(part):
                known = part[part.notna()]
                if (known != known.normalize()).any():
                    return DATE_TIME
    return DATE_ONLY


FLOAT_FORMAT = "%.17g"  # 17 significant digits identify a float64 exactly
_MISSING = {"", "na", "n/a", "nan", "-nan", "null", "none", "#n/a"}


def exact_float(text: str) -> float:
    """Parse one CSV field as the float64 it names (correctly rounded); empty or NA-like fields are NaN."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        if text.lower() in _MISSING:
            return math.nan
        raise ValueError(f"not a number: {text!r}") from None


def write_exact_csv(frame: pd.DataFrame, path: Any, **kwargs: Any) -> None:
    """``frame.to_csv`` with 17 significant digits and ISO dates (with the time of day for intraday rows)."""
    frame.to_csv(path, float_format=FLOAT_FORMAT, date_format=csv_date_format(frame), **kwargs)


def read_exact_csv(path: str | Path, float_columns: Iterable[str], **kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv(path, **kwargs)`` with ``float_columns`` (those present) parsed exactly by :func:`exact_float`."""
    return pd.read_csv(path, converters={name: exact_float for name in float_columns}, **kwargs)


def exact_numbers(text: pd.Series) -> pd.Series:
    """Numbers from a column of CSV text, each the float64 its text names (NaN where it names none).

    ``pd.to_numeric`` finds which fields are numbers, but its parser is not correctly rounded on pandas
    2.2 to 3.0, so the numbers themselves are parsed again by numpy, whose text-to-float conversion is."""
    import numpy as np

    if pd.api.types.is_float_dtype(text):  # numbers already (a Parquet column): nothing to parse
        return text.astype("float64")
    codes, uniques = pd.factorize(text)  # each distinct text parsed once (a price column repeats its values)
    coarse = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce")
    ok = coarse.notna().to_numpy()
    values = coarse.to_numpy(dtype="float64", na_value=np.nan).copy()
    if ok.any():
        values[ok] = np.asarray(uniques[ok], dtype=str).astype(np.float64)
    out = np.where(codes >= 0, values[np.maximum(codes, 0)] if len(values) else np.nan, np.nan)
    return pd.Series(out, index=text.index, dtype="float64")
