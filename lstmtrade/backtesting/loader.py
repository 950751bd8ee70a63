"""Finding a strategy class from what the user typed, and typing its ``--param name=value`` settings.

``--strategy`` accepts a built-in name (``LongShort``), ``package.module:Class``, or
``path/to/file.py[:Class]``; a file that defines exactly one strategy class may be named without
``:Class``. Strategies are :class:`PredictionStrategy` (one asset) or :class:`PortfolioStrategy` (a
universe) subclasses; the built-in names of both are accepted. Errors distinguish "file not found", "your file raised while importing"
(with your file and line), "class not found" (listing what is there) and "not a PredictionStrategy".
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from ..config import Config, typed_like
from ..errors import StrategyError
from .engine import check_params, strategy_params


def load_strategy(spec: str | type) -> type:
    """The strategy class named by ``spec`` (a class passes through after a check)."""
    BUILTINS = all_builtins()

    if isinstance(spec, type):
        return _check_class(spec, spec.__name__)
    spec = str(spec).strip()
    for name, cls in BUILTINS.items():
        if spec.lower() == name.lower():
            return cls
    path_part, _, class_name = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if _looks_like_file(class_name):
        path_part, class_name = spec, ""  # C:\dir\file.py: that colon is a drive letter's
    if _looks_like_file(path_part):
        module = _import_file(Path(path_part))
    elif class_name:
        module = _import_module(path_part)
    else:
        close = difflib.get_close_matches(spec, list(BUILTINS), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise StrategyError(f"unknown strategy '{spec}': {hint}built-ins are {', '.join(BUILTINS)}; "
                            "or give path/to/file.py[:Class] or package.module:Class")
    found = strategies_in(module)
    if not class_name:
        if len(found) == 1:
            return next(iter(found.values()))
        if not found:
            raise StrategyError(f"{path_part} defines no PredictionStrategy subclass: write "
                                "'class MyStrategy(PredictionStrategy)' after 'from lstmtrade import PredictionStrategy' "
                                "(or PortfolioStrategy, for a universe)")
        raise StrategyError(f"{path_part} defines {len(found)} PredictionStrategy subclasses ({', '.join(found)}); "
                            f"name one as {path_part}:Class")
    cls = getattr(module, class_name, None)
    if cls is None:
        listed = ", ".join(found) or "no PredictionStrategy subclasses"
        raise StrategyError(f"class '{class_name}' not found in {path_part}; it has: {listed}")
    return _check_class(cls, f"{path_part}:{class_name}")


def all_builtins() -> dict[str, type]:
    """Built-in strategies by name: the one-asset rules, then the portfolio rules."""
    from .rules import BUILTINS as PORTFOLIO
    from .strategy import BUILTINS

    return {**BUILTINS, **PORTFOLIO}


def _bases() -> tuple[type, ...]:
    from .portfolio_strategy import PortfolioStrategy
    from .strategy import PredictionStrategy

    return PredictionStrategy, PortfolioStrategy


def _check_class(cls: Any, label: str) -> type:
    if not (isinstance(cls, type) and issubclass(cls, _bases())):
        raise StrategyError(f"{label} is not a PredictionStrategy subclass "
                            "(subclass lstmtrade.PredictionStrategy and override target_weight, "
                            "or lstmtrade.PortfolioStrategy and override target_weights)")
    return cls


def _looks_like_file(text: str) -> bool:
    return text.endswith(".py") or "/" in text or "\\" in text


def strategies_in(module: ModuleType) -> dict[str, type]:
    """PredictionStrategy and PortfolioStrategy subclasses defined in ``module`` itself (not imported into it)."""
    bases = _bases()
    return {name: obj for name, obj in vars(module).items()
            if isinstance(obj, type) and issubclass(obj, bases)
            and obj not in bases and obj.__module__ == module.__name__}


def _import_file(path: Path) -> ModuleType:
    if not path.exists():
        raise StrategyError(f"strategy file not found: {path}")
    if path.is_dir():
        raise StrategyError(f"strategy path is a folder, not a .py file: {path}")
    resolved = path.resolve()
    name = "lstmtrade_user_" + hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise StrategyError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - anything the user's file raises
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise StrategyError(f"error while importing {path}: {_user_frame(exc, resolved)}") from None
    return module


# Where classes named by a saved dotted path (a sweep's plan.json, a run's config.toml) live since the stage
# packages: lstmtrade.portfolio:TopK is lstmtrade.backtesting.rules:TopK.
MOVED = {"lstmtrade.portfolio": "lstmtrade.backtesting.rules", "lstmtrade.strategy": "lstmtrade.backtesting.strategy"}


def _import_module(name: str) -> ModuleType:
    name = MOVED.get(name, name)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise StrategyError(f"could not import module '{name}' (is it installed or on PYTHONPATH?)") from None
        raise StrategyError(f"error while importing {name}: {_user_frame(exc, None)}") from None
    except Exception as exc:  # noqa: BLE001
        raise StrategyError(f"error while importing {name}: {_user_frame(exc, None)}") from None


def _user_frame(exc: BaseException, path: Path | None) -> str:
    """'file:line: Type: message' pointing at the user's code, not at lstmtrade or importlib."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}: SyntaxError: {exc.msg}"
    frames = traceback.extract_tb(exc.__traceback__)
    ours = str(Path(__file__).resolve().parent.parent)  # the lstmtrade package, every stage of it
    user = [f for f in frames if (path is not None and Path(f.filename) == path)
            or (path is None and not f.filename.startswith(ours) and "importlib" not in f.filename)]
    if user:
        return f"{user[-1].filename}:{user[-1].lineno}: {message}"
    return message


def parse_params(cls: type, pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["name=value", ...]`` -> params typed like each param's default; unknown names get a hint."""
    defaults = strategy_params(cls)
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise StrategyError(f"--param '{pair}' must look like name=value")
        check_params(cls, {name: None})
        out[name] = convert_param(name, text.strip(), defaults[name])
    return out


def convert_param(name: str, text: Any, default: Any) -> Any:
    """Convert ``text`` to the type of ``default`` (bool, int, float or str; see :func:`lstmtrade.config.typed_like`)."""
    if not isinstance(text, str):
        return text
    try:
        return typed_like(text, default)
    except ValueError:
        kind = type(default).__name__
        raise StrategyError(f"--param {name}={text}: expected {kind} (default {default!r})") from None


def describe(cls: type) -> tuple[str, dict[str, Any]]:
    """First line of the docstring and the params with defaults (for ``lstmtrade strategies``)."""
    doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else ""  # its own, not inherited from the base
    return (doc.splitlines()[0] if doc else ""), strategy_params(cls)


def strategies_in_folder(folder: Path) -> tuple[list[tuple[str, type]], list[str]]:
    """(``file.py:Class`` label, class) for each strategy in the folder's .py files, and load problems."""
    found: list[tuple[str, type]] = []
    problems: list[str] = []
    if not folder.is_dir():
        return found, problems
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            module = _import_file(path)
        except StrategyError as exc:
            problems.append(f"{path}: {exc}")
            continue
        found.extend((f"{path.as_posix()}:{name}", cls) for name, cls in strategies_in(module).items())
    return found, problems


# ------------------------------------------------------------------------------ the run's strategy
def strategy_spec(config: Config, strategy: str | type | None, universe: bool) -> str | type:
    """What to load: ``strategy`` if given, else the config's; ``auto`` is LongFlat for one ticker and
    TopK (equal weight in the best-ranked names) for a universe."""
    spec = strategy if strategy is not None else config.strategy
    if spec == "auto":
        return "TopK" if universe else "LongFlat"
    return spec


def resolve_strategy(config: Config, strategy: str | type | None,
                     universe: bool = False) -> tuple[type, dict[str, Any]]:
    """The strategy class and its typed params (``threshold`` goes to strategies that have one)."""
    from .portfolio_strategy import PortfolioStrategy

    cls = load_strategy(strategy_spec(config, strategy, universe))
    if universe and not issubclass(cls, PortfolioStrategy):
        raise StrategyError(f"--strategy {cls.__name__} trades one asset; a universe needs a portfolio rule "
                          "(TopK, TopKDropout, LongShortQuantile, RankWeighted or a PortfolioStrategy subclass)")
    if not universe and issubclass(cls, PortfolioStrategy):
        raise StrategyError(f"{cls.__name__} is a portfolio strategy: it trades a universe (a portfolio rule), "
                            "and --data holds one ticker (use a CSV with a Ticker column, a folder, or sample:SP500)")
    defaults = strategy_params(cls)
    params: dict[str, Any] = {}
    if "threshold" in defaults and config.threshold != 0.0:
        params["threshold"] = config.threshold
    check_params(cls, dict(config.params))
    for name, value in config.params.items():
        params[name] = convert_param(name, value, defaults[name])
    return cls, params


def strategy_label(strategy: str | type | None, config: Config, cls: type) -> str:
    """What a run folder's config.toml records as its strategy: as given, or the class ``auto`` chose."""
    if strategy is None:
        return cls.__name__ if config.strategy == "auto" else config.strategy
    return strategy.__name__ if isinstance(strategy, type) else str(strategy)
