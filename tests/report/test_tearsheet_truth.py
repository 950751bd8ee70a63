"""What the tearsheet must not mislead about: intraday bars compounded per session, charts without data left out,
months outside the test blank, an open drawdown not called recovered, "Time in Market" from positions."""
import warnings

import numpy as np
import pandas as pd

from builders import fx_hours
from lstmtrade.evaluate.sessions import per_session, session_labels
from lstmtrade.report import tearsheet as report
from lstmtrade.report.tearsheet_html import market_note, open_drawdown, open_max_drawdown


def _hourly(weeks: int = 3, seed: int = 1) -> pd.Series:
    index = fx_hours(weeks)
    return pd.Series(np.random.default_rng(seed).normal(0, 0.001, len(index)), index=index)


def test_fx_hours_make_one_session_a_weekday_from_the_sunday_reopen():
    returns = _hourly()
    labels = pd.Series(session_labels(returns.index), index=returns.index)
    counts = labels.value_counts()
    assert (counts == 24).all() and len(counts) == 15  # 3 weeks x 5 weekdays of 24 bars
    assert set(pd.DatetimeIndex(counts.index).day_of_week) == {0, 1, 2, 3, 4}
    assert labels.iloc[0] == returns.index[0].normalize() + pd.Timedelta(days=1)  # Sunday 22:00 is Monday's


def test_per_session_compounding_equals_the_product_by_hand():
    returns = _hourly()
    daily = per_session(returns)
    labels = session_labels(returns.index)
    for day in daily.index[:3]:
        by_hand = float(np.prod(1 + returns[labels == day].to_numpy()) - 1)
        assert daily[day] == by_hand
    assert np.isclose((1 + daily).prod(), (1 + returns).prod(), rtol=1e-12)


def test_daily_bars_are_their_own_sessions():
    index = pd.bdate_range("2020-01-01", periods=30)
    returns = pd.Series(np.linspace(-0.01, 0.01, 30), index=index)
    pd.testing.assert_series_equal(per_session(returns), returns, check_freq=False)


def _write(tmp_path, strategy, benchmark, **kwargs) -> str:
    path = tmp_path / "tearsheet.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.write_tearsheet(path, strategy, benchmark, "test", **kwargs)
    return path.read_text(encoding="utf-8")


def test_short_hourly_tearsheet_leaves_out_empty_rolling_charts_and_says_why(tmp_path):
    strategy, benchmark = _hourly(6, 1), _hourly(6, 2)
    weights = (pd.Series((strategy.index.hour % 3 == 0) * 1.0, index=strategy.index), pd.Series(1.0, strategy.index))
    page = _write(tmp_path, strategy, benchmark, periods=6240, bar="1h", weights=weights)
    for chart in ("rolling_beta", "rolling_vol", "rolling_sharpe", "rolling_sortino"):
        assert f'<div id="{chart}">' not in page
    assert "are left out: the test has 30 sessions" in page
    assert "compounded per trading session" in page
    held = float((weights[0].iloc[1:] != 0).mean())  # the first close precedes any fill
    assert f"<tr><td>Time in Market</td><td>100.0%</td><td>{held:.1%}</td></tr>" in page
    assert market_note(held, float(weights[0].mean())) in page.replace("&#x27;", "'")


def test_open_drawdown_is_not_listed_as_recovered():
    index = pd.bdate_range("2020-01-01", periods=6)
    falling = pd.Series([0.01, -0.02, 0.005, -0.01, 0.001, -0.003], index=index)
    last = index[-1].strftime("%Y-%m-%d")
    row = f"<tr><td>2020-01-02</td><td>{last}</td><td>-3.00</td></tr>"
    assert "not recovered (open)" in open_drawdown(row, falling)
    recovered = falling.copy()
    recovered.iloc[-1] = 0.05
    assert open_drawdown(row, recovered) == row
    # the key metrics' "Max DD Period End": the still-falling column says open, the recovered one keeps its date
    key = f"<tr><td>Max DD Period End</td><td>{last}</td><td>{last}</td></tr>"
    assert open_max_drawdown(key, falling, recovered) == (
        f"<tr><td>Max DD Period End</td><td>{last}</td><td>not recovered (open)</td></tr>")


def test_heatmap_leaves_months_outside_the_test_blank():
    index = pd.bdate_range("2019-03-01", "2020-02-28")
    returns = pd.Series(np.random.default_rng(3).normal(0, 0.01, len(index)), index=index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from quantstats import stats as qs_stats

        with report.quantstats_fixes():
            table = qs_stats.monthly_returns(returns, eoy=False)
    months = [str(c).upper()[:3] for c in table.columns]
    assert table.loc["2019", table.columns[months.index("JAN")]] != table.loc["2019", table.columns[months.index("JAN")]]
    assert table.loc["2020", table.columns[months.index("MAR")]] != table.loc["2020", table.columns[months.index("MAR")]]
    assert table.loc["2019"].notna().sum() == 10 and table.loc["2020"].notna().sum() == 2


def test_rolling_beta_starts_at_the_first_full_window():
    index = pd.bdate_range("2020-01-01", periods=300)
    rng = np.random.default_rng(4)
    benchmark = pd.Series(rng.normal(0, 0.01, 300), index=index)
    strategy = 0.5 * benchmark + pd.Series(rng.normal(0, 0.005, 300), index=index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from quantstats import stats as qs_stats

        with report.quantstats_fixes():
            beta = qs_stats.rolling_greeks(strategy, benchmark, 126)["beta"]
    assert beta.index[0] == index[125] and beta.notna().all()


def test_percentage_ticks_are_distinct_and_as_spaced():
    from matplotlib.ticker import FuncFormatter

    from lstmtrade.report.html import pyplot

    assert report.percent_decimals([0.0, 0.015, 0.03]) == 1 and report.percent_decimals([0.0, 0.05, 0.1]) == 0
    fig, ax = pyplot().subplots()
    ax.plot([0.0, 0.031], [0.0, 0.031])
    ax.set_yticks([0.0, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(x * 100):,}%"))  # QuantStats' truncation
    report.distinct_percent_ticks(fig)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(set(labels)) == len(labels) == 7 and labels[1] == "0.5%"


def test_percentage_axes_labelled_with_other_values_keep_their_labels():
    from matplotlib.ticker import FuncFormatter

    from lstmtrade.report.html import pyplot

    fig, ax = pyplot().subplots()
    ax.plot([0.0, 0.1], [0.0, 0.1])
    ax.set_yticks([0.0, 0.0544])  # a log-scaled chart: the position of a 15 % return
    ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _: "15%" if x else "0%"))
    report.distinct_percent_ticks(fig)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0%", "15%"]


def test_two_decimal_axes_with_finer_ticks_get_the_decimals_they_need():
    from matplotlib.ticker import FormatStrFormatter

    from lstmtrade.report.html import pyplot

    fig, ax = pyplot().subplots()
    ax.plot([0.0, 0.08], [0.0, 0.08])
    ax.set_yticks([0.0, 0.025, 0.05, 0.075])
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.2f"))  # QuantStats' rolling volatility: 0.03, 0.08
    report.distinct_percent_ticks(fig)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.000", "0.025", "0.050", "0.075"]
