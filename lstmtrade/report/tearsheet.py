"""tearsheet.html: QuantStats' report of the strategy against its benchmark, drawn offline and made to agree with
metrics.json (the same periods per year, the entry day kept).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import re
import warnings
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..files import atomic_write, write_text
from .html import page


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
    """
    from quantstats import stats as qs_stats

    saved = {name: getattr(qs_stats, name) for name in ("rolling_sharpe", "rolling_sortino")}
    try:
        for name, original in saved.items():
            setattr(qs_stats, name, _flat_windows_as_zero(original))
        with pd.plotting.plot_params.use("x_compat", True):
            yield
    finally:
        for name, original in saved.items():
            setattr(qs_stats, name, original)


BANNER = ('<div style="font:15px/1.5 Arial,sans-serif;padding:10px 16px;margin:0 0 8px;'
           'background:#f4f6f8;border-bottom:1px solid #d0d7de">{}</div>')


def write_tearsheet(path: Path, strategy: pd.Series, benchmark: pd.Series, title: str,
                    banner: str | None = None, periods: int = 252, benchmark_name: str = "Buy & Hold") -> None:
    """QuantStats HTML tearsheet of ``strategy`` against the ``benchmark`` returns Series.

    ``periods`` (bars a year, the run's one value) goes to QuantStats as ``periods_per_year``, so its Sharpe,
    CAGR, volatility and rolling windows use the data's calendar and agree with metrics.json.

    The benchmark is always a Series (a ticker string would make QuantStats download prices). Fonts
    warnings are silenced, charts are inline SVG, and the one external link (a favicon) is dropped so
    the page is self-contained offline. ``banner`` (HTML) goes at the top of the page. Charts are drawn
    under :func:`quantstats_fixes`, and the page's one uncommon glyph (U+FE6A, in "CAGR") becomes "%".
    """
    if not (strategy.fillna(0.0) != 0).any():
        # QuantStats cannot regress a constant series on the benchmark (it raises): say so on the page
        note = ("The strategy never held a position, so its daily return is 0 every day and there is nothing "
                "for a tearsheet to draw. The comparison page has the forecast's skill and the baselines.")
        write_text(path, page(title, f"<p>{note}</p>", banner=BANNER.format(banner or "")))
        return
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib

    matplotlib.use("Agg", force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats as qs

        strategy = strategy.rename("Strategy")
        benchmark = benchmark.rename(benchmark_name)

        def render(tmp: Path) -> None:
            with quantstats_fixes():
                qs.reports.html(strategy, benchmark=benchmark, output=str(tmp), title=title,
                                download_filename=path.name, figfmt="svg", periods_per_year=int(periods),
                                match_dates=False)  # keep the entry day: same numbers as metrics.json
            html = tmp.read_text(encoding="utf-8")
            html = re.sub(r'<link rel="shortcut icon"[^>]*>', "", html)
            html = html.replace("\ufe6a", "%")  # "CAGR" + U+FE6A, a small percent sign many fonts lack
            if banner:
                html = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + BANNER.format(banner), html, count=1)
            tmp.write_text(html, encoding="utf-8")

        atomic_write(path, render)
    import matplotlib.pyplot as plt

    plt.close("all")
