"""Parquet panels and files: only the columns used are read, then the CSV's screening, so the same forecasts."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from conftest import TINY

from lstmtrade.config import Config
from lstmtrade.data.panel import is_universe, load_universe
from lstmtrade.data.prices import load_prices, read_sample
from lstmtrade.errors import ConfigError, DataError
from lstmtrade.files import exact_numbers
from lstmtrade.forecast.walkforward import walk_forward_predict

pq = pytest.importorskip("pyarrow.parquet")
TICKERS = ["AAL", "ABBV", "ABC", "ADM"]  # ADM: repaired in the sample (bad rows dropped), so screening is exercised


def typed(raw: pd.DataFrame) -> pd.DataFrame:
    """A CSV's text columns as a Parquet file holds them: numbers as the float64 the text names, dates as dates."""
    out = raw.copy()
    for name in ("Open", "High", "Low", "Close", "Volume"):
        out[name] = exact_numbers(out[name].str.strip())
    out["Date"] = pd.to_datetime(out["Date"])
    return out


@pytest.fixture(scope="module")
def sample_rows():
    raw = read_sample("SP500", "sample:SP500")
    return raw[raw["Ticker"].isin(TICKERS)].reset_index(drop=True)


@pytest.fixture(scope="module")
def csv_panel(sample_rows, tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "panel.csv"
    sample_rows.to_csv(path, index=False)
    return load_universe(str(path))


def test_a_parquet_panel_is_the_csv_panel(sample_rows, csv_panel, tmp_path, monkeypatch):
    frame = typed(sample_rows)
    frame["Notes"] = "fundamentals and other columns are never read"
    frame["Sector"] = np.arange(len(frame))
    path = tmp_path / "panel.parquet"
    frame.to_parquet(path, index=False)
    asked = []
    read_table = pq.read_table
    monkeypatch.setattr(pq, "read_table", lambda *a, **k: asked.append(k["columns"]) or read_table(*a, **k))
    assert is_universe(str(path))
    universe = load_universe(str(path))
    assert asked == [["Ticker", "Date", "Open", "High", "Low", "Close", "Volume"]]
    assert universe.sha256 == csv_panel.sha256 and universe.report.equals(csv_panel.report)
    assert (universe.report["status"] != "used").any()  # the faults were screened as in the CSV
    assert universe.warnings == csv_panel.warnings


def test_folders_of_parquet_files_and_the_same_forecasts(sample_rows, csv_panel, tmp_path):
    frame = typed(sample_rows)
    per_ticker, parts = tmp_path / "tickers", tmp_path / "parts"
    per_ticker.mkdir()
    parts.mkdir()
    for ticker, rows in frame.groupby("Ticker"):
        rows.drop(columns="Ticker").to_parquet(per_ticker / f"{ticker}.parquet", index=False)
    shuffled = frame.sample(frac=1.0, random_state=0)  # rows in any order, tickers across parts
    for k in range(3):
        shuffled.iloc[k::3].to_parquet(parts / f"part-{k}.parquet", index=False)
    for folder in (per_ticker, parts):
        assert load_universe(str(folder)).sha256 == csv_panel.sha256, folder
    assert load_universe(str(parts), tickers=["abbv", "AAL"]).tickers == ["AAL", "ABBV"]
    config = Config(**TINY)
    local = walk_forward_predict(csv_panel, config)
    pd.testing.assert_frame_equal(walk_forward_predict(load_universe(str(parts)), config).frame, local.frame,
                                  check_exact=True)


def test_one_tickers_parquet_file_and_stored_time_zones(tmp_path):
    msft = load_prices("sample:MSFT", end="2003-12-31")
    daily = msft.frame.rename_axis("Date").reset_index()
    daily.to_parquet(tmp_path / "MSFT.parquet", index=False)
    loaded = load_prices(str(tmp_path / "MSFT.parquet"))
    assert loaded.sha256 == msft.sha256 and loaded.name == "MSFT" and not is_universe(str(tmp_path / "MSFT.parquet"))
    hourly = pd.DataFrame({"timestamp": pd.date_range("2017-01-02 09:00", periods=30, freq="h", tz="Europe/Berlin"),
                           "open": 1.0, "high": 1.2, "low": 0.9, "close": 1.1, "volume": 5})
    hourly.to_parquet(tmp_path / "fx.parquet", index=False)
    text = hourly.assign(timestamp=hourly["timestamp"].map(lambda t: t.isoformat()))
    text.to_csv(tmp_path / "fx.csv", index=False)
    stored, written = load_prices(str(tmp_path / "fx.parquet")), load_prices(str(tmp_path / "fx.csv"))
    assert stored.sha256 == written.sha256 and stored.frame.index[0] == pd.Timestamp("2017-01-02 08:00")


def test_bad_parquet_and_missing_pyarrow_say_one_line(tmp_path, monkeypatch):
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1" + b"\0" * 64)
    with pytest.raises(DataError, match="damaged.parquet: not a readable Parquet file"):
        load_prices(str(damaged))
    pd.DataFrame({"Date": ["2020-01-01"], "Price": [1.0]}).to_parquet(tmp_path / "odd.parquet", index=False)
    with pytest.raises(DataError, match=r"missing column\(s\) Open, High, Low, Close, Volume"):
        load_prices(str(tmp_path / "odd.parquet"))
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ConfigError, match=r'pip install "lstmtrade\[parquet\]"'):
        load_prices(str(tmp_path / "odd.parquet"))
