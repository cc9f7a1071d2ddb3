"""airgate settings for the Airflow side, read once from the environment.

  AIRGATE_JWKS_URL        airgate's keys, e.g. http://airgate.internal:8080/_airgate/jwks.json
                          (a file path works too). Without it no airgate token is accepted.
  AIRGATE_ISSUER          the ``iss`` airgate signs with (default ``airgate``)
  AIRGATE_AUDIENCE        accepted ``aud`` values, comma-separated (default: see each component)
  AIRGATE_USER_CLAIM      the claim that names the Airflow user (default ``sub``)
  AIRGATE_LEEWAY          clock skew allowed, seconds (default 10, as Airflow's jwt_leeway)
  AIRGATE_JWKS_LIFESPAN   seconds a fetched JWKS is used before it is fetched again (default 300)
  AIRGATE_JWKS_TIMEOUT    seconds to wait for the JWKS (default 5)
  AIRGATE_DAG_GROUPS      Airflow 3 only: JSON {"group": ["dag_id or glob", ...]} narrowing DAG access
  AIRGATE_LOGIN_URL       Airflow 3 only: default /_airgate/login
  AIRGATE_LOGOUT_URL      Airflow 3 only: default /_airgate/logout
"""
import json
import os
from dataclasses import dataclass, field


class AirgateConfigError(ValueError):
    """A setting that cannot be used; the message names the variable and what was expected."""


def _number(env, name, default):
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise AirgateConfigError(f"environment variable {name}: expected a number of seconds, got {raw!r}") from None
    if value < 0:
        raise AirgateConfigError(f"environment variable {name}: expected a number >= 0, got {raw!r}")
    return value


def _dag_groups(env):
    raw = env.get("AIRGATE_DAG_GROUPS")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise AirgateConfigError(f"environment variable AIRGATE_DAG_GROUPS: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(p, str) for p in v) for v in data.values()):
        raise AirgateConfigError('environment variable AIRGATE_DAG_GROUPS: expected {"group": ["dag_id or glob", ...]}')
    return {str(k): tuple(v) for k, v in data.items()}


@dataclass(frozen=True)
class Settings:
    jwks_url: str
    issuer: str
    audience: tuple
    user_claim: str
    leeway: float
    jwks_lifespan: float
    jwks_timeout: float
    dag_groups: dict = field(default_factory=dict)
    login_url: str = "/_airgate/login"
    logout_url: str = "/_airgate/logout"

    @classmethod
    def from_env(cls, env=None, *, default_audience):
        env = os.environ if env is None else env
        audience = tuple(a.strip() for a in env.get("AIRGATE_AUDIENCE", default_audience).split(",") if a.strip())
        if not audience:
            raise AirgateConfigError("environment variable AIRGATE_AUDIENCE: expected one or more audiences, comma-separated")
        return cls(
            jwks_url=env.get("AIRGATE_JWKS_URL", "").strip(),
            issuer=env.get("AIRGATE_ISSUER", "airgate"),
            audience=audience,
            user_claim=env.get("AIRGATE_USER_CLAIM", "sub").strip() or "sub",
            leeway=_number(env, "AIRGATE_LEEWAY", 10.0),
            jwks_lifespan=_number(env, "AIRGATE_JWKS_LIFESPAN", 300.0) or 300.0,
            jwks_timeout=_number(env, "AIRGATE_JWKS_TIMEOUT", 5.0) or 5.0,
            dag_groups=_dag_groups(env),
            login_url=env.get("AIRGATE_LOGIN_URL", "/_airgate/login"),
            logout_url=env.get("AIRGATE_LOGOUT_URL", "/_airgate/logout"),
        )

    def verifier(self, *, require):
        """A Verifier for these settings (None when AIRGATE_JWKS_URL is not set)."""
        from .verify import JwksCache, Verifier

        if not self.jwks_url:
            return None
        jwks = JwksCache(self.jwks_url, lifespan=self.jwks_lifespan, timeout=self.jwks_timeout)
        return Verifier(jwks, issuer=self.issuer, audience=self.audience, leeway=self.leeway, require=require)
