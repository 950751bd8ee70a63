"""One entry point for ``--data``: one ticker's :class:`~lstmtrade.data.prices.PriceData` or a
:class:`~lstmtrade.data.panel.Universe`, and the bar size every annualised figure of a run uses."""
from __future__ import annotations

from typing import Any

from ..config import Config
from ..errors import ConfigError
from .bars import BarSpec
from .panel import is_universe, load_panel
from .prices import load_prices


def is_universe_data(prices: Any) -> bool:
    """Loaded data of several tickers (a Universe, or a ``{ticker: PriceData}`` mapping) rather than one
    ticker's PriceData. (:func:`lstmtrade.data.panel.is_universe` asks the same of a source before loading.)"""
    return not hasattr(prices, "frame")


def load_data(config: Config) -> Any:
    """One ticker's :class:`PriceData`, or a :class:`~lstmtrade.data.panel.Universe` when ``--data`` holds several
    tickers (a Ticker/Symbol column, a folder, sample:SP500). Universe faults are repaired or excluded per
    ticker (``--strict`` refuses them after the data report is written by the run). A panel file whose rows all
    name one ticker is that ticker's PriceData, exactly as a single-ticker CSV of the same rows."""
    if config.data is not None and is_universe(config.data):
        return load_panel(config.data, tickers=list(config.tickers) if config.tickers else None,
                          start=config.start, end=config.end, date_format=config.date_format)
    if config.tickers:
        raise ConfigError("--tickers selects from a universe; --data "
                          f"{config.data or 'sample:MSFT'} holds one ticker")
    return load_prices(config.data, start=config.start, end=config.end, date_format=config.date_format)


def bar_spec(prices: Any, config: Config) -> BarSpec:
    """The data's bar size and calendar, with ``--periods-per-year`` applied: one value of periods per year for
    every annualised figure of the run (metrics, tearsheet, comparison page, VolTarget)."""
    return prices.bars.with_periods(config.periods_per_year)
