"""Writes of the booking engine: bookings, the waitlist, attendance, the gym cancelling
a session, the no-show sweep, and (from `apps.bookings.credits`) the credit ledger.

Import everything from `apps.bookings.services`; by module:
- `booking`: `booking_create`, `booking_cancel`, `booking_mark_attendance`,
  `session_closed_reason` (rules 1-2, no query: for "can book" flags);
- `waitlist`: `waitlist_promote`;
- `sessions`: `session_bookings_cancel`, `bookings_mark_no_shows`;
- `eligibility`: the member-side rules 3-5, shared by booking and promotion;
- `_common`: the gym, the session lock, counts, renumbering, notifications;
- `apps.bookings.credits` (re-exported): `credits_summary`, `credit_adjust`,
  `credits_expire_due`, `credit_allowance_period`, `CreditSummary`, `CreditBucket`.

Conventions:
- Every service is keyword-only and `@transaction.atomic`; a broken rule raises
  `BookingError` (errors.py, with the codes) before anything is written.
- `now` (aware datetime) defaults to `timezone.now()`; gym-local dates come from the
  current gym's timezone (`connection.tenant`; run inside `tenant_context(gym)`).
- Lock order, the same everywhere so booking transactions never deadlock: the class
  session row first (whoever holds it owns that session's booking rows), then the
  memberships (credit buckets) in one statement in id order
  (`apps.bookings.credits.memberships_lock`). Only attendance marking locks a booking
  row without the session, and it takes no other lock. The nightly expiry takes one
  membership lock per transaction.
- Notifications are rows recorded in the same transaction (sent later by the
  notifications issue), with one idempotency key per booking and kind:
  `booking_confirmed`, `waitlist_joined`, `waitlist_promoted`, `waitlist_removed`,
  `session_cancelled`.

Booking statuses: confirmed and waitlisted are active; cancelled, late_cancelled,
attended and no_show are final except that attended and no_show may be swapped to
correct a mistake.

    (new) -> confirmed | waitlisted                       booking_create
    waitlisted -> confirmed                               waitlist_promote (credits spent then)
    waitlisted -> cancelled                               cancel, removed by promotion, session
                                                          cancelled, or the class took place
    confirmed -> cancelled | late_cancelled               booking_cancel (before the start)
    confirmed -> cancelled                                session_bookings_cancel (refunded)
    confirmed | attended | no_show -> attended | no_show  booking_mark_attendance
    confirmed -> no_show                                  bookings_mark_no_shows (after the end)
"""

from ..credits import (
    CreditBucket,
    CreditSummary,
    credit_adjust,
    credit_allowance_period,
    credits_expire_due,
    credits_summary,
)
from ._common import ATTENDANCE_OPENS_BEFORE, HOLDING_STATUSES, SPOT_STATUSES
from .booking import booking_cancel, booking_create, booking_mark_attendance, session_closed_reason
from .sessions import bookings_mark_no_shows, session_bookings_cancel
from .waitlist import waitlist_promote

__all__ = [
    "ATTENDANCE_OPENS_BEFORE",
    "HOLDING_STATUSES",
    "SPOT_STATUSES",
    "CreditBucket",
    "CreditSummary",
    "booking_cancel",
    "booking_create",
    "booking_mark_attendance",
    "bookings_mark_no_shows",
    "credit_adjust",
    "credit_allowance_period",
    "credits_expire_due",
    "credits_summary",
    "session_bookings_cancel",
    "session_closed_reason",
    "waitlist_promote",
]
