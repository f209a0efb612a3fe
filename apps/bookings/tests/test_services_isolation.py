"""Cross-gym isolation of the booking services: inside gym A, ids of gym B's members,
sessions, bookings and memberships name nothing (every read is in A's schema), and
nothing is written in B. Gym B's rows get ids that gym A has never used, so a lookup
in A cannot land on an unrelated row of A by accident."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from apps.bookings.errors import BookingError
from apps.bookings.models import Booking, CreditEntry
from apps.bookings.selectors import credit_ledger, member_bookings, session_roster
from apps.bookings.services import (
    booking_cancel,
    booking_create,
    booking_mark_attendance,
    credits_summary,
    session_bookings_cancel,
    waitlist_promote,
)
from apps.classes.tests.factories import ClassSessionFactory, GymClassFactory
from apps.members.tests.factories import MemberFactory
from apps.memberships.tests.factories import MembershipFactory
from apps.tenants.models import Gym

from .factories import NOW, H, member_on, pack_plan, session_at

pytestmark = pytest.mark.django_db

FAR = 900_000_000  # ids far beyond anything gym A's sequences hand out in a test run


@pytest.fixture
def in_b(gym_b: Gym) -> dict[str, Any]:
    """In gym B: a member on a pack with a confirmed booking in a session, all with
    far-off ids."""
    with tenant_context(gym_b):
        member = MemberFactory(pk=FAR + 1)
        membership = MembershipFactory(pk=FAR + 2, member=member, plan=pack_plan(credits=5))
        session = ClassSessionFactory(pk=FAR + 4, gym_class=GymClassFactory(pk=FAR + 3), starts_at=NOW + 48 * H)
        booking = Booking.objects.create(
            pk=FAR + 5, member=member, session=session, membership=membership, status=Booking.Status.CONFIRMED
        )
        return {"member": member, "membership": membership, "session": session, "booking": booking}


def code_of(call: Callable[[], Any]) -> str:
    with pytest.raises(BookingError) as caught:
        call()
    return caught.value.code


def test_gym_b_ids_name_nothing_in_gym_a(gym_a: Gym, gym_b: Gym, in_b: dict[str, Any]) -> None:
    b = in_b
    with tenant_context(gym_a):
        a_member = member_on(pack_plan(credits=5)).member
        a_session = session_at(NOW + 48 * H)

        assert code_of(lambda: booking_create(member=a_member, session=b["session"], now=NOW)) == "session_not_found"
        # B's member has no membership in A's schema.
        assert code_of(lambda: booking_create(member=b["member"], session=a_session, now=NOW)) == "no_valid_membership"
        assert code_of(lambda: booking_cancel(booking=b["booking"], now=NOW)) == "booking_not_found"
        assert (
            code_of(lambda: booking_mark_attendance(booking=b["booking"], attended=True, now=NOW + 48 * H))
            == "booking_not_found"
        )
        assert code_of(lambda: waitlist_promote(session=b["session"], now=NOW)) == "session_not_found"
        assert (
            code_of(lambda: session_bookings_cancel(session=b["session"], reason="x", now=NOW)) == "session_not_found"
        )
        assert credits_summary(member=b["member"], today=NOW.date()).buckets == []
        assert list(credit_ledger(member=b["member"])) == []
        assert list(member_bookings(member=b["member"])) == []
        assert list(session_roster(session=b["session"])) == []
        assert not Booking.objects.filter(member_id=b["member"].pk).exists()

    with tenant_context(gym_b):
        booking = Booking.objects.get(pk=FAR + 5)
        assert booking.status == Booking.Status.CONFIRMED
        assert Booking.objects.count() == 1
        assert not CreditEntry.objects.exists()
