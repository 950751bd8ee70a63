"""index.html at the root of the runs folder: every run on one page, newest first, sortable, offline.

Rewritten (atomically) after every run and sweep from what the run folders hold, so it is never ahead of or
behind them; ``lstmtrade runs index`` rewrites it by hand (after deleting runs, or for runs made before it
existed). One row per run: its figures, a sparkline of its equity against the benchmark (inline SVG), links to
its pages, and for an unfinished run the command that resumes it. Clicking a column heading sorts by it
(a few lines of inline script; the page loads nothing from the network).
"""
from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from ..errors import ConfigError, WriteError
from ..files import write_text
from ..formatting import num, pct
from .html import html_table, page
from .runs import INDEX, RunSummary, equity_curves, list_runs

# Sorting: a cell's data-sort (or its text) compared as a number when it reads as one, else as text; n/a last.
SCRIPT = """<script>
document.querySelectorAll('#runs thead th').forEach(function (th, col) {
  th.title = 'sort by this column'; th.style.cursor = 'pointer';
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
    var dir = th.dataset.dir === 'desc' ? 1 : -1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
    function key(row) {
      var cell = row.cells[col], marked = cell.querySelector('[data-sort]');
      var text = (marked ? marked.dataset.sort : cell.textContent).trim(), n = Number(text.replace('%', ''));
      return text === '' || text === 'n/a' ? null : (isNaN(n) ? text : n);
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);
      if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
      return x < y ? -dir : x > y ? dir : 0;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
</script>"""

# Text columns (when .. strategy, verdict) left-aligned, figures right-aligned as on every other page; figures
# kept on one line, the run's pages, its status and its verdict wrapped.
EXTRA_STYLE = """<style>
#runs table { font-size: 13px; } #runs td, #runs th { vertical-align: top; padding: 4px 8px; }
#runs tr > :nth-child(-n+6), #runs tr > :nth-child(12) { text-align: left; }
#runs td, #runs tbody th, #runs .name { white-space: nowrap; }
#runs td:nth-child(2), #runs td:nth-child(4), #runs td:nth-child(12) { white-space: normal; }
#runs td:nth-child(2) { min-width: 16em; } #runs td:nth-child(12) { min-width: 14em; }
#runs svg { max-width: none; } #runs code { font-size: 12px; } #runs small { color: #555; }
.fail { color: #b03030; } .pending { color: #a06000; }
</style>"""


OWN_TITLE = "<title>lstmtrade runs</title>"  # in the head of every index.html lstmtrade writes


def write_index(root: str | Path) -> Path | None:
    """Write ``root/index.html`` from the run folders under ``root``; returns its path, or None when an
    ``index.html`` lstmtrade did not write is there: it is left as it is."""
    root = Path(root)
    path = root / INDEX
    if not is_own_index(path):
        return None
    try:
        write_text(path, index_page(root, list_runs(root)))
    except WriteError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def is_own_index(path: Path) -> bool:
    """Whether ``path`` is missing or an index.html lstmtrade wrote (its title), so it may be rewritten."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return OWN_TITLE in handle.read(4096)
    except FileNotFoundError:
        return True
    except OSError:
        return True  # a folder or an unreadable file: the write says why it fails


def index_page(root: Path, runs: list[RunSummary]) -> str:
    """The page for ``runs`` (as :func:`lstmtrade.report.runs.list_runs` gives them) under ``root``."""
    where = html.escape(str(Path(root).resolve()))
    finished = sum(r.finished for r in runs)
    intro = (f"<p>{len(runs)} folder{'s' if len(runs) != 1 else ''} in <code>{where}</code>, {finished} finished; "
             "newest first, click a column heading to sort. Sharpe ratios are annualised, after costs; the "
             "sparkline is the run's equity (blue) against its benchmark (grey) out of sample. In a terminal: "
             "<code>lstmtrade runs</code>, <code>lstmtrade runs show RUN</code>, "
             "<code>lstmtrade runs compare A B</code>. Written "
             f"{datetime.now().isoformat(sep=' ', timespec='seconds')}.</p>")
    if not runs:
        return page("lstmtrade runs", intro + "<p>No runs yet: <code>lstmtrade backtest</code> makes one.</p>")
    frame = pd.DataFrame([_row(r) for r in runs]).set_index("when")
    table = html_table(frame, lambda value, column: value)
    body = f"{EXTRA_STYLE}{intro}<div id='runs' class='wide'>{table}</div>\n{SCRIPT}"
    return page("lstmtrade runs", body, width=1600)


def _row(run: RunSummary) -> dict[str, str]:
    """One run's cells, as HTML."""
    f = run.figures
    href = quote(run.name)
    main = next((p for p in ("tearsheet.html", "sweep.html") if p in run.pages), None)
    name = html.escape(run.name)
    title = f'<a href="{href}/{quote(main)}">{name}</a>' if main else f'<a href="{href}/">{name}</a>'
    pages = " &middot; ".join(f'<a href="{href}/{quote(p)}">{html.escape(label.replace(".html", ""))}</a>'
                              for label, p in run.pages.items())
    return {
        "when": (run.when or "").replace("T", " ")[:16],
        "run": f'<span data-sort="{name}" class="name">{title}</span>'
               + (f"<br><small>{pages}</small>" if pages else ""),
        "kind": html.escape(run.kind or "?"),
        "status": _status(run),
        "data": html.escape(run.data or "n/a"),
        "strategy": html.escape(run.strategy or "n/a"),
        "Sharpe": num(f.get("sharpe")),
        "benchmark Sharpe": num(f.get("benchmark_sharpe")),
        "hit rate / Rank IC": _skill(run),
        "DSR": num(f.get("dsr")),
        "PBO": num(f.get("pbo")),
        "verdict": _verdict(run),
        "equity": _sparkline(*equity_curves(run)),
    }


def _skill(run: RunSummary) -> str:
    """A universe's mean Rank IC, else the hit rate (sorted by the number, not the label)."""
    f = run.figures
    if run.universe:
        return f'<span data-sort="{f["rank_ic"]}">Rank IC {num(f["rank_ic"], 3)}</span>'
    if f.get("hit_rate") is not None:
        return f'<span data-sort="{f["hit_rate"]}">hit {pct(f["hit_rate"])}</span>'
    return "n/a"


def _status(run: RunSummary) -> str:
    cls = "" if run.finished else ' class="pending"' if run.status == "unfinished" else ' class="fail"'
    return f"<span{cls}>{html.escape(run.status)}</span>"


def _verdict(run: RunSummary) -> str:
    """The verdict in a few words (all of it on hover); for a run that did not finish, how to resume it, and
    any note on what the folder lacks."""
    text = (f'<span title="{html.escape(run.verdict)}">{html.escape(run.headline or run.verdict)}</span>'
            if run.verdict else "")
    if run.resume:
        text += f"{'<br>' if text else ''}resume: <code>{html.escape(run.resume)}</code>"
    if run.note:
        text += f"{'<br>' if text else ''}<small>{html.escape(run.note)}</small>"
    return text or "n/a"


def _sparkline(strategy: list[float], benchmark: list[float], width: int = 110, height: int = 34) -> str:
    """Two equity curves as an inline SVG on one scale; empty when there is no curve."""
    values = [v for v in strategy + benchmark if v == v]
    if len(strategy) < 2 or not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0

    def points(series: list[float]) -> str:
        step = (width - 2) / (len(series) - 1)
        return " ".join(f"{1 + i * step:.1f},{1 + (height - 2) * (high - v) / span:.1f}"
                        for i, v in enumerate(series) if v == v)

    change = strategy[-1] / strategy[0] - 1 if strategy[0] else float("nan")
    bench = benchmark[-1] / benchmark[0] - 1 if benchmark and benchmark[0] else float("nan")
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" data-sort="{change}">'
            f"<title>equity {pct(change, sign=True)}, benchmark {pct(bench, sign=True)}</title>"
            f'<polyline fill="none" stroke="#aaa" stroke-width="1" points="{points(benchmark)}"/>'
            f'<polyline fill="none" stroke="#1f5fbf" stroke-width="1.5" points="{points(strategy)}"/></svg>')
