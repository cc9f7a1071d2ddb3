"""Verification of airgate tokens and the JWKS cache (airgate_airflow/verify.py), over real sockets."""
import time
import unittest

import jwt

from airgate_test_support import JwksServer, ManualClock, SigningKey, SilentListener, claims, jwks, refused_url
from airgate_airflow.verify import JwksCache, JwksUnavailable, UnknownKeyId, Verifier
import airgate_identity


def verifier_for(cache, **kw):
    return Verifier(cache, issuer="airgate", audience=["*/"], **kw)


class VerifyTest(unittest.TestCase):
    def setUp(self):
        self.key = SigningKey("k1")
        self.server = JwksServer(jwks(self.key))
        self.addCleanup(self.server.close)
        self.verifier = verifier_for(JwksCache(self.server.url))

    def test_a_good_assertion_verifies_and_returns_its_claims(self):
        got = self.verifier.verify(self.key.sign(claims(sub="alice")))
        self.assertEqual(got["sub"], "alice")
        self.assertEqual(got["roles"], ["Admin"])

    def test_an_expired_assertion_is_refused(self):
        now = int(time.time())
        with self.assertRaises(jwt.ExpiredSignatureError):
            self.verifier.verify(self.key.sign(claims(now=now - 120, ttl=60)))

    def test_another_audience_is_refused(self):
        with self.assertRaises(jwt.InvalidAudienceError):
            self.verifier.verify(self.key.sign(claims(aud="other-route")))

    def test_another_issuer_is_refused(self):
        with self.assertRaises(jwt.InvalidIssuerError):
            self.verifier.verify(self.key.sign(claims(iss="someone-else")))

    def test_a_token_without_iat_or_exp_is_refused(self):
        for missing in ("iat", "exp"):
            with self.subTest(missing=missing), self.assertRaises(jwt.MissingRequiredClaimError):
                self.verifier.verify(self.key.sign(claims(**{missing: None})))

    def test_nbf_is_honoured_when_present_but_not_required_for_airflow_2(self):
        now = int(time.time())
        self.assertEqual(self.verifier.verify(self.key.sign(claims(nbf=now - 1, jti="j1")))["jti"], "j1")
        with self.assertRaises(jwt.ImmatureSignatureError):
            self.verifier.verify(self.key.sign(claims(nbf=now + 600)))

    def test_a_changed_payload_or_another_key_with_the_same_kid_is_refused(self):
        token = self.key.sign(claims(sub="alice"))
        h, _, s = token.split(".")
        forged = jwt.encode(claims(sub="mallory"), "x", algorithm="HS256").split(".")[1]
        with self.assertRaises(jwt.InvalidSignatureError):
            self.verifier.verify(f"{h}.{forged}.{s}")
        with self.assertRaises(jwt.InvalidSignatureError):
            self.verifier.verify(SigningKey("k1").sign(claims()))

    def test_other_algorithms_are_refused_before_any_key_lookup(self):
        hs = jwt.encode(claims(), "secret", algorithm="HS256", headers={"kid": "k1"})
        with self.assertRaises(jwt.InvalidAlgorithmError):
            self.verifier.verify(hs)
        with self.assertRaises(jwt.DecodeError):
            self.verifier.verify("not.a.jwt")

    def test_an_unknown_kid_is_an_invalid_token_not_a_crash_and_refetches_at_most_once_per_interval(self):
        stranger = SigningKey("k-unknown")
        with self.assertRaises(UnknownKeyId) as ctx:
            self.verifier.verify(stranger.sign(claims()))
        self.assertIsInstance(ctx.exception, jwt.InvalidTokenError)
        hits = self.server.hits
        for _ in range(5):
            with self.assertRaises(UnknownKeyId):
                self.verifier.verify(stranger.sign(claims()))
        self.assertEqual(self.server.hits, hits, "no JWKS fetch per bogus token")

    def test_a_key_roll_is_picked_up_by_a_refetch(self):
        clock = ManualClock()
        verifier = verifier_for(JwksCache(self.server.url, clock=clock, min_refresh=30))
        verifier.verify(self.key.sign(claims()))
        new = SigningKey("k2")
        self.server.document = jwks(self.key, new)
        clock.t += 31
        self.assertEqual(verifier.verify(new.sign(claims(sub="bob")))["sub"], "bob")

    def test_an_unreachable_jwks_is_an_invalid_token_not_a_crash(self):
        verifier = verifier_for(JwksCache(refused_url()))
        with self.assertRaises(JwksUnavailable) as ctx, self.assertLogs("airgate", "WARNING"):
            verifier.verify(self.key.sign(claims()))
        self.assertIsInstance(ctx.exception, jwt.InvalidTokenError)

    def test_a_hung_jwks_endpoint_times_out(self):
        hung = SilentListener()
        self.addCleanup(hung.close)
        verifier = verifier_for(JwksCache(hung.url, timeout=0.3))
        started = time.monotonic()
        with self.assertRaises(JwksUnavailable), self.assertLogs("airgate", "WARNING") as logs:
            verifier.verify(self.key.sign(claims()))
        self.assertIn("timed out", logs.output[0])
        self.assertLess(time.monotonic() - started, 5)

    def test_the_last_good_keys_are_kept_while_the_jwks_is_down(self):
        clock = ManualClock()
        verifier = verifier_for(JwksCache(self.server.url, clock=clock, lifespan=300))
        verifier.verify(self.key.sign(claims(sub="a")))
        self.server.status = 500
        clock.t += 301
        with self.assertLogs("airgate", "WARNING") as logs:
            self.assertEqual(verifier.verify(self.key.sign(claims(sub="b")))["sub"], "b")
        self.assertIn("keeping the keys fetched before", logs.output[0])
        self.assertEqual(self.server.hits, 2, "one failed re-fetch, then the old keys")

    def test_a_verified_token_is_not_verified_again(self):
        token = self.key.sign(claims())
        self.verifier.verify(token)
        calls = []
        original = self.verifier.jwks.key
        self.verifier.jwks.key = lambda kid: calls.append(kid) or original(kid)
        self.verifier.verify(token)
        self.assertEqual(calls, [])

    def test_request_identity_reports_errors_instead_of_raising(self):
        headers = {"X-Airgate-Assertion": SigningKey("nope").sign(claims()), "X-Auth-User": "alice"}
        ident = airgate_identity.request_identity(headers, self.verifier)
        self.assertIsNone(ident.claims)
        self.assertIn("UnknownKeyId", ident.error)
        down = verifier_for(JwksCache(refused_url()))
        with self.assertLogs("airgate", "WARNING"):
            ident = airgate_identity.request_identity({"X-Airgate-Assertion": self.key.sign(claims())}, down)
        self.assertIn("JwksUnavailable", ident.error)

    def test_verify_assertion_accepts_a_jwks_dict(self):
        got = airgate_identity.verify_assertion(self.key.sign(claims()), jwks(self.key), audience=["*/"])
        self.assertEqual(airgate_identity.role_from_claims(got), "Admin")


if __name__ == "__main__":
    unittest.main()
