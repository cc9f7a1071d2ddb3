"""AirgateAuthManager: the Airflow 3 auth manager that trusts the tokens airgate mints.

    [core] auth_manager = airgate_airflow.AirgateAuthManager

Every request airgate forwards carries ``Authorization: Bearer <token>`` minted by airgate (ES256,
``kid`` from airgate's JWKS). Tokens whose ``iss`` is airgate's are verified here against
AIRGATE_JWKS_URL; every other token (the ``_token`` cookie Airflow re-issues, tokens from
``airflow`` CLI clients) goes to Airflow's own validator, as BaseAuthManager does. Decisions live in
``airgate_airflow.core``; this module only adapts them to the BaseAuthManager interface of Airflow
3.0, 3.1 and main (airflow-core/src/airflow/api_fastapi/auth/managers/base_auth_manager.py).
"""
import asyncio
import inspect

from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

from . import core


class AirgateAirflowUser(core.AirgateUser, BaseUser):
    """core.AirgateUser, as the BaseUser Airflow expects."""


def _user(u):
    return AirgateAirflowUser(sub=u.get_id(), name=u.name, email=u.email, role=u.role, groups=u.get_groups())


def _dag_id(details):
    return getattr(details, "id", None) if details is not None else None


class AirgateAuthManager(BaseAuthManager):
    """Users and roles come from airgate; permissions follow core.RULES."""

    _core = None

    @property
    def airgate(self):
        if AirgateAuthManager._core is None:  # once per process, from the environment
            AirgateAuthManager._core = core.AirgateCore.from_env()
        return AirgateAuthManager._core

    # --- tokens ------------------------------------------------------------------------------
    def _airgate_user(self, token):
        verifier = self.airgate.verifier
        if verifier is not None:
            kid = verifier.kid_of(token)
            if verifier.jwks.needs_fetch(kid):
                return None  # the caller fetches off the event loop first
        return _user(self.airgate.user_from_token(token))

    if inspect.iscoroutinefunction(BaseAuthManager.get_user_from_token):

        async def get_user_from_token(self, token):
            if not self.airgate.is_airgate_token(token):
                return await super().get_user_from_token(token)
            user = self._airgate_user(token)
            if user is None:
                await asyncio.to_thread(self.airgate.verifier.jwks.refresh)
                user = _user(self.airgate.user_from_token(token))
            return user

    else:  # early 3.0 releases validated synchronously

        def get_user_from_token(self, token):
            if not self.airgate.is_airgate_token(token):
                return super().get_user_from_token(token)
            return _user(self.airgate.user_from_token(token))

    def revoke_token(self, token):
        """airgate's tokens end with airgate's session (its logout); Airflow's own are revoked as usual."""
        if self.airgate.is_airgate_token(token):
            return None
        parent = getattr(super(), "revoke_token", None)
        return parent(token) if parent else None

    def deserialize_user(self, token):
        return _user(core.user_from_claims(token, "sub"))

    def serialize_user(self, user):
        return core.serialize_user(user)

    # --- login and logout belong to airgate -------------------------------------------------
    def get_url_login(self, **kwargs):
        return self.airgate.login_url(kwargs.get("next_url"))

    def get_url_logout(self):
        return self.airgate.settings.logout_url

    # --- authorization ------------------------------------------------------------------------
    def is_authorized_configuration(self, *, method, user, details=None):
        return self.airgate.allowed(user, "configuration", method)

    def is_authorized_connection(self, *, method, user, details=None):
        return self.airgate.allowed(user, "connection", method)

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None):
        return self.airgate.allowed(user, "dag", method, _dag_id(details))

    def is_authorized_backfill(self, *, method, user, details=None):
        return self.airgate.allowed(user, "backfill", method)

    def is_authorized_asset(self, *, method, user, details=None):
        return self.airgate.allowed(user, "asset", method)

    def is_authorized_asset_alias(self, *, method, user, details=None):
        return self.airgate.allowed(user, "asset_alias", method)

    def is_authorized_pool(self, *, method, user, details=None):
        return self.airgate.allowed(user, "pool", method)

    def is_authorized_variable(self, *, method, user, details=None):
        return self.airgate.allowed(user, "variable", method)

    def is_authorized_view(self, *, access_view, user, team_name=None):
        return self.airgate.allowed(user, "view", "GET")

    def is_authorized_custom_view(self, *, method, resource_name, user):
        return self.airgate.allowed(user, "custom_view", method)

    def filter_authorized_menu_items(self, menu_items, *, user):
        allowed = set(self.airgate.menu_items(user, [m.name for m in menu_items]))
        return [m for m in menu_items if m.name in allowed]

    # --- human-in-the-loop tasks: the assigned users, by airgate user id ------------------------
    def is_allowed(self, user_id, assigned_users):
        """Airflow 3.1: ``assigned_users`` are HITLUser dicts ({"id", "name"})."""
        return any(str(u.get("id")) == str(user_id) for u in assigned_users or ())

    def is_authorized_hitl_task(self, *, assigned_users, user):
        """main: ``assigned_users`` is a set of user ids."""
        return user.get_id() in (assigned_users or set())

    def get_fastapi_app(self):
        return None  # no login pages here: airgate serves them
