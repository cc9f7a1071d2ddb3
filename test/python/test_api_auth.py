"""airgate_api_auth.py: the Airflow 2 REST API backend (logic pure; glue on fake Flask pieces)."""
import json
import os
import sys
import types
import unittest
from unittest import mock

from airgate_test_support import JwksServer, SigningKey, claims, jwks
from fab_fakes import FakeSecurityManager
from flask_fakes import World, installed
from airgate_airflow.verify import JwksCache, Verifier


class ApiBackendTest(unittest.TestCase):
    def setUp(self):
        self.key = SigningKey("k1")
        self.server = JwksServer(jwks(self.key))
        self.addCleanup(self.server.close)
        self.verifier = Verifier(JwksCache(self.server.url), issuer="airgate", audience=["*/"])
        import airgate_api_auth

        self.api = airgate_api_auth
        self.sm = FakeSecurityManager()
        self.logged_in = []

    def headers(self, user="alice", role="Admin", **extra):
        h = {"X-Airgate-Assertion": self.key.sign(claims(sub=user, role=role)), "X-Auth-User": user}
        h.update(extra)
        return h

    def auth(self, headers):
        return self.api.authenticate(headers, self.sm, lambda u, remember: self.logged_in.append((u.username, remember)),
                                     verifier=self.verifier)

    def test_it_imports_without_flask_or_airflow(self):
        self.assertNotIn("flask", sys.modules)
        self.assertTrue(callable(self.api.requires_authentication) and callable(self.api.init_app))

    def test_a_verified_user_is_logged_in_for_the_request_only(self):
        self.assertIsNone(self.auth(self.headers("alice", "Op")))
        self.assertEqual(self.logged_in, [("alice", False)])
        self.assertEqual([r.name for r in self.sm.users["alice"].roles], ["Op"])

    def test_a_service_account_is_treated_like_a_browser_user(self):
        self.assertIsNone(self.auth(self.headers("svc-ci", "User")))
        self.assertEqual(self.logged_in, [("svc-ci", False)])

    def test_no_or_bad_assertions_are_refused_with_a_reason(self):
        self.assertEqual(self.auth({}), "no airgate identity assertion")
        self.assertIn("UnknownKeyId", self.auth(self.headers(**{"X-Airgate-Assertion": SigningKey("x").sign(claims())})))
        self.assertIn("does not match", self.auth(self.headers("alice", **{"X-Auth-User": "bob"})))
        self.assertIn("DecodeError", self.auth(self.headers(**{"X-Airgate-Assertion": "Bearer abc"})))
        self.sm.add_user_fails = True
        self.assertIn("could not create", self.auth(self.headers("carol")))
        self.assertEqual(self.logged_in, [])

    def test_the_user_the_hook_already_logged_in_costs_no_database_lookup(self):
        from fab_fakes import User

        alice = User("alice", self.sm.roles["Op"])
        self.assertIsNone(self.api.authenticate(self.headers("alice", "Op"), self.sm, None, verifier=self.verifier, current=alice))
        self.assertEqual(self.sm.calls, [])
        bob = User("bob", self.sm.roles["Op"])
        self.assertIsNone(self.api.authenticate(self.headers("alice", "Op"), self.sm, lambda u, remember: self.logged_in.append(u.username),
                                                verifier=self.verifier, current=bob))
        self.assertEqual(self.logged_in, ["alice"])

    def test_a_bearer_token_sent_by_a_client_is_not_an_identity(self):
        self.assertEqual(self.auth({"Authorization": "Bearer " + self.key.sign(claims())}), "no airgate identity assertion")

    def test_the_401_body_has_airflows_problem_shape(self):
        body = json.loads(self.api.problem_401("why", "2.10.3"))
        self.assertEqual(set(body), {"detail", "status", "title", "type"})
        self.assertEqual((body["status"], body["title"]), (401, "Unauthorized"))
        self.assertTrue(body["type"].endswith("/2.10.3/stable-rest-api-ref.html#section/Errors/Unauthenticated"))


class ApiBackendGlueTest(unittest.TestCase):
    """requires_authentication as Airflow calls it: check_authentication wraps ``Response`` and calls it."""

    def setUp(self):
        self.key = SigningKey("k1")
        self.server = JwksServer(jwks(self.key))
        self.addCleanup(self.server.close)
        env = mock.patch.dict(os.environ, {"AIRGATE_JWKS_URL": self.server.url})
        env.start()
        self.addCleanup(env.stop)
        self.world = World()
        self.world.app.appbuilder = types.SimpleNamespace(sm=FakeSecurityManager())
        ctx = installed(self.world)
        ctx.__enter__()
        self.addCleanup(ctx.__exit__, None, None, None)
        import airgate_api_auth

        self.api = airgate_api_auth
        self.api._state.clear()
        self.api.init_app(self.world.app)
        self.addCleanup(self.api._state.clear)

    def call(self, headers):
        from flask import Response

        self.world.new_request("/api/v1/dags", headers)
        return self.api.requires_authentication(Response)()

    def test_200_as_the_asserted_user(self):
        response = self.call({"X-Airgate-Assertion": self.key.sign(claims(sub="李雷", role="Viewer")),
                              "X-Auth-User": "%E6%9D%8E%E9%9B%B7", "X-Auth-Encoding": "percent"})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.world.g.user.username, "李雷")
        self.assertEqual(self.world.events, [("login", "李雷", False)])

    def test_401_problem_json_otherwise(self):
        response = self.call({})
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.headers, {"Content-Type": "application/problem+json"})
        self.assertEqual(json.loads(response.body)["detail"], "no airgate identity assertion")


if __name__ == "__main__":
    unittest.main()
