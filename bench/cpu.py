"""CPU time of the processes a benchmark run involves, read from /proc (Linux): where the cores went."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def postgres_seconds() -> float:
    """Every local PostgreSQL process together: the backends serving a run come and go. Includes
    whatever else the server does meanwhile, so it is only meaningful on a quiet server."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                total += seconds(int(comm.parent.name))
        except OSError:
            continue
    return total


class Meter:
    """CPU seconds per named process between ``start()`` and ``stop()``."""

    def __init__(self, pids: dict[str, int], *, postgres: bool) -> None:
        self.pids, self.postgres = pids, postgres
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        now = {name: seconds(pid) for name, pid in self.pids.items()}
        if self.postgres:
            now["postgresql"] = postgres_seconds()
        return now

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> None:
        self.used = {name: value - self._start[name] for name, value in self._read().items()}

    def per_item_us(self, items: int) -> dict[str, float]:
        return {name: round(value / items * 1e6, 1) for name, value in self.used.items()}
