"""Universes: panel CSVs, folders, the bundled sample; per-ticker validation that never sees the future.

Synthetic tickers are calm random walks (daily moves about 1 %, steady volume) with one fault planted, so each
test shows one rule: which rows are dropped, from when a ticker is excluded, and that nothing else changes.
"""
from __future__ import annotations

import gzip
import re

import numpy as np
import pandas as pd
import pytest

from lstmtrade.data import sources
from lstmtrade.data.panel import Universe, is_universe, load_universe
from lstmtrade.data.prices import load_prices
from lstmtrade.data.screen import REPORT_COLUMNS
from lstmtrade.errors import DataError

DATES = pd.bdate_range("2020-01-01", periods=120)


def bars(seed: int, n: int = 120, start: int = 0) -> pd.DataFrame:
    """A calm ticker: Date, Open, High, Low, Close, Volume from business day ``start`` on."""
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    frame = pd.DataFrame({"Date": DATES[start:start + n].strftime("%Y-%m-%d"), "Open": open_,
                          "High": np.maximum(open_, close) * 1.005, "Low": np.minimum(open_, close) * 0.995,
                          "Close": close, "Volume": 1e6 * (1 + 0.1 * rng.random(n))})
    return frame.round(6)


def panel(**tickers: pd.DataFrame) -> pd.DataFrame:
    """Long format: Ticker first, then each ticker's bars."""
    return pd.concat([frame.assign(Ticker=name)[["Ticker", *frame.columns]] for name, frame in tickers.items()],
                     ignore_index=True)


def scale(frame: pd.DataFrame, rows, factor: float) -> pd.DataFrame:
    out = frame.copy()
    out.loc[rows, ["Open", "High", "Low", "Close"]] *= factor
    return out


def row(universe: Universe, ticker: str) -> dict:
    return universe.report.set_index("ticker").loc[ticker].to_dict()


def error(source, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_universe(source, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message, message
    return message


# --- sources ------------------------------------------------------------------------------------------------

def test_panel_csv_in_any_row_order_loads_like_the_sorted_one(tmp_path):
    long = panel(AAA=bars(1), BBB=bars(2), CCC=bars(3, n=60, start=30))
    sorted_path, shuffled_path = tmp_path / "sorted.csv", tmp_path / "shuffled.csv.gz"
    long.to_csv(sorted_path, index=False)
    long.sample(frac=1, random_state=0).to_csv(shuffled_path, index=False, compression="gzip")
    a, b = load_universe(sorted_path), load_universe(shuffled_path)
    assert a.tickers == ["AAA", "BBB", "CCC"] and a.sha256 == b.sha256
    assert list(a.report.columns) == list(REPORT_COLUMNS) and set(a.report["status"]) == {"used"}
    assert a.calendar.equals(pd.DatetimeIndex(DATES, name="date")) and len(a) == 120
    assert a.name == "sorted" and a.survivorship is None and a.warnings == ()
    # each ticker is exactly what the single-ticker loader makes of the same rows
    single = tmp_path / "AAA.csv"
    long[long.Ticker == "AAA"].drop(columns="Ticker").to_csv(single, index=False)
    assert a.prices["AAA"].frame.equals(load_prices(single).frame)


def test_symbol_column_and_is_universe(tmp_path):
    long = panel(AAA=bars(1), BBB=bars(2)).rename(columns={"Ticker": "symbol"})
    path = tmp_path / "p.csv"
    long.to_csv(path, index=False)
    assert load_universe(path).tickers == ["AAA", "BBB"]
    gz = tmp_path / "p.csv.gz"
    with gzip.open(gz, "wt") as handle:
        long.to_csv(handle, index=False)
    single = tmp_path / "one.csv"
    bars(1).to_csv(single, index=False)
    assert is_universe(path) and is_universe(gz) and is_universe(tmp_path) and is_universe("sample:SP500")
    assert is_universe(long) and not is_universe(bars(1))
    assert not is_universe(single) and not is_universe("sample:MSFT") and not is_universe(tmp_path / "nope.csv")


def test_folder_of_csvs_with_an_unreadable_file(tmp_path):
    bars(1).to_csv(tmp_path / "AAA.csv", index=False)
    bars(2).assign(**{"Adj Close": bars(2)["Close"] / 2}).to_csv(tmp_path / "BBB.csv.gz", index=False,
                                                                 compression="gzip")
    (tmp_path / "CCC.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (tmp_path / "DDD.csv").write_text("just,some\nwords,here\n")
    (tmp_path / "notes.txt").write_text("not a ticker")
    universe = load_universe(tmp_path)
    assert universe.tickers == ["AAA", "BBB"] and list(universe.report["ticker"]) == ["AAA", "BBB", "CCC", "DDD"]
    ccc, ddd = row(universe, "CCC"), row(universe, "DDD")
    assert ccc["status"] == "excluded" and "unreadable" in ccc["issue"] and "PNG" in ccc["issue"]
    assert ddd["status"] == "excluded" and "missing column" in ddd["issue"] and ddd["rows"] == 0
    assert universe.prices["AAA"].source.endswith("AAA.csv") and universe.name == tmp_path.name
    assert np.allclose(universe.prices["BBB"].frame["close"], bars(2)["Close"] / 2, rtol=1e-12)
    assert any("Adj Close" in w for w in universe.warnings)


def test_tickers_subset_and_unknown_ticker(tmp_path):
    long = panel(AAPL=bars(1), MSFT=bars(2), IBM=bars(3))
    assert load_universe(long, tickers=["msft", "AAPL"]).tickers == ["AAPL", "MSFT"]
    message = error(long, tickers=["AAPL", "MSFTT"])
    assert "unknown ticker(s) MSFTT" in message and "did you mean MSFT?" in message
    assert "at least 2" in error(long, tickers=["IBM"])


def test_end_is_applied_before_validation_and_start_after(tmp_path):
    long = panel(AAA=scale(bars(1), range(100, 120), 0.5), BBB=bars(2))
    before = load_universe(long, end=str(DATES[99].date()))
    assert row(before, "AAA")["status"] == "used" and before.calendar[-1] == DATES[99]
    cut = load_universe(long, start=str(DATES[10].date()))
    assert cut.calendar[0] == DATES[10] and row(cut, "AAA")["status"] == "excluded"
    assert cut.prices["AAA"].frame.equals(load_universe(long).prices["AAA"].frame.loc[DATES[10]:])
    assert "0 usable ticker(s) (none)" in error(long, end="2019-12-31")
    sliced = load_universe(long).slice(str(DATES[100].date()))
    assert sliced.tickers == ["BBB"] and row(sliced, "AAA")["rows"] == 0


# --- one rule at a time -------------------------------------------------------------------------------------

def test_row_with_missing_value_is_dropped_not_filled():
    aaa = bars(1).astype({"Open": object})
    aaa.loc[50, "Open"] = ""
    universe = load_universe(panel(AAA=aaa, BBB=bars(2)))
    info, frame = row(universe, "AAA"), universe.prices["AAA"].frame
    assert info["status"] == "repaired" and info["rows"] == 119
    assert info["issue"] == f"dropped 1 row: {DATES[50].date()} missing or infinite Open"
    assert DATES[50] not in frame.index and DATES[50] in universe.calendar  # a missing session, not a filled one
    assert frame.loc[DATES[51], "open"] == bars(1).loc[51, "Open"]


def test_bar_whose_high_low_do_not_contain_open_close_is_dropped():
    aaa = bars(1)
    aaa.loc[40, "Close"] = aaa.loc[40, "High"] * 1.01
    aaa.loc[41, "High"] = aaa.loc[41, "Low"] * 0.99
    info = row(load_universe(panel(AAA=aaa, BBB=bars(2))), "AAA")
    assert info["status"] == "repaired" and info["rows"] == 118
    assert f"{DATES[40].date()} Close outside [Low, High]" in info["issue"]
    assert f"{DATES[41].date()} High below Low" in info["issue"]


def test_single_bad_print_is_dropped_and_the_next_bar_used():
    universe = load_universe(panel(AAA=scale(bars(1), [60], 1.2), BBB=bars(2)))
    info, frame = row(universe, "AAA"), universe.prices["AAA"].frame
    assert info["status"] == "repaired" and info["rows"] == 119
    assert re.fullmatch(rf"dropped 1 row: {DATES[60].date()} bad print: close \+\d+% vs last accepted close",
                        info["issue"])
    assert DATES[60] not in frame.index and DATES[61] in frame.index


def test_bad_wick_is_dropped():
    aaa = bars(1)
    aaa.loc[70, "Low"] = min(aaa.loc[70, "Open"], aaa.loc[70, "Close"]) * 0.4
    info = row(load_universe(panel(AAA=aaa, BBB=bars(2))), "AAA")
    assert info["status"] == "repaired" and "low -60% beyond open/close" in info["issue"]


@pytest.mark.parametrize("factor", [0.5, 0.85])  # an unadjusted 2:1 split; a dividend or spin-off
def test_persistent_level_shift_excludes_the_ticker_from_that_date(factor):
    universe = load_universe(panel(AAA=scale(bars(1), range(80, 120), factor), BBB=bars(2)))
    info, frame = row(universe, "AAA"), universe.prices["AAA"].frame
    assert info["status"] == "excluded" and info["rows"] == 80 and info["last_date"] == DATES[79]
    assert re.match(rf"level shift -\d+% on {DATES[80].date()} held 3 bars \(unadjusted split, dividend or "
                    r"spin-off\?\): excluded from that date, 80 earlier rows kept", info["issue"])
    assert frame.equals(load_universe(panel(AAA=bars(1), BBB=bars(2))).prices["AAA"].frame.iloc[:80])


def test_jump_with_heavy_volume_is_news_and_kept():
    aaa = scale(bars(1), range(80, 120), 1.15)
    aaa.loc[80, "Volume"] *= 5
    assert row(load_universe(panel(AAA=aaa, BBB=bars(2))), "AAA")["status"] == "used"


def test_late_starter_is_used_from_its_first_date():
    universe = load_universe(panel(AAA=bars(1), LATE=bars(2, n=50, start=70)))
    info = row(universe, "LATE")
    assert info["status"] == "used" and info["issue"] == "" and info["first_date"] == DATES[70]
    assert info["rows"] == 50 and universe.calendar[0] == DATES[0]


def test_duplicate_dates():
    twice = pd.concat([bars(1), bars(1).iloc[[30]]])  # the same row twice: one copy kept
    clash = pd.concat([bars(1), scale(bars(1).iloc[[30]], [30], 1.01)])  # two different rows: both dropped
    universe = load_universe(panel(AAA=twice, BBB=clash))
    assert row(universe, "AAA")["status"] == "used" and row(universe, "AAA")["rows"] == 120
    assert row(universe, "AAA")["issue"] == f"1 exact copy of a row ignored (first {DATES[30].date()}; duplicate date, same values)"
    assert row(universe, "BBB")["status"] == "repaired" and row(universe, "BBB")["rows"] == 119
    assert "duplicate date with different values" in row(universe, "BBB")["issue"]


def test_strict_refuses_any_fault_and_carries_the_report():
    long = panel(AAA=scale(bars(1), [60], 1.2), BBB=bars(2))
    with pytest.raises(DataError) as info:
        load_universe(long, strict=True)
    message = str(info.value)
    assert "\n" not in message and "1 of 2 tickers have data faults (first: AAA" in message
    assert "data_report.csv" in message and list(info.value.report["status"]) == ["repaired", "used"]
    assert load_universe(panel(AAA=bars(1), BBB=bars(2)), strict=True).tickers == ["AAA", "BBB"]


# --- the bundled sample -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sp500() -> Universe:
    return load_universe("sample:SP500")


@pytest.fixture(scope="module")
def sp500_text() -> pd.DataFrame:
    from importlib import resources

    with resources.files("lstmtrade").joinpath("samples", "SP500.csv.gz").open("rb") as stream:
        return pd.read_csv(stream, compression="gzip", dtype=str, keep_default_na=False)


def test_bundled_sample_loads_and_reports(sp500):
    report = sp500.report
    assert len(report) >= 50 and list(report.columns) == list(REPORT_COLUMNS)
    assert set(report["status"]) == {"used", "repaired", "excluded"}
    assert sp500.survivorship and "survivorship" in sp500.survivorship and sp500.name == "SP500"
    used = report.set_index("ticker").loc[sp500.tickers]
    assert (used["rows"] == [len(sp500.prices[t]) for t in sp500.tickers]).all()
    assert (used["first_date"] == [sp500.prices[t].frame.index[0] for t in sp500.tickers]).all()
    assert re.fullmatch(r"\d+ tickers: \d+ used, \d+ repaired, \d+ excluded; top reasons \(tickers\): .+",
                        sp500.summary)
    assert row(sp500, "DISCK")["status"] == "excluded" and "2014-08-07" in row(sp500, "DISCK")["issue"]
    assert row(sp500, "MRK")["issue"].startswith("dropped 1 row: 2017-09-14 bad print")
    assert row(sp500, "GOOG")["status"] == "used" and str(row(sp500, "GOOG")["first_date"].date()) == "2014-03-27"
    assert sp500.warnings and len(sp500.calendar) == 1259 and re.fullmatch(r"[0-9a-f]{64}", sp500.sha256)
    listed = sources.summary("sample:SP500")
    assert listed["tickers"] == len(report) and listed["rows"] == int(report["rows"].sum())


@pytest.mark.parametrize("cut", ["2013-07-12", "2014-08-08", "2015-07-06", "2017-09-14"])
def test_truncated_file_gives_the_same_rows_and_decisions_up_to_the_cut(tmp_path, sp500, sp500_text, cut):
    """A fault after T changes nothing up to T. The cuts fall inside TDG's, DISCK's and NI's level shifts and on
    MRK's bad print."""
    path = tmp_path / "cut.csv"
    sp500_text[sp500_text["Date"] <= cut].to_csv(path, index=False)
    early = load_universe(path)
    stamp = pd.Timestamp(cut)
    for ticker in sp500.report["ticker"]:
        full = sp500.prices[ticker].frame.loc[:stamp] if ticker in sp500.prices else None
        part = early.prices[ticker].frame if ticker in early.prices else None
        if full is None or not len(full):
            assert part is None, ticker
            continue
        assert part is not None and part.index.equals(full.index), ticker
        assert np.array_equal(part.to_numpy().view("int64"), full.to_numpy().view("int64")), ticker
    assert set(early.prices) == {t for t, d in sp500.prices.items() if d.frame.index[0] <= stamp}
    if cut == "2015-07-06":  # --end cuts before validation: the same as a file that ends there
        assert load_universe("sample:SP500", end=cut).sha256 == early.sha256
