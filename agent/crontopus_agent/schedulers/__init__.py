"""Scheduler backends: where the agent writes the desired jobs (see base.Scheduler)."""
