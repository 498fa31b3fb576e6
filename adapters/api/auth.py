"""Who is asking: an API token (``Authorization: Bearer qrm_...``) or the dashboard's
session cookie, resolved to an enrolled operator; and how often they may ask.

- A token is resolved by ``OperatorRegistry.resolve_token`` (only its SHA-256 is stored;
  a revoked token, or one whose operator was removed, resolves to nobody). The operator's
  NAME then goes to the operator service, which checks the role and the TOTP.
- The dashboard logs in with a token once (``POST /login``): the server keeps the token in
  memory under a random session id and sets that id as an ``HttpOnly; SameSite=Strict``
  cookie. The token never reaches the page's JavaScript or a URL, so the browser's
  EventSource (which cannot send headers) authenticates with the cookie, and no token or
  session id can end up in an access log. Each request re-resolves the session's token:
  revoking it ends the session at once. A change made with the cookie must come from
  this origin (``Origin`` checked) on top of SameSite=Strict.
- Every refused attempt is audited (``api:auth_refused``: code, method, path, client
  address; never the token) and counts against its client address's bucket, so guessing
  tokens is throttled and cannot flood the audit chain.

The rate limiter is a token bucket per API token, in process on purpose: one
``quorum serve`` process serves the API, its buckets need no network round trip on every
request, and a shared store being down (Redis) must not take the API down with it.
Several servers behind a balancer would each allow the full rate.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from fastapi import Request

from adapters.api.errors import ApiError, rate_limited, unauthorized
from adapters.api.schemas import ApiErrorCode
from adapters.state.memory import MemoryRateLimiter
from config.logging import register_secrets
from core.audit import AuditLog
from workflows.operators import Operator, OperatorRegistry, utc_now

log = logging.getLogger("quorum.api.auth")
SESSION_COOKIE = "quorum_session"
SESSION_TTL = timedelta(hours=8)
MAX_BUCKETS = 10_000  # idle, full buckets beyond this are forgotten
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ANONYMOUS = "api:anonymous"


def token_key(token: str) -> str:
    """What identifies a token here (bucket, session): its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    operator: Operator
    key: str  # token_key of the token used
    via: Literal["bearer", "session"]


class RateLimits:
    """A token bucket per key: ``per_minute`` requests banked, refilled continuously."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, MemoryRateLimiter] = {}
        self._limited: set[str] = set()
        self._guard = threading.Lock()

    def take(self, key: str) -> tuple[float, bool]:
        """(0.0, False) when granted; else (seconds to wait, whether this is the first
        refusal since the key was last granted: what the audit records)."""
        with self._guard:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    self._forget_idle()
                bucket = MemoryRateLimiter(self.per_minute, self.per_minute / 60.0, self._clock)
                self._buckets[key] = bucket
            wait = bucket.try_acquire()
            if wait == 0.0:
                self._limited.discard(key)
                return 0.0, False
            first = key not in self._limited
            self._limited.add(key)
            return wait, first

    def _forget_idle(self) -> None:
        for key in [k for k in self._buckets if k not in self._limited][: MAX_BUCKETS // 2]:
            del self._buckets[key]


@dataclass(frozen=True)
class Session:
    token: str
    key: str
    operator: str
    expires_at: datetime


class Sessions:
    """The dashboard's sessions, in memory (a restart logs everyone out)."""

    def __init__(self, ttl: timedelta = SESSION_TTL, clock: Callable[[], datetime] = utc_now):
        self._ttl = ttl
        self._clock = clock
        self._items: dict[str, Session] = {}
        self._guard = threading.Lock()

    def open(self, token: str, operator: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        register_secrets([sid])
        session = Session(token, token_key(token), operator, self._clock() + self._ttl)
        with self._guard:
            now = self._clock()
            self._items = {k: s for k, s in self._items.items() if s.expires_at > now}
            self._items[sid] = session
        return sid, session

    def get(self, sid: str) -> Session | None:
        with self._guard:
            session = self._items.get(sid)
            if session is not None and session.expires_at <= self._clock():
                del self._items[sid]
                return None
            return session

    def close(self, sid: str) -> None:
        with self._guard:
            self._items.pop(sid, None)


class Authenticator:
    def __init__(
        self,
        registry: OperatorRegistry,
        audit: AuditLog,
        limits: RateLimits,
        sessions: Sessions,
    ) -> None:
        self.registry = registry
        self.audit = audit
        self.limits = limits
        self.sessions = sessions

    @staticmethod
    def client(request: Request) -> str:
        return request.client.host if request.client else ""

    def refuse(self, request: Request, code: ApiErrorCode, context: str) -> ApiError:
        """Audit a refused attempt and answer 401, or 429 once its client address has
        used up its bucket (audited once when that starts)."""
        wait, first = self.limits.take(f"client:{self.client(request)}")
        if wait:
            if first:
                data = {"code": code.value, "scope": "client"}
                self._audit(ANONYMOUS, "api:rate_limited", request, data)
            return rate_limited(wait, self.limits.per_minute)
        self._audit(ANONYMOUS, "api:auth_refused", request, {"code": code.value})
        return unauthorized(code, context)

    def _audit(self, actor: str, action: str, request: Request, data: dict[str, str]) -> None:
        record = {
            **data,
            "method": request.method,
            "path": request.url.path,
            "client": self.client(request),
        }
        try:
            self.audit.append(actor, action, record)
        except Exception as exc:  # the refusal stands even if the audit store is down
            log.warning("refused request not audited: %s", type(exc).__name__)

    def credential(self, request: Request) -> tuple[str, Literal["bearer", "session"]]:
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme.lower() != "bearer":
                raise self.refuse(
                    request, ApiErrorCode.BAD_AUTH_SCHEME, "rule=Authorization: Bearer <token>"
                )
            if not token.strip():
                raise self.refuse(request, ApiErrorCode.MISSING_TOKEN, "the Bearer token is empty")
            return token.strip(), "bearer"
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            session = self.sessions.get(sid)
            if session is None:
                raise self.refuse(request, ApiErrorCode.SESSION_EXPIRED, "log in again")
            return session.token, "session"
        raise self.refuse(
            request,
            ApiErrorCode.MISSING_TOKEN,
            "send Authorization: Bearer <token> (quorum operators token NAME)",
        )

    def authenticate(self, request: Request) -> Principal:
        token, via = self.credential(request)
        operator = self.registry.resolve_token(token)
        if operator is None:
            if via == "session":
                self.sessions.close(request.cookies.get(SESSION_COOKIE, ""))
            raise self.refuse(
                request, ApiErrorCode.INVALID_TOKEN, "the token is unknown, revoked or expired"
            )
        if via == "session" and request.method not in SAFE_METHODS:
            self.check_origin(request)
        key = token_key(token)
        wait, first = self.limits.take(key)
        if wait:
            if first:
                self._audit(operator.name, "api:rate_limited", request, {"scope": "token"})
            raise rate_limited(wait, self.limits.per_minute)
        return Principal(operator=operator, key=key, via=via)

    @staticmethod
    def check_origin(request: Request) -> None:
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
            raise ApiError.api(
                403, ApiErrorCode.CROSS_ORIGIN, f"origin={origin} rule=same origin as the page"
            )
