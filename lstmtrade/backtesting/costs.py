"""What trading costs, beyond a flat commission: borrowing, spreads, market impact, volume caps, minimum fees.

Every figure a fill pays is known before the fill: the spread and the impact inputs of a fill at the open of bar t
come from bars up to t-1 of that ticker only (causal), so a cost never peeks.

- **commission** (bps of traded value per side), with an optional **minimum per fill** in currency;
- **slippage** (bps against the fill price; Backtrader's own slippage, as before);
- **spread**: half of the bid-ask spread is paid on every fill. ``"auto"`` estimates it per ticker with Abdi and
  Ranaldo's (2017) close-high-low estimator over the 20 bars up to t-1: ``s^2 = 4 mean[(c_k - eta_k)(c_k -
  eta_{k+1})]`` with ``eta`` the mid-range ``(log h + log l) / 2`` and ``c`` the log close (negative means are
  floored at zero); a number sets a fixed spread in bps;
- **impact**: square-root market impact, a cost of ``K * sigma20 * sqrt(shares / ADV20)`` of the traded value,
  with sigma20 the standard deviation of the last 20 close-to-close returns and ADV20 the mean volume of the last
  20 bars, both up to t-1;
- **borrow**: an annual fee (bps) on the market value of short positions, charged at each close for the calendar
  days since the previous one (per ticker with a borrow file; :class:`Borrow`);
- **max_participation**: an order trades at most this fraction of its fill bar's volume (what Backtrader's volume
  fillers do); the rest is not traded and is counted as unfilled.

With only commission and slippage set (the defaults), the broker is set up exactly as before, so earlier runs give
the same numbers bit for bit.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ._backtrader import bt

WINDOW = 20  # bars behind the spread, volatility and volume estimates
DAYS_A_YEAR = 365.0  # borrow fees accrue on calendar days


@dataclass(frozen=True)
class Costs:
    """A run's cost settings (bps unless noted). The defaults charge a flat 10 bps commission and nothing else."""

    commission: float = 10.0  # per side, of traded value
    slippage: float = 0.0  # per side, against the fill price
    borrow: float = 0.0  # a year, on the market value of short positions
    borrow_rates: Mapping[str, float] = field(default_factory=dict)  # ticker -> bps a year, overriding `borrow`
    spread: float | str | None = None  # full spread in bps, "auto" (estimated per ticker), or None
    impact: float = 0.0  # K of the square-root impact model
    max_participation: float | None = None  # fraction of the fill bar's volume an order may trade
    min_commission: float = 0.0  # currency per fill

    def __post_init__(self) -> None:
        for name in ("commission", "slippage", "borrow", "impact", "min_commission"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a number >= 0 (got {value!r})")
        if self.spread is not None and self.spread != "auto" and not (
                isinstance(self.spread, (int, float)) and math.isfinite(self.spread) and self.spread >= 0):
            raise ConfigError(f"--spread must be auto or a number of bps >= 0 (got {self.spread!r})")
        p = self.max_participation
        if p is not None and not (isinstance(p, (int, float)) and 0 < p <= 1):
            raise ConfigError(f"--max-participation must be in (0, 1] (got {p!r})")
        for ticker, rate in self.borrow_rates.items():
            if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate >= 0):
                raise ConfigError(f"borrow rate of {ticker} must be a number of bps >= 0 (got {rate!r})")

    @property
    def plain(self) -> bool:
        """Only commission and slippage: the broker Backtrader sets up with ``setcommission`` alone."""
        return (not self.borrow and not self.borrow_rates and self.spread in (None, 0, 0.0) and not self.impact
                and self.max_participation is None and not self.min_commission)

    def borrow_rate(self, ticker: str) -> float:
        return float(self.borrow_rates.get(ticker, self.borrow))


def costs_of(config: Any) -> Costs:
    """The :class:`Costs` a run's config asks for (the borrow file read and checked)."""
    rates = read_borrow_file(config.borrow_file) if getattr(config, "borrow_file", None) else {}
    return Costs(config.commission, config.slippage, getattr(config, "borrow", 0.0), rates,
                 getattr(config, "spread", None), getattr(config, "impact", 0.0),
                 getattr(config, "max_participation", None), getattr(config, "min_commission", 0.0))


def run_costs(config: Any) -> dict[str, Any]:
    """Starting cash and every cost a run's config asks for, as the backtesting engines take them (``cash=``,
    ``costs=``): the strategy, the benchmark, the baselines, the audit, ``lstmtrade signal``'s orders and
    ``lstmtrade paper`` all take their costs from here, so a cost added to :class:`Costs` reaches all of them."""
    return {"cash": config.cash, "costs": costs_of(config)}


def read_borrow_file(path: str | Path) -> dict[str, float]:
    """``ticker,bps`` rows (a header line naming exactly those columns) -> {ticker: bps a year}."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise ConfigError(f"--borrow-file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--borrow-file {path}: not a UTF-8 text file; save it as a CSV with the header "
                          "ticker,bps") from None
    if not rows or [c.strip().lower() for c in rows[0]] != ["ticker", "bps"]:
        found = ",".join(rows[0]) if rows else "nothing"
        raise ConfigError(f"--borrow-file {path}: the header must be ticker,bps (found {found})")
    rates: dict[str, float] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise ConfigError(f"--borrow-file {path}: line {line} has {len(row)} fields, expected ticker,bps")
        ticker, text = row[0].strip(), row[1].strip()
        if ticker in rates:
            raise ConfigError(f"--borrow-file {path}: line {line}: ticker {ticker} is listed twice")
        try:
            rate = float(text)
        except ValueError:
            raise ConfigError(f"--borrow-file {path}: line {line}: '{text}' is not a number of bps") from None
        if not (math.isfinite(rate) and rate >= 0):
            raise ConfigError(f"--borrow-file {path}: line {line}: the rate must be >= 0 bps (got {text})")
        rates[ticker] = rate
    return rates


# ------------------------------------------------------------------------------------------ estimators

def half_spread(frame: pd.DataFrame, window: int = WINDOW) -> pd.Series:
    """Half of the Abdi-Ranaldo spread estimate (a fraction of price) usable for a fill at each bar's open: from
    bars up to the bar before (NaN until ``window`` + 1 bars exist)."""
    c = np.log(frame["close"].to_numpy(dtype="float64"))
    eta = 0.5 * (np.log(frame["high"].to_numpy(dtype="float64")) + np.log(frame["low"].to_numpy(dtype="float64")))
    term = np.full(len(c), np.nan)
    term[:-1] = 4.0 * (c[:-1] - eta[:-1]) * (c[:-1] - eta[1:])  # known at the close of the next bar
    # term k uses bars k and k+1, so the terms known at the close of bar t-1 are k <= t-2
    mean = pd.Series(term, index=frame.index).rolling(window, min_periods=window).mean().shift(2)
    return np.sqrt(mean.clip(lower=0.0)) / 2.0


def impact_inputs(frame: pd.DataFrame, window: int = WINDOW) -> tuple[pd.Series, pd.Series]:
    """sigma20 (std of close-to-close returns) and ADV20 (mean volume) for a fill at each bar's open, from bars up
    to the bar before."""
    returns = frame["close"].pct_change()
    sigma = returns.rolling(window, min_periods=window).std(ddof=1).shift(1)
    adv = frame["volume"].astype("float64").rolling(window, min_periods=window).mean().shift(1)
    return sigma, adv


@dataclass
class BarCosts:
    """One feed's per-bar cost inputs, aligned with its rows (position = ``len(data) - 1`` at a fill)."""

    half_spread: np.ndarray  # fraction of price; 0 where unknown
    sigma: np.ndarray  # NaN where unknown (no impact charged)
    adv: np.ndarray
    volume: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, costs: Costs) -> "BarCosts":
        n = len(frame)
        if costs.spread == "auto":
            spread = half_spread(frame).fillna(0.0).to_numpy()
        else:
            spread = np.full(n, float(costs.spread or 0.0) / 2e4)
        sigma, adv = impact_inputs(frame)
        return cls(spread, sigma.to_numpy(), adv.to_numpy(), frame["volume"].to_numpy(dtype="float64"))

    def rate(self, row: int, shares: float, impact: float) -> float:
        """Cost per unit of traded value at ``row`` beyond commission: half spread plus square-root impact."""
        out = self.half_spread[row]
        if impact and shares:
            sigma, adv = self.sigma[row], self.adv[row]
            if math.isfinite(sigma) and math.isfinite(adv) and adv > 0:
                out += impact * sigma * math.sqrt(abs(shares) / adv)
        return float(out)


class TradingCosts(bt.CommInfoBase):
    """One ticker's costs in Backtrader: commission (with a minimum), half spread and impact on each fill, and
    the borrow fee on a short position's market value."""

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True),
              ("min_commission", 0.0), ("impact", 0.0))

    def __init__(self, data: Any, bars: BarCosts) -> None:
        super().__init__()
        self.data, self.bars = data, bars

    def _getcommission(self, size, price, pseudoexec):
        value = abs(size) * price
        fee = max(self.p.min_commission, value * self.p.commission) if size else 0.0
        row = len(self.data) - 1
        return fee + value * self.bars.rate(row, size, self.p.impact)



class Borrow:
    """The borrow fee on short positions, charged at each close for the calendar days since the previous close, on
    the position's market value at this close (Backtrader's own credit interest restarts its clock at every trade,
    so a book rebalanced daily would pay almost nothing). The fee leaves the cash before the next bar."""

    def __init__(self, costs: Costs | None) -> None:
        self.costs = costs
        self.active = costs is not None and bool(costs.borrow or costs.borrow_rates)
        self.last = None  # date of the previous close
        self.paid = 0.0

    def at_close(self, strategy: Any) -> None:
        if not self.active:
            return
        today = strategy.datetime.date(0)
        days = (today - self.last).days if self.last is not None else 0
        self.last = today
        if days <= 0:
            return
        fee = 0.0
        for data, position in strategy.broker.positions.items():
            if position.size < 0:
                fee += -position.size * float(data.close[0]) * self.costs.borrow_rate(data._name) / 1e4
        fee *= days / DAYS_A_YEAR
        if fee:
            strategy.broker.add_cash(-fee)
            self.paid += fee


def install(cerebro: Any, costs: Costs, frames: Mapping[Any, pd.DataFrame]) -> None:
    """Give each feed (``{data: its rows}``) its :class:`TradingCosts`, or set the plain broker when only commission
    and slippage are asked for (as lstmtrade always did)."""
    if costs.plain:
        cerebro.broker.setcommission(commission=costs.commission / 1e4)
        return
    for data, frame in frames.items():
        info = TradingCosts(data, BarCosts.of(frame, costs), commission=costs.commission / 1e4,
                            min_commission=costs.min_commission, impact=costs.impact)
        cerebro.broker.addcommissioninfo(info, name=data._name)


# --------------------------------------------------------------------------------------- after the run

def fill_inputs(result: Any, prices: Any, costs: Costs) -> pd.DataFrame:
    """Each fill of ``result`` with what its costs were computed from: the bar's volume, half spread, sigma20 and
    ADV20 (``prices``: one ticker's PriceData or frame, or a universe / ``{ticker: frame}``)."""
    trades = result.trades
    columns = ["volume", "half_spread", "sigma", "adv"]
    if not len(trades):
        return trades.assign(**{c: pd.Series(dtype="float64") for c in columns})
    frames = _frames(prices)
    parts = []
    for ticker, rows in (trades.groupby("ticker", sort=False) if "ticker" in trades.columns else [("", trades)]):
        frame = frames[ticker]
        bars = BarCosts.of(frame, costs)
        at = frame.index.get_indexer(pd.DatetimeIndex(rows["date"]))
        parts.append(rows.assign(volume=bars.volume[at], half_spread=bars.half_spread[at], sigma=bars.sigma[at],
                                 adv=bars.adv[at]))
    return pd.concat(parts).sort_index()


def paid(result: Any, prices: Any, costs: Costs) -> dict[str, float]:
    """What each kind of cost took from the strategy, in currency: commission (minimums included), half spread,
    impact and slippage on the fills, and borrow on short positions. The fill-level kinds add up to what the
    broker charged: commission is the charged total less the spread and impact parts."""
    fills = fill_inputs(result, prices, costs)
    value = fills["value"].to_numpy(dtype="float64") if len(fills) else np.zeros(0)
    spread = value * fills["half_spread"].to_numpy(dtype="float64") if len(fills) else value
    impact = np.zeros(len(fills))
    if costs.impact and len(fills):
        sigma, adv = fills["sigma"].to_numpy(dtype="float64"), fills["adv"].to_numpy(dtype="float64")
        ok = np.isfinite(sigma) & np.isfinite(adv) & (adv > 0)
        impact[ok] = costs.impact * sigma[ok] * np.sqrt(np.abs(fills["size"].to_numpy(dtype="float64")[ok]) / adv[ok])
        impact *= value
    charged = float(fills["commission"].sum()) if len(fills) else 0.0
    slip = costs.slippage / 1e4
    return {"commission": charged - float(spread.sum()) - float(impact.sum()), "spread": float(spread.sum()),
            "impact": float(impact.sum()), "slippage": float(np.sum(value)) * slip / (1.0 + slip),
            "borrow": float(getattr(result, "borrow_paid", 0.0))}


def participation(result: Any, prices: Any, costs: Costs) -> pd.Series:
    """Each fill's shares over its bar's volume (NaN where the bar traded no volume)."""
    fills = fill_inputs(result, prices, costs)
    volume = fills["volume"].to_numpy(dtype="float64") if len(fills) else np.zeros(0)
    shares = np.abs(fills["size"].to_numpy(dtype="float64")) if len(fills) else np.zeros(0)
    return pd.Series(np.where(volume > 0, shares / np.where(volume > 0, volume, 1.0), np.nan), dtype="float64")


def _frames(prices: Any) -> dict[str, pd.DataFrame]:
    if hasattr(prices, "frame"):
        return {"": prices.frame}
    mapping = prices.prices if hasattr(prices, "prices") else prices
    return {t: (p.frame if hasattr(p, "frame") else p) for t, p in mapping.items()}
