"""Run by a repository's post-receive hook: tell the gitops service to look at the repository now.

`python -m crontopus_gitops.hook --nats-url-file FILE TENANT_ID`: FILE (only the service's user
may read it) holds the NATS URL, one server or several comma-separated, with the login. The URL
never appears on the command line, which every local user can read (`ps`). A lost notice only
delays the sync until the next poll, so this never fails a push: problems become a warning.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import nats

from crontopus_kit.nats_login import nats_login
from crontopus_schemas.subjects import pushed_subject

TIMEOUT_SECONDS = 3


async def notify(nats_url: str, tenant_id: str) -> None:
    # Servers and login apart, as every Crontopus connection: nats.connect takes no comma list
    # in one string, and the login reaches every server tried.
    connection = await nats.connect(
        **nats_login(nats_url).connect_options(), connect_timeout=TIMEOUT_SECONDS, max_reconnect_attempts=0
    )
    try:
        await connection.publish(pushed_subject(tenant_id), b"")
        await connection.flush(timeout=TIMEOUT_SECONDS)
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crontopus-gitops-hook", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--nats-url-file", type=Path)
    # Hooks written by versions before 2026-12 name the URL itself; the gitops service rewrites
    # them at its next start, and until then they keep working.
    source.add_argument("--nats-url", help=argparse.SUPPRESS)
    parser.add_argument("tenant_id")
    args = parser.parse_args(argv)
    sys.stdin.read()  # the pushed refs; git expects them consumed
    try:
        url = args.nats_url or args.nats_url_file.read_text().strip()
        asyncio.run(asyncio.wait_for(notify(url, args.tenant_id), TIMEOUT_SECONDS * 2))
    except Exception as exc:
        print(f"crontopus: could not notify the server ({exc}); the push is synced at the next poll", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
