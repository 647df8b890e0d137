"""`python -m bench`: every benchmark, each against its baseline measured in the same run.

- ingest: the check-in ingest benchmark against its baseline, medians of N runs; with it, one
  runs consumer draining a filled stream (its own rate, the publisher not competing).
- agent-sync: push-to-scheduler latency with nudges against the fallback poll alone.
- alerting: the missed-run evaluator with its due-time index against a naive scan, at 10,000 and 100,000 jobs.
- console: the dashboard ready in Chromium with 1,000 jobs and 100,000 runs against its API calls alone.
- http-ingress: ping URLs and POST /api/checkins under wrk against a bare ASGI app, the check-ins
  counted in the database.
- agent-footprint: an idle agent's resident memory and CPU per hour with 100 jobs, against a bare
  Python process.
- history: GET /api/runs and the dashboard's statistics over 10 million runs in PostgreSQL, against
  the raw SQL of each (the fixture is loaded once and kept).

Quick run: `python -m bench --checkins 20000 --repeat 1`; one benchmark:
`--only ingest|agent-sync|alerting|console|http-ingress|agent-footprint|history`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path

import asyncpg

from bench import report, workload
from bench.ingest import Sample, run_baseline, run_drain, run_ingest
from crontopus_kit.logging import configure_logging

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
RESULTS = Path(__file__).parent / "results"
BENCHMARKS = ("ingest", "agent-sync", "alerting", "console", "http-ingress", "agent-footprint", "history")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--checkins", type=int, default=100_000, help="check-ins per run (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; medians are reported (default 3)")
    parser.add_argument("--backends", default="postgresql,sqlite", help="comma-separated: postgresql,sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CRONTOPUS_BENCH_DATABASE_URL", DEFAULT_POSTGRES),
        help="a throwaway schema is created there and dropped afterwards",
    )
    parser.add_argument("--no-json", action="store_true", help=f"do not write a JSON record to {RESULTS}")
    parser.add_argument("--only", choices=BENCHMARKS, help="run this benchmark alone (default: all)")
    sync = parser.add_argument_group("agent-sync")
    sync.add_argument("--pushes", type=int, default=20, help="pushes timed with nudges (default 20)")
    sync.add_argument("--poll-pushes", type=int, default=10, help="pushes timed with the poll alone (default 10)")
    sync.add_argument(
        "--poll-interval", type=float, default=10.0, help="the poll-only agent's poll interval, seconds (default 10)"
    )
    console = parser.add_argument_group("console")
    console.add_argument("--console-jobs", type=int, default=1_000, help="jobs of the team (default 1000)")
    console.add_argument("--console-runs", type=int, default=100_000, help="runs of the team (default 100000)")
    console.add_argument("--console-repeat", type=int, default=7, help="page loads timed (default 7)")
    http = parser.add_argument_group("http-ingress")
    http.add_argument("--http-jobs", type=int, default=1_000, help="jobs pinged (default 1000)")
    http.add_argument("--http-seconds", type=float, default=10, help="seconds of each wrk run (default 10)")
    http.add_argument(
        "--http-workers", default="1,2", help="gateway processes to measure, comma-separated (default 1,2)"
    )
    http.add_argument(
        "--http-workloads", default="ping-pairs,ping-hot,checkins", help="workloads, comma-separated (default all)"
    )
    footprint = parser.add_argument_group("agent-footprint")
    footprint.add_argument("--footprint-window", type=float, default=60, help="seconds measured (default 60)")
    history = parser.add_argument_group("history")
    history.add_argument("--history-runs", type=int, default=10_000_000, help="runs in the fixture (default 10000000)")
    history.add_argument("--history-repeat", type=int, default=40, help="requests timed a case (default 40)")
    history.add_argument("--history-fresh", action="store_true", help="load the fixture again even if it is there")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    failed = 0
    if args.only in (None, "ingest"):
        failed |= await ingest(args)
    if args.only in (None, "agent-sync"):
        # Imported here: the ingest publisher's spawned child imports this module and needs none of it.
        from bench import agent_sync

        if args.only is None:
            print()
        failed |= await agent_sync.main(
            pushes=args.pushes, poll_pushes=args.poll_pushes, poll_interval=args.poll_interval,
            results_dir=None if args.no_json else RESULTS,
        )  # fmt: skip
    if args.only in (None, "alerting"):
        from bench import alerting_eval

        backends = [name.strip() for name in args.backends.split(",") if name.strip()]
        if "postgresql" in backends and not await _postgres_reachable(args.postgres_url):
            backends.remove("postgresql")
        failed |= await alerting_eval.main(
            sizes=(10_000, 100_000), backends=backends, postgres_url=args.postgres_url,
            results_dir=None if args.no_json else RESULTS,
        )  # fmt: skip
    if args.only in (None, "console"):
        from bench import console

        failed |= await console.main(
            jobs=args.console_jobs, runs=args.console_runs, repeat=args.console_repeat,
            results_dir=None if args.no_json else RESULTS,
        )  # fmt: skip
    if args.only in (None, "http-ingress"):
        from bench import http_ingress

        postgres = "postgresql" in args.backends and await _postgres_reachable(args.postgres_url)
        failed |= await http_ingress.main(
            jobs=args.http_jobs, seconds=args.http_seconds, results_dir=None if args.no_json else RESULTS,
            workers=tuple(int(count) for count in args.http_workers.split(",")),
            workloads=tuple(args.http_workloads.split(",")),
            postgres_url=args.postgres_url if postgres else None,
        )  # fmt: skip
    if args.only in (None, "agent-footprint"):
        from bench import agent_footprint

        failed |= await agent_footprint.main(
            window=args.footprint_window, results_dir=None if args.no_json else RESULTS
        )
    if args.only in (None, "history"):
        from bench import history

        if await _postgres_reachable(args.postgres_url):
            failed |= await history.main(
                runs=args.history_runs, repeat=args.history_repeat, fresh=args.history_fresh,
                postgres_url=args.postgres_url, results_dir=None if args.no_json else RESULTS,
            )  # fmt: skip
        else:
            print(f"history: PostgreSQL not reachable at {args.postgres_url}; skipped", file=sys.stderr)
    return failed


async def ingest(args: argparse.Namespace) -> int:
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if "postgresql" in backends and not await _postgres_reachable(args.postgres_url):
        print(f"PostgreSQL not reachable at {args.postgres_url}: skipping it", file=sys.stderr)
        backends.remove("postgresql")
    load = workload.build(args.checkins)
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="crontopus-bench-") as tmp:
        messages_file = load.save(Path(tmp) / "messages.pickle")
        for repetition in range(args.repeat):
            # Interleaved, so slow drift of a noisy machine touches every benchmark alike.
            for name in ["baseline", *backends, *(f"drain-{backend}" for backend in backends)]:
                workdir = Path(tempfile.mkdtemp(prefix=f"{name}-{repetition}-", dir=tmp))
                sample = await _run_one(name, load, messages_file, workdir, args.postgres_url)
                print(f"  run {repetition + 1}/{args.repeat} {name:<16} {sample.rate:>9,.0f} check-ins/s", flush=True)
                samples.append(sample)
    host = await report.machine(args.postgres_url if "postgresql" in backends else None)
    medians = report.summary(samples)
    print()
    print(report.table(load, args.repeat, medians, host))
    print()
    print(report.cpu_table(medians))
    if not args.no_json:
        record = {"checkins": load.checkins, "runs": load.runs, "machine": host, "medians": medians}
        path = report.write_json(RESULTS, **record, samples=samples)
        print(f"\nJSON: {path}")
    return 0


async def _run_one(name: str, load: workload.Workload, messages_file: Path, workdir: Path, postgres_url: str) -> Sample:
    if name == "baseline":
        return await run_baseline(load, messages_file, workdir)
    if name.startswith("drain-"):
        return await run_drain(name.removeprefix("drain-"), load, messages_file, workdir, postgres_url)
    return await run_ingest(name, load, messages_file, workdir, postgres_url)


async def _postgres_reachable(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


if __name__ == "__main__":  # guarded: the publisher's spawned child imports this module too
    configure_logging(fmt="console", level="WARNING")
    logging.getLogger("faststream").setLevel(logging.WARNING)  # it logs each subscriber stop at INFO
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
