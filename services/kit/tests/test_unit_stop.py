"""Stopping a process's units: one that hangs in close() must not keep Ctrl-C from ending it."""

from __future__ import annotations

import asyncio
import time

from faststream.nats import NatsBroker

from crontopus_kit.unit import stop_units


class Unit:
    def __init__(self, name: str, hangs: bool = False) -> None:
        self.name, self.hangs, self.closed = name, hangs, False

    async def close(self) -> None:
        if self.hangs:
            await asyncio.Event().wait()  # a close that never returns
        self.closed = True


async def test_a_unit_that_hangs_on_close_is_left_and_the_others_still_close() -> None:
    first, stuck, last = Unit("runs"), Unit("gitops", hangs=True), Unit("alerting")
    started = time.monotonic()

    await stop_units(NatsBroker(), [first, stuck, last], unit_timeout=0.2)  # type: ignore[list-item]

    assert time.monotonic() - started < 5
    assert first.closed and last.closed and not stuck.closed
