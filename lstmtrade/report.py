"""The run folder: tearsheet.html (QuantStats vs buy-and-hold), metrics.json, CSVs and config.toml.

Every file is written atomically (a temporary file in the same folder, then a rename), so a run killed
half-way never leaves a file that looks complete; ``metrics.json`` is written last and marks a finished
run. Run folders are new each time and are never overwritten.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import tempfile
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .errors import ConfigError
from .timestamps import csv_date_format


def new_run_dir(root: str | Path, name: str, prefix: str | None = None) -> Path:
    """Create a fresh folder ``root/YYYYmmdd-HHMMSS-name``, or ``root/prefix-YYYYmmdd-HHMMSS`` with a
    ``prefix`` (suffix -2, -3... if taken)."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output folder {root}: {exc.strerror or exc}") from None
    if not os.access(root, os.W_OK):
        raise ConfigError(f"output folder {root} is not writable")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        base = f"{prefix}-{stamp}" if prefix else f"{stamp}-{safe}"
        folder = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"cannot create run folder in {root}: {exc.strerror or exc}") from None
    raise ConfigError(f"could not find a free run folder name in {root}")  # pragma: no cover


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` then rename tmp onto ``path``; the temporary file is removed on failure."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the user's usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, payload: dict) -> None:
    write_text(path, json.dumps(_jsonable(payload), indent=2, allow_nan=False) + "\n")


def write_csv(path: Path, frame: pd.DataFrame, **kwargs: Any) -> None:
    date_format = csv_date_format(frame)  # dates as dates; intraday rows keep their time
    atomic_write(path, lambda tmp: frame.to_csv(tmp, float_format="%.10g", date_format=date_format, **kwargs))


def _jsonable(value: Any) -> Any:
    """NaN and infinities become null (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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


_BANNER = ('<div style="font:15px/1.5 Arial,sans-serif;padding:10px 16px;margin:0 0 8px;'
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
        import html as html_lib

        name = html_lib.escape(title)
        write_text(path, f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{name}</title></head>'
                         f'<body style="font:14px Arial,sans-serif;margin:0">{_BANNER.format(banner or "")}'
                         f'<h1 style="margin:16px">{name}</h1><p style="margin:16px">{note}</p></body></html>')
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
                html = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + _BANNER.format(banner), html, count=1)
            tmp.write_text(html, encoding="utf-8")

        atomic_write(path, render)
    import matplotlib.pyplot as plt

    plt.close("all")


def html_table(frame: pd.DataFrame, cell: Callable[[Any, str], str]) -> str:
    """``frame`` as an HTML table, its index as the row headers; ``cell(value, column)`` formats each value."""
    import html as html_lib

    head = "".join(f"<th>{html_lib.escape(str(c))}</th>" for c in [frame.index.name or ""] + list(frame.columns))
    body = "".join("<tr><th>" + html_lib.escape(str(i)) + "</th>" +
                   "".join(f"<td>{cell(v, c)}</td>" for c, v in row.items()) + "</tr>"
                   for i, row in frame.iterrows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg(fig) -> str:
    import io

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def write_comparison(path: Path, title: str, verdict: str, table: pd.DataFrame, curves: pd.DataFrame,
                     predictions: pd.DataFrame, per_fold: pd.DataFrame, annualised: str = "",
                     members: pd.DataFrame | None = None, sections: str = "") -> None:
    """comparison.html: the verdict, the LSTM vs baselines vs buy-and-hold table, cumulative returns of
    all of them on one chart, predicted vs realised returns, and skill per fold; inline SVG, offline.

    ``annualised`` says how the table's Sharpe and CAGR were annualised (printed under it). ``members``
    (daily returns, one column per seed-ensemble member traded alone) are drawn faintly under the
    curves; ``sections`` is HTML placed after the per-fold table (the seed ensemble's section)."""
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import html as html_lib

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.2))
    for i, name in enumerate(members.columns if members is not None else []):
        ax.plot(members.index, (1 + members[name]).cumprod() - 1, color="#1f77b4", alpha=0.3, linewidth=0.8,
                label=f"each of the {members.shape[1]} seeds alone" if i == 0 else None)
    for name in curves.columns:
        width = 2.2 if name == curves.columns[0] else 1.2
        ax.plot(curves.index, (1 + curves[name]).cumprod() - 1, label=name, linewidth=width)
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.set_title("Cumulative return after costs, same days")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(loc="upper left", fontsize=8)
    cumulative = _svg(fig)

    fig, ax = plt.subplots(figsize=(5, 4.2))
    known = predictions.dropna(subset=["target"])
    ax.scatter(known["prediction"], known["target"], s=4, alpha=0.35)
    ax.axhline(0, color="#888", linewidth=0.6), ax.axvline(0, color="#888", linewidth=0.6)
    ax.set_xlabel("predicted return"), ax.set_ylabel("realised return (next open to open)")
    ax.set_title("Predicted vs realised")
    scatter = _svg(fig)

    fig, ax = plt.subplots(figsize=(5, 4.2))
    if len(per_fold):
        ax.bar(per_fold.index.astype(str), per_fold["ic"].fillna(0.0), color="#4c72b0")
        ax.axhline(0, color="#888", linewidth=0.6)
        ax.set_xlabel("fold"), ax.set_ylabel("information coefficient")
        ax.tick_params(axis="x", labelsize=7)
    ax.set_title("Skill per fold (IC)")
    folds_chart = _svg(fig)

    def fmt(value, column: str) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "n/a"
        if column == "n":
            return str(int(value))
        if column in ("total_return", "cagr", "max_drawdown", "hit_rate", "up_share"):
            return f"{value:.1%}"
        if isinstance(value, float):
            return f"{value:.3f}"
        return html_lib.escape(str(value))

    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html_lib.escape(title)}</title>
<style>
body {{ font: 14px/1.45 Arial, Helvetica, sans-serif; margin: 24px; color: #222; max-width: 1100px; }}
.verdict {{ font-size: 17px; padding: 12px 16px; background: #f4f6f8; border-left: 4px solid #4c72b0; }}
table {{ border-collapse: collapse; margin: 12px 0 20px; }}
th, td {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
thead th {{ border-bottom: 2px solid #999; }} tbody th {{ text-align: left; }}
.row {{ display: flex; gap: 16px; flex-wrap: wrap; }} svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>{html_lib.escape(title)}</h1>
<p class="verdict">{html_lib.escape(verdict)}</p>
<p><a href="tearsheet.html">QuantStats tearsheet: strategy vs buy-and-hold</a></p>
<h2>Forecasters through the same walk-forward, strategy and costs</h2>
{html_table(table, fmt)}
<p>{html_lib.escape(annualised)}</p>
<p>DM p: Diebold-Mariano test (Harvey-Leybourne-Newbold corrected) that the forecast's squared error is
lower than the zero forecast's; small p is evidence of skill. Hit rate skips zero forecasts. up_share: the
share of the days the hit rate counts on which the asset rose, which is the hit rate of always being long; a
hit rate shows skill only as far as it beats it.</p>
{cumulative}
<div class="row">{scatter}{folds_chart}</div>
<h2>Skill per fold</h2>
{html_table(per_fold, fmt)}
{sections}
</body></html>
"""
    write_text(path, page)
