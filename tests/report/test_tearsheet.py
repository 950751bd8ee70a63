"""The tearsheet's charts: EOY returns bars under their year labels and filling the axis; rolling Sharpe
and Sortino through a spell in which the strategy stayed flat."""
import warnings

import numpy as np
import pandas as pd
import pytest

from lstmtrade.report import tearsheet as report


def _returns(start: str, end: str, seed: int = 5) -> tuple[pd.Series, pd.Series]:
    index = pd.bdate_range(start, end)
    rng = np.random.default_rng(seed)
    benchmark = pd.Series(rng.normal(0.0004, 0.015, len(index)), index=index)
    strategy = benchmark * (rng.random(len(index)) < 0.5)  # in the market about half the days
    return strategy.rename("Strategy"), benchmark.rename("Buy & Hold")


def _check_eoy_chart(fig, years: list[int]) -> None:
    """Each year's pair of bars is centred on a tick labelled with that year (or unlabelled, where
    QuantStats thins the labels), and the bars span the axis."""
    ax = fig.axes[0]
    fig.canvas.draw()
    groups = [sorted(bar.get_x() + bar.get_width() / 2 for bar in container) for container in ax.containers]
    assert len(groups) == 2 and all(len(g) == len(years) for g in groups)  # benchmark and strategy
    centres = (np.array(groups[0]) + np.array(groups[1])) / 2
    labels = {tick.get_position()[0]: tick.get_text() for tick in ax.get_xticklabels() if tick.get_text()}
    assert len(labels) >= len(years) / 2
    for position, text in labels.items():
        nearest = int(np.argmin(np.abs(centres - position)))
        assert abs(centres[nearest] - position) < 0.5, (position, text, centres)
        assert text == str(years[nearest])
    left, right = ax.get_xlim()
    edges = [x for container in ax.containers for bar in container for x in (bar.get_x(), bar.get_x() + bar.get_width())]
    assert left <= min(edges) and max(edges) <= right
    assert (max(edges) - min(edges)) / (right - left) > 0.8, (min(edges), max(edges), left, right)


@pytest.mark.parametrize("start,end", [("2009-03-02", "2012-11-30"), ("2003-04-04", "2013-03-01"),
                                       ("1990-01-02", "2013-03-01")])
def test_eoy_returns_bars_sit_under_their_year_labels(start, end):
    import matplotlib

    matplotlib.use("Agg", force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats as qs

        strategy, benchmark = _returns(start, end)
        with report.quantstats_fixes():
            fig = qs.plots.yearly_returns(strategy, benchmark, show=False, prepare_returns=False)
    _check_eoy_chart(fig, sorted(set(strategy.index.year)))


@pytest.mark.parametrize("chart", ["rolling_sharpe", "rolling_sortino"])
def test_rolling_ratio_is_zero_while_the_strategy_is_flat_not_a_line_across(chart):
    import matplotlib

    matplotlib.use("Agg", force=True)
    strategy, _ = _returns("2003-04-04", "2008-12-31")
    flat = (strategy.index >= "2004-04-01") & (strategy.index < "2005-10-01")
    strategy[flat] = 0.0  # out of the market for 18 months
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import quantstats as qs

        with report.quantstats_fixes():
            fig = getattr(qs.plots, chart)(strategy, show=False)
    (line,) = [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) > 2]  # the ratio (others: reference lines)
    x = pd.DatetimeIndex(line.get_xdata())
    y = np.asarray(line.get_ydata(), dtype=float)
    assert len(y) == len(strategy) - 125  # a point for every full six-month window
    all_flat = (x >= "2004-10-01") & (x < "2005-10-01")  # windows of 126 days entirely in the flat spell
    assert all_flat.sum() > 200 and (y[all_flat] == 0).all()
    assert (y[~all_flat] != 0).mean() > 0.9
    assert qs.stats.rolling_sharpe.__module__ == "quantstats.stats"  # the patch ends with the report


def test_tearsheet_eoy_chart_and_cagr_label(tmp_path, monkeypatch):
    """Through write_tearsheet itself: the EOY figure it draws is right, and "CAGR%" uses a plain "%"."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from quantstats._plotting import core

    drawn = []
    original = core.plot_returns_bars

    def capture(*args, **kwargs):
        fig = original(*args, **kwargs)
        drawn.append(fig)
        return fig

    monkeypatch.setattr(core, "plot_returns_bars", capture)
    strategy, benchmark = _returns("2003-04-04", "2013-03-01")
    path = tmp_path / "tearsheet.html"
    report.write_tearsheet(path, strategy, benchmark, "test")
    assert len(drawn) == 1 and drawn[0] is not None
    _check_eoy_chart(drawn[0], list(range(2003, 2014)))
    html = path.read_text(encoding="utf-8")
    assert "CAGR%" in html and "\ufe6a" not in html
    assert not pd.plotting.plot_params["x_compat"]  # the fix does not outlive the report
