"""``lstmtrade train``, ``lstmtrade signal`` and ``lstmtrade data list|show``: click commands for the cli group.

Registered on :data:`lstmtrade.cli.main.cli` from :data:`COMMANDS`. Errors are lstmtrade errors; the group prints
them as one line.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..config import check_max_age
from ..errors import ConfigError
from .options import build_config, config_options, existing_model_file


def _load_data(data: str | None, ticker: str | None, start: str | None = None, end: str | None = None,
               refresh: bool = False, default: str | None = None, date_format: str | None = None):
    """One ticker's bars (a CSV, a sample, a --ticker download) for a one-ticker model."""
    from ..data.prices import load_prices

    if data and ticker:
        raise ConfigError("give either --data or --ticker, not both")
    if ticker:
        from ..data.sources import load_ticker

        return load_ticker(ticker, start=start, end=end, refresh=refresh)
    if data is None and default is None:
        raise ConfigError("give the data to signal on: --data FILE (or sample:TICKER) or --ticker SYMBOL")
    return load_prices(data if data is not None else default, start=start, end=end, date_format=date_format)


def _train_data(config, ticker: str | None, refresh: bool):
    """What `train` trains on: a universe (--data panel, folder, sample:SP500) or one ticker's bars."""
    from ..data.load import load_data
    from ..data.panel import is_universe

    if config.data is not None and is_universe(config.data):
        if ticker:
            raise ConfigError("give either --data or --ticker, not both")
        universe = load_data(config)
        faults = universe.report[universe.report["status"] != "used"]
        if config.strict and len(faults):
            from ..errors import DataError

            raise DataError(f"--strict: {len(faults)} ticker(s) have data faults ({faults['ticker'].iloc[0]}: "
                            f"{faults['issue'].iloc[0]})")
        return universe
    return _load_data(config.data, ticker, config.start, config.end, refresh,
                      default=None if ticker else "sample:MSFT", date_format=config.date_format)


def _echo_err(text: str, quiet: bool) -> None:
    if not quiet:
        click.echo(text, err=True)


@click.command("train")
@config_options(skip=("tracking",))
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML file whose keys are these options' names; the command line wins.")
@click.option("--param", "param_pairs", multiple=True, metavar="NAME=VALUE",
              help="Strategy param stored with the model (used by `signal` by default); repeatable.")
@click.option("--ticker", metavar="SYMBOL", help="Daily bars from Yahoo Finance (needs lstmtrade[yahoo]); cached.")
@click.option("--refresh", is_flag=True, help="With --ticker: download again even if cached.")
@click.option("--model-out", "model_out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the model file (e.g. model.pt).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the path of the model file.")
@click.option("--as-scheduled", "scheduled", is_flag=True,
              help="Train the fold the backtest's schedule uses on the last bar (retrained every "
                   "--retrain-every bars) instead of all rows up to the last bar: signals then equal the "
                   "backtest's predictions on every day of that fold.")
def train(config_file, param_pairs, ticker, refresh, model_out, quiet, scheduled, **options) -> None:
    """Train the configured LSTM on all history up to the last bar and save it as one model file.

    The model is trained exactly as the backtest's fold starting at the last bar would be (same
    features, rows, purge, scaler and seed), so its forecasts match the backtest's. A universe (--data
    panel, folder or sample:SP500) trains one pooled model, screened per ticker as the backtest screens it,
    and keeps each ticker's scaler. Use it with `lstmtrade signal --model FILE` after each close.
    """
    from ..formatting import stamper
    from ..live.api import train as train_model

    config = build_config(config_file, param_pairs, options)
    from ..files import check_not_an_input

    check_not_an_input(model_out, "--model-out", (config.data, config_file, config.benchmark, config.borrow_file))
    prices = _train_data(config, ticker, refresh)
    universe = not hasattr(prices, "frame")
    for warning in prices.warnings:
        _echo_err(f"warning: {warning}", quiet)
    index = prices.calendar if universe else prices.frame.index
    show = stamper(index)
    what = f"{prices.name}: {prices.summary}" if universe else prices.name
    _echo_err(f"training on {what}; {len(index)} bars {show(index[0])} .. {show(index[-1])}; "
              f"{prices.bars.describe()}", quiet)

    def progress(event: dict[str, Any]) -> None:
        if event["event"] == "train":
            tickers = f", {event['tickers']} tickers pooled" if "tickers" in event else ""
            stop = f"early stopping on the next {event['n_val']} rows" if event["n_val"] else "no early stopping"
            _echo_err(f"final model: trains on {show(event['fit_start'])} .. {show(event['fit_end'])} "
                      f"({event['n_fit']} rows{tickers}), {stop}; the rows the backtest gives a fold "
                      f"{event['fold']} whose first test day is the last bar", quiet)
        elif event["event"] == "epoch":
            seed = f"seed {event['member'] + 1}/{config.seeds} " if "member" in event else ""
            _echo_err(f"  {seed}epoch {event['epoch']}/{event['epochs']} loss {event['loss']:.4f}", quiet)

    trained = train_model(prices=prices, config=config, progress=None if quiet else progress, scheduled=scheduled,
                          model_out=model_out)
    if quiet:
        click.echo(str(model_out))
        return
    seeds = f" (mean of {config.seeds} seeds)" if config.seeds > 1 else ""
    if universe:
        best = trained.forecasts.sort_values("prediction", ascending=False, kind="stable").head(3)
        top = ", ".join(f"{t} {v:+.5f}" for t, v in zip(best["ticker"], best["prediction"]))
        click.echo(f"saved {model_out} (trained through {show(trained.train_end)}; {len(trained.fitted.scalers)} "
                   f"tickers); highest forecasts for the next session{seeds}: {top}")
        return
    click.echo(f"saved {model_out} (trained through {show(trained.train_end)}); "
               f"prediction for the next {'bar' if prices.bars.intraday else 'session'}: "
               f"{trained.prediction:+.5f}{seeds}")


def _table(result: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in result["params"].items())
    rows = [
        ("last date", f"{result['last_date']} (signal for the {result['next_session']}, "
                      f"~{result['next_bar'] if result.get('bar', '1d') != '1d' else result['next_weekday']})"),
        ("prediction", f"{result['prediction']:+.6f} (open -> open return of the next session's position)"),
        *([("uncertainty", f"{result['uncertainty']:.6f} (standard deviation over {len(result['members'])} seeds; "
                           f"confidence |prediction| / uncertainty {abs(result['prediction']) / result['uncertainty']:.2f})")]
          if result.get("uncertainty") else []),
        ("strategy", f"{result['strategy']}({params})"),
        ("target weight", f"{result['target_weight']:+.2f} of equity ({result['position']}) from the next open"),
        ("model", f"{result['model'] or '(in memory)'} trained through {result['train_end']}, "
                  f"created {result['model_created']}"),
        ("data", f"{result['data_source']} sha256 {result['data_sha256'][:12]}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    lines += [f"warning: {w}" for w in result["warnings"]]
    return "\n".join(lines)


def _max_age(ctx, param, value):
    """A NaN, infinite or negative --max-age is refused while parsing (config.check_max_age)."""
    if value is not None:
        check_max_age(value)
    return value


@click.command("signal")
@click.option("--model", "model_path", required=True, type=click.Path(), callback=existing_model_file,
              help="Model file written by `lstmtrade train --model-out`.")
@click.option("--data", metavar="FILE", help="CSV file, panel, folder or sample (sample:MSFT, sample:SP500), ending "
              "at the last close; default for a universe model: the data it was trained on.")
@click.option("--end", metavar="DATE", help="Last date to use (YYYY-MM-DD); rows after it are never read.")
@click.option("--date-format", "date_format", metavar="TEXT",
              help="Layout of the Date column as a strptime format (default: ISO 8601), as for backtest.")
@click.option("--ticker", metavar="SYMBOL", help="Daily bars from Yahoo Finance (cached; see --refresh).")
@click.option("--refresh", is_flag=True, help="With --ticker: download again even if cached.")
@click.option("--strategy", help="Position rule (default: the model's own strategy and params).")
@click.option("--param", "param_pairs", multiple=True, metavar="NAME=VALUE", help="Strategy param; repeatable.")
@click.option("--holdings", type=click.Path(dir_okay=False), metavar="FILE",
              help="What you hold now: a CSV with the header ticker,shares and an optional cash,AMOUNT row. "
                   "Orders take it to the target weights; rules that keep names (TopKDropout) see it.")
@click.option("--equity", type=float, metavar="X",
              help="Equity the weights apply to [default: holdings at the last close plus cash, else 100,000].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the orders (ticker,side,shares,price,value,commission; sells first) to FILE.")
@click.option("--max-age", "max_age", type=float, metavar="DAYS", callback=_max_age,
              help="Refuse a model created more than DAYS days ago.")
@click.option("--journal", type=click.Path(file_okay=False), metavar="DIR",
              help="Append this signal to DIR/journal.jsonl, the paper trail `lstmtrade paper DIR` credits (one "
                   "entry per data date, hash-chained); its last entry is what you hold unless --holdings is given.")
def signal_cmd(model_path, data, end, date_format, ticker, refresh, strategy, param_pairs, holdings, equity,
               as_json, csv_path, max_age, journal) -> None:
    """Tomorrow's signal: the model's forecasts after the data's last close, target weights and orders.

    One ticker: the forecast and the target weight the strategy would hold from the next open (strategies
    whose position comes from target_weight(prediction) alone; not VolTarget or BuyAndHold). A universe
    model: every ticker's forecast ranked, the portfolio rule's weights (computed by the backtest's own
    code, with --holdings as what it holds), the orders that take the holdings there at the last close,
    and the tickers left out, with why.
    """
    if csv_path:  # before the signal is made (and journaled): a refusal after the append would lose the orders
        from ..files import check_not_an_input, check_writable_file

        check_writable_file(Path(csv_path))
        check_not_an_input(csv_path, "--csv", (model_path, data, holdings,
                                               Path(journal) / "journal.jsonl" if journal else None))
    from ..forecast.artifact import load_model
    from ..live.api import load_for
    from ..live.api import signal as make_signal

    model = load_model(model_path)
    if ticker:
        prices = _load_data(data, ticker, end=end, refresh=refresh)
    elif data is None and not model.is_universe:
        raise ConfigError("give the data to signal on: --data FILE (or sample:TICKER) or --ticker SYMBOL")
    else:
        prices = load_for(model, data, end, date_format)
    params = None
    if param_pairs:
        from ..backtesting.loader import load_strategy, parse_params

        spec = strategy if strategy is not None else model.config.strategy
        default = "TopK" if model.is_universe else "LongFlat"
        cls = load_strategy(default if spec == "auto" else spec)
        params = parse_params(cls, param_pairs)
    result = make_signal(model, prices, strategy=strategy, params=params, holdings=holdings, equity=equity,
                         max_age=max_age, journal=journal)
    if csv_path:
        from ..files import write_csv

        write_csv(Path(csv_path), result.orders, index=False)
    if as_json:
        click.echo(json.dumps(result.to_dict(), allow_nan=False))
    elif model.is_universe:
        from .signal_console import universe_table

        click.echo(universe_table(result))
    else:
        click.echo(_table(result.details))
        if holdings or equity is not None:
            from .signal_console import order_lines

            click.echo("\n".join(order_lines(result)))
    if journal and not as_json:
        click.echo(f"journal: entry for {result.to_dict()['date']} appended to {Path(journal) / 'journal.jsonl'}")


@click.group("data")
def data_group() -> None:
    """Bundled samples and cached --ticker downloads."""


@data_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def data_list(as_json) -> None:
    """List bundled samples and cached tickers with rows, first and last date."""
    from ..data.sources import cache_dir, list_cached, list_samples

    rows = list_samples() + list_cached()
    if as_json:
        click.echo(json.dumps(rows))
        return
    width = max([10] + [len(row.get("first", "")) for row in rows])
    click.echo(f"{'symbol':<10} {'kind':<7} {'bar':<4} {'rows':>6}  {'first':<{width}}  {'last':<{width}}  downloaded")
    for row in rows:
        if "error" in row:
            click.echo(f"{row['symbol']:<10} {row['kind']:<7} unreadable: {row['error']}")
            continue
        click.echo(f"{row['symbol']:<10} {row['kind']:<7} {row.get('bar', ''):<4} {row['rows']:>6}  "
                   f"{row['first']:<{width}}  {row['last']:<{width}}  {row.get('downloaded') or '-'}")
    click.echo(f"cache: {cache_dir()}")


@data_group.command("show")
@click.argument("symbol")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def data_show(symbol, as_json) -> None:
    """Rows, first and last date of a cached ticker or a bundled sample (sample:MSFT)."""
    from ..data.sources import summary

    info = summary(symbol)
    if as_json:
        click.echo(json.dumps(info))
        return
    for key, value in info.items():
        click.echo(f"{key:<11} {value}")


COMMANDS = (train, signal_cmd, data_group)
