"""`lstmtrade audit` passes honest strategies and fails ones that peek at the next bar."""
import pytest
from click.testing import CliRunner

from lstmtrade.backtesting.strategy import BUILTINS, PredictionStrategy
from lstmtrade.cli.main import cli
from lstmtrade.config import Config
from lstmtrade.data.prices import load_prices
from lstmtrade.evaluate.audit import audit

FAST = Config(model="persistence", min_train=300, retrain_every=100)


class NextBarPeeker(PredictionStrategy):
    """Goes long when tomorrow's close is higher: reads the next bar whenever there is one."""

    def target_weight(self, prediction):
        if len(self.data) < self.data.buflen():
            return 1.0 if self.data.close[1] > self.data.close[0] else 0.0
        return 0.0


class NaivePeeker(PredictionStrategy):
    """Reads the next bar unguarded, so it crashes on the last bar."""

    def target_weight(self, prediction):
        return 1.0 if self.data.close[1] > self.data.close[0] else 0.0


@pytest.fixture(scope="module")
def short_prices():
    return load_prices("sample:IBM", end="2003-12-31")


@pytest.mark.parametrize("name", ["LongFlat", "LongShort", "Proportional", "VolTarget"])
def test_builtin_strategies_pass(short_prices, name):
    checks = audit(short_prices, FAST, BUILTINS[name], strategy_cuts=8)
    assert [c.status for c in checks if c.status != "INFO"] == ["PASS"] * 4, [c.line() for c in checks]


def test_a_strategy_that_reads_the_next_bar_fails_with_the_date(short_prices):
    checks = {c.name: c for c in audit(short_prices, FAST, NextBarPeeker, strategy_cuts=8)}
    assert checks["truncation (model)"].status == "PASS"  # the model is honest; the strategy is not
    for name in ("truncation (strategy)", "future poisoning (strategy)"):
        assert checks[name].status == "FAIL" and checks[name].first_bad is not None


def test_a_strategy_that_crashes_at_the_data_end_fails(short_prices):
    (check,) = audit(short_prices, FAST, NaivePeeker)
    assert check.status == "FAIL" and check.first_bad == "2003-12-31"


def test_audit_command_exit_codes(tmp_path):
    peek = tmp_path / "peek.py"
    peek.write_text(
        "from lstmtrade import PredictionStrategy\n\n\n"
        "class Peek(PredictionStrategy):\n"
        "    def target_weight(self, prediction):\n"
        "        if len(self.data) < self.data.buflen():\n"
        "            return 1.0 if self.data.close[1] > self.data.close[0] else 0.0\n"
        "        return 0.0\n")
    args = ["audit", "--data", "sample:IBM", "--end", "2003-06-30", "--model", "persistence",
            "--min-train", "300", "--retrain-every", "100", "-q"]
    ok = CliRunner().invoke(cli, args)
    assert ok.exit_code == 0, ok.output
    assert "no look-ahead found" in ok.output and "FAIL" not in ok.output
    bad = CliRunner().invoke(cli, [*args, "--strategy", str(peek)])
    assert bad.exit_code == 1
    assert "FAIL  truncation (strategy)" in bad.output and "first offending date" in bad.output


class Never(PredictionStrategy):
    """Never trades: its order book stays empty."""

    def target_weight(self, prediction):
        return 0.0


class Once(PredictionStrategy):
    """Flat until late in the run, then buys and holds: one order, so runs cut before it have none (the case
    that ended the README's audit example in an IndexError: an empty order book compared with an empty slice)."""

    def target_weight(self, prediction):
        return 1.0 if len(self) > 800 else 0.0


class Daily(PredictionStrategy):
    """Flips between long and flat every bar: an order every day."""

    def target_weight(self, prediction):
        return 0.0 if len(self) % 2 else 1.0


@pytest.mark.parametrize("strategy", [Never, Once, Daily])
def test_strategies_that_trade_never_once_or_daily_get_pass_lines(short_prices, strategy):
    seen = []
    checks = audit(short_prices, FAST, strategy, strategy_cuts=6, progress=seen.append)
    assert [c.status for c in checks if c.status != "INFO"] == ["PASS"] * 4, [c.line() for c in checks]
    # the long stages say where they are: cut date k of n
    assert "truncation (strategy): cut date 6 of 6" in " ".join(seen)
    assert any(line.startswith("truncation (model): retraining on data cut at") for line in seen)


def test_the_readme_hurdle_strategy_audits_without_an_error(short_prices):
    """The README's Cautious strategy with hurdle=0.002 trades rarely; its audit used to end in an IndexError."""
    class Cautious(PredictionStrategy):
        params = (("hurdle", 0.001), ("size", 0.5))

        def target_weight(self, prediction):
            return self.p.size if prediction > self.p.hurdle else 0.0

    checks = audit(short_prices, Config(min_train=300, retrain_every=150, epochs=2, lookback=10, hidden=8,
                                        baselines=False), Cautious, {"hurdle": 0.002}, strategy_cuts=6)
    assert [c.status for c in checks if c.status != "INFO"] == ["PASS"] * 4, [c.line() for c in checks]


def test_a_universe_audit_passes_with_progress():
    from lstmtrade.backtesting.rules import TopK
    from lstmtrade.data.panel import load_universe

    universe = load_universe("sample:SP500", tickers=["AAL", "ABT", "ADM", "AIG", "AXP", "BAC"], end="2016-06-30")
    seen = []
    checks = audit(universe, Config(model="persistence", min_train=300, retrain_every=120), TopK, {"k": 2},
                   strategy_cuts=4, progress=seen.append)
    assert [c.status for c in checks if c.status != "INFO"] == ["PASS"] * 4, [c.line() for c in checks]
    assert "future poisoning (strategy): cut date 4 of 4" in " ".join(seen)


def test_the_delay_check_compares_with_the_runs_own_benchmark(tmp_path):
    from lstmtrade.backtesting.rules import TopK
    from lstmtrade.data.panel import load_universe

    universe = load_universe("sample:SP500", tickers=["AAL", "ABT", "ADM", "AIG"], end="2015-12-31")
    series = tmp_path / "bench.csv"
    universe.prices["ABT"].frame.to_csv(series, index_label="date")
    config = Config(model="persistence", min_train=300, retrain_every=120)

    def delay(config):
        checks = audit(universe, config, TopK, {"k": 2}, cuts=(0.5,), strategy_cuts=1)
        return next(c.line() for c in checks if c.name == "one-bar delay")

    equal_weight, own = delay(config), delay(config.replace(benchmark=str(series)))
    assert "over buy-and-hold" in equal_weight and "over the --benchmark series" in own
    assert equal_weight.split(" on time")[0].split()[-1] != own.split(" on time")[0].split()[-1]
