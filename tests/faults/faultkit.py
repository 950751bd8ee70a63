"""What the fault-injection tests share: one tiny run, a driver that really kills itself, and process watching.

(Not a conftest.py: other test modules import names from the top-level ``conftest``, which a second one would
shadow. The fixtures below are imported by the modules that use them.)

Runs skip the HTML pages (``write_single_pages``): those take seconds and are not what these tests check; every
other file of a run is written as usual. ``LSTMTRADE_FAULT_SEED`` repeats a failed test's random choices (the
seed is in every assertion message).
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# one torch thread everywhere: the fold cache's keys name the thread count, so a killed run (a subprocess) and
# its resumption (in this process) share entries whatever this machine's default is
TINY = dict(end="2003-12-31", min_train=300, retrain_every=100, epochs=2, lookback=10, hidden=8, batch_size=64,
            baselines=False, threads=1)
TINY_ARGS = ["--end", "2003-12-31", "--min-train", "300", "--retrain-every", "100", "--epochs", "2", "--lookback",
             "10", "--hidden", "8", "--batch-size", "64", "--no-baselines", "--threads", "1"]


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """The tiny runs set torch to one thread (process-wide); the rest of the suite gets its own count back."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    if before is not None:
        torch.set_num_threads(before)


_REFERENCE: list = []  # the one reference run of this session, shared by every module that asks


@pytest.fixture()
def reference(tmp_path_factory):
    """An uninterrupted tiny run (with its fold models saved), made once per session: its folder and the files
    a resumed run must reproduce bit for bit."""
    if not _REFERENCE:
        import lstmtrade
        import lstmtrade.report.run as pages

        out = tmp_path_factory.mktemp("reference")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pages, "write_single_pages", lambda result: None)
            lstmtrade.run(out=out, save_models=True, **TINY)
        folder = run_folder(out)
        _REFERENCE.append((folder, exact_files(folder)))
    return _REFERENCE[0]


def fault_seed() -> int:
    """The seed of this test's random choices: ``LSTMTRADE_FAULT_SEED``, or a fresh one."""
    return int(os.environ.get("LSTMTRADE_FAULT_SEED") or random.SystemRandom().randrange(1 << 30))


def no_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    import lstmtrade.report.run as pages

    monkeypatch.setattr(pages, "write_single_pages", lambda result: None)
    monkeypatch.setattr(pages, "write_universe_pages", lambda result: None)


def cli(*args: str):
    """The command line, in this process (``click``'s runner: stdout and stderr apart)."""
    from click.testing import CliRunner

    from lstmtrade.cli.main import cli as group

    return CliRunner().invoke(group, [str(a) for a in args])


# A run in a subprocess that SIGKILLs itself at one chosen point: at the k-th finished fold (after its cache
# entry and fold file are written), or half-way through the k-th write of a cache entry, a fold file or
# predictions.csv (the half is written to the temporary file, then the process dies).
DRIVER = r'''
import io, json, os, signal, sys
import lstmtrade
import lstmtrade.report.run as pages
pages.write_single_pages = lambda result: None
spec = json.loads(sys.argv[1])
kill = spec.get("kill") or {}
calls = [0]


def due():
    calls[0] += 1
    return calls[0] == kill["k"]


def die():
    os.kill(os.getpid(), signal.SIGKILL)


progress = None
if kill.get("at") == "fold":
    def progress(event):
        if event["event"] == "fold" and due():
            die()
elif kill.get("at") == "cache":
    import numpy
    real_savez = numpy.savez

    def savez(handle, **arrays):
        if not due():
            return real_savez(handle, **arrays)
        buffer = io.BytesIO()
        real_savez(buffer, **arrays)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        handle.flush()
        die()
    numpy.savez = savez
elif kill.get("at") in ("fold-file", "predictions"):
    import lstmtrade.forecast.predictions as predictions_module
    import lstmtrade.forecast.walkforward as walkforward_module
    module = walkforward_module if kill["at"] == "fold-file" else predictions_module
    real_write = module.write_exact_csv

    def write(frame, path, **kwargs):
        if not due():
            return real_write(frame, path, **kwargs)
        buffer = io.StringIO()
        real_write(frame, buffer, **kwargs)
        with open(path, "w") as handle:
            handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        die()
    module.write_exact_csv = write
lstmtrade.run(out=spec["out"], progress=progress, **spec["settings"])
'''


def drive(out: Path, kill: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    spec = {"out": str(out), "settings": TINY, "kill": kill}
    return subprocess.run([sys.executable, "-c", DRIVER, json.dumps(spec)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def run_folder(out: Path) -> Path:
    (folder,) = [p for p in Path(out).iterdir() if p.is_dir() and not p.name.startswith(".")]
    return folder


def exact_files(folder: Path) -> dict[str, bytes]:
    """predictions.csv and every fold file, by name: what a resumed run must write bit for bit."""
    files = {"predictions.csv": (folder / "predictions.csv").read_bytes()}
    files.update({f"folds/{p.name}": p.read_bytes() for p in sorted((folder / "folds").glob("fold-*.csv"))})
    return files


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def one_error(result, *fragments: str, warnings: int = 0) -> str:
    """Exit 2; stderr is ``warnings`` warning lines (at most) then exactly one "error: ..." line; no traceback."""
    assert "Traceback" not in result.output and "Traceback" not in result.stderr, result.stderr
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = stderr_lines(result)
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    assert len(lines) - 1 <= warnings and all(line.startswith("warning: ") for line in lines[:-1]), lines
    assert "unexpected" not in errors[0], errors[0]
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


# --- processes ---------------------------------------------------------------------------------------------

def processes() -> list[tuple[int, int, str, str]]:
    """(pid, parent pid, state, command line) of every process, from ``ps`` (Linux and macOS alike; ``-ww``: the
    whole command line, which ``ps`` may otherwise cut to the terminal's width)."""
    text = subprocess.run(["ps", "-ww", "-eo", "pid=,ppid=,stat=,args="], capture_output=True, text=True,
                          check=True).stdout
    rows = []
    for line in text.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4:
            rows.append((int(parts[0]), int(parts[1]), parts[2], parts[3]))
    return rows


def children(pid: int, marker: str) -> list[int]:
    return [p for p, parent, state, args in processes() if parent == pid and marker in args
            and not state.startswith("Z")]


def wait_for_workers(driver: subprocess.Popen, n: int, seconds: float = 180.0) -> list[int]:
    """The pids of the ``driver`` process's ``n`` spawned workers, once they all run."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and driver.poll() is None:
        workers = children(driver.pid, "spawn_main")
        if len(workers) >= n:
            return workers
        time.sleep(0.2)
    out, err = driver.communicate() if driver.poll() is not None else ("", "")
    raise AssertionError(f"{n} workers of {driver.pid} never started (exit {driver.poll()}): {err[-2000:]}")


CLI = [sys.executable, "-c", "from lstmtrade.cli.main import main; main()"]  # the console script, wherever it is


def alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie waiting for init to reap it has ended)."""
    running = {p for p, _, state, _ in processes() if not state.startswith("Z")}
    return [p for p in pids if p in running]


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive(pids):
        time.sleep(0.2)
    return alive(pids)
