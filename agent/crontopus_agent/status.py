"""``crontopus-agent status``: what this agent is and what its daemon last did, read from disk.

Reads only files (``credentials.json``, ``status.json`` written by the daemon after every sync,
and the spool folder), so it answers while the daemon is stopped and without NATS or the
network. It never prints the agent's NATS password. Spool counts are read live; everything
else is as of the daemon's last sync (``written_at``), and ``daemon`` says whether the process
that wrote it is still alive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crontopus_agent.home import Credentials, NotEnrolledError
from crontopus_agent.platform import HOST
from crontopus_agent.spool import Spool, SpoolStats
from crontopus_schemas.git_urls import redact_url

STATUS_FILE = "status.json"


def spool_stats(home: Path) -> SpoolStats:
    return Spool.for_home(home).stats()


def read_status(home: Path) -> dict[str, Any] | None:
    """The daemon's last ``status.json``, or None if it never wrote one (or it is unreadable)."""
    try:
        body = json.loads((home / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def collect(home: Path) -> dict[str, Any]:
    """Everything ``status`` shows, as JSON-ready data."""
    try:
        credentials: Credentials | None = Credentials.load(home)
    except NotEnrolledError:
        credentials = None
    last = read_status(home)
    stats = spool_stats(home)
    return {
        "home": str(home),
        "enrolled": credentials is not None,
        "enrollment": _enrollment(credentials) if credentials else None,
        "daemon": _daemon(last),
        "last_sync": last,
        "spool": {"pending": stats.pending, "dropped": stats.dropped, "bad": stats.bad},
    }


def _enrollment(credentials: Credentials) -> dict[str, Any]:
    return {
        "agent_id": credentials.agent_id,
        "name": credentials.name,
        "tenant_id": credentials.tenant_id,
        "server_url": credentials.server_url,
        "nats_urls": credentials.nats_urls,
        "clone_url": credentials.clone_url,
        "fetch_url": redact_url(credentials.fetch_url or "") or None,  # what is fetched: this host's URL wins
        "git_user": credentials.git_login[0] if credentials.git_login else None,
        "branch": credentials.branch,
        "folder": credentials.folder,
        "labels": credentials.labels,
    }


def _daemon(last: dict[str, Any] | None) -> dict[str, Any] | None:
    if not last or not isinstance(last.get("pid"), int):
        return None
    return {"pid": last["pid"], "running": HOST.is_alive(last["pid"]), "written_at": last.get("sent_at")}


def render(info: dict[str, Any]) -> str:
    """The human-readable report."""
    lines = [f"home:        {info['home']}"]
    lines += _render_enrollment(info["enrollment"])
    lines += _render_last_sync(info["last_sync"], info["daemon"])
    spool = info["spool"]
    lines.append(f"spool:       {spool['pending']} pending, {spool['dropped']} dropped, {spool['bad']} set aside")
    return "\n".join(lines)


def _render_enrollment(enrollment: dict[str, Any] | None) -> list[str]:
    if enrollment is None:
        return ["enrollment:  not enrolled (run `crontopus-agent enroll --server URL --token TOKEN`)"]
    labels = ", ".join(f"{k}={v}" for k, v in sorted(enrollment["labels"].items())) or "none"
    where = enrollment["fetch_url"] or "none"
    if enrollment["git_user"]:
        where += f" (login {enrollment['git_user']})"
    return [
        f"agent:       {enrollment['name']} ({enrollment['agent_id']})",
        f"tenant:      {enrollment['tenant_id']}",
        f"server:      {enrollment['server_url']}",
        f"repository:  {where} branch={enrollment['branch']} folder={enrollment['folder'] or '/'}",
        f"labels:      {labels}",
    ]


def _render_last_sync(last: dict[str, Any] | None, daemon: dict[str, Any] | None) -> list[str]:
    if last is None:
        return ["last sync:   none yet (is `crontopus-agent run` running?)"]
    state = "running" if daemon and daemon["running"] else "not running"
    lines = [
        f"daemon:      pid {last.get('pid')} ({state}), status written {last.get('sent_at')}",
        f"scheduler:   {last.get('scheduler')}",
        f"commit:      {last.get('applied_commit') or 'none applied'}",
        f"last sync:   {last.get('last_sync_at') or 'never succeeded'}",
    ]
    if last.get("sync_error"):
        lines.append(f"sync error:  {last['sync_error']}")
    if isinstance(nats := last.get("nats"), dict):
        lines.append(f"nats:        {_render_nats(nats)}")
    jobs = last.get("jobs") or []
    lines.append(f"jobs:        {len(jobs)} installed")
    lines += [f"  - {ref}" for ref in jobs]
    for title, key in (("drift repaired", "drift"), ("job errors", "errors"), ("manifest errors", "manifest_errors")):
        lines += _render_list(title, last.get(key) or [])
    return lines


def _render_nats(nats: dict[str, Any]) -> str:
    if nats.get("connected"):
        return "connected"
    return f"not connected ({nats['error']})" if nats.get("error") else "not connected"


def _render_list(title: str, items: list[Any]) -> list[str]:
    if not items:
        return []
    lines = [f"{title}:"]
    for item in items:
        if isinstance(item, dict):
            detail = f": {item['detail']}" if item.get("detail") else ""
            lines.append(f"  - {item.get('ref')} {item.get('kind')}{detail}")
        else:
            lines.append(f"  - {item}")
    return lines
