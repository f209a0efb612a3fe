"""Booking QR tokens: a round trip, and each rejection with its code (forged, expired,
other gym, not found, not confirmed); the generic SVG and PNG rendering."""

from __future__ import annotations

import base64
import datetime
import io

import pytest
from django.core import signing
from django.utils import timezone
from django_tenants.utils import tenant_context
from PIL import Image

from apps.bookings.models import Booking
from apps.bookings.qr import QR_GRACE, QR_MAX_AGE, QR_SALT, QrTokenInvalid, booking_qr_token, booking_qr_verify
from apps.classes.tests.factories import ClassSessionFactory
from apps.core.qrcodes import qr_png_bytes, qr_svg, qr_svg_data_uri
from apps.members.tests.factories import MemberFactory
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def make_booking(status: str = Booking.Status.CONFIRMED, **session_fields: object) -> Booking:
    """A booking row in the active gym (rules are the services' business, not the token's)."""
    return Booking.objects.create(member=MemberFactory(), session=ClassSessionFactory(**session_fields), status=status)


def reject(token: str, code: str, now: datetime.datetime | None = None) -> QrTokenInvalid:
    with pytest.raises(QrTokenInvalid) as caught:
        booking_qr_verify(token=token, now=now)
    assert caught.value.code == code
    assert caught.value.reason.endswith(".") and len(caught.value.reason) > 15  # a sentence for the desk
    return caught.value


def test_round_trip(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        booking = make_booking()
        token = booking_qr_token(booking=booking)

        found = booking_qr_verify(token=token)

    assert found == booking
    assert len(token) < 120 and str(booking.member.first_name) not in token
    assert signing.loads(token, salt=QR_SALT) == {"g": gym_a.schema_name, "b": booking.pk}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature edited
        lambda t: t[:-6],  # truncated
        lambda t: "not-a-token",
        lambda t: "",
    ],
)
def test_forged(gym_a: Gym, tamper) -> None:
    with tenant_context(gym_a):
        token = booking_qr_token(booking=make_booking())
        reject(tamper(token), "forged")


def test_forged_payload_with_another_salt_or_key(gym_a: Gym, settings) -> None:
    with tenant_context(gym_a):
        booking = make_booking()
        other_salt = signing.dumps({"g": gym_a.schema_name, "b": booking.pk}, salt="fitflow.members.card")
        other_key = signing.dumps({"g": gym_a.schema_name, "b": booking.pk}, salt=QR_SALT, key="x" * 50)
        wrong_shape = signing.dumps({"g": gym_a.schema_name, "b": str(booking.pk)}, salt=QR_SALT)

        for token in (other_salt, other_key, wrong_shape):
            reject(token, "forged")


def test_other_gym(gym_a: Gym, gym_b: Gym) -> None:
    """A token made at gym B is refused at gym A even when A has a booking with that id."""
    with tenant_context(gym_b):
        b_booking = make_booking()
        token = booking_qr_token(booking=b_booking)
    with tenant_context(gym_a):
        Booking.objects.filter(pk=b_booking.pk).delete()
        Booking.objects.create(
            pk=b_booking.pk, member=MemberFactory(), session=ClassSessionFactory(), status=Booking.Status.CONFIRMED
        )  # the same id exists at A
        reject(token, "other_gym")
    with tenant_context(gym_b):
        assert booking_qr_verify(token=token) == b_booking


def test_expired_after_the_session_plus_grace(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        booking = make_booking()
        token = booking_qr_token(booking=booking)
        ends = booking.session.ends_at

        assert booking_qr_verify(token=token, now=ends + QR_GRACE) == booking
        error = reject(token, "expired", now=ends + QR_GRACE + datetime.timedelta(seconds=1))
        assert error.booking == booking


def test_rescheduled_session_keeps_the_token(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        booking = make_booking()
        token = booking_qr_token(booking=booking)
        session = booking.session
        later = session.ends_at + datetime.timedelta(days=2)
        reject(token, "expired", now=later)

        session.starts_at += datetime.timedelta(days=2)
        session.ends_at += datetime.timedelta(days=2)
        session.save()

        assert booking_qr_verify(token=token, now=later) == booking


def test_expired_by_age(gym_a: Gym, monkeypatch) -> None:
    """signing's max_age is the hard ceiling: a token older than QR_MAX_AGE is expired."""
    with tenant_context(gym_a):
        booking = make_booking()
        real_time = signing.time.time
        monkeypatch.setattr(signing.time, "time", lambda: real_time() - QR_MAX_AGE.total_seconds() - 60)
        old = booking_qr_token(booking=booking)
        monkeypatch.setattr(signing.time, "time", real_time)

        reject(old, "expired")


def test_not_found(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        booking = make_booking()
        token = signing.dumps({"g": gym_a.schema_name, "b": booking.pk + 10_000}, salt=QR_SALT)
        reject(token, "not_found")


@pytest.mark.parametrize(
    "status, words",
    [
        (Booking.Status.WAITLISTED, "waitlist"),
        (Booking.Status.CANCELLED, "cancelled"),
        (Booking.Status.LATE_CANCELLED, "late cancel"),
        (Booking.Status.ATTENDED, "already been checked in"),
        (Booking.Status.NO_SHOW, "no-show"),
    ],
)
def test_not_confirmed(gym_a: Gym, status: str, words: str) -> None:
    with tenant_context(gym_a):
        booking = make_booking(status=status)
        error = reject(booking_qr_token(booking=booking), "not_confirmed")
    assert words in error.reason and error.booking == booking


def test_token_of_a_past_session_is_expired_even_if_confirmed(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        start = timezone.now() - datetime.timedelta(days=1)
        booking = make_booking(starts_at=start, ends_at=start + datetime.timedelta(hours=1))
        reject(booking_qr_token(booking=booking), "expired")


# --- rendering -----------------------------------------------------------------------------


def test_png_is_a_real_png() -> None:
    png = qr_png_bytes("hello desk")

    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.width == image.height >= 21 * 8  # version 1 is 21 modules
    # Black modules on a white quiet zone.
    assert image.convert("L").getpixel((0, 0)) == 255
    assert image.convert("L").getextrema() == (0, 255)


def test_svg_and_data_uri() -> None:
    svg = qr_svg("hello desk")
    uri = qr_svg_data_uri("hello desk")

    assert svg.startswith("<svg") and "<path" in svg and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert uri.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]).decode() == svg


def test_a_booking_token_fits_a_small_code(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        token = booking_qr_token(booking=make_booking())
    image = Image.open(io.BytesIO(qr_png_bytes(token, box_size=1)))
    assert image.width <= 41 + 8 + 4  # version 6 or less, plus the quiet zone
