"""Seed ensembles: several networks per fold, their mean as the forecast, their spread as its uncertainty.

An LSTM's backtest depends on its random seed far more than most users expect. With ``--seeds N`` every
fold trains N networks on the same rows; member ``m`` is trained with seed ``--seed + m`` (so member 0 is
the one-seed run, and member m equals a one-seed run with ``--seed S + m``, bit for bit). What comes out:

- the forecast traded is the members' mean, and ``uncertainty`` is their standard deviation (ddof 1: the
  spread another seed would show), both summed member by member in member order, so a row's values
  never depend on how many other rows there are (the look-ahead guarantee holds for the ensemble);
- each member is also traded alone through the same strategy and costs, and :func:`spread` summarises
  what those results would have been with another seed (mean, std, min, max across members);
- :func:`confidence_quintiles` answers "does the ensemble know when it is right?": hit rate and mean
  realised return by quintile of confidence ``|forecast| / uncertainty``.

Baselines (zero, persistence, linear) are deterministic: they always have one member.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .config import Config

MEMBER_FIGURES = ("sharpe", "total_return", "max_drawdown", "hit_rate", "ic")  # summarised across members


# ------------------------------------------------------------------------------------------ members
def n_members(config: Config, model: str | None = None) -> int:
    """Networks per fold: ``config.seeds`` for the LSTM, 1 for the deterministic baselines."""
    return config.seeds if (model or config.model) == "lstm" else 1


def member_seed(config: Config, member: int) -> int:
    return config.seed + member


def member_seeds(config: Config, model: str | None = None) -> list[int]:
    return [member_seed(config, m) for m in range(n_members(config, model))]


def member_config(config: Config, member: int) -> Config:
    """The one-seed config that trains member ``member``: the same settings with seed ``seed + member``."""
    if member == 0 and config.seeds == 1:
        return config
    return config.replace(seed=member_seed(config, member), seeds=1)


def combine(values: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise mean and standard deviation (ddof 1) of the members' predictions.

    Summed member by member in member order, so each row's result depends only on that row's member
    values. One member: its values and NaN.
    """
    stack = [np.asarray(v, dtype="float64") for v in values]
    total = stack[0].copy()
    for v in stack[1:]:
        total += v
    mean = total / len(stack)
    if len(stack) == 1:
        return mean, np.full_like(mean, np.nan)
    squares = np.zeros_like(mean)
    for v in stack:
        squares += (v - mean) ** 2
    return mean, np.sqrt(squares / (len(stack) - 1))


@dataclass
class FittedEnsemble:
    """One fold's members (each a :class:`~lstmtrade.forecasters.FittedFold`) trained on the same rows.

    The members share their scalers and label standardisation (fit on the rows, not on the seed); they
    differ only in their networks. ``predict`` is the members' mean, as traded.
    """

    members: list  # FittedFold, member order
    seeds: list[int]

    def __post_init__(self) -> None:
        first = self.members[0]
        for other in self.members[1:]:  # the scalers depend on the rows alone: the same for every member
            assert other.y_mean == first.y_mean and other.y_std == first.y_std and other.lookback == first.lookback

    # what a FittedFold offers, read from member 0 (the same for every member, except the net)
    scaler = property(lambda self: self.members[0].scaler)
    scalers = property(lambda self: self.members[0].scalers)
    y_mean = property(lambda self: self.members[0].y_mean)
    y_std = property(lambda self: self.members[0].y_std)
    lookback = property(lambda self: self.members[0].lookback)
    history = property(lambda self: self.members[0].history)

    def predict_members(self, features: np.ndarray, rows: Any, ticker: str | None = None) -> np.ndarray:
        """(members, rows): each member's predicted returns."""
        return np.stack([m.predict(features, rows, ticker) for m in self.members])

    def predict_with_uncertainty(self, features: np.ndarray, rows: Any,
                                 ticker: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        return combine(list(self.predict_members(features, rows, ticker)))

    def predict(self, features: np.ndarray, rows: Any, ticker: str | None = None) -> np.ndarray:
        return self.predict_with_uncertainty(features, rows, ticker)[0]


# ------------------------------------------------------------------------------------------- spread
def _finite(values: Sequence[Any]) -> np.ndarray:
    out = np.array([v for v in values if v is not None], dtype="float64")
    return out[np.isfinite(out)]


def summarise(values: Sequence[Any]) -> dict[str, float | None]:
    """mean, std (ddof 1; None for fewer than two), min and max of the finite values."""
    v = _finite(values)
    if not len(v):
        return {"mean": None, "std": None, "min": None, "max": None}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None,
            "min": float(v.min()), "max": float(v.max())}


def spread(members: list[dict[str, Any]], ensemble: dict[str, Any]) -> dict[str, Any]:
    """metrics.json's ``seeds``: ``n``, ``members`` (seed and figures each), each figure's mean, std, min
    and max across members (``seeds["sharpe"]["std"]``), and the ensemble's own figures."""
    out: dict[str, Any] = {"n": len(members), "members": members}
    for key in MEMBER_FIGURES:
        out[key] = summarise([m.get(key) for m in members])
    out["ensemble"] = {key: ensemble.get(key) for key in MEMBER_FIGURES}
    return out


def _num(x: Any, digits: int = 2) -> str:
    return "n/a" if x is None or x != x else f"{x:.{digits}f}"


def spread_line(seeds: dict[str, Any]) -> str | None:
    """'Sharpe over 5 seeds: 0.21 ± 0.18, from -0.05 to 0.44; ensemble 0.27' (None for one seed)."""
    if not seeds or seeds.get("n", 1) < 2:
        return None
    s = seeds["sharpe"]
    return (f"Sharpe over {seeds['n']} seeds: {_num(s['mean'])} ± {_num(s['std'])}, from {_num(s['min'])} "
            f"to {_num(s['max'])}; ensemble {_num(seeds['ensemble']['sharpe'])}")


# --------------------------------------------------------------------------------------- confidence
def confidence_quintiles(prediction: Any, uncertainty: Any, target: Any, bins: int = 5) -> pd.DataFrame:
    """Hit rate and mean realised return by quantile of confidence ``|prediction| / uncertainty``.

    Rows ``1`` (least confident) to ``bins`` (most), equal counts (ties broken by position). Counted as
    the hit rate is everywhere: rows where any value is NaN, the prediction or the target is zero, or the
    uncertainty is not positive are left out. Columns: ``n``, ``confidence_low``/``confidence_high`` (the
    bin's range), ``hit_rate`` and ``hit_rate_se`` (binomial), ``mean_return`` (mean of sign(prediction) x
    target: what a unit position in the forecast's direction earned) and ``mean_return_se``. Standard
    errors treat rows as independent (for a universe, same-day rows are not quite).
    """
    p, u, y = (np.asarray(a, dtype="float64") for a in (prediction, uncertainty, target))
    ok = np.isfinite(p) & np.isfinite(u) & np.isfinite(y) & (u > 0) & (p != 0) & (y != 0)
    p, u, y = p[ok], u[ok], y[ok]
    columns = ["n", "confidence_low", "confidence_high", "hit_rate", "hit_rate_se", "mean_return", "mean_return_se"]
    if len(p) < bins:
        return pd.DataFrame(columns=columns, index=pd.RangeIndex(1, 1, name="quintile"), dtype="float64")
    confidence = np.abs(p) / u
    order = np.argsort(confidence, kind="stable")
    rows = {}
    for k, part in enumerate(np.array_split(order, bins), start=1):
        hit = np.sign(p[part]) == np.sign(y[part])
        earned = np.sign(p[part]) * y[part]
        n = len(part)
        rate = float(hit.mean())
        rows[k] = {"n": n, "confidence_low": float(confidence[part].min()),
                   "confidence_high": float(confidence[part].max()), "hit_rate": rate,
                   "hit_rate_se": math.sqrt(rate * (1 - rate) / n), "mean_return": float(earned.mean()),
                   "mean_return_se": float(earned.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table.index.name = "quintile"
    return table


def confidence_summary(table: pd.DataFrame) -> dict[str, Any]:
    """Most minus least confident quintile: hit rate and mean return differences, their z-scores, the table."""
    if len(table) < 2:
        return {"quintiles": [], "hit_rate_spread": None, "hit_rate_spread_z": None,
                "return_spread": None, "return_spread_z": None}
    top, bottom = table.iloc[-1], table.iloc[0]

    def diff(col: str) -> tuple[float, float | None]:
        d = float(top[col] - bottom[col])
        se = math.hypot(top[f"{col}_se"], bottom[f"{col}_se"])
        return d, (d / se if se > 0 and math.isfinite(se) else None)

    hit, hit_z = diff("hit_rate")
    ret, ret_z = diff("mean_return")
    return {"quintiles": table.reset_index().to_dict(orient="records"), "hit_rate_spread": hit,
            "hit_rate_spread_z": hit_z, "return_spread": ret, "return_spread_z": ret_z}


# ---------------------------------------------------------------------------------- comparison pages
def confidence_section(seeds: dict[str, Any]) -> str:
    """The comparison page's seed section: the spread across members and 'does the ensemble know when it
    is right?' (hit rate and mean return by confidence quintile, with 95 % intervals). Empty for one seed."""
    import html

    if not seeds or seeds.get("n", 1) < 2:
        return ""
    import matplotlib

    from .report import _svg

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    rows = []
    for key in MEMBER_FIGURES:
        s = seeds[key]
        percent = key in ("total_return", "max_drawdown", "hit_rate")
        f = (lambda v: "n/a" if v is None else f"{v:.1%}") if percent else (lambda v: _num(v, 3))
        rows.append(f"<tr><th>{key}</th><td>{f(seeds['ensemble'].get(key))}</td><td>{f(s['mean'])}</td>"
                    f"<td>{f(s['std'])}</td><td>{f(s['min'])}</td><td>{f(s['max'])}</td></tr>")
    members = "".join(f"<tr><th>seed {m['seed']}</th>" + "".join(
        f"<td>{_num(m.get(k), 3)}</td>" for k in MEMBER_FIGURES) + "</tr>" for m in seeds["members"])
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
        lo = float((table["hit_rate"] - 2 * table["hit_rate_se"]).min()) * 100
        axes[0].set_ylim(min(45.0, lo - 1), None)
        axes[0].set_ylabel("hit rate (%)")
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
        chart = _svg(fig)
        z = conf.get("hit_rate_spread_z")
        explain = (f"<p>Most minus least confident quintile: hit rate {_num((conf.get('hit_rate_spread') or 0) * 100, 1)}"
                   f" points (z = {_num(z)}), mean return {_num((conf.get('return_spread') or 0) * 1e4, 1)} bps "
                   f"(z = {_num(conf.get('return_spread_z'))}). Confidence is the ensemble's forecast over the "
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


__all__ = ["FittedEnsemble", "MEMBER_FIGURES", "combine", "confidence_quintiles", "confidence_section",
           "confidence_summary", "member_config", "member_seed", "member_seeds", "n_members", "spread",
           "spread_line", "summarise"]
