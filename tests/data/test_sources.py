"""--ticker downloads: yfinance-shaped frames flattened and cached for real; the network is never touched."""
from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from lstmtrade.cli.main import cli
from lstmtrade.cli.signal import data_group, signal_cmd, train
from lstmtrade.data import sources
from lstmtrade.data.prices import load_prices
from lstmtrade.errors import DataError

LAST = str(load_prices("sample:MSFT").frame.index[-1].date())

for _command in (train, signal_cmd, data_group):
    cli.add_command(_command)


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """Every test gets its own cache folder, and a fetch that fails loudly unless a test replaces it."""
    monkeypatch.setenv(sources.ENV_CACHE, str(tmp_path / "cache"))

    def no_network(symbol, start, end):
        raise AssertionError("a test tried to reach Yahoo")

    monkeypatch.setattr(sources, "_fetch_yahoo", no_network)
    return tmp_path / "cache"


def yahoo_frame(symbol: str = "MSFT", rows: int = 400, tickers: tuple[str, ...] | None = None) -> pd.DataFrame:
    """A frame shaped like yfinance.download's: MultiIndex (Price, Ticker) columns, tz-aware 'Date' index."""
    base = load_prices("sample:MSFT").frame.iloc[-rows:]
    index = pd.DatetimeIndex(base.index.tz_localize("America/New_York"), name="Date")
    columns = {}
    for ticker in tickers or (symbol,):
        scale = 1.0 if ticker == symbol else 2.0
        columns.update({
            ("Adj Close", ticker): base["close"].to_numpy() * 0.9 * scale,
            ("Close", ticker): base["close"].to_numpy() * scale,
            ("High", ticker): base["high"].to_numpy() * scale,
            ("Low", ticker): base["low"].to_numpy() * scale,
            ("Open", ticker): base["open"].to_numpy() * scale,
            ("Volume", ticker): base["volume"].to_numpy(),
        })
    frame = pd.DataFrame(columns, index=index)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["Price", "Ticker"])
    return frame


class Recorder:
    def __init__(self, frame):
        self.frame, self.calls = frame, []

    def __call__(self, symbol, start, end):
        self.calls.append((symbol, start, end))
        return self.frame


def test_normalize_flattens_multiindex_and_strips_time_zone():
    raw = yahoo_frame(rows=30)
    out = sources.normalize(raw, "MSFT")
    assert list(out.columns) == ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    assert out.index.tz is None and out.index.name == "Date"
    # the calendar date is kept (tz_localize(None)), never shifted to another day by a UTC conversion
    assert list(out.index.date) == list(raw.index.date)
    assert (out.index == out.index.normalize()).all()
    several = sources.normalize(yahoo_frame(rows=30, tickers=("AAPL", "MSFT")), "MSFT")
    pd.testing.assert_series_equal(several["Close"], out["Close"])


def test_download_caches_and_reuses_until_refresh(monkeypatch, offline_cache):
    fetch = Recorder(yahoo_frame())
    monkeypatch.setattr(sources, "_fetch_yahoo", fetch)
    path = sources.download("msft")
    assert path == offline_cache / "MSFT.csv" and len(fetch.calls) == 1
    meta = json.loads((offline_cache / "MSFT.json").read_text())
    assert meta["symbol"] == "MSFT" and meta["rows"] == 400 and "downloaded" in meta
    assert sources.download("MSFT") == path and len(fetch.calls) == 1  # cached: no second fetch
    data = sources.load_ticker("MSFT")
    assert len(fetch.calls) == 1 and data.source == "yahoo:MSFT" and data.name == "MSFT"
    expected = load_prices("sample:MSFT").frame.iloc[-400:]
    assert (data.frame.index == expected.index).all()
    # Adj Close was kept in the cache, so the loader adjusts OHLC by Adj Close / Close as for any CSV
    pd.testing.assert_series_equal(data.frame["close"], expected["close"] * 0.9, check_exact=False, rtol=1e-9)
    sources.download("MSFT", refresh=True)
    assert len(fetch.calls) == 2


def test_cache_folder_parameter_beats_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "_fetch_yahoo", Recorder(yahoo_frame(rows=60)))
    path = sources.download("IBM", cache=tmp_path / "elsewhere")
    assert path == tmp_path / "elsewhere" / "IBM.csv"
    monkeypatch.delenv(sources.ENV_CACHE)
    assert sources.cache_dir() == sources.Path.home() / ".cache" / "lstmtrade" / "prices"


@pytest.mark.parametrize("failure", [ConnectionError("Failed to resolve query1.finance.yahoo.com"), None])
def test_download_errors_say_offline_and_suggest_data(monkeypatch, offline_cache, failure):
    def fetch(symbol, start, end):
        if failure is not None:
            raise failure
        return pd.DataFrame()  # what yfinance returns when it could not download

    monkeypatch.setattr(sources, "_fetch_yahoo", fetch)
    with pytest.raises(DataError, match=r"could not download MSFT \(offline\?\).*use --data FILE"):
        sources.download("MSFT")
    assert not (offline_cache / "MSFT.csv").exists()


def test_missing_yfinance_gives_install_hint(monkeypatch):
    monkeypatch.undo()  # the real _fetch_yahoo, but yfinance cannot be imported
    monkeypatch.setitem(sys.modules, "yfinance", None)
    with pytest.raises(DataError, match=r'pip install "lstmtrade\[yahoo\]"'):
        sources._fetch_yahoo("MSFT", None, None)


def test_bad_symbol_and_bad_download_are_not_cached(monkeypatch, offline_cache):
    with pytest.raises(DataError, match="not a ticker symbol"):
        sources.download("../etc/passwd")
    broken = yahoo_frame(rows=40)
    broken[("High", "MSFT")] = broken[("Low", "MSFT")] * 0.5
    monkeypatch.setattr(sources, "_fetch_yahoo", Recorder(broken))
    with pytest.raises(DataError, match="not usable"):
        sources.download("MSFT")
    assert not (offline_cache / "MSFT.csv").exists()


def test_list_summary_and_data_cli(monkeypatch, offline_cache):
    monkeypatch.setattr(sources, "_fetch_yahoo", Recorder(yahoo_frame(rows=120)))
    sources.download("MSFT")
    cached = sources.list_cached()
    assert [row["symbol"] for row in cached] == ["MSFT"] and cached[0]["rows"] == 120
    info = sources.summary("MSFT")
    assert info["kind"] == "cached" and info["rows"] == 120 and info["last"] == LAST
    assert sources.summary("sample:IBM")["kind"] == "sample"
    with pytest.raises(DataError, match="neither cached"):
        sources.summary("ZZZZ")
    runner = CliRunner()
    result = runner.invoke(cli, ["data", "list"])
    assert result.exit_code == 0, result.output
    assert "MSFT" in result.stdout and "cached" in result.stdout and "sample" in result.stdout
    result = runner.invoke(cli, ["data", "show", "MSFT", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["rows"] == 120
    result = runner.invoke(cli, ["data", "show", "ZZZZ"])
    assert result.exit_code == 2 and "neither cached" in result.stderr


def test_train_and_signal_with_ticker(monkeypatch, tmp_path):
    import torch

    threads = torch.get_num_threads()
    try:
        _train_and_signal_with_ticker(monkeypatch, tmp_path)
    finally:
        torch.set_num_threads(threads)  # --threads 1 must not leak into other tests


def _train_and_signal_with_ticker(monkeypatch, tmp_path):
    fetch = Recorder(yahoo_frame(rows=420))
    monkeypatch.setattr(sources, "_fetch_yahoo", fetch)
    runner = CliRunner()
    model = tmp_path / "m.pt"
    result = runner.invoke(cli, ["train", "--ticker", "MSFT", "--min-train", "300", "--retrain-every", "100",
                                 "--epochs", "1", "--lookback", "5", "--hidden", "4", "--threads", "1",
                                 "--model-out", str(model), "-q"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["signal", "--model", str(model), "--ticker", "MSFT", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["data_source"] == "yahoo:MSFT" and payload["last_date"] == LAST
    assert len(fetch.calls) == 1  # the signal reused the cache
    result = runner.invoke(cli, ["signal", "--model", str(model), "--ticker", "MSFT", "--data", "x.csv"])
    assert result.exit_code == 2 and "not both" in result.stderr
