"""Keys, tokens and a real JWKS server on 127.0.0.1:0 for the Airflow-side tests."""
import base64
import http.server
import json
import os
import socket
import sys
import threading
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

AIRFLOW_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "airflow"))
if AIRFLOW_DIR not in sys.path:
    sys.path.insert(0, AIRFLOW_DIR)


class SigningKey:
    def __init__(self, kid):
        self.kid = kid
        self.private = ec.generate_private_key(ec.SECP256R1())

    def jwk(self):
        """The public JWK, coordinates padded to 32 bytes (PyJWT 2.6's to_jwk drops leading zero bytes)."""
        numbers = self.private.public_key().public_numbers()

        def b64(n):
            return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

        return {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y), "kid": self.kid, "alg": "ES256", "use": "sig"}

    def sign(self, claims, headers=None):
        return jwt.encode(claims, self.private, algorithm="ES256", headers={"kid": self.kid, **(headers or {})})


def jwks(*keys):
    return {"keys": [k.jwk() for k in keys]}


def claims(sub="alice", aud="*/", role="Admin", ttl=60, now=None, **extra):
    now = int(time.time()) if now is None else now
    c = {"iss": "airgate", "aud": aud, "sub": sub, "name": sub, "email": f"{sub}@example.com",
         "groups": ["team-a"], "roles": [role], "iat": now, "exp": now + ttl}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


class JwksServer:
    """A real HTTP server answering the current JWKS; counts fetches; can be told to fail."""

    def __init__(self, document):
        self.document = document
        self.hits = 0
        self.status = 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.hits += 1
                body = json.dumps(outer.document).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/_airgate/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def refused_url():
    """A URL on a port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/_airgate/jwks.json"


class SilentListener:
    """A listener that accepts but never answers: a hung JWKS endpoint."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/_airgate/jwks.json"

    def close(self):
        self.sock.close()


class ManualClock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t
