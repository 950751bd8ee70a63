"""Finding past runs again: every folder listed with its kind, status and figures (equal to its metrics.json),
bad folders listed with a status instead of a traceback, and index.html, whose every link resolves."""
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from lstmtrade.errors import ConfigError
from lstmtrade.report.index import write_index
from lstmtrade.report.runs import find_run, list_runs, read_run, settings_that_differ


def _by_name(root):
    return {r.name: r for r in list_runs(root)}


def test_every_folder_is_listed_newest_first_with_its_kind_and_status(past_runs):
    runs = list_runs(past_runs["out"])
    assert len(runs) == 9  # notes.txt (a file) and .cache (hidden) are not runs
    whens = [r.when for r in runs]
    assert whens == sorted(whens, reverse=True)
    got = {r.path: (r.kind, r.status) for r in runs}
    assert got[past_runs["first"]] == got[past_runs["second"]] == ("backtest", "finished")
    assert got[past_runs["again"]] == ("re-backtest", "finished")
    assert got[past_runs["sweep"]] == ("sweep", "finished")
    assert got[past_runs["interrupted"]] == ("backtest", "unfinished")
    assert got[past_runs["half_sweep"]] == ("sweep", "unfinished")
    assert got[past_runs["damaged"]] == ("backtest", "damaged")
    assert got[past_runs["older"]] == ("backtest", "finished")
    assert got[past_runs["foreign"]] == (None, "not a run")


def test_figures_are_those_of_metrics_json_exactly(past_runs):
    for key in ("first", "second", "again"):
        run = read_run(past_runs[key])
        m = json.loads((past_runs[key] / "metrics.json").read_text())
        assert run.figures["sharpe"] == m["strategy"]["sharpe"]
        assert run.figures["benchmark_sharpe"] == m["benchmark"]["sharpe"]
        assert run.figures["hit_rate"] == m["forecast"]["hit_rate"]
        assert run.figures["dsr"] == m["significance"]["dsr"]
        assert run.verdict == m["verdict"] and run.data == "MSFT"
    assert read_run(past_runs["again"]).strategy == "LongShort"
    sweep, summary = read_run(past_runs["sweep"]), json.loads((past_runs["sweep"] / "sweep.json").read_text())
    assert sweep.figures["best_trial"] == summary["best"]["id"]
    assert sweep.figures["sharpe"] == summary["best"]["metrics"]["sharpe"]
    assert sweep.figures["pbo"] == summary["pbo"] and sweep.figures["n_trials"] == 2
    best = json.loads((past_runs["sweep"] / "trials" / summary["best"]["id"] / "metrics.json").read_text())
    assert sweep.figures["benchmark_sharpe"] == best["benchmark"]["sharpe"]
    assert f"best {summary['best']['id']} of 2, PBO" in sweep.headline


def test_unfinished_runs_say_how_to_resume_and_bad_ones_say_what_is_wrong(past_runs):
    interrupted = read_run(past_runs["interrupted"])
    assert interrupted.resume == f"lstmtrade backtest --resume {past_runs['interrupted']}"
    half = read_run(past_runs["half_sweep"])
    assert half.resume == f"lstmtrade sweep --resume {past_runs['half_sweep']}"
    assert half.figures["finished_trials"] == 1 and "1 of 2 trials finished" in half.note
    damaged = read_run(past_runs["damaged"])
    assert "metrics.json is not valid JSON" in damaged.note and damaged.resume is None
    older = read_run(past_runs["older"])
    assert older.figures["sharpe"] == 0.41 and older.figures["dsr"] is None and "older" in older.note
    assert "not a folder lstmtrade wrote" in read_run(past_runs["foreign"]).note


def test_settings_that_differ_name_the_one_option_changed(past_runs):
    first, second = read_run(past_runs["first"]), read_run(past_runs["second"])
    assert settings_that_differ([first, second]) == {"threshold": [0.0, 0.001]}
    assert settings_that_differ([first, first]) == {}


def test_a_run_is_named_by_folder_name_or_path(past_runs, tmp_path):
    out, first = past_runs["out"], past_runs["first"]
    assert find_run(first.name, out) == out / first.name
    assert find_run(str(first), tmp_path) == first
    with pytest.raises(ConfigError, match="did you mean"):
        find_run(first.name[:-1] + "x", out)
    assert list_runs(tmp_path / "nothing-here") == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        list_runs(tmp_path / "file")


def test_index_was_rewritten_by_each_run_and_lists_them(past_runs):
    for key in ("first", "second", "again", "sweep"):
        assert past_runs[key].name in past_runs["index"]


def _hrefs(text):
    return re.findall(r'href="([^"]+)"', text)


def test_index_links_resolve_and_every_folder_has_a_row(past_runs):
    out = past_runs["out"]
    path = write_index(out)
    text = path.read_text(encoding="utf-8")
    assert text.count("<tr>") == 1 + 9  # the heading and one row per folder
    links = _hrefs(text)
    assert links and all(not link.startswith(("http:", "https:", "//")) for link in links)  # opens offline
    for link in links:
        assert (out / unquote(link)).exists(), link
    for key in ("first", "second", "again"):
        for page in ("tearsheet.html", "comparison.html"):
            assert f'href="{past_runs[key].name}/{page}"' in text
    best = json.loads((past_runs["sweep"] / "sweep.json").read_text())["best"]["id"]
    assert f'href="{past_runs["sweep"].name}/sweep.html"' in text
    assert f'href="{past_runs["sweep"].name}/trials/{best}/tearsheet.html"' in text
    assert f"lstmtrade backtest --resume {past_runs['interrupted']}" in text
    assert f"lstmtrade sweep --resume {past_runs['half_sweep']}" in text
    assert "damaged" in text and "not a run" in text
    assert text.count("<svg") >= 4 and "<script>" in text  # sparklines of the finished runs; sorting
    assert not list(Path(out).glob(".index.html.*"))  # written atomically: no temporary file left


def test_the_headline_claims_significance_only_as_the_verdict_does():
    """"significantly" only when the Sharpe-difference test rejects; DSR (a test against zero) never decides it."""
    from lstmtrade.report.runs import run_headline

    def metrics(sharpe, bench, test, dsr=0.99, verdict="No evidence of forecasting skill (...)"):
        return {"verdict": verdict, "strategy": {"sharpe": sharpe}, "benchmark": {"sharpe": bench},
                "significance": {"dsr": dsr, **({"vs_benchmark": test} if test is not None else {})}}

    assert run_headline(metrics(1.0, 0.5, {"pvalue": 0.01})) == "no skill; beat B&H, significantly"
    assert run_headline(metrics(1.0, 0.5, {"pvalue": 0.30})) == "no skill; beat B&H, not significantly"
    assert run_headline(metrics(1.0, 0.5, None)) == "no skill; beat B&H"  # a run from before the test
    assert run_headline(metrics(0.4, 0.5, {"pvalue": 0.01}, verdict="Evidence of ...")) == "skill; did not beat B&H"
    assert run_headline({"strategy": {"sharpe": 1.0}}) is None  # no verdict: nothing to shorten
    given = {**metrics(0.4, 0.5, None), "config": {"benchmark": "spy.csv"}}
    assert run_headline(given) == "no skill; did not beat the benchmark"  # --benchmark is not buy-and-hold
