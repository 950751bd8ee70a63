"""Bar size and calendar detection, periods per year, gaps, the next bar, and reading timestamps."""
import numpy as np
import pandas as pd
import pytest
from builders import fx_hours

from lstmtrade.data.bars import detect_bars, next_bar
from lstmtrade.data.prices import load_prices
from lstmtrade.errors import DataError
from lstmtrade.files import csv_date_format
from lstmtrade.formatting import stamp, stamper


def session_bars(days: int, per_day: int, step: str, open_at: str) -> pd.DatetimeIndex:
    """An exchange session on weekdays: ``per_day`` bars ``step`` apart from ``open_at`` each weekday."""
    dates = pd.bdate_range("2021-01-04", periods=days)
    start = pd.Timedelta(f"{open_at}:00")
    return pd.DatetimeIndex([d + start + k * pd.Timedelta(step) for d in dates for k in range(per_day)])


def test_hourly_sample_is_hourly_24_hours_5_days():
    data = load_prices("sample:EURUSD_1H")
    bars = data.bars
    assert len(data) == 6225 and data.frame.index[0] == pd.Timestamp("2017-01-01 22:00")
    assert (bars.label, bars.name, bars.intraday, bars.round_the_clock) == ("1h", "hourly", True, True)
    assert (bars.days_per_week, bars.weekends, bars.bars_per_day) == (5, False, 24)
    assert bars.periods_per_year == 24 * 5 * 52 == 6240
    assert bars.describe() == "hourly bars, 24 h × 5 days, 6,225 bars; 6,240 bars a year"
    assert bars.duration(4000) == "≈ 8 months" and bars.duration(500) == "≈ 4 weeks"
    assert bars.timeframe() == ("Minutes", 60)
    # the Christmas closure is the one gap inside the trading week; the 51 weekends are session breaks
    assert (bars.missing_gaps, bars.missing_bars, bars.breaks) == (1, 14, 51)
    assert bars.first_missing == (pd.Timestamp("2017-12-25 07:00"), pd.Timestamp("2017-12-25 22:00"))
    assert any("14 hourly bars missing" in w and "no bars are invented" in w for w in data.warnings)


@pytest.mark.parametrize("index,label,periods,calendar", [
    (pd.bdate_range("2020-01-01", periods=300), "1d", 252, "5 days a week"),
    (pd.date_range("2020-01-01", periods=300, freq="D"), "1d", 365, "7 days a week (weekends traded)"),
    (fx_hours(8), "1h", 6240, "24 h × 5 days"),
    (pd.date_range("2021-01-01", periods=24 * 60, freq="h"), "1h", 24 * 365, "24 h × 7 days"),
    (session_bars(40, 7, "1h", "14:30"), "1h", 7 * 252, "7 bars a day (14:30-20:30) × 5 days"),
    (session_bars(15, 390, "1min", "09:30"), "1min", 390 * 252, "390 bars a day (09:30-15:59) × 5 days"),
    (pd.date_range("2020-01-03", periods=100, freq="W-FRI"), "7d", 52, ""),
])
def test_periods_per_year_follow_the_calendar(index, label, periods, calendar):
    bars = detect_bars(index)
    assert (bars.label, bars.periods_per_year, bars.calendar) == (label, periods, calendar)


def test_weekday_daily_data_keeps_252_and_daily_timeframe(prices):
    bars = prices.bars
    assert (bars.label, bars.periods_per_year, bars.timeframe()) == ("1d", 252, ("Days", 1))
    assert bars.gap_note() is None  # holidays are not data faults
    assert bars.duration(756) == "≈ 3 years" and bars.duration(126) == "≈ 6 months"


def test_periods_override_is_marked():
    bars = detect_bars(fx_hours(3)).with_periods(8760)
    assert bars.periods_per_year == 8760 and bars.overridden
    assert bars.describe().endswith("8,760 bars a year (--periods-per-year)")
    assert bars.to_dict()["periods_per_year_source"] == "--periods-per-year"


def test_missing_bars_inside_a_session_are_counted_not_filled():
    index = session_bars(20, 7, "1h", "14:30")
    holed = index.delete([10, 11, 40])  # two bars missing on day 2, one on day 6
    bars = detect_bars(holed)
    assert (bars.missing_gaps, bars.missing_bars, bars.breaks) == (2, 3, 19)  # 19 nights between 20 days
    assert bars.first_missing == (index[9], index[12])
    assert detect_bars(index).missing_gaps == 0


def test_next_bar_follows_the_data_calendar():
    fx = fx_hours(4)
    assert fx[-1].day_name() == "Friday" and next_bar(fx) == fx[-1] + pd.Timedelta(hours=49)  # Sunday 22:00
    assert next_bar(fx[:-5]) == fx[-5]  # inside the week: one hour later
    days = pd.bdate_range("2021-01-04", periods=30)
    assert next_bar(days[:-1]) == days[-1]
    assert days[-1].day_name() == "Friday" and next_bar(days) == days[-1] + pd.Timedelta(days=3)


def test_stamps_print_dates_for_daily_bars_and_times_for_intraday():
    assert stamp(pd.Timestamp("2017-01-02")) == "2017-01-02"
    assert stamp(pd.Timestamp("2017-01-02 14:00")) == "2017-01-02 14:00"
    show = stamper(fx_hours(1))
    assert show(pd.Timestamp("2021-01-05 00:00")) == "2021-01-05 00:00"  # midnight of an intraday series
    assert stamper(pd.bdate_range("2021-01-04", periods=3)) is stamp
    assert csv_date_format(pd.DataFrame(index=pd.bdate_range("2021-01-04", periods=3))) == "%Y-%m-%d"
    assert csv_date_format(pd.DataFrame({"date": fx_hours(1)})) == "%Y-%m-%d %H:%M:%S"


# --- reading timestamps --------------------------------------------------------------------------------------

def _bars_csv(tmp_path, dates, name="bars.csv"):
    n = len(dates)
    close = 1.1 + 0.001 * np.arange(n)
    frame = pd.DataFrame({"Date": dates, "Open": close, "High": close + 0.002, "Low": close - 0.002,
                          "Close": close, "Volume": 100.0})
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_day_first_file_needs_and_takes_a_date_format(tmp_path):
    index = fx_hours(2)
    path = _bars_csv(tmp_path, index.strftime("%d.%m.%Y %H:%M:%S.000"))
    with pytest.raises(DataError, match=r"line 2: date '03\.01\.2021 22:00:00\.000' is not YYYY-MM-DD .*--date-format"):
        load_prices(path)
    data = load_prices(path, date_format="%d.%m.%Y %H:%M:%S.%f")
    assert data.frame.index.equals(pd.DatetimeIndex(index, name="date")) and data.bars.label == "1h"
    # month first reads the first days as January 1 to 12 ... until the 13th, which no month is
    with pytest.raises(DataError, match=r"line 172: date '13\.01\.2021 00:00:00\.000' does not match --date-format"):
        load_prices(path, date_format="%m.%d.%Y %H:%M:%S.%f")


def test_intraday_offsets_convert_to_naive_utc_and_duplicates_after_conversion_are_refused(tmp_path):
    local = pd.date_range("2021-01-04 09:00", periods=8, freq="h")
    path = _bars_csv(tmp_path, local.strftime("%Y-%m-%dT%H:%M:%S+01:00"))
    assert load_prices(path).frame.index.equals(pd.DatetimeIndex(local - pd.Timedelta(hours=1), name="date"))
    same_instant = list(local.strftime("%Y-%m-%dT%H:%M:%S+01:00"))
    same_instant[3] = (local[2] + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+02:00")  # = row 2's instant
    with pytest.raises(DataError, match="line 5: duplicate date 2021-01-04 10:00"):
        load_prices(_bars_csv(tmp_path, same_instant, "dupe.csv"))


def test_end_date_keeps_the_whole_day_of_intraday_bars():
    data = load_prices("sample:EURUSD_1H", start="2017-01-02", end="2017-01-03")
    assert data.frame.index[0] == pd.Timestamp("2017-01-02 00:00")
    assert data.frame.index[-1] == pd.Timestamp("2017-01-03 23:00") and len(data) == 48
    assert len(load_prices("sample:EURUSD_1H", end="2017-01-03 12:00")) == 2 + 24 + 13
