"""
Airflow 2 webserver_config.py for running behind airgate (Flask-AppBuilder 4.5.x, Airflow 2.9/2.10).

airgate logs users in and sends every request with
  X-Auth-User            the user name (percent-encoded UTF-8 with X-Auth-Encoding: percent when it
                         is not plain printable ASCII; see airgate_airflow/headers.py)
  X-Airgate-Assertion    an ES256 JWT signed by airgate: iss, aud (the route), sub, name, email,
                         groups, role/roles, iat, exp (nbf, jti when airgate sends them)

On EVERY request (not only at GET /login/, where FAB alone would look), the security manager below
makes Airflow's session follow the verified assertion: a different user logs the session's user out
and the asserted one in (fresh session id); a changed role is synced; a missing or refused assertion
logs the session's user out; /login/ without a usable assertion answers a 401 page instead of the
redirect loop FAB would produce. Static files and /health are left alone. The user is accepted only
when the assertion's `sub` (or AIRGATE_USER_CLAIM) equals X-Auth-User, never because a display name
matches. The decisions are in airgate_identity.py (tested without Airflow).

Requirements: PyJWT >= 2.6 with `cryptography` (ES256). Put airgate_identity.py, airgate_api_auth.py
and the airgate_airflow/ package on the webserver's PYTHONPATH (or beside this file).

Settings (environment):
  AIRGATE_JWKS_URL    e.g. http://airgate.internal:8080/_airgate/jwks.json   (required)
  AIRGATE_AUDIENCE    the airgate route name(s) allowed, comma-separated (default "*/")
  AIRGATE_ISSUER      default "airgate"
  AIRGATE_USER_CLAIM  the claim that must equal X-Auth-User (default "sub")
  AIRGATE_LEEWAY, AIRGATE_JWKS_LIFESPAN, AIRGATE_JWKS_TIMEOUT   see airgate_airflow/settings.py
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # Flask's from_pyfile sets __file__

import airgate_identity as airgate  # noqa: E402
from airgate_identity import role_from_claims, verify_assertion  # noqa: E402,F401  (kept for callers)
from airgate_airflow.headers import ENCODING_HEADER, decode_identity_value  # noqa: E402

AUTH_REMOTE_USER_ENV_VAR = airgate.REMOTE_USER_ENV_VAR
AUTH_USER_REGISTRATION = True
AUTH_USER_REGISTRATION_ROLE = "Public"  # never used for airgate's users: their role comes from the assertion

try:  # Everything below needs Airflow; the module above loads (and is tested) without it.
    from flask import g, make_response, request, session
    from flask_appbuilder.const import AUTH_REMOTE_USER
    from flask_login import current_user, login_user, logout_user

    try:  # Airflow 2.9+: the FAB provider
        from airflow.providers.fab.auth_manager.security_manager.override import (
            FabAirflowSecurityManagerOverride as _Base,
        )
    except ImportError:  # Airflow 2.6 - 2.8
        from airflow.www.security import AirflowSecurityManager as _Base
except ImportError:
    _Base = None

if _Base is not None:
    AUTH_TYPE = AUTH_REMOTE_USER
    _SETTINGS = airgate.settings_from_env()
    _VERIFIER = airgate.verifier_for(_SETTINGS)
    if _VERIFIER is None:
        logging.getLogger("airgate").error("AIRGATE_JWKS_URL is not set: no airgate user can log in to this webserver")

    def _identity():
        """The request's identity, verified once per request."""
        if "airgate_identity" not in g:
            g.airgate_identity = airgate.request_identity(request.headers, _VERIFIER)
        return g.airgate_identity

    class AirgateSecurityManager(_Base):
        """Airflow's session follows airgate's assertion on every request."""

        @property
        def auth_remote_user_env_var(self):  # FAB >= 4.4 reads it; older FAB providers lack the property
            return self.appbuilder.get_app.config.get("AUTH_REMOTE_USER_ENV_VAR", airgate.REMOTE_USER_ENV_VAR)

        def before_request(self):
            response = self._airgate_follow()
            super().before_request()  # g.user from the (possibly new) session user
            return response

        def _airgate_follow(self):
            path = request.path
            if airgate.is_exempt(path):
                return None
            ident = _identity()
            user = current_user if current_user.is_authenticated else None
            action = airgate.session_action(
                user.username if user else None, ident.claims, ident.header_user, path,
                session_roles=[r.name for r in user.roles] if user else (), error=ident.error,
                user_claim=_SETTINGS.user_claim)
            if action.logout or action.deny or action.login or action.role:
                logging.getLogger("airgate").info("airgate: %s (%s)", action.reason, path)
            refused = airgate.follow(self, action, ident.claims, login_user=login_user, logout_user=logout_user,
                                     session=session, user_claim=_SETTINGS.user_claim)
            if refused is None or airgate.is_api(path):
                return None  # on /api/ the auth backends answer 401 problem+json themselves
            body, headers = airgate.error_page(*refused, request_id=request.headers.get("X-Request-Id"))
            return make_response(body, refused[0], headers)

        def auth_user_remote_user(self, username):
            """Reached only if before_request logged nobody in: accept nothing the assertion does not prove."""
            ident = _identity()
            claims = ident.claims
            asserted = claims.get(_SETTINGS.user_claim) if claims else None
            # FAB passes the raw environ value: percent-encoded when the name is not plain ASCII
            if not asserted or ident.header_user != asserted or decode_identity_value(
                    username, request.headers.get(ENCODING_HEADER)) != asserted:
                return None
            role = airgate.role_from_claims(claims)
            user, problem = airgate.fab_user_for(self, claims, role, _SETTINGS.user_claim) if role else (None, True)
            if problem:
                return None
            rotate = getattr(self, "_rotate_session_id", None)
            if rotate:
                rotate()
            self.update_user_auth_stat(user)
            return user

    SECURITY_MANAGER_CLASS = AirgateSecurityManager
