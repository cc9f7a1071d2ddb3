"""Airflow 2 (Flask-AppBuilder 4.5.x): Airflow's session follows airgate's assertion on every request.

FAB reads the remote user only on ``GET /login/`` and not at all once its ``session`` cookie holds
a user (AuthRemoteUserView.login, flask_appbuilder/security/views.py). So webserver_config.py runs
``session_action`` before every request and carries out what it returns with ``follow``. Both are
plain functions over plain values and duck-typed FAB objects, importable and tested without
Flask or Airflow; webserver_config.py and airgate_api_auth.py are the thin Flask/FAB glue.

Needs PyJWT >= 2.6 with ``cryptography`` (see airgate_airflow/verify.py).
"""
import html
from typing import NamedTuple

from airgate_airflow.headers import identity_header
from airgate_airflow.settings import Settings
from airgate_airflow.verify import JwksCache, Verifier

ASSERTION_HEADER = "X-Airgate-Assertion"
USER_HEADER = "X-Auth-User"
REMOTE_USER_ENV_VAR = "HTTP_X_AUTH_USER"
AIRFLOW2_REQUIRED_CLAIMS = ("exp", "iat", "sub")  # nbf is checked when present
LOGIN_PATH = "/login/"
EXEMPT_PATHS = frozenset({"/health", "/api/v1/health", "/robots.txt", "/favicon.ico"})
STANDARD_ROLES = {"admin": "Admin", "op": "Op", "user": "User", "viewer": "Viewer", "public": "Public"}


def settings_from_env(env=None):
    """Airflow 2 settings: AIRGATE_AUDIENCE defaults to airgate's route name ``*/``."""
    return Settings.from_env(env, default_audience="*/")


def verifier_for(settings):
    return settings.verifier(require=AIRFLOW2_REQUIRED_CLAIMS + (settings.user_claim,))


def verify_assertion(token, jwks, audience=None, issuer=None, leeway=10):
    """Verify one assertion against a JWKS dict (or a JwksCache); the claims, or a jwt.PyJWTError."""
    cache = jwks if isinstance(jwks, JwksCache) else JwksCache(jwks)
    settings = settings_from_env()
    verifier = Verifier(cache, issuer=issuer or settings.issuer, audience=audience or settings.audience,
                        leeway=leeway, require=AIRFLOW2_REQUIRED_CLAIMS)
    return verifier.verify(token)


def role_from_claims(claims):
    """The Airflow role airgate decided (claim ``role``, else the first of ``roles``), or None."""
    role = claims.get("role")
    if role is None and isinstance(claims.get("roles"), list) and claims["roles"]:
        role = claims["roles"][0]
    if not isinstance(role, str) or not role.strip():
        return None
    return STANDARD_ROLES.get(role.strip().lower(), role.strip())


def is_exempt(path):
    return path in EXEMPT_PATHS or path.startswith("/static/")


def is_api(path):
    return path.startswith("/api/")


class Identity(NamedTuple):
    """What the request says about its user: verified claims, the decoded header, or the error."""

    claims: object  # dict of verified claims, or None
    header_user: object  # str or None
    error: object  # str when an assertion or a user header came but cannot be trusted


def request_identity(headers, verifier):
    """Read and verify the request's assertion (``headers`` has ``.get``); never raises for bad input."""
    import jwt

    token = headers.get(ASSERTION_HEADER)
    header_user = identity_header(headers, USER_HEADER)
    if not token:
        if headers.get(USER_HEADER) is not None:
            return Identity(None, header_user, f"{USER_HEADER} came without {ASSERTION_HEADER}")
        return Identity(None, None, None)
    if verifier is None:
        return Identity(None, header_user, "AIRGATE_JWKS_URL is not set on this webserver")
    try:
        return Identity(verifier.verify(token), header_user, None)
    except jwt.PyJWTError as e:  # PyJWKClientError-like errors included, not only InvalidTokenError
        return Identity(None, header_user, f"{type(e).__name__}: {e}")


class Action(NamedTuple):
    """What to do with Airflow's session before the request runs."""

    logout: bool = False  # end the FAB session's user
    login: object = None  # user name to log in (after logout, if any)
    role: object = None  # role the (logged-in) user must have, synced when it differs
    deny: object = None  # 401/403: answer an error page instead of running the request
    reason: str = ""


def session_action(session_user, claims, header_user, path, *, session_roles=(), error=None, user_claim="sub"):
    """The decision table (tested in test/python/test_session_follow.py).

    session_user   the user name FAB's session holds, or None
    claims         the verified assertion's claims, or None
    header_user    X-Auth-User, decoded, or None
    error          why an assertion (or a user header) that came cannot be trusted
    """
    api = is_api(path)
    if is_exempt(path):
        return Action(reason="exempt path")
    if claims is None:
        if error:
            return Action(logout=session_user is not None, deny=None if api else 401,
                          reason=f"airgate's identity assertion was refused: {error}")
        deny = 401 if path == LOGIN_PATH else None  # elsewhere FAB sends anonymous users to /login/
        return Action(logout=session_user is not None, deny=deny, reason="no airgate identity assertion")
    asserted = claims.get(user_claim)
    if not isinstance(asserted, str) or not asserted:
        return Action(logout=session_user is not None, deny=None if api else 401,
                      reason=f"the assertion has no {user_claim!r} claim")
    if header_user != asserted:
        return Action(logout=session_user is not None, deny=None if api else 401,
                      reason=f"{USER_HEADER} does not match the assertion's {user_claim!r} claim")
    role = role_from_claims(claims)
    if role is None:
        return Action(logout=session_user is not None, deny=None if api else 403,
                      reason="the assertion names no Airflow role")
    if session_user is None:
        return Action(login=asserted, role=role, reason="login")
    if session_user.casefold() != asserted.casefold():  # FAB's find_user matches case-insensitively
        return Action(logout=True, login=asserted, role=role, reason=f"user changed from {session_user}")
    if list(session_roles) != [role]:
        return Action(role=role, reason="role changed")
    return Action(reason="same user and role")


def split_name(name):
    first, _, last = name.strip().partition(" ")
    return first[:64] or "-", (last.strip() or "-")[:64]


def fab_user_for(sm, claims, role_name, user_claim="sub"):
    """Find or create the FAB user the claims name, with exactly ``role_name``: (user, None) or (None, (status, why)).

    ``sm`` is FAB's security manager (find_role, find_user, add_user, update_user).
    """
    username = claims[user_claim]
    role = sm.find_role(role_name)
    if role is None:
        return None, (403, f"the role {role_name!r} airgate sent does not exist in Airflow")
    user = sm.find_user(username=username)
    if user is None:
        first, last = split_name(claims.get("name") or username)
        email = claims.get("email") or f"{username}@airgate.invalid"
        user = sm.add_user(username=username, first_name=first, last_name=last, email=email, role=role)
        if not user:  # FAB's add_user answers False on a database error (e.g. the e-mail is taken)
            return None, (403, f"Airflow could not create the user {username!r} (see the webserver log)")
        return user, None
    if not user.is_active:
        return None, (403, f"the user {username!r} is deactivated in Airflow")
    if [r.name for r in user.roles] != [role.name]:
        user.roles = [role]
        if sm.update_user(user) is False:
            return None, (403, f"Airflow could not update the role of {username!r} (see the webserver log)")
    return user, None


def follow(sm, action, claims, *, login_user, logout_user, session, user_claim="sub"):
    """Carry out ``action`` on FAB's session; returns (status, reason) to refuse with, or None."""
    if action.logout:
        logout_user()
        session.clear()
    if action.login or action.role:
        user, problem = fab_user_for(sm, claims, action.role, user_claim)
        if problem:
            if not action.logout:
                logout_user()
                session.clear()
            return problem
        if action.login:
            rotate = getattr(sm, "_rotate_session_id", None)
            if rotate:
                rotate()  # a fresh session id for the new login (database session backend)
            login_user(user, remember=False)
            sm.update_user_auth_stat(user)
    return (action.deny, action.reason) if action.deny else None


def error_page(status, reason, request_id=None):
    """(body, headers) of the page Airflow answers instead of redirecting to /login/ in a loop."""
    title = "Not signed in" if status == 401 else "Not allowed"
    rid = f"<p>Request id: <code>{html.escape(request_id)}</code></p>" if request_id else ""
    body = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{status} {title}</title></head>"
            f"<body><h1>{status} {title}</h1><p>Airflow could not use the identity airgate sent: "
            f"{html.escape(reason)}.</p><p><a href=\"/_airgate/login\">Sign in again</a></p>{rid}</body></html>")
    return body, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
