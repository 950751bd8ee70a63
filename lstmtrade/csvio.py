"""CSV files whose floats round-trip exactly: predictions.csv and folds/fold-NNN.csv.

Writing: ``%.17g`` gives every float64 a decimal text that names exactly that double. Reading: pandas'
default float parser is not exact on every supported version (pandas 2.2.3, 2.3.3 and 3.0.6 read
``-0.0017327059699897066`` as ``-0.0017327059699897``, relative errors up to 1e-12), and
``float_precision="round_trip"``, which fixes those, is deprecated from pandas 3.1. So :func:`read_exact_csv` parses the float columns with Python's ``float()``, which
is correctly rounded on every platform: the value read back is bit for bit the value written.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

FLOAT_FORMAT = "%.17g"  # 17 significant digits identify a float64 exactly
DATE_FORMAT = "%Y-%m-%d"
_MISSING = {"", "na", "n/a", "nan", "-nan", "null", "none", "#n/a"}


def exact_float(text: str) -> float:
    """Parse one CSV field as the float64 it names (correctly rounded); empty or NA-like fields are NaN."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        if text.lower() in _MISSING:
            return math.nan
        raise ValueError(f"not a number: {text!r}") from None


def write_exact_csv(frame: pd.DataFrame, path: Any, **kwargs: Any) -> None:
    """``frame.to_csv`` with 17 significant digits and ISO dates (with the time of day for intraday rows)."""
    from .timestamps import csv_date_format

    frame.to_csv(path, float_format=FLOAT_FORMAT, date_format=csv_date_format(frame), **kwargs)


def read_exact_csv(path: str | Path, float_columns: Iterable[str], **kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv(path, **kwargs)`` with ``float_columns`` (those present) parsed exactly by :func:`exact_float`."""
    return pd.read_csv(path, converters={name: exact_float for name in float_columns}, **kwargs)


def exact_numbers(text: pd.Series) -> pd.Series:
    """Numbers from a column of CSV text, each the float64 its text names (NaN where it names none).

    ``pd.to_numeric`` finds which fields are numbers, but its parser is not correctly rounded on pandas
    2.2 to 3.0, so the numbers themselves are parsed again by numpy, whose text-to-float conversion is."""
    import numpy as np

    coarse = pd.to_numeric(text, errors="coerce")
    ok = coarse.notna().to_numpy()
    if not ok.any():
        return coarse.astype("float64")
    values = coarse.to_numpy(dtype="float64", na_value=np.nan).copy()
    values[ok] = np.asarray(text.to_numpy(dtype=object)[ok], dtype=str).astype(np.float64)
    return pd.Series(values, index=text.index)
