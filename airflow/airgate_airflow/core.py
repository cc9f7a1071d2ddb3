"""The Airflow 3 auth manager's decisions, importable and tested without Airflow.

Roles follow SimpleAuthManager's order VIEWER < USER < OP < ADMIN
(airflow-core/src/airflow/api_fastapi/auth/managers/simple/simple_auth_manager.py): a role grants
what every lower role grants. Per resource, the lowest role allowed to read (GET) and to change
(POST/PUT/DELETE) it:

    resource        read     change
    configuration   VIEWER   OP
    connection      OP       OP
    dag             VIEWER   USER
    backfill        VIEWER   OP
    asset           VIEWER   OP
    asset_alias     VIEWER   OP
    pool            VIEWER   OP
    variable        OP       OP
    view            VIEWER   VIEWER
    custom_view     VIEWER   ADMIN    (SimpleAuthManager lets VIEWER change these; airgate does not)

ADMIN may do everything. A token with no role, or one airgate does not know, may do nothing.
With AIRGATE_DAG_GROUPS set, a non-ADMIN user reaches only the DAGs whose id matches a pattern
listed for one of the user's groups (fnmatch globs, case-sensitive); checks that name no DAG
(listing pages) still follow the role, and the listing itself is filtered DAG by DAG.
"""
from fnmatch import fnmatchcase

from .settings import Settings
from .verify import Verifier, unverified_issuer  # noqa: F401  (re-exported: the core verifies)

ROLE_ORDER = {"VIEWER": 0, "USER": 1, "OP": 2, "ADMIN": 3}

RULES = {
    "configuration": ("VIEWER", "OP"),
    "connection": ("OP", "OP"),
    "dag": ("VIEWER", "USER"),
    "backfill": ("VIEWER", "OP"),
    "asset": ("VIEWER", "OP"),
    "asset_alias": ("VIEWER", "OP"),
    "pool": ("VIEWER", "OP"),
    "variable": ("OP", "OP"),
    "view": ("VIEWER", "VIEWER"),
    "custom_view": ("VIEWER", "ADMIN"),
}

# Menu item (airflow.api_fastapi.common.types.MenuItem name) -> the resource it shows; the item is
# visible when its resource may be read. Items Airflow adds later are shown to ADMIN only.
MENU_RESOURCES = {
    "ASSETS": "asset", "AUDIT_LOG": "view", "CONFIG": "configuration", "CONNECTIONS": "connection",
    "DAGS": "dag", "DOCS": "view", "PLUGINS": "view", "POOLS": "pool", "PROVIDERS": "view",
    "VARIABLES": "variable", "XCOMS": "dag",
}

AIRFLOW3_REQUIRED_CLAIMS = ("exp", "iat", "nbf", "sub")  # JWTValidator requires exp, iat and nbf


def normalize_role(value):
    """VIEWER/USER/OP/ADMIN from any spelling airgate may send ("Admin", "ADMIN"); else None."""
    if not isinstance(value, str):
        return None
    role = value.strip().upper()
    return role if role in ROLE_ORDER else None


def is_authorized(role, resource, method):
    role = normalize_role(role)
    if role is None:
        return False
    if role == "ADMIN":
        return True
    read_min, change_min = RULES.get(resource, ("ADMIN", "ADMIN"))
    needed = read_min if str(method).upper() in ("GET", "MENU") else change_min
    return ROLE_ORDER[role] >= ROLE_ORDER[needed]


def menu_item_allowed(role, item_name):
    resource = MENU_RESOURCES.get(item_name)
    if resource is None:
        return normalize_role(role) == "ADMIN"
    return is_authorized(role, resource, "GET")


class DagGroups:
    """AIRGATE_DAG_GROUPS: which DAG ids each group reaches."""

    def __init__(self, mapping):
        self.mapping = {g: tuple(p) for g, p in (mapping or {}).items()}

    def __bool__(self):
        return bool(self.mapping)

    def allows(self, role, groups, dag_id):
        if not self.mapping or dag_id is None or normalize_role(role) == "ADMIN":
            return True
        return any(fnmatchcase(dag_id, p) for g in groups or () for p in self.mapping.get(g, ()))


class AirgateUser:
    """The user an airgate token (or Airflow's own token for that user) names."""

    def __init__(self, *, sub, name=None, email=None, role=None, groups=()):
        self.id = self.username = sub
        self.name = name or sub
        self.email = email
        self.role = normalize_role(role)
        self.groups = [g for g in (groups or ()) if isinstance(g, str)]
        self.first_name, _, last = self.name.partition(" ")
        self.last_name = last or None
        self.active = True
        self.roles = [self.role] if self.role else []

    def get_id(self):
        return self.id

    def get_name(self):
        return self.name

    def get_groups(self):
        return list(self.groups)

    def get_role(self):
        return self.role

    def __repr__(self):
        return f"AirgateUser(sub={self.id!r}, role={self.role!r})"


def user_from_claims(claims, user_claim="sub"):
    """The user a verified token (airgate's, or Airflow's own re-issue) describes; KeyError without a subject."""
    sub = claims.get(user_claim)
    if not isinstance(sub, str) or not sub:
        raise KeyError(user_claim)
    role = claims.get("role")
    if role is None and isinstance(claims.get("roles"), list) and claims["roles"]:
        role = claims["roles"][0]
    groups = claims.get("groups") if isinstance(claims.get("groups"), list) else []
    return AirgateUser(sub=sub, name=claims.get("name"), email=claims.get("email"), role=role, groups=groups)


def serialize_user(user):
    """Claims Airflow puts in tokens it signs for this user (its _token re-issue); read back by user_from_claims."""
    return {"sub": user.get_id(), "name": user.name, "email": user.email, "role": user.role, "groups": user.get_groups()}


class AirgateCore:
    """Settings, the verifier and the DAG groups; every decision the auth manager makes."""

    def __init__(self, settings, verifier=None):
        self.settings = settings
        self.verifier = verifier if verifier is not None else settings.verifier(require=AIRFLOW3_REQUIRED_CLAIMS)
        self.dag_groups = DagGroups(settings.dag_groups)

    @classmethod
    def from_env(cls, env=None):
        return cls(Settings.from_env(env, default_audience="apache-airflow"))

    def is_airgate_token(self, token):
        """airgate's tokens are told apart by their issuer (Airflow's own carry no iss unless jwt_issuer is set)."""
        return unverified_issuer(token) == self.settings.issuer

    def user_from_token(self, token):
        """Verify an airgate token; raises a jwt.InvalidTokenError subclass when it does not hold."""
        if self.verifier is None:
            from .verify import AirgateTokenError

            raise AirgateTokenError("AIRGATE_JWKS_URL is not set: airgate tokens cannot be verified")
        claims = self.verifier.verify(token)
        try:
            return user_from_claims(claims, self.settings.user_claim)
        except KeyError:
            from .verify import AirgateTokenError

            raise AirgateTokenError(f"the token has no {self.settings.user_claim!r} claim naming the user") from None

    def allowed(self, user, resource, method, dag_id=None):
        if not is_authorized(user.get_role(), resource, method):
            return False
        if resource == "dag":
            return self.dag_groups.allows(user.get_role(), user.get_groups(), dag_id)
        return True

    def menu_items(self, user, item_names):
        return [n for n in item_names if menu_item_allowed(user.get_role(), n)]

    def login_url(self, next_url=None):
        from urllib.parse import urlencode

        return self.settings.login_url + (f"?{urlencode({'next': next_url})}" if next_url else "")
