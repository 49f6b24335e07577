"""Python client of the Latchkey connection broker (standard library only).

    from latchkey import Latchkey, NeedsReauth
    creds = Latchkey("https://latchkey.example.com", api_key).get_credentials("github", user_id="u_1")
"""

from ._client import Latchkey
from ._errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    LatchkeyConnectionError,
    LatchkeyError,
    NeedsReauth,
    NotFound,
    Pending,
    ProviderUnavailable,
    Unauthorized,
    error_from_response,
)
from ._signature import verify_webhook_signature

__version__ = "0.1.0"

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "Latchkey",
    "LatchkeyConnectionError",
    "LatchkeyError",
    "NeedsReauth",
    "NotFound",
    "Pending",
    "ProviderUnavailable",
    "Unauthorized",
    "error_from_response",
    "verify_webhook_signature",
]
