"""`checkin_create`: every rule code, the rotating token's expiry, printed cards,
booking QRs, attendance marking, overrides, and occupancy through check-outs, the
automatic check-out and midnight."""

from __future__ import annotations

import datetime
from datetime import date as D

import pytest
from django.core import signing
from django_tenants.utils import tenant_context

from apps.bookings.models import Booking
from apps.bookings.qr import booking_qr_token
from apps.bookings.services import booking_create
from apps.bookings.tests.factories import pack_plan, session_at
from apps.checkins.errors import CheckInError
from apps.checkins.models import CheckIn
from apps.checkins.qr import MEMBER_QR_SALT, member_card_qr_token, member_rotating_qr_token
from apps.checkins.selectors import occupancy_now
from apps.checkins.services import (
    checkin_check_out,
    checkin_create,
    checkins_auto_check_out,
    member_card_issue,
    member_card_revoke,
)
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.services import membership_freeze
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym

from .factories import NOW, active_member, minutes

pytestmark = pytest.mark.django_db


@pytest.fixture
def gym(gym_a: Gym):
    with tenant_context(gym_a):
        yield gym_a


def scan(token: str, now: datetime.datetime = NOW, **kwargs):
    return checkin_create(qr=token, now=now, **kwargs)


def test_rotating_member_qr_checks_in_and_counts(gym: Gym) -> None:
    # given an active member showing the app's QR
    membership = active_member()
    token = member_rotating_qr_token(member=membership.member, now=NOW)
    # when the desk scans it
    result = scan(token)
    # then green, one open check-in for them, occupancy 1
    assert (result.allowed, result.code) == (True, "checked_in")
    assert result.member == membership.member and result.membership == membership
    assert result.check_in.method == CheckIn.Method.MEMBER_QR
    assert occupancy_now(gym=gym).count == 1


def test_rotating_qr_expires_after_60_seconds(gym: Gym) -> None:
    membership = active_member()
    token = member_rotating_qr_token(member=membership.member, now=NOW)
    assert scan(token, now=NOW + datetime.timedelta(seconds=59)).allowed
    CheckIn.objects.all().delete()
    late = scan(token, now=NOW + datetime.timedelta(seconds=61))
    assert (late.allowed, late.code, late.member) == (False, "unknown_code", None)
    assert "expired" in late.message
    assert not CheckIn.objects.exists()


def test_rotating_qr_from_the_future_is_refused(gym: Gym) -> None:
    membership = active_member()
    token = member_rotating_qr_token(member=membership.member, now=NOW + minutes(5))
    assert scan(token).code == "unknown_code"


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "",
        signing.dumps({"g": "gym_gym_a", "m": 1, "t": 0}, salt="another-salt"),
        "x" * 600,
    ],
)
def test_forged_codes_are_unknown(gym: Gym, token: str) -> None:
    result = scan(token)
    assert (result.allowed, result.code) == (False, "unknown_code")
    assert not CheckIn.objects.exists()


def test_edited_token_is_unknown(gym: Gym) -> None:
    membership = active_member()
    token = member_rotating_qr_token(member=membership.member, now=NOW)
    tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    assert scan(tampered).code == "unknown_code"


def test_other_gyms_codes_are_unknown(gym_a: Gym, gym_b: Gym) -> None:
    # given a member of gym B with a valid rotating code and a printed card there
    with tenant_context(gym_b):
        b_membership = active_member()
        rotating = member_rotating_qr_token(member=b_membership.member, now=NOW)
        card = member_card_qr_token(card=member_card_issue(member=b_membership.member))
    # and gym A has a member with the same id
    with tenant_context(gym_a):
        while active_member().member.pk < b_membership.member.pk:
            pass
        # when either code is scanned at gym A, it names nobody
        for token in (rotating, card):
            result = scan(token)
            assert (result.code, result.member) == ("unknown_code", None)
            assert "another gym" in result.message
        assert not CheckIn.objects.exists()


def test_payload_for_missing_member_is_unknown(gym: Gym) -> None:
    token = signing.dumps({"g": gym.schema_name, "m": 999_999, "t": int(NOW.timestamp())}, salt=MEMBER_QR_SALT)
    assert scan(token).code == "unknown_code"


def test_printed_card_works_until_revoked(gym: Gym) -> None:
    membership = active_member()
    card = member_card_issue(member=membership.member)
    token = member_card_qr_token(card=card)
    first = scan(token)
    assert first.allowed and first.check_in.method == CheckIn.Method.CARD_QR
    checkin_check_out(check_in=first.check_in, now=NOW + minutes(30))
    member_card_revoke(card=card)
    revoked = scan(token, now=NOW + minutes(90))
    assert revoked.code == "unknown_code" and "revoked" in revoked.message


def test_issuing_a_new_card_revokes_the_old_one(gym: Gym) -> None:
    membership = active_member()
    old = member_card_issue(member=membership.member)
    new = member_card_issue(member=membership.member)
    old.refresh_from_db()
    assert old.revoked_at is not None and new.revoked_at is None
    assert scan(member_card_qr_token(card=old)).code == "unknown_code"
    assert scan(member_card_qr_token(card=new)).allowed


def test_no_active_membership(gym: Gym) -> None:
    member = MemberFactory()
    result = checkin_create(member=member, now=NOW)
    assert (result.allowed, result.code, result.member) == (False, "no_active_membership", member)
    assert not CheckIn.objects.exists()


def test_expired_and_future_memberships_do_not_count(gym: Gym) -> None:
    expired = active_member(start=D(2026, 1, 1))
    Membership.objects.filter(pk=expired.pk).update(status=Membership.Status.EXPIRED)
    future = active_member(start=D(2026, 3, 10))
    assert checkin_create(member=expired.member, now=NOW).code == "no_active_membership"
    assert checkin_create(member=future.member, now=NOW).code == "no_active_membership"


def test_frozen_membership(gym: Gym) -> None:
    membership = active_member()
    membership_freeze(
        membership=membership, start_date=D(2026, 3, 2), end_date=D(2026, 3, 20), today=D(2026, 3, 2), reason="Travel"
    )
    result = checkin_create(member=membership.member, now=NOW)
    assert (result.allowed, result.code) == (False, "membership_frozen")
    assert result.membership == membership
    assert result.message == "The membership is frozen until Fri 20 Mar."


def test_freeze_scheduled_over_today_counts_as_frozen(gym: Gym) -> None:
    # a freeze booked last week that starts today, before the nightly job flips the status
    membership = active_member()
    membership_freeze(
        membership=membership, start_date=D(2026, 3, 3), end_date=D(2026, 3, 9), today=D(2026, 3, 2), reason="Travel"
    )
    assert checkin_create(member=membership.member, now=NOW).allowed  # 2 March: not yet frozen
    CheckIn.objects.all().delete()
    assert checkin_create(member=membership.member, now=NOW + datetime.timedelta(days=1)).code == "membership_frozen"


def test_past_due_inside_grace_gets_in_with_a_warning(gym: Gym) -> None:
    membership = active_member()
    Membership.objects.filter(pk=membership.pk).update(status=Membership.Status.PAST_DUE, past_due_since=D(2026, 2, 28))
    result = checkin_create(member=membership.member, now=NOW)  # 2 days in, grace 3
    assert result.allowed
    assert any("overdue" in w for w in result.warnings)


def test_past_due_beyond_grace_is_payment_overdue(gym: Gym) -> None:
    membership = active_member(start=D(2026, 2, 1))
    Membership.objects.filter(pk=membership.pk).update(status=Membership.Status.PAST_DUE, past_due_since=D(2026, 2, 26))
    result = checkin_create(member=membership.member, now=NOW)  # 4 days in, grace 3
    assert (result.allowed, result.code) == (False, "payment_overdue")
    # the gym lengthens its grace: the same member gets in
    Gym.objects.filter(pk=gym.pk).update(payment_grace_days=7)
    gym.refresh_from_db()
    with tenant_context(gym):
        assert checkin_create(member=membership.member, now=NOW).allowed


def test_grace_days_count_the_day_the_payment_failed_and_zero_refuses_at_once(gym: Gym) -> None:
    # "Days a membership with an overdue payment still gets in": 3 is that day and the
    # next two; 0 is none (the end-to-end day at the gym refuses the member at once).
    membership = active_member(start=D(2026, 2, 1))
    since = NOW.astimezone(gym_tzinfo(gym)).date()
    Membership.objects.filter(pk=membership.pk).update(status=Membership.Status.PAST_DUE, past_due_since=since)
    Gym.objects.filter(pk=gym.pk).update(payment_grace_days=0)
    with tenant_context(Gym.objects.get(pk=gym.pk)):
        assert checkin_create(member=membership.member, now=NOW).code == "payment_overdue"
    Gym.objects.filter(pk=gym.pk).update(payment_grace_days=3)
    with tenant_context(Gym.objects.get(pk=gym.pk)):
        third_day = checkin_create(member=membership.member, now=NOW + datetime.timedelta(days=2))
        assert third_day.allowed
        assert any(f"refused after {NOW + datetime.timedelta(days=2):%a %d %b}" in w for w in third_day.warnings)
        CheckIn.objects.all().delete()
        fourth_day = checkin_create(member=membership.member, now=NOW + datetime.timedelta(days=3))
        assert fourth_day.code == "payment_overdue"


def test_outside_access_hours(gym: Gym) -> None:
    # an off-peak plan: weekdays 10:00-16:00 only; 09:00 London is outside
    windows = [{"weekdays": [0, 1, 2, 3, 4], "start": "10:00", "end": "16:00"}]
    membership = active_member(access_hours=windows)
    result = checkin_create(member=membership.member, now=NOW)
    assert (result.allowed, result.code) == (False, "outside_access_hours")
    assert "09:00" in result.message  # the gym-local time
    assert checkin_create(member=membership.member, now=NOW + datetime.timedelta(hours=1, minutes=30)).allowed


def test_access_hours_use_the_gyms_timezone(gym: Gym) -> None:
    # 09:30 UTC on 30 March is 10:30 in London (BST): inside a 10:00-16:00 window
    windows = [{"weekdays": [0], "start": "10:00", "end": "16:00"}]
    membership = active_member(access_hours=windows)
    assert checkin_create(
        member=membership.member, now=datetime.datetime(2026, 3, 30, 9, 30, tzinfo=datetime.UTC)
    ).allowed


def test_one_good_membership_beats_a_frozen_one(gym: Gym) -> None:
    membership = active_member()
    frozen = active_member(member=membership.member, plan=pack_plan())
    Membership.objects.filter(pk=frozen.pk).update(status=Membership.Status.FROZEN)
    result = checkin_create(member=membership.member, now=NOW)
    assert result.allowed and result.membership == membership


def test_already_checked_in_writes_no_second_row(gym: Gym) -> None:
    membership = active_member()
    first = checkin_create(member=membership.member, now=NOW)
    again = scan(member_rotating_qr_token(member=membership.member, now=NOW + minutes(20)), now=NOW + minutes(20))
    assert (again.allowed, again.code) == (False, "already_checked_in")
    assert again.check_in == first.check_in
    assert "09:00" in again.message
    assert CheckIn.objects.count() == 1 and occupancy_now(gym=gym).count == 1


def test_an_old_open_check_in_is_superseded_not_doubled(gym: Gym) -> None:
    # the repeat window is 60 minutes; they left at 09:30 without checking out
    membership = active_member()
    first = checkin_create(member=membership.member, now=NOW).check_in
    second = checkin_create(member=membership.member, now=NOW + minutes(61))
    assert second.allowed
    first.refresh_from_db()
    assert first.check_out_kind == CheckIn.CheckOutKind.SUPERSEDED
    assert occupancy_now(gym=gym).count == 1


def test_check_out_then_back_in(gym: Gym) -> None:
    membership = active_member()
    first = checkin_create(member=membership.member, now=NOW).check_in
    checkin_check_out(check_in=first, now=NOW + minutes(10))
    assert occupancy_now(gym=gym).count == 0
    assert checkin_create(member=membership.member, now=NOW + minutes(15)).allowed
    assert occupancy_now(gym=gym).count == 1
    with pytest.raises(CheckInError) as caught:
        checkin_check_out(check_in=first, now=NOW + minutes(20))
    assert caught.value.code == "already_checked_out"


def test_override_lets_a_refused_member_in_and_records_why(gym: Gym, make_staff) -> None:
    membership = active_member()
    Membership.objects.filter(pk=membership.pk).update(status=Membership.Status.FROZEN)
    result = checkin_create(member=membership.member, now=NOW, override_reason="Freeze ends today, paid at desk")
    assert result.allowed and result.check_in.method == CheckIn.Method.OVERRIDE
    assert result.check_in.overridden_code == "membership_frozen"
    assert result.check_in.override_reason == "Freeze ends today, paid at desk"


def test_override_does_not_make_a_forged_code_anyone(gym: Gym) -> None:
    assert scan("forged-token", override_reason="trust me").code == "unknown_code"
    assert not CheckIn.objects.exists()


def test_erased_member_cannot_be_checked_in(gym: Gym) -> None:
    membership = active_member()
    member = membership.member
    member.status = member.Status.ERASED
    member.save()
    with pytest.raises(CheckInError) as caught:
        checkin_create(member=member, now=NOW)
    assert caught.value.code == "member_not_found"


def test_neither_or_both_inputs_is_an_error(gym: Gym) -> None:
    member = active_member().member
    for kwargs in ({}, {"qr": "x", "member": member}):
        with pytest.raises(CheckInError):
            checkin_create(now=NOW, **kwargs)


# --- class attendance ------------------------------------------------------------------


def book(membership: Membership, starts_at: datetime.datetime) -> Booking:
    session = session_at(starts_at)
    return booking_create(member=membership.member, session=session, now=NOW - datetime.timedelta(days=1))


@pytest.mark.parametrize(
    ("offset", "marked"),
    [(minutes(59), True), (minutes(61), False), (-minutes(14), True), (-minutes(16), False)],
)
def test_check_in_marks_a_booking_in_the_window_attended(gym: Gym, offset: datetime.timedelta, marked: bool) -> None:
    membership = active_member()
    booking = book(membership, NOW + offset)
    result = checkin_create(member=membership.member, now=NOW)
    booking.refresh_from_db()
    assert result.allowed
    assert (booking.status == Booking.Status.ATTENDED) is marked
    assert (result.booking == booking) is marked
    assert (result.check_in.booking_id == booking.pk) is marked


def test_booking_qr_checks_in_and_marks_that_booking(gym: Gym) -> None:
    membership = active_member()
    booking = book(membership, NOW + minutes(30))
    result = scan(booking_qr_token(booking=booking))
    booking.refresh_from_db()
    assert result.allowed and result.check_in.method == CheckIn.Method.BOOKING_QR
    assert booking.status == Booking.Status.ATTENDED and booking.attendance_marked_at == NOW


def test_booking_qr_for_a_class_later_today_checks_in_without_marking(gym: Gym) -> None:
    membership = active_member()
    booking = book(membership, NOW + datetime.timedelta(hours=5))
    result = scan(booking_qr_token(booking=booking))
    booking.refresh_from_db()
    assert result.allowed and result.booking is None
    assert booking.status == Booking.Status.CONFIRMED


def test_booking_qr_of_another_gym_is_unknown(gym_a: Gym, gym_b: Gym) -> None:
    with tenant_context(gym_b):
        booking = book(active_member(), NOW + minutes(30))
        token = booking_qr_token(booking=booking)
    with tenant_context(gym_a):
        assert scan(token).code == "unknown_code"


def test_refused_member_booking_is_not_marked(gym: Gym) -> None:
    membership = active_member()
    booking = book(membership, NOW + minutes(30))
    Membership.objects.filter(pk=membership.pk).update(status=Membership.Status.FROZEN)
    assert checkin_create(member=membership.member, now=NOW).code == "membership_frozen"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


# --- occupancy through check-outs, the automatic check-out and midnight ------------------


def test_auto_check_out_closes_stale_visits_at_check_in_plus_hours(gym: Gym) -> None:
    # the gym closes visits after 3 hours
    stale = checkin_create(member=active_member().member, now=NOW).check_in
    recent = checkin_create(member=active_member().member, now=NOW + datetime.timedelta(hours=2)).check_in
    assert occupancy_now(gym=gym).count == 2
    closed = checkins_auto_check_out(now=NOW + datetime.timedelta(hours=3, minutes=5))
    assert closed == 1
    stale.refresh_from_db()
    recent.refresh_from_db()
    assert stale.checked_out_at == NOW + datetime.timedelta(hours=3)
    assert stale.check_out_kind == CheckIn.CheckOutKind.AUTO
    assert recent.is_open
    assert occupancy_now(gym=gym).count == 1
    assert checkins_auto_check_out(now=NOW + datetime.timedelta(hours=3, minutes=5)) == 0  # idempotent


def test_occupancy_runs_through_midnight(gym: Gym) -> None:
    # a 24-hour gym: in at 23:30 London, still in at 00:30 the next day
    late = datetime.datetime(2026, 3, 2, 23, 30, tzinfo=datetime.UTC)
    check_in = checkin_create(member=active_member().member, now=late).check_in
    checkin_create(member=active_member().member, now=late + minutes(45))
    assert occupancy_now(gym=gym).count == 2
    checkin_check_out(check_in=check_in, now=late + minutes(60))
    assert occupancy_now(gym=gym).count == 1


def test_occupancy_level_and_capacity(gym: Gym) -> None:
    Gym.objects.filter(pk=gym.pk).update(occupancy_capacity=4)
    gym.refresh_from_db()
    levels = []
    for i in range(4):
        checkin_create(member=active_member().member, now=NOW + minutes(i))
        levels.append(occupancy_now(gym=gym).level)
    assert levels == ["quiet", "busy", "busy", "full"]
    occupancy = occupancy_now(gym=gym)
    assert (occupancy.count, occupancy.capacity, occupancy.percent, occupancy.warning) == (4, 4, 100, True)


def test_occupancy_is_per_gym(gym_a: Gym, gym_b: Gym) -> None:
    with tenant_context(gym_a):
        checkin_create(member=active_member().member, now=NOW)
        assert occupancy_now(gym=gym_a).count == 1
    with tenant_context(gym_b):
        assert occupancy_now(gym=gym_b).count == 0
