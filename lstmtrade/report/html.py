"""The one page helper: every HTML page lstmtrade writes gets its head and style here, and its tables and charts
(inline SVG, so each page is one self-contained file that opens offline)."""
from __future__ import annotations

import html
import io
import logging
import re
from typing import Any, Callable

import pandas as pd

from ..formatting import stamp

STYLE = """
body { font: 14px/1.45 Arial, Helvetica, sans-serif; margin: 24px; color: #222; max-width: %dpx; }
.verdict { font-size: 17px; padding: 12px 16px; background: #f4f6f8; border-left: 4px solid #4c72b0; }
.caveat { padding: 8px 16px; background: #fff6e5; border-left: 4px solid #e0a030; }
table { border-collapse: collapse; margin: 12px 0 20px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
.text { display: block; text-align: left; } .long { display: block; text-align: left; white-space: normal; min-width: 320px; }
.nowrap { white-space: nowrap; }
thead th { border-bottom: 2px solid #999; } tbody th { text-align: left; }
td.note { text-align: left; color: #555; } .wide { overflow-x: auto; }
tr.best td { background: #e8f0fc; font-weight: bold; }
.row { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; } svg { max-width: 100%%; height: auto; }
.scroll { max-height: 420px; overflow-y: auto; display: inline-block; }
"""

PERCENT = {"total_return", "cagr", "max_drawdown", "hit_rate", "up_share"}  # columns shown as percentages


def page(title: str, body: str, width: int = 1100, banner: str = "") -> str:
    """A whole HTML page: ``title`` in the head and as the first heading, then ``body`` (HTML); ``banner`` (HTML)
    goes above the heading, as the tearsheet's does."""
    name = html.escape(title)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{name}</title>\n'
            f"<style>{STYLE % width}</style></head><body>\n{banner}<h1>{unbroken_dates(name)}</h1>\n{body}\n"
            "</body></html>\n")


def unbroken_dates(text: str) -> str:
    """``text`` (HTML) with each date, and date with time, kept on one line: a long title wraps between words,
    never inside "2018-02-07" at a hyphen."""
    return re.sub(r"\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2})?", lambda m: f'<span class="nowrap">{m.group(0)}</span>', text)


def pyplot():
    """matplotlib's pyplot on the Agg backend, without font-lookup warnings on stderr."""
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def svg(fig) -> str:
    """``fig`` as inline SVG markup (the figure is closed)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    pyplot().close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def cell(value: Any, column: str) -> str:
    """One table cell: n/a when missing, percentages for returns and rates, counts as integers, dates as dates."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, pd.Timestamp):
        return stamp(value)
    if isinstance(value, str):  # text reads left-aligned; long text may wrap, short text (a date) may not
        return f'<span class="{"long" if len(value) > 40 else "text"}">{html.escape(value)}</span>'
    if (column == "n" or column.startswith("n_")) and float(value).is_integer():
        return str(int(value))
    if column in PERCENT and isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.3f}"
    return html.escape(str(value))


def html_table(frame: pd.DataFrame, format_cell: Callable[[Any, str], str] = cell) -> str:
    """``frame`` as an HTML table, its index as the row headers; ``format_cell(value, column)`` formats each value."""
    texts = {c for c in frame.columns if len(frame) and frame[c].map(lambda v: isinstance(v, str)).all()}
    left = ' style="text-align:left"'
    head = f"<th{left}>{html.escape(str(frame.index.name or ''))}</th>" + "".join(
        f"<th{left if c in texts else ''}>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr><th>" + html.escape(str(i)) + "</th>" +
                   "".join(f"<td>{format_cell(v, c)}</td>" for c, v in row.items()) + "</tr>"
                   for i, row in frame.iterrows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
