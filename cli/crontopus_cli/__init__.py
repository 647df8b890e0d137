"""The `crontopus` command line: a thin client of the gateway's REST API."""

__version__ = "0.1.0"
