"""Integration tests against a real running Latchkey. The test driver starts the broker, prepares the
fixtures and passes them in the environment:

    LATCHKEY_URL, LATCHKEY_API_KEY
    LATCHKEY_ACTIVE_PROVIDER, LATCHKEY_ACTIVE_USER_ID   an active connection (user id empty for a
                                                        client-credentials provider)
    LATCHKEY_REAUTH_PROVIDER, LATCHKEY_REAUTH_USER_ID   a connection in needs_reauth
    LATCHKEY_DOWN_PROVIDER                              a client-credentials provider whose token URL
                                                        does not answer

Without LATCHKEY_URL these tests fail rather than skip: CI runs them through the driver, and a
silently skipped suite would pass while testing nothing.
"""

import os
import secrets
import time
import unittest
from typing import Optional

import latchkey
from latchkey import Latchkey


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError("%s is not set: run these tests through the Latchkey test driver" % name)
    return value


def _optional_env(name: str) -> Optional[str]:
    return os.environ.get(name) or None


class BrokerIntegrationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.url = _env("LATCHKEY_URL")
        cls.api_key = _env("LATCHKEY_API_KEY")
        cls.active_provider = _env("LATCHKEY_ACTIVE_PROVIDER")
        cls.active_user_id = _optional_env("LATCHKEY_ACTIVE_USER_ID")
        cls.reauth_provider = _env("LATCHKEY_REAUTH_PROVIDER")
        cls.reauth_user_id = _env("LATCHKEY_REAUTH_USER_ID")
        cls.down_provider = _env("LATCHKEY_DOWN_PROVIDER")
        cls.client = Latchkey(cls.url, cls.api_key)

    def assert_credentials(self, creds: dict) -> None:
        self.assertIsInstance(creds["access_token"], str)
        self.assertTrue(creds["access_token"])
        self.assertIsInstance(creds["token_type"], str)
        self.assertIsInstance(creds["scopes"], list)
        self.assertTrue(all(isinstance(s, str) for s in creds["scopes"]))
        self.assertTrue(creds["expires_at"] is None or isinstance(creds["expires_at"], str))
        self.assertTrue(creds["expires_in"] is None or isinstance(creds["expires_in"], (int, float)))
        self.assertIsInstance(creds["connection_id"], str)
        self.assertIsInstance(creds["connection_config"], dict)

    def test_fresh_credentials(self) -> None:
        creds = self.client.get_credentials(self.active_provider, user_id=self.active_user_id)
        self.assert_credentials(creds)
        if creds["expires_in"] is not None:
            self.assertGreater(creds["expires_in"], 0)

    def test_the_active_connection_is_listed(self) -> None:
        creds = self.client.get_credentials(self.active_provider, user_id=self.active_user_id)
        listed = self.client.list_connections(user_id=self.active_user_id, provider_name=self.active_provider)
        mine = [c for c in listed if c["id"] == creds["connection_id"]]
        self.assertEqual(len(mine), 1, listed)
        self.assertEqual(mine[0]["status"], "active")
        self.assertEqual(mine[0]["provider_name"], self.active_provider)
        self.assertEqual(mine[0]["user_id"], self.active_user_id)
        self.assertTrue(all(c["provider_name"] == self.active_provider for c in listed))

    def test_needs_reauth(self) -> None:
        with self.assertRaises(latchkey.NeedsReauth) as caught:
            self.client.get_credentials(self.reauth_provider, user_id=self.reauth_user_id)
        self.assertIsInstance(caught.exception, latchkey.LatchkeyError)
        self.assertEqual((caught.exception.code, caught.exception.status), ("needs_reauth", 409))
        listed = self.client.list_connections(user_id=self.reauth_user_id, provider_name=self.reauth_provider)
        # The app_id filter applies only when given, so the list may hold this user's other apps too.
        self.assertEqual([c["status"] for c in listed if c["app_id"] is None], ["needs_reauth"])

    def test_provider_unavailable_within_the_deadline(self) -> None:
        started = time.monotonic()
        with self.assertRaises(latchkey.ProviderUnavailable) as caught:
            self.client.get_credentials(self.down_provider)
        self.assertEqual((caught.exception.code, caught.exception.status), ("provider_unavailable", 503))
        # The broker gives up after 5 s in all; the rest is slack for a loaded CI machine.
        self.assertLess(time.monotonic() - started, 10)

    def test_not_found(self) -> None:
        with self.assertRaises(latchkey.NotFound) as caught:
            self.client.get_credentials("no-such-provider-" + secrets.token_hex(4), user_id="nobody")
        self.assertEqual((caught.exception.code, caught.exception.status), ("not_found", 404))
        if self.active_user_id is not None:
            # Client-credentials providers refuse a user_id (400), so only with a user-bound provider.
            with self.assertRaises(latchkey.NotFound):
                self.client.get_credentials(self.active_provider, user_id="nobody-" + secrets.token_hex(4))
        with self.assertRaises(latchkey.NotFound):
            self.client.connection_credentials("no-such-connection-" + secrets.token_hex(4))
        with self.assertRaises(latchkey.NotFound):
            self.client.revoke_connection(self.reauth_provider, user_id="nobody-" + secrets.token_hex(4))

    def test_wrong_api_key(self) -> None:
        wrong_key = "lk_wrong_" + secrets.token_hex(16)
        with self.assertRaises(latchkey.Unauthorized) as caught:
            Latchkey(self.url, wrong_key).get_credentials(self.active_provider, user_id=self.active_user_id)
        self.assertEqual((caught.exception.code, caught.exception.status), ("unauthorized", 401))
        self.assertNotIn(wrong_key, str(caught.exception))

    def test_portal_connection_is_pending_until_authorized(self) -> None:
        # The reauth provider is an authorization-code provider (it had a refresh token to lose).
        user_id = "py-portal-" + secrets.token_hex(6)
        created = self.client.create_connection(self.reauth_provider, user_id=user_id)
        try:
            self.assertEqual(created["status"], "pending")
            self.assertEqual(created["provider_name"], self.reauth_provider)
            self.assertEqual(created["user_id"], user_id)
            self.assertIn("/connect/", self.client.authorization_url(created["id"]))
            with self.assertRaises(latchkey.Pending) as caught:
                self.client.connection_credentials(created["id"])
            self.assertEqual((caught.exception.code, caught.exception.status), ("pending", 409))
        finally:
            revoked = self.client.revoke_connection(self.reauth_provider, user_id=user_id)
        self.assertTrue(revoked["success"])
        with self.assertRaises(latchkey.NotFound):
            self.client.connection_credentials(created["id"])


if __name__ == "__main__":
    unittest.main()
