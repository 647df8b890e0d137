"""Asking the person at the keyboard for what a command was not given."""

from __future__ import annotations

import sys

import typer

from crontopus_cli.errors import CliError


def ask(label: str, option: str, *, secret: bool = False, twice: bool = False) -> str:
    """``label``'s answer, typed (hidden when ``secret``; twice to confirm when ``twice``) or piped
    in. Where stdin ends before an answer (a script, CI), a clear error naming ``option`` instead
    of click's bare "Aborted!"; Ctrl-C at a terminal still aborts as usual."""
    try:
        return str(typer.prompt(label, hide_input=secret, confirmation_prompt=twice))
    except typer.Abort:
        if sys.stdin is not None and sys.stdin.isatty():
            raise
        raise CliError(f"no {label.split(' (')[0].lower()} given: pass {option} (nothing to ask it on)") from None
