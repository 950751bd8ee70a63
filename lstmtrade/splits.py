"""Walk-forward splits, anchored at the first bar.

One fold per ``retrain_every`` out-of-sample days. ``s0 = first_row + min_train`` is the first test day,
where ``first_row`` is the first bar whose features are all defined. Rows are bar positions::

    bars   0 ........ first_row ........................ s0 ............ s1 ............ s2 ....
    fold 0           [ fit ............ ]pp[ val ]pp  [ test 0       )
    fold 1           [ fit ........................ ]pp[ val ]pp      [ test 1       )
    fold 2           [ fit ........................................ ]pp[ val ]pp  [ test 2  ...
                     ^ expanding window (rolling: only the last train_window rows before the gap)

    pp = purge of LABEL_REACH (2) rows: the target of row t needs the open of t+2, so a training row's
         label is known before the first test day's close, and fit labels never overlap validation rows.
    val = the last ``val_fraction`` of the training rows, used only for early stopping.

Every out-of-sample day belongs to exactly one fold's test range, and that fold's model was trained on
rows that end ``LABEL_REACH + 1`` rows before the test range. Fold boundaries depend only on the first
bar and the settings, never on the last bar, so appending data after day T leaves every fold that
starts at or before T (and every prediction for a day <= T) unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import ConfigError, DataError
from .features import LABEL_REACH

MIN_FIT_ROWS = 20  # fewer training samples than this is not a model


@dataclass(frozen=True)
class Fold:
    index: int  # 0, 1, ...: position in the walk-forward (seeds, cache keys)
    fit: range  # rows whose windows and labels train the model
    val: range  # purged validation tail for early stopping (empty when not used)
    test: range  # out-of-sample days this fold's model predicts

    @property
    def number(self) -> int:
        """The fold as users see it, counted from 1: the console, predictions.csv, folds/fold-NNN.csv, the pages."""
        return self.index + 1

    @property
    def train(self) -> range:
        """Every row the fold learns from (fit and validation), for the scaler and for caching."""
        return range(self.fit.start, (self.val or self.fit).stop)


@dataclass(frozen=True)
class WalkForward:
    """Expanding (default) or rolling walk-forward splitter; see the module docstring for the picture."""

    min_train: int = 756
    retrain_every: int = 126
    train_window: int | None = None
    lookback: int = 1
    val_fraction: float = 0.0
    purge: int = LABEL_REACH

    def split(self, n_bars: int, first_row: int = 0) -> list[Fold]:
        """Validate the settings against ``n_bars`` and return the folds."""
        s0 = first_row + self.min_train
        first_fit = first_row + self.lookback - 1
        needed = s0 + 1
        if n_bars < needed:
            raise DataError(
                f"too little history: {n_bars} bars, but {needed} are needed "
                f"({first_row} warm-up + {self.min_train} --min-train + 1 test day){self.suggestion(n_bars, first_row)}")
        if self.train_window is not None and self.train_window < MIN_FIT_ROWS + 2 * self.purge:
            raise ConfigError(f"--train-window must be at least {MIN_FIT_ROWS + 2 * self.purge} "
                              f"(got {self.train_window})")
        folds = [self.fold_at(k, start, first_fit, n_bars)
                 for k, start in enumerate(range(s0, n_bars, self.retrain_every))]
        return folds

    def suggestion(self, n_bars: int, first_row: int) -> str:
        """For data too short for these settings: smaller ``--min-train`` and ``--retrain-every`` that fit it (about
        three fifths of the usable bars to train first, then four folds), checked by splitting with them; "" when
        even those leave too few training rows. Few bars make a weak test: the message says so."""
        usable = n_bars - first_row
        min_train = usable * 3 // 5
        retrain = max(1, (usable - min_train) // 4)
        trial = replace(self, min_train=min_train, retrain_every=retrain,
                        train_window=None if self.train_window is None else min(self.train_window, min_train))
        try:
            folds = trial.split(n_bars, first_row)
        except (ConfigError, DataError):
            return ""
        if not folds or min(len(f.fit) for f in folds) < MIN_FIT_ROWS:
            return ""
        window = "" if self.train_window is None else f" --train-window {trial.train_window}"
        return (f"; with {n_bars} bars try --min-train {min_train} --retrain-every {retrain}{window} "
                f"({len(folds)} folds, {usable - min_train} days out of sample: a short, noisy test)")

    def fold_at(self, k: int, start: int, first_fit: int, n_bars: int) -> Fold:
        """Fold ``k`` whose first test row is ``start`` (training rows from ``first_fit`` on); ``split`` uses
        it for every scheduled fold and ``signal`` for a fold ending at the last bar."""
        test = range(start, min(start + self.retrain_every, n_bars))
        end = start - self.purge  # exclusive end of the training rows
        lo = first_fit if self.train_window is None else max(first_fit, end - self.train_window)
        n_train = end - lo
        if self.val_fraction > 0:
            n_val = max(1, int(round(self.val_fraction * n_train)))
            val = range(end - n_val, end)
            fit = range(lo, val.start - self.purge)
        else:
            val, fit = range(end, end), range(lo, end)
        if len(fit) < MIN_FIT_ROWS:
            raise ConfigError(
                f"fold {k} would train on {max(len(fit), 0)} rows (fewer than {MIN_FIT_ROWS}): raise "
                f"--min-train (now {self.min_train}) or --train-window, or lower --lookback "
                f"(now {self.lookback}) or --val-fraction")
        return Fold(k, fit, val, test)
