"""What the comparison, universe, sweep and seeds pages say in text: dates kept whole, text columns left-aligned,
the survivorship caveat once, the counts related, one colour scale for the sweep's heatmaps, a fitted line
written with its sign, one format across the seed tables, and hit-rate bars from zero."""
import re

import numpy as np
import pandas as pd

from lstmtrade.evaluate.seeds import MEMBER_FIGURES
from lstmtrade.report import seeds as seeds_page
from lstmtrade.report import sweep as sweep_page
from lstmtrade.report.html import html_table, page
from lstmtrade.report.universe import verdict_alone


def test_title_dates_do_not_break_and_text_columns_read_left():
    html = page("SP500 universe, 2016-03-10 to 2018-02-07 13:00", "")
    assert '<span class="nowrap">2016-03-10</span>' in html and '<span class="nowrap">2018-02-07 13:00</span>' in html
    frame = pd.DataFrame({"status": ["repaired", "excluded"], "issue": ["dropped 1 row", "x" * 60], "rows": [3, 4]},
                         index=pd.Index(["ABC", "XYZ"], name="ticker"))
    table = html_table(frame)
    assert '<th style="text-align:left">status</th>' in table and "<th>rows</th>" in table
    assert '<span class="text">repaired</span>' in table and '<span class="long">' + "x" * 60 in table


def test_survivorship_caveat_is_taken_out_of_the_verdict_once():
    caveat = "sample:SP500 holds members chosen after the fact (survivorship bias)"
    metrics = {"verdict": f"No evidence of skill; Sharpe 0.44. {caveat}.", "universe": {"survivorship": caveat}}
    alone = verdict_alone(metrics)
    assert caveat not in alone and alone == "No evidence of skill; Sharpe 0.44."
    assert verdict_alone({"verdict": "v.", "universe": {}}) == "v."


def test_fit_label_writes_the_sign_once():
    assert "+ -" not in sweep_page.fit_label(0.11, -0.75)
    assert sweep_page.fit_label(0.11, -0.75) == "OOS = 0.11 − 0.75 × IS"
    assert sweep_page.fit_label(-0.2, 0.5) == "OOS = −0.20 + 0.50 × IS"


def test_sweep_heatmaps_share_one_scale_centred_on_zero(monkeypatch):
    drawn = []
    monkeypatch.setattr(sweep_page, "svg", lambda fig: drawn.append(fig) or "")
    rng = np.random.default_rng(0)
    grid = {"lookback": [10, 20], "hidden": [8, 16], "threshold": [0.0, 0.001]}
    rows = [dict(lookback=a, hidden=b, threshold=c, sharpe=float(rng.normal(0, 0.3 + 0.5 * c * 1000)))
            for a in grid["lookback"] for b in grid["hidden"] for c in grid["threshold"]]
    table = pd.DataFrame(rows)
    sweep_page.sensitivity(table, grid)
    assert len(drawn) == 3
    limits = {fig.axes[0].images[0].get_clim() for fig in drawn}
    assert len(limits) == 1
    low, high = limits.pop()
    pair_means = [table.groupby([a, b])["sharpe"].mean().abs().max()
                  for a, b in (("lookback", "hidden"), ("lookback", "threshold"), ("hidden", "threshold"))]
    assert low == -high and high == max(pair_means)  # the largest |cell| of any of the three, for all three


def _seeds() -> dict:
    members = [{"seed": s, "sharpe": 0.1 * s, "total_return": -0.514 + 0.1 * (s - 7), "max_drawdown": -0.3,
                "hit_rate": 0.51, "ic": 0.01} for s in (7, 8, 9)]
    summary = {k: {"mean": float(np.mean([m[k] for m in members])), "std": 0.1,
                   "min": min(m[k] for m in members), "max": max(m[k] for m in members)} for k in MEMBER_FIGURES}
    quintiles = [{"quintile": q, "hit_rate": 0.43 + 0.01 * q, "hit_rate_se": 0.01, "mean_return": 1e-4,
                  "mean_return_se": 1e-4} for q in range(1, 6)]
    return {"n": 3, "members": members, "ensemble": dict(members[0]), "confidence": {"quintiles": quintiles},
            **summary}


def test_seed_tables_write_each_figure_one_way(monkeypatch):
    drawn = []
    monkeypatch.setattr(seeds_page, "svg", lambda fig: drawn.append(fig) or "")
    html = seeds_page.confidence_section(_seeds())
    assert "-51.4%" in html and "-0.514" not in html  # seed 7 would be -0.514 as a plain number
    cells = re.findall(r"<td>([^<]*)</td>", html)
    assert cells and all(c.endswith("%") or re.fullmatch(r"-?\d+\.\d{3}", c) for c in cells)
    (fig,) = drawn
    assert fig.axes[0].get_ylim()[0] == 0  # hit-rate bars start at zero, not just under the lowest bar


def test_universe_counts_are_related_in_one_sentence():
    from types import SimpleNamespace

    from lstmtrade.report.universe import counts_note

    universe = {"tickers": 6, "used": ["A", "B", "C"], "repaired": {"D": "dropped 1 row"},
                "excluded": {"E": "level shift: excluded from that date", "F": "level shift"}, "traded": 5}
    result = SimpleNamespace(metrics={"universe": universe},
                             predictions=SimpleNamespace(tickers=["A", "B", "C", "D", "E"]))
    text = counts_note(result)
    assert text.startswith("The data hold 6 tickers: 3 passed the screen as they were, 1 after rows were dropped")
    assert "2 were excluded from a date on" in text and "5 tickers have bars in the test period" in text
    assert "including 1 excluded ticker up to its exclusion date (E)" in text
