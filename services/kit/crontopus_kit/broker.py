"""NATS broker setup: connection, correlation ids across headers, JetStream streams created
or updated idempotently, and the request-reply helpers every service uses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar, overload

import nats.errors
from faststream import BaseMiddleware
from faststream.nats import NatsBroker, NatsSecurity, NatsToken, NatsUserPassword
from faststream.nats.broker.broker import UNRECOVERABLE_CONNECT_ERRORS
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError
from pydantic import BaseModel, ValidationError

from crontopus_kit.errors import DomainError, Invalid, Unavailable, from_body
from crontopus_kit.logging import correlation_id_var, get_logger
from crontopus_kit.nats_login import NatsLogin, nats_login
from crontopus_schemas.rpc import ErrorCode, RpcErrorBody, RpcReply
from crontopus_schemas.subjects import StreamSpec

Reply = dict[str, Any] | bytes  # what an RPC handler returns: the broker sends bytes as they are

log = get_logger(__name__)
T = TypeVar("T", bound=BaseModel)
TOO_DEEP = "input nested too deeply to process (lists or mappings inside each other hundreds of levels deep)"
RequestT = TypeVar("RequestT", bound=BaseModel)


class CorrelationMiddleware(BaseMiddleware):
    """Carries the correlation id from the message being handled into logs and onward publishes."""

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        token = correlation_id_var.set(msg.correlation_id or None)
        try:
            return await call_next(msg)
        finally:
            correlation_id_var.reset(token)

    async def publish_scope(self, call_next: Any, cmd: Any) -> Any:
        cid = correlation_id_var.get()
        if cid:
            cmd.correlation_id = cid
        if not getattr(cmd, "stream", None):
            return await call_next(cmd)
        return await _publish_to_stream(call_next, cmd)


JETSTREAM_PUBLISH_ATTEMPTS = 3


async def _publish_to_stream(call_next: Any, cmd: Any) -> Any:
    """A JetStream publish whose acknowledgement came back empty (nats-py then fails parsing it:
    seen under load on a busy server) or found no stream responding is tried again: the stream
    de-duplicates on Nats-Msg-Id where the message carries one, and the others are idempotent."""
    for attempt in range(1, JETSTREAM_PUBLISH_ATTEMPTS + 1):
        try:
            return await call_next(cmd)
        except (json.JSONDecodeError, NoStreamResponseError):
            if attempt == JETSTREAM_PUBLISH_ATTEMPTS:
                raise
            log.warning("JetStream publish not acknowledged; trying again", stream=cmd.stream, attempt=attempt)
            await asyncio.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


class Publisher(Protocol):
    """What an event publisher needs of the broker (``NatsBroker`` is one; a test may record)."""

    async def publish(
        self, message: Any, subject: str, /, *, headers: dict[str, str] | None = ..., stream: str | None = ...
    ) -> Any: ...


def jetstream(broker: NatsBroker) -> JetStreamContext:
    """The broker's JetStream context, looked up when used: a unit is built with its broker before
    the broker connects, and FastStream raises ``IncorrectState`` if this is asked before then."""
    return broker.config.connection_state.stream


# The process's exit status when its NATS connection is gone for good (sysexits' EX_TEMPFAIL:
# try again later), so a supervisor's restart-on-failure starts it again.
EXIT_NATS_GONE = 75

WhenGone = Callable[[str], None]


def make_broker(nats_url: str, *, name: str, when_gone: WhenGone | None = None, **options: Any) -> NatsBroker:
    """A broker for ``nats_url`` (one URL or a comma-separated list), its login passed apart
    from the servers (see nats_login: a cluster's advertised nodes are reconnected to with it).
    ``when_gone(reason)`` is called if the started broker's connection ends for good; a service
    process passes ``exit_process``, so that it never stays up disconnected."""
    login = nats_login(nats_url)
    broker: NatsBroker | None = None

    async def on_error(error: Exception) -> None:
        # FastStream re-raises these from this callback, inside nats-py's reconnect task,
        # which then ends for good with the client left "reconnecting".
        if broker is not None and _ends_reconnecting(error) and broker.running:
            _gone(f"NATS refused the reconnect: {error}", when_gone)

    async def on_closed() -> None:
        if broker is not None and broker.running:  # FastStream's stop() clears it before it drains
            _gone(f"the NATS connection was closed: {broker_connection_error(broker)}", when_gone)

    broker = NatsBroker(
        servers=list(login.servers),
        name=name,
        security=_security(login),
        middlewares=[CorrelationMiddleware],
        logger=logging.getLogger("faststream.access"),  # through our handlers, not FastStream's own
        log_level=logging.DEBUG,  # FastStream logs every message at this level; keep INFO quiet
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        error_cb=on_error,
        closed_cb=on_closed,
        **options,
    )
    return broker


def _security(login: NatsLogin) -> NatsSecurity | None:
    if login.token is not None:
        return NatsToken(login.token)
    if login.user is not None:
        return NatsUserPassword(login.user, login.password or "")
    return None


def _ends_reconnecting(error: Exception) -> bool:
    if not isinstance(error, nats.errors.Error):
        return False
    reason = str(error).removeprefix("nats: ").strip("'").lower()
    return reason in UNRECOVERABLE_CONNECT_ERRORS


def broker_connection_error(broker: NatsBroker) -> str:
    connection = broker._connection  # FastStream keeps no public handle on the client
    error = connection.last_error if connection is not None else None
    return str(error) if error else "no error given"


def _gone(reason: str, when_gone: WhenGone | None) -> None:
    log.error("NATS connection gone for good; the process must be restarted", reason=reason)
    if when_gone is not None:
        when_gone(reason)


def exit_process(reason: str) -> None:
    """End the process at once with ``EXIT_NATS_GONE``. Not a graceful stop: with NATS gone it
    could acknowledge nothing, and every message not acknowledged is delivered again anyway
    (a message is acknowledged only after its effect is committed)."""
    log.critical("exiting for a restart: the NATS connection is gone for good", reason=reason)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(EXIT_NATS_GONE)


def stream_config(spec: StreamSpec, *, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=spec.max_age_seconds,
        duplicate_window=spec.duplicate_window_seconds,
        max_msg_size=spec.max_message_bytes,
        num_replicas=replicas,
    )


async def ensure_streams(broker: NatsBroker, specs: Iterable[StreamSpec], *, replicas: int = 1) -> None:
    """Create missing streams and bring differing ones to our configuration (``replicas``:
    copies on a NATS cluster, ``CRONTOPUS_NATS_STREAM_REPLICAS``; durable consumers follow
    their stream's)."""
    js = jetstream(broker)
    for spec in specs:
        wanted = stream_config(spec, replicas=replicas)
        try:
            info = await js.stream_info(spec.name)
        except NotFoundError:
            await _refused_clearly(js.add_stream(config=wanted), spec.name, replicas)
            log.info("stream created", stream=spec.name, replicas=replicas)
            continue
        current = info.config
        if (
            sorted(current.subjects or []) != sorted(wanted.subjects or [])
            or current.max_age != wanted.max_age
            or current.duplicate_window != wanted.duplicate_window
            or (current.max_msg_size or -1) != wanted.max_msg_size
            or current.num_replicas != wanted.num_replicas
        ):
            await _refused_clearly(js.update_stream(config=wanted), spec.name, replicas)
            log.info("stream updated", stream=spec.name, replicas=replicas)


async def _refused_clearly(request: Awaitable[Any], stream: str, replicas: int) -> None:
    """Say which setting the server refused: "replicas > 1 not supported in non-clustered mode"
    alone does not tell an operator what to change."""
    try:
        await request
    except APIError as exc:
        raise RuntimeError(
            f"NATS refused stream {stream} with CRONTOPUS_NATS_STREAM_REPLICAS={replicas}: {exc.description} "
            "(more than 1 needs a JetStream cluster of at least that many servers)"
        ) from exc


# --- request-reply ---------------------------------------------------------


def rpc_handler(
    request_model: type[RequestT],
) -> Callable[[Callable[[RequestT], Awaitable[Any]]], Callable[[dict[str, Any]], Awaitable[Reply]]]:
    """Wrap a service function so it always answers: a result, or an explicit error body.

    The body is validated here (not by FastStream) so that invalid input gets an ``invalid``
    reply rather than no reply at all.
    """

    def decorate(func: Callable[[RequestT], Awaitable[Any]]) -> Callable[[dict[str, Any]], Awaitable[Reply]]:
        async def handle(body: dict[str, Any]) -> Reply:
            try:
                request = request_model.model_validate(body)
                result = await func(request)
            except ValidationError as exc:
                return _error(ErrorCode.INVALID, _validation_message(exc))
            except DomainError as exc:
                return RpcReply(error=exc.to_body()).model_dump(mode="json")
            except RecursionError:
                # Input nested deeper than a parser follows (YAML text thousands of levels deep):
                # the caller's to fix, and a 500 would say otherwise.
                log.warning("rpc request nested too deeply", handler=func.__name__)
                return _error(ErrorCode.INVALID, TOO_DEEP)
            except Exception:
                log.exception("rpc handler failed", handler=func.__name__)
                return _error(ErrorCode.INTERNAL, "internal error")
            return _result(result, func.__name__)

        handle.__name__ = func.__name__
        handle.__doc__ = func.__doc__
        return handle

    return decorate


def _result(result: Any, handler: str) -> Reply:
    """Encoded here: a result that cannot be encoded (nested past pydantic's limit) would fail
    after the handler returned, send no reply, and leave the caller to time out. A model goes out
    as the JSON pydantic writes (no dict in between for the broker to encode again)."""
    if not isinstance(result, BaseModel):
        return {"result": result}
    try:
        return b'{"result":' + result.model_dump_json().encode() + b"}"
    except ValueError as exc:
        # No traceback: the reason says it all, and rendering a deep value's locals takes seconds.
        log.error("rpc reply cannot be encoded", handler=handler, error=str(exc))
        return _error(ErrorCode.INTERNAL, "internal error: the reply could not be encoded")


def _error(code: ErrorCode, message: str) -> dict[str, Any]:
    return RpcReply(error=RpcErrorBody(code=code, message=message)).model_dump(mode="json")


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


@overload
async def rpc_call(
    broker: NatsBroker, subject: str, request: BaseModel, result_model: type[T], *, timeout: float = ...
) -> T: ...


@overload
async def rpc_call(
    broker: NatsBroker, subject: str, request: BaseModel, result_model: None = ..., *, timeout: float = ...
) -> None: ...


async def rpc_call(
    broker: NatsBroker,
    subject: str,
    request: BaseModel,
    result_model: type[T] | None = None,
    *,
    timeout: float = 5.0,
) -> T | None:
    """Ask a service and return its typed result; its error becomes the matching DomainError."""
    try:
        msg = await broker.request(encode_request(request), subject, timeout=timeout)
    except nats.errors.NoRespondersError as exc:
        raise Unavailable(f"no service answers {subject}") from exc
    except TimeoutError as exc:
        raise Unavailable(f"{subject} did not answer within {timeout:g}s") from exc
    typed = RpcReply[result_model] if result_model else RpcReply  # type: ignore[valid-type]
    reply = typed.model_validate_json(msg.body)  # the result's model straight from the JSON
    if reply.error is not None:
        raise from_body(reply.error)
    return reply.result if result_model else None


def encode_request(request: BaseModel) -> bytes:
    """The request as UTF-8 JSON, or Invalid naming why not: a caller's value nested past
    pydantic's limit (~250 levels) or a lone surrogate in a string would otherwise surface as a
    500 from the depths of the broker. (The handler reads JSON without a content type.)"""
    try:
        return request.model_dump_json().encode()
    except ValueError as exc:  # PydanticSerializationError is one
        raise Invalid(f"the request cannot be encoded as JSON: {exc}") from exc


async def publish_batch(js: JetStreamContext, messages: Iterable[tuple[str, bytes, str]]) -> None:
    """Publish (subject, payload, msg_id) to JetStream without awaiting each ack in turn,
    then wait for all acks: several times faster than one awaited publish after another."""
    futures = [
        await js.publish_async(subject, payload, headers={"Nats-Msg-Id": msg_id})
        for subject, payload, msg_id in messages
    ]
    if futures:
        await asyncio.gather(*futures)
