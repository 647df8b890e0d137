"""`--label key=value` options: one rule for every command that takes a label selector, so that
none of them drops a pair it cannot read (`channels create --label owner` once routed every job)."""

from __future__ import annotations

import re

import typer

# Label keys and values never hold whitespace or a second `=` (the manifest schema's rule); the
# server checks the rest, and says which key or value it refuses.
LABEL_PAIR = re.compile(r"^[^=\s]+=[^=\s]*$")


def label_pairs(values: list[str] | None) -> list[str]:
    """A Typer callback for a repeatable `--label`: each value is key=value, each key once (a job
    has one value per key, so `team=a` and `team=b` together would match nothing)."""
    seen: dict[str, str] = {}
    for value in values or []:
        if not LABEL_PAIR.match(value):
            raise typer.BadParameter(f"expects key=value, got {value!r} (e.g. team=data)")
        key = value.partition("=")[0]
        if key in seen:
            raise typer.BadParameter(f"{key!r} given twice ({seen[key]!r} and {value!r}): a job has one value per key")
        seen[key] = value
    return list(values or [])


def as_dict(pairs: list[str] | None) -> dict[str, str]:
    """Pairs checked by `label_pairs` as a mapping, as `match_labels` takes them."""
    return dict(pair.split("=", 1) for pair in pairs or [])
