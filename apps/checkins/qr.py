"""Member QR codes for the front desk (DESIGN.md section 6), and reading any QR the
desk scans.

Two member codes, both `django.core.signing` tokens naming the gym's schema:

- **Rotating** (the member app): `{"g": schema, "m": member id, "t": unix seconds}`
  under `MEMBER_QR_SALT`. It is valid for `ROTATING_QR_TTL` (60 s) after `t`, so a
  screenshot sent to a friend is useless a minute later; the app fetches a fresh one
  from `GET /api/v1/me/qr/` (it should refresh every `ROTATING_QR_REFRESH`, 30 s, so a
  code on screen always has at least half its life left). The age is checked against
  the `now` passed in, so tests and the desk agree on one clock.
- **Card** (printed): `{"g": schema, "c": card id}` under `CARD_QR_SALT`, valid while
  the `MemberCard` row is not revoked. A lost card is revoked and a new one issued.

`qr_identify` also accepts the booking QR of `apps.bookings.qr`. Every way a token
can fail (forged, expired, revoked, another gym, unknown id) is one refusal,
`unknown_code`, with a sentence saying which.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.utils import timezone

from apps.bookings.models import Booking
from apps.bookings.qr import QrTokenInvalid, booking_qr_verify
from apps.members.models import Member
from apps.tenants.selectors import current_schema_name

from .models import CheckIn, MemberCard

MEMBER_QR_SALT = "fitflow.checkins.member-qr"
CARD_QR_SALT = "fitflow.checkins.card-qr"
ROTATING_QR_TTL = datetime.timedelta(seconds=60)
ROTATING_QR_REFRESH = datetime.timedelta(seconds=30)
# A phone clock a little ahead of the server's must not make a fresh code "from the future".
CLOCK_SKEW = datetime.timedelta(seconds=5)

UNKNOWN_REASONS = {
    "forged": "This is not a FitFlow code. Ask the member to open their QR in the app.",
    "expired": "This QR code has expired. Ask the member to refresh the QR in the app.",
    "other_gym": "This QR code belongs to another gym.",
    "not_found": "This code names no member here.",
    "revoked": "This card has been revoked. Issue the member a new card.",
}


class UnknownCode(Exception):
    """A scanned token that identifies nobody here. `reason` is the desk's sentence."""

    def __init__(self, kind: str, reason: str | None = None) -> None:
        self.kind = kind
        self.reason = reason or UNKNOWN_REASONS[kind]
        super().__init__(f"{kind}: {self.reason}")


@dataclass(frozen=True)
class QrIdentity:
    """Who a scanned token names: the member, how (a `CheckIn.Method`), and the
    booking for a booking QR (confirmed, session not over; else None)."""

    member: Member
    method: str
    booking: Booking | None = None


def member_rotating_qr_token(*, member: Member, now: datetime.datetime | None = None) -> str:
    """A rotating QR token for `member` at the current gym, valid for 60 s from `now`
    (aware; default now). About 90 characters."""
    now = now or timezone.now()
    payload = {"g": current_schema_name(), "m": member.pk, "t": int(now.timestamp())}
    return signing.dumps(payload, salt=MEMBER_QR_SALT, compress=False)


def member_card_qr_token(*, card: MemberCard) -> str:
    """The static token printed on `card` (valid until the card is revoked)."""
    return signing.dumps({"g": current_schema_name(), "c": card.pk}, salt=CARD_QR_SALT, compress=False)


def _loads(token: str, salt: str) -> dict[str, Any] | None:
    try:
        payload = signing.loads(token, salt=salt)
    except (signing.BadSignature, ValueError, UnicodeError):
        return None
    return payload if isinstance(payload, dict) and isinstance(payload.get("g"), str) else None


def _member(pk: Any) -> Member:
    member = Member.objects.filter(pk=pk).exclude(status=Member.Status.ERASED).first() if isinstance(pk, int) else None
    if member is None:
        raise UnknownCode("not_found")
    return member


def qr_identify(*, token: str, now: datetime.datetime | None = None) -> QrIdentity:
    """The member a scanned token names at the current gym: a rotating member code,
    a printed card, or a booking QR. `now` (aware) is the scan time.

    Raises `UnknownCode` (kind forged, expired, other_gym, not_found or revoked).
    A booking QR of a booking that is not confirmed (cancelled, waitlisted, already
    attended) still names its member, with `booking=None`; one whose class ended more
    than two hours ago is expired (`apps.bookings.qr.QR_GRACE`).
    """
    now = now or timezone.now()
    token = token.strip()
    if not token or len(token) > 512:
        raise UnknownCode("forged")
    schema = current_schema_name()

    payload = _loads(token, MEMBER_QR_SALT)
    if payload is not None:
        if payload["g"] != schema:
            raise UnknownCode("other_gym")
        issued = payload.get("t")
        if not isinstance(issued, int):
            raise UnknownCode("forged")
        age = now - datetime.datetime.fromtimestamp(issued, tz=datetime.UTC)
        if age > ROTATING_QR_TTL or age < -CLOCK_SKEW:
            raise UnknownCode("expired")
        return QrIdentity(member=_member(payload.get("m")), method=CheckIn.Method.MEMBER_QR)

    payload = _loads(token, CARD_QR_SALT)
    if payload is not None:
        if payload["g"] != schema:
            raise UnknownCode("other_gym")
        card_id = payload.get("c")
        if not isinstance(card_id, int):
            raise UnknownCode("forged")
        card = MemberCard.objects.select_related("member").filter(pk=card_id).first()
        if card is None or card.member.status == Member.Status.ERASED:
            raise UnknownCode("not_found")
        if card.revoked_at is not None:
            raise UnknownCode("revoked")
        return QrIdentity(member=card.member, method=CheckIn.Method.CARD_QR)

    try:
        booking = booking_qr_verify(token=token, now=now)
    except QrTokenInvalid as exc:
        if exc.code == "not_confirmed" and exc.booking is not None:
            return QrIdentity(member=exc.booking.member, method=CheckIn.Method.BOOKING_QR)
        kind = {"other_gym": "other_gym", "not_found": "not_found", "forged": "forged"}.get(exc.code, "expired")
        reason = exc.reason if exc.code == "expired" else None
        raise UnknownCode(kind, reason) from exc
    if booking.member.status == Member.Status.ERASED:
        raise UnknownCode("not_found")
    return QrIdentity(member=booking.member, method=CheckIn.Method.BOOKING_QR, booking=booking)
