"""A run folder's files, one writer for one ticker and for universes: the CSVs, then the pages.

predictions.csv (and a seed ensemble's members.csv), returns.csv, positions.csv, trades.csv, and for a universe
weights.csv (each ticker's weight at each close); then tearsheet.html and comparison.html. metrics.json, written
last by the run, marks the folder complete, and its ``files`` entry holds the rows and sha256 of predictions.csv
(and members.csv), which :meth:`lstmtrade.forecast.predictions.Predictions.read_csv` checks before reuse.
"""
from __future__ import annotations

import html
from typing import Any

import pandas as pd

from ..evaluate.capacity import COLUMNS as CAPACITY
from ..files import atomic_write, file_sha256, write_csv
from ..formatting import stamper
from .comparison import (
    annualised_note,
    break_even_banner,
    claims_note,
    comparison_curves,
    comparison_table,
    write_comparison,
)
from .costs import costs_section
from .fills import fills_section
from .seeds import confidence_section
from .tearsheet import write_tearsheet
from .universe import write_universe_pages


def write_run_tables(result: Any) -> None:
    """A run folder's CSVs: predictions (and a seed ensemble's members), returns, positions, trades, and a
    universe's weights per ticker."""
    folder, preds = result.folder, result.predictions
    atomic_write(folder / "predictions.csv", preds.to_csv)
    written = {"predictions.csv": len(preds.frame)}
    if preds.members is not None:
        atomic_write(folder / "members.csv", preds.members_to_csv)
        written["members.csv"] = len(preds.frame) * preds.n_members
    # what --predictions checks before it trusts these files again (metrics.json is written after them)
    result.metrics["files"] = {name: {"rows": rows, "sha256": file_sha256(folder / name)}
                               for name, rows in written.items()}
    returns = pd.DataFrame({"strategy": result.strategy.returns, "benchmark": result.benchmark.returns})
    write_csv(folder / "returns.csv", returns.rename_axis("date"))
    exposure = "gross_exposure" if preds.is_universe else "weight"  # a universe's sum of |weight|
    positions = pd.DataFrame({exposure: result.strategy.weights, "equity": result.strategy.equity,
                              "benchmark_equity": result.benchmark.equity})
    write_csv(folder / "positions.csv", positions.rename_axis("date"))
    weights = getattr(result.strategy, "positions", None)
    if preds.is_universe and isinstance(weights, pd.DataFrame) and len(weights):
        write_csv(folder / "weights.csv", weights.rename_axis("date"))
    write_csv(folder / "trades.csv", result.strategy.trades, index=False)
    if result.metrics.get("capacity"):
        write_csv(folder / "capacity.csv", pd.DataFrame(result.metrics["capacity"], columns=CAPACITY), index=False)


def write_run_files(result: Any) -> None:
    """Every file of a finished run but metrics.json: the CSVs, the tearsheet and the comparison page."""
    assert result.folder is not None
    write_run_tables(result)
    if result.predictions.is_universe:
        write_universe_pages(result)
    else:
        write_single_pages(result)


def write_single_pages(result: Any) -> None:
    """One ticker's tearsheet (against buy-and-hold) and comparison page."""
    folder = result.folder
    frame = result.predictions.frame
    show = stamper(frame.index)
    title = (f"{result.prices.name}: {result.config.model.upper()} walk-forward, {result.strategy.strategy} "
             f"vs buy-and-hold, {show(frame.index[0])} to {show(frame.index[-1])}")
    verdict = result.metrics["verdict"]
    banner = (f"<b>Verdict:</b> {html.escape(verdict)}<br>{html.escape(break_even_banner(result.metrics))} "
              "&middot; "
              '<a href="comparison.html">baselines, forecast skill, significance and costs</a>')
    data = result.metrics["data"]
    write_tearsheet(folder / "tearsheet.html", result.strategy.returns, result.benchmark.returns, title, banner,
                    periods=data["periods_per_year"], bar=data.get("bar", ""),
                    weights=(result.strategy.weights, result.benchmark.weights))
    members = pd.DataFrame({f"seed {seed}": r.returns for seed, r in zip(result.predictions.seeds, result.members)})
    write_comparison(folder / "comparison.html", title, verdict, comparison_table(result),
                     comparison_curves(result), frame, result.per_fold, annualised=annualised_note(data),
                     members=members if result.members else None,
                     sections=fills_section(result)
                     + costs_section(result.metrics, result.strategy, result.config.cash)
                     + confidence_section(result.metrics.get("seeds")),
                     claims=claims_note(result.metrics, "buy-and-hold"))
