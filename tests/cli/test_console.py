"""Terminal output: per-fold lines in fold order whatever order folds finish in; hit rates beside up days."""
import io

import pandas as pd

from lstmtrade.cli.console import Console


def _fold(i: int, n: int = 4, **extra) -> dict:
    return {"event": "fold", "fold": i + 1, "folds": n, "fit_start": "2000-01-03", "fit_end": f"2001-0{i + 1}-01",
            "test_start": f"2002-0{i + 1}-01", "test_end": f"2002-0{i + 1}-28", "seconds": 0.1, **extra}


def _start(n: int) -> dict:
    return {"event": "start", "folds": n, "n_test": 100, "first_test": pd.Timestamp("2002-01-01"), "model": "lstm"}


def _fold_numbers(text: str) -> list[int]:
    return [int(line.split()[1].split("/")[0]) for line in text.splitlines() if line.startswith("  fold ")]


def test_fold_lines_come_in_fold_order_when_output_is_not_a_terminal():
    stream = io.StringIO()  # not a tty, like a log file, CI or `| tee`
    console = Console(stream=stream)
    console(_start(4))
    console(_fold(3))  # the largest fold trains first and finishes first
    console(_fold(2))
    assert _fold_numbers(stream.getvalue()) == []  # held back: fold 1 has not finished
    console(_fold(0))
    assert _fold_numbers(stream.getvalue()) == [1]  # folds 3 and 4 still wait for fold 2
    console(_fold(1))
    assert _fold_numbers(stream.getvalue()) == [1, 2, 3, 4]
    assert "2002-03-01" in stream.getvalue().splitlines()[-2]  # each line keeps its own fold's dates


def test_a_missing_fold_does_not_swallow_later_lines():
    stream = io.StringIO()
    console = Console(stream=stream)
    console(_start(3))
    console(_fold(2, 3))
    console(_fold(1, 3))
    assert _fold_numbers(stream.getvalue()) == []
    console({"event": "stage", "name": "backtest"})  # the forecast stage is over: print what is left, in order
    assert _fold_numbers(stream.getvalue()) == [2, 3]


def test_fold_line_shows_hit_rate_beside_up_days():
    stream = io.StringIO()
    console = Console(stream=stream)
    console(_start(1))
    console(_fold(0, 1, hit_rate=0.512, up_share=0.538))
    assert "hit rate 51.2% vs 53.8% up days" in stream.getvalue()
