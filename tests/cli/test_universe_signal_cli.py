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


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(trained, tmp_path):
    """Found by hand: --csv onto the holdings file, the model, the data or the journal, and train --model-out onto
    the data file, replaced that input (exit 0)."""
    import hashlib

    journal = tmp_path / "jo"
    base = ["signal", "--model", str(trained["model"]), "--data", str(trained["panel"])]
    assert CliRunner().invoke(cli, [*base, "--journal", str(journal)]).exit_code == 0
    holdings = tmp_path / "h.csv"
    holdings.write_text("ticker,shares\ncash,1000\n")
    inputs = {"holdings": holdings, "model": trained["model"], "data": trained["panel"],
              "journal": journal / "journal.jsonl"}
    before = {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in inputs.items()}
    for name, path in inputs.items():
        result = CliRunner().invoke(cli, [*base, "--holdings", str(holdings), "--journal", str(journal),
                                          "--csv", str(path)])
        _one_line(result, f"--csv {path} is an input file")
    result = CliRunner().invoke(cli, ["train", "--data", str(trained["panel"]), *FLAGS,
                                      "--model-out", str(trained["panel"])])
    _one_line(result, "--model-out", "is an input file")
    assert {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in inputs.items()} == before
    assert len((journal / "journal.jsonl").read_text().splitlines()) == 1  # no entry appended by a refused run
    ok = CliRunner().invoke(cli, [*base, "--holdings", str(holdings), "--csv", str(journal / "orders.csv")])
    assert ok.exit_code == 0, ok.output  # a new file beside the journal is fine


def test_holdings_worth_nothing_are_refused_and_orders_are_whole_shares(trained, tmp_path):
    """Found by hand: a short without its cash printed "orders: none (the holdings already match the weights)",
    and a fractional holding gave an order whose value was not its share count times the price."""
    ticker = sorted(set(trained["frame"]["Ticker"]))[0]
    path = tmp_path / "h.csv"
    path.write_text(f"ticker,shares\n{ticker},-10\n")
    args = ["signal", "--model", str(trained["model"]), "--data", str(trained["panel"]), "--holdings", str(path)]
    _one_line(CliRunner().invoke(cli, args), "so the equity is -", "give the cash you hold")
    tickers = sorted(set(trained["frame"]["Ticker"]))
    fractional = {t: 10.5 for t in tickers} | {"cash": 100.0}
    result = lstmtrade.signal(trained["model"], str(trained["panel"]), holdings=fractional)
    orders = result.orders
    assert len(orders) and (orders["shares"] == orders["shares"].round()).all() and (orders["shares"] > 0).all()
    assert orders["value"].to_numpy() == pytest.approx((orders["shares"] * orders["price"]).to_numpy())
    after = result.holdings_after
    sold = orders.set_index("ticker").query("side == 'sell'")["shares"]
    for name, shares in sold.items():
        assert after.get(name, 0.0) == pytest.approx(10.5 - shares)  # the fraction left is what was not sold


def test_a_journal_that_is_a_folder_is_one_line(trained, tmp_path):
    (tmp_path / "j" / "journal.jsonl").mkdir(parents=True)
    for args in (["signal", "--model", str(trained["model"]), "--data", str(trained["panel"]), "--journal",
                  str(tmp_path / "j")], ["paper", str(tmp_path / "j")]):
        _one_line(CliRunner().invoke(cli, args), "cannot read the journal")


def test_train_refuses_target_rank_on_one_ticker(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", "sample:MSFT", "--target", "rank", "-q", *FLAGS,
                                      "--model-out", str(tmp_path / "m.pt")])
    _one_line(result, "--target rank", "it needs a universe")
    assert not (tmp_path / "m.pt").exists()


def test_a_journal_records_one_portfolio_not_a_universe_and_a_ticker(trained, tmp_path):
    """Found by hand: a one-ticker entry then a universe entry went into one journal, and paper credited both."""
    journal = tmp_path / "mixed"
    one = tmp_path / "msft.pt"
    assert CliRunner().invoke(cli, ["train", "--data", "sample:MSFT", "--end", "2002-06-28", *FLAGS, "-q",
                                    "--model-out", str(one)]).exit_code == 0
    first = CliRunner().invoke(cli, ["signal", "--model", str(one), "--data", "sample:MSFT", "--end", "2002-06-28",
                                     "--journal", str(journal)])
    assert first.exit_code == 0, first.output
    before = (journal / "journal.jsonl").read_bytes()
    result = CliRunner().invoke(cli, ["signal", "--model", str(trained["model"]), "--data", str(trained["panel"]),
                                      "--journal", str(journal)])
    _one_line(result, "holds a one-ticker model's entries", "give another --journal")
    assert (journal / "journal.jsonl").read_bytes() == before
