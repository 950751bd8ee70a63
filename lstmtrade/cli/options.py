"""Options shared by the commands: one per Config field, the common ones, and how they become a Config.

Only the standard library and click at import, so ``lstmtrade --help`` stays fast.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Callable

import click

from ..config import FIELD_HELP, UNSET_MEANS, Config, load_toml, make_config
from ..errors import ConfigError, ModelFileError

_DEFAULTS = Config()
_OPTION_TYPES = {"train_window": int, "data": str, "start": str, "end": str, "tickers": str, "benchmark": str,
                 "periods_per_year": int, "date_format": str, "borrow_file": str, "spread": str,
                 "max_participation": float, "capacity": str, "ray_address": str}


_SHOWN = UNSET_MEANS


# Config fields given on the command line as a flag (--FLAG sets the first value, --no-FLAG the second).
FLAGS = {"tracking": ("mlflow", "mlflow", "none")}


def _shown(value: Any, name: str = "") -> str:
    if name in _SHOWN:
        return _SHOWN[name]
    if isinstance(value, tuple):
        return ",".join(value)
    if value is None:
        return "none"
    return str(value)


def config_options(skip: tuple[str, ...] = ()) -> Callable:
    """One option per Config field (``batch_size`` -> ``--batch-size``), each with help and default.

    ``baselines`` is a list with an off switch: ``--baselines zero,lightgbm`` and ``--no-baselines`` (the
    command receives ``baselines`` only: the text, ``()`` for the switch, or None when neither was given)."""

    def decorate(func: Callable) -> Callable:
        for spec in reversed(dataclasses.fields(Config)):
            name = spec.name
            if name == "params" or name in skip:
                continue
            flag = name.replace("_", "-")
            default = getattr(_DEFAULTS, name)
            help_text = f"{FIELD_HELP[name]} [default: {_shown(default, name)}]"
            if name in FLAGS:  # a choice of two read as a flag: --mlflow / --no-mlflow
                flag, on, off = FLAGS[name]
                func = click.option(f"--{flag}/--no-{flag}", name, default=None, help=help_text,
                                    callback=lambda ctx, param, value, on=on, off=off:
                                    None if value is None else (on if value else off))(func)
            elif name == "baselines":
                func = click.option("--no-baselines", "no_baselines", is_flag=True, default=False,
                                    help="Run no baseline forecasters (the same as --baselines none).")(func)
                func = click.option("--baselines", name, default=None, metavar="LIST", help=help_text)(func)
                func = _one_baselines_switch(func)
            elif isinstance(default, bool):
                func = click.option(f"--{flag}/--no-{flag}", name, default=None, help=help_text)(func)
            else:
                kind = _OPTION_TYPES.get(name, type(default) if not isinstance(default, tuple) else str)
                metavar = {int: "N", float: "X", str: "TEXT"}.get(kind, "TEXT")
                func = click.option(f"--{flag}", name, type=kind, default=None, metavar=metavar,
                                    help=help_text)(func)
        return func

    return decorate


def _one_baselines_switch(func: Callable) -> Callable:
    """Fold ``--no-baselines`` into ``baselines`` before the command sees its options."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        off = kwargs.pop("no_baselines", False)
        if off:
            if kwargs.get("baselines") is not None:
                raise ConfigError("--baselines and --no-baselines: give one of them")
            kwargs["baselines"] = ()
        return func(*args, **kwargs)

    return wrapper


def common_options(func: Callable) -> Callable:
    decorators = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="TOML file whose keys are these options' names; the command line wins."),
        click.option("--param", "param_pairs", multiple=True, metavar="NAME=VALUE",
                     help="Strategy param, typed like its default; repeatable."),
        click.option("--out", default="reports", show_default=True, type=click.Path(file_okay=False),
                     help="Folder under which each run writes a new subfolder."),
        click.option("--quiet", "-q", is_flag=True, help="Print only the path of the tearsheet."),
        click.option("--verbose", "-v", is_flag=True, help="Also print per-fold details and stage timings."),
    ]
    for deco in reversed(decorators):
        func = deco(func)
    return functools.wraps(func)(func)


def build_config(config_file: str | None, param_pairs: tuple[str, ...], options: dict[str, Any]) -> Config:
    """defaults < config file < command line; ``--param`` typed against the chosen strategy."""
    settings = load_toml(config_file) if config_file else {}
    settings.update({k: v for k, v in options.items() if v is not None})
    if param_pairs:
        from ..backtesting.loader import load_strategy, parse_params, strategy_spec
        from ..data.panel import is_universe

        universe = settings.get("data") is not None and is_universe(settings["data"])
        cls = load_strategy(strategy_spec(make_config(**{k: v for k, v in settings.items() if k != "params"}),
                                          None, universe))
        settings["params"] = {**dict(settings.get("params", {})), **parse_params(cls, param_pairs)}
    return make_config(**settings)


def existing_model_file(ctx: Any, param: Any, value: str | None) -> str | None:
    """A ``--model`` file that does not exist is refused while parsing, before torch is imported (one line, exit 2)."""
    if value is not None and not Path(value).exists():
        raise ModelFileError(f"{value}: model file not found")
    return value
