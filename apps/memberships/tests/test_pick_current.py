"""`membership_pick_current` and `membership_sort_current`: which of a member's
memberships is "the" current one. Pure functions, so no database: the memberships
are unsaved instances with their plans attached."""

from __future__ import annotations

import itertools
from datetime import date as D

from apps.memberships.models import Membership
from apps.memberships.selectors import membership_pick_current, membership_sort_current
from apps.plans.models import Plan

TODAY = D(2026, 3, 15)
Status = Membership.Status

_ids = itertools.count(1)


def ms(kind: str, start: D, status: str = Status.ACTIVE) -> Membership:
    return Membership(pk=next(_ids), plan=Plan(kind=kind, name=f"{kind} from {start}"), status=status, start_date=start)


def recurring(start: D, status: str = Status.ACTIVE) -> Membership:
    return ms(Plan.Kind.RECURRING, start, status)


def pack(start: D, status: str = Status.ACTIVE) -> Membership:
    return ms(Plan.Kind.CLASS_PACK, start, status)


def one_off(start: D, status: str = Status.ACTIVE) -> Membership:
    return ms(Plan.Kind.ONE_OFF, start, status)


def test_nothing_current_picks_nothing() -> None:
    assert membership_pick_current([], today=TODAY) is None
    ended = [recurring(D(2026, 1, 1), Status.CANCELLED), pack(D(2026, 2, 1), Status.EXPIRED)]
    assert membership_pick_current(ended, today=TODAY) is None
    assert membership_sort_current(ended, today=TODAY) == []


def test_in_effect_today_wins_over_a_later_start_even_a_recurring_one() -> None:
    # given a pack in effect and a recurring membership (say a pre-sale) starting tomorrow
    now, later = pack(D(2026, 3, 1)), recurring(D(2026, 3, 16))
    # then the one the member can use today is the current one
    assert membership_pick_current([later, now], today=TODAY) is now


def test_a_membership_starting_today_is_in_effect() -> None:
    starts_today, pack_before = recurring(TODAY), pack(D(2026, 3, 1))
    assert membership_pick_current([pack_before, starts_today], today=TODAY) is starts_today


def test_recurring_wins_over_a_newer_pass_or_pack_beside_it() -> None:
    monthly, newer_pack, newer_pass = recurring(D(2026, 1, 1)), pack(D(2026, 3, 1)), one_off(D(2026, 3, 10))
    assert membership_pick_current([newer_pass, newer_pack, monthly], today=TODAY) is monthly


def test_then_the_latest_start_then_the_newest_row() -> None:
    older, newer = pack(D(2026, 2, 1)), one_off(D(2026, 3, 1))
    assert membership_pick_current([newer, older], today=TODAY) is newer
    first_row, second_row = pack(D(2026, 3, 1)), pack(D(2026, 3, 1))  # same start: the higher id wins
    assert membership_pick_current([second_row, first_row], today=TODAY) is second_row


def test_frozen_and_past_due_count_as_current_and_ended_ones_are_skipped() -> None:
    cancelled_recurring = recurring(D(2026, 3, 1), Status.CANCELLED)
    frozen_pack = pack(D(2026, 1, 1), Status.FROZEN)
    assert membership_pick_current([cancelled_recurring, frozen_pack], today=TODAY) is frozen_pack
    past_due = recurring(D(2025, 6, 1), Status.PAST_DUE)
    assert membership_pick_current([frozen_pack, past_due], today=TODAY) is past_due


def test_sort_puts_the_pick_first_and_ranks_the_rest_the_same_way_in_any_input_order() -> None:
    monthly = recurring(D(2026, 1, 1))
    pack_now = pack(D(2026, 3, 1))
    pass_before = one_off(D(2026, 2, 1))
    renewal = recurring(D(2026, 4, 1))
    expired = recurring(D(2025, 1, 1), Status.EXPIRED)
    expected = [monthly, pack_now, pass_before, renewal]
    for order in itertools.permutations([monthly, pack_now, pass_before, renewal, expired]):
        assert membership_sort_current(order, today=TODAY) == expected
        assert membership_pick_current(order, today=TODAY) is monthly
