"""Push notifications through Firebase Cloud Messaging, HTTP v1 API.

One `POST {FCM_API_BASE}/v1/projects/{project_id}/messages:send` per device token, with
`{"message": {"token", "notification": {"title", "body"}, "data": {...}}}`
(https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send) and
`Authorization: Bearer <OAuth 2.0 access token>`. The token comes from the gym's service
account key (`MessagingSettings.fcm_service_account`, JSON) through google-auth: a JWT
assertion signed with the key, exchanged at the key's `token_uri` for scope
`https://www.googleapis.com/auth/firebase.messaging`
(https://firebase.google.com/docs/cloud-messaging/auth-server). Credentials are cached in
the process per (project, key hash), so a token (valid for an hour) is reused until
google-auth considers it expired. `settings.FCM_API_BASE` (default
https://fcm.googleapis.com) points the sends at the tests' fake.

Errors (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode):
- 404 UNREGISTERED, and 400 INVALID_ARGUMENT about the token: that token is reported in
  `SendResult.invalid_tokens` (the caller deletes its `Device`); when every token is
  invalid, `UnregisteredTokensError` (a `PermanentSendError`) carries them;
- 429 QUOTA_EXCEEDED, 5xx UNAVAILABLE/INTERNAL, network errors and timeouts are
  transient: `TransientSendError` when no device got the message (a retry then goes to
  every token again);
- 401 (after one retry with a fresh access token) and 403 (SENDER_ID_MISMATCH, FCM API
  disabled...), any other 400, a bad key or a refused JWT grant: `PermanentSendError`.
A send that reached at least one device succeeds, so a retry never notifies twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings
from google.auth import exceptions as google_exceptions
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import service_account

from .base import PermanentSendError, PushMessage, SendResult, TransientSendError

if TYPE_CHECKING:
    from ..models import MessagingSettings

logger = logging.getLogger(__name__)

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# Seconds to wait for FCM or the token endpoint (connect, read).
FCM_TIMEOUT = (5.0, 10.0)
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


class UnregisteredTokensError(PermanentSendError):
    """Every token of the push was rejected as no longer registered or invalid;
    `invalid_tokens` lists them (the caller should delete those devices)."""

    def __init__(self, message: str, invalid_tokens: list[str]) -> None:
        super().__init__(message)
        self.invalid_tokens = invalid_tokens


class _TimeoutRequest(GoogleAuthRequest):
    """google-auth's requests transport with our timeout instead of its 120 s default."""

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: Any = None, **kwargs: Any) -> Any:  # fmt: skip
        return super().__call__(url, method, body, headers, timeout=timeout or FCM_TIMEOUT, **kwargs)


_credentials: dict[tuple[str, str], service_account.Credentials] = {}
_credentials_lock = threading.Lock()
# One token request at a time per key (not one per thread); other gyms' keys don't wait.
_refresh_locks: dict[tuple[str, str], threading.Lock] = {}


def _credentials_for(config: MessagingSettings) -> tuple[tuple[str, str], service_account.Credentials]:
    """The cached credentials of the gym's key (created on first use)."""
    key = (config.fcm_project_id, hashlib.sha256(config.fcm_service_account.encode()).hexdigest())
    with _credentials_lock:
        credentials = _credentials.get(key)
        if credentials is None:
            try:
                info = json.loads(config.fcm_service_account)
                credentials = service_account.Credentials.from_service_account_info(info, scopes=[FCM_SCOPE])
            except (ValueError, TypeError, KeyError) as exc:
                raise PermanentSendError(f"FCM service account key is not valid: {exc}") from exc
            _credentials[key] = credentials
            _refresh_locks[key] = threading.Lock()
    return key, credentials


def _forget_credentials(key: tuple[str, str]) -> None:
    with _credentials_lock:
        _credentials.pop(key, None)
        _refresh_locks.pop(key, None)


class FcmPushBackend:
    """Push through FCM HTTP v1 (implements `base.PushBackend`). One instance is shared
    by a process (`base.push_backend()`); its HTTP connections are pooled."""

    def __init__(self) -> None:
        self._session = requests.Session()
        self._auth_request = _TimeoutRequest(session=requests.Session())

    def configured(self, config: MessagingSettings) -> bool:
        """True when the gym has an FCM project id and a service account key."""
        return bool(config.fcm_project_id and config.fcm_service_account)

    def send_push(self, message: PushMessage, *, config: MessagingSettings) -> SendResult:
        """Send `message` to each of its tokens. Returns FCM's message names
        ("projects/p/messages/123", joined by ",") and the tokens FCM rejected
        (`invalid_tokens`). Raises `TransientSendError` when no device got it and trying
        again may work, `UnregisteredTokensError` when every token is invalid, and
        `PermanentSendError` for bad credentials, key or payload (see the module docstring)."""
        if not self.configured(config):
            raise PermanentSendError("FCM is not configured for this gym (project id and service account key).")
        if not message.tokens:
            raise PermanentSendError("No device tokens to send the push to.")
        url = f"{str(settings.FCM_API_BASE).rstrip('/')}/v1/projects/{config.fcm_project_id}/messages:send"
        cache_key, credentials = _credentials_for(config)
        names: list[str] = []
        invalid: list[str] = []
        transient: list[str] = []
        for token in message.tokens:
            payload: dict[str, Any] = {
                "token": token,
                "notification": {"title": message.title, "body": message.body},
            }
            if message.data:
                payload["data"] = dict(message.data)
            outcome, detail = self._send_one(url, {"message": payload}, cache_key, credentials)
            {"sent": names, "invalid": invalid, "transient": transient}[outcome].append(detail)
        if transient:
            logger.warning("FCM push: %d of %d device(s) failed for now: %s", len(transient), len(message.tokens),
                           transient[0])  # fmt: skip
        if names:
            return SendResult(provider_id=",".join(names), invalid_tokens=invalid)
        if transient:
            raise TransientSendError(transient[0])
        raise UnregisteredTokensError(f"All {len(invalid)} device token(s) are no longer registered with FCM.", invalid)

    def _send_one(
        self, url: str, body: dict[str, Any], cache_key: tuple[str, str], credentials: service_account.Credentials
    ) -> tuple[str, str]:
        """POST one message. Returns ("sent", message name), ("invalid", token) or
        ("transient", error); raises PermanentSendError."""
        token = body["message"]["token"]
        for attempt in range(2):
            access_token = self._access_token(cache_key, credentials, force=attempt > 0)
            try:
                response = self._session.post(
                    url, json=body, headers={"Authorization": f"Bearer {access_token}"}, timeout=FCM_TIMEOUT
                )
            except requests.RequestException as exc:
                return "transient", f"FCM unreachable: {exc.__class__.__name__}: {exc}"
            if response.status_code != 401:
                break
            # The access token was refused (revoked or expired early): one more try with a new one.
        status = response.status_code
        if status == 200:
            try:
                return "sent", str(response.json()["name"])
            except (ValueError, KeyError, TypeError):
                return "sent", ""
        error = _error_of(response)
        text = f"FCM error {status} {error['status']}{' ' + error['code'] if error['code'] else ''}: {error['message']}"
        if status == 404 or error["code"] == "UNREGISTERED":
            return "invalid", token
        if status == 400 and error["about_token"]:
            return "invalid", token
        if status == 429 or status >= 500:
            return "transient", text
        if status == 401:
            _forget_credentials(cache_key)
        raise PermanentSendError(text)

    def _access_token(
        self, cache_key: tuple[str, str], credentials: service_account.Credentials, *, force: bool = False
    ) -> str:
        """A valid OAuth 2.0 access token of `credentials`: the cached one until google-auth
        considers it expired (a few minutes before `expires_in`), else a new one from the
        key's token endpoint. Raises TransientSendError (network, retryable grant error) or
        PermanentSendError (the grant was refused)."""
        with _refresh_locks.get(cache_key) or threading.Lock():
            if force or not credentials.valid:
                try:
                    credentials.refresh(self._auth_request)
                except google_exceptions.TransportError as exc:
                    raise TransientSendError(f"FCM token endpoint unreachable: {exc}") from exc
                except google_exceptions.RefreshError as exc:
                    if exc.retryable:
                        raise TransientSendError(f"FCM access token refused for now: {exc}") from exc
                    raise PermanentSendError(f"FCM access token refused: {exc}") from exc
            return str(credentials.token)


def _error_of(response: requests.Response) -> dict[str, Any]:
    """FCM's error answer as {"status", "code" (FcmError errorCode), "message",
    "about_token" (a BadRequest field violation on message.token, or a message about
    the registration token)}."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {}
    code, about_token = "", False
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("@type") == _FCM_ERROR_TYPE:
            code = str(detail.get("errorCode") or "")
        if detail.get("@type") == _BAD_REQUEST_TYPE:
            fields = [v.get("field", "") for v in detail.get("fieldViolations") or [] if isinstance(v, dict)]
            about_token = about_token or "message.token" in fields
    message = str(error.get("message") or response.reason or "")
    about_token = about_token or "registration token" in message.lower()
    return {"status": str(error.get("status") or ""), "code": code, "message": message, "about_token": about_token}
