"""What a sweep runs: the grid, the seeds, every trial's id and settings, stored as plan.json.

Configurations are the product of the grid's values (or ``random`` of them, sampled with the base config's
seed); each runs with ``seeds`` consecutive seeds (the base seed, +1, ...), each seed a separate trial.
Trial ids are ``t001``, ``t002``... in that order. A grid name is a :class:`~lstmtrade.config.Config`
field (typed like its default; features as ``logret+vol20``) or a param of the strategy (typed like the
param's default). Every trial's settings are checked before anything runs.
"""
from __future__ import annotations

import itertools
import json
import random as _random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..backtesting.engine import strategy_params
from ..backtesting.loader import convert_param, load_strategy, resolve_strategy, strategy_spec
from ..config import FIELD_NAMES, Config, load_toml, make_config, tomllib, typed_like
from ..errors import ConfigError
from ..evaluate.ledger import NOT_A_TRIAL
from ..forecast.cache import NOT_TRAINING

FORMAT = 1  # plan.json layout version
# Settings a grid may not sweep: where the data come from and how fast a trial runs change no trial's
# result (a sweep runs on one data set); seeds have their own option, strategy params go in by name.
NOT_SWEPT = NOT_A_TRIAL | {"seed", "params"}


@dataclass(frozen=True)
class Trial:
    id: str  # t001, t002, ... in plan order
    params: dict[str, Any]  # swept name -> value (Config fields and strategy params)
    seed: int


@dataclass
class SweepPlan:
    """What a sweep runs; stored as ``plan.json`` so ``--resume`` runs exactly the same trials."""

    base: Config  # settings every trial shares before its own params and seed
    grid: dict[str, list]  # swept name -> values, in the order given
    seeds: list[int]
    random: int  # 0: the full grid; else this many configurations sampled from it
    trials: list[Trial]
    stats: dict[str, Any] = field(default_factory=dict)  # blocks, reps, block_size, mcs_size, seed

    def trial_config(self, trial: Trial) -> Config:
        fields = {k: v for k, v in trial.params.items() if k in FIELD_NAMES}
        extra = {k: v for k, v in trial.params.items() if k not in FIELD_NAMES}
        params = {**dict(self.base.params), **extra}
        return make_config(self.base, **fields, params=params, seed=trial.seed)

    def to_json(self) -> dict:
        return {"format": FORMAT, "config": self.base.to_dict(), "grid": self.grid, "seeds": self.seeds,
                "random": self.random, "stats": self.stats,
                "trials": [{"id": t.id, "params": t.params, "seed": t.seed} for t in self.trials]}

    @classmethod
    def from_json(cls, data: dict) -> "SweepPlan":
        if data.get("format") != FORMAT:
            raise ConfigError(f"plan.json has format {data.get('format')!r}; this lstmtrade reads {FORMAT}")
        trials = [Trial(t["id"], dict(t["params"]), int(t["seed"])) for t in data["trials"]]
        return cls(make_config(**data["config"]), dict(data["grid"]), list(data["seeds"]), int(data["random"]),
                   trials, dict(data["stats"]))


def parse_grid(pairs: Sequence[str]) -> dict[str, list[str]]:
    """``["lookback=20,40", "hidden=16,32"]`` -> ``{"lookback": ["20", "40"], ...}`` (values still text)."""
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not sep or not name or not values:
            raise ConfigError(f"--grid '{pair}' must look like name=value1,value2")
        if name in grid:
            raise ConfigError(f"--grid {name} is given twice; list all its values once: {name}=a,b,c")
        grid[name] = values
    return grid


def _field_value(name: str, value: Any) -> Any:
    """A Config field's grid value, typed like its default (text from the command line is converted)."""
    if not isinstance(value, str):
        return list(value) if isinstance(value, tuple) else value
    if name == "features":
        return [part for part in value.split("+") if part]  # logret+vol20: the comma separates values
    if name == "train_window" and value.lower() in ("none", "expanding", "0"):
        return None
    default = getattr(Config(), name)
    try:
        return typed_like(value, 0 if name == "train_window" else default)
    except ValueError:
        raise ConfigError(f"--grid {name}: '{value}' is not a valid {type(default).__name__}") from None


def _typed_grid(grid: Mapping[str, Sequence], base: Config) -> dict[str, list]:
    """Check every swept name and type every value (Config fields by their default, params by the strategy's)."""
    import difflib

    strategies = [str(s) for s in grid.get("strategy", [base.strategy])]
    defaults: dict[str, Any] = {}
    for label in reversed(strategies):
        defaults.update(strategy_params(load_strategy(label)))
    out: dict[str, list] = {}
    for raw_name, values in grid.items():
        name = raw_name.replace("-", "_")
        values = [values] if isinstance(values, (str, int, float)) else list(values)
        if not values:
            raise ConfigError(f"--grid {name}: give at least one value")
        if name == "seed":
            raise ConfigError("--grid seed: use --trial-seeds N to run each configuration with N seeds")
        if name in NOT_SWEPT:
            raise ConfigError(f"--grid {name}: cannot be swept ({name} does not change a trial's result, "
                              "or a sweep runs on one data set)")
        if name in FIELD_NAMES:
            out[name] = [_field_value(name, v) for v in values]
        elif name in defaults:
            out[name] = [convert_param(name, v, defaults[name]) for v in values]
        else:
            known = [n for n in FIELD_NAMES if n not in NOT_SWEPT] + list(defaults)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(f"--grid {name}: not a setting or a param of {', '.join(strategies)}; {hint}"
                              f"strategy params: {', '.join(defaults) or 'none'}")
        if len(set(map(json.dumps, out[name]))) != len(out[name]):
            raise ConfigError(f"--grid {name} lists a value twice")
    return out


def make_plan(base: Config, grid: Mapping[str, Sequence], seeds: int = 1, random: int = 0,
              stats: dict | None = None, universe: bool = False) -> SweepPlan:
    """Every trial of the sweep, checked: each trial's config is valid and its strategy params exist.
    ``universe``: the data hold several tickers (``--strategy auto`` is then TopK, else LongFlat)."""
    if base.strategy == "auto":
        base = base.replace(strategy=strategy_spec(base, None, universe))
    if seeds < 1:
        raise ConfigError(f"--trial-seeds must be a whole number >= 1 (got {seeds})")
    if random < 0:
        raise ConfigError(f"--random must be a whole number >= 0 (got {random})")
    typed = _typed_grid(grid, base)
    names = list(typed)
    configurations = list(itertools.product(*(typed[n] for n in names)))
    if random and random < len(configurations):
        chosen = sorted(_random.Random(base.seed).sample(range(len(configurations)), random))
        configurations = [configurations[i] for i in chosen]
    seed_values = [base.seed + k for k in range(seeds)]
    width = max(3, len(str(len(configurations) * seeds)))
    trials = [Trial(f"t{i + 1:0{width}d}", dict(zip(names, values)), seed)
              for i, (values, seed) in enumerate((v, s) for v in configurations for s in seed_values)]
    if len(trials) < 2:
        raise ConfigError(f"a sweep needs at least 2 trials (this one has {len(trials)}): add --grid values or --trial-seeds")
    plan = SweepPlan(base, typed, seed_values, random, trials, dict(stats or {}))
    for trial in trials:  # every trial's settings and strategy params, before anything runs
        resolve_strategy(plan.trial_config(trial), None, universe=universe)
    return plan


SWEEP_KEYS = ("grid", "trial_seeds", "seeds", "random", "reports", "jobs", "backend", "address", "blocks", "reps", "block_size",
              "mcs_size")


def read_sweep_table(path: str | Path) -> dict[str, Any]:
    """The ``[sweep]`` table of a TOML config (keys as ``lstmtrade sweep``'s options; ``[sweep.grid]`` maps
    names to lists of values); empty when the file has none. The file's other keys are the base settings."""
    import difflib

    load_toml(path)  # the file exists, parses, and its other keys are settings: else one clear error
    with open(path, "rb") as handle:
        table = tomllib.load(handle).get("sweep", {})
    table = {k.replace("-", "_"): v for k, v in table.items()}
    for key in table:
        if key not in SWEEP_KEYS:
            close = difflib.get_close_matches(key, SWEEP_KEYS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(f"config file {path}: unknown key '{key}' in [sweep]; {hint}valid: {', '.join(SWEEP_KEYS)}")
    if "trial_seeds" in table:  # the option's name; "seeds" (its earlier name) still reads the same
        if "seeds" in table:
            raise ConfigError(f"config file {path}: [sweep] gives both trial_seeds and seeds: keep trial_seeds")
        table["seeds"] = table.pop("trial_seeds")
    if not isinstance(table.get("grid", {}), dict):
        raise ConfigError(f"config file {path}: [sweep] grid must be a table, e.g. [sweep.grid] lookback = [20, 40]")
    return table


def training_key(config: Config) -> str:
    """Trials with equal keys make the same predictions: they share one walk-forward."""
    return json.dumps({k: v for k, v in config.to_dict().items() if k not in NOT_TRAINING}, sort_keys=True,
                      default=str)
