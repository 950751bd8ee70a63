"""Every `lstmtrade` command the README shows runs, so an example cannot rot.

The commands are read from README.md's code blocks (indented, or fenced as sh/bash/console/text), in order, and run
in one temporary folder with small settings added where a command trains (one epoch, a small network, short
walk-forward windows; sweeps sample two configurations): the README says so. A fenced block whose first line is a
comment naming a file (``# my.py``, ``# sweep.toml``) is written to that file first, so a command that uses it runs
too. A command is skipped, with its reason, only when it needs what a fresh checkout cannot give (the user's own
file, the repository's ``../shared`` data when it is absent, an interrupted run, a Ray cluster) or its line
says ``(long)`` (``LSTMTRADE_LONG_TESTS=1`` runs those too). A command shown twice runs once.
"""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from lstmtrade.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TRAINS = {"backtest", "audit", "sweep", "train"}
FORCED = {"--epochs": "1", "--hidden": "8"}  # replace the README's values: one epoch of a small network
SMALL = {"--lookback": "10", "--min-train": "300", "--retrain-every": "300"}  # added unless the README gives them
SWEEP_SMALL = {"--random": "2", "--trial-seeds": "1", "--reps": "100", "--blocks": "2", "--reports": "none"}
FILE_ARG = re.compile(r"[\w./-]+\.(csv|csv\.gz|py|toml|pt|parquet)$")


def readme_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(kind, lines) of each code block: kind is the fence's language, or "indented"."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)", lines[i])
        if fence:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            blocks.append((fence.group(1) or "text", lines[i + 1:j]))
            i = j + 1
            continue
        if lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            blocks.append(("indented", [line[4:] for line in lines[i:j]]))
            i = j
            continue
        i += 1
    return blocks


def readme_files(blocks) -> dict[str, str]:
    """Files the README defines: a fenced block whose first line is ``# name.ext``."""
    files = {}
    for kind, lines in blocks:
        if kind != "indented" and lines and re.fullmatch(r"#\s*[\w.-]+\.\w+", lines[0].strip()):
            files[lines[0].strip().lstrip("#").strip()] = "\n".join(lines) + "\n"
    return files


def readme_commands(blocks) -> list[str]:
    commands = []
    for kind, lines in blocks:
        if kind not in ("indented", "sh", "bash", "console", "text", "shell"):
            continue
        for line in lines:
            line = line.strip().removeprefix("$ ")
            raw = line
            line = re.split(r"\s+#\s", line)[0]
            for part in line.split("&&"):  # `pip install -e . && lstmtrade backtest`: the lstmtrade part
                part = part.strip()
                if (part.startswith("lstmtrade ") or part == "lstmtrade") and part not in commands:
                    commands.append(part + (" #long" if "(long)" in raw else ""))
    return commands


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
COMMANDS = readme_commands(BLOCKS)


def small(args: list[str]) -> list[str]:
    """``args`` with the small settings added where the command trains (the README's own values win)."""
    if not args or args[0] not in TRAINS or "--help" in args:
        return args
    extra = dict(SMALL)
    forced = dict(FORCED)
    if args[0] == "sweep":
        forced.update(SWEEP_SMALL)
    else:
        extra["--no-baselines"] = None
        if "--seeds" in args:
            forced["--seeds"] = "2"  # an ensemble still, of two
    out = list(args)
    for option, value in forced.items():
        if option in out:
            out[out.index(option) + 1] = value
        else:
            out += [option, value]
    for option, value in extra.items():
        if option not in out:
            out += [option] if value is None else [option, value]
    if args[0] in ("backtest", "audit", "sweep") and "--out" not in args:
        out += ["--out", "reports"]
    return out


def why_skip(args: list[str], folder: Path) -> str | None:
    if "#long" in args and not os.environ.get("LSTMTRADE_LONG_TESTS"):
        return "marked (long) in the README; LSTMTRADE_LONG_TESTS=1 runs it"
    if "--resume" in args:
        return "needs an interrupted run to resume"
    if "--address" in args:
        return "needs a running Ray cluster"
    for arg in args:
        if "../shared/" in arg and not (ROOT / arg).exists():
            return f"needs the repository's shared data ({arg})"
        produced = arg.endswith(".pt") and "--model-out" in args  # the command writes it
        if FILE_ARG.fullmatch(arg) and not produced and "../shared/" not in arg and not (folder / arg).exists():
            return f"needs your own file {arg}"
    return None


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """One folder for the whole README, in order: later commands use what earlier ones wrote."""
    folder = tmp_path_factory.mktemp("readme")
    for name, text in readme_files(BLOCKS).items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "shared").mkdir()
    return folder


def test_the_readme_shows_commands_and_says_the_tests_run_them():
    assert len(COMMANDS) >= 5
    assert "tests/test_readme.py" in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{k:02d}" for k in range(len(COMMANDS))])
def test_readme_command_runs(command, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    args = shlex.split(command.replace(" #long", ""))[1:] + (["#long"] if command.endswith(" #long") else [])
    for k, arg in enumerate(args):  # a run folder placeholder: the newest run the README made so far
        if "<run>" in arg:
            runs = sorted((workspace / "reports").glob("2*"), key=lambda p: p.stat().st_mtime)
            if not runs:
                pytest.skip("no earlier run in this README to stand for <run>")
            args[k] = str(runs[-1])
        elif "../shared/" in arg:
            args[k] = str(ROOT / arg)
    reason = why_skip(args, workspace)
    if reason:
        pytest.skip(reason)
    args = [a for a in args if a != "#long"]
    result = CliRunner().invoke(cli, small(args), catch_exceptions=False)
    output = result.output
    assert "unexpected" not in output and "Traceback" not in output, output[-2000:]
    if args[0] == "audit":  # PASS/FAIL lines, exit 1 only when a check fails
        assert result.exit_code in (0, 1) and ("PASS" in output or "FAIL" in output), output[-2000:]
    else:
        assert result.exit_code == 0, f"{' '.join(small(args))}\n{output[-2000:]}"
