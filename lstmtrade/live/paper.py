"""The paper record: each journal entry credited with what its target weights earned, through the backtest's own
engine and costs, then set against the backtest's expectation (``lstmtrade paper DIR --data PRICES``).

Crediting: the entries' weights are traded by the backtest's engine (``backtest_portfolio`` for a universe,
``backtest`` for one ticker) with the same costs (:func:`~lstmtrade.backtesting.costs.run_costs`: cash, commission, slippage, borrow, spread, impact, caps) and the rule's
``min_trade``: an entry dated D is decided at D's close, its orders fill at the open of D+1, and it is credited
with the portfolio's value from that open (before its orders) to the open after (before the next orders):
``open_equity[D+2] / open_equity[D+1] - 1``, its own trading costs included. Nothing before the open of D+1
enters it. An entry whose two next opens are not in the data yet is *pending*. Days without an entry keep
the portfolio as it is (and raise the "journal days missing" alarm). A name an entry left alone (no forecast
that day) is kept as the engine holds it.

The benchmark is equal-weight buy-and-hold of the first entry's tickers (one ticker: buy-and-hold), bought at the
same open with the same costs, credited over the same days the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..backtesting.costs import run_costs
from ..backtesting.engine import BacktestResult
from ..backtesting.portfolio import backtest_portfolio
from ..backtesting.portfolio_strategy import PortfolioStrategy
from ..backtesting.single import backtest, buy_and_hold
from ..backtesting.stage import equal_weight_buy_and_hold
from ..backtesting.strategy import PredictionStrategy
from ..config import Config
from ..data.panel import load_universe
from ..data.prices import frame_sha256, load_prices
from ..errors import ConfigError, DataError, LstmtradeError
from ..evaluate.xsection import daily_ic
from ..files import file_sha256, write_csv, write_text
from ..formatting import stamp
from ..forecast.artifact import load_model
from .journal import journal_path, verify
from .reconcile import alarms, backtest_expectation, find_backtest, given_backtest_note, live_skill


# paper.csv: the entry's date, what it earned, its benchmark, turnover and costs (fractions of the value at the open),
# then the day's rank_ic or hit, whether it is credited or pending, the two opens it was credited between, and
# whether it was written by the date of its first fill (forward; False: back-filled; empty: that open is not in the data)
COLUMNS = ["date", "return", "benchmark", "turnover", "costs", "status", "from_open", "to_open", "forward"]


class Recorded(PortfolioStrategy):
    """The journal's weights, as they were decided: each entry's row on its date (NaN: keep the position)."""

    params = (("weights", None),  # DataFrame: date x ticker, the entries' target weights
              ("min_trades", None))  # {date: min_trade} when entries recorded different ones; else min_trade
    gross_limit = 1e9  # the weights were decided under the rule's own limit: never scaled twice

    def target_weights(self, predictions: pd.Series) -> pd.Series | None:
        if self.date not in self.p.weights.index:
            return None
        if self.p.min_trades is not None:  # the entry's own min_trade sizes its orders at the next open
            self.p.min_trade = self.p.min_trades.get(self.date, self.p.min_trade)
        return self.p.weights.loc[self.date]


class RecordedWeight(PredictionStrategy):
    """One ticker: the journal's weight rides on the prediction line (NaN on days without an entry)."""

    params = (("min_trades", None),)  # {date: min_trade} when entries recorded different ones

    def next(self) -> None:
        if self.p.min_trades is not None:
            day = pd.Timestamp(self.data.datetime.datetime(0))
            self.p.min_trade = self.p.min_trades.get(day, self.p.min_trade)
        super().next()

    def target_weight(self, prediction: float) -> float:
        return prediction


@dataclass
class Paper:
    """The paper record of a journal folder (``table``: one row per entry; see :func:`paper`)."""

    folder: Path
    entries: list[dict[str, Any]]
    table: pd.DataFrame  # COLUMNS, with rank_ic or hit after costs
    skill_name: str  # "rank_ic" (a universe) or "hit" (one ticker)
    live: dict[str, Any] = field(default_factory=dict)  # the live skill: mean, interval, days
    band: pd.DataFrame | None = None  # days, p05, p50, p95 of the backtest's cumulative return
    backtest: dict[str, Any] | None = None  # the run compared with, its skill and interval
    alarms: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    engine: BacktestResult | None = None  # the engine run that credited the entries

    @property
    def credited(self) -> pd.DataFrame:
        return self.table[self.table["status"] == "credited"]

    def to_dict(self) -> dict[str, Any]:
        from ..files import jsonable

        done = self.credited
        band = None
        if self.band is not None and len(done):
            row = self.band.iloc[min(len(done), len(self.band)) - 1]
            band = {"days": int(row["days"]), "p05": row["p05"], "p50": row["p50"], "p95": row["p95"]}
        return jsonable({
            "journal": str(journal_path(self.folder)), "entries": len(self.entries), "credited": len(done),
            "pending": int((self.table["status"] == "pending").sum()),
            "first": self.entries[0]["date"] if self.entries else None,
            "last": self.entries[-1]["date"] if self.entries else None,
            "cumulative_return": float(np.prod(1 + done["return"]) - 1) if len(done) else None,
            "benchmark_cumulative_return": float(np.prod(1 + done["benchmark"]) - 1) if len(done) else None,
            "model": self.entries[-1]["model"] if self.entries else None,
            "strategy": self.entries[-1].get("strategy") if self.entries else None,
            "params": self.entries[-1].get("params") if self.entries else None,
            "band": band, "skill": {"name": self.skill_name, "live": self.live, "backtest": self.backtest},
            "alarms": self.alarms, "notes": self.notes,
            "files": {"csv": str(self.folder / "paper.csv"), "html": str(self.folder / "paper.html")},
            "days": [{k: (stamp(v) if isinstance(v, pd.Timestamp) else None if v is pd.NaT else v)
                      for k, v in row.items()} for row in self.table.astype(object).to_dict("records")],
        })


def paper(folder: str | Path, data: Any = None, *, model: str | Path | None = None, backtest_run: str | Path | None = None,
          runs: str | Path = "reports", reps: int = 1000, block_size: int = 10, seed: int = 0, write: bool = True,
          **costs: Any) -> Paper:
    """Check the journal in ``folder``, credit its entries on ``data`` (default: the source they were made from),
    compare with the backtest (``backtest_run``, else found in ``runs`` from the model's settings), and write
    ``paper.csv`` and ``paper.html`` there. ``costs``: Config cost fields (commission, slippage, cash); default:
    the model's own, which its backtest used."""
    for name, value in (("reps", reps), ("block_size", block_size)):
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1):
            raise ConfigError(f"--{name.replace('_', '-')} must be a whole number >= 1 (got {value!r})")
    folder = Path(folder)
    if not folder.is_dir():  # a mistyped folder is not an empty journal
        raise DataError(f"{folder}: no such folder; give the folder `lstmtrade signal --journal DIR` writes to")
    entries = verify(folder)
    skill = "hit" if entries and entries[-1].get("kind") == "ticker" else "rank_ic"
    if not entries:
        return Paper(folder, [], _empty_table(skill), skill, notes=[f"{journal_path(folder)} has no entries yet"])
    notes: list[str] = []
    loaded = _model(entries, model, notes)
    config = (loaded.config if loaded is not None else Config()).replace(**costs) if costs else (
        loaded.config if loaded is not None else Config())
    prices = _prices(entries, data)
    table, engine, bench = credit(entries, prices, config, skill, notes)
    result = Paper(folder, entries, table, skill, engine=engine, notes=notes)
    result.live = live_skill(table[table["status"] == "credited"][skill].dropna(), skill)
    last = entries[-1]
    run = Path(backtest_run) if backtest_run is not None else (
        find_backtest(loaded, Path(runs), last.get("strategy"), last.get("params")) if loaded else None)
    if run is not None:
        result.band, result.backtest = backtest_expectation(run, len(table), skill, reps, block_size, seed)
        differs = given_backtest_note(loaded, run) if backtest_run is not None else None
        notes += [differs] if differs else []
    else:
        notes.append(f"no backtest run found with the model's settings under {runs}/: give --backtest RUN for the "
                     "band and the backtest's skill")
    result.alarms = alarms(result, loaded, prices)
    if write:
        _write(result, prices)
    return result


def _model(entries: list[dict[str, Any]], model: str | Path | None, notes: list[str]) -> Any:
    path = model or entries[-1]["model"].get("path")
    try:
        loaded = load_model(path) if path else None
    except LstmtradeError as exc:
        if model is not None:  # a file given on purpose that cannot be read is an error, not a default
            raise
        notes.append(f"model file not read ({exc}); costs default to the backtest defaults: give --model FILE")
        return None
    if loaded is not None and model is None:
        if file_sha256(loaded.path) != entries[-1]["model"]["sha256"]:
            notes.append(f"{loaded.path} is not the file the last entry was made with (sha256 differs)")
    return loaded


def _prices(entries: list[dict[str, Any]], data: Any) -> Any:
    source = data if data is not None else entries[-1]["data"]["source"]
    if source == "DataFrame":
        raise DataError("the journal's signals were made from a DataFrame in memory: give the prices with --data")
    if isinstance(source, (str, Path)):
        return load_universe(source) if entries[-1].get("kind") == "universe" else load_prices(source)
    return source


def credit(entries: list[dict[str, Any]], prices: Any, config: Config, skill: str,
           notes: list[str]) -> tuple[pd.DataFrame, BacktestResult | None, BacktestResult | None]:
    """One row per entry: its open-to-open return through the engine, the benchmark's, turnover, costs, skill."""
    universe = not hasattr(prices, "frame")
    calendar = prices.calendar if universe else prices.frame.index
    dates = pd.DatetimeIndex([pd.Timestamp(e["date"]) for e in entries])
    where = calendar.get_indexer(dates)
    unknown = (where < 0) & (dates <= calendar[-1])
    if unknown.any():
        raise DataError(f"the data has no bar on the journal's date {stamp(dates[unknown][0])}: give the data the "
                        "signals were made from (or its continuation)")
    if universe:
        names = sorted({t["ticker"] for e in entries for t in e["tickers"]})
        if not set(names) & set(prices.prices):
            raise DataError(f"none of the journal's tickers ({', '.join(names[:5])}{', ...' * (len(names) > 5)}) "
                            f"is in {prices.source}: give the data the signals were made from")
    else:
        _same_ticker(entries, prices)
    where = np.where(where < 0, len(calendar), where)  # after the data's end: pending
    stop = min(int(where.max()) + 2, len(calendar) - 1)
    engine = bench = None
    if where[0] < len(calendar) and stop >= where[0] + 2:  # at least the first entry can be credited
        index = calendar[where[0]:stop + 1]
        weights = _weights(entries, index)
        recorded = {pd.Timestamp(e["date"]): float(e.get("min_trade", 0.005)) for e in entries}
        min_trade = recorded[dates[-1]]  # each entry's own min_trade where they differ (min_trades)
        paid = run_costs(config)
        costs = {**paid, "min_trades": recorded if len(set(recorded.values())) > 1 else None}
        if universe:
            frames = {t: prices.prices[t] for t in weights.columns if t in prices.prices}
            weights = weights[list(frames)]
            engine = backtest_portfolio(frames, weights, Recorded, weights=weights, history=0, min_trade=min_trade,
                                        **costs)
            first = weights.iloc[:1].notna().reindex(index, fill_value=False).astype(float).where(lambda w: w > 0)
            bench = equal_weight_buy_and_hold(frames, first, **paid)
        else:
            series = weights.iloc[:, 0]
            engine = backtest(prices, series, RecordedWeight, history=0, min_trade=min_trade, **costs)
            bench = buy_and_hold(prices, pd.Series(0.0, index=index), **paid)
    rows = []
    for entry, day, pos in zip(entries, dates, where):
        row = {"date": day, "return": np.nan, "benchmark": np.nan, "turnover": np.nan, "costs": np.nan,
               skill: _skill(entry, prices, day, skill), "status": "pending", "from_open": pd.NaT, "to_open": pd.NaT,
               "forward": _forward(entry, calendar[pos + 1] if pos + 1 < len(calendar) else None)}
        if engine is not None and pos + 2 <= stop:
            start, end = calendar[pos + 1], calendar[pos + 2]
            value = engine.open_equity[start]
            row.update({"return": engine.open_equity[end] / value - 1, "status": "credited", "from_open": start,
                        "to_open": end,
                        "benchmark": bench.open_equity[end] / bench.open_equity[start] - 1,
                        **_trading(engine.trades, prices, start, value)})
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS[:5] + [skill] + COLUMNS[5:])
    return table, engine, bench


def _same_ticker(entries: list[dict[str, Any]], prices: Any) -> None:
    """One ticker: the data must be the journal's ticker (its name, or the very bars the first entry was made from)."""
    names = sorted({t["ticker"] for e in entries for t in e["tickers"]})
    if [str(prices.name).upper()] == [n.upper() for n in names]:
        return
    first = pd.Timestamp(entries[0]["date"])
    if len(names) == 1 and frame_sha256(prices.frame.loc[:first]) == entries[0]["data"].get("sha256"):
        return  # the same bars under another name (a file's stem): the signals' own data
    raise DataError(f"the journal's entries are for {', '.join(names)}, but {prices.source} holds {prices.name}: "
                    "give the prices the signals were made from (and their continuation)")


def _forward(entry: dict[str, Any], fill: pd.Timestamp | None) -> bool | None:
    """Whether the entry was written (UTC) by the calendar date of its first fill, the open it is credited from;
    None while that open is not in the data."""
    written = entry.get("written_at")
    if fill is None or not written:
        return None
    when = pd.Timestamp(written)
    when = when.tz_convert("UTC") if when.tzinfo is not None else when
    return bool(when.date() <= fill.date())


def _weights(entries: list[dict[str, Any]], index: pd.DatetimeIndex) -> pd.DataFrame:
    """date x ticker: each entry's target weights on its date; NaN elsewhere (no decision) and for names left
    alone."""
    tickers = sorted({t["ticker"] for e in entries for t in e["tickers"]})
    out = pd.DataFrame(np.nan, index=index, columns=pd.Index(tickers, dtype=object))
    for entry in entries:
        day = pd.Timestamp(entry["date"])
        if day not in out.index:  # after the data's end: pending
            continue
        for t in entry["tickers"]:
            if t["weight"] is not None:
                out.loc[day, t["ticker"]] = float(t["weight"])
    return out


def _trading(trades: pd.DataFrame, prices: Any, day: pd.Timestamp, value: float) -> dict[str, float]:
    """Turnover and costs (commission plus slippage against the open) of the fills at ``day``'s open."""
    fills = trades[trades["date"] == day]
    if not len(fills) or not value:
        return {"turnover": 0.0, "costs": 0.0}
    if "ticker" in fills:
        opens = np.array([prices.prices[t].frame["open"].get(day, np.nan) for t in fills["ticker"]])
    else:
        opens = np.full(len(fills), prices.frame["open"].get(day, np.nan))
    slip = float(np.nansum(np.abs(fills["size"].to_numpy(dtype=float)) * np.abs(fills["price"].to_numpy() - opens)))
    return {"turnover": float(fills["value"].abs().sum()) / value,
            "costs": (float(fills["commission"].sum()) + slip) / value}


def _skill(entry: dict[str, Any], prices: Any, day: pd.Timestamp, skill: str) -> float:
    """The entry's Rank IC against the realised open(+1) -> open(+2) returns (one ticker: whether the forecast's
    sign was right); NaN until known."""
    frames = prices.prices if hasattr(prices, "prices") else {entry["tickers"][0]["ticker"]: prices}
    realised = {}
    for t in entry["tickers"]:
        if t["ticker"] not in frames:
            continue
        frame = frames[t["ticker"]].frame
        pos = frame.index.searchsorted(day)
        if pos < len(frame) and frame.index[pos] == day and pos + 2 < len(frame):
            realised[t["ticker"]] = frame["open"].iloc[pos + 2] / frame["open"].iloc[pos + 1] - 1
    preds = {t["ticker"]: t["prediction"] for t in entry["tickers"] if t["ticker"] in realised}
    if not preds:
        return np.nan
    if skill == "hit":
        (name, p), = preds.items()
        r = realised[name]
        return np.nan if p == 0 or r == 0 else float(np.sign(p) == np.sign(r))
    ic = daily_ic(pd.DataFrame([preds], index=[day]), pd.DataFrame([realised], index=[day]), "spearman")
    return float(ic.iloc[0]) if len(ic) else np.nan


def _empty_table(skill: str) -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS[:5] + [skill] + COLUMNS[5:])


def _write(result: Paper, prices: Any) -> None:
    from ..report.paper import paper_page

    write_csv(result.folder / "paper.csv", result.table, index=False)
    write_text(result.folder / "paper.html", paper_page(result.to_dict(), result.table, result.band))


__all__ = ["paper", "Paper", "credit", "Recorded", "RecordedWeight"]
