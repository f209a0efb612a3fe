"""Signed QR tokens for bookings (DESIGN.md section 6).

A token is `django.core.signing.dumps({"g": <gym schema>, "b": <booking id>})` with
the salt `QR_SALT`: URL-safe base64 JSON, a timestamp and an HMAC-SHA256 signature
under SECRET_KEY (the timestamp makes it a TimestampSigner token). It names no
person and holds nothing secret; possession of it only proves "this booking". About
80 characters, so the code stays small enough for any phone camera.

Validity, checked by `booking_qr_verify` in this order, each failure a
`QrTokenInvalid` with a code and a sentence the front desk shows:

1. `forged`: the signature does not match (edited, truncated, another site's key,
   or not one of our tokens at all).
2. `expired`: the token is older than `QR_MAX_AGE` (signing's max_age: a hard
   ceiling, so a leaked token never lives for ever).
3. `other_gym`: the token was made at another gym (the schema in it is not the
   current one). All gyms share SECRET_KEY, so the signature alone cannot tell.
4. `not_found`: no such booking here.
5. `expired`: the booking's class session ended more than `QR_GRACE` ago. The
   session's *current* end counts, so a rescheduled class keeps its token valid;
   the token itself carries no expiry.
6. `not_confirmed`: the booking is waitlisted, cancelled, late-cancelled, or was
   already checked in (attended) or marked a no-show; the sentence says which.

Verification does not check that the session has started: whether a member may
check in an hour early is a front-desk rule for the check-in issue.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core import signing
from django.utils import timezone

from apps.tenants.selectors import current_schema_name

from .models import Booking

QR_SALT = "fitflow.bookings.qr"
# A booking is scannable until its session has ended plus this grace (late check-ins,
# the desk catching up after a busy class).
QR_GRACE = datetime.timedelta(hours=2)
# The hard ceiling on a token's age. Booking windows are at most a few weeks; a year
# covers any gym setting and still retires tokens eventually.
QR_MAX_AGE = datetime.timedelta(days=366)

REASONS = {
    "forged": "This QR code is not a valid FitFlow booking code.",
    "expired": "This QR code has expired: the class is over.",
    "other_gym": "This QR code is for a booking at another gym.",
    "not_found": "This booking no longer exists at this gym.",
    "not_confirmed": "This booking is not confirmed.",
}
NOT_CONFIRMED_REASONS = {
    Booking.Status.WAITLISTED: "This booking is on the waitlist, not confirmed.",
    Booking.Status.CANCELLED: "This booking was cancelled.",
    Booking.Status.LATE_CANCELLED: "This booking was cancelled (late cancel).",
    Booking.Status.ATTENDED: "This booking has already been checked in.",
    Booking.Status.NO_SHOW: "This booking was marked as a no-show.",
}


class QrTokenInvalid(Exception):
    """A QR token that must not be honoured. `code` is one of forged, expired,
    other_gym, not_found, not_confirmed; `reason` is a sentence for the front desk;
    `booking` is set when the booking was found (for not_confirmed and expired)."""

    def __init__(self, code: str, reason: str = "", *, booking: Booking | None = None) -> None:
        self.code = code
        self.reason = reason or REASONS[code]
        self.booking = booking
        super().__init__(f"{code}: {self.reason}")


def booking_qr_token(*, booking: Booking) -> str:
    """The signed QR token of `booking` at the current gym (must run in its schema)."""
    return signing.dumps({"g": current_schema_name(), "b": booking.pk}, salt=QR_SALT, compress=False)


def qr_token_payload(*, token: str) -> dict[str, Any]:
    """The signed payload of a QR token (signature and age checked, nothing else).
    Raises `QrTokenInvalid` forged or expired."""
    try:
        payload = signing.loads(token.strip(), salt=QR_SALT, max_age=QR_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise QrTokenInvalid("expired", "This QR code is too old to use.") from exc
    except (signing.BadSignature, ValueError, UnicodeError) as exc:
        raise QrTokenInvalid("forged") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("g"), str) or not isinstance(payload.get("b"), int):
        raise QrTokenInvalid("forged")
    return payload


def booking_qr_verify(*, token: str, now: datetime.datetime | None = None) -> Booking:
    """The confirmed booking a QR token names, at the current gym, with its session,
    class and member loaded. Raises `QrTokenInvalid` (see the module docstring)."""
    payload = qr_token_payload(token=token)
    if payload["g"] != current_schema_name():
        raise QrTokenInvalid("other_gym")
    booking = Booking.objects.select_related("session__gym_class", "member").filter(pk=payload["b"]).first()
    if booking is None:
        raise QrTokenInvalid("not_found")
    booking_qr_check(booking=booking, now=now)
    return booking


def booking_qr_check(*, booking: Booking, now: datetime.datetime | None = None) -> None:
    """Rules 5 and 6 for a booking in hand (its session loaded): raises `QrTokenInvalid`
    `expired` once the session ended more than `QR_GRACE` ago, `not_confirmed` for
    any status but confirmed. The API checks this before drawing a code."""
    now = now or timezone.now()
    if now > booking.session.ends_at + QR_GRACE:
        raise QrTokenInvalid("expired", booking=booking)
    if booking.status != Booking.Status.CONFIRMED:
        reason = NOT_CONFIRMED_REASONS.get(Booking.Status(booking.status), REASONS["not_confirmed"])
        raise QrTokenInvalid("not_confirmed", reason, booking=booking)
