"""The few exceptions lstmtrade raises on purpose.

Every one of them means "the user can fix this": the CLI turns them into one line and exit code 2.
Anything else is a bug and exits 1 with a log file holding the traceback.
"""


class LstmtradeError(Exception):
    """Base class: a problem with the user's input, settings or environment."""


class DataError(LstmtradeError):
    """Price data that cannot be loaded or fails validation."""


class ConfigError(LstmtradeError):
    """An invalid setting, option value or config file."""


class StrategyError(LstmtradeError):
    """A strategy that cannot be found, loaded or run."""


class ModelFileError(LstmtradeError):
    """A saved model file that is not ours, is damaged or is from an incompatible version."""


class WriteError(LstmtradeError, OSError):
    """A file or folder that cannot be written: a full disk, a read-only or unwritable folder. Files written
    before it stay as they were (every write is atomic). Also an ``OSError``, so code that catches those still
    does."""


class DamagedFileError(LstmtradeError):
    """A file lstmtrade wrote earlier that no longer reads back as written (cut short, edited or damaged)."""


class Interrupted(LstmtradeError):
    """The user pressed Ctrl-C; finished folds are saved and the run can be resumed."""

    def __init__(self, folder: object = None):
        self.folder = folder
        hint = f"; finished folds are saved: resume with  lstmtrade backtest --resume {folder}" if folder else ""
        super().__init__(f"interrupted{hint}")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for a one-line error (its class name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
