"""The gateway's errors: each knows its OpenAI error type, code and HTTP status. Pure."""

from __future__ import annotations


class GatewayError(Exception):
    """Base error; ``api.py`` turns it into OpenAI's ``{"error": {...}}`` envelope."""

    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidApiKey(GatewayError):
    """Missing, malformed, unknown, revoked or out-of-window key."""

    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class InsufficientQuota(GatewayError):
    """The key's budget for this period is spent; clients must not retry."""

    status = 402
    type = "insufficient_quota"
    code = "insufficient_quota"

    def __init__(self, message: str) -> None:
        super().__init__(message, {"x-should-retry": "false"})


class ModelNotFound(GatewayError):
    """No such model, or not one this key may use."""

    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class RateLimited(GatewayError):
    """Too many requests per minute or at once for this key."""

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message, {"retry-after": str(retry_after_seconds)})
        self.retry_after_seconds = retry_after_seconds


class BadRequest(GatewayError):
    """The request body is not what the endpoint accepts."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class PayloadTooLarge(GatewayError):
    """The request body is larger than the gateway accepts."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UpstreamTimeout(GatewayError):
    """The model's server did not answer in time."""

    status = 504
    type = "server_error"
    code = "upstream_timeout"


class UpstreamUnavailable(GatewayError):
    """The model's server could not be reached."""

    status = 502
    type = "server_error"
    code = "upstream_unavailable"


class NotFound(GatewayError):
    """No such endpoint."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class Starting(GatewayError):
    """The key projection has not caught up yet."""

    status = 503
    type = "server_error"
    code = "service_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, {"retry-after": "1"})
