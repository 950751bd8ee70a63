"""Model files, train_final's parity with the backtest, and `lstmtrade signal` (tiny configs, no network)."""
from __future__ import annotations

import datetime as dt
import json
import os
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lstmtrade.cli.main import cli
from lstmtrade.cli.signal import data_group, signal_cmd, train
from lstmtrade.config import Config
from lstmtrade.data.prices import PriceData, load_prices
from lstmtrade.errors import DataError, ModelFileError, StrategyError
from lstmtrade.features import warmup
from lstmtrade.forecast.artifact import FORMAT_VERSION, load_model
from lstmtrade.forecast.walkforward import walk_forward_predict
from lstmtrade.live.signal import final_fold, signal, train_final

for _command in (train, signal_cmd, data_group):
    cli.add_command(_command)

# engine "loop": train_final always trains with the loop engine (fit_lstm_fold), so the backtest it is
# compared with bit for bit must too; the fused engine agrees to float32 rounding (checked below).
TINY = dict(min_train=300, retrain_every=100, epochs=2, lookback=10, hidden=8, batch_size=64,
            early_stopping=False, baselines=False, engine="loop", threads=1)
TINY_FLAGS = ["--threads", "1", "--min-train", "300", "--retrain-every", "100", "--epochs", "2", "--lookback", "10",
              "--hidden", "8", "--batch-size", "64", "--no-early-stopping", "--engine", "loop"]


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    """threads=1 keeps these tiny fits fast on a busy machine; give the rest of the session its setting back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _cut(prices: PriceData, last_row: int) -> PriceData:
    return PriceData(prices.frame.iloc[: last_row + 1], prices.source, prices.name)


@pytest.fixture(scope="module")
def msft():
    return load_prices("sample:MSFT", end="2004-06-30")


@pytest.fixture(scope="module")
def case(msft):
    """Data ending at T, the first test day of backtest fold 2, the backtest's predictions and train_final."""
    config = Config(**TINY)
    s0 = warmup(config.features) + config.min_train
    t = s0 + 2 * config.retrain_every
    data = _cut(msft, t)
    backtest = walk_forward_predict(data, config).frame
    trained = train_final(data, config)
    return {"config": config, "T": t, "data": data, "backtest": backtest, "trained": trained}


@pytest.fixture(scope="module")
def model_file(case, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.pt"
    case["trained"].save(path)
    return path


# ------------------------------------------------------------------------------------------ parity
def test_final_fold_matches_backtest_fold_geometry(case):
    backtest = case["backtest"]
    assert backtest["fold"].iloc[-1] == 3 and backtest.index[-1] == case["data"].frame.index[-1]
    fold = final_fold(len(case["data"]), case["config"])
    assert fold.index == 2 and fold.test == range(case["T"], case["T"] + 1)


def test_train_final_prediction_equals_backtest_prediction(case):
    expected = case["backtest"]["prediction"].iloc[-1]
    result = signal(case["trained"], case["data"])
    assert result["last_date"] == str(case["data"].frame.index[-1].date())
    assert case["trained"].prediction == expected
    assert result["prediction"] == expected  # exact: same rows, scaler, seed and training loop


@pytest.mark.parametrize("settings", [{"early_stopping": True, "val_fraction": 0.2}, {"engine": "auto"}],
                         ids=["early-stopping", "engine-auto"])
def test_parity_with_validation_tail_and_default_engine(msft, settings):
    config = Config(**{**TINY, **settings})
    t = warmup(config.features) + config.min_train + 2 * config.retrain_every
    data = _cut(msft, t)
    expected = walk_forward_predict(data, config).frame["prediction"].iloc[-1]
    result = signal(train_final(data, config), data)
    if config.engine == "loop" or config.early_stopping_active:
        assert result["prediction"] == expected
    else:  # the backtest may have used the fused engine: equal to float32 rounding
        assert result["prediction"] == pytest.approx(expected, rel=1e-5, abs=1e-7)


# ------------------------------------------------------------------------------------- model files
def test_round_trip_reproduces_predictions(case, model_file):
    loaded = load_model(model_file)
    data, trained = case["data"], case["trained"]
    date, value = loaded.predict_last(data)
    assert date == data.frame.index[-1] and value == trained.prediction
    rows = np.arange(400, len(data))
    from lstmtrade.features import build_features

    x = build_features(data.frame, case["config"].features).to_numpy()
    np.testing.assert_array_equal(loaded.predict_rows(data, rows), trained.fitted.predict(x, rows))
    meta = loaded.metadata
    assert meta["format_version"] == FORMAT_VERSION and meta["config"] == case["config"].to_dict()
    assert meta["train_end"] == str(data.frame.index[-1].date()) and meta["data"]["sha256"] == data.sha256
    assert set(meta["versions"]) == {"lstmtrade", "torch", "pandas", "numpy"}
    assert loaded.config == case["config"]


def test_file_holds_only_strings_and_tensors(model_file):
    raw = torch.load(model_file, weights_only=True, map_location="cpu")
    assert set(raw) == {"format", "format_version", "metadata", "metadata_sha256", "weights"}
    assert all(isinstance(raw[k], str) for k in raw if k != "weights")
    assert all(isinstance(v, torch.Tensor) for v in raw["weights"].values())


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["pickle", "torch"])
def test_malicious_pickle_is_refused_without_running(tmp_path, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if how == "pickle":
        path.write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    else:
        torch.save({"format": "lstmtrade-model", "format_version": "1", "x": _Evil(marker)}, path)
    with pytest.raises(ModelFileError) as info:
        load_model(path)
    assert not marker.exists()
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_tampered_weights_fail_the_checksum(model_file, tmp_path):
    raw = torch.load(model_file, weights_only=True, map_location="cpu")
    name = sorted(raw["weights"])[0]
    raw["weights"][name] = raw["weights"][name].clone()
    raw["weights"][name].view(-1)[0] += 0.5
    path = tmp_path / "tampered.pt"
    torch.save(raw, path)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_model(path)


def test_tampered_metadata_fails_the_checksum(model_file, tmp_path):
    raw = torch.load(model_file, weights_only=True, map_location="cpu")
    raw["metadata"] = raw["metadata"].replace('"y_std": ', '"y_std": 1')
    path = tmp_path / "tampered.pt"
    torch.save(raw, path)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_model(path)


def test_refuses_other_versions_and_files(model_file, tmp_path):
    raw = torch.load(model_file, weights_only=True, map_location="cpu")
    raw["format_version"] = "99"
    torch.save(raw, tmp_path / "v99.pt")
    with pytest.raises(ModelFileError, match="incompatible model format version 99"):
        load_model(tmp_path / "v99.pt")
    torch.save({"weights": raw["weights"]}, tmp_path / "plain.pt")
    with pytest.raises(ModelFileError, match="not an lstmtrade model"):
        load_model(tmp_path / "plain.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ModelFileError, match="not a torch model file"):
        load_model(tmp_path / "text.pt")
    with pytest.raises(ModelFileError, match="not a file"):
        load_model(tmp_path)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.pt")


# -------------------------------------------------------------------------------------- signal API
def test_signal_refuses_data_ending_before_train_end(case, model_file):
    short = _cut(case["data"], case["T"] - 5)
    with pytest.raises(DataError, match="before the model's training data ends"):
        signal(model_file, short)


def test_signal_on_later_data_and_model_age(case, msft, model_file):
    later = _cut(msft, case["T"] + 30)
    result = signal(model_file, later)
    assert result["last_date"] == str(later.frame.index[-1].date())
    assert result["data_matches_training"] is True and result["warnings"] == []
    assert result["target_weight"] == (1.0 if result["prediction"] > 0 else 0.0)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=10)
    with pytest.raises(ModelFileError, match="older than --max-age 5"):
        signal(model_file, later, max_age_days=5, now=future)
    assert signal(model_file, later, max_age_days=30, now=future)["prediction"] == result["prediction"]


def test_signal_refuses_non_daily_and_uncomputable_data(case, msft, model_file):
    weekly = msft.frame.resample("W-FRI").agg({"open": "first", "high": "max", "low": "min", "close": "last",
                                               "volume": "sum"}).dropna()
    with pytest.raises(DataError, match="not daily"):
        signal(model_file, PriceData(weekly, "weekly.csv", "W"))
    no_volume = PriceData(msft.frame.drop(columns="volume"), "novol.csv", "X")
    with pytest.raises(DataError, match="columns don't match"):
        signal(model_file, no_volume)
    short = PriceData(msft.frame.iloc[-15:], "short.csv", "X")  # ends after train_end, too short for features
    assert short.frame.index[-1] > case["data"].frame.index[-1]
    with pytest.raises(DataError, match="cannot be computed"):
        signal(model_file, short)


def test_signal_strategies(case, msft, model_file):
    later = _cut(msft, case["T"] + 10)
    loaded = load_model(model_file)
    base = signal(loaded, later)
    pred = base["prediction"]
    long_short = signal(loaded, later, "LongShort", {"band": abs(pred) / 2})
    assert long_short["target_weight"] == (1.0 if pred > 0 else -1.0)
    prop = signal(loaded, later, "Proportional", {"scale": abs(pred) * 4})
    assert prop["target_weight"] == pytest.approx(0.25 * np.sign(pred))
    high = signal(loaded, later, None, {"threshold": abs(pred) + 1})
    assert high["target_weight"] == 0.0 and high["params"] == {"threshold": abs(pred) + 1}
    with pytest.raises(StrategyError, match="only strategies"):
        signal(loaded, later, "VolTarget")


# ------------------------------------------------------------------------------------------- CLI
def test_cli_train_then_signal_json_matches_backtest(case, tmp_path):
    runner = CliRunner()
    end = str(case["data"].frame.index[-1].date())
    out = tmp_path / "m.pt"
    result = runner.invoke(cli, ["train", "--data", "sample:MSFT", "--end", end, *TINY_FLAGS,
                                 "--model-out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    result = runner.invoke(cli, ["signal", "--model", str(out), "--data", "sample:MSFT", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["train_end"] == end
    # The sample runs on past `end`, so compare at T with data cut to T.
    result = runner.invoke(cli, ["signal", "--model", str(out), "--data", str(_csv(case["data"], tmp_path)),
                                 "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["last_date"] == end
    assert payload["prediction"] == pytest.approx(case["backtest"]["prediction"].iloc[-1], abs=1e-12)
    table = runner.invoke(cli, ["signal", "--model", str(out), "--data", str(_csv(case["data"], tmp_path))])
    assert table.exit_code == 0 and "target weight" in table.stdout and "prediction" in table.stdout


def _csv(data: PriceData, folder) -> str:
    path = folder / "cut.csv"
    data.frame.rename_axis("Date").to_csv(path, float_format="%.17g")
    return str(path)


def test_cli_signal_errors_are_one_line_exit_2(case, model_file, tmp_path):
    runner = CliRunner()
    short = _csv(_cut(case["data"], case["T"] - 5), tmp_path)
    result = runner.invoke(cli, ["signal", "--model", str(model_file), "--data", short])
    assert result.exit_code == 2 and "before the model's training data ends" in result.stderr
    result = runner.invoke(cli, ["signal", "--model", str(tmp_path / "nope.pt"), "--data", short])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "not found" in result.stderr
    result = runner.invoke(cli, ["signal", "--model", str(model_file)])
    assert result.exit_code == 2 and "--data" in result.stderr
    result = runner.invoke(cli, ["signal", "--model", str(model_file), "--data", "sample:MSFT",
                                 "--strategy", "LongShort", "--param", "band=0.001", "--max-age", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["params"] == {"band": 0.001}


def test_as_scheduled_signal_equals_the_last_backtested_prediction(tmp_path):
    """The 'done when' of the signals issue: backtest, train, signal --json; the last day matches."""
    import json

    import pandas as pd
    from click.testing import CliRunner

    from lstmtrade.cli.main import cli

    args = ["--end", "2003-09-30", "--min-train", "300", "--retrain-every", "100", "--epochs", "2",
            "--lookback", "10", "--hidden", "8", "--threads", "1"]
    runner = CliRunner()
    bt = runner.invoke(cli, ["backtest", *args, "--no-baselines", "--out", str(tmp_path / "r"), "-q"])
    assert bt.exit_code == 0, bt.output
    predictions = pd.read_csv(next((tmp_path / "r").glob("*/predictions.csv")), index_col="date")
    model = tmp_path / "m.pt"
    tr = runner.invoke(cli, ["train", *args, "--as-scheduled", "--model-out", str(model), "-q"])
    assert tr.exit_code == 0, tr.output
    data = tmp_path / "cut.csv"
    import lstmtrade

    lstmtrade.load_prices(end="2003-09-30").frame.rename_axis("Date").to_csv(data)
    sig = runner.invoke(cli, ["signal", "--model", str(model), "--data", str(data), "--json"])
    assert sig.exit_code == 0, sig.output
    payload = json.loads(sig.stdout)
    assert payload["last_date"].startswith("2003-09-30")
    assert payload["prediction"] == pytest.approx(predictions["prediction"].iloc[-1], rel=1e-6, abs=1e-12)
