"""``Predictions``: the value that flows from the walk-forward to the backtest, and its CSV form.

One row per out-of-sample (date, ticker): the forecast made after that date's close, the realised
target (the open(t+1) -> open(t+2) return the position earns) and the fold whose model made it. A
single-ticker run has no ``ticker`` column (a universe of one writes the same file it always wrote).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .csvio import FLOAT_FORMAT, read_exact_csv, write_exact_csv  # noqa: F401  (FLOAT_FORMAT: importable here)
from .errors import DataError


@dataclass
class Predictions:
    """Out-of-sample predictions.

    ``frame``: index ``date``; columns ``prediction, target, fold`` and, for a universe, ``ticker``
    (rows sorted by date, then ticker).
    """

    frame: pd.DataFrame
    model: str = "lstm"
    folds: list[dict] = field(default_factory=list)  # per-fold dates, epochs and timings
    timings: dict = field(default_factory=dict)  # "train": seconds the run waited for folds to train

    @property
    def prediction(self) -> pd.Series:
        return self.frame["prediction"]

    @property
    def is_universe(self) -> bool:
        return "ticker" in self.frame.columns

    @property
    def tickers(self) -> list[str]:
        return sorted(self.frame["ticker"].unique()) if self.is_universe else []

    def wide(self, column: str = "prediction") -> pd.DataFrame:
        """``column`` as a date x ticker frame (NaN where a ticker has no forecast that day)."""
        if not self.is_universe:
            raise DataError("wide() needs universe predictions (a 'ticker' column)")
        return self.frame.pivot(columns="ticker", values=column).rename_axis(columns=None)

    def to_csv(self, path: str | Path) -> None:
        write_exact_csv(self.frame.reset_index(), path, index=False)

    @classmethod
    def read_csv(cls, path: str | Path) -> "Predictions":
        """Read a ``predictions.csv`` written by a run (columns date[,ticker],prediction,target,fold)."""
        path = Path(path)
        if path.is_dir():
            path = path / "predictions.csv"
        if not path.exists():
            raise DataError(f"predictions file not found: {path}")
        try:
            frame = read_exact_csv(path, ("prediction", "target"), parse_dates=["date"], index_col="date",
                                   dtype={"ticker": str})
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"{path}: not a predictions file ({str(exc).splitlines()[0]})") from None
        missing = {"prediction", "target", "fold"} - set(frame.columns)
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                            "expected date[,ticker],prediction,target,fold")
        if "ticker" in frame.columns:
            keys = pd.MultiIndex.from_arrays([frame.index, frame["ticker"]])
            if keys.has_duplicates or not keys.is_monotonic_increasing:
                raise DataError(f"{path}: (date, ticker) rows must be unique and sorted by date, then ticker")
            return cls(frame[["ticker", "prediction", "target", "fold"]])
        if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
            raise DataError(f"{path}: dates must be unique and increasing")
        return cls(frame[["prediction", "target", "fold"]])
