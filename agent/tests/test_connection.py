"""What the daemon says about its NATS connection (connection.py), with a clock the test moves."""

from __future__ import annotations

import logging

import nats.errors

from crontopus_agent.connection import ConnectionTrouble, dead_connection_bound

REFUSED = nats.errors.Error("nats: 'Authorization Violation'")
DOWN = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 4222)")
RESET = ConnectionResetError(104, "Connection reset by peer")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def trouble(clock: Clock | None = None) -> ConnectionTrouble:
    return ConnectionTrouble(reconnect_wait=2.0, refusal_grace=60.0, clock=clock or Clock())


def test_a_server_restart_is_one_warning_however_many_tries_it_takes() -> None:
    said = trouble()

    levels = [said.error(nats.errors.UnexpectedEOF()).level, said.lost().level]
    levels += [said.error(DOWN).level for _ in range(5)]

    assert levels == [logging.WARNING] + [logging.DEBUG] * 6


def test_a_refusal_is_information_until_it_has_lasted_the_grace_then_an_error_once() -> None:
    clock = Clock()
    said = trouble(clock)

    first = said.error(REFUSED)
    clock.now += 30
    during = said.error(REFUSED)
    clock.now += 31
    late = said.error(REFUSED)
    clock.now += 5
    after = said.error(REFUSED)

    assert [first.level, during.level, late.level, after.level] == [
        logging.INFO,
        logging.DEBUG,
        logging.ERROR,
        logging.DEBUG,
    ]
    assert "revoked" not in first.line and "retrying" in first.line
    assert "refused for over 60 s: the agent was revoked" in late.line


def test_the_reset_after_each_refusal_neither_warns_nor_hides_the_refusal_in_the_status() -> None:
    said = trouble()

    refusal = said.error(REFUSED)
    reset = said.error(RESET)

    assert refusal.status is not None and "Authorization Violation" in refusal.status
    assert (reset.level, reset.status) == (logging.DEBUG, None)


def test_a_connect_starts_over_so_the_next_outage_is_said_again() -> None:
    clock = Clock()
    said = trouble(clock)
    said.error(REFUSED)
    clock.now += 59

    said.connected()
    clock.now += 5

    assert said.error(REFUSED).level == logging.INFO  # a new refusal, not 64 s of one
    assert said.lost().level == logging.WARNING


def test_an_expired_login_is_routine_and_any_other_close_a_warning() -> None:
    expired = trouble().closed(nats.errors.Error("nats: User Authentication Expired"))
    other = trouble().closed(nats.errors.Error("nats: Maximum Connections Exceeded"))

    assert (expired.level, expired.status) == (logging.INFO, None)
    assert other.level == logging.WARNING and "Maximum Connections Exceeded" in (other.status or "")


def test_other_errors_are_said_once_each_until_the_next_connect() -> None:
    said = trouble()
    denied = nats.errors.Error('nats: permissions violation for publish to "x"')

    assert [said.error(denied).level, said.error(denied).level] == [logging.WARNING, logging.DEBUG]


def test_a_dead_connection_is_noticed_within_three_quarters_of_a_minute() -> None:
    assert dead_connection_bound() == 45
