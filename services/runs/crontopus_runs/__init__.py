"""The runs service: turns check-ins into one row per run and answers run-history queries."""
