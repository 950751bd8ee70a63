"""Fault injection, part 3: folders that cannot be written and a disk that fills up.

A cache folder that cannot be written costs the cache, not the run: one warning, the run goes on. A run
folder that cannot be written (a full disk) stops with one line and exit 2, every file written before intact
and no half-written file left, and ``--resume`` finishes it to the uninterrupted run's bytes.

Where this test runs as root (chmod does not stop root), the chmod cases skip and the same refusal is
simulated by making the write raise the system's error. The full disk is a real one, a small tmpfs, where
mounting is permitted (root on Linux); elsewhere ENOSPC is simulated by making the writes raise it.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest

import lstmtrade.forecast.walkforward as walkforward
from faultkit import keep_torch_threads, reference  # noqa: F401  (fixtures)
from faultkit import TINY_ARGS, cli, no_pages, one_error, run_folder, stderr_lines


def unwritable(folder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.access(folder, os.W_OK):
        folder.chmod(0o755)
        pytest.skip("running as root: chmod does not stop root writing (the 'simulated' case covers this)")


def refuse(monkeypatch, target, name: str, code: int, after: int = 0) -> None:
    """Make ``target.name`` raise OSError(``code``) from its call number ``after`` + 1 on."""
    real, calls = getattr(target, name), [0]

    def failing(*args, **kwargs):
        calls[0] += 1
        if calls[0] > after:
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)


@pytest.mark.parametrize("how", ["chmod", "simulated"])
def test_an_unwritable_cache_folder_costs_the_cache_not_the_run(tmp_path, reference, monkeypatch, how):
    """Issue 22, item 3: before the fix "unexpected PermissionError", exit 1."""
    out = tmp_path / "reports"
    if how == "chmod":
        unwritable(out / ".cache" / "folds")
    else:
        refuse(monkeypatch, np, "savez", errno.EACCES)
    no_pages(monkeypatch)
    try:
        result = cli("backtest", *TINY_ARGS, "--out", out, "-q")
    finally:
        (out / ".cache" / "folds").chmod(0o755) if (out / ".cache" / "folds").exists() else None
    assert result.exit_code == 0, result.output
    lines = stderr_lines(result)
    assert len(lines) == 1 and lines[0].startswith("warning: fold cache off: cannot write"), lines
    assert "Permission denied" in lines[0] and "goes on without caching" in lines[0]
    assert (run_folder(out) / "predictions.csv").read_bytes() == reference[1]["predictions.csv"]


def test_an_unwritable_output_folder_is_one_line(tmp_path):
    out = tmp_path / "reports"
    unwritable(out)
    try:
        one_error(cli("backtest", *TINY_ARGS, "--out", out), "not writable")
    finally:
        out.chmod(0o755)


@pytest.fixture()
def small_disk(tmp_path):
    """A 4 MiB tmpfs, where this process may mount one; else None."""
    where = tmp_path / "disk"
    where.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        yield None
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        yield None
        return
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.mark.parametrize("how", ["tmpfs", "simulated"])
def test_a_full_disk_stops_in_one_line_and_the_run_resumes(tmp_path, reference, monkeypatch, small_disk, how):
    """Issue 22, item 3: before the fix "unexpected OSError: No space left on device", exit 1."""
    if how == "tmpfs" and small_disk is None:
        pytest.skip("mounting a small tmpfs is not permitted here (the 'simulated' case covers this)")
    out = (small_disk if how == "tmpfs" else tmp_path) / "reports"
    filler = None
    if how == "tmpfs":
        out.mkdir()
        filler = small_disk / "filler"
        room = os.statvfs(small_disk)
        filler.write_bytes(b"\0" * (room.f_bavail * room.f_frsize - 48 * 1024))  # 48 KiB left
    else:
        refuse(monkeypatch, np, "savez", errno.ENOSPC)  # the cache fills the disk first,
        refuse(monkeypatch, walkforward, "write_exact_csv", errno.ENOSPC, after=2)  # then the third fold file
    no_pages(monkeypatch)
    result = cli("backtest", *TINY_ARGS, "--out", out, "-q")
    line = one_error(result, "cannot write", "No space left on device", "lstmtrade backtest --resume", warnings=1)
    folder = run_folder(out)
    assert str(folder) in line
    assert not [p for p in out.rglob("*.tmp")], "a failed write left its temporary file"
    folds = sorted((folder / "folds").glob("fold-*.csv"))
    for path in folds:  # what was written before is intact: the uninterrupted run's bytes
        assert path.read_bytes() == reference[1][f"folds/{path.name}"], path.name
    assert (folder / "config.toml").exists() and not (folder / "metrics.json").exists()
    monkeypatch.undo()
    no_pages(monkeypatch)
    if filler is not None:
        filler.unlink()
    resumed = cli("backtest", "--resume", folder, "-q")
    assert resumed.exit_code == 0, resumed.output
    assert (folder / "predictions.csv").read_bytes() == reference[1]["predictions.csv"]
