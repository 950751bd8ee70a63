"""Backtrader's compile-time 'invalid escape sequence' warnings stay out of our output.

Each check compiles Backtrader afresh (``-X pycache_prefix`` points Python at an empty bytecode cache,
as after an install with ``--no-compile``) with every warning shown (``-W always``). A control import
of plain ``backtrader`` under the same conditions must show the warning, else there is nothing to
filter (a Backtrader release without the invalid escapes) and the checks skip.
"""
import subprocess
import sys
from pathlib import Path

import pytest

WARNING = "invalid escape sequence"
ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, cache: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", f"pycache_prefix={cache}", "-W", "always", *args, "-c", code],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture()
def backtrader_warns(tmp_path):
    control = _python("import backtrader", tmp_path / "control")
    assert control.returncode == 0, control.stderr
    if WARNING not in control.stderr:
        pytest.skip("this Backtrader compiles without invalid escape sequences: nothing to filter")


def test_importing_our_backtrader_modules_prints_no_compile_warnings(backtrader_warns, tmp_path):
    run = _python("import lstmtrade.backtesting.strategy, warnings; warnings.warn('still shown', UserWarning)",
                  tmp_path / "ours")
    assert run.returncode == 0, run.stderr
    assert WARNING not in run.stderr
    assert "still shown" in run.stderr  # the filter is scoped: other warnings still reach the user


def test_pytest_config_filters_them_for_a_test_that_imports_backtrader_itself(backtrader_warns, tmp_path):
    test = tmp_path / "test_imports_backtrader.py"
    test.write_text("def test_import():\n    import backtrader\n    assert backtrader.Cerebro\n")
    args = ["-m", "pytest", str(test), "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
            "-c", str(ROOT / "pyproject.toml")]
    filtered = subprocess.run([sys.executable, "-X", f"pycache_prefix={tmp_path / 'a'}", *args],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert filtered.returncode == 0, filtered.stdout + filtered.stderr
    assert WARNING not in filtered.stdout + filtered.stderr
    # control: without the config's filters the same test reports the warning
    unfiltered = subprocess.run([sys.executable, "-X", f"pycache_prefix={tmp_path / 'b'}", *args,
                                 "-o", "filterwarnings="], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert WARNING in unfiltered.stdout + unfiltered.stderr


def test_every_lstmtrade_module_takes_backtrader_from_the_filtered_import():
    importers = sorted(p.name for p in (ROOT / "lstmtrade").rglob("*.py")
                       if any(line.strip().startswith(("import backtrader", "from backtrader"))
                              for line in p.read_text(encoding="utf-8").splitlines()))
    assert importers == ["_backtrader.py"]
