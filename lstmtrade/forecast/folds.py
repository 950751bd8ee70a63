"""A fold's rows: each ticker's history on the calendar, and what one fold's forecaster may see.

The folds are laid on the **calendar** (for one ticker its own bars; for a universe the union of every
ticker's sessions), anchored at the first date (see :mod:`lstmtrade.splits`). Each ticker then takes
the rows of its own history that fall in each range, with the timing rule applied per ticker:

- a row trains only if its window lies in the ticker's own rows after feature warm-up, and its label
  (which needs the ticker's open two of *its own* bars later) is known before the range's purge ends,
  so a ticker with a missing session never leaks a label into the test range;
- a ticker is predicted in a fold only if it has at least ``MIN_TICKER_ROWS`` training rows there (its
  scaler, :func:`fit_scaler`, is fit on them); until then it has no forecast (and a strategy does not trade it);
- with ``target="rank"`` the label is the cross-sectional rank of the target on its date, among the
  tickers whose target is known two calendar bars later (so a rank never waits on a late label);
- with ``xs_norm`` (a universe) each feature is normalised across the tickers that have a bar on each date,
  from that date's rows only (:mod:`lstmtrade.features.xsnorm`); such features are not rescaled per ticker.

Each piece also carries the ticker's raw close, for the rule baselines (reversal, momentum) that need prices
rather than scaled features; it is not a feature, so the LSTM's inputs and the fold cache's keys ignore it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..config import Config
from ..errors import ConfigError
from ..features import LABEL_REACH, StandardScaler, build_features_many, build_target, cross_sectional
from ..formatting import stamper
from ..splits import MIN_FIT_ROWS, Fold

MIN_TICKER_ROWS = MIN_FIT_ROWS  # training rows a ticker needs in a fold before that fold predicts it


@dataclass
class Piece:
    """One ticker's share of a fold: its rows up to the end of its test range, nothing later.

    ``fit``, ``val`` and ``test`` are positions in this ticker's own rows (a ticker with missing
    sessions has fewer rows than the calendar); ``label`` is what the network is trained to predict
    (the target, or its cross-sectional rank), NaN where not known.
    """

    ticker: str
    features: np.ndarray  # (rows, F) raw features
    target: np.ndarray  # (rows,) open(t+1) -> open(t+2) return; NaN where unknown
    label: np.ndarray  # (rows,) training label
    fit: range
    val: range
    test: range
    close: np.ndarray | None = None  # (rows,) raw close, for rules on prices; None where not given
    normalised: bool = False  # features normalised across tickers already: no per-ticker scaling


@dataclass
class FoldData:
    """What one fold's forecaster may see. Built with ``pieces`` for a universe; for one ticker,
    ``FoldData(fold, features, target, lookback)`` makes the single piece from the fold's own rows."""

    fold: Fold
    features: np.ndarray | None = None
    target: np.ndarray | None = None
    lookback: int = 1
    pieces: list[Piece] = field(default_factory=list)
    close: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.pieces:
            f = self.fold
            self.pieces = [Piece("", self.features, self.target, self.target, f.fit, f.val, f.test, self.close)]

    @property
    def n_test(self) -> int:
        return sum(len(p.test) for p in self.pieces)

    @property
    def n_fit(self) -> int:
        return sum(len(p.fit) for p in self.pieces)


def rows_of(span: range) -> np.ndarray:
    """A range of rows as an integer index array (an empty range too)."""
    return np.arange(span.start, span.stop, dtype=np.int64)


def fit_scaler(piece: Piece, lookback: int) -> StandardScaler:
    """Fit on the rows that the ticker's training windows touch, only (features normalised across tickers
    are already on one scale: left as they are)."""
    if piece.normalised:
        return StandardScaler.identity(piece.features.shape[1])
    return StandardScaler().fit(piece.features[piece.fit.start - lookback + 1: piece.fit.stop])


@dataclass
class TickerSeries:
    """One ticker's whole history, computed once: features, target, label, calendar positions."""

    ticker: str
    index: pd.DatetimeIndex
    features: np.ndarray
    target: np.ndarray
    label: np.ndarray
    pos: np.ndarray  # calendar position of each row
    label_pos: np.ndarray  # calendar position at which each row's label is known (inf: not yet)
    close: np.ndarray | None = None  # raw close of each row
    normalised: bool = False  # features normalised across tickers (xs_norm)


def frames_of(prices: Any) -> tuple[dict[str, pd.DataFrame], bool]:
    """``{ticker: OHLCV frame}`` and whether it is a universe: a PriceData is a universe of one."""
    if hasattr(prices, "frame"):
        return {"": prices.frame}, False
    mapping = prices.prices if hasattr(prices, "prices") else prices
    return {t: (p.frame if hasattr(p, "frame") else p) for t, p in sorted(mapping.items())}, True


def calendar_of(frames: Mapping[str, pd.DataFrame]) -> pd.DatetimeIndex:
    index = None
    for frame in frames.values():
        index = frame.index if index is None else index.union(frame.index)
    return pd.DatetimeIndex(index, name="date")


def ticker_series(frames: Mapping[str, pd.DataFrame], calendar: pd.DatetimeIndex, config: Config,
            universe: bool) -> list[TickerSeries]:
    check_needs_universe(config, universe)
    matrices = build_features_many(dict(frames), config.features)
    out = []
    for ticker, frame in frames.items():
        feats = matrices[ticker]
        target = build_target(frame).to_numpy()
        pos = calendar.get_indexer(frame.index)
        label_pos = np.full(len(pos), np.inf)
        label_pos[: max(len(pos) - LABEL_REACH, 0)] = pos[LABEL_REACH:]
        out.append(TickerSeries(ticker, frame.index, feats, target, target, pos, label_pos,
                                frame["close"].to_numpy(dtype="float64")))
    if config.xs_norm != "none":
        _normalise_across(out, len(calendar), config.xs_norm)
    if config.target == "rank":
        _rank_labels(out, len(calendar))
    return out


def check_needs_universe(config: Config, universe: bool) -> None:
    """Refuse, on one ticker, the settings that work across the tickers of a date."""
    if universe:
        return
    if config.target == "rank":
        raise ConfigError("--target rank ranks each day's targets across tickers: it needs a universe "
                          "(--data with several tickers)")
    if config.xs_norm != "none":
        raise ConfigError(f"--xs-norm {config.xs_norm} normalises each feature across the tickers of a date: "
                          "it needs a universe (--data with several tickers)")


@dataclass
class PanelRows:
    """Every ticker's series on the calendar, computed once and shared by a run's forecasters (the LSTM and
    each baseline read the same features, target and labels; only ``features`` and ``target`` change them)."""

    calendar: pd.DatetimeIndex
    universe: bool
    series: list[TickerSeries]
    key: tuple  # (features, target, xs_norm) they were computed for


def panel_rows(prices: Any, config: Config) -> PanelRows:
    """:class:`PanelRows` of ``prices`` (a PriceData, a Universe or a ``{ticker: PriceData}`` mapping)."""
    frames, universe = frames_of(prices)
    calendar = calendar_of(frames)
    return PanelRows(calendar, universe, ticker_series(frames, calendar, config, universe),
                     rows_key(config))


def rows_key(config: Config) -> tuple:
    """What :class:`PanelRows` depend on: the features, the target, and their cross-sectional normalisation."""
    return tuple(config.features), config.target, config.xs_norm


def _normalise_across(series: list[TickerSeries], n_dates: int, how: str) -> None:
    """Replace each ticker's features by their cross-sectional normalisation on each of its dates."""
    n_features = series[0].features.shape[1] if series else 0
    wide = np.full((n_dates, len(series), n_features), np.nan)
    for j, s in enumerate(series):
        wide[s.pos, j, :] = s.features
    wide = cross_sectional(wide, how)
    for j, s in enumerate(series):
        s.features = np.ascontiguousarray(wide[s.pos, j, :])
        s.normalised = True


def _rank_labels(series: list[TickerSeries], n_dates: int) -> None:
    """Label = the target's cross-sectional percentile rank on its date, centred on 0 (in [-0.5, 0.5])."""
    wide = np.full((n_dates, len(series)), np.nan)
    for j, s in enumerate(series):
        on_time = s.label_pos == s.pos + LABEL_REACH  # known two calendar bars later, as for every ticker
        wide[s.pos[on_time], j] = s.target[on_time]
    ranks = pd.DataFrame(wide).rank(axis=1, pct=True).to_numpy()
    counts = np.isfinite(wide).sum(axis=1, keepdims=True)
    centred = np.where(counts > 1, ranks - 0.5 * (1 + 1 / np.maximum(counts, 1)), np.nan)
    for j, s in enumerate(series):
        s.label = centred[s.pos, j]


def ticker_rows(s: TickerSeries, span: range, first: int, training: bool) -> range:
    lo = max(int(np.searchsorted(s.pos, span.start)), first)
    hi = int(np.searchsorted(s.pos, span.stop))
    if training:  # only rows whose label is known before the purge after this range ends
        hi = min(hi, int(np.searchsorted(s.label_pos, span.stop + LABEL_REACH)))
    return range(lo, max(lo, hi))


def fold_pieces(fold: Fold, series: list[TickerSeries], first: int) -> list[Piece]:
    """Each ticker's rows for ``fold`` (tickers with too few training rows left out)."""
    pieces = []
    for s in series:
        fit, val = ticker_rows(s, fold.fit, first, True), ticker_rows(s, fold.val, first, True)
        test = ticker_rows(s, fold.test, first, False)
        if len(fit) < MIN_TICKER_ROWS:
            continue
        stop = max(test.stop, (val or fit).stop)
        label = s.label[:stop]
        train = np.r_[rows_of(fit), rows_of(val)]
        if not np.isfinite(label[train]).all():
            # a rank label is missing where the ticker lacked a session within two bars: train on it as
            # the middle rank (no information) rather than leak a later label into the ranking
            label = label.copy()
            label[train[~np.isfinite(label[train])]] = 0.0
        close = s.close[:stop] if s.close is not None else None
        pieces.append(Piece(s.ticker, s.features[:stop], s.target[:stop], label, fit, val, test, close, s.normalised))
    return pieces


def fold_dates(index: pd.DatetimeIndex, fold: Fold) -> dict[str, Any]:
    show = stamper(index)
    day = lambda i: show(index[i])  # noqa: E731
    out = {"fit_start": day(fold.fit.start), "fit_end": day(fold.fit.stop - 1),
           "test_start": day(fold.test.start), "test_end": day(fold.test.stop - 1),
           "n_fit": len(fold.fit), "n_val": len(fold.val), "n_test": len(fold.test)}
    if len(fold.val):
        out.update(val_start=day(fold.val.start), val_end=day(fold.val.stop - 1))
    return out
