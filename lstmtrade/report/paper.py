"""``paper.html``: the paper record on one page (plain data in, HTML out; the numbers come from
:mod:`lstmtrade.live.paper`).

What the page answers, top to bottom: is anything wrong (the alarms)? How did the record do against
buy-and-hold and against what the backtest led us to expect (equity with the backtest's 5-95 % band)? Does the
forecast still rank (or call) as in the backtest (skill per day, with both intervals)? And the record itself,
day by day, pending entries included.
"""
from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from ..formatting import num, pct, stamp
from .html import html_table, page, pyplot, svg


def paper_page(summary: dict[str, Any], table: pd.DataFrame, band: pd.DataFrame | None) -> str:
    """The whole page: ``summary`` is the paper record's JSON object, ``table`` its rows, ``band`` the backtest's
    percentiles by number of days (None without a backtest)."""
    skill = summary["skill"]["name"]
    title = (f"Paper record {summary['first']} to {summary['last']}: {summary['entries']} entries, "
             f"{summary['credited']} credited, {summary['pending']} pending")
    parts = [_alarms(summary["alarms"]), _summary(summary, skill)]
    done = table[table["status"] == "credited"]
    if len(done):
        parts.append("<h2>Equity: paper against buy-and-hold and the backtest's band</h2>")
        parts.append(_equity_chart(done, band))
        parts.append('<p style="color:#555">Each entry is credited from the open after its date to the open after that '
                     "(the backtest's timing), through the backtest's engine and costs. The band is the 5-95 % range "
                     "of the backtest's cumulative return over as many days (stationary block bootstrap of its daily "
                     "returns); the dashed line its median.</p>")
        parts.append(f"<h2>{'Rank IC' if skill == 'rank_ic' else 'Hits'} per day</h2>")
        parts.append(_skill_chart(done, skill, summary["skill"]["backtest"]))
    else:
        parts.append("<p>No entry can be credited yet: each needs the two opens after its date in the data.</p>")
    parts.append("<h2>Day by day</h2>")
    parts.append(f'<div class="scroll">{html_table(_rows(table, skill), _cell)}</div>')
    if summary["notes"]:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in summary["notes"]) + "</ul>")
    parts.append(f'<p style="color:#555">Journal: {html.escape(summary["journal"])}; the record as CSV: paper.csv.</p>')
    return page(title, "\n".join(parts), width=1100)


def _alarms(alarms: list[dict[str, str]]) -> str:
    if not alarms:
        return '<p class="verdict"><b>No alarms:</b> the record is inside the backtest\'s band, the model is within ' \
               "its retrain interval, the inputs look like training, and no journal day is missing.</p>"
    items = "".join(f"<li><b>{html.escape(a['kind'].replace('_', ' '))}</b>: {html.escape(a['message'])}</li>"
                    for a in alarms)
    return f'<div class="caveat"><b>{len(alarms)} alarm{"s" * (len(alarms) > 1)}</b><ul>{items}</ul></div>'


def _interval(info: dict[str, Any] | None, percent: bool) -> str:
    if not info or info.get("mean") is None:
        return "n/a"
    show = (lambda v: pct(v, 1)) if percent else (lambda v: num(v, 4))
    span = f" [{show(info['low'])} .. {show(info['high'])}]" if info.get("low") is not None else ""
    return f"{show(info['mean'])}{span}"


def _summary(summary: dict[str, Any], skill: str) -> str:
    band, backtest = summary["band"], summary["skill"]["backtest"]
    label = "mean Rank IC" if skill == "rank_ic" else "hit rate"
    rows = [
        ("paper, cumulative return", pct(summary["cumulative_return"], 2)),
        ("buy-and-hold, same days and costs", pct(summary["benchmark_cumulative_return"], 2)),
        (f"backtest, {band['days']} day(s): 5 % .. median .. 95 %" if band else "backtest band",
         f"{pct(band['p05'], 2)} .. {pct(band['p50'], 2)} .. {pct(band['p95'], 2)}" if band else "n/a (no backtest run)"),
        (f"live {label} (95 % interval, {summary['skill']['live'].get('days', 0)} days)",
         _interval(summary["skill"]["live"], skill == "hit")),
        (f"backtest {label} (95 % interval)", _interval(backtest, skill == "hit")),
    ]
    if backtest:
        rows.append(("backtest run", html.escape(backtest["run"])))
    model = summary.get("model") or {}
    if model:
        params = ", ".join(f"{k}={v}" for k, v in (summary.get("params") or {}).items())
        rows.append(("model", html.escape(f"{model.get('path')} (trained through {model.get('train_end')}), "
                                          f"{summary.get('strategy')}({params})")))
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f"<table><tbody>{body}</tbody></table>"


def _equity_chart(done: pd.DataFrame, band: pd.DataFrame | None) -> str:
    """Growth of 1 at each open the record was credited to, from the first entry's first open."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    x = pd.DatetimeIndex([done["from_open"].iloc[0], *done["to_open"]])
    paper = np.r_[1.0, np.cumprod(1 + done["return"].to_numpy())]
    bench = np.r_[1.0, np.cumprod(1 + done["benchmark"].to_numpy())]
    if band is not None:
        n = min(len(done), len(band))
        ax.fill_between(x[:n + 1], np.r_[1.0, 1 + band["p05"].to_numpy()[:n]], np.r_[1.0, 1 + band["p95"].to_numpy()[:n]],
                        color="#4c72b0", alpha=0.15, label="backtest 5-95 %")
        ax.plot(x[:n + 1], np.r_[1.0, 1 + band["p50"].to_numpy()[:n]], color="#4c72b0", ls="--", lw=1,
                label="backtest median")
    ax.plot(x, paper, color="#c44e52", lw=2, marker="o", ms=3, label="paper")
    ax.plot(x, bench, color="#55a868", lw=1.5, marker="o", ms=3, label="buy-and-hold")
    ax.axhline(1.0, color="#999", lw=0.8)
    ax.set_ylabel("growth of 1, at the opens credited")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    fig.autofmt_xdate()
    return svg(fig)


def _skill_chart(done: pd.DataFrame, skill: str, backtest: dict[str, Any] | None) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 3))
    values = done[skill].to_numpy(dtype=float)
    x = np.arange(len(values))  # one slot per entry: weekends and holidays leave no gaps
    base = 0.0 if skill == "rank_ic" else 0.5
    colours = np.where(values >= base, "#55a868", "#c44e52")
    ax.bar(x, np.nan_to_num(values - base), bottom=base, color=colours, width=0.7, label="live, per entry")
    if backtest and backtest.get("mean") is not None:
        ax.axhline(backtest["mean"], color="#4c72b0", lw=1.5, label="backtest mean")
        if backtest.get("low") is not None:
            ax.axhspan(backtest["low"], backtest["high"], color="#4c72b0", alpha=0.12, label="backtest 95 % interval")
    ax.axhline(base, color="#999", lw=0.8)
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step], [stamp(d) for d in done["date"]][::step], rotation=30, ha="right")
    ax.set_ylabel("Rank IC" if skill == "rank_ic" else "hit (1) or miss (0)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    return svg(fig)


def _rows(table: pd.DataFrame, skill: str) -> pd.DataFrame:
    out = table.copy()
    out["date"] = [stamp(d) for d in out["date"]]
    out["credited"] = [f"{stamp(a)} .. {stamp(b)}" if isinstance(a, pd.Timestamp) and a == a else "&ndash;"
                       for a, b in zip(out["from_open"], out["to_open"])]
    columns = ["status", "credited", "return", "benchmark", "turnover", "costs", skill]
    return out.set_index("date")[columns + ["forward"] * ("forward" in out)]


def _cell(value: Any, column: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "&ndash;"
    if column in ("return", "benchmark", "turnover", "costs"):
        return pct(value, 2)
    if column == "rank_ic":
        return num(value, 3)
    if column == "hit":
        return "hit" if value == 1 else "miss"
    if column == "forward":
        return "yes" if value is True or value is np.True_ else "back-filled"
    if column == "credited":
        return f"opens {value}" if value != "&ndash;" else value
    return html.escape(str(value))
