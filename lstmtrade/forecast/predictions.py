"""``Predictions``: the value that flows from the walk-forward to the backtest, and its CSV form.

One row per out-of-sample (date, ticker): the forecast made after that date's close, the realised
target (the open(t+1) -> open(t+2) return the position earns) and the fold whose model made it. A
single-ticker run has no ``ticker`` column (a universe of one writes the same file it always wrote).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DamagedFileError, DataError, first_line
from ..files import file_sha256, read_exact_csv, write_exact_csv


@dataclass
class Predictions:
    """Out-of-sample predictions.

    ``frame``: index ``date``; columns ``prediction, target, fold`` and, for a universe, ``ticker``
    (rows sorted by date, then ticker). A seed ensemble (``--seeds N``, N > 1) adds ``uncertainty`` (the
    members' standard deviation; ``prediction`` is their mean) and keeps each member's own predictions in
    ``members``: a frame with ``frame``'s index and row order, one column per member (0..N-1), whose
    seeds are ``seeds``. A one-seed run has neither (its files are the ones it always wrote).
    """

    frame: pd.DataFrame
    model: str = "lstm"
    folds: list[dict] = field(default_factory=list)  # per-fold dates, epochs and timings
    timings: dict = field(default_factory=dict)  # "train": seconds the run waited for folds to train
    members: pd.DataFrame | None = None  # one column per seed-ensemble member, rows as in ``frame``
    seeds: list[int] = field(default_factory=list)  # each member's seed

    @property
    def prediction(self) -> pd.Series:
        return self.frame["prediction"]

    @property
    def uncertainty(self) -> pd.Series:
        """The members' standard deviation of each forecast (NaN everywhere without an ensemble)."""
        if "uncertainty" in self.frame.columns:
            return self.frame["uncertainty"]
        return pd.Series(float("nan"), index=self.frame.index, name="uncertainty")

    @property
    def has_uncertainty(self) -> bool:
        return "uncertainty" in self.frame.columns

    @property
    def n_members(self) -> int:
        return 1 if self.members is None else self.members.shape[1]

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

    def member(self, m: int) -> "Predictions":
        """Member ``m`` alone: its own predictions in place of the mean. The ensemble's ``uncertainty``
        column stays, so a rule that sizes by it trades every member with the same uncertainty."""
        if self.members is None:
            raise DataError("member() needs seed-ensemble predictions (--seeds 2 or more)")
        frame = self.frame.assign(prediction=self.members[m].to_numpy())
        folds = [{k: v for k, v in f.items() if k != "members"} for f in self.folds]
        return Predictions(frame, self.model, folds, seeds=[self.seeds[m]] if self.seeds else [])

    def members_frame(self) -> pd.DataFrame:
        """members.csv's rows: ``date[,ticker],member,seed,prediction``, member by member in row order."""
        if self.members is None:
            raise DataError("members_frame() needs seed-ensemble predictions (--seeds 2 or more)")
        keys = self.frame[["ticker"]] if self.is_universe else pd.DataFrame(index=self.frame.index)
        parts = []
        for m in range(self.n_members):
            part = keys.assign(member=m, seed=self.seeds[m] if self.seeds else m,
                               prediction=self.members[m].to_numpy())
            parts.append(part)
        return pd.concat(parts).reset_index()

    def to_csv(self, path: str | Path) -> None:
        write_exact_csv(self.frame.reset_index(), path, index=False)

    def members_to_csv(self, path: str | Path) -> None:
        write_exact_csv(self.members_frame(), path, index=False)

    @classmethod
    def read_csv(cls, path: str | Path) -> "Predictions":
        """Read a ``predictions.csv`` written by a run (columns date[,ticker],prediction[,uncertainty],target,
        fold), and the seed ensemble's ``members.csv`` beside it when there is one."""
        path = Path(path)
        if path.is_dir():
            path = path / "predictions.csv"
        if not path.exists():
            raise DataError(f"predictions file not found: {path}")
        check_recorded(path)
        try:
            frame = read_exact_csv(path, ("prediction", "uncertainty", "target"), parse_dates=["date"],
                                   index_col="date", dtype={"ticker": str})
        except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"{path}: not a predictions file ({first_line(exc)})") from None
        missing = {"prediction", "target", "fold"} - set(frame.columns)
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                            "expected date[,ticker],prediction,target,fold")
        _check_complete(path, frame, ("prediction", "fold"))
        values = ["prediction"] + (["uncertainty"] if "uncertainty" in frame.columns else []) + ["target", "fold"]
        if "ticker" in frame.columns:
            keys = pd.MultiIndex.from_arrays([frame.index, frame["ticker"]])
            if keys.has_duplicates or not keys.is_monotonic_increasing:
                raise DataError(f"{path}: (date, ticker) rows must be unique and sorted by date, then ticker")
            out = cls(frame[["ticker", *values]])
        else:
            if not frame.index.is_monotonic_increasing or frame.index.has_duplicates:
                raise DataError(f"{path}: dates must be unique and increasing")
            out = cls(frame[values])
        beside = path.parent / "members.csv"
        if beside.exists():
            check_recorded(beside)
            out.members, out.seeds = _read_members(beside, out.frame)
        return out


def check_recorded(path: Path) -> None:
    """Refuse a file whose run recorded its sha256 (metrics.json's ``files``) and that no longer matches it: cut
    short, edited or damaged since. A file without a record (an unfinished run, a file of your own) passes."""
    try:
        recorded = json.loads((path.parent / "metrics.json").read_text(encoding="utf-8"))["files"][path.name]
        rows, sha = int(recorded["rows"]), str(recorded["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if file_sha256(path) != sha:
        with open(path, "rb") as handle:
            now = max(0, sum(1 for _ in handle) - 1)
        raise DamagedFileError(
            f"{path}: not the file its run wrote (it holds {now:,} rows where the run wrote {rows:,}, and its sha256 "
            "differs from the one in metrics.json): cut short, edited or damaged; rerun that run, or copy the file "
            "out of the run folder to backtest it as your own")


def _check_complete(path: Path, frame: pd.DataFrame, needed: tuple[str, ...]) -> None:
    """Every row holds its prediction and a whole fold number (a cut last line lacks them)."""
    for column in needed:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
        bad = ~np.isfinite(values) | ((values != np.round(values)) if column == "fold" else False)
        if bad.any():
            i = int(np.argmax(bad))
            raise DamagedFileError(f"{path}: line {i + 2} has no valid {column} (the file is cut short or damaged); "
                                   "rerun the run that wrote it")


def _read_members(path: Path, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """members.csv as a frame aligned with ``frame``'s rows (one column per member) and the seeds."""
    try:
        long = read_exact_csv(path, ("prediction",), parse_dates=["date"], dtype={"ticker": str})
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: not a members file ({first_line(exc)})") from None
    if {"date", "member", "prediction"} - set(long.columns):
        raise DataError(f"{path}: expected columns date[,ticker],member,seed,prediction")
    universe = "ticker" in frame.columns
    keys = [frame.index, frame["ticker"]] if universe else [frame.index]
    wanted = pd.MultiIndex.from_arrays(keys) if universe else pd.Index(frame.index)
    columns, seeds = {}, []
    for m, part in long.groupby("member", sort=True):
        index = pd.MultiIndex.from_arrays([part["date"], part["ticker"]]) if universe else pd.Index(part["date"])
        if len(index) != len(wanted) or not index.equals(wanted):
            raise DataError(f"{path}: member {m}'s rows do not match predictions.csv's")
        columns[int(m)] = part["prediction"].to_numpy()
        seeds.append(int(part["seed"].iloc[0]) if "seed" in part.columns else int(m))
    if sorted(columns) != list(range(len(columns))):
        raise DataError(f"{path}: members must be numbered 0..N-1")
    members = pd.DataFrame(columns, index=frame.index)
    members.columns = pd.RangeIndex(len(columns), name="member")
    return members, seeds
