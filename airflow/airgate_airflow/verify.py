"""Verifying airgate's ES256 tokens with PyJWT, against airgate's JWKS (``/_airgate/jwks.json``).

Needs PyJWT >= 2.6 with the ``cryptography`` package (tested with Debian 12's python3-jwt 2.6.0).
PyJWT's own ``PyJWKClient`` is not used: before 2.7 it has no network timeout, it re-fetches the
JWKS for every token with an unknown key id, and its ``PyJWKClientError`` is not an
``InvalidTokenError``. ``JwksCache`` fetches with a timeout, re-fetches at most once per
``min_refresh`` seconds, keeps serving the last good keys while the JWKS is unreachable, and
raises errors that are ``jwt.InvalidTokenError`` subclasses (so Airflow 3 answers 403, not 500).
"""
import json
import logging
import threading
import time
import urllib.request

import jwt

log = logging.getLogger("airgate")


class AirgateTokenError(jwt.InvalidTokenError):
    """A token airgate's keys cannot vouch for."""


class UnknownKeyId(AirgateTokenError):
    """The token's ``kid`` is not in airgate's JWKS (not even after a re-fetch)."""


class JwksUnavailable(AirgateTokenError):
    """airgate's JWKS could not be fetched and no earlier copy is known."""


class JwksCache:
    """airgate's public keys by key id, fetched from a URL (or a file path), or given as a dict."""

    def __init__(self, source, *, lifespan=300.0, timeout=5.0, min_refresh=30.0, clock=time.monotonic):
        self.source = source
        self.lifespan = lifespan
        self.timeout = timeout
        self.min_refresh = min_refresh
        self.clock = clock
        self._lock = threading.Lock()
        self._keys = None
        self._fetched_at = None
        self._last_attempt = None
        self._last_error = None
        if isinstance(source, dict):
            self._keys = _parse(source)
            self._fetched_at = float("inf")  # never stale, never re-fetched

    def _due(self, now):
        return self._keys is None or now >= self._fetched_at + self.lifespan

    def _may_fetch(self, now):
        return not isinstance(self.source, dict) and (self._last_attempt is None or now >= self._last_attempt + self.min_refresh)

    def needs_fetch(self, kid):
        """Whether ``key(kid)`` would go to the network (so async callers can do it off the event loop)."""
        now = self.clock()
        return self._may_fetch(now) and (self._due(now) or kid not in (self._keys or {}))

    def refresh(self):
        with self._lock:
            self._fetch(self.clock())

    def _fetch(self, now):
        self._last_attempt = now
        try:
            self._keys = _parse(_load(self.source, self.timeout))
            self._fetched_at = now
            self._last_error = None
        except (OSError, ValueError, jwt.PyJWTError) as e:
            self._last_error = f"{type(e).__name__}: {e}"
            log.warning("airgate JWKS %s could not be fetched (%s); %s", self.source, self._last_error,
                        "keeping the keys fetched before" if self._keys else "no keys known yet")

    def key(self, kid):
        """The ``jwt.PyJWK`` for ``kid``; raises UnknownKeyId or JwksUnavailable."""
        with self._lock:
            now = self.clock()
            if self._due(now) and self._may_fetch(now):
                self._fetch(now)
            if self._keys is None:
                raise JwksUnavailable(f"airgate JWKS {self.source} unavailable: {self._last_error}")
            found = self._keys.get(kid)
            if found is None and self._may_fetch(now):
                self._fetch(now)  # a key roll: airgate may sign with a key we have not seen yet
                found = self._keys.get(kid)
            if found is None:
                raise UnknownKeyId(f"key id {kid!r} is not in airgate's JWKS {self.source}")
            return found


def _load(source, timeout):
    if "://" not in source:
        with open(source, "rb") as f:
            return json.load(f)
    with urllib.request.urlopen(source, timeout=timeout) as response:  # noqa: S310 (http/https/file only)
        return json.load(response)


def _parse(data):
    keys = {}
    for k in jwt.PyJWKSet.from_dict(data).keys:
        if k.key_id and k.public_key_use in ("sig", None):
            keys[k.key_id] = k
    if not keys:
        raise jwt.PyJWKSetError("the JWKS holds no signing key with a key id")
    return keys


class Verifier:
    """Checks signature, issuer, audience and times of an airgate token; returns its claims.

    ``require`` names the claims that must be present (``nbf`` is checked whenever present).
    Verified claims are kept per token until it expires: airgate reuses a token for most of its
    lifetime, so the signature is checked once, not on every request.
    """

    def __init__(self, jwks, *, issuer, audience, leeway=10, require=("exp", "iat", "sub"),
                 algorithms=("ES256",), clock=time.time, cache_size=2048):
        self.jwks = jwks
        self.issuer = issuer
        self.audience = list(audience) if isinstance(audience, (list, tuple, set)) else audience
        self.leeway = leeway
        self.require = sorted(set(require) | {"exp", "iat", "aud", "iss"})
        self.algorithms = list(algorithms)
        self.clock = clock
        self.cache_size = cache_size
        self._cache = {}

    def kid_of(self, token):
        header = jwt.get_unverified_header(token)  # DecodeError on garbage
        if header.get("alg") not in self.algorithms:
            raise jwt.InvalidAlgorithmError(f"alg {header.get('alg')!r} is not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AirgateTokenError("the token has no key id (kid)")
        return kid

    def verify(self, token):
        """The verified claims; raises a ``jwt.InvalidTokenError`` subclass otherwise."""
        if not token:
            raise AirgateTokenError("no airgate token")
        hit = self._cache.get(token)
        if hit is not None and hit["exp"] + self.leeway > self.clock():
            return dict(hit)
        key = self.jwks.key(self.kid_of(token)).key
        claims = jwt.decode(token, key, algorithms=self.algorithms, audience=self.audience, issuer=self.issuer,
                            leeway=self.leeway, options={"require": self.require})
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[token] = claims
        return dict(claims)


def unverified_issuer(token):
    """The ``iss`` a token claims, before any check (to pick the verifier); None if unreadable."""
    try:
        iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        return None
    return iss if isinstance(iss, str) else None
