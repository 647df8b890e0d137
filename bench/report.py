"""The machine the numbers came from, the results table, and the JSON record."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.ingest import Sample
from bench.workload import Workload
from crontopus_kit.nats_server import nats_server_binary

LABELS = {
    "baseline": "baseline: nats-py publish_async -> file stream",
    "postgresql": "ingest -> runs consumer -> PostgreSQL",
    "sqlite": "ingest -> runs consumer -> SQLite",
    "drain-postgresql": "one consumer drains a filled stream -> PostgreSQL",
    "drain-sqlite": "one consumer drains a filled stream -> SQLite",
}


async def machine(postgres_url: str | None) -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(_memory_kib() / 1024**2, 1),
        "python": platform.python_version(),
        "nats_server": _nats_server_version(),
        "postgresql": await _postgres_version(postgres_url) if postgres_url else None,
        "sqlite": sqlite3.sqlite_version,
    }


def _nats_server_version() -> str:
    return subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True).stdout.strip()


def _memory_kib() -> int:
    with open("/proc/meminfo") as meminfo:
        return int(meminfo.readline().split()[1])


async def _postgres_version(url: str) -> str:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def summary(samples: Sequence[Sample]) -> dict[str, dict[str, Any]]:
    """Medians per benchmark, and each one's ratio to the baseline's median."""
    names = list(dict.fromkeys(sample.name for sample in samples))
    result: dict[str, dict[str, Any]] = {}
    for name in names:
        mine = [s for s in samples if s.name == name]
        result[name] = {
            "median_seconds": statistics.median(s.seconds for s in mine),
            "median_rate": statistics.median(s.rate for s in mine),
            "median_publish_rate": statistics.median(s.publish_rate for s in mine),
            "rates": [round(s.rate) for s in mine],
            "cpu_us": _median_cpu(mine),
        }
    if "baseline" in result:
        for entry in result.values():
            entry["ratio"] = entry["median_rate"] / result["baseline"]["median_rate"]
    return result


def _median_cpu(samples: Sequence[Sample]) -> dict[str, float]:
    """Per process, the median CPU microseconds per check-in; "total" is the median of the sums."""
    names = list(dict.fromkeys(name for sample in samples for name in sample.cpu_us))
    medians = {name: statistics.median(s.cpu_us.get(name, 0.0) for s in samples) for name in names}
    if medians:
        medians["total"] = statistics.median(sum(s.cpu_us.values()) for s in samples)
    return medians


def cpu_table(medians: dict[str, dict[str, Any]]) -> str:
    """Where the cores went: CPU microseconds per check-in, by process (medians)."""
    columns = list(dict.fromkeys(name for entry in medians.values() for name in entry["cpu_us"]))
    columns = [name for name in columns if name != "total"] + ["total"]
    rows = [("CPU µs per check-in", *columns)]
    for name, entry in medians.items():
        cpu = entry["cpu_us"]
        rows.append((LABELS.get(name, name), *(f"{cpu[column]:.1f}" if column in cpu else "-" for column in columns)))
    return _aligned(rows)


def _aligned(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def table(workload: Workload, repeat: int, medians: dict[str, dict[str, Any]], host: dict[str, Any]) -> str:
    head = (
        f"Check-in ingest: {workload.checkins:,} check-ins of {workload.runs:,} runs "
        f"({workload.payload_bytes / 1e6:.1f} MB of payload), median of {repeat}\n"
        f"machine: {host['nproc']} cores, {host['memory_gib']} GiB, Python {host['python']}, "
        f"{host['nats_server']}, PostgreSQL {host['postgresql']}, SQLite {host['sqlite']}\n\n"
    )
    rows = [("benchmark", "seconds", "check-ins/s", "vs baseline", "publisher/s", "all runs (check-ins/s)")]
    for name, entry in medians.items():
        rows.append((
            LABELS.get(name, name), f"{entry['median_seconds']:.2f}", f"{entry['median_rate']:,.0f}",
            f"{entry['ratio']:.2f}x" if "ratio" in entry else "-", f"{entry['median_publish_rate']:,.0f}",
            " ".join(f"{rate:,}" for rate in entry["rates"]),
        ))  # fmt: skip
    return head + _aligned(rows)


def write_json(directory: Path, **record: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    moment = datetime.now(UTC)
    path = directory / f"ingest-{moment:%Y%m%dT%H%M%SZ}.json"
    record["samples"] = [asdict(sample) | {"rate": sample.rate} for sample in record["samples"]]
    path.write_text(json.dumps({"date": moment.isoformat(), **record}, indent=2, default=str))
    return path
