"""Domain errors. Services raise these; the rpc layer turns them into error replies and
only the gateway maps the codes to HTTP status codes."""

from __future__ import annotations

from crontopus_schemas.rpc import ErrorCode, RpcErrorBody


class DomainError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def to_body(self) -> RpcErrorBody:
        return RpcErrorBody(code=self.code, message=self.message, retry_after=self.retry_after)


class Invalid(DomainError):
    code = ErrorCode.INVALID


class Unauthorized(DomainError):
    code = ErrorCode.UNAUTHORIZED


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class NotFound(DomainError):
    code = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    code = ErrorCode.CONFLICT


class Throttled(DomainError):
    code = ErrorCode.THROTTLED


class Unavailable(DomainError):
    code = ErrorCode.UNAVAILABLE


_BY_CODE: dict[ErrorCode, type[DomainError]] = {
    cls.code: cls for cls in (Invalid, Unauthorized, Forbidden, NotFound, Conflict, Throttled, Unavailable)
}


def from_body(body: RpcErrorBody) -> DomainError:
    cls = _BY_CODE.get(body.code, DomainError)
    return cls(body.message, retry_after=body.retry_after)
