"""load_prices: every bad input is one DataError naming the problem (and its CSV line); good input loads.

The bad CSVs are the first 300 rows of the bundled MSFT with one row corrupted, so the line numbers are
predictable: data row ``i`` (0-based) is CSV line ``i + 2`` (the header is line 1).
"""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from lstmtrade.data.prices import PriceData, load_prices
from lstmtrade.errors import DataError, LstmtradeError

ROW = 9  # the corrupted data row ...
LINE = ROW + 2  # ... is this line of the CSV


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    """The first 300 MSFT rows as the file's own text (dtype=str keeps every cell as written)."""
    from importlib import resources

    with resources.files("lstmtrade").joinpath("samples", "MSFT.csv.gz").open("rb") as stream:
        frame = pd.read_csv(stream, compression="gzip", dtype=str)
    return frame.head(300).copy()


def write(tmp_path, frame: pd.DataFrame, name: str = "bad.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def corrupt(tmp_path, base, column: str, value: str, row: int = ROW) -> str:
    frame = base.copy()
    frame.loc[row, column] = value
    return write(tmp_path, frame)


def data_error(source, **kwargs) -> str:
    """The message of the DataError that loading ``source`` raises; it must be one line."""
    with pytest.raises(DataError) as info:
        load_prices(source, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message, f"not one line: {message!r}"
    assert isinstance(info.value, LstmtradeError)
    return message


# --- files that are not price CSVs at all -----------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    message = data_error(str(path))
    assert "not found" in message and str(path) in message


def test_folder_instead_of_file(tmp_path):
    assert "folder" in data_error(str(tmp_path))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert "empty" in data_error(str(path))


def test_blank_lines_only(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n\n")
    assert "no data" in data_error(str(path))


def test_header_only(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n")
    assert "header but no rows" in data_error(str(path))


@pytest.mark.parametrize("content,expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "PNG image"),
    (b"PK\x03\x04" + bytes(range(256)), ".xlsx"),
    (bytes(range(256)) * 4, "binary data"),
    (bytes(range(128, 256)) * 4, "not UTF-8"),  # binary with no NUL byte: caught by the decoder
    ("Date,Open\n2000-01-03,1\n".encode("utf-16"), "UTF-16"),
])
def test_not_a_csv(tmp_path, content, expected):
    path = tmp_path / "prices.csv"
    path.write_bytes(content)
    message = data_error(str(path))
    assert "not a CSV text file" in message and expected in message and str(path) in message


def test_damaged_gzip(tmp_path):
    path = tmp_path / "prices.csv.gz"
    path.write_bytes(gzip.compress(b"Date,Open,High,Low,Close,Volume\n" * 50)[:40])
    assert "gzip" in data_error(str(path))


def test_html_page_saved_as_csv(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("<html><body>404 Not Found</body></html>\n")
    message = data_error(str(path))
    assert "missing column(s) Date, Open, High, Low, Close, Volume" in message


def test_semicolon_separated_gets_a_hint(tmp_path, base):
    path = tmp_path / "semi.csv"
    base.to_csv(path, index=False, sep=";")
    assert "';' between fields" in data_error(str(path))


def test_row_with_too_many_fields_names_its_line(tmp_path, base):
    path = tmp_path / "ragged.csv"
    lines = base.to_csv(index=False).splitlines()
    lines[LINE - 1] += ",42"
    path.write_text("\n".join(lines) + "\n")
    message = data_error(str(path))
    assert f"line {LINE}: 7 fields, but the header has 6" in message


# --- columns ----------------------------------------------------------------------------------------

def test_missing_columns_lists_missing_and_found(tmp_path, base):
    message = data_error(write(tmp_path, base.drop(columns=["High", "Low"])))
    assert "missing column(s) High, Low" in message
    assert "found: date, open, close, volume" in message
    assert "expected Date,Open,High,Low,Close" in message


def test_missing_date_column(tmp_path, base):
    message = data_error(write(tmp_path, base.rename(columns={"Date": "Day"})))
    assert "missing column(s) Date" in message and "day" in message


def test_column_names_are_case_insensitive_and_adj_close_adjusts(tmp_path, base):
    frame = base.copy()
    frame.columns = [c.upper() for c in frame.columns]
    close = frame["CLOSE"].astype(float)
    frame.insert(5, "adj_close", (close * 0.5).map(repr))
    data = load_prices(write(tmp_path, frame))
    assert len(data) == 300
    np.testing.assert_allclose(data.frame["close"], close * 0.5)
    np.testing.assert_allclose(data.frame["open"], frame["OPEN"].astype(float) * 0.5)
    np.testing.assert_allclose(data.frame["volume"], frame["VOLUME"].astype(float))
    assert any("Adj Close" in w for w in data.warnings)


@pytest.mark.parametrize("value,expected", [("0", "Adj Close 0 must be > 0"), ("", "Adj Close is missing"),
                                            ("x", "Adj Close 'x' is not a number")])
def test_bad_adj_close_is_named_as_adj_close(tmp_path, base, value, expected):
    frame = base.copy()
    frame.insert(5, "Adj Close", frame["Close"])
    frame.loc[ROW, "Adj Close"] = value
    assert f"line {LINE}: {expected}" in data_error(write(tmp_path, frame))


# --- values -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("column,value,expected", [
    ("Close", "abc", "Close 'abc' is not a number"),
    ("Open", "1,234.5", "Open '1,234.5' is not a number"),
    ("Close", "NaN", "Close is missing (NaN)"),
    ("High", "", "High is missing (NaN)"),
    ("Volume", "", "Volume is missing (NaN)"),
    ("Close", "inf", "Close is infinite"),
    ("Open", "-inf", "Open is infinite"),
    ("Low", "0", "Low 0 must be > 0"),
    ("Close", "-5", "Close -5 must be > 0"),
    ("Volume", "-1", "Volume -1 must be >= 0"),
])
def test_bad_value_names_line_column_and_value(tmp_path, base, column, value, expected):
    message = data_error(corrupt(tmp_path, base, column, value))
    assert f"line {LINE}: {expected}" in message


def test_high_below_low(tmp_path, base):
    low = float(base.loc[ROW, "Low"])
    message = data_error(corrupt(tmp_path, base, "High", str(low - 1)))
    assert f"line {LINE}: High" in message and "is below Low" in message


@pytest.mark.parametrize("column,side", [("Close", "High"), ("Open", "Low")])
def test_open_or_close_outside_the_days_range(tmp_path, base, column, side):
    edge = float(base.loc[ROW, side])
    value = edge + 1 if side == "High" else edge - 1
    message = data_error(corrupt(tmp_path, base, column, str(value)))
    assert f"line {LINE}: {column}" in message and "is outside [Low" in message


# --- dates --------------------------------------------------------------------------------------------

def test_unsorted_dates_are_refused_with_the_line_and_a_fix(tmp_path, base):
    frame = base.copy()
    frame.loc[[ROW, ROW + 1]] = frame.loc[[ROW + 1, ROW]].to_numpy()
    message = data_error(write(tmp_path, frame))
    assert f"line {LINE + 1}:" in message and "sort the file by date" in message


def test_newest_first_file_is_refused(tmp_path, base):
    message = data_error(write(tmp_path, base.iloc[::-1]))
    assert "line 3:" in message and "oldest first" in message


def test_duplicate_dates(tmp_path, base):
    message = data_error(corrupt(tmp_path, base, "Date", base.loc[ROW - 1, "Date"]))
    assert f"line {LINE}: duplicate date {base.loc[ROW - 1, 'Date']}" in message


@pytest.mark.parametrize("value", ["03/14/2000", "14 March 2000", "14.03.2000"])
def test_mixed_date_formats_name_the_line(tmp_path, base, value):
    message = data_error(corrupt(tmp_path, base, "Date", value))
    assert f"line {LINE}: date '{value}' is not YYYY-MM-DD" in message
    assert "line 2 has '2000-03-01'" in message


def test_consistent_non_iso_dates_are_refused_at_line_2(tmp_path, base):
    frame = base.copy()
    frame["Date"] = pd.to_datetime(frame["Date"]).dt.strftime("%m/%d/%Y")
    message = data_error(write(tmp_path, frame))
    assert "line 2: date '03/01/2000' is not YYYY-MM-DD" in message


@pytest.mark.parametrize("value,expected", [("not a date", "'not a date' is not a date"),
                                            ("2000-02-30", "'2000-02-30' is not a date"),
                                            ("", "empty date"),
                                            ("1500-03-14", "date '1500-03-14' is outside the years")])
def test_bad_dates(tmp_path, base, value, expected):
    assert f"line {LINE}: {expected}" in data_error(corrupt(tmp_path, base, "Date", value))


@pytest.mark.parametrize("suffix", ["T00:00:00-05:00", " 00:00:00+00:00", "T00:00:00Z"])
def test_daily_bars_with_a_zone_keep_their_local_dates(tmp_path, base, suffix):
    frame = base.copy()
    frame["Date"] = frame["Date"] + suffix
    data = load_prices(write(tmp_path, frame))
    assert list(data.frame.index) == list(pd.to_datetime(base["Date"]))  # not shifted to 05:00 UTC
    assert data.frame.index.tz is None


def test_intraday_offsets_are_converted_to_utc_once(tmp_path, base):
    frame = base.copy()
    frame["Date"] = (pd.to_datetime(base["Date"]) + pd.Timedelta(hours=15, minutes=30)).dt.strftime(
        "%Y-%m-%dT%H:%M:%S-05:00")
    data = load_prices(write(tmp_path, frame))
    assert list(data.frame.index) == list(pd.to_datetime(base["Date"]) + pd.Timedelta(hours=20, minutes=30))


def test_daylight_saving_offsets_are_one_zone(tmp_path, base):
    frame = base.copy()
    stamps = pd.to_datetime(base["Date"]) + pd.Timedelta(hours=9, minutes=30)
    frame["Date"] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S-05:00")
    frame.loc[ROW:, "Date"] = stamps[ROW:].dt.strftime("%Y-%m-%dT%H:%M:%S-04:00")  # summer time from ROW on
    index = load_prices(write(tmp_path, frame)).frame.index
    assert index[ROW - 1] == stamps[ROW - 1] + pd.Timedelta(hours=5)
    assert index[ROW] == stamps[ROW] + pd.Timedelta(hours=4)


def test_mixed_tz_offsets(tmp_path, base):
    frame = base.copy()
    frame["Date"] = frame["Date"] + "T00:00:00-05:00"
    frame.loc[ROW, "Date"] = frame.loc[ROW, "Date"].replace("-05:00", "+09:00")
    message = data_error(write(tmp_path, frame))
    assert f"line {LINE}:" in message and "time zone" in message and "UTC+09:00" in message and "UTC-05:00" in message


def test_one_tz_aware_row_among_plain_dates(tmp_path, base):
    message = data_error(corrupt(tmp_path, base, "Date", base.loc[ROW, "Date"] + "T00:00:00Z"))
    assert f"line {LINE}:" in message and "time zone" in message


def test_intraday_timestamps_are_refused(tmp_path, base):
    message = data_error(corrupt(tmp_path, base, "Date", base.loc[ROW, "Date"] + " 15:30"))
    assert f"line {LINE}:" in message and "time of day" in message and "one bar per day" in message


def test_midnight_timestamps_are_daily_bars(tmp_path, base):
    frame = base.copy()
    frame["Date"] = frame["Date"] + " 00:00:00"
    assert len(load_prices(write(tmp_path, frame))) == 300


# --- warnings, formats, samples -------------------------------------------------------------------------

def test_big_jump_is_a_warning_naming_the_date_not_an_error(tmp_path, base):
    frame = base.copy()
    for col in ("Open", "High", "Low", "Close"):
        frame.loc[150:, col] = (frame.loc[150:, col].astype(float) * 2.5).map(repr)
    data = load_prices(write(tmp_path, frame))
    assert len(data) == 300
    jumps = [w for w in data.warnings if "unadjusted split" in w]
    assert len(jumps) == 1
    assert base.loc[150, "Date"] in jumps[0] and "line 152" in jumps[0]


def test_clean_file_has_no_warnings(tmp_path, base):
    assert load_prices(write(tmp_path, base)).warnings == ()


def test_gzip_csv_loads_like_the_plain_file(tmp_path, base):
    plain = load_prices(write(tmp_path, base))
    path = tmp_path / "prices.csv.gz"
    path.write_bytes(gzip.compress(base.to_csv(index=False).encode()))
    packed = load_prices(str(path))
    assert packed.sha256 == plain.sha256
    assert packed.name == "prices"


def test_utf8_bom_header_loads(tmp_path, base):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + base.to_csv(index=False).encode())
    assert len(load_prices(str(path))) == 300


def test_validated_frame_contract(tmp_path, base):
    data = load_prices(write(tmp_path, base))
    assert isinstance(data, PriceData)
    assert list(data.frame.columns) == ["open", "high", "low", "close", "volume"]
    assert data.frame.index.name == "date" and data.frame.index.tz is None
    assert data.frame.index.is_monotonic_increasing and data.frame.index.is_unique
    assert (data.frame.dtypes == "float64").all()


def test_unknown_sample():
    message = data_error("sample:XYZ")
    assert "unknown sample 'XYZ'" in message and "MSFT" in message


# --- --start / --end ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def msft():
    return load_prices("sample:MSFT")


def test_start_after_the_data(msft):
    message = data_error("sample:MSFT", start="2030-01-01")
    assert "--start 2030-01-01 is after the data's last date" in message and "2013-03-01" in message
    assert "--end" not in message  # the user gave no --end


def test_end_before_the_data():
    message = data_error("sample:MSFT", end="1990-01-01")
    assert "--end 1990-01-01 is before the data's first date" in message and "2000-03-01" in message
    assert "--start" not in message


def test_start_after_end():
    message = data_error("sample:MSFT", start="2005-01-01", end="2004-01-01")
    assert "--start 2005-01-01 is after --end 2004-01-01" in message


def test_window_with_no_bars():
    message = data_error("sample:MSFT", start="2000-03-04", end="2000-03-05")  # a weekend
    assert "no bars from 2000-03-04 to 2000-03-05" in message


@pytest.mark.parametrize("option", ["start", "end"])
def test_bound_that_is_not_a_date(option):
    assert f"--{option} 'soon' is not a date" in data_error("sample:MSFT", **{option: "soon"})


def test_start_end_slice_inclusive(msft):
    part = msft.slice("2001-01-02", "2001-01-31")
    assert str(part.frame.index[0].date()) == "2001-01-02"
    assert str(part.frame.index[-1].date()) == "2001-01-31"
