"""crontopus-agent: the per-host half of Crontopus (see agent/README.md)."""

__version__ = "0.1.0"
