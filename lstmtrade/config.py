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
from typing import Any, Callable, Mapping

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Progress = Callable[[dict], None]  # receives a run's events ({"event": "start" | "fold" | "epoch" | ..., ...})

MODELS = ("lstm", "linear", "persistence", "zero", "lightgbm", "reversal", "momentum")
DEFAULT_BASELINES = ("zero", "persistence", "linear")  # what --baselines (and baselines = true) runs
XS_NORMS = ("none", "rank", "zscore")
TARGETS = ("return", "rank")
LOSSES = ("mse", "huber")
DEVICES = ("cpu", "cuda", "auto")
ENGINES = ("auto", "native", "loop", "fused")
# The per-trade cost rates `lstmtrade paper` lets a user override (every engine takes all of a run's costs through
# lstmtrade.backtesting.costs.run_costs, so borrow, spread, impact and caps reach them too).
COST_FIELDS = ("commission", "slippage")
TRACKING = ("none", "mlflow")
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Config:
    """Every setting of a run. Defaults are chosen so the bundled MSFT runs in well under a minute."""

    # --- data
    data: str | None = None  # CSV path or sample:TICKER; None means the bundled MSFT
    date_format: str | None = None  # strptime layout of the Date column ('%d.%m.%Y %H:%M:%S.%f'); None: ISO 8601
    start: str | None = None  # first date to use (YYYY-MM-DD [HH:MM])
    end: str | None = None  # last date to use; nothing after it is read
    tickers: tuple[str, ...] | None = None  # universe: the tickers to use (None: every ticker in --data)
    strict: bool = False  # universe: refuse the run on any data fault instead of repairing or excluding
    benchmark: str | None = None  # universe: CSV of an index/ETF to buy and hold instead of equal weight
    periods_per_year: int | None = None  # bars a year for every annualised figure; None: from the data's calendar
    # --- features and model
    features: tuple[str, ...] = ("logret", "vol20", "range", "gap", "volz", "rsi14")
    model: str = "lstm"  # lstm | linear | persistence | zero | lightgbm | reversal | momentum
    target: str = "return"  # return | rank (the cross-sectional rank of the return; universes only)
    lookback: int = 20  # bars in each input window
    hidden: int = 32  # LSTM hidden units
    layers: int = 1  # stacked LSTM layers
    dropout: float = 0.0  # dropout between LSTM layers (needs layers >= 2)
    loss: str = "mse"  # mse | huber
    xs_norm: str = "none"  # universe: each feature normalised across that date's tickers: none | rank | zscore
    # --- training
    epochs: int = 20  # most epochs per fold
    batch_size: int = 128
    lr: float = 1e-3  # Adam learning rate
    early_stopping: bool = True  # stop on the purged validation tail
    patience: int = 3  # epochs without validation improvement before stopping
    val_fraction: float = 0.2  # share of each training window held out for early stopping
    seed: int = 7
    seeds: int = 1  # networks per fold (a seed ensemble): member m trains with seed + m; 5 for conclusions
    device: str = "cpu"  # cpu | cuda | auto
    threads: int = 0  # torch threads; 0 keeps torch's default
    engine: str = "auto"  # how LSTM folds are trained: auto | native | loop | fused
    jobs: int = 0  # folds trained at once; 0: one per CPU core with the native engine, else 1
    backend: str = "local"  # where LSTM folds train: local | ray (each fold and seed member a Ray task)
    ray_address: str | None = None  # Ray cluster to join (auto, host:port); None: start Ray on this machine
    # --- walk-forward
    min_train: int = 756  # bars of features before the first test day (3 years)
    retrain_every: int = 126  # test days per fold (6 months)
    train_window: int | None = None  # rolling window in bars; None means expanding
    # --- strategy and costs
    strategy: str = "auto"  # auto: LongFlat for one ticker, TopK for a universe
    threshold: float = 0.0  # predicted return above which LongFlat goes long
    params: Mapping[str, Any] = field(default_factory=dict)  # extra strategy params
    commission: float = 10.0  # basis points of traded value, each side
    slippage: float = 0.0  # basis points added to the fill price against you
    borrow: float = 0.0  # basis points a year on the market value of short positions, charged daily
    borrow_file: str | None = None  # CSV ticker,bps: per-ticker borrow rates (others pay --borrow)
    spread: float | str | None = None  # full bid-ask spread in bps, or "auto" (estimated per ticker); half per fill
    impact: float = 0.0  # K of the square-root impact: cost = K * sigma20 * sqrt(shares / ADV20) of traded value
    max_participation: float | None = None  # an order trades at most this fraction of its bar's volume
    min_commission: float = 0.0  # currency, the least commission of a fill
    capacity: tuple[float, ...] | None = None  # starting capitals to re-run the backtest at (capacity.csv)
    cash: float = 100_000.0
    baselines: tuple[str, ...] = DEFAULT_BASELINES  # forecasters also run and traded for comparison (True: these)
    cache: bool = True  # reuse folds trained before with the same rows and settings
    save_models: bool = False  # also save each fold's trained LSTM in the run folder
    tracking: str = "none"  # none | mlflow: also log each finished run to an experiment tracker

    def __post_init__(self) -> None:
        # baselines=True/False (configs and notebooks from before the list) or "zero,lightgbm": as a tuple
        object.__setattr__(self, "baselines", baseline_names(self.baselines))
        _check(self)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["features"] = list(self.features)
        out["baselines"] = list(self.baselines)
        out["params"] = dict(self.params)
        return out

    @property
    def early_stopping_active(self) -> bool:
        return self.early_stopping and self.val_fraction > 0


FIELD_HELP: dict[str, str] = {
    "data": "CSV file (Date,Open,High,Low,Close[,Adj Close],Volume; any bar size, Date may hold a time) or "
            "sample:TICKER (AAPL, IBM, MSFT, GOOG, FB; EURUSD_1H: hourly FX bars); a universe: a CSV with a Ticker "
            "(or Symbol) column, a folder of one CSV per ticker, or sample:SP500. Parquet files (pip install "
            "\"lstmtrade[parquet]\") in place of any CSV: panel.parquet, a folder of TICKER.parquet or of a panel's parts.",
    "date_format": "Layout of the Date column as a strptime format, e.g. '%d.%m.%Y %H:%M:%S.%f' for "
                   "01.01.2017 22:00:00.000 (day first); times with a UTC offset are converted to UTC.",
    "start": "First date to use, YYYY-MM-DD or YYYY-MM-DD HH:MM.",
    "end": "Last date to use, YYYY-MM-DD (the whole day) or YYYY-MM-DD HH:MM; rows after it are never read.",
    "tickers": "Universe: comma-separated tickers to use (default: all in --data).",
    "strict": "Universe: refuse the run on any data fault (see data_report.csv) instead of repairing rows or "
              "excluding tickers.",
    "benchmark": "Universe: CSV of an index or ETF to buy and hold as the benchmark (default: equal-weight "
                 "buy-and-hold of the tickers used).",
    "periods_per_year": "Bars a year used to annualise Sharpe, CAGR and volatility (metrics, tearsheet, VolTarget); "
                        "default: from the data's bar size and calendar (252 for weekday daily bars, 365 for 7-day "
                        "daily, 6,240 for hourly 24 h x 5 days; 0: detect).",
    "features": "Comma-separated feature names (logret, vol20, range, gap, ret5, volz, rsi14), or alpha: a set of 41 "
                "Alpha158-style price-volume features (docs/features.md); sets and names mix (alpha,gap).",
    "model": "Forecaster: lstm, or a baseline: linear (ridge), persistence, zero, lightgbm (gradient-boosted trees "
             "on the same windows; pip install \"lstmtrade[lightgbm]\"), reversal, momentum.",
    "target": "What the model learns: return (the next open-to-open return) or rank (its cross-sectional "
              "rank that day, centred on 0; universes only).",
    "lookback": "Bars in each LSTM input window.",
    "hidden": "LSTM hidden units.",
    "layers": "Stacked LSTM layers.",
    "dropout": "Dropout between stacked LSTM layers.",
    "loss": "Training loss: mse or huber.",
    "xs_norm": "Universe: normalise each feature across that date's tickers (that date's rows only, so causal): "
               "rank (centred percentile rank x sqrt(12)), zscore, or none (each ticker scaled on its own "
               "training rows). Normalised features are not rescaled per ticker.",
    "epochs": "Most training epochs per fold.",
    "batch_size": "Training batch size.",
    "lr": "Adam learning rate.",
    "early_stopping": "Stop training on a purged validation tail of each training window.",
    "patience": "Epochs without validation improvement before early stopping.",
    "val_fraction": "Share of each training window held out for early stopping.",
    "seed": "Random seed (torch, numpy, random); each fold derives its own from it.",
    "seeds": "Networks trained per fold (a seed ensemble; member m uses seed + m): the forecast traded is their "
             "mean, its uncertainty their standard deviation, and each member is also traded alone to show the "
             "spread a result would have had with another seed. 5 is a good choice for conclusions.",
    "device": "cpu, cuda, or auto: the GPU only where it pays (two or more layers, a wide network, or a pooled "
              "universe; a small one-layer network stays on the CPU's C kernel), and the start-up line says why.",
    "threads": "torch CPU threads, and LightGBM's; 0 keeps torch's default and runs LightGBM on one thread (its "
               "trees may depend on the thread count).",
    "engine": "How LSTM folds are trained: native (C kernel, built on first use), loop (torch), fused (all "
              "folds as one torch computation); auto: native where it builds and fits the network, else loop.",
    "jobs": "Folds trained at once: threads with the native engine, worker processes (one torch thread each) "
            "with loop; 0: one per CPU core with native, 1 with loop. With 2 or more, a large universe's "
            "backtests (strategy, benchmark, baselines) also run that many at once, in worker processes that "
            "each hold a copy of the prices (0: one at a time, in the run's own process).",
    "backend": "Where LSTM folds train: local (this machine: threads or processes, see --jobs) or ray (each fold "
               'and seed member a Ray task; pip install "lstmtrade[ray]"). Forecasts are the same either way.',
    "ray_address": "With --backend ray: the Ray cluster to join, auto or HOST:PORT (`ray start --head` prints it); "
                   "not given: Ray is started on this machine for the run.",
    "min_train": "Bars of features before the first out-of-sample bar (the start-up lines say how long that is).",
    "retrain_every": "Out-of-sample bars per fold: the model is retrained this often.",
    "train_window": "Rolling training window in bars (default: expanding window).",
    "strategy": "Position rule: a built-in name, package.module:Class or path/file.py[:Class]; auto: LongFlat "
                "for one ticker, TopK for a universe.",
    "threshold": "Predicted return above which the default strategy goes long.",
    "params": "Strategy params as name=value.",
    "commission": "Commission in basis points of traded value, per side.",
    "slippage": "Slippage in basis points of price, against each fill.",
    "borrow": "Annual borrow fee in basis points on the market value of short positions, charged daily "
              "(general collateral for large caps is about 25-50 bps; hard-to-borrow names cost far more).",
    "borrow_file": "CSV with columns ticker,bps: a borrow rate per ticker (tickers not listed pay --borrow).",
    "spread": "Bid-ask spread in basis points, half paid on every fill, or auto: estimated per ticker from its "
              "own high/low/close over the 20 bars before each fill (Abdi-Ranaldo).",
    "impact": "Square-root market impact K: each fill pays K x sigma20 x sqrt(shares / ADV20) of its value "
              "(sigma20, ADV20: volatility and mean volume of the 20 bars before it; about 0.1 to 1).",
    "max_participation": "Largest fraction of a bar's volume one order may trade, in (0, 1]; the rest is not "
                         "traded and is reported as unfilled.",
    "min_commission": "Least commission per fill, in currency.",
    "capacity": "Comma-separated starting capitals (1e6,1e7,1e8): re-run the backtest at each, without "
                "retraining, and write capacity.csv (Sharpe, CAGR, volume participation, unfilled).",
    "cash": "Starting cash.",
    "baselines": "Forecasters also run through the same walk-forward and traded by the same strategy, for comparison: "
                 "comma-separated from zero, persistence, linear, lightgbm, reversal (minus the day's return), "
                 "momentum (12-1 months); --no-baselines: none.",
    "cache": "Reuse folds trained before with the same rows and settings (stored under OUT/.cache).",
    "save_models": "Also save each fold's trained LSTM as RUN/folds/fold-NNN.pt (the format `train` writes).",
    "tracking": "Also log each finished run to MLflow (tracking = \"mlflow\" in a config file; needs "
                "pip install \"lstmtrade[mlflow]\"): settings as params, figures as metrics, pages as artifacts, "
                "in an experiment named after the data, at the tracking URI MLflow resolves (MLFLOW_TRACKING_URI, "
                "else its default); a sweep's trials become nested runs.",
}


def _fail(name: str, message: str, value: Any) -> None:
    raise ConfigError(f"--{name.replace('_', '-')} {message} (got {value!r})")


def _check(c: Config) -> None:
    for name in ("lookback", "hidden", "layers", "epochs", "batch_size", "patience", "retrain_every", "min_train",
                 "seeds"):
        value = getattr(c, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            _fail(name, "must be a whole number >= 1", value)
    for name in ("train_window", "periods_per_year"):
        value = getattr(c, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            _fail(name, "must be a whole number >= 1", value)
    if c.date_format is not None and (not isinstance(c.date_format, str) or "%" not in c.date_format):
        _fail("date_format", "must be a strptime format such as '%d.%m.%Y %H:%M'", c.date_format)
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
    for name in ("commission", "slippage", "borrow", "impact", "min_commission"):
        value = getattr(c, name)
        if not _is_number(value) or value < 0:
            _fail(name, "must be a number >= 0", value)
    if c.spread is not None and c.spread != "auto" and not (_is_number(c.spread) and 0 <= c.spread < 10_000):
        _fail("spread", "must be auto or a number of basis points in [0, 10000)", c.spread)
    if c.max_participation is not None and not (_is_number(c.max_participation) and 0 < c.max_participation <= 1):
        _fail("max_participation", "must be a fraction in (0, 1]", c.max_participation)
    if c.capacity is not None and not (c.capacity and all(_is_number(x) and x > 0 for x in c.capacity)):
        _fail("capacity", "must list starting capitals > 0, e.g. 1e6,1e7,1e8", c.capacity)
    if not _is_number(c.threshold):
        _fail("threshold", "must be a number", c.threshold)
    for name, allowed in (("model", MODELS), ("target", TARGETS), ("loss", LOSSES), ("device", DEVICES),
                          ("engine", ENGINES), ("tracking", TRACKING), ("backend", BACKENDS), ("xs_norm", XS_NORMS)):
        value = getattr(c, name)
        if value not in allowed:
            _fail(name, f"must be one of {', '.join(allowed)}", value)
    if c.ray_address is not None and (not isinstance(c.ray_address, str) or not c.ray_address.strip()):
        _fail("ray_address", "must be auto or HOST:PORT", c.ray_address)
    if not c.features or not all(isinstance(f, str) and f for f in c.features):
        _fail("features", "must name at least one feature", c.features)
    if len(set(c.features)) != len(c.features):
        _fail("features", "lists a feature twice", ",".join(c.features))


def baseline_names(value: Any) -> tuple[str, ...]:
    """``baselines`` as a tuple of forecaster names: True is :data:`DEFAULT_BASELINES`, False or "none" none, and
    text is comma-separated. Unknown or repeated names are refused in one line."""
    if value is True:
        return DEFAULT_BASELINES
    if value is False or value is None:
        return ()
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("none", ""):
            return ()
        if text in ("true", "false"):
            return DEFAULT_BASELINES if text == "true" else ()
        value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        _fail("baselines", "must be a comma-separated list of forecasters, true or false", value)
    names = tuple(v.strip().lower() for v in value)
    for name in names:
        if name not in MODELS:
            close = difflib.get_close_matches(name, MODELS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            _fail("baselines", f"has an unknown forecaster '{name}'{hint} (one of {', '.join(MODELS)})", value)
    if len(set(names)) != len(names):
        _fail("baselines", "lists a forecaster twice", ",".join(names))
    return names


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool): NaN and infinity are not settings."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < float("inf")


def check_max_age(max_age_days: Any) -> None:
    """``--max-age`` is a number of days, finite and >= 0 (NaN would let every model through, a negative none)."""
    if not (_is_number(max_age_days) and max_age_days >= 0):
        raise ConfigError(f"--max-age must be a number of days >= 0 (got {max_age_days!r})")


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
    if isinstance(out.get("spread"), str) and out["spread"].strip().lower() != "auto":
        try:
            out["spread"] = float(out["spread"])
        except ValueError:
            _fail("spread", "must be auto or a number of basis points >= 0", out["spread"])
    elif isinstance(out.get("spread"), str):
        out["spread"] = "auto"
    elif isinstance(out.get("spread"), int) and not isinstance(out.get("spread"), bool):
        out["spread"] = float(out["spread"])
    if isinstance(out.get("capacity"), str):
        try:
            out["capacity"] = tuple(dict.fromkeys(float(x) for x in out["capacity"].split(",") if x.strip()))
        except ValueError:
            _fail("capacity", "must list starting capitals > 0, e.g. 1e6,1e7,1e8", out["capacity"])
    elif out.get("capacity") is not None and not isinstance(out.get("capacity"), tuple):
        try:
            out["capacity"] = tuple(float(x) for x in out["capacity"])
        except (TypeError, ValueError):
            _fail("capacity", "must list starting capitals > 0, e.g. 1e6,1e7,1e8", out["capacity"])
    for name in ("data", "start", "end", "benchmark", "date_format", "borrow_file", "ray_address"):
        if name in out and out[name] is not None:
            out[name] = str(out[name])
    if isinstance(out.get("tickers"), str):
        out["tickers"] = tuple(t.strip().upper() for t in out["tickers"].split(",") if t.strip()) or None
    elif out.get("tickers") is not None:
        out["tickers"] = tuple(str(t).strip().upper() for t in out["tickers"]) or None
    for name in ("dropout", "lr", "val_fraction", "threshold", "commission", "slippage", "cash", "borrow", "impact",
                 "min_commission", "max_participation"):
        if isinstance(out.get(name), int) and not isinstance(out.get(name), bool):
            out[name] = float(out[name])
    if out.get("train_window") == 0:
        out["train_window"] = None
    if out.get("periods_per_year") == 0:
        out["periods_per_year"] = None
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
    raw.pop("sweep", None)  # the [sweep] table is read by `lstmtrade sweep` (lstmtrade.sweep.plan.read_sweep_table)
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


# What a setting left unset (None) means: shown as the default in --help, and beside it in config.toml.
UNSET_MEANS = {"data": "sample:MSFT", "start": "first bar", "end": "last bar", "train_window": "expanding",
               "tickers": "all", "benchmark": "buy-and-hold (equal-weight for a universe)",
               "periods_per_year": "from the data",
               "date_format": "ISO 8601", "borrow_file": "none", "spread": "none", "max_participation": "no cap",
               "capacity": "none", "ray_address": "start Ray here (with --backend ray)"}


def to_toml(config: Config) -> str:
    """Every setting as TOML text (what ``config.toml`` in a run folder holds): a setting left unset is a comment
    that says what it meant for the run (``# data: not set, so sample:MSFT``), so the file loads back as is."""
    lines = []
    params = {}
    for key, value in config.to_dict().items():
        if key == "params":
            params = value
            continue
        if value is None:
            lines.append(f"# {key}: not set, so {UNSET_MEANS.get(key, 'none')}")
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


_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def typed_like(text: str, default: Any) -> Any:
    """``text`` as a value of ``default``'s type: bool (true/false, yes/no, 1/0, on/off), int, float or str;
    with a ``None`` default a number when it reads as one, else the text. Raises ValueError otherwise.

    The one conversion behind ``--param name=value`` and ``--grid name=v1,v2``."""
    if isinstance(default, bool):
        low = text.strip().lower()
        if low not in _TRUE | _FALSE:
            raise ValueError(f"not a bool: {text!r}")
        return low in _TRUE
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    if default is None:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
    return text
