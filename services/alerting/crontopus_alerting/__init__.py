"""Crontopus alerting service (see README.md)."""
