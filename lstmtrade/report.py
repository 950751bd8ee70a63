"""The run folder: tearsheet.html (QuantStats vs buy-and-hold), metrics.json, CSVs and config.toml.

Every file is written atomically (a temporary file in the same folder, then a rename), so a run killed
half-way never leaves a file that looks complete; ``metrics.json`` is written last and marks a finished
run. Run folders are new each time and are never overwritten.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .errors import ConfigError


def new_run_dir(root: str | Path, name: str) -> Path:
    """Create a fresh folder ``root/YYYYmmdd-HHMMSS-name`` (suffix -2, -3... if taken)."""
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
        folder = root / (f"{stamp}-{safe}" if attempt == 1 else f"{stamp}-{safe}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot create run folder in {root}: {exc.strerror or exc}") from None
    raise ConfigError(f"could not find a free run folder name in {root}")  # pragma: no cover


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` then rename tmp onto ``path``; the temporary file is removed on failure."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the user's usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, payload: dict) -> None:
    write_text(path, json.dumps(_jsonable(payload), indent=2, allow_nan=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame, **kwargs: Any) -> None:
    atomic_write(path, lambda tmp: frame.to_csv(tmp, float_format="%.10g", date_format="%Y-%m-%d", **kwargs))


def _jsonable(value: Any) -> Any:
    """NaN and infinities become null (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_tearsheet(path: Path, strategy: pd.Series, benchmark: pd.Series, title: str) -> None:
    """QuantStats HTML tearsheet of ``strategy`` against the ``benchmark`` returns Series.

    The benchmark is always a Series (a ticker string would make QuantStats download prices). Fonts
    warnings are silenced, charts are inline SVG, and the one external link (a favicon) is dropped so
    the page is self-contained offline.
    """
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib

    matplotlib.use("Agg", force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats as qs

        strategy = strategy.rename("Strategy")
        benchmark = benchmark.rename("Buy & Hold")

        def render(tmp: Path) -> None:
            qs.reports.html(strategy, benchmark=benchmark, output=str(tmp), title=title,
                            download_filename=path.name, figfmt="svg")
            html = tmp.read_text(encoding="utf-8")
            html = re.sub(r'<link rel="shortcut icon"[^>]*>', "", html)
            tmp.write_text(html, encoding="utf-8")

        atomic_write(path, render)
    import matplotlib.pyplot as plt

    plt.close("all")
