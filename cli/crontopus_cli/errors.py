"""The one exception type commands raise for expected failures (printed without a traceback)."""

from __future__ import annotations


class CliError(Exception):
    """``status``: the HTTP status when the server refused, for a command that explains one refusal
    better than the server can (the server does not know which commands the CLI has)."""

    def __init__(self, message: str, *, exit_code: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status
