"""The trial ledger: every configuration run on the same data counts as a trial.

Deflated Sharpe Ratio needs to know how many strategies were tried before this one was picked, and how
much their Sharpe ratios varied. Each run appends one JSON line to ``<reports root>/trials.jsonl``;
a trial is a distinct (data hash, settings that affect results) pair, so rerunning the same
configuration does not inflate the count.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

LEDGER = "trials.jsonl"
NOT_A_TRIAL = {"data", "start", "end", "device", "threads", "engine", "jobs", "baselines", "cache", "save_models",
               "date_format"}  # date_format: the data hash already names the rows it read
# settings added later, left out while at their default (unset), so earlier trials keep their keys
DEFAULT_NOT_HASHED = {"periods_per_year": None, "xs_norm": "none"}


def trial_key(config: dict[str, Any], strategy: str, params: dict[str, Any]) -> str:
    """Hash of everything that changes the result (not where the output goes or how fast it runs)."""
    relevant = {k: v for k, v in config.items()
                if k not in NOT_A_TRIAL and not (k in DEFAULT_NOT_HASHED and v == DEFAULT_NOT_HASHED[k])}
    if relevant.get("seeds", 1) == 1 or relevant.get("model", "lstm") != "lstm":
        relevant.pop("seeds", None)  # one network per fold (baselines always): the key it always had
    relevant["strategy"], relevant["params"] = strategy, params
    text = json.dumps(relevant, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record(root: str | Path, data_sha: str, key: str, sharpe: float, folder: str | None) -> list[dict]:
    """Append this trial and return every distinct trial on the same data (latest entry per key)."""
    path = Path(root) / LEDGER
    entry = {"time": datetime.now().isoformat(timespec="seconds"), "data": data_sha, "key": key,
             "sharpe": sharpe, "folder": folder}
    line = json.dumps(entry) + "\n"
    with open(path, "a", encoding="utf-8") as handle:  # one short write: appends don't interleave
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
    return trials(root, data_sha)


def trials(root: str | Path, data_sha: str) -> list[dict]:
    path = Path(root) / LEDGER
    latest: dict[str, dict] = {}
    if path.exists():
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(text)
            except json.JSONDecodeError:
                continue  # a line cut by a crash: skip it, keep the rest
            if entry.get("data") == data_sha:
                latest[entry["key"]] = entry
    return list(latest.values())
