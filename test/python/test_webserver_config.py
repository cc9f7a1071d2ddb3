"""webserver_config.py's FAB glue, loaded as Flask loads it, on fake Flask/FAB pieces and a real JWKS server."""
import os
import runpy
import sys
import unittest
from unittest import mock

from airgate_test_support import AIRFLOW_DIR, JwksServer, SigningKey, claims, jwks
from fab_fakes import User
from flask_fakes import World, installed

CONFIG = os.path.join(AIRFLOW_DIR, "webserver_config.py")


class WithoutAirflowTest(unittest.TestCase):
    def test_it_loads_without_flask_or_airflow_and_keeps_its_settings(self):
        self.assertNotIn("flask", sys.modules)
        config = runpy.run_path(CONFIG)
        self.assertEqual(config["AUTH_REMOTE_USER_ENV_VAR"], "HTTP_X_AUTH_USER")
        self.assertNotIn("SECURITY_MANAGER_CLASS", config)
        self.assertTrue(callable(config["verify_assertion"]))


class SecurityManagerGlueTest(unittest.TestCase):
    def setUp(self):
        self.key = SigningKey("k1")
        self.server = JwksServer(jwks(self.key))
        self.addCleanup(self.server.close)
        self.world = World()
        env = mock.patch.dict(os.environ, {"AIRGATE_JWKS_URL": self.server.url, "AIRGATE_AUDIENCE": "*/"})
        env.start()
        self.addCleanup(env.stop)
        ctx = installed(self.world)
        ctx.__enter__()
        self.addCleanup(ctx.__exit__, None, None, None)
        config = runpy.run_path(CONFIG)
        self.assertEqual(config["AUTH_TYPE"], 3)
        self.sm = config["SECURITY_MANAGER_CLASS"]()

    def request(self, path, user=None, role="Admin", **headers):
        if user is not None:
            headers.setdefault("X-Airgate-Assertion", self.key.sign(claims(sub=user, role=role)))
            headers.setdefault("X-Auth-User", user)
        self.world.new_request(path, headers)
        return self.sm.before_request()

    def test_alice_then_bob_in_the_same_browser_serves_bob_with_bobs_role(self):
        self.assertIsNone(self.request("/home", "alice"))
        self.assertEqual(self.world.g.user.username, "alice")
        self.assertIsNone(self.request("/home", "bob", role="Viewer"))
        self.assertEqual(self.world.events, [("logout", "alice"), ("login", "bob", False)])
        self.assertEqual(self.world.g.user.username, "bob")
        self.assertEqual([r.name for r in self.world.g.user.roles], ["Viewer"])

    def test_a_role_change_takes_effect_on_the_next_request(self):
        self.request("/home", "alice", role="Admin")
        self.request("/home", "alice", role="Op")
        self.assertEqual([r.name for r in self.world.g.user.roles], ["Op"])
        self.assertEqual(self.world.events, [], "no new login")

    def test_an_unknown_key_id_answers_a_401_page_not_a_500(self):
        self.request("/home", "alice")
        stranger = SigningKey("unknown")
        response = self.request("/home", "alice", **{"X-Airgate-Assertion": stranger.sign(claims())})
        self.assertEqual(response.status_code, 401)
        self.assertIn("UnknownKeyId", response.body)
        self.assertEqual(self.world.events, [("logout", "alice")])

    def test_the_login_page_without_an_assertion_answers_401_instead_of_a_redirect_loop(self):
        response = self.request("/login/", None)
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.headers["Content-Type"], "text/html; charset=utf-8")

    def test_static_files_and_health_are_left_alone(self):
        self.request("/home", "alice")
        self.assertIsNone(self.request("/static/appbuilder/css/ab.css", None))
        self.assertIsNone(self.request("/health", None))
        self.assertEqual(self.world.events, [])
        self.assertEqual(self.world.user.username, "alice")

    def test_api_paths_are_never_answered_with_a_page(self):
        self.request("/home", "alice")
        self.assertIsNone(self.request("/api/v1/dags", None, **{"X-Airgate-Assertion": "garbage"}))
        self.assertEqual(self.world.events, [("logout", "alice")])

    def test_a_percent_encoded_user_name_is_decoded(self):
        name = "José Müller"
        token = self.key.sign(claims(sub=name))
        self.assertIsNone(self.request("/home", name, **{"X-Auth-User": "Jos%C3%A9%20M%C3%BCller",
                                                          "X-Auth-Encoding": "percent", "X-Airgate-Assertion": token}))
        self.assertEqual(self.world.g.user.username, name)

    def test_remote_user_login_accepts_only_the_asserted_user(self):
        self.world.new_request("/login/", {"X-Airgate-Assertion": self.key.sign(claims(sub="alice")), "X-Auth-User": "alice"})
        self.assertEqual(self.sm.auth_user_remote_user("alice").username, "alice")
        self.assertIsNone(self.sm.auth_user_remote_user("mallory"))
        self.world.new_request("/login/", {"X-Airgate-Assertion": self.key.sign(claims(sub="李雷")),
                                           "X-Auth-User": "%E6%9D%8E%E9%9B%B7", "X-Auth-Encoding": "percent"})
        self.assertEqual(self.sm.auth_user_remote_user("%E6%9D%8E%E9%9B%B7").username, "李雷")
        self.assertEqual(self.sm.auth_remote_user_env_var, "HTTP_X_AUTH_USER")

    def test_an_existing_user_is_found_case_insensitively(self):
        self.sm.users["alice"] = User("Alice", self.sm.roles["Admin"])
        self.request("/home", "alice")
        self.assertEqual(self.world.g.user.username, "Alice")


if __name__ == "__main__":
    unittest.main()
