"""AirgateAuthManager on stand-ins for BaseAuthManager of Airflow 3.0, 3.1 and main (abstract methods per
airflow-core/src/airflow/api_fastapi/auth/managers/base_auth_manager.py of each)."""
import abc
import asyncio
import importlib
import os
import sys
import types
import unittest
from unittest import mock

import jwt

from airgate_test_support import JwksServer, SigningKey, jwks
from test_auth_manager_core import a3_claims

COMMON = ["deserialize_user", "serialize_user", "get_url_login", "is_authorized_configuration",
          "is_authorized_connection", "is_authorized_dag", "is_authorized_asset", "is_authorized_asset_alias",
          "is_authorized_pool", "is_authorized_variable", "is_authorized_view", "is_authorized_custom_view",
          "filter_authorized_menu_items"]
VERSIONS = {
    "3.0": COMMON + ["is_authorized_backfill"],
    "3.1": COMMON + ["is_authorized_backfill", "is_allowed"],
    "main": COMMON + ["is_authorized_hitl_task"],
}
SECRET = "airflow-own-jwt-secret-0123456789abcdef"


def fake_airflow(abstract, async_tokens=True):
    def own(self, token):  # Airflow's JWTValidator with jwt_secret (HS512)
        return self.deserialize_user(jwt.decode(token, SECRET, algorithms=["HS512"], audience="apache-airflow"))

    async def own_async(self, token):
        return own(self, token)

    def revoke(self, token):
        self.revoked.append(token)

    namespace = {name: abc.abstractmethod(lambda self, *a, **k: None) for name in abstract}
    namespace.update(get_user_from_token=own_async if async_tokens else own, revoke_token=revoke, revoked=None)
    base = abc.ABCMeta("BaseAuthManager", (), namespace)
    mods = {n: types.ModuleType(n) for n in ("airflow", "airflow.api_fastapi", "airflow.api_fastapi.auth",
                                             "airflow.api_fastapi.auth.managers", "airflow.api_fastapi.auth.managers.models")}
    mods["airflow.api_fastapi.auth.managers.base_auth_manager"] = types.ModuleType("base_auth_manager")
    mods["airflow.api_fastapi.auth.managers.base_auth_manager"].BaseAuthManager = base
    mods["airflow.api_fastapi.auth.managers.models.base_user"] = types.ModuleType("base_user")
    mods["airflow.api_fastapi.auth.managers.models.base_user"].BaseUser = type("BaseUser", (), {})
    return mods


class MenuItem:
    def __init__(self, name):
        self.name = name


class AuthManagerGlueTest(unittest.TestCase):
    def setUp(self):
        self.key = SigningKey("k1")
        self.server = JwksServer(jwks(self.key))
        self.addCleanup(self.server.close)
        env = mock.patch.dict(os.environ, {"AIRGATE_JWKS_URL": self.server.url})
        env.start()
        self.addCleanup(env.stop)

    def manager(self, version, async_tokens=True):
        mods = fake_airflow(VERSIONS[version], async_tokens)
        patcher = mock.patch.dict(sys.modules, mods)
        patcher.start()
        self.addCleanup(patcher.stop)
        sys.modules.pop("airgate_airflow.manager", None)
        self.addCleanup(sys.modules.pop, "airgate_airflow.manager", None)
        manager = importlib.import_module("airgate_airflow.manager")
        manager.AirgateAuthManager._core = None
        self.addCleanup(setattr, manager.AirgateAuthManager, "_core", None)
        am = importlib.import_module("airgate_airflow").AirgateAuthManager()
        am.revoked = []
        return am

    def user(self, am, token):
        result = am.get_user_from_token(token)
        return asyncio.run(result) if asyncio.iscoroutine(result) else result

    def test_every_abstract_method_of_each_version_is_implemented(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                self.assertEqual(type(self.manager(version)).__abstractmethods__, frozenset())

    def test_airgate_tokens_and_airflows_own_tokens_are_both_accepted(self):
        for version, async_tokens in (("3.0", False), ("3.1", True), ("main", True)):
            with self.subTest(version=version):
                am = self.manager(version, async_tokens)
                self.assertEqual(self.user(am, self.key.sign(a3_claims(sub="bob", role="User"))).get_id(), "bob")
                own = jwt.encode({"sub": "carol", "role": "OP", "aud": "apache-airflow"}, SECRET, algorithm="HS512")
                carol = self.user(am, own)
                self.assertEqual((carol.get_id(), carol.get_role()), ("carol", "OP"))

    def test_a_bad_airgate_token_is_an_invalid_token_never_another_exception(self):
        am = self.manager("main")
        for token in (SigningKey("k-unknown").sign(a3_claims()), self.key.sign(a3_claims(nbf=None))):
            with self.assertRaises(jwt.InvalidTokenError):
                self.user(am, token)

    def test_a_key_roll_is_fetched_off_the_event_loop(self):
        am = self.manager("main")
        self.user(am, self.key.sign(a3_claims()))
        new = SigningKey("k2")
        self.server.document = jwks(self.key, new)
        am.airgate.verifier.jwks._last_attempt -= 60
        self.assertEqual(self.user(am, new.sign(a3_claims(sub="dave"))).get_id(), "dave")

    def test_authorization_menu_login_and_hitl(self):
        am = self.manager("3.1")
        viewer = self.user(am, self.key.sign(a3_claims(sub="v", role="Viewer")))
        self.assertTrue(am.is_authorized_dag(method="GET", user=viewer, details=types.SimpleNamespace(id="d")))
        self.assertFalse(am.is_authorized_dag(method="POST", user=viewer, details=types.SimpleNamespace(id="d")))
        self.assertFalse(am.is_authorized_connection(method="GET", user=viewer))
        self.assertTrue(am.is_authorized_view(access_view=object(), user=viewer))
        self.assertTrue(am.is_authorized_view(access_view=object(), user=viewer, team_name="t"))
        items = [MenuItem("DAGS"), MenuItem("CONNECTIONS")]
        self.assertEqual([m.name for m in am.filter_authorized_menu_items(items, user=viewer)], ["DAGS"])
        self.assertEqual(am.get_url_login(), "/_airgate/login")
        self.assertEqual(am.get_url_login(next_url="/dags"), "/_airgate/login?next=%2Fdags")
        self.assertEqual(am.get_url_logout(), "/_airgate/logout")
        self.assertTrue(am.is_allowed("v", [{"id": "v", "name": "V"}]))
        self.assertFalse(am.is_allowed("v", [{"id": "w", "name": "W"}]))
        self.assertTrue(am.is_authorized_hitl_task(assigned_users={"v"}, user=viewer))
        self.assertIsNone(am.get_fastapi_app())

    def test_logout_revokes_only_airflows_own_tokens(self):
        am = self.manager("main")
        am.revoke_token(self.key.sign(a3_claims()))
        own = jwt.encode({"sub": "carol", "role": "OP", "aud": "apache-airflow"}, SECRET, algorithm="HS512")
        am.revoke_token(own)
        self.assertEqual(am.revoked, [own])

    def test_serialize_then_deserialize(self):
        am = self.manager("main")
        user = self.user(am, self.key.sign(a3_claims(sub="eve", role="Op", groups=["g"])))
        back = am.deserialize_user(am.serialize_user(user))
        self.assertEqual((back.get_id(), back.get_role(), back.get_groups()), ("eve", "OP", ["g"]))


if __name__ == "__main__":
    unittest.main()
