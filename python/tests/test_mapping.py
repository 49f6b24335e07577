"""Unit tests of the client's requests and error mapping, against a stand-in broker in this process
that records each request and answers canned bodies. test_client.py runs against the real broker."""

import http.server
import json
import socket
import threading
import time
import unittest
import urllib.parse
from typing import Any, Dict, List, Optional

import latchkey
from latchkey import Latchkey

API_KEY = "lk_test_0123456789abcdef"


class StandIn(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: List[Dict[str, Any]] = []
        self.status = 200
        self.body: Any = {}
        self.raw: Optional[bytes] = None
        self.headers: Dict[str, str] = {}
        self.hang = threading.Event()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.server_address[1]

    @property
    def last(self) -> Dict[str, Any]:
        return self.requests[-1]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: StandIn

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        url = urllib.parse.urlsplit(self.path)
        self.server.requests.append(
            {
                "method": self.command,
                "raw_url": self.path,
                "path": url.path,
                "query": urllib.parse.parse_qsl(url.query, keep_blank_values=True),
                "headers": dict(self.headers),
                "body": self.rfile.read(length).decode("utf-8"),
            }
        )
        if self.server.hang.is_set():
            time.sleep(1)
            return
        text = self.server.raw if self.server.raw is not None else json.dumps(self.server.body).encode("utf-8")
        self.send_response(self.server.status)
        for name, value in self.server.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


CREDENTIALS = {
    "access_token": "gho_secret",
    "token_type": "Bearer",
    "expires_at": None,
    "expires_in": None,
    "scopes": ["repo"],
    "connection_id": "c1",
    "connection_config": {},
}


class ClientMappingTest(unittest.TestCase):
    broker: StandIn

    @classmethod
    def setUpClass(cls) -> None:
        cls.broker = StandIn()
        threading.Thread(target=cls.broker.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.broker.shutdown()
        cls.broker.server_close()

    def setUp(self) -> None:
        self.broker.requests.clear()
        self.broker.status, self.broker.body, self.broker.raw, self.broker.headers = 200, {}, None, {}
        self.broker.hang.clear()
        self.client = Latchkey(self.broker.url + "/", API_KEY)

    def test_get_credentials(self) -> None:
        self.broker.body = CREDENTIALS
        self.assertEqual(self.client.get_credentials("github", user_id="u_1"), CREDENTIALS)
        last = self.broker.last
        self.assertEqual(last["method"], "GET")
        self.assertEqual(last["path"], "/api/v1/credentials/oauth/connections/github/token")
        self.assertEqual(last["query"], [("user_id", "u_1")])
        self.assertEqual(last["headers"]["Authorization"], "Bearer " + API_KEY)
        self.assertEqual(last["headers"]["Accept"], "application/json")
        self.client.get_credentials("github")
        self.assertEqual(self.broker.last["raw_url"], "/api/v1/credentials/oauth/connections/github/token")

    def test_encoding(self) -> None:
        self.client.get_credentials("a/b c?#", user_id="x&y=z/\u00e9", app_id="")
        self.assertEqual(
            self.broker.last["raw_url"],
            "/api/v1/credentials/oauth/connections/a%2Fb%20c%3F%23/token?user_id=x%26y%3Dz%2F%C3%A9&app_id=",
        )
        self.client.connection_credentials("../admin")
        self.assertEqual(self.broker.last["raw_url"], "/api/v1/connections/..%2Fadmin/token")

    def test_list_and_revoke_connections(self) -> None:
        self.broker.body = []
        self.assertEqual(self.client.list_connections(), [])
        self.assertEqual(self.broker.last["raw_url"], "/api/v1/credentials/oauth/connections")
        self.client.list_connections(user_id="u", app_id="a", provider_name="github")
        self.assertEqual(self.broker.last["query"], [("user_id", "u"), ("app_id", "a"), ("provider_name", "github")])
        self.broker.body = {"success": True, "message": "revoked", "provider_revoked": True}
        self.assertTrue(self.client.revoke_connection("github", app_id="a")["provider_revoked"])
        self.assertEqual(self.broker.last["method"], "DELETE")
        self.assertEqual(self.broker.last["raw_url"], "/api/v1/credentials/oauth/connections/github?app_id=a")

    def test_portal(self) -> None:
        self.broker.status, self.broker.body = 201, {"id": "c1", "status": "pending"}
        self.assertEqual(self.client.create_connection("salesforce", user_id="cust_1")["status"], "pending")
        self.assertEqual(self.broker.last["method"], "POST")
        self.assertEqual(self.broker.last["path"], "/api/v1/connections")
        self.assertEqual(self.broker.last["headers"]["Content-Type"], "application/json")
        self.assertEqual(json.loads(self.broker.last["body"]), {"provider_name": "salesforce", "user_id": "cust_1"})
        self.broker.status, self.broker.body = 200, {"authorizationURL": "http://localhost:8080/connect/abc"}
        self.assertEqual(self.client.authorization_url("c1"), "http://localhost:8080/connect/abc")
        self.assertEqual(self.broker.last["path"], "/api/v1/connections/c1/oauth2")

    def test_error_mapping(self) -> None:
        cases = [
            (401, "unauthorized", latchkey.Unauthorized),
            (403, "forbidden", latchkey.Forbidden),
            (404, "not_found", latchkey.NotFound),
            (400, "invalid_request", latchkey.InvalidRequest),
            (409, "needs_reauth", latchkey.NeedsReauth),
            (409, "pending", latchkey.Pending),
            (409, "provider_in_use", latchkey.Conflict),
            (503, "provider_unavailable", latchkey.ProviderUnavailable),
        ]
        for status, code, kind in cases:
            with self.subTest(code=code):
                self.broker.status, self.broker.body = status, {"error": code, "error_description": "says " + code}
                with self.assertRaises(kind) as caught:
                    self.client.get_credentials("github", user_id="u_1")
                self.assertIsInstance(caught.exception, latchkey.LatchkeyError)
                self.assertEqual((caught.exception.code, caught.exception.status), (code, status))
                self.assertEqual(str(caught.exception), "says " + code)
                self.assertNotIn(API_KEY, repr(caught.exception))

    def test_answers_without_a_known_code(self) -> None:
        self.broker.status, self.broker.raw = 503, b"<html>Service Unavailable</html>"
        with self.assertRaises(latchkey.LatchkeyError) as caught:
            self.client.get_credentials("github")
        self.assertNotIsInstance(caught.exception, latchkey.ProviderUnavailable)
        self.assertEqual((caught.exception.code, caught.exception.status), ("server_error", 503))
        self.broker.status, self.broker.raw = 401, b""
        with self.assertRaises(latchkey.Unauthorized) as caught:
            self.client.get_credentials("github")
        self.assertEqual(str(caught.exception), "Latchkey answered HTTP 401")
        self.broker.status, self.broker.raw = 200, b"ok"
        with self.assertRaises(latchkey.LatchkeyError) as caught:
            self.client.get_credentials("github")
        self.assertEqual(caught.exception.code, "unexpected_response")

    def test_redirects_are_not_followed(self) -> None:
        elsewhere = StandIn()
        threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
        try:
            self.broker.status, self.broker.headers = 307, {"Location": elsewhere.url + "/steal"}
            with self.assertRaises(latchkey.LatchkeyError) as caught:
                self.client.get_credentials("github")
            self.assertEqual((caught.exception.code, caught.exception.status), ("unexpected_response", 307))
            self.assertEqual(elsewhere.requests, [])
        finally:
            elsewhere.shutdown()
            elsewhere.server_close()

    def test_connection_errors(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with self.assertRaises(latchkey.LatchkeyConnectionError) as caught:
            Latchkey("http://127.0.0.1:%d" % port, API_KEY).get_credentials("github")
        self.assertEqual((caught.exception.code, caught.exception.status), ("connection_failed", 0))
        self.assertNotIn(API_KEY, repr(caught.exception))
        self.broker.hang.set()
        with self.assertRaises(latchkey.LatchkeyConnectionError) as caught:
            Latchkey(self.broker.url, API_KEY, timeout=0.2).get_credentials("github")
        self.assertEqual(caught.exception.code, "timeout")

    def test_arguments(self) -> None:
        for url in ("localhost:8080", "ftp://x.example", "https://u:p@x.example", "https://x.example/?a=1", ""):
            with self.subTest(url=url), self.assertRaises(ValueError):
                Latchkey(url, API_KEY)
        with self.assertRaises(ValueError):
            Latchkey("https://x.example", "")
        for bad_key in (API_KEY + "\n", API_KEY + " x", API_KEY + "\u00e9"):
            with self.subTest(key=bad_key), self.assertRaises(ValueError) as caught:
                Latchkey("https://x.example", bad_key)
            self.assertNotIn(API_KEY, str(caught.exception))
        self.assertNotIn(API_KEY, repr(Latchkey("https://x.example", API_KEY)))
        with self.assertRaises(ValueError):
            self.client.get_credentials("")
        self.assertEqual(self.broker.requests, [])


if __name__ == "__main__":
    unittest.main()
