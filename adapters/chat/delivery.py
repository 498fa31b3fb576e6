"""Send one outbound chat request with retries: exponential backoff with jitter, the
platform's own ``retry_after`` on a rate limit, and a log line (never a secret, never a
webhook URL: those carry a token) when it gives up.

``deliver`` calls ``send`` until it returns or raises something that is not worth
retrying. ``send`` raises ``TransientError`` (retry) or ``PermanentError`` (give up now); any other
exception is treated as transient (a bug in a formatter would show in the log line).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

import httpx

from config.logging import redact_text

log = logging.getLogger("quorum.chat.delivery")
T = TypeVar("T")

BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 60.0


class DeliveryFailure(StrEnum):
    RATE_LIMITED = "RATE_LIMITED"
    SERVER_ERROR = "SERVER_ERROR"
    CONNECTION_ERROR = "CONNECTION_ERROR"
    REFUSED = "REFUSED"  # a 4xx (or Slack ok=false) that a retry would not change
    UNEXPECTED = "UNEXPECTED"


class TransientError(Exception):
    def __init__(self, code: DeliveryFailure, detail: str, retry_after: float | None = None):
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.retry_after = retry_after


class PermanentError(Exception):
    def __init__(self, code: DeliveryFailure, detail: str):
        super().__init__(f"{code.value}: {detail}")
        self.code = code


def backoff_delay(rng: random.Random, attempt: int, base: float) -> float:
    """``base * 2**attempt``, capped, half fixed and half random (equal jitter)."""
    delay = min(BACKOFF_CAP_S, base * 2.0**attempt)
    return delay / 2 + rng.uniform(0, delay / 2)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        body = response.json()
        if isinstance(body, dict) and "retry_after" in body:
            return float(body["retry_after"])
    except ValueError:
        pass
    header = response.headers.get("retry-after")
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def check_response(response: httpx.Response) -> httpx.Response:
    """A 2xx passes; 429 and 5xx are transient; any other status is permanent."""
    status = response.status_code
    if 200 <= status < 300:
        return response
    if status == 429:
        raise TransientError(DeliveryFailure.RATE_LIMITED, "status=429", _retry_after(response))
    if status >= 500:
        raise TransientError(DeliveryFailure.SERVER_ERROR, f"status={status}")
    raise PermanentError(DeliveryFailure.REFUSED, f"status={status} body={response.text[:200]}")


def http_call(send: Callable[[], httpx.Response]) -> httpx.Response:
    """``send`` with transport errors classed as transient, statuses by ``check_response``."""
    try:
        response = send()
    except httpx.TransportError as exc:
        raise TransientError(DeliveryFailure.CONNECTION_ERROR, type(exc).__name__) from None
    return check_response(response)


def deliver(
    send: Callable[[], T],
    *,
    what: str,
    attempts: int,
    backoff_s: float,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """The result of the first successful ``send()``, or None after logging why not."""
    rng = rng or random.Random()
    last = ""
    for attempt in range(attempts):
        try:
            return send()
        except PermanentError as exc:
            log.warning("chat delivery gave up: %s: %s", what, redact_text(str(exc)))
            return None
        except TransientError as exc:
            last = str(exc)
            wait = backoff_delay(rng, attempt, backoff_s)
            if exc.retry_after is not None:
                wait = max(wait, min(exc.retry_after, RETRY_AFTER_CAP_S))
        except Exception as exc:  # never raise into a producer
            last = f"{DeliveryFailure.UNEXPECTED.value}: {type(exc).__name__}: {exc}"
            wait = backoff_delay(rng, attempt, backoff_s)
        if attempt + 1 < attempts:
            sleep(wait)
    log.warning(
        "chat delivery gave up after %d attempts: %s: %s", attempts, what, redact_text(last)
    )
    return None
