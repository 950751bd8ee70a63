"""Predictions and fold files round-trip bit for bit through the project's own CSV writer and reader."""
import sys

import numpy as np
import pandas as pd
import pytest

from lstmtrade import Predictions
from lstmtrade.errors import DataError
from lstmtrade.files import exact_float, read_exact_csv, write_exact_csv

AWKWARD = [
    -0.0017327059699897066,  # read as -0.0017327059699897 by pandas' default parser on 2.2-3.0
    0.30000000000000004,  # needs all 17 significant digits
    0.1, 1 / 3, -2 / 3, 1e-300, -1e-300,
    5e-324,  # smallest subnormal
    2.2250738585072014e-308,  # smallest normal
    2.225073858507201e-308,  # largest subnormal
    sys.float_info.max, -sys.float_info.max, 9007199254740993.0, 123456789.12345679,
    -0.0, 0.0, 1.0, -1.0,
]


def _values(n_random: int = 5000) -> np.ndarray:
    rng = np.random.default_rng(16)
    noise = rng.normal(0, 0.01, n_random) * 10.0 ** rng.integers(-12, 4, n_random)
    return np.concatenate([AWKWARD, noise])


def _bits(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.uint64)


def test_predictions_round_trip_bit_for_bit(tmp_path):
    values = _values()
    index = pd.bdate_range("2001-01-01", periods=len(values), name="date")
    target = np.roll(values, 7)
    target[-3:] = [np.nan, np.inf, -np.inf]  # unknown targets at the end, and infinities
    saved = Predictions(pd.DataFrame({"prediction": values, "target": target, "fold": np.arange(len(values)) // 100},
                                     index=index))
    path = tmp_path / "predictions.csv"
    saved.to_csv(path)
    back = Predictions.read_csv(path)
    np.testing.assert_array_equal(_bits(back.frame["prediction"]), _bits(values))
    np.testing.assert_array_equal(_bits(back.frame["target"]), _bits(target))  # NaN included, bit for bit
    assert back.frame.index.equals(index) and back.frame["fold"].tolist() == saved.frame["fold"].tolist()
    # writing what was read gives the same bytes: a re-backtest's predictions.csv equals the original
    again = tmp_path / "again.csv"
    back.to_csv(again)
    assert again.read_bytes() == path.read_bytes()


def test_fold_file_round_trip_bit_for_bit(tmp_path):
    values = _values(500)
    frame = pd.DataFrame({"prediction": values, "target": -values},
                         index=pd.bdate_range("2002-01-01", periods=len(values), name="date"))
    path = tmp_path / "fold-000.csv"
    write_exact_csv(frame, path)
    assert path.read_text().splitlines()[1] == "2002-01-01,-0.0017327059699897066,0.0017327059699897066"
    back = read_exact_csv(path, ("prediction", "target"), index_col="date", parse_dates=True)
    for name in ("prediction", "target"):
        np.testing.assert_array_equal(_bits(back[name]), _bits(frame[name]))


def test_exact_float_reads_missing_as_nan_and_refuses_text():
    assert exact_float(" -0.0017327059699897066 ") == -0.0017327059699897066
    assert np.isnan(exact_float("")) and np.isnan(exact_float("NA"))
    with pytest.raises(ValueError, match="not a number"):
        exact_float("abc")


def test_a_prediction_that_is_not_a_number_is_a_data_error(tmp_path):
    path = tmp_path / "predictions.csv"
    path.write_text("date,prediction,target,fold\n2001-01-02,0.1,0.2,0\n2001-01-03,oops,0.2,0\n")
    with pytest.raises(DataError, match="not a predictions file"):
        Predictions.read_csv(path)


def test_prices_are_read_as_the_exact_floats_their_text_names(tmp_path):
    """pandas 2.2-3.0's CSV float parser is off in the last bits: prices go through exact_numbers."""
    from lstmtrade.data.prices import load_prices
    from lstmtrade.files import exact_numbers

    texts = ["0.0017327059699897066", "0.0017327059699897068", "0.0017327059699897070", "123.45678901234567"]
    column = pd.Series([f" {t} " for t in texts] + ["abc", ""])
    values = exact_numbers(column.str.strip())
    assert [values.iloc[i] for i in range(4)] == [float(t) for t in texts] and values.iloc[4:].isna().all()
    dates = pd.bdate_range("2020-01-01", periods=len(texts))
    lines = ["Date,Open,High,Low,Close,Volume"] + [f"{d.date()},{t},{t},{t},{t},100" for d, t in zip(dates, texts)]
    path = tmp_path / "p.csv"
    path.write_text("\n".join(lines) + "\n")
    close = load_prices(path).frame["close"].to_numpy()
    assert close.tolist() == [float(t) for t in texts]
