"""Does the paper record still look like the backtest? The backtest run to compare with, its expectation for the
same number of days, the live skill with its interval, and the alarms.

- **The band**: the 5th, 50th and 95th percentiles of the backtest's cumulative return over 1..N days, from a
  stationary block bootstrap of its daily strategy returns (``arch.bootstrap.StationaryBootstrap``, mean block
  ``block_size`` days, so runs of good and bad days keep their autocorrelation). The live record's cumulative
  return after N credited entries is compared with the band at N.
- **Skill**: a universe's daily Rank IC (mean, and a t interval over the live days) against the backtest's mean
  Rank IC (interval from its Newey-West t-statistic); one ticker's hit rate (Wilson interval) against the
  backtest's.
- **Alarms**: the live cumulative return outside the 5-95 % band; the model more bars past its training end
  than the backtest's retrain interval; inputs unlike training (the share of today's scaled feature values
  outside the training 1st-99th percentiles more than twice the share the model's validation rows had, a rule
  of thumb: values of one day move together, so no test's p-value would be honest); journal days missing
  (data dates between the first and last entry without one); entries back-filled (written, UTC, on a later
  calendar date than their first fill: not a forward record); entries made with another model file (sha256)
  or rule (strategy, params) than the first (each is credited with its own weights and min_trade, but the
  costs and the backtest compared with are the last entry's model's).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import Config, load_toml, make_config
from ..errors import ConfigError, DataError
from ..formatting import pct, stamp

# settings that do not change what a backtest's model or rule is: how and where it ran
RUN_ONLY = ("start", "end", "cache", "jobs", "threads", "engine", "device", "baselines", "save_models", "strategy",
            "params")
INPUTS_ALARM = 2.0  # live share of inputs outside the training range, as a multiple of the usual share


def find_backtest(loaded: Any, runs: Path, strategy: str | None = None, params: dict | None = None) -> Path | None:
    """The latest finished run folder under ``runs`` whose settings are the model's (data, features, network,
    training, walk-forward, costs), and, when given, whose rule and params are these."""
    if not runs.is_dir():
        return None
    for folder in sorted((p for p in runs.iterdir() if p.is_dir()), reverse=True):
        if not all((folder / name).exists() for name in ("metrics.json", "config.toml", "returns.csv")):
            continue
        config = _run_config(folder)
        if config is None or settings_differ(loaded, config):
            continue
        if strategy is not None and (config.strategy != strategy or dict(config.params) != dict(params or {})):
            continue
        return folder
    return None


def _run_config(folder: Path) -> Config | None:
    try:
        return make_config(**load_toml(folder / "config.toml"))
    except ConfigError:
        return None


def settings_differ(loaded: Any, config: Config) -> list[str]:
    """The settings (not RUN_ONLY ones) in which a run's ``config`` differs from the model's."""
    want, have = loaded.config.to_dict(), config.to_dict()
    return sorted(k for k in want if k not in RUN_ONLY and want[k] != have.get(k))


def given_backtest_note(loaded: Any, run: Path) -> str | None:
    """A note when ``--backtest RUN`` was not run with the model's settings: its band is not this model's."""
    config = _run_config(run) if (run / "config.toml").exists() else None
    if loaded is None or config is None:
        return None
    differ = settings_differ(loaded, config)
    if not differ:
        return None
    shown = ", ".join(differ[:5]) + (", ..." if len(differ) > 5 else "")
    return (f"--backtest {run} was run with other settings than the model ({shown}): its band and skill are "
            "that run's, not this model's")


def backtest_expectation(run: Path, days: int, skill: str, reps: int = 1000, block_size: int = 10,
                         seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The band over 1..``days`` days from the run's daily returns, and the run's skill with its interval."""
    from arch.bootstrap import StationaryBootstrap

    try:
        returns = pd.read_csv(run / "returns.csv")["strategy"].to_numpy(dtype="float64")
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"--backtest {run}: not a finished run folder ({exc})") from None
    returns = returns[np.isfinite(returns)][1:]  # the first day is 0 by construction
    if len(returns) < 2 * block_size:
        raise DataError(f"--backtest {run}: {len(returns)} daily returns, too few for a block bootstrap")
    days = max(1, days)
    boot = StationaryBootstrap(block_size, returns, seed=seed)
    need = math.ceil(days / len(returns))
    paths = []
    draws = boot.bootstrap(reps * need)
    for _ in range(reps):
        path = np.concatenate([next(draws)[0][0] for _ in range(need)])[:days]
        paths.append(np.cumprod(1.0 + path) - 1.0)
    cumulative = np.array(paths)
    band = pd.DataFrame({"days": np.arange(1, days + 1), "p05": np.percentile(cumulative, 5, axis=0),
                         "p50": np.percentile(cumulative, 50, axis=0), "p95": np.percentile(cumulative, 95, axis=0)})
    forecast = metrics.get("forecast", {})
    info = {"run": str(run), "days": int(len(returns)), "block_size": block_size, "reps": reps}
    if skill == "rank_ic":
        mean, t = forecast.get("rank_ic"), forecast.get("rank_ic_tstat")
        half = 1.96 * abs(mean / t) if mean is not None and t not in (None, 0) else None
        info.update(mean=mean, low=None if half is None else mean - half, high=None if half is None else mean + half,
                    basis="mean daily Rank IC, 95 % interval from its Newey-West t")
    else:
        rate, n = forecast.get("hit_rate"), forecast.get("n")
        low, high = wilson(rate * n, n) if rate is not None and n else (None, None)
        info.update(mean=rate, low=low, high=high, basis="hit rate, 95 % Wilson interval")
    return band, info


def wilson(hits: float, n: int, z: float = 1.96) -> tuple[float, float]:
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def live_skill(values: pd.Series, skill: str) -> dict[str, Any]:
    """The live mean Rank IC (t interval) or hit rate (Wilson interval) over the credited days."""
    n = len(values)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "days": 0}
    mean = float(values.mean())
    if skill == "hit":
        low, high = wilson(float(values.sum()), n)
        return {"mean": mean, "low": low, "high": high, "days": n, "basis": "hit rate, 95 % Wilson interval"}
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "days": n}
    from scipy import stats

    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "low": mean - half, "high": mean + half, "days": n,
            "basis": "mean daily Rank IC, 95 % t interval"}


def alarms(result: Any, loaded: Any, prices: Any) -> list[dict[str, str]]:
    """The paper record's alarms (module docstring), each ``{"kind", "message"}``."""
    out = []
    done = result.credited
    if result.band is not None and len(done):
        n = min(len(done), len(result.band))
        row = result.band.iloc[n - 1]
        cumulative = float(np.prod(1 + done["return"].to_numpy()) - 1)
        if not row["p05"] <= cumulative <= row["p95"]:
            side = "below" if cumulative < row["p05"] else "above"
            out.append({"kind": "outside_band", "message": f"live cumulative return {pct(cumulative, 2)} after {n} "
                        f"day(s) is {side} the backtest's 5-95 % band ({pct(row['p05'], 2)} .. {pct(row['p95'], 2)})"})
    calendar = prices.calendar if hasattr(prices, "calendar") else prices.frame.index
    last = pd.Timestamp(result.entries[-1]["date"])
    if loaded is not None:
        past = int(((calendar > loaded.train_end) & (calendar <= last)).sum())
        every = loaded.config.retrain_every
        if past > every:
            out.append({"kind": "model_age", "message": f"the model is {past} bars past its training end "
                        f"({stamp(loaded.train_end)}); the backtest retrains every {every}: retrain it"})
        usual = (loaded.metadata.get("inputs") or {}).get("usual_outside")
        outside = sum(e.get("inputs", {}).get("outside", 0) for e in result.entries)
        values = sum(e.get("inputs", {}).get("values", 0) for e in result.entries)
        if usual and values and outside / values > INPUTS_ALARM * usual:
            out.append({"kind": "inputs_unlike_training", "message": f"{pct(outside / values, 1)} of the live "
                        f"inputs lie outside the training 1st-99th percentiles, against {pct(usual, 1)} in the "
                        "model's validation rows"})
    dates = pd.DatetimeIndex([pd.Timestamp(e["date"]) for e in result.entries])
    expected = calendar[(calendar >= dates[0]) & (calendar <= last)]
    missing = expected.difference(dates)
    if len(missing):
        out.append({"kind": "missing_days", "message": f"{len(missing)} data date(s) between the first and last "
                    f"entry have no journal entry (first {stamp(missing[0])}): the portfolio was kept as it was"})
    return out + _back_filled(result) + _settings_changed(result.entries)


def _back_filled(result: Any) -> list[dict[str, str]]:
    """Entries written after the open they are credited from: a record made afterwards, not a forward one."""
    table = getattr(result, "table", None)
    if table is None or "forward" not in table:
        return []
    late = [k for k, forward in enumerate(table["forward"]) if forward is False or forward is np.False_]
    if not late:
        return []
    first = result.entries[late[0]]
    return [{"kind": "back_filled", "message": f"{len(late)} entr{'y' if len(late) == 1 else 'ies'} written after "
             f"their first fill, the next session's open (first: entry {late[0] + 1}, {first['date']}, written "
             f"{first.get('written_at')}): back-filled, not a forward record"}]


def _settings_changed(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The first entry made with another model file or rule than the first entry."""
    first = entries[0]
    for n, entry in enumerate(entries[1:], start=2):
        changed = [what for what, key in (("model file (sha256)", lambda e: (e.get("model") or {}).get("sha256")),
                                          ("rule", lambda e: (e.get("strategy"), e.get("params"))))
                   if key(entry) != key(first)]
        if changed:
            return [{"kind": "settings_changed", "message": f"entry {n} ({entry['date']}) was made with another "
                     f"{' and '.join(changed)} than entry 1 ({first['date']}): each entry is credited with its own "
                     "weights and min_trade, but the costs and the backtest compared with are the last entry's"}]
    return []


__all__ = ["find_backtest", "settings_differ", "given_backtest_note", "backtest_expectation", "live_skill", "alarms", "wilson", "RUN_ONLY"]
