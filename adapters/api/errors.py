"""Errors as HTTP: one JSON shape (``ErrorResponse``) for every refusal, whoever made it.

- The operator service's refusals keep their ``DenialCode``: 403 for a denial of the
  caller (role, TOTP, lockout, self-approval), 404 NOT_FOUND, 400 BAD_ARGUMENTS,
  409 PROPOSAL_REFUSED (a rule such as the 30 % cap), 503 NOT_AVAILABLE, 500 COMMAND_FAILED.
- The API's own (``ApiErrorCode``): 401 for a missing / wrong / revoked token (with
  ``WWW-Authenticate: Bearer``), 429 with ``Retry-After``, 400 MALFORMED_JSON, 415
  UNSUPPORTED_MEDIA_TYPE (a body that is not JSON), 413 PAYLOAD_TOO_LARGE, 422
  INVALID_BODY / INVALID_QUERY naming the field, 405 with ``Allow``.

Messages pass through the secret redactor; a crash is logged by type and answered with
a one-line INTERNAL_ERROR, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.api.schemas import ApiErrorCode, ErrorDetail, ErrorResponse
from config.logging import redact_text
from workflows.operator import CommandResult, DenialCode

log = logging.getLogger("quorum.api")

_SERVICE_STATUS = {
    DenialCode.UNKNOWN_USER: 401,
    DenialCode.ROLE_FORBIDDEN: 403,
    DenialCode.TOTP_REQUIRED: 403,
    DenialCode.TOTP_INVALID: 403,
    DenialCode.TOTP_REUSED: 403,
    DenialCode.OPERATOR_LOCKED: 403,
    DenialCode.SELF_APPROVAL: 403,
    DenialCode.UNKNOWN_COMMAND: 400,
    DenialCode.BAD_ARGUMENTS: 400,
    DenialCode.NOT_FOUND: 404,
    DenialCode.NOT_AVAILABLE: 503,
    DenialCode.PROPOSAL_REFUSED: 409,
    DenialCode.COMMAND_FAILED: 500,
}
BEARER_CHALLENGE = 'Bearer realm="quorum"'


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        outcome: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(
            code=code, message=redact_text(message), field=field, outcome=outcome
        )
        self.headers = dict(headers or {})

    @classmethod
    def api(cls, status: int, code: ApiErrorCode, context: str, **kw: Any) -> ApiError:
        return cls(status, code.value, f"{code.value}: {context}", **kw)

    @classmethod
    def from_result(cls, result: CommandResult) -> ApiError:
        code = result.code or DenialCode.COMMAND_FAILED
        headers = {"WWW-Authenticate": BEARER_CHALLENGE} if code is DenialCode.UNKNOWN_USER else {}
        return cls(
            _SERVICE_STATUS.get(code, 500),
            code.value,
            result.message,
            outcome=result.outcome.value,
            headers=headers,
        )


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses: each an ``ErrorResponse``."""
    return {status: {"model": ErrorResponse} for status in statuses}


def documented_json(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The same for a route whose own answer is not JSON (HTML, SSE): FastAPI would
    declare a ``model`` under the route's media type, but its errors are JSON."""
    schema = {"$ref": "#/components/schemas/ErrorResponse"}  # there: every JSON route's
    return {status: {"content": {"application/json": {"schema": schema}}} for status in statuses}


def unauthorized(code: ApiErrorCode, context: str) -> ApiError:
    challenge = BEARER_CHALLENGE
    if code is not ApiErrorCode.MISSING_TOKEN:  # RFC 6750 3.1: no error code when none sent
        challenge += ', error="invalid_token"'
    return ApiError.api(401, code, context, headers={"WWW-Authenticate": challenge})


def rate_limited(wait_s: float, limit: int) -> ApiError:
    retry = max(1, int(wait_s + 0.999))
    return ApiError.api(
        429,
        ApiErrorCode.RATE_LIMITED,
        f"limit={limit}/min retry_after_s={retry}",
        headers={"Retry-After": str(retry)},
    )


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    return ".".join(parts[1:] if parts and parts[0] in ("body", "query", "path") else parts)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def media_type_error(request: Request, exc: RequestValidationError) -> ApiError | None:
    """A body sent as something else than JSON to a route that reads JSON (``curl -d``
    without ``-H 'Content-Type: application/json'`` sends a form): 415 saying so, rather
    than a schema error about a body the route never read as JSON."""
    kind = request.headers.get("content-type", "")
    length = request.headers.get("content-length", "").strip()
    has_body = (length.isdigit() and int(length) > 0) or "chunked" in request.headers.get(
        "transfer-encoding", ""
    )
    body_error = any(tuple(e.get("loc") or ())[:1] == ("body",) for e in exc.errors())
    if not has_body or not body_error or is_json(kind):
        return None
    media = kind.split(";", 1)[0].strip() or "none"
    context = f"content_type={media} rule=Content-Type: application/json"
    return ApiError.api(415, ApiErrorCode.UNSUPPORTED_MEDIA_TYPE, context)


def validation_error(exc: RequestValidationError) -> ApiError:
    errors: list[dict[str, Any]] = [dict(e) for e in exc.errors()]
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    loc = tuple(first.get("loc") or ())
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx")
        why = ctx.get("error", "") if isinstance(ctx, dict) else ""
        at = f" at char {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return ApiError.api(
            400, ApiErrorCode.MALFORMED_JSON, f"the body is not valid JSON: {why}{at}".strip()
        )
    field = _field(loc) or "body"
    in_url = loc[:1] in (("query",), ("path",))
    kind = ApiErrorCode.INVALID_QUERY if in_url else ApiErrorCode.INVALID_BODY
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"field={field} rule={first.get('msg', 'invalid')}{more}"
    return ApiError.api(422, kind, message, field=field)


def error_response(err: ApiError, source: str | None) -> JSONResponse:
    body = ErrorResponse(error=err.detail, source=source)
    return JSONResponse(body.model_dump(mode="json"), status_code=err.status, headers=err.headers)


def install(app: FastAPI, source: str | None) -> None:
    """The handlers: every error leaves as an ``ErrorResponse``."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc, source)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(media_type_error(request, exc) or validation_error(exc), source)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {
            404: ApiErrorCode.NOT_FOUND,
            405: ApiErrorCode.METHOD_NOT_ALLOWED,
            413: ApiErrorCode.PAYLOAD_TOO_LARGE,
        }.get(exc.status_code, ApiErrorCode.INVALID_QUERY)
        err = ApiError.api(
            exc.status_code,
            code,
            f"method={request.method} path={request.url.path}",
            headers=exc.headers,  # 405: Allow
        )
        return error_response(err, source)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)


class CrashGuard:
    """Outermost ASGI middleware: an unexpected exception becomes a one-line
    INTERNAL_ERROR (logged through the redacting handler), not Starlette's re-raise to
    the server with a traceback on the console."""

    def __init__(self, app: Any, source: str | None) -> None:
        self.app = app
        self.source = source

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            path = scope.get("path", "")
            log.warning("api request crashed: path=%s", path, exc_info=exc)
            if started:
                return
            err = ApiError.api(
                500, ApiErrorCode.INTERNAL_ERROR, f"path={path} error={type(exc).__name__}"
            )
            await error_response(err, self.source)(scope, receive, send)
