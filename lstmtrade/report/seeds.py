"""The seed ensemble's section of the comparison pages: the spread across members and whether the ensemble knows
when it is right."""
from __future__ import annotations

import html
from typing import Any

import pandas as pd

from ..evaluate.seeds import MEMBER_FIGURES, spread_line
from ..formatting import num
from .html import pyplot, svg


PERCENT_FIGURES = ("total_return", "max_drawdown", "hit_rate")


def figure(key: str, value: Any) -> str:
    """One figure of the seed tables, written the same way in both: returns, drawdowns and hit rates as
    percentages (-40.3 %), Sharpe and IC as numbers."""
    if value is None or value != value:
        return "n/a"
    return f"{value:.1%}" if key in PERCENT_FIGURES else num(value, 3)


def confidence_section(seeds: dict[str, Any]) -> str:
    """The comparison page's seed section: the spread across members and 'does the ensemble know when it
    is right?' (hit rate and mean return by confidence quintile, with 95 % intervals). Empty for one seed."""
    if not seeds or seeds.get("n", 1) < 2:
        return ""
    plt = pyplot()
    rows = []
    for key in MEMBER_FIGURES:
        s = seeds[key]
        rows.append(f"<tr><th>{key}</th><td>{figure(key, seeds['ensemble'].get(key))}</td>"
                    + "".join(f"<td>{figure(key, s[k])}</td>" for k in ("mean", "std", "min", "max")) + "</tr>")
    members = "".join(f"<tr><th>seed {m['seed']}</th>" + "".join(
        f"<td>{figure(k, m.get(k))}</td>" for k in MEMBER_FIGURES) + "</tr>" for m in seeds["members"])
    spread_table = ("<table><thead><tr><th></th><th>ensemble</th><th>mean of members</th><th>std</th><th>min</th>"
                    f"<th>max</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    member_table = ("<table><thead><tr><th>member</th>" + "".join(f"<th>{k}</th>" for k in MEMBER_FIGURES)
                    + f"</tr></thead><tbody>{members}</tbody></table>")
    conf = seeds.get("confidence") or {}
    table = pd.DataFrame(conf.get("quintiles") or [])
    chart, explain = "", "<p>Too few rows with a forecast and an uncertainty to form quintiles.</p>"
    if len(table):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        labels = table["quintile"].astype(str)
        axes[0].bar(labels, table["hit_rate"] * 100, yerr=196 * table["hit_rate_se"], color="#4c72b0", capsize=4)
        axes[0].axhline(50, color="#888", linewidth=0.6)
        # bars start at 0: an axis cut at 43 % would make a 2-point difference look like a doubling
        axes[0].set_ylim(0, 100)
        axes[0].set_ylabel("hit rate (%); line: 50 %")
        axes[0].set_title("Hit rate", fontsize=10)
        axes[1].bar(labels, table["mean_return"] * 1e4, yerr=1.96e4 * table["mean_return_se"], color="#55a868",
                    capsize=4)
        axes[1].axhline(0, color="#888", linewidth=0.6)
        axes[1].set_ylabel("bps per day")
        axes[1].set_title("Mean return in the forecast's direction", fontsize=10)
        for ax in axes:
            ax.set_xlabel("confidence quintile (1 = least confident)")
        fig.suptitle("Does the ensemble know when it is right? By confidence |forecast| / uncertainty (95 % CI)",
                     fontsize=11)
        fig.tight_layout()
        chart = svg(fig)
        z = conf.get("hit_rate_spread_z")
        explain = (f"<p>Most minus least confident quintile: hit rate {num((conf.get('hit_rate_spread') or 0) * 100, 1)}"
                   f" points (z = {num(z)}), mean return {num((conf.get('return_spread') or 0) * 1e4, 1)} bps "
                   f"(z = {num(conf.get('return_spread_z'))}). Confidence is the ensemble's forecast over the "
                   "members' standard deviation; a z beyond about 2 says the disagreement between seeds carries "
                   "information a strategy can size by (ConfidenceWeighted does).</p>")
    line = html.escape(spread_line(seeds) or "")
    return f"""<h2>Luck of the draw: {seeds['n']} seeds</h2>
<p>{line}. Each member is one seed's network per fold, traded alone through the same strategy and costs;
the ensemble trades the members' mean forecast. The spread is what this result could have been with another
seed.</p>
{spread_table}
{member_table}
{chart}
{explain}
"""
