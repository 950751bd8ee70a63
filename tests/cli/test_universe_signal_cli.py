"""`lstmtrade train` and `lstmtrade signal` on a universe, as a user runs them: a panel CSV, a holdings file, --json,
--csv, and every refusal as one line with exit 2."""
import json

import pandas as pd
import pytest
from click.testing import CliRunner
from test_universe import planted_panel

import lstmtrade
from lstmtrade.cli.main import cli

FLAGS = ["--features", "logret,gap", "--min-train", "150", "--retrain-every", "60", "--lookback", "5", "--hidden", "8",
         "--epochs", "1", "--batch-size", "256", "--no-early-stopping", "--engine", "loop", "--threads", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("usig")
    panel = planted_panel(n_tickers=8, n_days=320)
    path = folder / "panel.csv"
    panel.to_csv(path, index=False)
    model = folder / "u.pt"
    result = CliRunner().invoke(cli, ["train", "--data", str(path), *FLAGS, "--strategy", "TopK", "--param", "k=3",
                                      "--model-out", str(model)])
    assert result.exit_code == 0, result.output
    assert "8 tickers" in result.stdout and "highest forecasts" in result.stdout
    return {"folder": folder, "panel": path, "model": model, "frame": panel}


def test_signal_json_matches_the_python_api(trained):
    result = CliRunner().invoke(cli, ["signal", "--model", str(trained["model"]), "--data", str(trained["panel"]),
                                      "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    api = lstmtrade.signal(trained["model"], str(trained["panel"]))
    assert payload["date"] == str(api.date.date()) and payload["strategy"] == "TopK" and payload["params"] == {"k": 3}
    assert [t["prediction"] for t in payload["tickers"]] == api.tickers["prediction"].tolist()
    assert sum(1 for t in payload["tickers"] if t["weight"]) == 3 and len(payload["orders"]) == 3
    assert payload["model"]["format_version"] == 3 and len(payload["model"]["sha256"]) == 64


def test_signal_table_with_holdings_and_orders_csv(trained):
    folder = trained["folder"]
    (folder / "h.csv").write_text("ticker,shares\nT00,50\nT01,20\nOLD,5\ncash,3000\n")
    out = folder / "orders.csv"
    result = CliRunner().invoke(cli, ["signal", "--model", str(trained["model"]), "--data", str(trained["panel"]),
                                      "--holdings", str(folder / "h.csv"), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "rank" in text and "orders at the last close" in text and "OLD" in text and "close it by hand" in text
    orders = pd.read_csv(out)
    assert list(orders.columns) == ["ticker", "side", "shares", "price", "value", "commission"]
    sides = orders["side"].tolist()
    assert sides == sorted(sides, key=lambda s: s != "sell")
    assert orders["shares"].dtype.kind == "i" and (orders["shares"] > 0).all()


@pytest.mark.parametrize("case", ["holdings", "one-ticker", "no-volume", "ends-early", "max-age"])
def test_signal_refusals_are_one_line_exit_2(trained, case, tmp_path):
    args = ["signal", "--model", str(trained["model"]), "--data", str(trained["panel"])]
    expected = {"holdings": "negative cash", "one-ticker": "holds one ticker", "no-volume": "volume",
                "ends-early": "before the model's training data ends", "max-age": "older than --max-age"}[case]
    if case == "holdings":
        (tmp_path / "h.csv").write_text("ticker,shares\nT00,1\ncash,-10\n")
        args += ["--holdings", str(tmp_path / "h.csv")]
    elif case == "one-ticker":
        args[-1] = "sample:MSFT"
    elif case == "no-volume":
        trained["frame"].drop(columns="Volume").to_csv(tmp_path / "p.csv", index=False)
        args[-1] = str(tmp_path / "p.csv")
    elif case == "ends-early":
        args += ["--end", str(trained["frame"]["Date"].max().date() - pd.Timedelta(days=10))]
    else:
        args += ["--max-age", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert expected.lower() in result.stderr.lower()


def _one_line(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "unexpected" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_signal_csv_into_a_missing_folder_is_refused_before_the_journal_entry(trained, tmp_path):
    journal = tmp_path / "jj"
    args = ["signal", "--model", str(trained["model"]), "--data", str(trained["panel"]), "--journal", str(journal)]
    result = CliRunner().invoke(cli, [*args, "--csv", str(tmp_path / "nope" / "o.csv")])
    _one_line(result, "cannot write", "o.csv")
    assert not (journal / "journal.jsonl").exists()  # nothing appended: the same command, mended, goes through
    result = CliRunner().invoke(cli, [*args, "--csv", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o.csv").exists() and len((journal / "journal.jsonl").read_text().splitlines()) == 1


def test_signal_journal_that_cannot_be_written_is_one_line_before_the_forecast(trained, tmp_path, monkeypatch):
    import lstmtrade.live.portfolio as portfolio

    def tripwire(*args, **kwargs):
        raise AssertionError("the forecast ran: the journal should have been refused before it")

    monkeypatch.setattr(portfolio, "forecasts", tripwire)
    args = ["signal", "--model", str(trained["model"]), "--data", str(trained["panel"]), "--journal"]
    locked = tmp_path / "j"
    (locked / ".journal.lock").mkdir(parents=True)  # the lock cannot be opened (as root too)
    _one_line(CliRunner().invoke(cli, [*args, str(locked)]), "cannot write", ".journal.lock")
    afile = tmp_path / "afile"
    afile.write_text("x")  # a journal folder under a regular file
    _one_line(CliRunner().invoke(cli, [*args, str(afile / "j")]), "cannot write", "not a folder")


@pytest.mark.parametrize("age", ["nan", "-1", "inf"])
def test_signal_max_age_must_be_finite_and_not_negative(trained, age):
    result = CliRunner().invoke(cli, ["signal", "--model", str(trained["model"]), "--data", str(trained["panel"]),
                                      "--max-age", age])
    _one_line(result, "--max-age must be a number of days >= 0")
    with pytest.raises(lstmtrade.errors.ConfigError, match="--max-age"):
        lstmtrade.signal(trained["model"], str(trained["panel"]), max_age=float(age))


def test_missing_model_and_journal_folder_are_refused_before_heavy_imports(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from lstmtrade.cli.main import cli\n"
            "try:\n    cli(sys.argv[1:], standalone_mode=True)\n"
            "finally:\n    print(sorted(m for m in ('torch', 'backtrader', 'pandas') if m in sys.modules), "
            "file=sys.stderr)")
    for args, message in ((["signal", "--model", str(tmp_path / "none.pt"), "--data", "sample:MSFT"],
                           "model file not found"),
                          (["paper", str(tmp_path / "typo")], "no such folder")):
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("error:") == 1, done.stderr
        assert done.stderr.strip().endswith("[]"), done.stderr  # refused before torch, Backtrader or pandas
