"""Airflow 2 REST API auth backend: the user airgate verified, for /api/v1.

    [api]
    auth_backends = airgate_api_auth,airflow.providers.fab.auth_manager.api.auth.backend.session

Airflow tries each backend in turn (airflow/api_connexion/security.py check_authentication): the
first answering 200 wins, else Airflow answers 401 problem+json with the last backend's headers.
This one verifies X-Airgate-Assertion (and that X-Auth-User matches its `sub`, or
AIRGATE_USER_CLAIM), finds or creates the FAB user with the asserted role and logs it in for this
request only (login_user(remember=False), as the basic_auth backend does; /api/v1 sessions are
never saved). Browser sessions and airgate's service accounts (bearer tokens airgate verified)
are treated alike. Settings: see webserver_config.py. Needs PyJWT >= 2.6 with `cryptography`.
"""
import json
from functools import wraps

import airgate_identity as airgate

_state = {}


def init_app(app):
    """Read the settings and build the verifier once, when Airflow loads the backend."""
    settings = airgate.settings_from_env()
    _state["settings"] = settings
    _state["verifier"] = airgate.verifier_for(settings)


def problem_401(detail, version="stable"):
    """The body Airflow's own 401 has (airflow/api_connexion/exceptions.py Unauthenticated)."""
    return json.dumps({"detail": detail, "status": 401, "title": "Unauthorized",
                       "type": f"https://airflow.apache.org/docs/apache-airflow/{version}/stable-rest-api-ref.html#section/Errors/Unauthenticated"})


def api_user(headers, verifier, user_claim="sub"):
    """(claims, role, None) for a usable assertion, else (None, None, why). Pure: tested without Flask."""
    ident = airgate.request_identity(headers, verifier)
    if ident.claims is None:
        return None, None, ident.error or "no airgate identity assertion"
    asserted = ident.claims.get(user_claim)
    if not isinstance(asserted, str) or not asserted or ident.header_user != asserted:
        return None, None, f"{airgate.USER_HEADER} does not match the assertion's {user_claim!r} claim"
    role = airgate.role_from_claims(ident.claims)
    if role is None:
        return None, None, "the assertion names no Airflow role"
    return ident.claims, role, None


def authenticate(headers, sm, login_user, user_claim="sub", verifier=None, current=None):
    """Log the asserted user in for this request; None on success, else why not.

    ``current`` is the user already logged in for this request (webserver_config.py's hook does
    that on every path); when it is the asserted user with the asserted role, nothing more is done.
    """
    claims, role, why = api_user(headers, verifier if verifier is not None else _state.get("verifier"), user_claim)
    if claims is None:
        return why
    if (current is not None and getattr(current, "is_authenticated", False)
            and str(current.username).casefold() == claims[user_claim].casefold()
            and [r.name for r in current.roles] == [role]):
        return None
    user, problem = airgate.fab_user_for(sm, claims, role, user_claim)
    if problem:
        return problem[1]
    login_user(user, remember=False)
    return None


def _doc_version():
    try:
        from airflow import __version__
    except ImportError:
        return "stable"
    return __version__


def requires_authentication(function):
    """Decorate functions that require authentication (the backend contract)."""

    @wraps(function)
    def decorated(*args, **kwargs):
        from flask import Response, current_app, g, request
        from flask_login import current_user, login_user

        if "settings" not in _state:
            init_app(current_app)
        why = authenticate(request.headers, current_app.appbuilder.sm, login_user, _state["settings"].user_claim,
                           current=current_user._get_current_object())
        if why is not None:
            return Response(problem_401(why, _doc_version()), 401, {"Content-Type": "application/problem+json"})
        g.user = current_user._get_current_object()
        return function(*args, **kwargs)

    return decorated
