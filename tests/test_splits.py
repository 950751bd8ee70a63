import itertools

import pytest

from lstmtrade.errors import ConfigError, DataError
from lstmtrade.features import LABEL_REACH
from lstmtrade.splits import WalkForward

GRID = list(itertools.product([200, 300], [50, 126], [None, 150], [5, 20], [0.0, 0.2]))


@pytest.mark.parametrize("min_train,every,window,lookback,val", GRID)
def test_split_contract(min_train, every, window, lookback, val):
    n, first = 1000, 20
    folds = WalkForward(min_train, every, window, lookback, val).split(n, first)
    s0 = first + min_train
    tested = [day for f in folds for day in f.test]
    assert tested == list(range(s0, n)), "every out-of-sample day is in exactly one test range"
    for f in folds:
        assert f.fit.start >= first + lookback - 1, "windows only use rows with features"
        last_label = (f.val or f.fit).stop - 1
        assert f.test.start - last_label - 1 >= LABEL_REACH, "purge gap >= the label's reach"
        if len(f.val):
            assert f.val.start - f.fit.stop >= LABEL_REACH, "fit labels never reach the validation rows"
        if window is not None:
            assert len(f.train) <= window
        assert len(f.test) <= every


def test_folds_are_anchored_at_the_first_bar():
    splitter = WalkForward(300, 100, None, 10, 0.2)
    short, long = splitter.split(650, 20), splitter.split(1200, 20)
    for a, b in zip(short[:-1], long):
        assert a == b
    last = short[-1]
    assert last.fit == long[last.index].fit and last.test.start == long[last.index].test.start


def test_too_little_history_says_how_much_is_needed():
    with pytest.raises(DataError, match=r"too little history: 196 bars, but 777 are needed"):
        WalkForward(756, 126).split(196, 20)


def test_too_small_training_window_is_refused():
    with pytest.raises(ConfigError, match="fold 0 would train on"):
        WalkForward(min_train=30, retrain_every=10, lookback=20).split(500, 0)
