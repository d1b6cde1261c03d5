"""A registry with distribution's token auth (``auth: token``) on loopback: Debian's real
``docker-registry`` and a tiny token service that checks a Basic login and issues ES256 JWTs.

The token service makes a P-256 key and a self-signed certificate for it (``cryptography``);
the certificate is the registry's ``rootcertbundle``, and every token carries it in its
``x5c`` header, which is how distribution 2.8 finds the key to verify a token with
(docs/spec/auth/jwt.md). ``tokens.seen`` records every request the service got, so a test
can tell where the password went.

    with TokenService("ada", "pa55") as tokens, TokenRegistry(root, tokens) as registry:
        registry.host  # 127.0.0.1:PORT, answering 401 Bearer realm="http://127.0.0.1:T/token"
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.servers.recording import Answer, Recording, Seen
from tests.servers.registry import MANIFEST_TYPES, Registry, RegistryError

SERVICE = "autopack-test-registry"
ISSUER = "autopack-test-token-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService(Recording):
    """``GET /token?service=…&scope=…`` with Basic ``user``/``password`` (or the OAuth2
    ``POST /token`` form with grant_type=password) → ``{"token": JWT, "access_token": JWT}``
    granting every action asked for; anything else → 401."""

    def __init__(self, user: str, password: str, *, service: str = SERVICE, issuer: str = ISSUER) -> None:
        super().__init__(self._answer, "token-service")
        self.user, self.password, self.service, self.issuer = user, password, service, issuer
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "autopack test token issuer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.issued = 0

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def write_bundle(self, path: Path) -> Path:
        path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        return path

    def token(self, scopes: list[str]) -> str:
        """A JWT for ``scopes`` (``repository:team/app:pull,push``, …), signed ES256."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind and name:
                access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": self.issuer, "sub": self.user, "aud": self.service, "exp": now + 600, "nbf": now - 30, "iat": now - 30, "jti": secrets.token_hex(8), "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        self.issued += 1
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _answer(self, seen: Seen) -> Answer:
        query = parse_qs(urlsplit(seen.path).query)
        if seen.method == "POST":  # the OAuth2 form a docker client may use instead
            form = parse_qs(seen.body.decode(errors="replace"))
            user, password = form.get("username", [""])[0], form.get("password", [""])[0]
            query = {**query, **form}
        else:
            user, password = self._basic(seen.authorization)
        if urlsplit(seen.path).path != "/token" or (user, password) != (self.user, self.password):
            return 401, {"WWW-Authenticate": 'Basic realm="token"', "Content-Type": "application/json"}, b'{"details":"wrong login"}'
        if query.get("service", [self.service])[0] != self.service:
            return 400, {}, b'{"details":"unknown service"}'
        scopes = [part for value in query.get("scope", []) for part in value.split(" ") if part]
        token = self.token(scopes)
        body = {"token": token, "access_token": token, "expires_in": 600, "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    @staticmethod
    def _basic(value: str | None) -> tuple[str, str]:
        if not value or not value.lower().startswith("basic "):
            return "", ""
        try:
            user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", ""
        return user, password


class TokenRegistry(Registry):
    """A ``Registry`` whose auth is ``token``, with ``tokens`` as its realm. Its helpers
    (``manifest_digest``, ``tags``) get their own token from the service."""

    def __init__(self, root: Path, tokens: TokenService, *, name: str = "registry-token", **kwargs: object) -> None:
        # user/password make Registry wait for a 401 from GET /v2/; no htpasswd is written
        super().__init__(root, user=tokens.user, password=tokens.password, name=name, **kwargs)  # type: ignore[arg-type]
        self.tokens = tokens

    def _write_htpasswd(self) -> None:
        pass

    def _config(self) -> dict[str, object]:
        config = super()._config()
        bundle = self.tokens.write_bundle(self.root / "token-issuer.pem")
        config["auth"] = {"token": {"realm": self.tokens.realm, "service": self.tokens.service, "issuer": self.tokens.issuer, "rootcertbundle": str(bundle)}}
        return config

    def _bearer(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.token([scope])}"}

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        response = requests.head(f"{self.url}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES, **self._bearer(f"repository:{repository}:pull")}, timeout=10)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryError(f"HEAD {repository}:{tag} on {self.name}: HTTP {response.status_code}")
        return response.headers["Docker-Content-Digest"]

    def tags(self, repository: str) -> list[str]:
        response = requests.get(f"{self.url}/v2/{repository}/tags/list", headers=self._bearer(f"repository:{repository}:pull"), timeout=10)
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise RegistryError(f"tags of {repository} on {self.name}: HTTP {response.status_code}")
        return sorted(response.json().get("tags") or [])
