"""A registry behind bearer-token auth, as Docker Hub's is, on loopback (no fixtures here).

:class:`TokenServer` is a small but real token service (``http.server``, one thread)
following distribution's token auth spec: ``GET /token?service=…&scope=…`` with basic
credentials answers a JWT (ES256) whose ``access`` claim is the requested scopes granted
to the authenticated user; no credentials get a token granting nothing (as an anonymous
client of a private repository); wrong credentials get 401 with a JSON ``details`` answer.
:class:`TokenRegistry` is Debian's ``docker-registry`` (distribution 2.8) with ``auth:
token:`` trusting the server's certificate (``rootcertbundle``); the JWT header names the
key by its libtrust key ID (``kid``), which distribution looks up among the bundle's keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import http.client
import json
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.publishing import REGISTRY_PASSWORD, DockerRegistry, LoopbackHTTP

SERVICE = "registry.example.com"
ISSUER = "token-issuer.example.com"
#: What the token service answers for wrong credentials (the harness must show it).
DENIED = {"details": "incorrect username or password"}
#: Actions the authenticated user is granted on every repository.
GRANTED = frozenset({"pull", "push"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(key: ec.EllipticCurvePublicKey) -> str:
    """The key ID distribution matches a JWT's ``kid`` against: SHA-256 of the DER
    SubjectPublicKeyInfo, first 240 bits, base32, in 12 groups of 4 joined by ``:``."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(b32[i : i + 4] for i in range(0, len(b32), 4))


@dataclass(frozen=True)
class TokenRequest:
    """One request the token service answered."""

    account: str  # "" anonymous, else the basic-auth user name (even a wrong one)
    scopes: tuple[str, ...]
    status: int


class TokenServer(LoopbackHTTP):
    """A token service on 127.0.0.1 that signs with a fresh P-256 key; its self-signed
    certificate (``cert``) is the registry's ``rootcertbundle``."""

    def __init__(self, base: Path, username: str, password: str, *, ttl: int = 300) -> None:
        base.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.ttl = ttl
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = libtrust_key_id(self.key.public_key())
        now = dt.datetime.now(dt.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert = base / "token-signer.pem"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[TokenRequest] = []
        self.issued: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                status, body = server.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 401:
                    self.send_header("WWW-Authenticate", f'Basic realm="{ISSUER}"')
                self.end_headers()
                self.wfile.write(data)

        LoopbackHTTP.__init__(self, Handler)
        self.realm = f"{self.url}/token"

    # -- the service -------------------------------------------------------------------
    def answer(self, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        url = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(url.query)
        scopes = tuple(s for v in query.get("scope", []) for s in v.split(" ") if s)
        account, ok = self._account(authorization)
        if url.path != "/token":
            status, body = 404, {"details": "not found"}
        elif query.get("service") != [SERVICE]:
            status, body = 400, {"details": f"unknown service {query.get('service')}"}
        elif not ok:
            status, body = 401, dict(DENIED)
        else:
            status, body = 200, self._token(account, scopes)
        with self._lock:
            self.requests.append(TokenRequest(account, scopes, status))
        return status, body

    def _account(self, authorization: str) -> tuple[str, bool]:
        """(user name, credentials valid); anonymous is ("", True)."""
        if not authorization:
            return "", True
        kind, _, value = authorization.partition(" ")
        if kind.lower() != "basic":
            return "", False
        user, _, password = base64.b64decode(value).decode().partition(":")
        return user, (user, password) == (self.username, self.password)

    def _token(self, account: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = sorted(set(actions.split(",")) & GRANTED) if account else []
            if kind == "repository" and granted:
                access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": account, "aud": SERVICE, "exp": now + self.ttl,
                  "nbf": now - 1, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}  # fmt: skip
        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid}
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)  # JWS wants r || s, 32 bytes each
        token = f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
        with self._lock:
            self.issued.append(token)
        issued_at = dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat()
        return {"token": token, "access_token": token, "expires_in": self.ttl,
                "issued_at": issued_at}  # fmt: skip

    def token_for(self, scope: str) -> str:
        """A token for ``scope`` fetched over HTTP as a client does (the tests' own reads)."""
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        query = urllib.parse.urlencode({"service": SERVICE, "scope": scope})
        req = urllib.request.Request(f"{self.realm}?{query}",
                                     headers={"Authorization": f"Basic {basic}"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as resp:
            return str(json.loads(resp.read())["token"])


class TokenRegistry(DockerRegistry):
    """Debian's ``docker-registry`` with ``auth: token:`` pointing at ``tokens``."""

    def __init__(self, base: Path, tokens: TokenServer) -> None:
        super().__init__(base, username=tokens.username, password=tokens.password)
        self.tokens = tokens
        (base / "config.yml").write_text(
            "version: 0.1\n"
            "log:\n  level: info\n"
            f"storage:\n  filesystem:\n    rootdirectory: {base / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n  secret: test-only\n"
            f"auth:\n  token:\n    realm: {tokens.realm}\n    service: {SERVICE}\n"
            f"    issuer: {ISSUER}\n    rootcertbundle: {tokens.cert}\n"
        )

    def authorization(self, repo: str) -> str:
        return f"Bearer {self.tokens.token_for(f'repository:{repo}:pull')}"

    def upload(self, repo: str, tag: str, config: bytes) -> str:
        """An image (``config`` and one empty layer) put at ``repo:tag`` through the registry
        HTTP API with a token of its own, without Docker; the config's digest."""
        auth = f"Bearer {self.tokens.token_for(f'repository:{repo}:pull,push')}"
        layer = gzip.compress(b"\0" * 1024, mtime=0)  # an empty tar, gzipped
        digests = []
        for blob in (layer, config):
            digest = f"sha256:{hashlib.sha256(blob).hexdigest()}"
            start = self._send("POST", f"/v2/{repo}/blobs/uploads/", b"", auth)
            location = urllib.parse.urljoin(f"http://{self.host}/", start.headers["Location"])
            sep = "&" if "?" in location else "?"
            self._send("PUT", f"{location}{sep}digest={digest}", blob, auth)
            digests.append((digest, len(blob)))
        media_type = "application/vnd.docker.distribution.manifest.v2+json"
        manifest = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": digests[1][1], "digest": digests[1][0]},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": digests[0][1], "digest": digests[0][0]}],
        }  # fmt: skip
        self._send("PUT", f"/v2/{repo}/manifests/{tag}", json.dumps(manifest).encode(), auth,
                   media_type)  # fmt: skip
        return digests[1][0]

    def _send(
        self, method: str, path: str, data: bytes, auth: str, ctype: str = ""
    ) -> http.client.HTTPResponse:
        url = path if "://" in path else f"http://{self.host}{path}"
        headers = {"Authorization": auth, "Content-Type": ctype or "application/octet-stream"}
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status in (201, 202), (method, url, resp.status)
            response: http.client.HTTPResponse = resp
            return response

    def statuses(self, method: str, path: str) -> list[int]:
        """The statuses the registry logged for ``method path`` (``/v2/…``), in order."""
        log = self.base / "registry.log"
        text = log.read_text(errors="replace") if log.is_file() else ""
        return [int(s) for s in re.findall(rf'"{method} {re.escape(path)} HTTP/[0-9.]+" (\d+)',
                                           text)]  # fmt: skip


def token_registry(base: Path, password: str = REGISTRY_PASSWORD) -> TokenRegistry:
    """A token server and its registry, neither started."""
    return TokenRegistry(base / "registry", TokenServer(base / "tokens", "pusher", password))
