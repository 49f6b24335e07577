"""Unit tests of verify_webhook_signature; the expected values are computed here with hmac directly."""

import hashlib
import hmac
import json
import time
import unittest

from latchkey import verify_webhook_signature

SECRET = "whsec_5f2b1c0d9e8a7b6c"
T = 1700000000
PAYLOAD = json.dumps(
    {"id": "evt_1", "type": "connection.created", "created_at": "2023-11-14T22:13:20.000Z", "data": {"user_id": "u_1"}}
).encode("utf-8")


def hex_signature(payload: bytes, secret: str, t: object) -> str:
    return hmac.new(secret.encode("utf-8"), ("%s." % t).encode("ascii") + payload, hashlib.sha256).hexdigest()


def header(payload: bytes = PAYLOAD, secret: str = SECRET, t: int = T) -> str:
    return "t=%d,v1=%s" % (t, hex_signature(payload, secret, t))


class VerifyWebhookSignatureTest(unittest.TestCase):
    def verify(self, payload=PAYLOAD, header_value=None, secret=SECRET, **kwargs) -> bool:
        kwargs.setdefault("now", T)
        return verify_webhook_signature(payload, header() if header_value is None else header_value, secret, **kwargs)

    def test_cross_check_vector(self) -> None:
        # The same vector test/unit/webhook-signature.test.ts checks against the Node signer.
        expected = "t=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
        self.assertEqual(header(b'{"id":"evt_1"}', "whsec_test", 1700000000), expected)
        self.assertTrue(verify_webhook_signature(b'{"id":"evt_1"}', expected, "whsec_test", now=1700000000))

    def test_round_trip(self) -> None:
        self.assertTrue(self.verify())
        self.assertTrue(self.verify(payload=PAYLOAD.decode("utf-8")))
        self.assertTrue(self.verify(payload=bytearray(PAYLOAD)))

    def test_uses_the_clock_by_default(self) -> None:
        now = int(time.time())
        self.assertTrue(verify_webhook_signature(PAYLOAD, header(t=now), SECRET))
        self.assertFalse(verify_webhook_signature(PAYLOAD, header(t=now - 3600), SECRET))

    def test_non_ascii_body(self) -> None:
        body = '{"name":"Zoë ✓"}'
        self.assertTrue(self.verify(payload=body, header_value=header(body.encode("utf-8"))))

    def test_tampered_body(self) -> None:
        self.assertFalse(self.verify(payload=PAYLOAD.replace(b"u_1", b"u_2")))
        self.assertFalse(self.verify(payload=json.dumps(json.loads(PAYLOAD), indent=2).encode("utf-8")))
        self.assertFalse(self.verify(payload=PAYLOAD + b"\n"))

    def test_wrong_secret(self) -> None:
        self.assertFalse(self.verify(secret="whsec_other"))
        self.assertFalse(self.verify(secret=SECRET.upper()))

    def test_changed_timestamp(self) -> None:
        v1 = hex_signature(PAYLOAD, SECRET, T)
        self.assertFalse(self.verify(header_value="t=%d,v1=%s" % (T + 1, v1)))
        self.assertFalse(self.verify(header_value="t=0%d,v1=%s" % (T, v1)))

    def test_stale_and_future_timestamps(self) -> None:
        self.assertTrue(self.verify(now=T + 300))
        self.assertTrue(self.verify(now=T - 300))
        self.assertFalse(self.verify(now=T + 301))
        self.assertFalse(self.verify(now=T - 301))
        self.assertTrue(self.verify(now=T + 1000, tolerance=1000))
        self.assertFalse(self.verify(now=T + 1, tolerance=0))
        self.assertTrue(self.verify(now=T, tolerance=0))

    def test_several_v1_values(self) -> None:
        good = hex_signature(PAYLOAD, SECRET, T)
        old = hex_signature(PAYLOAD, "whsec_old", T)
        self.assertTrue(self.verify(header_value="t=%d,v1=%s,v1=%s" % (T, old, good)))
        self.assertTrue(self.verify(header_value="t=%d,v1=%s,v1=%s" % (T, good, old)))
        self.assertFalse(self.verify(header_value="t=%d,v1=%s,v1=%s" % (T, old, old)))
        self.assertTrue(self.verify(header_value="v0=abc, t=%d, v1=%s, v2=zzz" % (T, good.upper())))

    def test_missing_and_malformed_headers(self) -> None:
        good = hex_signature(PAYLOAD, SECRET, T)
        self.assertFalse(verify_webhook_signature(PAYLOAD, None, SECRET, now=T))
        self.assertFalse(self.verify(header_value="  "))
        malformed = [
            good,
            "v1=%s" % good,
            "t=%d" % T,
            "t=%d,v0=%s" % (T, good),
            "t=,v1=%s" % good,
            "t=abc,v1=%s" % good,
            "t=-%d,v1=%s" % (T, good),
            "t=%d.5,v1=%s" % (T, good),
            "t=1e9,v1=%s" % good,
            "t=\u0661\u0662,v1=%s" % good,
            "t=%d,t=%d,v1=%s" % (T, T, good),
            "t=%d,v1=%s" % (T, good[2:]),
            "t=%d,v1=%s00" % (T, good),
            "t=%d,v1=zz%s" % (T, good[2:]),
            "t=%d,v1=" % T,
            "t=%d,,v1=%s" % (T, good),
            "t=%d;v1=%s" % (T, good),
            "t=%d,=%s" % (T, good),
            "t=%s,v1=%s" % ("9" * 400, good),
        ]
        for value in malformed:
            with self.subTest(header=value):
                self.assertFalse(self.verify(header_value=value))

    def test_configuration_mistakes_raise(self) -> None:
        with self.assertRaises(ValueError):
            self.verify(secret="")
        with self.assertRaises(ValueError):
            self.verify(tolerance=-1)
        with self.assertRaises(ValueError):
            self.verify(tolerance=float("nan"))
        with self.assertRaises(ValueError):
            self.verify(now=float("nan"))


if __name__ == "__main__":
    unittest.main()
