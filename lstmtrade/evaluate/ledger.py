"""The trial ledger: every configuration run on the same data counts as a trial.

Deflated Sharpe Ratio needs to know how many strategies were tried before this one was picked, and how
much their Sharpe ratios varied. Each run appends one JSON line to ``<reports root>/trials.jsonl``;
a trial is a distinct (data hash, settings that affect results) pair, so rerunning the same
configuration does not inflate the count.

The count is only honest if every line reads back. A last line without its newline is a write cut by a
crash (each entry is one write, flushed and synced, and its run had not finished): the next entry replaces
it. Any other line that is not a trial record (edited, damaged) stops the run with one line naming it,
rather than letting DSR count fewer trials than were tried.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from ..errors import DamagedFileError
from ..files import write_error

LEDGER = "trials.jsonl"
NOT_A_TRIAL = {"data", "start", "end", "device", "threads", "engine", "jobs", "baselines", "cache", "save_models",
               "date_format", "capacity", "tracking", "backend", "ray_address"}  # date_format: the data hash
# already names the rows it read; capacity: re-runs at other capitals, beside the result; tracking: where the run
# is also logged; backend: where the folds train (Ray gives the local forecasts)
# Settings added later: left out of the key while at their default, so earlier trials keep their keys.
ADDED_LATER = {"periods_per_year": None, "borrow": 0.0, "borrow_file": None, "spread": None, "impact": 0.0,
               "max_participation": None, "min_commission": 0.0, "xs_norm": "none"}


def trial_key(config: dict[str, Any], strategy: str, params: dict[str, Any]) -> str:
    """Hash of everything that changes the result (not where the output goes or how fast it runs)."""
    relevant = {k: v for k, v in config.items()
                if k not in NOT_A_TRIAL and not (k in ADDED_LATER and v == ADDED_LATER[k])}
    if relevant.get("seeds", 1) == 1 or relevant.get("model", "lstm") != "lstm":
        relevant.pop("seeds", None)  # one network per fold (baselines always): the key it always had
    relevant["strategy"], relevant["params"] = strategy, params
    text = json.dumps(relevant, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record(root: str | Path, data_sha: str, key: str, sharpe: float, folder: str | None,
           annualised: float | None = None) -> list[dict]:
    """Append this trial and return every distinct trial on the same data (latest entry per key).

    ``sharpe`` is per bar (what the deflated Sharpe ratio compares across trials); ``annualised`` is the figure
    the terminal and the pages show, kept beside it as ``sharpe_annualised`` so a reader of the file sees both."""
    path = Path(root) / LEDGER
    entry = {"time": datetime.now().isoformat(timespec="seconds"), "data": data_sha, "key": key,
             "sharpe": sharpe, "folder": folder}
    if annualised is not None:
        entry["sharpe_annualised"] = annualised
    line = json.dumps(entry) + "\n"
    try:
        with open(path, "a+b") as handle:  # one short write: appends don't interleave
            if fcntl is not None:  # other runs append under the same lock, so a line without its newline
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # is a cut write, never one in flight
                _drop_cut_line(handle)
            elif _cut(handle):
                handle.write(b"\n")  # (no locks here) keep the next entry on a line of its own
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise write_error(path, exc) from None
    return trials(root, data_sha)


def _cut(handle) -> bool:
    end = handle.seek(0, os.SEEK_END)
    if not end:
        return False
    handle.seek(end - 1)
    return handle.read(1) != b"\n"


def _drop_cut_line(handle) -> None:
    """Remove a last line left without its newline by a write that was killed (its run never finished)."""
    end = handle.seek(0, os.SEEK_END)
    if not end:
        return
    handle.seek(max(0, end - 65536))
    tail = handle.read()
    if tail.endswith(b"\n"):
        return
    cut = tail.rfind(b"\n")
    if cut < 0 and end > len(tail):
        return  # a single line longer than 64 KiB is no entry of ours: leave it for trials() to report
    handle.truncate(end - len(tail) + cut + 1)
    handle.seek(0, os.SEEK_END)


def trials(root: str | Path, data_sha: str) -> list[dict]:
    """Every distinct trial on ``data_sha`` (latest entry per key); a damaged line raises DamagedFileError."""
    path = Path(root) / LEDGER
    latest: dict[str, dict] = {}
    if not path.exists():
        return []
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and not text.endswith("\n"):
        lines = lines[:-1]  # a write cut by a crash: its run never finished, the next entry replaces it
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = None
        if not (isinstance(entry, dict) and isinstance(entry.get("key"), str) and isinstance(entry.get("data"), str)
                and isinstance(entry.get("sharpe"), (int, float, type(None))) and not isinstance(entry["sharpe"], bool)):
            raise DamagedFileError(
                f"{path}: line {number} is not a trial record (damaged or edited); DSR counts every trial on the "
                "same data, so fix or delete that line, or move the file away to start the count afresh")
        if entry["data"] == data_sha:
            latest[entry["key"]] = entry
    return list(latest.values())
