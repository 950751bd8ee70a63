"""Fault injection, part 1: processes really killed (``os.kill``) at fold boundaries, half-way through a write, and
with worker processes running; then the run resumes to the same bytes, and no worker outlives its driver."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys

import pytest

import lstmtrade
from faultkit import keep_torch_threads, reference  # noqa: F401  (fixtures)
from faultkit import (CLI, ROOT, TINY_ARGS, alive, children, drive, exact_files, fault_seed, no_pages, run_folder,
                      wait_for_workers, wait_gone)
from lstmtrade.forecast.cache import FoldCache

FOLDS = 7  # the tiny run's folds


def cache_entries(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out / ".cache" / "folds").glob("*.npz")}


def assert_resumes_to_the_reference(out, reference, monkeypatch, why: str, damaged: int = 0) -> list[dict]:
    """Resume the run folder in ``out``; its predictions.csv and fold files equal the uninterrupted run's."""
    folder = run_folder(out)
    assert (folder / "config.toml").exists() and not (folder / "metrics.json").exists(), why
    no_pages(monkeypatch)
    events = []
    lstmtrade.run(resume=folder, progress=events.append)
    assert exact_files(folder) == reference[1], why
    resumed, whole = (json.loads((f / "metrics.json").read_text())["config"] for f in (folder, reference[0]))
    assert resumed["strategy"] == whole["strategy"] == "LongFlat", why  # was: resumed LongFlat, whole "auto"
    warnings = [e["text"] for e in events if e["event"] == "warning"]
    assert len(warnings) == (1 if damaged else 0), (why, warnings)
    if damaged:
        assert f"{damaged} damaged entr" in warnings[0], (why, warnings)
    return events


def test_killed_at_a_random_fold_boundary_resumes_to_the_same_bytes(tmp_path, reference, monkeypatch):
    """kill -9 after fold k (its cache entry and fold file written); a cache entry and a fold file are damaged
    while the run is dead; the resumed run reuses the sound folds, retrains the damaged one, rewrites the fold
    file, and writes the bytes of the uninterrupted run."""
    seed = fault_seed()
    rng = random.Random(seed)
    k = rng.randint(2, FOLDS - 1)
    why = f"seed {seed}: killed after fold {k}"
    done = drive(tmp_path, {"at": "fold", "k": k})
    assert done.returncode == -signal.SIGKILL, (why, done.returncode, done.stderr[-2000:])
    folder = run_folder(tmp_path)
    entries = sorted((tmp_path / ".cache" / "folds").glob("*.npz"))
    folds = sorted((folder / "folds").glob("fold-*.csv"))
    assert len(entries) == len(folds) == k, why
    for path in folds:  # every fold file on disk is whole: the uninterrupted run's bytes
        assert path.read_bytes() == reference[1][f"folds/{path.name}"], (why, path.name)
    victim = entries[rng.randrange(k)]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    victim.write_bytes(bytes(raw))
    cut = folds[rng.randrange(k)]
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    events = assert_resumes_to_the_reference(tmp_path, reference, monkeypatch, why, damaged=1)
    cached = [e for e in events if e["event"] == "fold" and e.get("cached")]
    assert len(cached) == k - 1, why


def test_killed_in_the_middle_of_a_write_resumes_to_the_same_bytes(tmp_path, reference, monkeypatch):
    """kill -9 half-way through writing a cache entry, a fold file or predictions.csv, chosen at random (the half
    is on disk, in the write's temporary file): no file lstmtrade reads back is left half-written, and the resumed
    run writes the uninterrupted run's bytes."""
    seed = fault_seed()
    rng = random.Random(seed)
    target = rng.choice(["cache", "fold-file", "predictions"])
    k = 1 if target == "predictions" else rng.randint(1, FOLDS)
    why = f"seed {seed}: killed writing {target} #{k}"
    done = drive(tmp_path, {"at": target, "k": k})
    assert done.returncode == -signal.SIGKILL, (why, done.returncode, done.stderr[-2000:])
    folder = run_folder(tmp_path)
    leftovers = [p.name for p in tmp_path.rglob(".*.tmp")]
    assert len(leftovers) == 1, (why, leftovers)  # the half-written temporary file, under a name never read
    cache = FoldCache(tmp_path / ".cache" / "folds")
    for name in cache_entries(tmp_path):  # every entry under its own name is whole
        assert cache.get(name[:-4]) is not None, (why, name)
    assert not cache.damaged, (why, cache.damaged)
    for path in (folder / "folds").glob("fold-*.csv"):
        assert path.read_bytes() == reference[1][f"folds/{path.name}"], (why, path.name)
    assert not (folder / "predictions.csv").exists(), why
    assert_resumes_to_the_reference(tmp_path, reference, monkeypatch, why)
    assert not [p.name for p in folder.rglob(".*.tmp")], why  # the resumed run removed the cut write's leftovers


# --- worker processes --------------------------------------------------------------------------------------

LONG = ["--epochs", "300", "--no-early-stopping", "-q"]  # still training when the driver is killed


@pytest.mark.parametrize("command, signum", [("backtest", signal.SIGKILL), ("sweep", signal.SIGTERM)],
                         ids=["backtest-loop-jobs2-kill9", "sweep-jobs2-sigterm"])
def test_workers_end_with_their_driver(tmp_path, command, signum):
    """A driver killed with -9 cannot stop its workers: they notice their parent is gone and exit. SIGTERM is
    handled like Ctrl-C: the driver stops its workers, says how to resume, exits 130. Either way no worker,
    nor multiprocessing's resource tracker, is left behind (before the fix: alive 13 minutes later)."""
    args = [*TINY_ARGS, *LONG, "--out", str(tmp_path)]
    if command == "backtest":
        args = ["backtest", *args, "--engine", "loop", "--jobs", "2"]
    else:
        args = ["sweep", *args, "--grid", "lookback=5,10", "--jobs", "2", "--reps", "100", "--reports", "none"]
    driver = subprocess.Popen([*CLI, *args], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    started = []
    try:
        started = wait_for_workers(driver, 2) + children(driver.pid, "resource_tracker")
        driver.send_signal(signum)
        driver.wait(timeout=60)
        left = wait_gone(started, 10.0)
        assert not left, f"still running 10 s after the driver ended (exit {driver.returncode}): {left}"
        _, err = driver.communicate(timeout=60)  # (a worker left running would hold the pipe open)
        if signum == signal.SIGTERM:
            assert driver.returncode == 130 and "--resume" in err and "Traceback" not in err, (driver.returncode, err)
        else:
            assert driver.returncode == -signal.SIGKILL
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for pid in alive(started):  # a failed test must not leave its own workers behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


ORPHAN = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import os, time; from lstmtrade.forecast.workers import watch_parent; "
                          "watch_parent(os.getppid(), every=0.05); print('watching', flush=True); time.sleep(60)"],
                         stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "watching"
print(child.pid, flush=True)
"""


def test_a_process_watching_its_parent_exits_when_the_parent_dies():
    """The watch alone (no torch, no pool): the parent exits without a word, the child ends within a poll."""
    done = subprocess.run([sys.executable, "-c", ORPHAN], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    orphan = int(done.stdout.split()[-1])
    assert not wait_gone([orphan], 5.0), "the child outlived its parent"
