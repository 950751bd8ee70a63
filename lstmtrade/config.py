"""Run settings: one frozen dataclass with a documented default for every knob.

The same names are the command-line options (``lookback`` is ``--lookback``, ``batch_size`` is
``--batch-size``) and the keys of a TOML config file, so the three never drift apart: the CLI builds
its options from :data:`FIELD_HELP` and the dataclass fields. Precedence: defaults < config file <
command line. This module imports only the standard library so that ``lstmtrade --help`` is fast.
"""
from __future__ import annotations

import dataclasses
import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MODELS = ("lstm", "linear", "persistence", "zero")
LOSSES = ("mse", "huber")
DEVICES = ("cpu", "cuda", "auto")
ENGINES = ("auto", "native", "loop", "fused")


@dataclass(frozen=True)
class Config:
    """Every setting of a run. Defaults are chosen so the bundled MSFT runs in well under a minute."""

    # --- data
    data: str | None = None  # CSV path or sample:TICKER; None means the bundled MSFT
    start: str | None = None  # first date to use (YYYY-MM-DD)
    end: str | None = None  # last date to use; nothing after it is read
    # --- features and model
    features: tuple[str, ...] = ("logret", "vol20", "range", "gap", "volz", "rsi14")
    model: str = "lstm"  # lstm | linear | persistence | zero
    lookback: int = 20  # bars in each input window
    hidden: int = 32  # LSTM hidden units
    layers: int = 1  # stacked LSTM layers
    dropout: float = 0.0  # dropout between LSTM layers (needs layers >= 2)
    loss: str = "mse"  # mse | huber
    # --- training
    epochs: int = 20  # most epochs per fold
    batch_size: int = 128
    lr: float = 1e-3  # Adam learning rate
    early_stopping: bool = True  # stop on the purged validation tail
    patience: int = 3  # epochs without validation improvement before stopping
    val_fraction: float = 0.2  # share of each training window held out for early stopping
    seed: int = 7
    device: str = "cpu"  # cpu | cuda | auto
    threads: int = 0  # torch threads; 0 keeps torch's default
    engine: str = "auto"  # how LSTM folds are trained: auto | native | loop | fused
    jobs: int = 0  # folds trained at once; 0: one per CPU core with the native engine, else 1
    # --- walk-forward
    min_train: int = 756  # bars of features before the first test day (3 years)
    retrain_every: int = 126  # test days per fold (6 months)
    train_window: int | None = None  # rolling window in bars; None means expanding
    # --- strategy and costs
    strategy: str = "LongFlat"
    threshold: float = 0.0  # predicted return above which LongFlat goes long
    params: Mapping[str, Any] = field(default_factory=dict)  # extra strategy params
    commission: float = 10.0  # basis points of traded value, each side
    slippage: float = 0.0  # basis points added to the fill price against you
    cash: float = 100_000.0
    baselines: bool = True  # also run the cheap baseline forecasters
    cache: bool = True  # reuse folds trained before with the same rows and settings
    save_models: bool = False  # also save each fold's trained LSTM in the run folder

    def __post_init__(self) -> None:
        _check(self)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["features"] = list(self.features)
        out["params"] = dict(self.params)
        return out

    @property
    def early_stopping_active(self) -> bool:
        return self.early_stopping and self.val_fraction > 0


FIELD_HELP: dict[str, str] = {
    "data": "CSV file (Date,Open,High,Low,Close[,Adj Close],Volume) or sample:TICKER (AAPL, IBM, MSFT, GOOG, FB).",
    "start": "First date to use, YYYY-MM-DD.",
    "end": "Last date to use, YYYY-MM-DD; rows after it are never read.",
    "features": "Comma-separated feature names (logret, vol20, range, gap, ret5, volz, rsi14).",
    "model": "Forecaster: lstm, or a baseline: linear (ridge), persistence, zero.",
    "lookback": "Bars in each LSTM input window.",
    "hidden": "LSTM hidden units.",
    "layers": "Stacked LSTM layers.",
    "dropout": "Dropout between stacked LSTM layers.",
    "loss": "Training loss: mse or huber.",
    "epochs": "Most training epochs per fold.",
    "batch_size": "Training batch size.",
    "lr": "Adam learning rate.",
    "early_stopping": "Stop training on a purged validation tail of each training window.",
    "patience": "Epochs without validation improvement before early stopping.",
    "val_fraction": "Share of each training window held out for early stopping.",
    "seed": "Random seed (torch, numpy, random); each fold derives its own from it.",
    "device": "cpu, cuda or auto (cuda when available).",
    "threads": "torch CPU threads; 0 keeps torch's default.",
    "engine": "How LSTM folds are trained: native (C kernel, built on first use), loop (torch), fused (all "
              "folds as one torch computation); auto: native where it builds and fits the network, else loop.",
    "jobs": "Folds trained at once: threads with the native engine, worker processes (one torch thread each) "
            "with loop; 0: one per CPU core with native, 1 with loop.",
    "min_train": "Bars of features before the first out-of-sample day.",
    "retrain_every": "Out-of-sample days per fold: the model is retrained this often.",
    "train_window": "Rolling training window in bars (default: expanding window).",
    "strategy": "Position rule: a built-in name, package.module:Class or path/file.py[:Class].",
    "threshold": "Predicted return above which the default strategy goes long.",
    "params": "Strategy params as name=value.",
    "commission": "Commission in basis points of traded value, per side.",
    "slippage": "Slippage in basis points of price, against each fill.",
    "cash": "Starting cash.",
    "baselines": "Also run the baseline forecasters (zero, persistence, linear) for comparison.",
    "cache": "Reuse folds trained before with the same rows and settings (stored under OUT/.cache).",
    "save_models": "Also save each fold's trained LSTM as RUN/folds/fold-NNN.pt (the format `train` writes).",
}


def _fail(name: str, message: str, value: Any) -> None:
    raise ConfigError(f"--{name.replace('_', '-')} {message} (got {value!r})")


def _check(c: Config) -> None:
    for name in ("lookback", "hidden", "layers", "epochs", "batch_size", "patience", "retrain_every", "min_train"):
        value = getattr(c, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            _fail(name, "must be a whole number >= 1", value)
    if c.train_window is not None and (not isinstance(c.train_window, int) or c.train_window < 1):
        _fail("train_window", "must be a whole number >= 1", c.train_window)
    for name in ("threads", "jobs"):
        value = getattr(c, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            _fail(name, "must be a whole number >= 0", value)
    for name, low, high in (("dropout", 0.0, 1.0), ("val_fraction", 0.0, 0.9)):
        value = getattr(c, name)
        if not _is_number(value) or not low <= value < high:
            _fail(name, f"must be in [{low}, {high})", value)
    for name in ("lr", "cash"):
        value = getattr(c, name)
        if not _is_number(value) or value <= 0:
            _fail(name, "must be a number > 0", value)
    for name in ("commission", "slippage"):
        value = getattr(c, name)
        if not _is_number(value) or value < 0:
            _fail(name, "must be a number >= 0 (basis points)", value)
    if not _is_number(c.threshold):
        _fail("threshold", "must be a number", c.threshold)
    for name, allowed in (("model", MODELS), ("loss", LOSSES), ("device", DEVICES), ("engine", ENGINES)):
        value = getattr(c, name)
        if value not in allowed:
            _fail(name, f"must be one of {', '.join(allowed)}", value)
    if not c.features or not all(isinstance(f, str) and f for f in c.features):
        _fail("features", "must name at least one feature", c.features)
    if len(set(c.features)) != len(c.features):
        _fail("features", "lists a feature twice", ",".join(c.features))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Config))


def check_keys(keys: Mapping[str, Any] | list[str], where: str) -> None:
    """Refuse unknown setting names, suggesting the closest valid one."""
    for key in keys:
        if key not in FIELD_NAMES:
            close = difflib.get_close_matches(key, FIELD_NAMES, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(FIELD_NAMES)}"
            raise ConfigError(f"{where}: unknown key '{key}'{hint}")


def coerce(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Turn loosely typed values (TOML, a notebook's kwargs) into the dataclass's types."""
    out = dict(settings)
    if isinstance(out.get("features"), str):
        out["features"] = tuple(part.strip() for part in out["features"].split(",") if part.strip())
    elif "features" in out:
        out["features"] = tuple(out["features"])
    for name in ("data", "start", "end"):
        if name in out and out[name] is not None:
            out[name] = str(out[name])
    for name in ("dropout", "lr", "val_fraction", "threshold", "commission", "slippage", "cash"):
        if isinstance(out.get(name), int) and not isinstance(out.get(name), bool):
            out[name] = float(out[name])
    if out.get("train_window") == 0:
        out["train_window"] = None
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config whose keys are the option names (snake_case or kebab-case)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    raw.pop("sweep", None)  # the [sweep] table is read by `lstmtrade sweep` (lstmtrade.sweep_plan.read_sweep_table)
    settings = {key.replace("-", "_"): value for key, value in raw.items()}
    check_keys(list(settings), f"config file {path}")
    return coerce(settings)


def make_config(base: Config | None = None, **settings: Any) -> Config:
    """``Config`` from keyword settings, checking names and types; ``base`` supplies the rest."""
    check_keys(list(settings), "settings")
    try:
        return dataclasses.replace(base or Config(), **coerce(settings))
    except TypeError as exc:  # pragma: no cover - check_keys catches unknown names first
        raise ConfigError(str(exc)) from None


def to_toml(config: Config) -> str:
    """The fully resolved config as TOML text (what ``config.toml`` in a run folder holds)."""
    lines = []
    params = {}
    for key, value in config.to_dict().items():
        if key == "params":
            params = value
            continue
        if value is None:
            lines.append(f"# {key} = (not set)")
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    if params:
        lines.append("")
        lines.append("[params]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in params.items())
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
