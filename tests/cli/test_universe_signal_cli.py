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
