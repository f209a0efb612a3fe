"""Writes for global identities: the signed one-time login that carries a new
owner from the public signup to their gym's host (sessions are per host)."""

from __future__ import annotations

import secrets

from django.core import signing
from django.core.cache import cache

from apps.tenants.selectors import current_schema_name

from .errors import HandoffInvalid
from .models import User

HANDOFF_SALT = "fitflow.accounts.handoff"
HANDOFF_MAX_AGE_SECONDS = 120


def handoff_token_create(*, user: User, schema_name: str) -> str:
    """A signed token that logs `user` in once on the gym `schema_name`.

    Valid for HANDOFF_MAX_AGE_SECONDS (120 s) and only on that gym's host.
    """
    return signing.dumps({"u": user.pk, "g": schema_name, "n": secrets.token_urlsafe(12)}, salt=HANDOFF_SALT)


def handoff_token_consume(*, token: str) -> User:
    """Check a handoff token on the current gym and use it up.

    Returns the `User`. Raises `HandoffInvalid` when the token is forged, older
    than 120 s, already used, or for another gym.
    """
    try:
        data = signing.loads(token, salt=HANDOFF_SALT, max_age=HANDOFF_MAX_AGE_SECONDS)
    except signing.BadSignature as exc:  # includes SignatureExpired
        raise HandoffInvalid("This login link is not valid or has expired.") from exc
    if data.get("g") != current_schema_name():
        raise HandoffInvalid("This login link is for another gym.")
    # The nonce is burned in the gym's own cache namespace (keys carry the schema): one use only.
    if not cache.add(f"handoff:{data['n']}", 1, timeout=HANDOFF_MAX_AGE_SECONDS * 2):
        raise HandoffInvalid("This login link was already used.")
    user = User.objects.filter(pk=data.get("u"), is_active=True).first()
    if user is None:
        raise HandoffInvalid("This account is no longer active.")
    return user


def account_password_setup_url(*, user: User, base_url: str) -> str:
    """The link where `user` chooses a password on a gym's site (`base_url`, e.g.
    `http://harbour-yoga.localhost:8000`): allauth's password-reset-from-key page with
    a token made now (valid `PASSWORD_RESET_TIMEOUT`, 3 days; used up once the
    password is set), or "" when the user already has a password (they log in)."""
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str
    from django.conf import settings
    from django.urls import reverse

    if user.has_usable_password():
        return ""
    path = reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(user), "key": default_token_generator.make_token(user)},
        urlconf=settings.ROOT_URLCONF,
    )
    return base_url + path
