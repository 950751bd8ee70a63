"""MLflow tracking: a finished run or sweep logged as an MLflow run (optional: pip install "lstmtrade[mlflow]").

What is logged is read from the run folder (metrics.json, config.toml, a sweep's plan.json and sweep.json, the
pages), so a run is logged the same way right after it finishes (``--mlflow`` or ``tracking = "mlflow"``) as
later from its folder (``lstmtrade runs log RUN``), and the MLflow run holds exactly the numbers the folder
does:

- params: the resolved settings (config.toml; strategy params, defaults included, as ``params.NAME``);
- metrics: the headline figures (``sharpe``, ``benchmark_sharpe``, ``hit_rate``, ``dsr``, ...), the baselines'
  Sharpe, and the forecast's skill per fold as steps (``fold.ic`` at step 0, 1, ...);
- tags: the data's name, source and SHA-256, the library versions, the kind, the folder and the verdict (also
  the run's MLflow description);
- artifacts: the folder's pages (tearsheet.html, comparison.html, sweep.html), metrics.json and config.toml.

The experiment is named after the data (``MSFT``); a sweep is one run with each trial a nested run. The store
is the one MLflow itself resolves (``MLFLOW_TRACKING_URI``, ``mlflow.set_tracking_uri`` in a notebook, else
its default); lstmtrade never sets it. MLflow is imported inside these functions only, and its client API is
used (not ``mlflow.start_run``), so a notebook's own active MLflow run is left alone.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError
from .runs import RunSummary, flat_settings, read_run

INSTALL = 'pip install "lstmtrade[mlflow]"'
ARTIFACTS = ("tearsheet.html", "comparison.html", "sweep.html", "metrics.json", "config.toml", "sweep.json",
             "plan.json", "trials.csv")
FOLD_SKILL = ("hit_rate", "ic", "rank_ic", "mse_ratio", "oos_r2", "dm_pvalue")


@dataclass
class Tracked:
    """Where a run was logged."""

    uri: str
    experiment: str
    experiment_id: str
    run_id: str
    nested: int = 0  # a sweep's trials, each a nested run

    @property
    def where(self) -> str:
        """How to look at it: the run's address on a tracking server, else the command that starts the UI."""
        if self.uri.startswith(("http://", "https://")):
            return f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"
        if "://" not in self.uri or self.uri.split("://")[0] in ("file", "sqlite", "postgresql", "mysql"):
            return f"mlflow ui --backend-store-uri {self.uri}"
        return f"the MLflow UI of {self.uri}, run {self.run_id}"


def require_mlflow() -> Any:
    """The mlflow module, or a ConfigError with the install line."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(f"MLflow tracking needs MLflow, which is not installed: {INSTALL}") from None
    return mlflow


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's INFO lines (database set-up, experiment creation) and warnings kept off the terminal."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def check_store() -> str:
    """Fail before any training when MLflow is missing or its store cannot be used; returns the store's URI."""
    mlflow = require_mlflow()
    with _quiet():
        uri = mlflow.get_tracking_uri()
        try:
            mlflow.MlflowClient(uri).search_experiments(max_results=1)
        except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds (its own, SQLAlchemy's, HTTP's)
            raise ConfigError(f"MLflow tracking store {uri} cannot be used: {_first_line(exc)}") from None
    return uri


def log_to_mlflow(folder: str | Path) -> Tracked:
    """Log a finished run or sweep folder to MLflow; ConfigError when it is unfinished or MLflow fails."""
    run = read_run(folder)
    if not run.finished:
        why = f": {run.note}" if run.note else ""
        raise ConfigError(f"{run.path} is {run.status}{why}; only finished runs are logged to MLflow")
    mlflow = require_mlflow()
    uri = "(unknown)"
    with _quiet():
        try:
            uri = mlflow.get_tracking_uri()
            client = mlflow.MlflowClient(uri)
            name = run.data or "lstmtrade"
            experiment_id = _experiment(client, name)
            if run.kind == "sweep":
                run_id, nested = _log_sweep(client, experiment_id, run)
            else:
                run_id, nested = _log_one(client, experiment_id, run), 0
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds; the folder is complete either way
            raise ConfigError(f"MLflow: could not log {run.path} to {uri} ({_first_line(exc)}); the run folder "
                              f"is complete: log it later with  lstmtrade runs log {run.path}") from None
    return Tracked(uri, name, experiment_id, run_id, nested)


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None and found.lifecycle_stage == "deleted":
        raise ConfigError(f"MLflow experiment {name!r} is deleted; restore it (mlflow experiments restore "
                          f"--experiment-id {found.experiment_id}) or delete it for good (mlflow gc)")
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, tags={"lstmtrade.data": name})
    except Exception:  # noqa: BLE001 - another process created it first
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _millis(iso: str | None, fallback: Path) -> int:
    try:
        return int(datetime.fromisoformat(str(iso)).timestamp() * 1000)
    except ValueError:
        return int(fallback.stat().st_mtime * 1000)


def _start(client: Any, experiment_id: str, run: RunSummary, tags: dict, parent: str | None = None) -> str:
    tags = {**tags, "lstmtrade.kind": run.kind or "", "lstmtrade.folder": str(run.path),
            "mlflow.source.name": "lstmtrade"}
    if run.verdict:
        tags.update({"verdict": run.verdict[:5000], "mlflow.note.content": run.verdict})
    if run.headline:
        tags["headline"] = run.headline
    if parent is not None:
        tags["mlflow.parentRunId"] = parent
    made = client.create_run(experiment_id, start_time=_millis(run.when, run.path), tags=tags,
                             run_name=run.name)
    return made.info.run_id


def _log(client: Any, run_id: str, params: dict, metrics: list[tuple[str, float, int]], stamp: int) -> None:
    """Params and metrics in batches of MLflow's limits (100 params, 1000 metrics a call)."""
    from mlflow.entities import Metric, Param

    items = [Param(k, _text(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i:i + 100])
    points = [Metric(k, float(v), stamp, step) for k, v, step in metrics]
    for i in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[i:i + 1000])


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
        and value not in (float("inf"), float("-inf"))


def _finish(client: Any, run_id: str, folder: Path, files: tuple[str, ...] = ARTIFACTS) -> None:
    for name in files:
        if (folder / name).exists():
            client.log_artifact(run_id, str(folder / name))
    last = max((folder / n).stat().st_mtime for n in ("metrics.json", "sweep.json", "config.toml")
               if (folder / n).exists())
    client.set_terminated(run_id, "FINISHED", end_time=int(last * 1000))


def _log_one(client: Any, experiment_id: str, run: RunSummary, parent: str | None = None) -> str:
    """One finished backtest (or sweep trial) folder as an MLflow run."""
    import json

    m = json.loads((run.path / "metrics.json").read_text(encoding="utf-8"))
    data = m.get("data") or {}
    versions = (m.get("run") or {}).get("versions") or {}
    tags = {"data.name": data.get("name"), "data.source": data.get("source"), "data.sha256": data.get("sha256"),
            **{f"version.{k}": v for k, v in versions.items()}}
    run_id = _start(client, experiment_id, run, {k: _text(v) for k, v in tags.items() if v is not None}, parent)
    params = dict(run.settings)
    params.update({f"params.{k}": v for k, v in ((m.get("backtest") or {}).get("params") or {}).items()})
    params["strategy.class"] = run.strategy
    stamp = int((run.path / "metrics.json").stat().st_mtime * 1000)
    metrics = [(k, v, 0) for k, v in run.figures.items() if _number(v)]
    metrics += [(f"baseline.{name}.sharpe", b.get("sharpe"), 0) for name, b in (m.get("baselines") or {}).items()
                if _number(b.get("sharpe"))]
    for row in m.get("forecast_per_fold") or []:
        metrics += [(f"fold.{k}", row.get(k), int(row.get("fold", 0))) for k in FOLD_SKILL if _number(row.get(k))]
    _log(client, run_id, params, metrics, stamp)
    _finish(client, run_id, run.path)
    return run_id


def _log_sweep(client: Any, experiment_id: str, run: RunSummary) -> tuple[str, int]:
    """A finished sweep as a parent run (its statistics), each trial a nested run."""
    import json

    plan = json.loads((run.path / "plan.json").read_text(encoding="utf-8"))
    data = plan.get("data") or {}
    tags = {"data.name": data.get("name"), "data.source": data.get("source"), "data.sha256": data.get("sha256"),
            "best_trial": run.figures.get("best_trial")}
    run_id = _start(client, experiment_id, run, {k: _text(v) for k, v in tags.items() if v is not None})
    params = flat_settings(plan.get("config") or {}, plan.get("grid") or {})
    params.update({"sweep.seeds": ",".join(map(str, plan.get("seeds") or [])), "sweep.random": plan.get("random"),
                   **{f"sweep.{k}": v for k, v in (plan.get("stats") or {}).items()}})
    stamp = int((run.path / "sweep.json").stat().st_mtime * 1000)
    _log(client, run_id, params, [(k, v, 0) for k, v in run.figures.items() if _number(v)], stamp)
    nested = 0
    for trial in sorted((run.path / "trials").glob("*/metrics.json")):
        child = read_run(trial.parent)
        if child.finished:
            _log_one(client, experiment_id, child, parent=run_id)
            nested += 1
    _finish(client, run_id, run.path)
    return run_id, nested
