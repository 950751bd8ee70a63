"""tearsheet.html: QuantStats' report of the strategy against its benchmark, drawn offline and made to agree with
metrics.json (the same periods per year, the entry day kept).
"""
from __future__ import annotations

import contextlib
import functools
import html
import re
import warnings
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..evaluate.performance import performance
from ..evaluate.sessions import is_intraday, per_session
from ..files import atomic_write, write_text
from .html import page, pyplot
from .tearsheet_html import (
    ROLLING,
    drop_charts,
    held_share,
    market_note,
    open_drawdown,
    open_max_drawdown,
    time_in_market,
    unbroken_range,
)


def _flat_windows_as_zero(rolling_ratio: Callable) -> Callable:
    """``rolling_ratio`` (QuantStats' rolling Sharpe or Sortino) with 0 for windows without a ratio.

    Once the first window is full, a NaN can only come from 0 / 0: a window in which every return is 0,
    which is what a strategy that stays flat for six months earns. QuantStats drops those points and
    joins the line straight across the gap, drawing a ratio the strategy never had for as long as it
    stayed flat; as 0 (no return and no risk) the chart shows the flat spell as it was.
    """
    @functools.wraps(rolling_ratio)
    def ratio(*args: Any, **kwargs: Any):
        out = rolling_ratio(*args, **kwargs)
        return out.mask(out.isna() & out.notna().cummax(), 0.0)

    return ratio


def _months_with_data(monthly_returns: Callable) -> Callable:
    """``monthly_returns`` (the heatmap's table) with no value for a month without a single return.

    QuantStats pivots the months it has and fills the rest of each year with 0, so the heatmap printed 0.00 for
    the months before the test began and after it ended, as if the strategy had traded flat through them.
    """
    @functools.wraps(monthly_returns)
    def monthly(returns, *args: Any, **kwargs: Any):
        table = monthly_returns(returns, *args, **kwargs)
        series = returns.iloc[:, 0] if isinstance(returns, pd.DataFrame) else returns
        seen = {(str(ts.year), ts.month) for ts in pd.DatetimeIndex(series.dropna().index)}
        months = {name: k + 1 for k, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG",
                                                        "SEP", "OCT", "NOV", "DEC"))}
        table = table.astype(float)
        for column in table.columns:
            month = months.get(str(column).upper()[:3])
            if month is not None:
                table.loc[[(str(y), month) not in seen for y in table.index], column] = float("nan")
        return table

    return monthly


def _full_windows_only(rolling_greeks: Callable) -> Callable:
    """``rolling_greeks`` (rolling beta and alpha) from the first full window on.

    The rolling-beta chart fills the windows that are not yet full with 0, which drew a beta of 0 for the first
    six months and then a jump; without those rows the line starts where the first window is complete.
    """
    @functools.wraps(rolling_greeks)
    def greeks(returns, benchmark, periods=252, *args: Any, **kwargs: Any):
        out = rolling_greeks(returns, benchmark, periods, *args, **kwargs)
        full = out.iloc[max(0, int(periods) - 1):]
        return full if len(full) else out  # no full window: the page leaves the chart out (drop_charts)

    return greeks


def _cumulative_sum_unresampled(plot_timeseries: Callable) -> Callable:
    """QuantStats' time-series plot without its daily resampling of a cumulative sum.

    The "Daily Returns (Cumulative Sum)" chart takes the cumulative sum and then resamples it by calendar day
    with ``sum``: every bar's running total of a day is added up (hourly bars drew a peak of 40 % where the
    real cumulative sum never passed 2.3 %), and each weekend day comes out as 0, a comb down to the axis.
    The returns lstmtrade gives it are one a session already, so the curve is drawn as it is.
    """
    @functools.wraps(plot_timeseries)
    def plot(*args: Any, **kwargs: Any):
        if kwargs.get("resample") == "D" and kwargs.get("compound") is False:
            kwargs["resample"] = None
        return plot_timeseries(*args, **kwargs)

    return plot


def percent_decimals(ticks: list[float], scale: float = 100.0) -> int:
    """Decimals an axis needs so that ticks ``ticks`` read as the distinct, evenly spaced values they are, written
    times ``scale`` (100 for percentages: 0.015 is 1.5 %)."""
    steps = [abs(b - a) * scale for a, b in zip(ticks, ticks[1:]) if b != a]
    if not steps:
        return 0
    step = min(steps)
    for decimals in range(5):
        if abs(step * 10 ** decimals - round(step * 10 ** decimals)) < 1e-6 * 10 ** decimals:
            return decimals
    return 4


def distinct_percent_ticks(fig) -> None:
    """Tick labels on ``fig`` written with as many decimals as their spacing needs.

    QuantStats labels its percentage axes with whole percents (truncated in some charts, rounded in others) and
    its rolling volatility with two decimals, so ticks 0.5 % apart read "0%, 0%, 1%, 1%", ticks 1.5 % apart
    "0%, 1%, 3%, 4%" and ticks 0.025 apart "0.00, 0.03, 0.05, 0.08": repeated or uneven labels on a scale that
    is neither. An axis is rewritten only where every label is its tick's position, rounded, and some label
    lost digits doing so; axes that label positions with other values (the log-scaled chart writes returns at
    log positions) keep their labels.
    """
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, FuncFormatter, PercentFormatter

    fig.canvas.draw()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if (not isinstance(axis.get_major_formatter(), (FuncFormatter, FormatStrFormatter))
                    or axis.get_scale() != "linear"):
                continue  # the log-scaled chart (symlog) places its own ticks: leave it as QuantStats drew it
            pairs = [(float(t.get_position()[0 if axis is ax.xaxis else 1]), t.get_text())
                     for t in axis.get_ticklabels() if t.get_text()]
            shown = [re.fullmatch(r"([−-]?[\d,]*(?:\.(\d+))?)(%?)", text) for _, text in pairs]
            if not pairs or not all(shown) or len({m.group(3) for m in shown}) != 1:
                continue
            percent = shown[0].group(3) == "%"
            scale = 100.0 if percent else 1.0
            unit = max(10.0 ** -len(m.group(2) or "") for m in shown)  # the last digit the labels show
            values = [float(m.group(1).replace("−", "-").replace(",", "")) for m in shown]
            gaps = [abs(v - scale * x) for (x, _), v in zip(pairs, values)]
            if max(gaps) >= unit or max(gaps) < 1e-9:  # labels of other values, or already exact
                continue
            ticks = [x for x, _ in pairs]
            decimals = percent_decimals(ticks, scale)
            axis.set_major_locator(FixedLocator(ticks))
            axis.set_major_formatter(PercentFormatter(1.0, decimals=decimals) if percent
                                     else FormatStrFormatter(f"%.{decimals}f"))


def _percent_ticks_on_save(savefig: Callable) -> Callable:
    """``Figure.savefig`` that first gives percentage axes distinct labels (:func:`distinct_percent_ticks`)."""
    @functools.wraps(savefig)
    def save(fig, *args: Any, **kwargs: Any):
        distinct_percent_ticks(fig)
        return savefig(fig, *args, **kwargs)

    return save


@contextlib.contextmanager
def quantstats_fixes():
    """Patches that make QuantStats' charts come out right, only while lstmtrade draws them.

    - QuantStats draws its "EOY Returns vs Benchmark" bars with pandas' ``DataFrame.plot(kind="bar")`` and
      then labels ticks 0..n-1 with the years, assuming pandas put the bars at 0..n-1. In newer pandas
      (3.1.1 here) a bar chart whose index is a regular DatetimeIndex (QuantStats' year-end resample is
      one) is a time series plot: the bars sit at period ordinals (2003 is 33 years after 1970), so
      they bunched at the right edge while the year labels piled up at 0..10 on the left (with ten
      years or fewer, the labels came one year off). ``x_compat`` turns pandas' time series axis off,
      which puts the bars back at 0..n-1; it changes nothing else in the tearsheet (its other charts
      are drawn with matplotlib and seaborn directly).
    - Rolling Sharpe and Sortino over windows where the strategy was flat: see
      :func:`_flat_windows_as_zero`.
    - Months outside the test in the monthly heatmap: :func:`_months_with_data`.
    - Rolling beta before its first full window: :func:`_full_windows_only`.
    - The cumulative sum of daily returns: :func:`_cumulative_sum_unresampled`.
    - Percentage axes with repeated or uneven labels: :func:`distinct_percent_ticks`.
    """
    from quantstats import stats as qs_stats
    from matplotlib.figure import Figure
    from quantstats._plotting import core as qs_core

    fixes = {"rolling_sharpe": _flat_windows_as_zero, "rolling_sortino": _flat_windows_as_zero,
             "monthly_returns": _months_with_data, "rolling_greeks": _full_windows_only}
    saved = {name: getattr(qs_stats, name) for name in fixes}
    plot_timeseries = qs_core.plot_timeseries
    savefig = Figure.savefig
    try:
        qs_core.plot_timeseries = _cumulative_sum_unresampled(plot_timeseries)
        Figure.savefig = _percent_ticks_on_save(savefig)
        for name, original in saved.items():
            setattr(qs_stats, name, fixes[name](original))
        with pd.plotting.plot_params.use("x_compat", True):
            yield
    finally:
        qs_core.plot_timeseries = plot_timeseries
        Figure.savefig = savefig
        for name, original in saved.items():
            setattr(qs_stats, name, original)


BANNER = ('<div style="font:15px/1.5 Arial,sans-serif;padding:10px 16px;margin:0 0 8px;'
           'background:#f4f6f8;border-bottom:1px solid #d0d7de">{}</div>')


def write_tearsheet(path: Path, strategy: pd.Series, benchmark: pd.Series, title: str,
                    banner: str | None = None, periods: int = 252, benchmark_name: str = "Buy & Hold",
                    weights: tuple[pd.Series, pd.Series] | None = None, bar: str = "") -> None:
    """QuantStats HTML tearsheet of ``strategy`` against the ``benchmark`` returns Series.

    ``periods`` (bars a year, the run's one value) goes to QuantStats as ``periods_per_year``, so its Sharpe,
    CAGR, volatility and rolling windows use the data's calendar and agree with metrics.json.

    Intraday bars are compounded per session first (:mod:`lstmtrade.evaluate.sessions`): QuantStats reads every
    return as a day's, and fed hourly bars it drew empty rolling charts and a "daily" cumulative sum of hours.
    The banner then says so and gives the bar-level Sharpe, volatility and drawdown, computed by lstmtrade.
    ``weights`` (the strategy's and the benchmark's weight at each close) replace QuantStats' "Time in Market",
    which counts non-zero returns; ``bar`` names the bar size in the banner ("1h").

    The benchmark is always a Series (a ticker string would make QuantStats download prices). Fonts
    warnings are silenced, charts are inline SVG, and the one external link (a favicon) is dropped so
    the page is self-contained offline. ``banner`` (HTML) goes at the top of the page. Charts are drawn
    under :func:`quantstats_fixes`, and the page's one uncommon glyph (U+FE6A, in "CAGR") becomes "%".
    Charts without data are left out with a line saying why (:mod:`lstmtrade.report.tearsheet_html`).
    """
    if not (strategy.fillna(0.0) != 0).any():
        # QuantStats cannot regress a constant series on the benchmark (it raises): say so on the page
        note = ("The strategy never held a position, so its daily return is 0 every day and there is nothing "
                "for a tearsheet to draw. The comparison page has the forecast's skill and the baselines.")
        write_text(path, page(title, f"<p>{note}</p>", banner=BANNER.format(banner or "")))
        return
    notes = []
    if is_intraday(strategy.index):
        bars_perf = performance(strategy, periods)
        daily, daily_benchmark = per_session(strategy), per_session(benchmark)
        sessions_a_year = max(1, round(periods * len(daily) / len(strategy)))
        notes.append(session_note(bar, len(strategy), len(daily), sessions_a_year, bars_perf))
        strategy, benchmark, periods = daily, daily_benchmark, sessions_a_year
    window = max(1, round(periods / 2))
    short = len(strategy) < window + 2
    held = (held_share(weights[0]), held_share(weights[1])) if weights is not None else (None, None)
    if held[0] is not None:
        notes.append(market_note(held[0], float(weights[0].abs().mean())))
    pyplot()  # the Agg backend, no font warnings, before QuantStats imports matplotlib
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats as qs

        strategy = strategy.rename("Strategy")
        benchmark = benchmark.rename(benchmark_name)
        top = "<br>".join(([banner] if banner else []) + [html.escape(n) for n in notes])

        def render(tmp: Path) -> None:
            with quantstats_fixes():
                qs.reports.html(strategy, benchmark=benchmark, output=str(tmp), title=title,
                                download_filename=path.name, figfmt="svg", periods_per_year=int(periods),
                                match_dates=False)  # keep the entry day: same numbers as metrics.json
            text = tmp.read_text(encoding="utf-8")
            text = re.sub(r'<link rel="shortcut icon"[^>]*>', "", text)
            text = text.replace("\ufe6a", "%")  # "CAGR" + U+FE6A, a small percent sign many fonts lack
            if short:
                text = drop_charts(text, ROLLING, f"Rolling beta, volatility, Sharpe and Sortino are left out: "
                                   f"the test has {len(strategy)} sessions, and a six-month window needs {window}.")
            if held[0] is not None:
                text = time_in_market(text, held[0], 1.0 if held[1] is None else held[1])
            text = unbroken_range(open_max_drawdown(open_drawdown(text, strategy), strategy, benchmark))
            if top:
                text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + BANNER.format(top), text, count=1)
            tmp.write_text(text, encoding="utf-8")

        atomic_write(path, render)
    import matplotlib.pyplot as plt

    plt.close("all")


def session_note(bar: str, n_bars: int, n_sessions: int, a_year: int, bars_perf: dict) -> str:
    """The banner's line on an intraday run: what QuantStats was given, and the bar-level figures it lacks."""
    size = f"{bar} bars" if bar else "intraday bars"
    return (f"The {n_bars:,} {size} are compounded per trading session for this page: QuantStats' charts and "
            f"tables read one return a day, so they show {n_sessions} sessions ({a_year} a year). Total return "
            f"and CAGR are the same either way. From the {size} themselves (as in metrics.json and the "
            f"comparison page): Sharpe {bars_perf['sharpe']:.2f}, volatility {bars_perf['volatility']:.1%}, "
            f"max drawdown {bars_perf['max_drawdown']:.1%}.")
