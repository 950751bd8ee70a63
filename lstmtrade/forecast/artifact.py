"""One self-describing model file: the trained LSTM's weights plus everything needed to use them.

Format: ``torch.save`` of a plain dict holding only strings and tensors::

    {"format": "lstmtrade-model", "format_version": "1",
     "metadata": "<JSON text>", "metadata_sha256": "<hex>",
     "weights": {"lstm.weight_ih_l0": tensor, ...}}

A seed ensemble (``--seeds N``) is format version 2: the same dict with each member's tensors named
``member<m>.lstm.weight_ih_l0`` and a ``members`` list (member, seed) in the metadata; the members
share the scaler and target standardisation. One-seed files stay version 1.

A universe's pooled model is format version 3: one network (or, with a ``members`` list, one per seed
under ``member<m>.``) and, instead of one ``scaler``, a ``scalers`` table holding each ticker's feature
scaler (fit on that ticker's training rows), plus the universe's tickers and the screening decisions
(``data.report``: status and issue per ticker) made when it was trained. Versions 1 and 2 stay readable.

It is read back with ``torch.load(path, weights_only=True, map_location="cpu")``: a file whose pickle
would build any other Python object (and so could run code) is refused before anything runs. The
metadata holds the format name and version, the full config, the feature list, the feature scaler,
the target standardisation, the lookback, the training data's last date, sha256 and source, library
versions, the creation time and a sha256 over the weight tensors; both checksums are verified at load.
The checksums catch damage and careless edits; they are not a signature (anyone can recompute them).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import Config, make_config
from ..data.prices import COLUMNS, PriceData
from ..errors import ConfigError, DataError, LstmtradeError, ModelFileError, first_line
from ..features import StandardScaler, build_features, check_features
from ..files import atomic_write
from ..formatting import stamp

FORMAT_NAME = "lstmtrade-model"
FORMAT_VERSION = 1  # one network (what every one-seed model file is, and always was)
ENSEMBLE_FORMAT_VERSION = 2  # a seed ensemble: members' weights as "member<m>.<name>", "members" in the metadata
UNIVERSE_FORMAT_VERSION = 3  # a universe's pooled model: per-ticker "scalers", members optional
READABLE_VERSIONS = (FORMAT_VERSION, ENSEMBLE_FORMAT_VERSION, UNIVERSE_FORMAT_VERSION)


# ----------------------------------------------------------------------------------------- saving
def weights_sha256(weights: dict[str, Any]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(weights):
        tensor = weights[name].detach().cpu().contiguous()
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(f"{tensor.dtype}|{tuple(tensor.shape)}".encode("ascii") + b"\0")
        digest.update(tensor.numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _versions() -> dict[str, str]:
    import torch

    from .. import __version__

    return {"lstmtrade": __version__, "torch": torch.__version__, "pandas": pd.__version__,
            "numpy": np.__version__}


def _day(value: Any) -> str:
    return stamp(pd.Timestamp(value))


def data_summary(prices: Any) -> dict[str, Any]:
    """What a model file records about its training data: one ticker's PriceData, or a Universe (its tickers and
    screening decisions too)."""
    if hasattr(prices, "frame"):
        index = prices.frame.index
        out = {"sha256": prices.sha256, "source": prices.source, "name": prices.name}
    else:
        index = prices.calendar
        report = prices.report.astype(object).where(prices.report.notna(), None)
        out = {"sha256": prices.sha256, "source": prices.source, "name": prices.name, "tickers": list(prices.tickers),
               "report": [{k: (_day(v) if isinstance(v, pd.Timestamp) else v) for k, v in row.items()}
                          for row in report.to_dict("records")]}
    out.update(first_date=_day(index[0]), last_date=_day(index[-1]), rows=len(index), bar=prices.bars.label,
               periods_per_year=prices.bars.periods_per_year)
    return out


def build_metadata(fitted: Any, config: Config, prices: Any, train_end: Any,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The metadata dict of a model file (without the weights checksum, added by :func:`save_model`);
    ``prices`` is one ticker's PriceData or a Universe (a format version 3 file)."""
    n_features = int(len(fitted.scaler.mean_))
    seeds = getattr(fitted, "seeds", None)  # a FittedEnsemble's
    universe = not hasattr(prices, "frame")
    version = UNIVERSE_FORMAT_VERSION if universe else FORMAT_VERSION if seeds is None else ENSEMBLE_FORMAT_VERSION
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": version,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "config": config.to_dict(),
        "features": list(config.features),
        "architecture": {"kind": "LSTMRegressor", "n_features": n_features, "hidden": config.hidden,
                         "layers": config.layers, "dropout": config.dropout},
        "lookback": int(fitted.lookback),
        "y_mean": float(fitted.y_mean),
        "y_std": float(fitted.y_std),
        "train_end": _day(train_end),
        "data": data_summary(prices),
    }
    if universe:
        meta["scalers"] = {ticker: _scaler_dict(scaler) for ticker, scaler in sorted(fitted.scalers.items())}
    else:
        meta["scaler"] = _scaler_dict(fitted.scaler)
    if seeds is not None:
        meta["members"] = [{"member": m, "seed": int(seed)} for m, seed in enumerate(seeds)]
    if extra:
        meta.update(extra)
    return meta


def _scaler_dict(scaler: StandardScaler) -> dict[str, list[float]]:
    return {"mean": [float(v) for v in scaler.mean_], "scale": [float(v) for v in scaler.scale_]}


def _state(fitted: Any) -> dict[str, Any]:
    """The tensors to save: one net's state dict, or each ensemble member's under ``member<m>.``."""
    nets = [m.net for m in fitted.members] if hasattr(fitted, "members") else [fitted.net]
    prefix = (lambda m: f"member{m}.") if hasattr(fitted, "members") else (lambda m: "")
    return {prefix(m) + name: tensor.detach().cpu().clone().contiguous()
            for m, net in enumerate(nets) for name, tensor in net.state_dict().items()}


def save_model(path: str | Path, fitted: Any, config: Config, prices: Any, train_end: Any,
               extra: dict[str, Any] | None = None) -> Path:
    """Write ``fitted`` (a :class:`~lstmtrade.forecast.lstm.FittedFold`, or a seed ensemble's
    :class:`~lstmtrade.forecast.ensemble.FittedEnsemble`) and its metadata to ``path`` atomically."""
    import torch

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--model-out {path} is a folder; give a file name such as model.pt")
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create folder {path.parent}: {exc.strerror or exc}") from None
    weights = _state(fitted)
    meta = build_metadata(fitted, config, prices, train_end, extra)
    meta["weights_sha256"] = weights_sha256(weights)
    text = json.dumps(meta, sort_keys=True, allow_nan=False)
    payload = {"format": FORMAT_NAME, "format_version": str(meta["format_version"]), "metadata": text,
               "metadata_sha256": _text_sha256(text), "weights": weights}
    atomic_write(path, lambda tmp: torch.save(payload, tmp))  # a refused write: WriteError, one line
    return path


# ---------------------------------------------------------------------------------------- loading
@dataclass
class LoadedModel:
    """A model read back from a file (or wrapped in memory): config, metadata and a ready FittedFold."""

    path: Path | None
    metadata: dict[str, Any]
    config: Config
    fitted: Any  # FittedFold (history is None for a loaded model)
    warnings: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return list(self.metadata["features"])

    @property
    def is_universe(self) -> bool:
        """A universe's pooled model (format version 3): one scaler per ticker."""
        return str(self.metadata.get("format_version")) == str(UNIVERSE_FORMAT_VERSION)

    @property
    def tickers(self) -> list[str]:
        """The tickers the model has a scaler for, so can forecast (a universe model's; [] for one ticker's)."""
        return sorted(self.fitted.scalers) if self.is_universe else []

    @property
    def lookback(self) -> int:
        return int(self.metadata["lookback"])

    @property
    def bar(self) -> str:
        """The bar size the model was trained on (``1h``, ``1d``); models saved before bar sizes were recorded
        were trained on daily bars."""
        return str(self.metadata.get("data", {}).get("bar", "1d"))

    @property
    def train_end(self) -> pd.Timestamp:
        return pd.Timestamp(self.metadata["train_end"])

    @property
    def created_at(self) -> _dt.datetime:
        return _dt.datetime.fromisoformat(self.metadata["created_at"])

    def age_days(self, now: _dt.datetime | None = None) -> float:
        now = now or _dt.datetime.now(_dt.timezone.utc)
        created = self.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=_dt.timezone.utc)
        return (now - created).total_seconds() / 86400.0

    def feature_matrix(self, prices: PriceData) -> np.ndarray:
        """The model's raw features for every row of ``prices``, after checking the data fits the model."""
        if self.is_universe:
            raise DataError(f"{prices.source}: one ticker's data, but the model was trained on a universe of "
                            f"{len(self.tickers)} tickers ({self.metadata['data'].get('source')}); give a panel")
        check_bar_size(prices, self.bar)
        missing = [c for c in COLUMNS if c not in prices.frame.columns]
        if missing:
            raise DataError(f"{prices.source}: columns don't match the model: missing {', '.join(missing)} "
                            f"(the model's features {', '.join(self.features)} need {', '.join(COLUMNS)})")
        return build_features(prices.frame, self.features).to_numpy()

    def predict_rows(self, prices: PriceData, rows: Any) -> np.ndarray:
        """Predictions for bar positions ``rows`` (each made after that bar's close)."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.fitted.predict(self._checked_features(prices, rows), rows)

    def _checked_features(self, prices: PriceData, rows: np.ndarray) -> np.ndarray:
        """:meth:`feature_matrix`, refusing rows without ``lookback`` bars of complete features ending there."""
        x = self.feature_matrix(prices)
        lookback = self.lookback
        for row in rows:
            window = x[row - lookback + 1: row + 1] if row - lookback + 1 >= 0 else None
            if window is None or not np.isfinite(window).all():
                raise DataError(
                    f"{prices.source}: the model's features ({', '.join(self.features)}) cannot be computed "
                    f"for {stamp(prices.frame.index[row])}: it needs {lookback} bars of complete features "
                    f"ending there (more history, and no constant or missing prices)")
        return x

    def predict_last(self, prices: PriceData) -> tuple[pd.Timestamp, float]:
        """(last date, prediction made after that date's close)."""
        last = len(prices.frame) - 1
        return prices.frame.index[last], float(self.predict_rows(prices, [last])[0])

    @property
    def seeds(self) -> list[int]:
        """Each member's seed (one entry for a one-seed model)."""
        members = self.metadata.get("members")
        return [int(m["seed"]) for m in members] if members else [int(self.config.seed)]

    def predict_members_last(self, prices: PriceData) -> np.ndarray:
        """Each member's prediction for the last date (one value for a one-seed model)."""
        last = len(prices.frame) - 1
        x = self._checked_features(prices, np.array([last]))  # the same checks of the data as predict_last
        if hasattr(self.fitted, "predict_members"):
            return self.fitted.predict_members(x, [last])[:, 0]
        return self.fitted.predict(x, [last])


def check_bar_size(prices: Any, bar: str = "1d") -> None:
    """Refuse bars of another size than the model's (``bar``: ``1d``, ``1h``): its features count bars.
    ``prices``: one ticker's PriceData or a Universe (its union calendar)."""
    if len(prices) < 3:
        return
    found = prices.bars
    if found.label != bar:
        wanted = {"1d": "daily", "1h": "hourly"}.get(bar, bar)
        raise DataError(f"{prices.source}: the data is not {wanted}: its bars are {found.label} ({found.name}), but "
                        f"the model was trained on {bar} bars; give data of the model's bar size")


def _first_sentence(exc: BaseException, limit: int = 160) -> str:
    """An exception's first sentence, whole, for a one-line message (never cut in mid-sentence)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    sentence = text.split(". ")[0].rstrip(".")
    return sentence if len(sentence) <= limit else type(exc).__name__


def _refuse(path: Path, why: str) -> ModelFileError:
    return ModelFileError(f"{path}: {why}")


def load_model(path: str | Path) -> LoadedModel:
    """Read, check and rebuild a model file; any problem is one :class:`ModelFileError` line."""
    import pickle

    import torch

    path = Path(path)
    if not path.exists():
        raise _refuse(path, "model file not found")
    if not path.is_file():
        raise _refuse(path, "not a file (give the .pt file that lstmtrade train --model-out wrote)")
    if path.stat().st_size == 0:
        raise _refuse(path, "the model file is empty (0 bytes): damaged, or cut short while it was copied")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of files it then refuses anyway
            warnings.simplefilter("ignore", UserWarning)
            raw = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "unsupported global" in str(exc).lower():
            raise _refuse(path, "refused: the file holds Python objects other than tensors and strings "
                                "(not an lstmtrade model; loading it could run code)") from None
        raise _refuse(path, f"not a torch model file ({_first_sentence(exc) or 'unreadable pickle'})") from None
    except Exception as exc:  # noqa: BLE001 - a zip error, a truncated file, a legacy format...
        if "central directory" in str(exc) or (isinstance(exc, (EOFError, RuntimeError)) and "zip" in str(exc)):
            raise _refuse(path, "damaged or truncated model file (its zip archive is incomplete); copy it again "
                                "or retrain with `lstmtrade train`") from None
        raise _refuse(path, f"not a torch model file, or a damaged one ({_first_sentence(exc)})") from None
    if not isinstance(raw, dict) or "format" not in raw:
        raise _refuse(path, "not an lstmtrade model file (no format marker)")
    if raw.get("format") != FORMAT_NAME:
        raise _refuse(path, f"not an lstmtrade model file (format {str(raw.get('format'))[:60]!r})")
    version = str(raw.get("format_version", ""))
    if version not in {str(v) for v in READABLE_VERSIONS}:
        raise _refuse(path, f"incompatible model format version {version[:20] or '(none)'}; this lstmtrade "
                            f"reads versions {' and '.join(map(str, READABLE_VERSIONS))}: retrain with "
                            "`lstmtrade train`")
    text, weights = raw.get("metadata"), raw.get("weights")
    if not isinstance(text, str) or not isinstance(weights, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        raise _refuse(path, "damaged model file (metadata or weights missing)")
    if raw.get("metadata_sha256") != _text_sha256(text):
        raise _refuse(path, "checksum mismatch in the metadata (the file was modified or damaged)")
    try:
        meta = json.loads(text)
    except ValueError:
        raise _refuse(path, "damaged model file (metadata is not JSON)") from None
    if not isinstance(meta, dict):
        raise _refuse(path, "damaged model file (metadata is not a JSON object)")
    if meta.get("weights_sha256") != weights_sha256(weights):
        raise _refuse(path, "checksum mismatch in the weights (the file was modified or damaged)")
    try:
        model = _rebuild(meta, weights)
    except (KeyError, TypeError, ValueError, RuntimeError, LstmtradeError) as exc:
        first = first_line(exc)
        raise _refuse(path, f"damaged or incompatible model file ({first[:200]})") from None
    model.path = path
    return model


def _rebuild(meta: dict[str, Any], weights: dict[str, Any]) -> LoadedModel:
    from .lstm import FittedFold
    from .model import LSTMRegressor

    try:
        config = make_config(**meta["config"])
    except ConfigError as exc:
        raise ValueError(f"its config is not valid here: {exc}") from None
    check_features(meta["features"])
    arch = meta["architecture"]

    def network(state: dict[str, Any]):
        net = LSTMRegressor(int(arch["n_features"]), int(arch["hidden"]), int(arch["layers"]), float(arch["dropout"]))
        net.load_state_dict(state, strict=True)
        return net.eval()

    members = meta.get("members")
    version = str(meta.get("format_version"))
    if version == str(ENSEMBLE_FORMAT_VERSION) or (version == str(UNIVERSE_FORMAT_VERSION) and members):
        if not members:
            raise ValueError("an ensemble file without members")
        nets = []
        for m in range(len(members)):
            prefix = f"member{m}."
            nets.append(network({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}))
        if sum(len(n.state_dict()) for n in nets) != len(weights):
            raise ValueError("weights that belong to no member")
    else:
        nets = [network(weights)]
    tables = meta["scalers"] if version == str(UNIVERSE_FORMAT_VERSION) else {"": meta["scaler"]}
    if not tables:
        raise ValueError("a universe model without scalers")
    scalers = {}
    for ticker, table in tables.items():
        scaler = scalers[ticker] = StandardScaler()
        scaler.mean_ = np.asarray(table["mean"], dtype="float64")
        scaler.scale_ = np.asarray(table["scale"], dtype="float64")
        if len(scaler.mean_) != int(arch["n_features"]) or len(scaler.scale_) != int(arch["n_features"]):
            raise ValueError("feature count does not match the weights")
    if len(meta["features"]) != int(arch["n_features"]):
        raise ValueError("feature count does not match the weights")
    y_mean, y_std = float(meta["y_mean"]), float(meta["y_std"])
    if not (math.isfinite(y_mean) and math.isfinite(y_std)):
        raise ValueError("target scale is not finite")
    first = next(iter(scalers.values()))
    per_ticker = scalers if version == str(UNIVERSE_FORMAT_VERSION) else {}
    fitted = [FittedFold(net, first, y_mean, y_std, int(meta["lookback"]), None, dict(per_ticker)) for net in nets]
    if len(nets) == 1 and not members:
        return LoadedModel(None, meta, config, fitted[0])
    from .ensemble import FittedEnsemble

    return LoadedModel(None, meta, config, FittedEnsemble(fitted, [int(m["seed"]) for m in members]))
