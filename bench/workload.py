"""A realistic, reproducible check-in workload: starts and finishes of runs of a few hundred jobs
of several tenants, in the order a day of cron would produce them.

Most runs send a start and a finish; some (plain pings) only a finish. Outputs are mostly a
line or two, some a few KB, a few tens of KB. Every message has a distinct ``Nats-Msg-Id``,
so JetStream de-duplicates none of them and the consumer sees exactly N messages.
"""

from __future__ import annotations

import pickle
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crontopus_schemas.events import CheckInEvent
from crontopus_schemas.subjects import checkin_msg_id, checkin_subject

TENANTS = 6
JOBS = 300
FINISH_ONLY_SHARE = 0.1  # pings without a start
DAY_START = datetime(2026, 11, 26, tzinfo=UTC)

NAMESPACES = ("production", "staging", "billing", "data", "ops")
TASKS = ("backup", "report", "sync", "cleanup", "rotate-logs", "send-digest", "etl", "vacuum", "renew-certs")
LOG_LINES = (
    "INFO starting {task}",
    "INFO connected to db-{n}.internal:5432",
    "INFO processed {n} rows in {m} ms",
    "WARN slow query took {m} ms: SELECT * FROM events WHERE created_at > now() - interval '1 day'",
    "INFO uploaded s3://backups/{task}/{n}.tar.zst ({m} KiB)",
    "DEBUG batch {n} committed",
    "ERROR upstream returned 503, retrying in {n} s",
)

Message = tuple[str, bytes, str]  # subject, payload, Nats-Msg-Id


@dataclass(frozen=True)
class Workload:
    messages: list[Message]
    runs: int  # distinct (tenant, run_id); every run has exactly one finish

    @property
    def checkins(self) -> int:
        return len(self.messages)

    @property
    def payload_bytes(self) -> int:
        return sum(len(payload) for _, payload, _ in self.messages)

    def save(self, path: Path) -> Path:
        """For the publisher child process: a file is cheaper than pickling through a pipe."""
        path.write_bytes(pickle.dumps(self.messages, protocol=pickle.HIGHEST_PROTOCOL))
        return path


def load_messages(path: Path) -> list[Message]:
    return pickle.loads(path.read_bytes())  # our own file, written by Workload.save


def build(checkins: int, *, seed: int = 2026) -> Workload:
    rng = random.Random(seed)
    tenants = [f"{rng.getrandbits(128):032x}" for _ in range(TENANTS)]
    jobs = [_job(rng, i) for i in range(JOBS)]
    events: list[tuple[datetime, str, str, CheckInEvent]] = []
    runs = 0
    while len(events) < checkins:
        finish_only = rng.random() < FINISH_ONLY_SHARE or checkins - len(events) == 1
        events += _run(rng, rng.choice(tenants), rng.choice(jobs), finish_only=finish_only)
        runs += 1
    events.sort(key=lambda event: event[0])
    messages = [_message(tenant, source, checkin) for _, tenant, source, checkin in events]
    return Workload(messages=messages, runs=runs)


def _job(rng: random.Random, index: int) -> str:
    return f"{rng.choice(NAMESPACES)}/{rng.choice(TASKS)}-{index}"


def _run(
    rng: random.Random, tenant: str, job: str, *, finish_only: bool
) -> list[tuple[datetime, str, str, CheckInEvent]]:
    run_id = f"{rng.getrandbits(128):032x}"
    source = "ping" if finish_only else rng.choice(("api", "agent-1", "agent-2", "agent-3"))
    started = DAY_START + timedelta(seconds=rng.uniform(0, 86_400))
    seconds = min(rng.lognormvariate(2.5, 1.5), 3600.0)  # median ~12 s, a long tail up to an hour
    finished = started + timedelta(seconds=seconds)
    status, exit_code = _outcome(rng)
    finish = CheckInEvent(
        job=job, run_id=run_id, status=status, exit_code=exit_code, output=_output(rng, job),
        timestamp=finished, occurred_at=finished, source=source,
        duration_ms=None if finish_only else round(seconds * 1000),
    )  # fmt: skip
    events = [(finished, tenant, source, finish)]
    if not finish_only:
        start = CheckInEvent(
            job=job, run_id=run_id, status="running", timestamp=started, occurred_at=started, source=source
        )
        events.append((started, tenant, source, start))
    return events


def _outcome(rng: random.Random) -> tuple[str, int | None]:
    draw = rng.random()
    if draw < 0.9:
        return "success", 0
    if draw < 0.98:
        return "failure", rng.choice((1, 2, 127))
    return "timeout", None


def _output(rng: random.Random, job: str) -> str | None:
    """~20% nothing, ~55% a few lines, ~20% up to 2 KB, ~5% 2-32 KB."""
    draw = rng.random()
    if draw < 0.2:
        return None
    size = rng.randint(40, 300) if draw < 0.75 else rng.randint(300, 2048) if draw < 0.95 else rng.randint(2048, 32768)
    task = job.split("/")[1]
    lines: list[str] = []
    length = 0
    while length < size:
        line = rng.choice(LOG_LINES).format(task=task, n=rng.randint(1, 99_999), m=rng.randint(1, 9_999))
        lines.append(line)
        length += len(line) + 1
    return "\n".join(lines)[:size]


def _message(tenant: str, source: str, checkin: CheckInEvent) -> Message:
    subject = checkin_subject(tenant, source)
    return subject, checkin.model_dump_json().encode(), checkin_msg_id(tenant, source, checkin.run_id, checkin.status)
