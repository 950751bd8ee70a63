"""Command line: parse options, call the Python API, print. No pandas or torch logic lives here.

Heavy libraries (torch, Backtrader, QuantStats) are imported inside commands, so ``--help`` is fast.
Exit codes: 0 ok; 2 bad usage or input (one line on stderr); 1 unexpected error (one line plus the path
of a log file holding the traceback); 130 interrupted.
"""
from __future__ import annotations

import datetime as _dt
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..errors import Interrupted, LstmtradeError
from .commands import COMMANDS
from .paper import COMMANDS as PAPER_COMMANDS
from .runs import COMMANDS as RUNS_COMMANDS
from .signal import COMMANDS as SIGNAL_COMMANDS


class _Group(click.Group):
    """Turns lstmtrade's errors into one line and the right exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Interrupted as exc:
            click.echo(f"\n{exc}", err=True)
            ctx.exit(130)
        except LstmtradeError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `lstmtrade runs | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
            ctx.exit(0)
        except click.UsageError as exc:  # a bad option or argument: one line, as for lstmtrade's own errors
            where = exc.ctx.command_path if exc.ctx is not None else "lstmtrade"
            click.echo(f"error: {' '.join(exc.format_message().split())} (see {where} --help)", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - a bug: one line, traceback to a file
            click.echo(f"error: unexpected {type(exc).__name__}: {exc} ({_crash_log()})", err=True)
            ctx.exit(1)


def _crash_log() -> str:
    """Where the traceback went: a log file, or why there is none (a full or read-only temp folder)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(tempfile.gettempdir()) / f"lstmtrade-error-{stamp}.log"
    try:
        path.write_text(f"lstmtrade {__version__}\n{' '.join(sys.argv)}\n\n{traceback.format_exc()}", encoding="utf-8")
    except OSError as exc:
        return f"the traceback could not be saved to {path}: {exc.strerror or exc}"
    return f"full traceback in {path}"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="lstmtrade")
def cli() -> None:
    """lstmtrade: do an LSTM's return forecasts make money once you trade them?

    Walk-forward LSTM forecasts, traded by a Backtrader strategy, compared with buy-and-hold after
    costs in a QuantStats tearsheet. Start with `lstmtrade backtest` (runs on a bundled sample).
    """


for command in COMMANDS + SIGNAL_COMMANDS + PAPER_COMMANDS + RUNS_COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli(prog_name="lstmtrade")


if __name__ == "__main__":  # pragma: no cover
    main()
