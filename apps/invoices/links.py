"""The member's signed self-serve links: the card-update link of the failed-payment
notice (`/billing/card/<token>/`). The invoice pay link of the PDF's QR code is in
`apps.invoices.pdf` (`invoice_pay_token`)."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core import signing
from django.http import HttpRequest
from django.urls import reverse

from apps.members.models import Member
from apps.tenants.models import Gym
from apps.tenants.selectors import current_schema_name, gym_base_url

CARD_TOKEN_SALT = "invoices.card"
CARD_TOKEN_MAX_AGE = datetime.timedelta(days=30)


def member_card_token(*, member: Member) -> str:
    """A signed, timestamped token for the member's card-update link:
    `{"schema": <schema>, "member": <id>}` with salt `invoices.card` (the same shape as
    `apps.invoices.pdf.invoice_pay_token`). Valid for `CARD_TOKEN_MAX_AGE`."""
    payload = {"schema": current_schema_name(), "member": int(member.pk)}
    return signing.dumps(payload, salt=CARD_TOKEN_SALT)


def member_card_token_read(token: str) -> int:
    """The member id in a card-update token of the CURRENT gym. Raises
    `signing.SignatureExpired` (older than 30 days) and `signing.BadSignature` (forged,
    malformed or made in another gym)."""
    data = signing.loads(token, salt=CARD_TOKEN_SALT, max_age=CARD_TOKEN_MAX_AGE)
    if not isinstance(data, dict) or not isinstance(data.get("member"), int):
        raise signing.BadSignature("Malformed card token.")
    if data.get("schema") != current_schema_name():
        raise signing.BadSignature("This link belongs to another gym.")
    return int(data["member"])


def member_card_link(*, member: Member, gym: Gym, request: HttpRequest | None = None) -> str:
    """The absolute card-update URL for the member, e.g.
    `https://harbour.fitflow.app/billing/card/<token>/` (the "update your card" link of
    the failed-payment notice). Works outside a request too (a task's notice): the
    path is reversed in the tenant URLconf."""
    path = reverse("invoices:card", args=[member_card_token(member=member)], urlconf=settings.ROOT_URLCONF)
    return gym_base_url(gym=gym, request=request) + path
