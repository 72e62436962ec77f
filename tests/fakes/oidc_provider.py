"""A real, minimal OpenID Connect provider over HTTP, shaped like a Keycloak realm.

It serves what allauth's openid_connect provider uses: discovery, the authorization endpoint (answers at
once with a redirect carrying `code` and `state`, as if the person had signed in), the token endpoint
(client credentials, one-time code, redirect_uri and PKCE S256 are checked), userinfo (Bearer access token)
and the JWKS. The id_token is RS256-signed with PyJWT. With `bad_key=True` it signs with a key that is not
the one it publishes, as a forged token would be.

    with FakeOpenIDProvider(client_id="cmp", client_secret="s3cret") as provider:
        provider.user = {"sub": "42", "email": "ada@example.com", "name": "Ada Lovelace"}
        ... provider.issuer is the server_url to configure ...
"""

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

REALM_PATH = "/realms/cmp"
OIDC_PATH = f"{REALM_PATH}/protocol/openid-connect"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Authorization:
    """What the authorization endpoint was asked for, kept until the code is redeemed."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    user: dict
    is_redeemed: bool = False


@dataclass
class FakeOpenIDProvider:
    client_id: str = "cmp-web"
    client_secret: str = "cmp-web-secret"
    user: dict = field(
        default_factory=lambda: {
            "sub": "5f0c6a0e-1111-4a4a-9c9c-000000000001",
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "preferred_username": "ada",
        }
    )
    bad_key: bool = False
    kid: str = "cmp-test-key-1"
    token_lifetime: int = 300

    def __post_init__(self) -> None:
        self.key = _new_key()
        self.forged_key = _new_key()
        self.authorizations: dict[str, Authorization] = {}
        self.access_tokens: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> "FakeOpenIDProvider":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-oidc", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "FakeOpenIDProvider":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def issuer(self) -> str:
        return self.base_url + REALM_PATH

    # --- protocol documents ------------------------------------------------------------------------

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.base_url}{OIDC_PATH}/auth",
            "token_endpoint": f"{self.base_url}{OIDC_PATH}/token",
            "userinfo_endpoint": f"{self.base_url}{OIDC_PATH}/userinfo",
            "jwks_uri": f"{self.base_url}{OIDC_PATH}/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
        }

    def jwks(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def id_token(self, authorization: Authorization) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": authorization.client_id,
            "azp": authorization.client_id,
            "sub": authorization.user["sub"],
            "email": authorization.user.get("email"),
            "email_verified": authorization.user.get("email_verified", False),
            "name": authorization.user.get("name"),
            "iat": now,
            "exp": now + self.token_lifetime,
            "jti": str(uuid.uuid4()),
        }
        if authorization.nonce:
            claims["nonce"] = authorization.nonce
        signing_key = self.forged_key if self.bad_key else self.key
        return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": self.kid})

    # --- endpoint logic (returns status, headers, body) --------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict, dict | None]:
        if query.get("client_id") != self.client_id:
            return 400, {}, {"error": "unauthorized_client"}
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            return 400, {}, {"error": "invalid_request", "error_description": "redirect_uri"}
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return 400, {}, {"error": "invalid_request"}
        method = query.get("code_challenge_method")
        if query.get("code_challenge") and method != "S256":
            return 400, {}, {"error": "invalid_request", "error_description": "PKCE method must be S256"}
        code = secrets.token_urlsafe(24)
        self.authorizations[code] = Authorization(
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            scope=query["scope"],
            state=query.get("state", ""),
            nonce=query.get("nonce"),
            code_challenge=query.get("code_challenge"),
            code_challenge_method=method,
            user=dict(self.user),
        )
        separator = "&" if "?" in redirect_uri else "?"
        params = {"code": code, "state": query.get("state", "")}
        return 302, {"Location": f"{redirect_uri}{separator}{urlencode(params)}"}, None

    def token(self, form: dict[str, str], authorization_header: str) -> tuple[int, dict, dict]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization_header.startswith("Basic "):
            decoded = base64.b64decode(authorization_header[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {}, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {}, {"error": "unsupported_grant_type"}
        authorization = self.authorizations.get(form.get("code", ""))
        if authorization is None or authorization.is_redeemed:
            return 400, {}, {"error": "invalid_grant", "error_description": "unknown or used code"}
        if form.get("redirect_uri") != authorization.redirect_uri:
            return 400, {}, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        if authorization.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier or pkce_challenge(verifier) != authorization.code_challenge:
                return 400, {}, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        authorization.is_redeemed = True
        access_token = secrets.token_urlsafe(32)
        self.access_tokens[access_token] = authorization.user
        return (
            200,
            {},
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "scope": authorization.scope,
                "id_token": self.id_token(authorization),
            },
        )

    def userinfo(self, authorization_header: str) -> tuple[int, dict, dict]:
        scheme, _, access_token = authorization_header.partition(" ")
        user = self.access_tokens.get(access_token) if scheme == "Bearer" else None
        if user is None:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, {"error": "invalid_token"}
        return 200, {}, user


def _handler_for(provider: FakeOpenIDProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args) -> None:  # keep test output quiet
            pass

        def _reply(self, status: int, headers: dict, body: dict | None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            provider.requests.append(("GET", url.path))
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            if url.path == f"{REALM_PATH}/.well-known/openid-configuration":
                self._reply(200, {}, provider.discovery())
            elif url.path == f"{OIDC_PATH}/auth":
                self._reply(*provider.authorize(query))
            elif url.path == f"{OIDC_PATH}/userinfo":
                self._reply(*provider.userinfo(self.headers.get("Authorization", "")))
            elif url.path == f"{OIDC_PATH}/certs":
                self._reply(200, {}, provider.jwks())
            else:
                self._reply(404, {}, {"error": "not_found"})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            provider.requests.append(("POST", url.path))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            form = {key: values[0] for key, values in parse_qs(body).items()}
            if url.path == f"{OIDC_PATH}/token":
                self._reply(*provider.token(form, self.headers.get("Authorization", "")))
            else:
                self._reply(404, {}, {"error": "not_found"})

    return Handler
