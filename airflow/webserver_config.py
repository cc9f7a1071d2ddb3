"""
Airflow 2 webserver_config.py for running behind airgate.

airgate logs users in (OIDC), maps their groups to an Airflow role and sends every request with
  X-Auth-User            the user name
  X-Airgate-Assertion    an ES256 JWT signed by airgate: iss, aud (the route), sub, email,
                         name, groups, roles, a short exp

This file makes Flask-AppBuilder trust the user only when the assertion verifies against airgate's
public keys (served at /_airgate/jwks.json), and sets the user's role from the assertion on every
login (FAB's AUTH_REMOTE_USER alone never applies AUTH_ROLES_MAPPING).

Settings (environment):
  AIRGATE_JWKS_URL   e.g. http://airgate.internal:8080/_airgate/jwks.json
  AIRGATE_AUDIENCE   the airgate route name(s) allowed, comma-separated (e.g. "*/")
  AIRGATE_ISSUER     default "airgate"
"""
import os

import jwt  # PyJWT >= 2.4 with the cryptography package (ES256)

AIRGATE_HEADER = "X-Airgate-Assertion"
AIRGATE_ISSUER = os.environ.get("AIRGATE_ISSUER", "airgate")
AIRGATE_AUDIENCE = [a for a in os.environ.get("AIRGATE_AUDIENCE", "*/").split(",") if a]
AIRGATE_JWKS_URL = os.environ.get("AIRGATE_JWKS_URL", "")
AIRFLOW_ROLES = ("Admin", "Op", "User", "Viewer", "Public")


def verify_assertion(token, jwks, audience=None, issuer=None, leeway=30):
    """Verify an airgate assertion against a JWKS (a dict, or a PyJWKClient) and return its claims.

    Raises jwt.InvalidTokenError (or a subclass) when the token is missing, forged, expired,
    for another audience or from another issuer.
    """
    if not token:
        raise jwt.InvalidTokenError("no airgate assertion")
    if isinstance(jwks, dict):
        header = jwt.get_unverified_header(token)
        keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(jwks).keys}
        if header.get("kid") not in keys:
            raise jwt.InvalidTokenError("unknown signing key")
        key = keys[header["kid"]].key
    else:
        key = jwks.get_signing_key_from_jwt(token).key
    return jwt.decode(
        token,
        key,
        algorithms=["ES256"],
        audience=audience or AIRGATE_AUDIENCE,
        issuer=issuer or AIRGATE_ISSUER,
        leeway=leeway,
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )


def role_from_claims(claims):
    """The Airflow role airgate decided, or Public when it named none we know."""
    roles = [r for r in claims.get("roles", []) if r in AIRFLOW_ROLES]
    return roles[0] if roles else "Public"


try:  # Everything below needs Airflow; the functions above are importable (and tested) without it.
    from flask import request
    from flask_appbuilder.security.manager import AUTH_REMOTE_USER

    try:  # Airflow 2.9+: the FAB provider
        from airflow.providers.fab.auth_manager.security_manager.override import (
            FabAirflowSecurityManagerOverride as _Base,
        )
    except ImportError:  # Airflow 2.6 - 2.8
        from airflow.www.security import AirflowSecurityManager as _Base

    AUTH_TYPE = AUTH_REMOTE_USER
    AUTH_REMOTE_USER_ENV_VAR = "HTTP_X_AUTH_USER"
    AUTH_USER_REGISTRATION = True
    AUTH_USER_REGISTRATION_ROLE = "Public"

    _jwks_client = jwt.PyJWKClient(AIRGATE_JWKS_URL, cache_keys=True, lifespan=300) if AIRGATE_JWKS_URL else None

    class AirgateSecurityManager(_Base):
        """Trust X-Auth-User only with a valid airgate assertion; sync the role on every login."""

        def auth_user_remote_user(self, username):
            if _jwks_client is None:
                return None
            try:
                claims = verify_assertion(request.headers.get(AIRGATE_HEADER), _jwks_client)
            except jwt.InvalidTokenError:
                return None
            if claims.get("sub") != username and claims.get("name") != username:
                return None
            role = self.find_role(role_from_claims(claims))
            user = self.find_user(username=username)
            if user is None:
                name = (claims.get("name") or username).split(" ", 1)
                user = self.add_user(
                    username=username,
                    first_name=name[0],
                    last_name=name[1] if len(name) > 1 else "-",
                    email=claims.get("email") or f"{username}@invalid",
                    role=role,
                )
            elif role is not None and [r.name for r in user.roles] != [role.name]:
                user.roles = [role]
                self.update_user(user)
            if user is None or not user.is_active:
                return None
            self.update_user_auth_stat(user)
            return user

    SECURITY_MANAGER_CLASS = AirgateSecurityManager
except ImportError:
    pass
