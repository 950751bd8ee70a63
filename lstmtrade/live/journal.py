"""The paper trail's journal: one line per data date, written before the market opens, chained so that the past
cannot be edited silently (format: ``docs/paper-trail.md``).

``DIR/journal.jsonl`` holds one JSON object per line. Each line carries ``prev_sha256``, the sha256 of the
previous line's text (64 zeros for the first), and ``sha256``, the sha256 of its own text without that last
field: editing any field of any entry breaks its own hash, removing, inserting or reordering lines breaks the
next line's link, and dates must increase. The hashes catch edits and damage; they are not a signature
(anyone can recompute them), which is why the file should also live somewhere its history is kept.

Appending is atomic: the new file (old lines plus the new one) is written to a temporary file, flushed to
disk and renamed over the journal, under a lock, so a crash leaves the old journal or the new one, never a
half line. A half line left by something else (a last line without its end of line, or one that is not JSON)
is reported with its line number and never dropped: nothing is appended until it is fixed by hand.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from ..errors import DataError
from ..files import atomic_write, check_can_create, write_error
from ..formatting import stamp

JOURNAL = "journal.jsonl"
GENESIS = "0" * 64  # prev_sha256 of the first entry
VERSION = 1


class JournalError(DataError):
    """A journal that is damaged, edited, or would be by this append: one line, exit 2."""


def journal_path(folder: str | Path) -> Path:
    return Path(folder) / JOURNAL


def line_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dump(entry: dict[str, Any]) -> str:
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def seal(entry: dict[str, Any], prev_sha256: str) -> str:
    """The entry's line: its fields, ``prev_sha256``, then ``sha256`` over everything before it."""
    body = {k: v for k, v in entry.items() if k not in ("prev_sha256", "sha256")}
    body["prev_sha256"] = prev_sha256
    return _dump({**body, "sha256": line_sha256(_dump(body))})


def read_lines(folder: str | Path) -> list[str]:
    """The journal's lines (without their ends); a missing journal has none. A last line without its end of
    line is someone else's half line: refused, never dropped."""
    path = journal_path(folder)
    if not path.exists():
        return []
    try:
        raw = path.read_bytes()
    except OSError as exc:  # a folder of that name, or a file that cannot be read
        raise JournalError(f"{path}: cannot read the journal ({exc.strerror or exc})") from None
    if not raw:
        return []
    lines = raw.split(b"\n")
    if lines[-1] != b"":
        raise JournalError(f"{path}: line {len(lines)} is incomplete (no end of line): something other than "
                           "lstmtrade wrote it, or the disk lost it; it is not read and not removed: fix or remove "
                           "it by hand")
    try:
        return [line.decode("utf-8") for line in lines[:-1]]
    except UnicodeDecodeError:
        raise JournalError(f"{path}: not UTF-8 text (damaged)") from None


def verify(folder: str | Path) -> list[dict[str, Any]]:
    """The journal's entries after checking the chain; the first bad entry raises :class:`JournalError`."""
    path = journal_path(folder)
    entries: list[dict[str, Any]] = []
    prev = GENESIS
    for n, line in enumerate(read_lines(folder), start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise JournalError(f"{path}: entry {n} is not JSON (damaged or half written by something else)") from None
        if not isinstance(entry, dict) or "sha256" not in entry or "prev_sha256" not in entry or "date" not in entry:
            raise JournalError(f"{path}: entry {n} is not a journal entry (no date, sha256 or prev_sha256)")
        day = entry.get("date")
        body = {k: v for k, v in entry.items() if k != "sha256"}
        if line_sha256(_dump(body)) != entry["sha256"] or seal(body, body["prev_sha256"]) != line:
            raise JournalError(f"{path}: entry {n} ({day}) was altered: its content does not match its sha256")
        if entry["prev_sha256"] != prev:
            raise JournalError(f"{path}: entry {n} ({day}) does not follow entry {n - 1}: an entry before it was "
                               "removed, inserted, reordered or altered")
        if entries and _when(day) <= _when(entries[-1]["date"]):
            raise JournalError(f"{path}: entry {n} ({day}) is not after entry {n - 1} ({entries[-1]['date']})")
        entries.append(entry)
        prev = line_sha256(line)
    return entries


def _when(day: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(day)
    except (TypeError, ValueError):
        raise JournalError(f"journal date {day!r} is not a date") from None


def check_new_date(entries: list[dict[str, Any]], day: Any, folder: str | Path) -> None:
    """Refuse a second entry for the same or an earlier date."""
    if entries and pd.Timestamp(day) <= _when(entries[-1]["date"]):
        last = entries[-1]["date"]
        what = "already has an entry for" if pd.Timestamp(day) == _when(last) else "has a later entry than"
        raise JournalError(f"{journal_path(folder)} {what} {stamp(day)} (last entry {last}): a journal records one "
                           "signal per data date, in order; give data ending after its last entry")


def check_kind(entries: list[dict[str, Any]], kind: str, folder: str | Path) -> None:
    """Refuse an entry of another kind (``universe`` or ``ticker``) than the journal's: one journal records one
    portfolio, and ``paper`` credits it as one."""
    held = entries[-1].get("kind") if entries else None
    if held is not None and held != kind:
        names = {"universe": "a universe model's", "ticker": "a one-ticker model's"}
        raise JournalError(f"{journal_path(folder)} holds {names.get(held, held)} entries, and this is "
                           f"{names[kind]} signal: one journal records one portfolio; give another --journal")


def fill_file(tmp: Path, data: bytes) -> None:
    """Write ``data`` to ``tmp`` and flush it to disk (before the rename makes it the journal)."""
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One writer at a time (POSIX ``flock`` on ``DIR/.journal.lock``; elsewhere, none)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with _open_lock(folder) as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _open_lock(folder: Path) -> Any:
    try:
        return open(folder / ".journal.lock", "a")
    except OSError as exc:
        raise write_error(folder / ".journal.lock", exc) from None


def check_writable(folder: str | Path) -> None:
    """Refuse, before a signal is made, a journal folder that cannot be written (one line, exit 2)."""
    folder = Path(folder)
    if folder.is_dir():
        _open_lock(folder).close()
    else:
        check_can_create(folder)


def append(folder: str | Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Add ``entry`` (with its ``date``) at the end of the journal in ``folder``, atomically; returns it sealed."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalError(f"cannot create journal folder {folder}: {exc.strerror or exc}") from None
    with _locked(folder):
        for stale in folder.glob(f".{JOURNAL}.*.tmp"):  # a writer killed mid-append (writers hold the lock)
            with contextlib.suppress(OSError):
                stale.unlink()
        entries = verify(folder)
        check_new_date(entries, entry["date"], folder)
        lines = read_lines(folder)
        line = seal(entry, line_sha256(lines[-1]) if lines else GENESIS)
        data = "".join(f"{text}\n" for text in [*lines, line]).encode("utf-8")
        path = journal_path(folder)
        atomic_write(path, lambda tmp: fill_file(tmp, data))
        with contextlib.suppress(OSError):  # the rename itself on disk (POSIX)
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return json.loads(line)


def entry_of(signal: Any, now: _dt.datetime | None = None) -> dict[str, Any]:
    """A journal entry from a :class:`~lstmtrade.live.portfolio.Signal`: what was known, and decided, at the close."""
    payload = signal.to_dict()
    shares = {str(k): float(v) for k, v in signal.holdings_after.items() if v}
    kept = [row["ticker"] for row in payload["excluded"] if "left alone" in row["reason"]]
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return {
        "version": VERSION,
        "date": payload["date"],
        "written_at": now.astimezone(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": {**{k: payload["model"][k] for k in ("sha256", "train_end", "format_version", "created_at")},
                  "path": str(Path(payload["model"]["path"]).resolve()) if payload["model"]["path"] else None},
        "data": {"source": payload["data"]["source"], "sha256": payload["data"]["sha256"]},
        "strategy": payload["strategy"], "params": payload["params"], "min_trade": signal.min_trade,
        "kind": "universe" if payload["model"]["format_version"] == 3 else "ticker",
        "tickers": payload["tickers"], "kept": kept, "orders": payload["orders"], "excluded": payload["excluded"],
        "equity": payload["equity"], "holdings_after": {"shares": shares, "cash": signal.cash_after},
        "inputs": payload["inputs"], "warnings": payload["warnings"],
    }


def last_holdings(entries: list[dict[str, Any]]) -> tuple[dict[str, float], pd.Series] | None:
    """What the last entry leaves for the next signal: its holdings after the orders (shares and cash, as a
    ``{ticker: shares, "cash": x}`` mapping) and its target weights (what the rule finds it holds)."""
    if not entries:
        return None
    last = entries[-1]
    held = last["holdings_after"]
    weights = pd.Series({t["ticker"]: t["weight"] for t in last["tickers"] if t["weight"]}, dtype="float64")
    return {**held["shares"], "cash": held["cash"]}, weights


__all__ = ["JOURNAL", "GENESIS", "JournalError", "journal_path", "read_lines", "verify", "append", "seal",
           "entry_of", "last_holdings", "check_new_date", "check_kind", "check_writable", "fill_file",
           "line_sha256"]
