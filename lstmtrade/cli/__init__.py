"""Stage 6, the command line: click commands that parse options, call the Python API and print.

``lstmtrade.cli:main`` is the console script. Importing this package loads click and the standard library only
(no pandas, torch or Backtrader), so ``lstmtrade --help`` stays fast.
"""
from .main import cli, main

__all__ = ["cli", "main"]
