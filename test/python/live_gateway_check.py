"""Checks run against a RUNNING airgate by test/python-identity.test.ts (not collected by discover).

Environment, set by that test:
  AIRGATE_LIVE_JWKS_URL    the gateway's /_airgate/jwks.json
  AIRGATE_LIVE_ASSERTION   the X-Airgate-Assertion the gateway sent upstream
  AIRGATE_LIVE_HEADERS     JSON of the identity headers the simulated Airflow received
  AIRGATE_LIVE_USER        the user name expected, AIRGATE_LIVE_ROLE the role expected
  AIRGATE_LIVE_AUDIENCE    the route name (the assertion's aud)
"""
import json
import os
import unittest

import jwt

import airgate_test_support  # noqa: F401
import airgate_api_auth
import airgate_identity
from airgate_airflow import core
from airgate_airflow.verify import JwksCache, UnknownKeyId, Verifier
from airgate_test_support import SigningKey, claims


class LiveGatewayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = os.environ
        cls.token = env["AIRGATE_LIVE_ASSERTION"]
        cls.headers = {k.title(): v for k, v in json.loads(env["AIRGATE_LIVE_HEADERS"]).items()}
        cls.user, cls.role = env["AIRGATE_LIVE_USER"], env["AIRGATE_LIVE_ROLE"]
        cls.verifier = Verifier(JwksCache(env["AIRGATE_LIVE_JWKS_URL"]), issuer="airgate",
                                audience=[env["AIRGATE_LIVE_AUDIENCE"]], require=airgate_identity.AIRFLOW2_REQUIRED_CLAIMS)

    def test_the_assertion_verifies_against_the_live_jwks(self):
        got = self.verifier.verify(self.token)
        self.assertEqual(got["sub"], self.user)
        self.assertEqual(airgate_identity.role_from_claims(got), self.role)
        self.assertLessEqual(got["exp"] - got["iat"], 300)
        self.assertEqual(jwt.get_unverified_header(self.token)["alg"], "ES256")

    def test_airflow_2_logs_the_asserted_user_in_and_switches_from_another(self):
        ident = airgate_identity.request_identity(self.headers, self.verifier)
        self.assertIsNone(ident.error)
        self.assertEqual(ident.header_user, self.user, "the header decodes to the asserted name")
        first = airgate_identity.session_action(None, ident.claims, ident.header_user, "/home")
        self.assertEqual((first.login, first.role, first.deny), (self.user, self.role, None))
        switch = airgate_identity.session_action("someone-else", ident.claims, ident.header_user, "/home",
                                                 session_roles=["Admin"])
        self.assertEqual((switch.logout, switch.login), (True, self.user))

    def test_the_api_backend_accepts_the_live_assertion(self):
        got, role, why = airgate_api_auth.api_user(self.headers, self.verifier)
        self.assertIsNone(why)
        self.assertEqual((got["sub"], role), (self.user, self.role))

    def test_the_auth_manager_core_reads_the_live_claims(self):
        user = core.user_from_claims(self.verifier.verify(self.token))
        self.assertEqual((user.get_id(), user.get_role()), (self.user, self.role.upper()))

    def test_a_token_with_a_kid_the_gateway_does_not_publish_is_refused(self):
        with self.assertRaises(UnknownKeyId):
            self.verifier.verify(SigningKey("not-airgates").sign(claims(sub=self.user, aud=os.environ["AIRGATE_LIVE_AUDIENCE"])))


if __name__ == "__main__":
    unittest.main()
