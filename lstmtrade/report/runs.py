"""Past runs read back from their folders: what each one is, whether it finished, and its headline figures.

Every run writes a folder under ``reports/`` (or ``--out``); this module is how ``lstmtrade runs``, ``index.html``
and the MLflow logger find them again. It reads only what the folders hold (metrics.json, config.toml, a
sweep's plan.json and sweep.json, positions.csv for the equity curve), so it works on runs made before it
existed, and it never raises on what it finds: a folder that is not a run, a half-written run or a damaged
file is listed with a status and a note instead.

>>> from lstmtrade.report.runs import list_runs
>>> [(r.name, r.kind, r.status, r.figures["sharpe"]) for r in list_runs("reports")]   # doctest: +SKIP

Standard library only (no pandas), so listing a folder of runs is quick.
"""
from __future__ import annotations

import csv
import difflib
import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError
from ..evaluate.verdict import ALPHA

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

INDEX = "index.html"
# Figures of one backtest, in the order `runs show` and `runs compare` print them: key -> label.
RUN_FIGURES = {
    "sharpe": "Sharpe", "benchmark_sharpe": "benchmark Sharpe", "total_return": "total return",
    "benchmark_total_return": "benchmark total return", "cagr": "CAGR", "max_drawdown": "max drawdown",
    "volatility": "volatility", "trades": "trades", "exposure": "average exposure", "hit_rate": "hit rate",
    "up_share": "up-day share", "ic": "IC", "rank_ic": "mean Rank IC", "rank_ic_pvalue": "Rank IC p-value",
    "mse_ratio": "MSE / zero-forecast MSE", "dm_pvalue": "Diebold-Mariano p",
    "vs_benchmark_pvalue": "p, Sharpe above benchmark's", "psr": "PSR", "dsr": "DSR", "trials": "trials counted",
    "break_even_bps": "break-even extra cost (bps)",
    "break_even_vs_benchmark_bps": "break-even extra cost vs benchmark (bps)", "days": "out-of-sample bars",
    "folds": "folds", "start": "first out-of-sample bar", "end": "last out-of-sample bar",
}
# A sweep's: its best trial's figures, then the statistics of selection.
SWEEP_FIGURES = {
    "best_trial": "best trial", "sharpe": "best Sharpe", "benchmark_sharpe": "benchmark Sharpe",
    "total_return": "best total return", "max_drawdown": "best max drawdown", "hit_rate": "best hit rate",
    "ic": "best IC", "rank_ic": "best mean Rank IC", "dsr": "best DSR", "pbo": "PBO",
    "spa_pvalue_vs_zero": "SPA p vs zero forecast", "spa_pvalue_vs_benchmark": "SPA p vs benchmark",
    "mcs": "trials in the Model Confidence Set", "n_trials": "trials in the sweep",
    "finished_trials": "trials finished", "trials": "trials counted",
    "start": "first common bar", "end": "last common bar",
}
PERCENT = {"total_return", "benchmark_total_return", "cagr", "max_drawdown", "volatility", "exposure", "hit_rate",
           "up_share"}


@dataclass
class RunSummary:
    """One folder under the runs root, as ``lstmtrade runs`` lists it.

    ``status``: finished, unfinished (``resume`` is the command that finishes it, where there is one),
    damaged (a file that cannot be read; ``note`` says which) or "not a run". ``figures`` hold the numbers
    exactly as metrics.json (or sweep.json) holds them; a figure the folder does not have is None."""

    path: Path
    name: str
    kind: str | None = None
    status: str = "not a run"
    when: str | None = None  # when the run started, ISO 8601 to the second
    data: str | None = None
    strategy: str | None = None
    model: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    verdict: str | None = None
    headline: str | None = None  # the verdict in a few words
    resume: str | None = None
    note: str | None = None
    pages: dict[str, str] = field(default_factory=dict)  # label -> path relative to the run folder
    settings: dict[str, Any] = field(default_factory=dict)  # flat: config keys, params.NAME, grid.NAME

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def universe(self) -> bool:
        return self.figures.get("rank_ic") is not None

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "kind": self.kind, "status": self.status,
                "when": self.when, "data": self.data, "strategy": self.strategy, "model": self.model,
                "figures": self.figures, "verdict": self.verdict, "headline": self.headline,
                "resume": self.resume, "note": self.note, "pages": self.pages, "settings": self.settings}


# ------------------------------------------------------------------------------------------- finding runs
def list_runs(root: str | Path = "reports") -> list[RunSummary]:
    """Every folder directly under ``root``, newest first (hidden folders such as ``.cache`` are skipped)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} is a file, not a folder of runs")
    if not root.exists():
        return []
    runs = [read_run(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(runs, key=lambda r: (r.when or "", r.name), reverse=True)


def find_run(name: str | Path, root: str | Path = "reports") -> Path:
    """The folder of the run named ``name``: a path, or a folder name under ``root``."""
    if not str(name).strip():
        raise ConfigError("give a run: its folder, or its name as `lstmtrade runs` lists it")
    path = Path(name)
    if path.is_dir():
        return path
    under = Path(root) / name
    if under.is_dir():
        return under
    names = sorted(p.name for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
    close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else f"; `lstmtrade runs --out {root}` lists them"
    raise ConfigError(f"no run {name} (neither a folder nor a run under {root}/){hint}")


def read_named_runs(names: Iterable[str | Path], root: str | Path) -> list[RunSummary]:
    """The runs ``runs show`` and ``runs compare`` were given; a folder that is not a run, or a run named twice,
    is refused."""
    found = [read_run(find_run(name, root)) for name in names]
    for run in found:
        if run.status == "not a run":
            raise ConfigError(f"{run.path}: not a run folder (no metrics.json, config.toml or plan.json)")
    if len({run.path for run in found}) < len(found):
        raise ConfigError("a run is named twice: give different runs to compare")
    return found


def read_run(folder: str | Path) -> RunSummary:
    """What ``folder`` holds; never raises on its contents (a damaged run says so in ``status`` and ``note``)."""
    folder = Path(folder).resolve()
    run = RunSummary(path=folder, name=folder.name, when=_stamp_in_name(folder.name))
    try:
        if (folder / "plan.json").exists() or (folder / "sweep.json").exists():
            _read_sweep(folder, run)
        elif (folder / "metrics.json").exists() or (folder / "config.toml").exists():
            _read_backtest(folder, run)
        else:
            run.note = "no metrics.json, config.toml or plan.json: not a folder lstmtrade wrote"
    except Unreadable as exc:
        run.status, run.note = "damaged", str(exc)
    except Exception as exc:  # noqa: BLE001 - a listing must list every folder, whatever is in it
        run.status, run.note = "damaged", f"could not be read ({type(exc).__name__}: {exc})"
    if run.when is None:
        run.when = datetime.fromtimestamp(folder.stat().st_mtime).isoformat(timespec="seconds")
    return run


def _stamp_in_name(name: str) -> str | None:
    """The start time new_run_dir put in the folder's name (``20240102-153000-MSFT-lstm``, ``sweep-2024...``)."""
    match = re.search(r"(\d{8}-\d{6})", name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").isoformat(timespec="seconds")
    except ValueError:
        return None


class Unreadable(ValueError):
    """A file of the run that cannot be read; its message is the note the listing shows."""


def _json(path: Path) -> dict:
    """A JSON object from ``path``; Unreadable (naming the file) when it is not one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Unreadable(f"{path.name} is not valid JSON ({exc}): cut short or edited by hand") from None
    if not isinstance(value, dict):
        raise Unreadable(f"{path.name} does not hold a JSON object")
    return value


def _toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


# ------------------------------------------------------------------------------------------- backtests
def _read_backtest(folder: Path, run: RunSummary) -> None:
    config = _toml(folder / "config.toml")
    run.kind = "re-backtest" if folder.name.endswith("-rebacktest") else "backtest"
    run.settings = flat_settings(config)
    run.model, run.strategy = config.get("model"), config.get("strategy")
    run.data = _data_name(config.get("data")) if config else None  # a config without data: the bundled MSFT
    if not (folder / "metrics.json").exists():
        run.status = "unfinished"
        if run.kind == "re-backtest":
            run.note = "a re-backtest does not resume: run it again (it takes seconds)"
        else:
            run.resume = f"lstmtrade backtest --resume {shlex.quote(str(folder))}"
            run.note = f"last written {_last_written(folder)}; if no run is still writing it, resume it"
        return
    m = _json(folder / "metrics.json")
    if "sweep" in m:
        run.kind = "sweep trial"
    elif "predictions_from" in (m.get("run") or {}):
        run.kind = "re-backtest"
    run.status = "finished"
    run.figures = run_figures(m)
    backtest, data = m.get("backtest") or {}, m.get("data") or {}
    run.strategy = backtest.get("strategy") or run.strategy
    run.model = (m.get("config") or {}).get("model", run.model)
    run.data = data.get("name") or run.data
    run.when = run.when or (m.get("run") or {}).get("created")
    resolved = backtest.get("params") if isinstance(backtest.get("params"), dict) else None
    # every setting, those left unset (None) too: config.toml comments them out, metrics.json keeps them
    saved = m.get("config") if isinstance(m.get("config"), dict) else {}
    run.settings = flat_settings({**saved, **config}, params=resolved)
    if data.get("source"):
        run.settings["data"] = data["source"]  # sample:MSFT, not "none", for the bundled default
    run.verdict = m.get("verdict")
    run.headline = run_headline(m)
    run.pages = _pages(folder, ("tearsheet.html", "comparison.html", "metrics.json"))
    if run.figures.get("sharpe") is None or run.verdict is None:
        run.note = "metrics.json lacks some figures (written by an older lstmtrade?): they show as n/a"


def _data_name(source: Any) -> str:
    """``MSFT`` for sample:MSFT, for no data (the bundled sample) or a path ending MSFT.csv (the name a
    finished run's metrics.json records)."""
    text = "sample:MSFT" if source is None else str(source)
    return text.split(":", 1)[1] if text.startswith("sample:") else Path(text).name.split(".")[0]


def _last_written(folder: Path) -> str:
    times = [p.stat().st_mtime for p in [folder, *folder.glob("*"), *folder.glob("folds/*")] if p.exists()]
    return datetime.fromtimestamp(max(times)).isoformat(sep=" ", timespec="minutes")


def run_figures(m: dict) -> dict[str, Any]:
    """The figures of one finished run, exactly as its metrics.json holds them (None where it has none)."""
    s, b, f = m.get("strategy") or {}, m.get("benchmark") or {}, m.get("forecast") or {}
    sig, bt, costs = m.get("significance") or {}, m.get("backtest") or {}, m.get("costs") or {}
    return {"sharpe": s.get("sharpe"), "benchmark_sharpe": b.get("sharpe"), "total_return": s.get("total_return"),
            "benchmark_total_return": b.get("total_return"), "cagr": s.get("cagr"),
            "max_drawdown": s.get("max_drawdown"), "volatility": s.get("volatility"), "trades": s.get("trades"),
            "exposure": s.get("exposure"), "hit_rate": f.get("hit_rate"), "up_share": f.get("up_share"),
            "ic": f.get("ic"), "rank_ic": f.get("rank_ic"), "rank_ic_pvalue": f.get("rank_ic_pvalue"),
            "mse_ratio": f.get("mse_ratio"), "dm_pvalue": f.get("dm_pvalue"),
            "vs_benchmark_pvalue": (sig.get("vs_benchmark") or {}).get("pvalue"), "psr": sig.get("psr"),
            "dsr": sig.get("dsr"), "trials": sig.get("trials"), "break_even_bps": costs.get("break_even_bps"),
            "break_even_vs_benchmark_bps": costs.get("break_even_vs_benchmark_bps"),
            "days": bt.get("days"), "folds": bt.get("folds"), "start": bt.get("start"), "end": bt.get("end")}


def run_headline(m: dict) -> str | None:
    """A run's verdict in a few words: ``no skill; did not beat B&H``, ``skill; beat B&H, not significantly``
    (``the benchmark`` in place of ``B&H`` when the run gave ``--benchmark``).

    As the verdict says it: "significantly" only when the test of the Sharpe-ratio difference rejects at the
    verdict's level (``significance.vs_benchmark``); a run from before that test says "beat B&H" alone."""
    verdict = m.get("verdict")
    if not isinstance(verdict, str):
        return None
    skill = "no skill" if verdict.startswith("No evidence") else "skill" if verdict.startswith("Evidence") else None
    sharpe, bench = (m.get("strategy") or {}).get("sharpe"), (m.get("benchmark") or {}).get("sharpe")
    test = (m.get("significance") or {}).get("vs_benchmark")
    versus = "the benchmark" if (m.get("config") or {}).get("benchmark") else "B&H"  # --benchmark: not B&H
    if sharpe is None or bench is None:
        trade = "no Sharpe comparison"
    elif sharpe <= bench:
        trade = f"did not beat {versus}"
    elif not isinstance(test, dict) or test.get("pvalue") is None:
        trade = f"beat {versus}"
    else:
        trade = f"beat {versus}, " + ("significantly" if test["pvalue"] < ALPHA else "not significantly")
    return f"{skill}; {trade}" if skill else trade


# ------------------------------------------------------------------------------------------- sweeps
def _read_sweep(folder: Path, run: RunSummary) -> None:
    run.kind = "sweep"
    plan = _json(folder / "plan.json") if (folder / "plan.json").exists() else {}
    trials = plan.get("trials") or []
    done = sum((folder / "trials" / t.get("id", "") / "metrics.json").exists() for t in trials)
    config = plan.get("config") or {}
    run.settings = flat_settings(config, plan.get("grid") or {})
    if (plan.get("data") or {}).get("source"):
        run.settings["data"] = plan["data"]["source"]
    run.strategy, run.model = config.get("strategy"), config.get("model")
    run.data = (plan.get("data") or {}).get("name") or (_data_name(config.get("data")) if config else None)
    run.when = run.when or plan.get("created")
    run.figures = {"n_trials": len(trials) or None, "finished_trials": done}
    if not (folder / "sweep.json").exists():
        run.status = "unfinished"
        run.resume = f"lstmtrade sweep --resume {shlex.quote(str(folder))}"
        run.note = (f"{done} of {len(trials)} trials finished, last written {_last_written(folder)}; "
                    "if no sweep is still writing it, resume it")
        return
    summary = _json(folder / "sweep.json")
    best = summary.get("best") or {}
    best_dir = folder / "trials" / str(best.get("id"))
    trial = _json(best_dir / "metrics.json") if (best_dir / "metrics.json").exists() else {}
    figures = run_figures(trial)
    run.status = "finished"
    run.figures = {"best_trial": best.get("id"), **{k: (best.get("metrics") or {}).get(k, figures.get(k))
                                                     for k in ("sharpe", "total_return", "max_drawdown",
                                                               "hit_rate", "ic", "dsr")},
                   "benchmark_sharpe": figures.get("benchmark_sharpe"), "rank_ic": figures.get("rank_ic"),
                   "pbo": summary.get("pbo"), "spa_pvalue_vs_zero": summary.get("spa_pvalue_vs_zero"),
                   "spa_pvalue_vs_benchmark": summary.get("spa_pvalue_vs_benchmark"),
                   "mcs": len(summary["mcs"]) if isinstance(summary.get("mcs"), list) else None,
                   "n_trials": summary.get("n_trials", len(trials) or None), "finished_trials": done,
                   "trials": summary.get("n_trials_counted"),
                   "start": summary.get("first_day"), "end": summary.get("last_day")}
    run.strategy = (trial.get("backtest") or {}).get("strategy") or run.strategy
    run.data = (summary.get("data") or {}).get("name") or run.data
    run.verdict = summary.get("verdict")
    run.headline = sweep_headline(run.figures, run.verdict)
    run.pages = _pages(folder, ("sweep.html", "trials.csv", "sweep.json"))
    for page in ("tearsheet.html", "comparison.html"):
        if (best_dir / page).exists():
            run.pages[f"best trial {page}"] = f"trials/{best_dir.name}/{page}"


def sweep_headline(figures: dict, verdict: Any) -> str | None:
    """``best t003 of 12, PBO 0.31: nothing survives selection``."""
    if not isinstance(verdict, str):
        return None
    tail = verdict.rpartition(": ")[2].rstrip(".")
    tail = {"the sweep found nothing that survives selection": "nothing survives selection",
            "the best trial's edge survives selection and beats buy-and-hold": "survives selection, beats B&H",
            "the best trial's edge survives selection, but it does not beat buy-and-hold":
                "survives selection, does not beat B&H"}.get(tail, tail)
    pbo = figures.get("pbo")
    return (f"best {figures.get('best_trial')} of {figures.get('n_trials')}, "
            f"PBO {'n/a' if pbo is None else f'{pbo:.2f}'}: {tail}")


def _pages(folder: Path, names: tuple[str, ...]) -> dict[str, str]:
    return {name: name for name in names if (folder / name).exists()}


# ------------------------------------------------------------------------------------------- settings
def flat_settings(config: dict, grid: dict | None = None, params: dict | None = None) -> dict[str, Any]:
    """Settings as one flat mapping for comparison: lists joined with commas, ``params.NAME`` (``params``, the
    strategy's resolved params, else the config's), ``grid.NAME``. A param that only echoes the setting of
    the same name (LongFlat's threshold) is left out: it would be the same difference twice."""
    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return ",".join(map(str, value))
        return value

    out = {k: plain(v) for k, v in config.items() if not isinstance(v, dict)}
    chosen = params if params is not None else (config.get("params") or {})
    out.update({f"params.{k}": plain(v) for k, v in chosen.items() if not (k in out and out[k] == plain(v))})
    out.update({f"grid.{k}": plain(v) for k, v in (grid or {}).items()})
    return out


def settings_that_differ(runs: list[RunSummary]) -> dict[str, list[Any]]:
    """Each setting whose value is not the same in every run (a setting a run lacks counts as None)."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.settings if k not in keys]
    table = {k: [run.settings.get(k) for run in runs] for k in keys}
    return {k: values for k, values in table.items() if any(v != values[0] for v in values)}


# ------------------------------------------------------------------------------------------- equity
def equity_curves(run: RunSummary, points: int = 80) -> tuple[list[float], list[float]]:
    """The strategy's and the benchmark's equity (positions.csv), thinned to about ``points`` values each; for a
    sweep, its best trial's. Empty lists when the folder has none."""
    folder = run.path
    if run.kind == "sweep":
        best = run.figures.get("best_trial")
        if not best:
            return [], []
        folder = folder / "trials" / str(best)
    path = folder / "positions.csv"
    if not path.exists():
        return [], []
    strategy, benchmark = [], []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                strategy.append(float(row.get("equity") or "nan"))
                benchmark.append(float(row.get("benchmark_equity") or "nan"))
    except (OSError, ValueError, csv.Error):
        return [], []
    step = max(1, -(-len(strategy) // points))
    keep = list(range(0, len(strategy), step))
    if strategy and keep[-1] != len(strategy) - 1:
        keep.append(len(strategy) - 1)
    return [strategy[i] for i in keep], [benchmark[i] for i in keep]
