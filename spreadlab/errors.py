"""The project's own exceptions: every bad input ends in one of these, with a message that says
what is wrong and how to fix it."""


class SpreadLabError(Exception):
    """Base class of every error SpreadLab raises on purpose.

    ``setting`` names the setting the message is about (``"max_calls"``, ``"base_url"``), so each
    front end can say where to change it: the CLI names its option, the dashboard its field. The
    message itself names the setting, never a command-line option.
    """

    def __init__(self, message: str = "", *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class ConfigError(SpreadLabError, ValueError):
    """A parameter is out of range or inconsistent (N·k odd, q > 1, empty mix, ...)."""


class DataFormatError(SpreadLabError, ValueError):
    """A file (events, edge list, run export) is malformed; the message names file, row, column."""


class StoreError(SpreadLabError):
    """The run database cannot be opened or written, or a run id does not exist."""


class FitError(SpreadLabError, ValueError):
    """The data cannot be fitted (too short, flat, NaN, ...) or a fit cannot be completed."""


class Cancelled(SpreadLabError):
    """Raised by a progress callback to stop a run after the current round; it stays resumable."""
