"""Check-in under real concurrency: several desks (threads, each on its own
PostgreSQL connection) scan the same member at the same instant. The member's row
lock serialises them: exactly one check-in is written and every other desk answers
`already_checked_in` naming that row. Runs in a gym provisioned for the test and
dropped afterwards, since the rows must be committed for other connections to see
them (the pattern of apps/bookings/tests/test_concurrency.py)."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from apps.bookings.tests.test_concurrency import committed, race_gym, run_in_threads
from apps.checkins.models import CheckIn
from apps.checkins.qr import member_rotating_qr_token
from apps.checkins.selectors import occupancy_now
from apps.checkins.services import checkin_create
from apps.tenants.models import Gym

from .factories import NOW, active_member

pytestmark = pytest.mark.django_db

__all__ = ["race_gym"]  # the fixture, imported for this module's tests

DESKS = 8


def test_eight_desks_scanning_one_member_write_one_check_in(race_gym: Gym) -> None:
    # given a member with an active membership, committed
    def arrange() -> tuple[int, str]:
        with tenant_context(race_gym):
            member = active_member().member
            return member.pk, member_rotating_qr_token(member=member, now=NOW)

    member_id, token = committed(arrange)

    # when eight desks scan their code at once
    def scan() -> tuple[str, int | None]:
        with tenant_context(race_gym):
            result = checkin_create(qr=token, now=NOW)
            return result.code, result.check_in.pk if result.check_in else None

    outcomes = run_in_threads([scan] * DESKS)

    # then one check-in, seven "already in" answers naming it, occupancy 1
    assert not [o["error"] for o in outcomes if "error" in o]
    codes = sorted(o["value"][0] for o in outcomes)
    assert codes == ["already_checked_in"] * (DESKS - 1) + ["checked_in"]
    assert len({o["value"][1] for o in outcomes}) == 1

    def count() -> tuple[int, int]:
        with tenant_context(race_gym):
            return CheckIn.objects.filter(member_id=member_id).count(), occupancy_now(gym=race_gym).count

    assert committed(count) == (1, 1)
