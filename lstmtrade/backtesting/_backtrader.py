"""Backtrader, imported without its compile-time warnings reaching the user's terminal.

Backtrader's docstrings hold invalid escape sequences (``'\\*'``). Where its files are compiled at first
import (installed with ``--no-compile``, or a read-only site-packages), Python 3.12+ prints
``SyntaxWarning: invalid escape sequence`` for them (3.10 and 3.11: a DeprecationWarning, hidden by
default). Such warnings are issued while compiling, attributed to the file's path rather than a module
name, so the filter below matches any module "name" that runs through a ``backtrader`` folder. Every
lstmtrade module takes ``bt`` from here.
"""
import warnings

_BACKTRADER_FILES = r".*[\\/]backtrader[\\/]"  # the warning's "module" is the compiled file's path

with warnings.catch_warnings():
    for _category in (SyntaxWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", message="invalid escape sequence", category=_category,
                                module=_BACKTRADER_FILES)
    import backtrader as bt

__all__ = ["bt"]
