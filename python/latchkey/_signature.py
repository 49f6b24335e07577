"""The ``Latchkey-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``"<t>.<raw body>"``, keyed with the webhook secret's UTF-8 bytes. Same rules as the Node SDK."""

import hashlib
import hmac
import math
import re
import time
from typing import List, Optional, Tuple, Union

_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def verify_webhook_signature(
    payload: Union[bytes, str],
    header: Optional[str],
    secret: str,
    tolerance: float = 300,
    now: Optional[float] = None,
) -> bool:
    """True when ``header`` carries a valid signature of ``payload`` (the raw request body, before any
    JSON parsing) made within ``tolerance`` seconds of ``now`` (default: the clock), either way."""
    if not isinstance(secret, str) or secret == "":
        # An unset setting, not a key: say so instead of refusing every delivery quietly.
        raise ValueError("the webhook secret must be a non-empty string")
    # Written so that NaN fails too: a NaN comparison would otherwise accept any timestamp.
    if not (isinstance(tolerance, (int, float)) and 0 <= tolerance < math.inf):
        raise ValueError("tolerance must be a non-negative number of seconds")
    if now is not None and not (isinstance(now, (int, float)) and math.isfinite(now)):
        raise ValueError("now must be a finite number of unix seconds")
    if not header or not header.strip():
        return False
    parsed = _parse_header(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    # Signed over the timestamp as sent, so that "t=0100" cannot pass for "t=100".
    expected = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).digest()
    matched = False
    for candidate in signatures:
        # Every candidate is compared, so timing does not say which one matched.
        matched = hmac.compare_digest(bytes.fromhex(candidate), expected) or matched
    return matched


def _parse_header(header: str) -> Optional[Tuple[str, List[str]]]:
    """``t`` exactly once and at least one ``v1`` (several during a secret rotation); other schemes are
    ignored; a ``v1`` that is not 64 hex digits makes the header malformed."""
    timestamp = None
    signatures = []
    for part in header.split(","):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            return None
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                return None
            timestamp = value
        elif key == "v1":
            if not _SHA256_HEX.fullmatch(value):
                return None
            signatures.append(value)
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures
