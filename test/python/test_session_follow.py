"""Airflow 2: the session-follow decision table and carrying it out (airgate_identity.py)."""
import unittest

import airgate_test_support  # noqa: F401
from airgate_identity import Action, error_page, fab_user_for, follow, role_from_claims, session_action
from fab_fakes import FakeFlaskLogin, FakeSecurityManager, User


def c(sub="alice", **kw):
    base = {"sub": sub, "name": kw.pop("name", sub), "email": f"{sub}@example.com", "roles": [kw.pop("role", "Admin")]}
    base.update(kw)
    return base


class DecisionTableTest(unittest.TestCase):
    ROWS = [
        # session user, claims, header user, path, session roles, error -> logout, login, role, deny
        ("first login", None, c("alice"), "alice", "/home", (), None, (False, "alice", "Admin", None)),
        ("same user, same role", "alice", c("alice"), "alice", "/home", ["Admin"], None, (False, None, None, None)),
        ("same user, other case", "Alice", c("alice"), "alice", "/home", ["Admin"], None, (False, None, None, None)),
        ("role changed", "alice", c("alice", role="Viewer"), "alice", "/home", ["Admin"], None, (False, None, "Viewer", None)),
        ("extra roles are dropped", "alice", c("alice"), "alice", "/home", ["Admin", "Op"], None, (False, None, "Admin", None)),
        ("another user", "alice", c("bob", role="Viewer"), "bob", "/home", ["Admin"], None, (True, "bob", "Viewer", None)),
        ("another user on the API", "alice", c("bob"), "bob", "/api/v1/dags", ["Admin"], None, (True, "bob", "Admin", None)),
        ("no assertion, session user", "alice", None, None, "/home", ["Admin"], None, (True, None, None, None)),
        ("no assertion at /login/", None, None, None, "/login/", (), None, (False, None, None, 401)),
        ("no assertion, anonymous page", None, None, None, "/home", (), None, (False, None, None, None)),
        ("refused assertion", "alice", None, "alice", "/home", ["Admin"], "ExpiredSignatureError", (True, None, None, 401)),
        ("refused assertion on the API", "alice", None, "alice", "/api/v1/dags", ["Admin"], "UnknownKeyId", (True, None, None, None)),
        ("header user without assertion", None, None, "alice", "/login/", (), "X-Auth-User came without", (False, None, None, 401)),
        ("display name matches, sub does not", None, c("u-123", name="alice"), "alice", "/home", (), None, (False, None, None, 401)),
        ("header missing", "alice", c("alice"), None, "/home", ["Admin"], None, (True, None, None, 401)),
        ("no role", None, c("alice", roles=[]), "alice", "/home", (), None, (False, None, None, 403)),
        ("static files", "alice", None, None, "/static/dist/main.js", ["Admin"], None, (False, None, None, None)),
        ("health", "alice", None, None, "/health", ["Admin"], None, (False, None, None, None)),
        ("API health", None, None, None, "/api/v1/health", (), "anything", (False, None, None, None)),
    ]

    def test_rows(self):
        for name, session_user, claims, header, path, roles, error, expected in self.ROWS:
            with self.subTest(name):
                a = session_action(session_user, claims, header, path, session_roles=roles, error=error)
                self.assertEqual((a.logout, a.login, a.role, a.deny), expected, a.reason)

    def test_a_configured_user_claim(self):
        claims = c("u-123", preferred_username="josé")
        a = session_action(None, claims, "josé", "/home", user_claim="preferred_username")
        self.assertEqual(a.login, "josé")
        self.assertEqual(session_action(None, claims, "u-123", "/home", user_claim="preferred_username").deny, 401)

    def test_non_latin_names(self):
        for name in ("José Müller", "李雷", "🚀"):
            with self.subTest(name=name):
                self.assertEqual(session_action(None, c(name), name, "/home").login, name)

    def test_role_from_claims(self):
        self.assertEqual(role_from_claims({"role": "ADMIN"}), "Admin")
        self.assertEqual(role_from_claims({"roles": ["viewer"]}), "Viewer")
        self.assertEqual(role_from_claims({"role": "DataTeam"}), "DataTeam")
        self.assertIsNone(role_from_claims({"roles": []}))


class FollowTest(unittest.TestCase):
    def setUp(self):
        self.sm = FakeSecurityManager()
        self.session = {"_user_id": "alice", "csrf_token": "old"}
        self.alice = self.sm.users["alice"] = User("alice", self.sm.roles["Admin"])
        self.flask = FakeFlaskLogin(self.session, self.alice)

    def run_follow(self, action, claims):
        return follow(self.sm, action, claims, login_user=self.flask.login_user, logout_user=self.flask.logout_user,
                      session=self.session)

    def test_a_user_switch_logs_out_starts_a_fresh_session_and_logs_in_the_new_user(self):
        claims = c("bob", role="Viewer")
        self.assertIsNone(self.run_follow(session_action("alice", claims, "bob", "/home", session_roles=["Admin"]), claims))
        self.assertEqual(self.flask.events, [("logout", "alice"), ("login", "bob", False)])
        self.assertNotIn("csrf_token", self.session, "the old session's content is gone")
        self.assertIn(("rotate",), self.sm.calls)
        self.assertEqual([r.name for r in self.sm.users["bob"].roles], ["Viewer"])
        self.assertIn(("update_user_auth_stat", "bob"), self.sm.calls)

    def test_a_role_change_is_synced_without_a_new_login(self):
        claims = c("alice", role="Viewer")
        self.assertIsNone(self.run_follow(session_action("alice", claims, "alice", "/home", session_roles=["Admin"]), claims))
        self.assertEqual([r.name for r in self.alice.roles], ["Viewer"])
        self.assertEqual(self.flask.events, [])
        self.assertIn(("update_user", "alice", ["Viewer"]), self.sm.calls)

    def test_add_user_returning_false_is_refused_not_a_crash(self):
        self.sm.add_user_fails = True
        claims = c("carol")
        refused = self.run_follow(session_action("alice", claims, "carol", "/home", session_roles=["Admin"]), claims)
        self.assertEqual(refused[0], 403)
        self.assertIn("could not create", refused[1])
        self.assertEqual(self.flask.events, [("logout", "alice")], "nobody stays logged in")

    def test_a_failed_role_update_logs_the_user_out(self):
        self.sm.update_user_fails = True
        claims = c("alice", role="Viewer")
        refused = self.run_follow(session_action("alice", claims, "alice", "/home", session_roles=["Admin"]), claims)
        self.assertEqual(refused[0], 403)
        self.assertEqual(self.flask.events, [("logout", "alice")])

    def test_an_unknown_role_or_an_inactive_user_is_refused(self):
        self.assertEqual(fab_user_for(self.sm, c("alice"), "NoSuchRole")[1][0], 403)
        self.alice.is_active = False
        self.assertIn("deactivated", fab_user_for(self.sm, c("alice"), "Admin")[1][1])

    def test_a_new_user_gets_names_and_email_from_the_claims(self):
        user, problem = fab_user_for(self.sm, c("lilei", name="李 雷", email="lilei@example.com"), "Op")
        self.assertIsNone(problem)
        self.assertEqual(self.sm.calls[-1], ("add_user", "lilei", "李", "雷", "lilei@example.com", "Op"))

    def test_a_missing_assertion_logs_out_and_the_login_page_answers_an_error_page(self):
        refused = self.run_follow(session_action("alice", None, None, "/login/", session_roles=["Admin"]), None)
        self.assertEqual(refused[0], 401)
        self.assertEqual(self.flask.events, [("logout", "alice")])
        body, headers = error_page(*refused, request_id="r-1<")
        self.assertIn("401", body)
        self.assertIn("r-1&lt;", body)
        self.assertEqual(headers["Cache-Control"], "no-store")

    def test_nothing_happens_when_nothing_changed(self):
        self.assertIsNone(self.run_follow(Action(reason="same"), c("alice")))
        self.assertEqual((self.flask.events, self.sm.calls), ([], []))


if __name__ == "__main__":
    unittest.main()
