"""Crontopus agents service (see README.md)."""
