"""Fault injection, part 4: hostile panels. A panel is read as strictly as a single-ticker file, and every row
that is not used is accounted for, by ticker and line, in the data report (issue 22, items 5-7)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from faultkit import keep_torch_threads  # noqa: F401  (a fixture)
from faultkit import TINY_ARGS, cli, no_pages, one_error
from lstmtrade.config import Config
from lstmtrade.data.load import load_data
from lstmtrade.data.panel import NO_TICKER, load_universe
from lstmtrade.data.prices import load_prices
from lstmtrade.errors import DataError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_panel import bars, panel  # noqa: E402  (the synthetic tickers of the panel tests)


def relayout(frame: pd.DataFrame, rows, layout: str) -> pd.DataFrame:
    out = frame.copy()
    out.loc[rows, "Date"] = pd.to_datetime(out.loc[rows, "Date"]).dt.strftime(layout)
    return out


@pytest.fixture()
def hostile(tmp_path) -> tuple[Path, dict[str, pd.DataFrame]]:
    """Six tickers: two sound, one with every other date written %m/%d/%Y, one entirely %d/%m/%Y, one with a
    'notadate' row, one with two exact copies of a row; and a seventh ticker's rows with an empty Ticker cell."""
    tickers = {
        "AAA": bars(1),
        "MDY": relayout(bars(2), slice(None, None, 2), "%m/%d/%Y"),
        "DMY": relayout(bars(3), slice(None), "%d/%m/%Y"),
        "NAD": bars(4).astype({"Date": object}),
        "TWO": pd.concat([bars(5), bars(5).iloc[[40, 41]]]).sort_values("Date", kind="stable"),
    }
    tickers["NAD"].loc[57, "Date"] = "notadate"
    long = panel(**tickers)
    nameless = bars(6).assign(Ticker="")[long.columns]
    path = tmp_path / "hostile.csv"
    pd.concat([long, nameless], ignore_index=True).to_csv(path, index=False)
    return path, tickers


def test_unreadable_dates_exclude_their_ticker_by_line_as_a_single_file_is_refused(hostile, tmp_path):
    """Issue 22, item 5: rows with another date layout or no date vanished (the ticker written %d/%m/%Y from
    the report itself). Now the ticker is excluded, its report line gives the single-file loader's own message
    for the first bad line and how many there are."""
    path, tickers = hostile
    universe = load_universe(path)
    report = universe.report.set_index("ticker")
    assert list(report.index) == ["AAA", "DMY", "MDY", "NAD", "TWO", NO_TICKER]
    expected = {"MDY": 60, "DMY": 120, "NAD": 1}
    for ticker, bad in expected.items():
        row = report.loc[ticker]
        assert row["status"] == "excluded" and row["rows"] == 0, (ticker, row.to_dict())
        assert f"{bad} of its 120 rows" in row["issue"] and ticker not in universe.prices
        single = tmp_path / f"{ticker}.csv"
        tickers[ticker].to_csv(single, index=False)
        with pytest.raises(DataError) as refused:
            load_prices(single)
        why = re.sub(r"^.*?: line \d+: ", "", str(refused.value))  # the single file's message, after its line
        assert why.split(" (line")[0] in row["issue"], (why, row["issue"])
    assert re.search(r"unreadable date on line \d+: 'notadate' is not a date", report.loc["NAD", "issue"])
    assert universe.summary.startswith("6 tickers: 2 used, 0 repaired, 4 excluded")


def test_rows_with_an_empty_ticker_are_one_report_line(hostile):
    """Issue 22, item 6: "5 tickers: 5 used" while a sixth ticker's rows were gone without a word."""
    path, _ = hostile
    row = load_universe(path).report.set_index("ticker").loc[NO_TICKER]
    assert row["status"] == "excluded" and row["issue"].startswith("120 rows with an empty Ticker (first: line")
    assert load_universe(path, tickers=["AAA", "TWO"]).summary == "2 tickers: 2 used, 0 repaired, 0 excluded"


def test_exact_copies_of_a_row_are_reported(hostile):
    """Issue 22, item 7: exact duplicate rows were dropped without a report line (one copy is used)."""
    path, _ = hostile
    row = load_universe(path).report.set_index("ticker").loc["TWO"]
    assert row["status"] == "used" and row["rows"] == 120
    assert row["issue"].startswith("2 exact copies of a row ignored")


def test_the_hostile_panel_through_the_command_line(hostile, tmp_path, monkeypatch):
    """--strict refuses it in one line; without it the run goes on with the sound tickers, and
    data_report.csv holds every ticker and the rows without one."""
    path, _ = hostile
    no_pages(monkeypatch)
    small = ["--model", "persistence", "--min-train", "60", "--retrain-every", "20", "--lookback", "5", "--no-baselines"]
    one_error(cli("backtest", "--data", path, *small, "--strict", "--out", tmp_path / "strict"), "--strict",
              "ticker(s) have data faults")
    result = cli("backtest", "--data", path, *small, "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir() and not p.name.startswith(".")]
    report = pd.read_csv(folder / "data_report.csv")
    assert len(report) == 6 and set(report.loc[report["status"] == "excluded", "ticker"]) == {
        "MDY", "DMY", "NAD", NO_TICKER}


def test_a_panel_of_one_ticker_runs_as_the_single_ticker_file(tmp_path, monkeypatch):
    """The README's promise: a file with one ticker runs exactly as before (it was refused: "a universe needs
    at least 2")."""
    rows = load_prices("sample:MSFT", end="2003-12-31").frame
    text = rows.reset_index().rename(columns=str.title)
    text["Date"] = text["Date"].dt.strftime("%Y-%m-%d")
    text.insert(0, "Ticker", "MSFT")
    panel_path, single_path = tmp_path / "one.csv", tmp_path / "MSFT.csv"
    text.to_csv(panel_path, index=False)
    text.drop(columns="Ticker").to_csv(single_path, index=False)
    one = load_data(Config(data=str(panel_path)))
    assert not hasattr(one, "tickers") and one.name == "MSFT"
    pd.testing.assert_frame_equal(one.frame, load_prices(single_path).frame, check_exact=True)
    no_pages(monkeypatch)
    outs = {}
    for name, data in (("panel", panel_path), ("single", single_path)):
        result = cli("backtest", *TINY_ARGS, "--data", data, "--model", "persistence", "--out", tmp_path / name, "-q")
        assert result.exit_code == 0, result.output
        (folder,) = [p for p in (tmp_path / name).iterdir() if p.is_dir()]
        outs[name] = (folder / "predictions.csv").read_bytes()
    assert outs["panel"] == outs["single"]
