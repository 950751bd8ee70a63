"""The house's map, checked: stages import one way, no circles, short modules, private names kept private, and the
public API and old saved paths unchanged by the move to stage packages (docs/architecture.md)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lstmtrade"
MAX_LINES = 450


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_import_contracts_are_kept():
    """The layers, acyclic-siblings and private-modules contracts of pyproject.toml (imports inside functions too)."""
    pytest.importorskip("importlinter", reason='import-linter checks the layers: pip install -e ".[test]"')
    run = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                          "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("KEPT") == 3 and "BROKEN" not in run.stdout


def test_a_broken_layer_is_caught(tmp_path):
    """The contract can fail: a copy of the package whose data stage imports the report stage is refused."""
    pytest.importorskip("importlinter", reason='import-linter checks the layers: pip install -e ".[test]"')
    import shutil

    copy = tmp_path / "lstmtrade"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "samples", "*.c"))
    with (copy / "data" / "load.py").open("a", encoding="utf-8") as handle:
        handle.write("\nfrom ..report import html  # an upward import\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                          "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode != 0 and "Stages flow one way BROKEN" in run.stdout
    assert "lstmtrade.data.load -> lstmtrade.report.html" in run.stdout


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(ROOT)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_at_most_eight_modules_on_the_ground_floor():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def _dotted(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_underscored_names_are_used_only_in_their_own_module():
    """A name imported from, or read off, another lstmtrade module is public (no leading underscore)."""
    offenders = []
    for path in _modules():
        here = _dotted(path)
        package = here if path.name == "__init__.py" else here.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}  # local name -> lstmtrade module imported as a whole
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                source = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
                if not source.startswith("lstmtrade"):
                    continue
                for name in node.names:
                    if name.name.startswith("_") and not name.name.startswith("__"):
                        offenders.append(f"{here}: from {source} import {name.name}")
                    aliases[name.asname or name.name] = f"{source}.{name.name}"
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                offenders.append(f"{here}: {node.value.id}.{node.attr}")
    assert not offenders, offenders


def test_public_api_names_resolve_and_backtest_stays_a_function():
    import lstmtrade
    import lstmtrade.backtesting.single  # noqa: F401  (importing the stage must not hide the function)

    missing = [name for name in lstmtrade.__all__ if name != "__version__" and not hasattr(lstmtrade, name)]
    assert not missing
    assert callable(lstmtrade.backtest) and lstmtrade.backtest.__name__ == "backtest"
    assert lstmtrade.backtest.__module__ == "lstmtrade.backtesting.single"


def test_saved_dotted_paths_from_before_the_move_still_load():
    """A sweep's plan.json or a run's config.toml may name lstmtrade.portfolio:TopK (the flat layout's path)."""
    from lstmtrade import LongShort, TopK
    from lstmtrade.backtesting.loader import load_strategy

    assert load_strategy("lstmtrade.portfolio:TopK") is TopK
    assert load_strategy("lstmtrade.strategy:LongShort") is LongShort


def test_importing_the_cli_stays_light():
    """``lstmtrade --help`` must not pay for pandas, torch or Backtrader at start-up."""
    code = ("import sys, lstmtrade.cli; heavy = [m for m in ('pandas', 'torch', 'backtrader', 'numpy') "
            "if m in sys.modules]; print(','.join(heavy))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "", run.stdout + run.stderr
