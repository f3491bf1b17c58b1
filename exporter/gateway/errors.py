"""What can go wrong talking to the gateway, as exceptions callers can branch on.

Messages come from the upstream error body (either envelope) and never include the
request's credentials: the key only ever travels in the Authorization header.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class: ``status`` is the HTTP status, or None when no response arrived."""

    retryable = False
    # A refusal that lasts until someone changes a key, a plan, a budget or the configuration:
    # logged loudly once, then quietly while it lasts.
    persistent = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.retry_after = retry_after

    @property
    def code(self) -> str:
        """The ``code`` label value: the HTTP status, or what kept a response from arriving."""
        return str(self.status) if self.status is not None else "network_error"


class AuthError(GatewayError):
    """401/403: the key is wrong, expired, or lacks access; retrying now will not help."""

    persistent = True


class QuotaExceededError(GatewayError):
    """402 ``quota_for_entity_exceeded``: a Vercel budget blocks the key until the budget's
    period resets or its limit is raised; retrying before then will not help."""

    persistent = True


class MisdirectedError(GatewayError):
    """The configured URL does not lead to the API: an HTML page, or a 404 on a path the API
    always has. A configuration error, not a gateway fault: it lasts until the URL is fixed."""

    persistent = True

    @property
    def code(self) -> str:
        ok = self.status is not None and self.status < 300
        return "invalid_response" if ok else super().code


class NotFoundError(GatewayError):
    """404: for a generation, the record may simply not exist yet."""


class BadRequestError(GatewayError):
    """Another 4xx: the request itself is wrong (e.g. a malformed generation ID)."""


class RateLimitedError(GatewayError):
    """429: slow down, for ``retry_after`` seconds when the gateway said so."""

    retryable = True


class ServerError(GatewayError):
    """5xx, 408 or 409: the gateway's trouble, worth retrying with backoff."""

    retryable = True


class TransportError(GatewayError):
    """No response: connection refused or reset, DNS failure, or a timeout."""

    retryable = True

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout

    @property
    def code(self) -> str:
        return "timeout" if self.timeout else "network_error"


class InvalidResponseError(GatewayError):
    """A 2xx whose body is not what the API documents (bad JSON, wrong shape or types)."""

    @property
    def code(self) -> str:
        return "invalid_response"
