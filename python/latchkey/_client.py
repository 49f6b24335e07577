"""A thin client of the Latchkey connection broker's REST API, on the standard library alone. Answers
are returned as the broker's JSON (snake_case dicts and lists), unchanged."""

import http.client
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Optional

from ._errors import LatchkeyConnectionError, LatchkeyError, error_from_response

_PROVIDERS = "/api/v1/credentials/oauth"
_PORTAL = "/api/v1/connections"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect with the Authorization header, to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class Latchkey:
    """``Latchkey("https://latchkey.example.com", api_key).get_credentials("github", user_id="u_1")``"""

    def __init__(self, url: str, api_key: str, timeout: float = 30) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("url must be an absolute http(s) URL")
        if parts.username is not None or parts.query or parts.fragment:
            raise ValueError("url must not contain credentials, a query or a fragment")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key is required")
        # Checked here because http.client's own refusal of a bad header value quotes it, key included.
        if not re.fullmatch(r"[\x21-\x7e]+", api_key):
            raise ValueError("api_key must be printable ASCII without spaces")
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        self._base = url.rstrip("/")
        self._origin = "%s://%s" % (parts.scheme, parts.netloc)
        self._api_key = api_key
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect())

    def __repr__(self) -> str:
        # Never the key: objects end up in logs.
        return "Latchkey(%r)" % self._base

    def get_credentials(self, provider: str, user_id: Optional[str] = None, app_id: Optional[str] = None) -> Dict[str, Any]:
        """Fresh credentials of the connection (provider, user_id, app_id): ``access_token``,
        ``token_type``, ``expires_at``, ``expires_in``, ``scopes``, ``connection_id``,
        ``connection_config``. Raises NeedsReauth, ProviderUnavailable or NotFound."""
        path = "%s/connections/%s/token" % (_PROVIDERS, _segment(provider))
        return self._request("GET", path, {"user_id": user_id, "app_id": app_id})

    def list_connections(
        self, user_id: Optional[str] = None, app_id: Optional[str] = None, provider_name: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """Every connection, or those matching each filter given."""
        query = {"user_id": user_id, "app_id": app_id, "provider_name": provider_name}
        return self._request("GET", "%s/connections" % _PROVIDERS, query)

    def revoke_connection(self, provider: str, user_id: Optional[str] = None, app_id: Optional[str] = None) -> Dict[str, Any]:
        """Revokes the tokens at the provider when it can (``provider_revoked``) and deletes the connection."""
        path = "%s/connections/%s" % (_PROVIDERS, _segment(provider))
        return self._request("DELETE", path, {"user_id": user_id, "app_id": app_id})

    def create_connection(
        self,
        provider_name: str,
        user_id: Optional[str] = None,
        app_id: Optional[str] = None,
        connection_config: Optional[Dict[str, str]] = None,
    ) -> Dict[str, Any]:
        """A portal connection, ``pending`` until the customer authorizes at ``authorization_url(id)``."""
        body = {"provider_name": provider_name, "user_id": user_id, "app_id": app_id, "connection_config": connection_config}
        return self._request("POST", _PORTAL, body={k: v for k, v in body.items() if v is not None})

    def authorization_url(self, connection_id: str) -> str:
        """The Latchkey URL to send the customer's browser to (``authorizationURL``)."""
        answer = self._request("GET", "%s/%s/oauth2" % (_PORTAL, _segment(connection_id)))
        url = answer.get("authorizationURL") if isinstance(answer, dict) else None
        if not isinstance(url, str):
            raise LatchkeyError("Latchkey answered without an authorizationURL", "unexpected_response", 200)
        return url

    def connection_credentials(self, connection_id: str) -> Dict[str, Any]:
        """As get_credentials, by portal connection id; raises Pending before the customer authorizes."""
        return self._request("GET", "%s/%s/token" % (_PORTAL, _segment(connection_id)))

    def _request(self, method: str, path: str, query: Optional[Dict[str, Optional[str]]] = None, body: Any = None) -> Any:
        given = [(k, v) for k, v in (query or {}).items() if v is not None]
        url = self._base + path + ("?" + urllib.parse.urlencode(given) if given else "")
        headers = {"Authorization": "Bearer " + self._api_key, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, text = err.code, _read(err)
        except (socket.timeout, TimeoutError) as err:
            raise LatchkeyConnectionError(
                "Latchkey at %s did not answer within %s s" % (self._origin, self._timeout), "timeout"
            ) from err
        except urllib.error.URLError as err:
            code = "timeout" if isinstance(err.reason, (socket.timeout, TimeoutError)) else "connection_failed"
            raise LatchkeyConnectionError("could not reach Latchkey at %s" % self._origin, code) from err
        except (OSError, http.client.HTTPException) as err:
            # A dropped connection, a truncated body or a status line that is not HTTP.
            raise LatchkeyConnectionError("could not reach Latchkey at %s" % self._origin, "connection_failed") from err
        parsed = _parse_json(text)
        if not 200 <= status < 300:
            raise error_from_response(status, parsed)
        if parsed is None and text.strip():
            raise LatchkeyError("Latchkey answered HTTP %d with a body that is not JSON" % status, "unexpected_response", status)
        return parsed


def _segment(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("ids and provider names must be non-empty strings")
    return urllib.parse.quote(value, safe="")


def _read(err: urllib.error.HTTPError) -> bytes:
    try:
        return err.read()
    except OSError:
        return b""
    finally:
        err.close()


def _parse_json(text: bytes) -> Any:
    try:
        return json.loads(text.decode("utf-8"))
    except ValueError:
        return None
