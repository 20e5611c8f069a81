"""Retryable I/O errors: told apart from content errors, retried with backoff, never a reject.

A throttled object store, a connection reset or a timeout says nothing about the video: such a
source is retried here, and if it still fails it is listed as *retryable* in the manifest (not in
the ledger, not in rejects/), so the next run tries it again. Everything else about a file
(truncated, not media, no video stream) is a content error and becomes a reject row.

    value = call_with_retries(lambda: fingerprint(uri), retries=3, backoff=1.0)
"""

from __future__ import annotations

import errno
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_RETRYABLE_ERRNOS = {
    errno.ETIMEDOUT, errno.ECONNRESET, errno.ECONNREFUSED, errno.ECONNABORTED, errno.EAGAIN,
    errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EPIPE, errno.ESTALE,
}  # fmt: skip
# Error codes object stores answer when they want the client to come back later.
_RETRYABLE_CODES = {
    "Throttling", "ThrottlingException", "SlowDown", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable", "503", "500", "502", "504", "RequestLimitExceeded",
    "TooManyRequests", "429", "rateLimitExceeded", "backendError",
}  # fmt: skip
_RETRYABLE_NAMES = {
    "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
    "ClientConnectorError", "ServerDisconnectedError", "ClientOSError", "ServerTimeoutError",
    "FSTimeoutError", "IncompleteReadError", "ProtocolError", "RemoteDisconnected",
    "ResponseStreamingError", "TransientError",
}  # fmt: skip


class RetryableError(OSError):
    """Raise (or wrap) to say: this failure is transient, try again later."""


def is_retryable(err: BaseException) -> bool:
    """True for transient I/O failures (timeouts, resets, throttling), anywhere in the cause chain."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (RetryableError, TimeoutError, ConnectionError)):
            return True
        if type(e).__name__ in _RETRYABLE_NAMES:
            return True
        if isinstance(e, OSError) and e.errno in _RETRYABLE_ERRNOS:
            return True
        response = getattr(e, "response", None)
        if isinstance(response, dict):  # botocore ClientError
            code = str(response.get("Error", {}).get("Code", ""))
            status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in _RETRYABLE_CODES or status in _RETRYABLE_CODES:
                return True
        e = e.__cause__ or e.__context__
    return False


def call_with_retries(
    fn: Callable[[], T], *, retries: int, backoff: float, sleep: Callable[[float], None] = time.sleep
) -> T:
    """``fn()``, retried up to ``retries`` times on retryable errors with exponential backoff and
    jitter; the last retryable error (or any other error at once) propagates."""
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as err:
            if attempt >= retries or not is_retryable(err):
                raise
            sleep(backoff * (2**attempt) * (0.5 + random.random()))
            attempt += 1


def describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:500]
