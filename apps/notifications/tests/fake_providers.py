"""Fake Twilio and FCM APIs: one real local HTTP server for tests (DESIGN.md 7).

Our backends reach it exactly as they reach the real services: `TwilioSmsBackend` through
the `twilio` library with `settings.TWILIO_API_BASE` pointing here, `FcmPushBackend` with
`settings.FCM_API_BASE` pointing here and a service account key whose `token_uri` is this
server's `/token`. The `fake_providers` fixture (apps/notifications/tests/conftest.py)
sets both settings.

Twilio, Messages API (https://www.twilio.com/docs/messaging/api/message-resource):
- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form encoded, HTTP Basic auth
  with a registered account SID and auth token (`twilio_account`); a wrong token is 401
  code 20003, another account's URL 404 code 20404;
- needs `To`, `From` and one of `Body`, `ContentSid` (with `ContentVariables`, a JSON
  object) or `MediaUrl`; WhatsApp needs `whatsapp:` on both numbers (63007 otherwise);
- answers 201 with the message resource (`sid` "SM..." or "MM..." with media, `status`
  "queued"); errors are Twilio's `{"code", "message", "more_info", "status"}`.

Google OAuth 2.0 token endpoint (https://developers.google.com/identity/protocols/oauth2/service-account#httprest):
- `POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an RS256
  `assertion` signed with a registered service account key (`service_account_info`),
  `aud` https://oauth2.googleapis.com/token, scope firebase.messaging; answers `{"access_token", "expires_in":
  3599, "token_type": "Bearer"}` or 400 `{"error": "invalid_grant", ...}`.

FCM HTTP v1 (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send):
- `POST /v1/projects/{project}/messages:send` with `Authorization: Bearer <access token>`
  issued above for a key of that project (401 UNAUTHENTICATED / 403 PERMISSION_DENIED);
- body `{"message": {"token", "notification": {"title", "body"}, "data": {str: str}}}`
  (400 INVALID_ARGUMENT with a BadRequest field violation otherwise);
- answers `{"name": "projects/{project}/messages/<id>"}`; `unregister_token` makes a token
  404 NOT_FOUND / UNREGISTERED, `invalidate_token` 400 INVALID_ARGUMENT on message.token.

Test controls: `requests` (every request: method, path, lower-case headers, parsed body),
`twilio_messages`, `pushes`, `set_invalid_number`, `fail_next`, `unregister_token`,
`invalidate_token`, `revoke_access_tokens`, `issued`, `requests_to`, `reset`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from email.utils import formatdate
from http.server import ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from twilio.request_validator import RequestValidator

from apps.core.tests.fake_http import TrackedHandler

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# The audience of every JWT-bearer assertion is Google's token endpoint, whatever URL the
# assertion is posted to (https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
ACCESS_TOKEN_SECONDS = 3599

# Twilio error codes and messages (https://www.twilio.com/docs/api/errors).
TWILIO_ERRORS = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21655: "The ContentSid is Invalid.",
    21656: "The ContentVariables Parameter is invalid.",
    63007: "Twilio could not find a Channel with the specified From address",
}


class RecordedRequest(NamedTuple):
    """One request the fake received: header names lower-case; `body` is the parsed form
    (str values, lists for repeated fields) or JSON, `raw` the bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes


class _Answer(Exception):
    """An error answer: HTTP `status` and JSON `body`."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def twilio_error(status: int, code: int, detail: str = "") -> _Answer:
    """Twilio's error answer for `code` (message from TWILIO_ERRORS, `detail` appended)."""
    message = TWILIO_ERRORS.get(code, "Error") + (f": {detail}" if detail else "")
    return _Answer(status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                            "status": status})  # fmt: skip


def fcm_error(status: int, google_status: str, message: str, *, error_code: str = "", field: str = "") -> _Answer:
    """A Google API error answer, with FCM's `FcmError` detail and a BadRequest field
    violation when given."""
    details: list[dict[str, Any]] = []
    if error_code:
        details.append({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code})
    if field:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": field, "description": message}]})  # fmt: skip
    return _Answer(status, {"error": {"code": status, "message": message, "status": google_status, "details": details}})


_private_key: rsa.RSAPrivateKey | None = None


def _test_private_key() -> rsa.RSAPrivateKey:
    """One RSA key per test process (generating one costs ~0.1 s); keys differ by id."""
    global _private_key
    if _private_key is None:
        _private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _private_key


def twilio_webhook_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """The `X-Twilio-Signature` Twilio sends with a webhook to `url` with POST `params`
    (HMAC-SHA1 keyed with the account's auth token, https://www.twilio.com/docs/usage/security)."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


class FakeProviders:
    """The fake Twilio + Google OAuth + FCM server and its state (see the module docstring)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._connections: set[socket.socket] = set()
        self.reset()

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL, e.g. "http://127.0.0.1:41234" (TWILIO_API_BASE and FCM_API_BASE)."""
        return f"http://{self.host}:{self.port}"

    @property
    def token_uri(self) -> str:
        """The OAuth 2.0 token endpoint, for service account keys' `token_uri`."""
        return f"{self.url}/token"

    def start(self) -> FakeProviders:
        server = _Server((self.host, self.port), _Handler)
        server.fake = self
        self._server, self.port = server, server.server_address[1]
        threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-providers", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FakeProviders:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget accounts, keys, tokens, messages, recorded requests and test controls."""
        with self._lock:
            self.requests: list[RecordedRequest] = []
            self.twilio_messages: list[dict[str, Any]] = []
            self.pushes: list[dict[str, Any]] = []  # {"project", "message", "name", "client_email"}
            self._twilio_accounts: dict[str, str] = {}
            self._invalid_numbers: dict[str, int] = {}
            self._service_accounts: dict[str, dict[str, str]] = {}  # key id -> email, project, public PEM
            self._access_tokens: dict[str, tuple[str, float]] = {}  # token -> (key id, expiry time)
            self._unregistered: set[str] = set()
            self._invalid_tokens: set[str] = set()
            self._fail: dict[str, list[int]] = {"twilio": [], "token": [], "fcm": []}

    # --- registration ---------------------------------------------------------------------
    def twilio_account(self, account_sid: str | None = None, auth_token: str | None = None) -> tuple[str, str]:
        """Register a Twilio account (new "AC..." SID and random token unless given);
        returns (account SID, auth token)."""
        sid = account_sid or f"AC{uuid.uuid4().hex}"
        token = auth_token or secrets.token_hex(16)
        with self._lock:
            self._twilio_accounts[sid] = token
        return sid, token

    def service_account_info(self, project_id: str = "fitflow-test") -> dict[str, str]:
        """A new service account key of `project_id`, as Firebase's console downloads it,
        registered here: `token_uri` is this server's `/token`. Each call has its own key
        id (the RSA key is shared by the test process)."""
        key = _test_private_key()
        key_id = uuid.uuid4().hex
        email = f"firebase-adminsdk-{key_id[:5]}@{project_id}.iam.gserviceaccount.com"
        private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public_pem = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        with self._lock:
            self._service_accounts[key_id] = {"email": email, "project": project_id, "public_pem": public_pem}
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": private_pem,
            "client_email": email,
            "client_id": str(uuid.uuid4().int)[:21],
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }

    # --- test controls --------------------------------------------------------------------
    def set_invalid_number(self, number: str, code: int = 21211) -> None:
        """Messages to `number` (E.164, with or without `whatsapp:`) fail with 400 and
        Twilio error `code` (21211 invalid number, 21610 replied STOP...)."""
        with self._lock:
            self._invalid_numbers[number.removeprefix("whatsapp:")] = code

    def fail_next(self, n: int = 1, status: int = 500, *, provider: str = "twilio") -> None:
        """The next `n` requests to `provider` ("twilio", "token" or "fcm") fail without
        acting: `status` 500/503/429 with the provider's error body, or 0 (the connection
        is dropped without an answer)."""
        with self._lock:
            self._fail[provider].extend([status] * n)

    def unregister_token(self, token: str) -> None:
        """FCM answers 404 NOT_FOUND / UNREGISTERED for `token` (the app was uninstalled)."""
        with self._lock:
            self._unregistered.add(token)

    def invalidate_token(self, token: str) -> None:
        """FCM answers 400 INVALID_ARGUMENT on message.token for `token` (malformed)."""
        with self._lock:
            self._invalid_tokens.add(token)

    def revoke_access_tokens(self) -> None:
        """Every OAuth access token issued so far is refused (401) from now on."""
        with self._lock:
            self._access_tokens.clear()

    def issued(self, access_token: str) -> str | None:
        """The client_email of the service account `access_token` was issued to (None if
        this endpoint never issued it or it was revoked)."""
        with self._lock:
            issued = self._access_tokens.get(access_token)
            return self._service_accounts[issued[0]]["email"] if issued else None

    def requests_to(self, path_part: str) -> list[RecordedRequest]:
        """The recorded requests whose path contains `path_part`."""
        with self._lock:
            return [r for r in self.requests if path_part in r.path]

    # --- handling -------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        """Answer one request: (HTTP status or 0 to drop the connection, JSON body)."""
        content_type = headers.get("content-type", "")
        body: Any
        if content_type.startswith("application/json"):
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = None
        else:
            body = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, body, raw))
            provider = "token" if path == "/token" else "fcm" if path.startswith("/v1/") else "twilio"
            if self._fail[provider]:
                status = self._fail[provider].pop(0)
                return status, self._failure_body(provider, status)
            try:
                if method == "POST" and path == "/token":
                    return 200, self._token(body)
                parts = path.strip("/").split("/")
                if parts[:2] == ["2010-04-01", "Accounts"]:
                    if method == "POST" and len(parts) == 4 and parts[3] == "Messages.json":
                        return 201, self._twilio_message(parts[2], headers, body)
                    raise twilio_error(404, 20404, path)
                if (
                    method == "POST"
                    and len(parts) == 4
                    and parts[:2] == ["v1", "projects"]
                    and (parts[3] == "messages:send")
                ):
                    return 200, self._fcm_send(parts[2], headers, body)
                return 404, {"error": {"code": 404, "message": f"No route {method} {path}", "status": "NOT_FOUND"}}
            except _Answer as answer:
                return answer.status, answer.body

    @staticmethod
    def _failure_body(provider: str, status: int) -> Any:
        if provider == "twilio":
            code = 20429 if status == 429 else 20500
            message = "Too Many Requests" if status == 429 else "Internal Server Error"
            return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status}  # fmt: skip
        if provider == "token":
            return {"error": "internal_failure", "error_description": "Backend Error"}
        if status == 429:
            return fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", error_code="QUOTA_EXCEEDED").body
        return fcm_error(status, "UNAVAILABLE", "The service is currently unavailable.", error_code="UNAVAILABLE").body

    def _twilio_message(self, account_sid: str, headers: dict[str, str], form: dict[str, Any]) -> dict[str, Any]:
        auth = headers.get("authorization", "")
        user, _, password = (
            base64.b64decode(auth[6:]).decode().partition(":") if auth.startswith("Basic ") else ("", "", "")
        )
        if not user or self._twilio_accounts.get(user) != password:
            raise twilio_error(401, 20003)
        if user != account_sid:
            raise twilio_error(404, 20404)
        to, from_ = str(form.get("To", "")), str(form.get("From", ""))
        if not to:
            raise twilio_error(400, 21604)
        if not from_:
            raise twilio_error(400, 21603)
        if to.startswith("whatsapp:") != from_.startswith("whatsapp:"):
            raise twilio_error(400, 63007, from_)
        content_sid = str(form.get("ContentSid", ""))
        if content_sid:
            if not content_sid.startswith("HX") or len(content_sid) != 34:
                raise twilio_error(400, 21655)
            try:
                variables = json.loads(form.get("ContentVariables", "{}"))
            except ValueError:
                variables = None
            if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
                raise twilio_error(400, 21656)
        elif not form.get("Body") and not form.get("MediaUrl"):
            raise twilio_error(400, 21602)
        number = to.removeprefix("whatsapp:")
        if number in self._invalid_numbers:
            code = self._invalid_numbers[number]
            raise twilio_error(400, code, number if code == 21211 else "")
        if not number.startswith("+") or not number[1:].isdigit():
            raise twilio_error(400, 21211, number)
        sid = ("MM" if form.get("MediaUrl") else "SM") + uuid.uuid4().hex
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"
        message = {
            "account_sid": account_sid, "api_version": "2010-04-01", "body": form.get("Body", ""),
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": from_, "messaging_service_sid": None,
            "num_media": "1" if form.get("MediaUrl") else "0", "num_segments": "1", "price": None,
            "price_unit": "USD", "sid": sid, "status": "queued", "to": to, "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        }  # fmt: skip
        self.twilio_messages.append({**message, "content_sid": content_sid or None,
                                     "content_variables": form.get("ContentVariables")})  # fmt: skip
        return message

    def _token(self, form: dict[str, Any]) -> dict[str, Any]:
        if form.get("grant_type") != JWT_BEARER:
            raise _Answer(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
        assertion = str(form.get("assertion", ""))
        try:
            key_id = jwt.get_unverified_header(assertion).get("kid", "")
        except jwt.PyJWTError:
            key_id = ""
        account = self._service_accounts.get(key_id)
        if account is None:
            raise _Answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        try:
            claims = jwt.decode(assertion, account["public_pem"], algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE)
        except jwt.PyJWTError as exc:
            raise _Answer(400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}) from exc
        if claims.get("iss") != account["email"] or FCM_SCOPE not in str(claims.get("scope", "")).split():
            raise _Answer(400, {"error": "invalid_scope", "error_description": "Bad issuer or scope."})
        access_token = f"ya29.fake-{secrets.token_urlsafe(24)}"
        self._access_tokens[access_token] = (key_id, time.time() + ACCESS_TOKEN_SECONDS)
        return {"access_token": access_token, "expires_in": ACCESS_TOKEN_SECONDS, "token_type": "Bearer"}

    def _fcm_send(self, project: str, headers: dict[str, str], body: Any) -> dict[str, Any]:
        auth = headers.get("authorization", "")
        issued = self._access_tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if issued is None or issued[1] < time.time():
            raise fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. "
                            "Expected OAuth 2 access token, login cookie or other valid authentication credential.")  # fmt: skip
        account = self._service_accounts[issued[0]]
        if account["project"] != project:
            raise fcm_error(403, "PERMISSION_DENIED",
                            f"Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/{project}'.")  # fmt: skip
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            raise fcm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", field="message")
        token = message.get("token")
        if not isinstance(token, str) or not token:
            raise fcm_error(400, "INVALID_ARGUMENT", "Recipient of the message is not set.", field="message.token",
                            error_code="INVALID_ARGUMENT")  # fmt: skip
        notification = message.get("notification", {})
        if (
            not isinstance(notification, dict)
            or set(notification) - {"title", "body", "image"}
            or not all(isinstance(v, str) for v in notification.values())
        ):
            raise fcm_error(400, "INVALID_ARGUMENT", "Invalid notification.", field="message.notification")
        data = message.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data': values must be strings.",
                            field="message.data")  # fmt: skip
        if token in self._unregistered:
            raise fcm_error(404, "NOT_FOUND", "Requested entity was not found.", error_code="UNREGISTERED")
        if token in self._invalid_tokens:
            raise fcm_error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token",
                            error_code="INVALID_ARGUMENT", field="message.token")  # fmt: skip
        name = f"projects/{project}/messages/0:{int(time.time() * 1000)}%{uuid.uuid4().hex[:16]}"
        self.pushes.append({"project": project, "message": message, "name": name, "client_email": account["email"]})
        return {"name": name}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    fake: FakeProviders


class _Handler(TrackedHandler):
    timeout = 60
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body = self.server.fake.handle(method, urlsplit(self.path).path, headers, raw)
        if status == 0:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


_shared: FakeProviders | None = None


def shared_fake_providers() -> FakeProviders:
    """This test process's FakeProviders, started on first use and kept for the session
    (the `fake_providers` fixture resets it for every test)."""
    global _shared
    if _shared is None:
        _shared = FakeProviders().start()
    return _shared


@contextlib.contextmanager
def running_fake_providers() -> Iterator[FakeProviders]:
    """A FakeProviders of its own, stopped at the end (`with running_fake_providers() as fake`)."""
    with FakeProviders() as fake:
        yield fake
