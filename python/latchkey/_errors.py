"""What the client raises. Messages are the broker's ``error_description`` or a fixed text: never the
API key, a token or a raw response body."""

from typing import Any, Optional


class LatchkeyError(Exception):
    """Base of every error; ``code`` is the broker's ``error`` code (or the client's own, such as
    ``timeout``), ``status`` the HTTP status (0 when no HTTP answer arrived)."""

    default_code = "unexpected_response"

    def __init__(self, message: str, code: Optional[str] = None, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status


class InvalidRequest(LatchkeyError):
    """400: the broker refused the parameters or body."""

    default_code = "invalid_request"


class Unauthorized(LatchkeyError):
    """401: the API key is missing, wrong or deleted."""

    default_code = "unauthorized"


class Forbidden(LatchkeyError):
    """403: the caller may not do this."""

    default_code = "forbidden"


class NotFound(LatchkeyError):
    """404: no such provider, connection or webhook."""

    default_code = "not_found"


class Conflict(LatchkeyError):
    """Any other 409, such as ``provider_in_use``."""

    default_code = "conflict"


class NeedsReauth(LatchkeyError):
    """409: the provider refused the refresh token; the user must authorize again."""

    default_code = "needs_reauth"


class Pending(LatchkeyError):
    """409: a portal connection whose customer has not authorized yet."""

    default_code = "pending"


class ProviderUnavailable(LatchkeyError):
    """503: the provider did not answer in time; the connection stays active, retry later."""

    default_code = "provider_unavailable"


class LatchkeyConnectionError(LatchkeyError):
    """No HTTP answer: ``connection_failed`` or ``timeout``."""

    default_code = "connection_failed"


_BY_CODE = {
    "needs_reauth": NeedsReauth,
    "pending": Pending,
    "provider_unavailable": ProviderUnavailable,
    "not_found": NotFound,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "invalid_request": InvalidRequest,
}

_BY_STATUS = {400: InvalidRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict}


def error_from_response(status: int, body: Any) -> LatchkeyError:
    """The broker's ``error`` code decides first; a body without a known code (a proxy's page, a code
    added later) falls back on the status, keeping the code when one came."""
    code = _string_member(body, "error")
    description = _string_member(body, "error_description")
    message = description or "Latchkey answered HTTP %d%s" % (status, " (%s)" % code if code else "")
    kind = _BY_CODE.get(code or "") or _BY_STATUS.get(status)
    if kind is not None:
        return kind(message, code, status)
    return LatchkeyError(message, code or ("server_error" if status >= 500 else "unexpected_response"), status)


def _string_member(body: Any, name: str) -> Optional[str]:
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) and value else None
