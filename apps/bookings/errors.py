"""Errors raised by the booking engine and the credit ledger. `code` is stable (the API
returns it as `error.code`); `message` is a sentence for the member or the desk;
`field` names the input when the error belongs to one.

`booking_create` checks its rules in this order and raises the first one broken:
1. `session_not_bookable`: the session is not scheduled (cancelled or completed) or
   has already started.
2. `booking_window_closed`: the session starts more than its booking window ahead.
3. `no_valid_membership`: no active membership covers the session's date, may book
   this class (`GymClass.allowed_plans`) and allows its start time (plan access hours).
4. `already_booked`: the member holds an active (or attended/no-show) booking for this
   session; `booking_conflict`: they hold a confirmed booking that overlaps it in time.
5. `insufficient_credits`: no eligible membership has the class's credits left.
6. `class_full`: no spot left and the member did not ask to join the waitlist.

Other codes:
- `session_not_found`, `booking_not_found`: the id is not in the current gym's schema
  (e.g. an id of another gym).
- `booking_not_cancellable`: the booking is already cancelled, late-cancelled, attended
  or a no-show, or its session has started.
- `attendance_not_allowed`: the booking is not confirmed/attended/no-show, the session
  was cancelled, or attendance opens later (30 minutes before the start).
- `invalid_amount`: a credit adjustment of 0.
- `unlimited_membership`: a credit adjustment on a membership with unlimited classes.
- `credits_expired`: adding credits to a bucket that has expired.
- `insufficient_credits` (again): an adjustment that would take a balance below 0.
"""

from __future__ import annotations

from apps.core.errors import DomainError


class BookingError(DomainError):
    """A booking or credit rule was broken. Nothing was changed when it is raised."""
