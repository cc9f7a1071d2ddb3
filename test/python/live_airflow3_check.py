"""Checks run against a RUNNING airgate's Airflow 3 token by test/python-identity.test.ts (not collected by discover).

Environment, set by that test:
  AIRGATE_JWKS_URL       the gateway's /_airgate/jwks.json (the auth manager's own setting)
  AIRGATE_LIVE_BEARER    the Authorization header the simulated Airflow 3 received
  AIRGATE_LIVE_USER      the user name expected, AIRGATE_LIVE_ROLE the role expected
"""
import os
import unittest

import jwt

import airgate_test_support  # noqa: F401
from airgate_airflow import core


class LiveAirflow3TokenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.token = os.environ["AIRGATE_LIVE_BEARER"].removeprefix("Bearer ")
        cls.user, cls.role = os.environ["AIRGATE_LIVE_USER"], os.environ["AIRGATE_LIVE_ROLE"]
        cls.core = core.AirgateCore.from_env()

    def test_the_auth_manager_core_accepts_the_minted_token(self):
        self.assertTrue(self.core.is_airgate_token(self.token))
        user = self.core.user_from_token(self.token)
        self.assertEqual((user.get_id(), user.get_role()), (self.user, self.role.upper()))

    def test_it_holds_what_airflows_jwtvalidator_requires(self):
        # JWTValidator: exp, iat and nbf required, the audience always (apache-airflow), ES256 with a kid.
        header = jwt.get_unverified_header(self.token)
        self.assertEqual(header["alg"], "ES256")
        self.assertTrue(header["kid"])
        claims = jwt.decode(self.token, options={"verify_signature": False})
        for claim in ("exp", "iat", "nbf", "jti", "iss", "aud", "sub", "role", "name", "groups"):
            self.assertIn(claim, claims)
        self.assertEqual(claims["aud"], "apache-airflow")
        self.assertLessEqual(claims["exp"] - claims["iat"], 600)

    def test_the_role_decides_as_simple_auth_manager_orders_roles(self):
        user = self.core.user_from_token(self.token)
        self.assertTrue(self.core.allowed(user, "dag", "GET", "example_etl"))
        self.assertTrue(self.core.allowed(user, "pool", "POST"))  # Op manages pools
        self.assertFalse(self.core.allowed(user, "custom_view", "POST"))  # only Admin changes these

    def test_a_tampered_token_is_refused(self):
        head, body, sig = self.token.split(".")
        forged = ".".join([head, body, ("A" if sig[0] != "A" else "B") + sig[1:]])
        with self.assertRaises(jwt.InvalidTokenError):
            core.AirgateCore.from_env().user_from_token(forged)


if __name__ == "__main__":
    unittest.main()
