"""Bad input through the CLI: one "error: ..." line on stderr, exit 2, no traceback, nothing written lost.

Every case here fails before any model is trained (``walk_forward_predict`` is replaced by a tripwire
where the failure must come before it), so the whole file runs in a few seconds.
"""
from __future__ import annotations

import time

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import lstmtrade.pipeline
from lstmtrade.cli.main import cli

TINY = ["--min-train", "300", "--retrain-every", "200", "--epochs", "1", "--lookback", "5", "--hidden", "4",
        "--end", "2002-06-30"]
ROW, LINE = 9, 11  # corrupted data row, and its CSV line (header is line 1)
KEEP = "an earlier run's tearsheet\n"


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    from importlib import resources

    with resources.files("lstmtrade").joinpath("samples", "MSFT.csv.gz").open("rb") as stream:
        return pd.read_csv(stream, compression="gzip", dtype=str).head(300).copy()


@pytest.fixture()
def reports(tmp_path):
    """An --out folder that already holds an earlier run, which no failing run may touch."""
    old = tmp_path / "reports" / "old-run"
    old.mkdir(parents=True)
    (old / "tearsheet.html").write_text(KEEP)
    return tmp_path / "reports"


@pytest.fixture()
def no_training(monkeypatch):
    """Fail loudly if a run gets as far as training."""
    def tripwire(*args, **kwargs):
        raise AssertionError("training started: the bad input should have been refused before it")

    monkeypatch.setattr(lstmtrade.pipeline, "walk_forward_predict", tripwire)


def backtest(*args: str, out) -> Result:
    return CliRunner().invoke(cli, ["backtest", *args, "--out", str(out)])


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_error(result, *fragments: str) -> str:
    """Exit 2, stderr is exactly one line "error: ...", holding every fragment; no traceback anywhere."""
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = error_lines(result)
    assert len(lines) == 1, f"expected one line on stderr, got: {lines}"
    assert lines[0].startswith("error: ") and "unexpected" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""
    return lines[0]


def assert_untouched(reports):
    assert sorted(p.name for p in reports.iterdir()) == ["old-run"], "a failing run left a folder behind"
    assert [p.name for p in (reports / "old-run").iterdir()] == ["tearsheet.html"]
    assert (reports / "old-run" / "tearsheet.html").read_text() == KEEP


def write(tmp_path, frame: pd.DataFrame, name: str = "bad.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def corrupt(tmp_path, base, column, value) -> str:
    frame = base.copy()
    frame.loc[ROW, column] = value
    return write(tmp_path, frame)


# --- bad data files ------------------------------------------------------------------------------------

def _missing(tmp_path, base):
    return str(tmp_path / "nope.csv"), ["data file not found", "nope.csv"]


def _empty(tmp_path, base):
    (tmp_path / "empty.csv").write_bytes(b"")
    return str(tmp_path / "empty.csv"), ["data file is empty"]


def _header_only(tmp_path, base):
    (tmp_path / "header.csv").write_text("Date,Open,High,Low,Close,Volume\n")
    return str(tmp_path / "header.csv"), ["header but no rows"]


def _png(tmp_path, base):
    (tmp_path / "chart.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    return str(tmp_path / "chart.csv"), ["not a CSV text file", "PNG"]


def _binary(tmp_path, base):
    (tmp_path / "blob.csv").write_bytes(bytes(range(128, 256)) * 8)
    return str(tmp_path / "blob.csv"), ["not a CSV text file"]


def _columns(tmp_path, base):
    return write(tmp_path, base.drop(columns=["Volume"])), ["missing column(s) Volume", "found: date, open"]


def _non_numeric(tmp_path, base):
    return corrupt(tmp_path, base, "Close", "34.2x"), [f"line {LINE}: Close '34.2x' is not a number"]


def _nan(tmp_path, base):
    return corrupt(tmp_path, base, "Open", "NaN"), [f"line {LINE}: Open is missing"]


def _inf(tmp_path, base):
    return corrupt(tmp_path, base, "High", "inf"), [f"line {LINE}: High is infinite"]


def _negative(tmp_path, base):
    return corrupt(tmp_path, base, "Low", "-1"), [f"line {LINE}: Low -1 must be > 0"]


def _high_below_low(tmp_path, base):
    return corrupt(tmp_path, base, "High", "1"), [f"line {LINE}: High 1 is below Low"]


def _close_outside(tmp_path, base):
    return corrupt(tmp_path, base, "Close", "1000"), [f"line {LINE}: Close 1000 is outside [Low"]


def _unsorted(tmp_path, base):
    return write(tmp_path, base.iloc[::-1]), ["line 3:", "sort the file by date"]


def _duplicate(tmp_path, base):
    return corrupt(tmp_path, base, "Date", base.loc[ROW - 1, "Date"]), [f"line {LINE}: duplicate date"]


def _mixed_formats(tmp_path, base):
    return corrupt(tmp_path, base, "Date", "03/14/2000"), [f"line {LINE}: date '03/14/2000' is not YYYY-MM-DD"]


def _mixed_zones(tmp_path, base):
    frame = base.copy()
    frame["Date"] = frame["Date"] + "T00:00:00-05:00"
    frame.loc[ROW, "Date"] = frame.loc[ROW, "Date"].replace("-05:00", "+09:00")
    return write(tmp_path, frame), [f"line {LINE}:", "mixes time zones"]


def _intraday(tmp_path, base):
    return corrupt(tmp_path, base, "Date", base.loc[ROW, "Date"] + " 10:00"), [f"line {LINE}:", "time of day"]


BAD_FILES = [_missing, _empty, _header_only, _png, _binary, _columns, _non_numeric, _nan, _inf, _negative,
             _high_below_low, _close_outside, _unsorted, _duplicate, _mixed_formats, _mixed_zones, _intraday]


@pytest.mark.parametrize("make", BAD_FILES, ids=[f.__name__.strip("_") for f in BAD_FILES])
def test_bad_data_file(tmp_path, base, reports, no_training, make):
    path, fragments = make(tmp_path, base)
    assert_one_error(backtest("--data", path, *TINY, out=reports), *fragments)
    assert_untouched(reports)


def test_unknown_sample(reports, no_training):
    assert_one_error(backtest("--data", "sample:NOPE", out=reports), "unknown sample 'NOPE'")
    assert_untouched(reports)


# --- --start / --end -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args,fragment", [
    (["--start", "2030-01-01"], "--start 2030-01-01 is after the data's last date"),
    (["--end", "1990-01-01"], "--end 1990-01-01 is before the data's first date"),
    (["--start", "2005-01-01", "--end", "2004-01-01"], "--start 2005-01-01 is after --end 2004-01-01"),
    (["--start", "2000-03-04", "--end", "2000-03-05"], "no bars from 2000-03-04 to 2000-03-05"),
    (["--start", "someday"], "--start 'someday' is not a date"),
])
def test_start_end(reports, no_training, args, fragment):
    assert_one_error(backtest(*args, out=reports), fragment)
    assert_untouched(reports)


# --- option values and config files ----------------------------------------------------------------------

@pytest.mark.parametrize("args,fragment", [
    (["--epochs", "-1"], "--epochs must be a whole number >= 1 (got -1)"),
    (["--lookback", "0"], "--lookback must be a whole number >= 1 (got 0)"),
    (["--device", "tpu"], "--device must be one of cpu, cuda, auto (got 'tpu')"),
    (["--commission", "-5"], "--commission must be a number >= 0"),
])
def test_invalid_option_values(reports, no_training, args, fragment):
    assert_one_error(backtest(*args, out=reports), fragment)
    assert_untouched(reports)


def test_unknown_feature(reports):
    result = backtest("--features", "logret,nope", "-q", *TINY, out=reports)
    assert_one_error(result, "--features: unknown feature 'nope'")
    assert (reports / "old-run" / "tearsheet.html").read_text() == KEEP


def test_unknown_feature_leaves_no_run_folder(reports):
    assert backtest("--features", "logret,nope", "-q", *TINY, out=reports).exit_code == 2
    assert_untouched(reports)


def test_non_numeric_option_is_clicks_usage_error(reports, no_training):
    result = backtest("--threshold", "abc", out=reports)
    assert result.exit_code == 2
    assert "Invalid value for '--threshold'" in result.stderr and "Traceback" not in result.output
    assert_untouched(reports)


def test_config_unknown_key_suggests_the_right_one(tmp_path, reports, no_training):
    bad = tmp_path / "bad.toml"
    bad.write_text("lookbak = 5\n")
    assert_one_error(backtest("--config", str(bad), out=reports),
                     "unknown key 'lookbak'", "did you mean 'lookback'?", str(bad))
    assert_untouched(reports)


def test_config_that_is_not_toml(tmp_path, reports, no_training):
    bad = tmp_path / "bad.toml"
    bad.write_text("lookback: 5\n")
    assert_one_error(backtest("--config", str(bad), out=reports), "is not valid TOML")
    assert_untouched(reports)


def test_config_file_missing(tmp_path, reports, no_training):
    assert_one_error(backtest("--config", str(tmp_path / "none.toml"), out=reports), "config file not found")


# --- output folder ---------------------------------------------------------------------------------------

def _out_below_a_file(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file\n")
    return blocker, blocker / "reports"


def test_unwritable_out_fails_before_training(tmp_path, no_training):
    blocker, out = _out_below_a_file(tmp_path)
    started = time.perf_counter()
    result = backtest(*TINY, "-q", out=out)
    assert time.perf_counter() - started < 10
    assert_one_error(result, "cannot create output folder", str(out))
    assert blocker.read_text() == "a regular file\n"


def test_unwritable_out_is_one_line_without_quiet(tmp_path, no_training):
    _, out = _out_below_a_file(tmp_path)
    assert_one_error(backtest(*TINY, out=out), "cannot create output folder")


def test_unwritable_out_without_quiet_still_ends_in_one_error_line(tmp_path, no_training):
    _, out = _out_below_a_file(tmp_path)
    result = backtest(*TINY, out=out)
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = error_lines(result)
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]]
    assert "cannot create output folder" in lines[-1]


def test_out_that_is_a_file_is_clicks_usage_error(tmp_path, no_training):
    blocker, _ = _out_below_a_file(tmp_path)
    result = backtest(out=blocker)
    assert result.exit_code == 2 and "is a file" in result.stderr and "Traceback" not in result.output
    assert blocker.read_text() == "a regular file\n"


# --- too little history -----------------------------------------------------------------------------------

def test_too_little_history(reports):
    started = time.perf_counter()
    result = backtest("--data", "sample:FB", "-q", out=reports)
    assert time.perf_counter() - started < 10
    assert_one_error(result, "too little history: 196 bars, but", "are needed", "--min-train")
    assert (reports / "old-run" / "tearsheet.html").read_text() == KEEP


def test_too_little_history_default_output_ends_in_one_error_line(reports):
    result = backtest("--data", "sample:FB", out=reports)
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = error_lines(result)
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]]
    assert "too little history" in lines[-1]


def test_too_little_history_default_output_is_one_line(reports):
    assert_one_error(backtest("--data", "sample:FB", out=reports), "too little history")


def test_too_little_history_leaves_no_run_folder(reports):
    assert backtest("--data", "sample:FB", "-q", out=reports).exit_code == 2
    assert_untouched(reports)


@pytest.mark.parametrize("args,fragment", [
    (["--cash", "inf"], "--cash must be a number > 0 (got inf)"),
    (["--commission", "nan"], "--commission must be a number >= 0"),
    (["--min-commission", "inf"], "--min-commission must be a number >= 0"),
    (["--spread", "20000"], "--spread must be auto or a number of basis points in [0, 10000)"),
    (["--capacity", ""], "--capacity must list starting capitals > 0"),
    (["--capacity", "1e6,1e400"], "--capacity must list starting capitals > 0"),
])
def test_infinite_or_empty_settings_are_refused_before_the_run_folder(reports, no_training, args, fragment):
    """Found by hand: --cash inf, --capacity inf ... failed only in the backtest (an OverflowError line) after
    the run folder was made, and --capacity '' was ignored."""
    assert_one_error(backtest(*args, out=reports), fragment)
    assert_untouched(reports)


def test_a_usage_error_is_one_line_naming_the_help(reports, no_training):
    assert_one_error(backtest("--threshold", "abc", out=reports), "Invalid value for '--threshold'",
                     "backtest --help)")
    assert_untouched(reports)


def test_a_borrow_file_that_is_not_text_is_one_line(tmp_path):
    from lstmtrade.backtesting.costs import read_borrow_file
    from lstmtrade.errors import ConfigError

    path = tmp_path / "fees.csv"
    path.write_bytes(b"\xff\xfeticker,bps\n")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        read_borrow_file(path)


def test_capacity_lists_each_capital_once():
    from lstmtrade.config import make_config

    assert make_config(capacity="1e6,1e6,1e7").capacity == (1e6, 1e7)
