"""--baselines LIST and --no-baselines: what each runs, and a bad name refused in one line before anything is
written."""
import pytest
from click.testing import CliRunner

import lstmtrade.pipeline
from lstmtrade.cli.main import cli
from lstmtrade.config import DEFAULT_BASELINES, Config
from lstmtrade.errors import ConfigError


@pytest.fixture()
def seen(monkeypatch):
    """The config a backtest would run with; the run stops at its pre-flight checks."""
    got = []

    def stop(prices, config):
        got.append(config)
        raise ConfigError("stopped by the test")

    monkeypatch.setattr(lstmtrade.pipeline, "preflight", stop)
    return got


def backtest(tmp_path, *args):
    return CliRunner().invoke(cli, ["backtest", "--data", "sample:MSFT", *args, "--out", str(tmp_path / "out")])


@pytest.mark.parametrize("args, expected", [
    ((), DEFAULT_BASELINES),
    (("--baselines", "zero,lightgbm"), ("zero", "lightgbm")),
    (("--baselines", " Reversal , momentum "), ("reversal", "momentum")),
    (("--baselines", "none"), ()),
    (("--no-baselines",), ()),
])
def test_baselines_option_parses_a_list(tmp_path, seen, args, expected):
    result = backtest(tmp_path, *args)
    assert result.exit_code == 2 and "stopped by the test" in result.output
    assert seen[0].baselines == expected


@pytest.mark.parametrize("args, fragment", [
    (("--baselines", "zero,lightgbn"), "unknown forecaster 'lightgbn'; did you mean 'lightgbm'?"),
    (("--baselines", "zero,zero"), "lists a forecaster twice"),
    (("--baselines", "zero", "--no-baselines"), "--baselines and --no-baselines: give one of them"),
])
def test_a_bad_baselines_list_is_one_line_and_exit_2(tmp_path, seen, args, fragment):
    result = backtest(tmp_path, *args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert not seen and not (tmp_path / "out").exists()


def test_config_and_notebooks_keep_true_and_false():
    """baselines=True/False (configs written before the list) still mean the defaults and none."""
    assert Config(baselines=True).baselines == DEFAULT_BASELINES
    assert Config(baselines=False).baselines == ()
    assert Config(baselines="zero,linear").to_dict()["baselines"] == ["zero", "linear"]
