"""Airflow 3: the auth manager's core (airgate_airflow/core.py), without Airflow."""
import sys
import time
import unittest

import jwt

from airgate_test_support import JwksServer, SigningKey, claims, jwks
from airgate_airflow import core
from airgate_airflow.settings import AirgateConfigError, Settings
from airgate_airflow.verify import JwksCache, Verifier

METHODS = ("GET", "POST", "PUT", "DELETE")

# (resource, role) -> methods allowed; SimpleAuthManager's table, custom views excepted (see core.py).
EXPECTED = {
    "dag": {"VIEWER": {"GET"}, "USER": set(METHODS), "OP": set(METHODS)},
    "connection": {"VIEWER": set(), "USER": set(), "OP": set(METHODS)},
    "variable": {"VIEWER": set(), "USER": set(), "OP": set(METHODS)},
    "pool": {"VIEWER": {"GET"}, "USER": {"GET"}, "OP": set(METHODS)},
    "configuration": {"VIEWER": {"GET"}, "USER": {"GET"}, "OP": set(METHODS)},
    "backfill": {"VIEWER": {"GET"}, "USER": {"GET"}, "OP": set(METHODS)},
    "asset": {"VIEWER": {"GET"}, "USER": {"GET"}, "OP": set(METHODS)},
    "asset_alias": {"VIEWER": {"GET"}, "USER": {"GET"}, "OP": set(METHODS)},
    "view": {"VIEWER": set(METHODS), "USER": set(METHODS), "OP": set(METHODS)},
    "custom_view": {"VIEWER": {"GET"}, "USER": {"GET"}, "OP": {"GET"}},
}


def a3_claims(sub="alice", role="ADMIN", **kw):
    c = claims(sub=sub, aud="apache-airflow", roles=None, nbf=int(time.time()), jti="j-1")
    c.pop("roles", None)
    c["role"] = role
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


class RoleTableTest(unittest.TestCase):
    def test_every_resource_role_and_method(self):
        for resource, by_role in EXPECTED.items():
            for role, allowed in by_role.items():
                for method in METHODS:
                    with self.subTest(resource=resource, role=role, method=method):
                        self.assertEqual(core.is_authorized(role, resource, method), method in allowed)
                self.assertTrue(core.is_authorized("ADMIN", resource, "DELETE"))

    def test_role_spellings_and_unknown_roles(self):
        self.assertTrue(core.is_authorized("Admin", "connection", "DELETE"))
        self.assertTrue(core.is_authorized("viewer", "dag", "GET"))
        for role in (None, "", "Public", "superuser", 3):
            with self.subTest(role=role):
                self.assertFalse(core.is_authorized(role, "dag", "GET"))
        self.assertFalse(core.is_authorized("OP", "something_new", "GET"), "unknown resources: ADMIN only")

    def test_menu_items_follow_read_permission_and_new_items_are_admin_only(self):
        items = ["DAGS", "CONNECTIONS", "VARIABLES", "POOLS", "CONFIG", "DOCS", "REQUIRED_ACTIONS"]
        user = core.AirgateUser(sub="v", role="VIEWER")
        c = core.AirgateCore(Settings.from_env({}, default_audience="apache-airflow"), verifier=False)
        self.assertEqual(c.menu_items(user, items), ["DAGS", "POOLS", "CONFIG", "DOCS"])
        self.assertEqual(c.menu_items(core.AirgateUser(sub="o", role="OP"), items), items[:-1])
        self.assertEqual(c.menu_items(core.AirgateUser(sub="a", role="ADMIN"), items), items)


class DagGroupsTest(unittest.TestCase):
    def setUp(self):
        env = {"AIRGATE_DAG_GROUPS": '{"team-a": ["etl_*", "report_daily"], "team-b": ["ml_*"]}'}
        self.core = core.AirgateCore(Settings.from_env(env, default_audience="apache-airflow"), verifier=False)

    def test_groups_narrow_dag_access_for_non_admins(self):
        a = core.AirgateUser(sub="a", role="USER", groups=["team-a"])
        self.assertTrue(self.core.allowed(a, "dag", "POST", "etl_orders"))
        self.assertTrue(self.core.allowed(a, "dag", "GET", "report_daily"))
        self.assertFalse(self.core.allowed(a, "dag", "GET", "ml_train"))
        self.assertTrue(self.core.allowed(a, "dag", "GET", None), "listing pages follow the role")
        self.assertFalse(self.core.allowed(core.AirgateUser(sub="n", role="USER"), "dag", "GET", "etl_x"))
        self.assertTrue(self.core.allowed(core.AirgateUser(sub="root", role="ADMIN"), "dag", "DELETE", "ml_train"))

    def test_role_still_applies_inside_a_group(self):
        v = core.AirgateUser(sub="v", role="VIEWER", groups=["team-b"])
        self.assertTrue(self.core.allowed(v, "dag", "GET", "ml_x"))
        self.assertFalse(self.core.allowed(v, "dag", "POST", "ml_x"))

    def test_bad_mappings_name_the_variable(self):
        for raw in ("{", '["x"]', '{"g": "etl_*"}'):
            with self.subTest(raw=raw), self.assertRaisesRegex(AirgateConfigError, "AIRGATE_DAG_GROUPS"):
                Settings.from_env({"AIRGATE_DAG_GROUPS": raw}, default_audience="x")
        with self.assertRaisesRegex(AirgateConfigError, "AIRGATE_LEEWAY: expected a number"):
            Settings.from_env({"AIRGATE_LEEWAY": "ten"}, default_audience="x")


class TokensTest(unittest.TestCase):
    def setUp(self):
        self.key = SigningKey("k1")
        self.server = JwksServer(jwks(self.key))
        self.addCleanup(self.server.close)
        self.core = core.AirgateCore.from_env({"AIRGATE_JWKS_URL": self.server.url})

    def test_an_airgate_token_becomes_a_user(self):
        user = self.core.user_from_token(self.key.sign(a3_claims(sub="李雷", role="Op", name="李雷", groups=["g1"])))
        self.assertEqual((user.get_id(), user.get_name(), user.get_role(), user.get_groups()), ("李雷", "李雷", "OP", ["g1"]))

    def test_airflow_3_tokens_need_nbf_and_airflows_audience(self):
        with self.assertRaises(jwt.MissingRequiredClaimError):
            self.core.user_from_token(self.key.sign(a3_claims(nbf=None)))
        with self.assertRaises(jwt.InvalidAudienceError):
            self.core.user_from_token(self.key.sign(a3_claims(aud="*/")))
        with self.assertRaises(jwt.ExpiredSignatureError):
            self.core.user_from_token(self.key.sign(a3_claims(iat=1, nbf=1, exp=2)))

    def test_unknown_kids_are_invalid_tokens(self):
        with self.assertRaises(jwt.InvalidTokenError):
            self.core.user_from_token(SigningKey("other").sign(a3_claims()))

    def test_airgate_tokens_are_told_apart_by_issuer(self):
        self.assertTrue(self.core.is_airgate_token(self.key.sign(a3_claims())))
        own = jwt.encode({"sub": "alice", "role": "ADMIN", "aud": "apache-airflow"}, "s" * 32, algorithm="HS512")
        self.assertFalse(self.core.is_airgate_token(own))
        self.assertFalse(self.core.is_airgate_token("garbage"))

    def test_a_configured_user_claim(self):
        c = core.AirgateCore.from_env({"AIRGATE_JWKS_URL": self.server.url, "AIRGATE_USER_CLAIM": "preferred_username"})
        self.assertEqual(c.user_from_token(self.key.sign(a3_claims(sub="u-1", preferred_username="josé"))).get_id(), "josé")
        with self.assertRaises(jwt.InvalidTokenError):
            c.user_from_token(self.key.sign(a3_claims(sub="u-1")))

    def test_users_round_trip_through_airflows_own_tokens(self):
        user = core.AirgateUser(sub="alice", name="Alice A", email="a@x", role="USER", groups=["g"])
        back = core.user_from_claims(core.serialize_user(user))
        self.assertEqual((back.get_id(), back.name, back.email, back.role, back.groups), ("alice", "Alice A", "a@x", "USER", ["g"]))

    def test_login_and_logout_urls(self):
        self.assertEqual(self.core.login_url(), "/_airgate/login")
        self.assertEqual(self.core.login_url("http://af/dags?x=1"), "/_airgate/login?next=http%3A%2F%2Faf%2Fdags%3Fx%3D1")
        self.assertEqual(self.core.settings.logout_url, "/_airgate/logout")

    def test_the_core_loads_without_airflow(self):
        self.assertFalse(any(m == "airflow" or m.startswith("airflow.") for m in sys.modules))


if __name__ == "__main__":
    unittest.main()
