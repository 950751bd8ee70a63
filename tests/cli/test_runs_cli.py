"""`lstmtrade runs`, `runs show`, `runs compare`, `runs index` as a user types them, on a folder of past runs
that holds finished runs, a sweep and folders that are not finished runs."""
import json
import re

from click.testing import CliRunner

from lstmtrade.cli.main import cli


def _invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def test_runs_lists_every_folder_with_its_figures_and_how_to_resume(past_runs):
    result = _invoke("runs", "--out", past_runs["out"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    first = json.loads((past_runs["first"] / "metrics.json").read_text())
    (row,) = [line for line in lines if line.split()[2:3] == [past_runs["first"].name]]
    assert f"{first['strategy']['sharpe']:.2f}" in row and f"{first['benchmark']['sharpe']:.2f}" in row
    assert f"hit {first['forecast']['hit_rate']:.1%}" in row and "finished" in row
    (sweep,) = [line for line in lines if past_runs["sweep"].name in line]
    assert " sweep " in sweep and "of 2, PBO" in sweep
    assert f"    resume: lstmtrade backtest --resume {past_runs['interrupted']}" in lines
    assert f"    resume: lstmtrade sweep --resume {past_runs['half_sweep']}" in lines
    assert any("damaged" in line for line in lines) and any("not a run" in line for line in lines)
    assert "9 folder(s)" in result.output


def test_runs_json_holds_the_paths_and_full_precision_figures(past_runs):
    result = _invoke("runs", "--out", past_runs["out"], "--json")
    assert result.exit_code == 0, result.output
    listed = {r["path"]: r for r in json.loads(result.output)}
    for key, kind in (("first", "backtest"), ("second", "backtest"), ("again", "re-backtest")):
        m = json.loads((past_runs[key] / "metrics.json").read_text())
        run = listed[str(past_runs[key])]
        assert run["kind"] == kind and run["status"] == "finished"
        assert run["figures"]["sharpe"] == m["strategy"]["sharpe"]
        assert run["figures"]["benchmark_sharpe"] == m["benchmark"]["sharpe"]
        assert run["figures"]["hit_rate"] == m["forecast"]["hit_rate"]
    summary = json.loads((past_runs["sweep"] / "sweep.json").read_text())
    sweep = listed[str(past_runs["sweep"])]
    assert sweep["figures"]["pbo"] == summary["pbo"] and sweep["figures"]["best_trial"] == summary["best"]["id"]


def test_show_names_a_run_by_folder_name_or_path(past_runs):
    by_name = _invoke("runs", "show", past_runs["first"].name, "--out", past_runs["out"])
    by_path = _invoke("runs", "show", past_runs["first"])
    assert by_name.exit_code == 0 and by_name.output == by_path.output
    m = json.loads((past_runs["first"] / "metrics.json").read_text())
    assert re.search(r"^kind +backtest$", by_name.output, re.M) and m["verdict"] in by_name.output
    assert "tearsheet.html" in by_name.output and "p, Sharpe above benchmark's" in by_name.output
    missing = _invoke("runs", "show", "no-such-run", "--out", past_runs["out"])
    assert missing.exit_code == 2 and missing.output.startswith("error: no run no-such-run")


def test_compare_names_the_option_that_differs_then_the_figures(past_runs):
    result = _invoke("runs", "compare", past_runs["first"].name, past_runs["second"].name, "--out", past_runs["out"])
    assert result.exit_code == 0, result.output
    head, _, figures = result.output.partition("figures:")
    differ = [line.split() for line in head.splitlines()[2:] if line.strip()]
    assert differ == [["threshold", "0.0", "0.001"]]
    second = json.loads((past_runs["second"] / "metrics.json").read_text())
    (sharpe,) = [line for line in figures.splitlines() if line.split()[:1] == ["Sharpe"]]
    assert sharpe.split()[-1] == f"{second['strategy']['sharpe']:.2f}"
    one = _invoke("runs", "compare", past_runs["first"].name)
    assert one.exit_code == 2 and "two runs or more" in one.output


def test_index_is_rewritten_on_demand_and_an_empty_folder_has_no_runs(past_runs, tmp_path):
    result = _invoke("runs", "index", "--out", past_runs["out"])
    assert result.exit_code == 0 and result.output.strip() == str(past_runs["out"] / "index.html")
    empty = _invoke("runs", "--out", tmp_path / "none-yet")
    assert empty.exit_code == 0 and "no runs under" in empty.output
    (tmp_path / "f").write_text("x")
    bad = _invoke("runs", "--out", tmp_path / "f")
    assert bad.exit_code == 2 and "is a file" in bad.output


def test_mlflow_is_a_flag_of_backtest_and_sweep_only():
    for command in ("backtest", "sweep"):
        assert "--mlflow / --no-mlflow" in _invoke(command, "--help").output
    for command in ("audit", "train"):
        assert "--mlflow" not in _invoke(command, "--help").output
    assert "runs" in _invoke("--help").output


def test_an_index_html_lstmtrade_did_not_write_is_never_overwritten(tmp_path):
    """Found by hand: `runs index --out DIR` replaced a user's own DIR/index.html (exit 0). Now the command refuses
    in one line and a finished run leaves that page alone too."""
    from lstmtrade.report.index import write_index

    mine = tmp_path / "index.html"
    mine.write_text("<html><title>my page</title></html>")
    result = CliRunner().invoke(cli, ["runs", "index", "--out", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "was not written by lstmtrade" in result.stderr
    assert write_index(tmp_path) is None
    assert mine.read_text() == "<html><title>my page</title></html>"
    own = tmp_path / "own"
    own.mkdir()
    assert write_index(own) == own / "index.html" and write_index(own) == own / "index.html"  # its own: rewritten
    missing = CliRunner().invoke(cli, ["runs", "index", "--out", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and missing.stderr.count("cannot write") == 1, missing.stderr


def test_show_and_compare_refuse_what_is_not_a_run_or_a_run_named_twice(past_runs, tmp_path):
    """Found by hand: `runs show DIR` of any folder (and `runs show ''`: the current one) printed "not a run" with
    exit 0, and `runs compare A A` compared a run with itself."""
    plain = tmp_path / "photos"
    plain.mkdir()
    first = past_runs["first"]
    for args, fragment in ((["show", plain], "not a run folder"), (["show", ""], "give a run"),
                           (["compare", first, plain], "not a run folder"),
                           (["compare", first, first], "a run is named twice")):
        result = _invoke("runs", *args, "--out", past_runs["out"])
        assert result.exit_code == 2 and result.stderr.count("\n") == 1 and fragment in result.stderr, result.output
