"""Where --device auto trains, and which engine --engine auto picks on a GPU (decided without one)."""
import pytest
import torch

from lstmtrade.config import Config
from lstmtrade.forecast.engines import choose_device, resolve_engine


@pytest.fixture
def gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_auto_stays_on_the_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device(Config(device="auto"))[0] == "cpu"


def test_auto_keeps_a_small_network_on_the_cpu_and_sends_big_work_to_the_gpu(gpu):
    device, why = choose_device(Config(device="auto"))
    assert device == "cpu" and "C kernel" in why
    assert choose_device(Config(device="auto", layers=2, hidden=128))[0] == "cuda"
    assert choose_device(Config(device="auto"), tickers=60)[0] == "cuda"
    assert choose_device(Config(device="auto", model="linear"), tickers=60)[0] == "cpu"
    assert choose_device(Config(device="cpu", layers=2, hidden=128)) == ("cpu", "as asked")


def test_engine_auto_on_cuda_is_fused_where_it_applies(gpu):
    fixed_epochs = Config(device="cuda", early_stopping=False)
    assert resolve_engine(fixed_epochs) == "fused"
    assert resolve_engine(Config(device="cuda")) == "loop"  # early stopping: fused trains fixed epochs
    assert resolve_engine(fixed_epochs.replace(layers=2)) == "loop"
    assert resolve_engine(fixed_epochs.replace(engine="loop")) == "loop"


def test_start_up_lines_say_why_auto_chose_the_cpu(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from lstmtrade.cli.main import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = CliRunner().invoke(cli, ["backtest", "--end", "2003-12-31", "--min-train", "300", "--model", "zero",
                                      "--no-baselines", "--device", "auto", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "device cpu (auto: no CUDA GPU here)" in result.output
    tearsheet = next(tmp_path.glob("*/tearsheet.html")).read_text()
    assert "never held a position" in tearsheet  # a zero forecast never trades: a page that says so
