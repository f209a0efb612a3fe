"""One-click unsubscribe from reminder and marketing emails (RFC 2369, RFC 8058).

Every non-transactional email carries
`List-Unsubscribe: <https://<gym host>/notifications/unsubscribe/<token>/>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (`apps.notifications.emails`); the
same link is in the email's footer.

- The token (`unsubscribe_token`) is a `django.core.signing` token, salt
  `UNSUBSCRIBE_SALT`, payload `{"s": <gym schema>, "m": <member id>, "c": <category>}`.
  It has no expiry: RFC 8058 section 3.1 expects the URL to keep working for as long as
  the message may be read, and it can only switch a category off. It names no personal
  data. A token signed for another gym's schema is refused here (404), as is a forged
  or altered one.
- `GET /notifications/unsubscribe/<token>/` shows a confirmation page with a button; it
  changes nothing (mail scanners and link previewers follow GET links).
- `POST` to the same URL (the mail client's one-click POST with the body
  `List-Unsubscribe=One-Click`, or the page's button) switches the category's channel
  to `none` (`preference_unsubscribe`) and shows "You're unsubscribed". It is CSRF
  exempt: RFC 8058 section 3.2 has the client POST without cookies or credentials. No
  login is needed; the signature is the authority.
- A transactional category (receipts, bookings, failed payments) cannot be switched
  off: 400 page.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.members.models import Member
from apps.tenants.models import Gym
from apps.tenants.selectors import current_schema_name, gym_base_url

from .models import Category, Channel, NotificationPreference

UNSUBSCRIBE_SALT = "fitflow.notifications.unsubscribe"
UNSUBSCRIBABLE = (Category.REMINDERS, Category.MARKETING)
"""Categories a member may switch off from an email (transactional ones never)."""


class UnsubscribeRefused(Exception):
    """An unsubscribe that must not happen: `code` is `transactional` (the category
    cannot be switched off) or `unknown_category`."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


# --- tokens and links --------------------------------------------------------------------------


def unsubscribe_token(*, member: Member, category: str) -> str:
    """The signed unsubscribe token of `member` for `category` (a `Category` value) at
    the CURRENT gym (the connection's schema): `{"s": schema, "m": member id, "c":
    category}` under salt `fitflow.notifications.unsubscribe`. About 100 URL-safe
    characters (base64 and `:`)."""
    payload = {"s": current_schema_name(), "m": int(member.pk), "c": str(category)}
    return signing.dumps(payload, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_token_read(token: str) -> tuple[int, str]:
    """`(member id, category)` from a token made at the CURRENT gym. Raises
    `signing.BadSignature` when the token is forged, altered or malformed, or was made
    at another gym (its schema is not the connection's; all gyms share SECRET_KEY, so
    the signature alone cannot tell)."""
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except (ValueError, UnicodeError) as exc:  # undecodable base64 / zlib / JSON
        raise signing.BadSignature("Malformed unsubscribe token.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("m"), int) or not isinstance(data.get("c"), str):
        raise signing.BadSignature("Malformed unsubscribe token.")
    if data.get("s") != current_schema_name():
        raise signing.BadSignature("This unsubscribe link belongs to another gym.")
    return int(data["m"]), str(data["c"])


def unsubscribe_url(*, member: Member, gym: Gym, category: str) -> str:
    """The absolute one-click unsubscribe URL of `member` for `category`, e.g.
    `https://harbour.fitflow.app/notifications/unsubscribe/<token>/` (scheme from
    `FITFLOW_URL_SCHEME`, host the gym's primary domain). Must run in `gym`'s schema.
    Works outside a request (the send task): reversed in the tenant URLconf."""
    token = unsubscribe_token(member=member, category=category)
    return gym_base_url(gym=gym) + reverse("notifications:unsubscribe", args=[token], urlconf=settings.ROOT_URLCONF)


# --- the service -------------------------------------------------------------------------------


@transaction.atomic
def preference_unsubscribe(*, member: Member, category: str) -> NotificationPreference:
    """Switch `member`'s `category` (reminders or marketing) off: its channel becomes
    `none` on the member's `NotificationPreference` (created with the defaults first if
    the member has none). Idempotent. Returns the preference.

    Raises `UnsubscribeRefused("transactional")` for the transactional category (it
    cannot be switched off: receipts and bookings must reach the member) and
    `UnsubscribeRefused("unknown_category")` for anything else not a `Category`."""
    if category == Category.TRANSACTIONAL:
        raise UnsubscribeRefused(
            "transactional", "Messages about your account, bookings and payments cannot be switched off."
        )
    if category not in UNSUBSCRIBABLE:
        raise UnsubscribeRefused("unknown_category", "This link names no kind of message.")
    preference, _created = NotificationPreference.objects.get_or_create(member=member)
    if preference.channel_for(category) != Channel.NONE:
        setattr(preference, category, Channel.NONE)
        preference.save(update_fields=[category, "updated_at"])
    return preference


# --- the pages ---------------------------------------------------------------------------------

TEMPLATE = "notifications/unsubscribe.html"


def _page(request: HttpRequest, *, status: int = 200, **context: Any) -> HttpResponse:
    return render(request, TEMPLATE, context, status=status)


@csrf_exempt  # RFC 8058 3.2: the one-click POST carries no cookies, so no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """`/notifications/unsubscribe/<token>/` (no login). GET: a page asking to confirm,
    with a button that POSTs here. POST (that button, or a mail client's RFC 8058
    one-click POST): switch the token's category off and say so. A forged token, one
    from another gym, or an unknown member: 404 page. A transactional category: 400
    page."""
    try:
        member_id, category = unsubscribe_token_read(token)
    except signing.BadSignature:
        return _page(request, status=404, state="invalid")
    member = Member.objects.exclude(status=Member.Status.ERASED).filter(pk=member_id).first()
    if member is None:
        return _page(request, status=404, state="invalid")
    if category not in UNSUBSCRIBABLE:
        return _page(request, status=400, state="refused")
    label = Category(category).label
    if request.method == "POST":
        preference_unsubscribe(member=member, category=category)
        return _page(request, state="done", category=label)
    return _page(request, state="confirm", category=label, action=request.path)


urlpatterns: list[URLPattern] = [
    path("unsubscribe/<str:token>/", unsubscribe_view, name="unsubscribe"),
]
