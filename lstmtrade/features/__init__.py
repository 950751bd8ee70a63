"""Causal features of bar t, the target open(t+1) -> open(t+2), and their normalisation.

- :mod:`~lstmtrade.features.named`: the named features, sets of them (``alpha``), the target, the train-only
  scaler and the input windows;
- :mod:`~lstmtrade.features.alpha`: the ``alpha`` set, Alpha158-style price-volume features;
- :mod:`~lstmtrade.features.xsnorm`: cross-sectional normalisation of a universe's features per date.
"""
from .named import (BASIC, FEATURES, LABEL_REACH, SETS, FeatureFn, StandardScaler, build_features,
                    build_features_many, build_target, check_features, expand, warmup, windows)
from .xsnorm import XS_NORMS, cross_sectional

__all__ = ["BASIC", "FEATURES", "LABEL_REACH", "SETS", "XS_NORMS", "FeatureFn", "StandardScaler", "build_features",
           "build_features_many", "build_target", "check_features", "cross_sectional", "expand", "warmup", "windows"]
