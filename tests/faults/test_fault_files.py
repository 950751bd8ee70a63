"""Fault injection, part 2: every kind of file lstmtrade reads back, damaged: fold-cache entries, predictions.csv,
model files, the trial ledger and a sweep's files. Each ends in the right result (with one warning line) or in
one "error: ..." line and exit 2; never a traceback, never numbers silently wrong.

(Fold files are read back by nobody but the user; a damaged one is rewritten by ``--resume``, which
test_fault_kills.py checks. Journals do not exist yet.)
"""
from __future__ import annotations

import io
import json
import pickle
import shutil

import numpy as np
import pandas as pd

import lstmtrade
from faultkit import keep_torch_threads, reference  # noqa: F401  (fixtures)
from faultkit import TINY, TINY_ARGS, cli, no_pages, one_error, run_folder, stderr_lines
from lstmtrade.forecast.cache import FoldCache


def resave(path, change) -> None:
    """Rewrite a cache entry with ``change(values)``, keeping its stored info and checksum (an edit by hand)."""
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["values"] = change(arrays["values"].copy())
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def flip_in_values(path) -> None:
    """Flip one bit of one stored prediction (inside the zip member holding the values)."""
    raw = bytearray(path.read_bytes())
    with np.load(path) as stored:
        at = bytes(raw).find(stored["values"].tobytes())
    assert at > 0
    raw[at + 3] ^= 0x01
    path.write_bytes(bytes(raw))


DAMAGE = {
    "cut short": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "emptied": lambda p: p.write_bytes(b""),
    "one byte flipped": flip_in_values,
    "NaNs written in": lambda p: resave(p, lambda v: np.where(np.arange(len(v)) % 3 == 0, np.nan, v)),
    "a value dropped": lambda p: resave(p, lambda v: v[:-1]),
}


def test_damaged_cache_entries_are_removed_counted_and_retrained(tmp_path, reference, monkeypatch):
    """Issue 22, items 1 and 2: each entry damaged in one way (cut, emptied, a flipped byte, values edited
    with NaNs, a value dropped); the rerun warns once, retrains exactly those folds, and writes the uninterrupted
    run's predictions.csv bit for bit; the run after it reuses every fold without a word. Before the fix the
    cut entry stopped every run ("unexpected BadZipFile", exit 1) and the NaNs were traded."""
    folder, expected = reference
    out = tmp_path / "reports"
    shutil.copytree(folder.parent / ".cache", out / ".cache")
    entries = sorted((out / ".cache" / "folds").glob("*.npz"))
    assert len(entries) >= len(DAMAGE)
    for entry, damage in zip(entries, DAMAGE.values()):
        damage(entry)
    no_pages(monkeypatch)
    result = cli("backtest", *TINY_ARGS, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    lines = stderr_lines(result)
    assert len(lines) == 1 and lines[0].startswith(f"warning: fold cache: {len(DAMAGE)} damaged entries removed"), lines
    assert (run_folder(out) / "predictions.csv").read_bytes() == expected["predictions.csv"]
    cache = FoldCache(out / ".cache" / "folds")
    assert all(cache.get(p.name[:-4]) is not None for p in entries) and not cache.damaged
    for run in list(out.iterdir()):
        if run.is_dir() and not run.name.startswith("."):
            shutil.rmtree(run)
    again = cli("backtest", *TINY_ARGS, "--out", out)
    assert again.exit_code == 0 and "warning" not in again.stderr
    assert f"reused {len(entries)} of {len(entries)} folds from the cache, trained 0" in again.stderr


def test_an_entry_from_another_key_or_without_a_checksum_is_damaged(tmp_path):
    """The checksum covers the key: an entry copied under another name is not trusted; nor is an entry that
    has no checksum at all (a plain ``np.savez``)."""
    cache = FoldCache(tmp_path, warn=lambda text: None)
    values = np.linspace(-1, 1, 5)
    cache.put("a" * 32, values, {"epochs_run": 2})
    np.testing.assert_array_equal(cache.get("a" * 32, rows=5)[0], values)
    shutil.copy(tmp_path / f"{'a' * 32}.npz", tmp_path / f"{'b' * 32}.npz")
    np.savez(tmp_path / f"{'c' * 32}.npz", values=values, info=np.array("{}"))
    assert cache.get("b" * 32) is None and cache.get("c" * 32) is None and cache.get("a" * 32, rows=4) is None
    assert len(cache.damaged) == 3 and not list(tmp_path.glob("*.npz"))  # each removed


# --- predictions.csv -----------------------------------------------------------------------------------------

def test_cut_or_edited_predictions_are_refused(tmp_path, reference):
    """Issue 22, item 7: `--predictions` on a predictions.csv cut at a line (88 of its rows), cut in mid-line,
    or with one value edited is refused in one line (before the fix the cut files were traded without a word);
    a file of one's own (no run's record) is still checked row by row."""
    folder, _ = reference
    text = (folder / "predictions.csv").read_text()
    lines = text.splitlines(keepends=True)
    cases = {
        "line": "".join(lines[:89]),
        "mid-line": text[: len(text) // 2],
        "edited": text.replace(lines[5].split(",")[1], "0.01", 1),
    }
    for name, damaged in cases.items():
        run = tmp_path / name
        shutil.copytree(folder, run)
        (run / "predictions.csv").write_text(damaged)
        result = cli("backtest", "--predictions", run, "--out", tmp_path / "out", "-q")
        one_error(result, "predictions.csv: not the file its run wrote", "cut short, edited or damaged")
    own = tmp_path / "own"
    own.mkdir()
    (own / "predictions.csv").write_text(cases["mid-line"])
    message = one_error(cli("backtest", "--predictions", own / "predictions.csv", "--out", tmp_path / "out"),
                        "has no valid fold", "cut short or damaged")
    assert f"line {len(cases['mid-line'].splitlines())}" in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --- model files ---------------------------------------------------------------------------------------------

def test_damaged_model_files_are_refused_in_one_whole_sentence(tmp_path, reference):
    """A fold model (the format `train` writes) cut short, emptied, with a flipped byte, or replaced by a plain
    pickle: one line, exit 2, no warning from torch, and the line is not cut in mid-sentence."""
    folder, _ = reference
    good = (folder / "folds" / "fold-001.pt").read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    files = {"cut.pt": good[: len(good) // 3], "empty.pt": b"", "flipped.pt": bytes(flipped),
             "plain.pt": pickle.dumps({"weights": [1.0, 2.0]})}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        result = cli("signal", "--model", tmp_path / name, "--data", "sample:MSFT")
        line = one_error(result, name)
        assert "warning" not in result.stderr.lower() and "If you are seeing" not in line, (name, result.stderr)
        assert line.endswith((")", "`", "code)")) or line[-1].isalpha(), line


# --- the trial ledger ----------------------------------------------------------------------------------------

def test_the_trial_ledger_drops_a_cut_line_and_refuses_a_damaged_one(tmp_path, monkeypatch):
    """A last line cut by a crash is replaced by the next entry; a damaged line elsewhere stops the next run
    before it trains, naming the line (DSR must not count fewer trials than were tried)."""
    no_pages(monkeypatch)
    out = tmp_path / "reports"
    args = ["backtest", *TINY_ARGS, "--model", "persistence", "--out", out, "-q"]
    assert cli(*args).exit_code == 0
    ledger = out / "trials.jsonl"
    first = ledger.read_text()
    ledger.write_text(first + first[: len(first) // 2])  # a second entry cut in mid-write
    assert cli(*args, "--commission", "5").exit_code == 0
    entries = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert len(entries) == 2 and ledger.read_text().startswith(first)
    ledger.write_text("{not json\n" + ledger.read_text())
    one_error(cli(*args), "trials.jsonl: line 1 is not a trial record")
    assert len([p for p in out.iterdir() if p.is_dir()]) == 2  # refused before a run folder was made


# --- a sweep's files -----------------------------------------------------------------------------------------

def test_a_sweep_reruns_a_trial_whose_files_are_damaged_and_refuses_a_damaged_plan(tmp_path, monkeypatch):
    no_pages(monkeypatch)
    settings = {k: v for k, v in TINY.items() if k != "threads"}
    first = lstmtrade.run_sweep(model="persistence", grid={"threshold": [0.0, 0.001]}, reps=100, reports="none",
                                jobs=1, out=tmp_path, **settings)
    folder, trial = first.folder, first.plan.trials[1].id
    (folder / "sweep.json").unlink()  # as if interrupted before the judgement
    metrics = folder / "trials" / trial / "metrics.json"
    metrics.write_text(metrics.read_text()[:100])
    events = []
    again = lstmtrade.run_sweep(resume=folder, progress=events.append)
    warnings = [e["text"] for e in events if e["event"] == "warning"]
    assert len(warnings) == 1 and trial in warnings[0] and "run again" in warnings[0]
    assert [e["id"] for e in events if e["event"] == "trial"] == [trial]
    pd.testing.assert_frame_equal(again.trials.drop(columns=["seconds", "origin", "report"], errors="ignore"),
                                  first.trials.drop(columns=["seconds", "origin", "report"], errors="ignore"))
    (folder / "sweep.json").unlink()
    (folder / "plan.json").write_text(json.dumps({"format": 1, "trials": "damaged"}))
    one_error(cli("sweep", "--resume", folder), "plan.json is damaged")
