"""Errors and refusal codes of the front desk.

A refused check-in is not an exception: `checkin_create` returns a `CheckInResult`
with `allowed=False` and one of the codes below, so the desk can still show who was
refused. The codes, in the order the rules run (`REFUSALS` holds the sentences):

- `unknown_code`: the QR token is forged, expired (a rotating member code lives 60 s),
  revoked, or from another gym.
- `no_active_membership`: no current membership covers today.
- `membership_frozen`: the only memberships covering today are frozen.
- `payment_overdue`: past due for longer than the gym's `payment_grace_days`.
- `outside_access_hours`: an active membership, but its plan's access hours exclude now.
- `already_checked_in`: an open check-in younger than the gym's
  `checkin_repeat_minutes` (anti-passback: a card handed back over the barrier).

`CheckInError` is raised for misuse that is nobody's visit: `override_reason_required`,
`override_not_allowed` (below manager), `member_not_found`, `check_in_not_found`,
`already_checked_out`, `card_not_found`.
"""

from __future__ import annotations

from apps.core.errors import DomainError

REFUSALS = {
    "unknown_code": "This code is not valid here. Ask the member to refresh the QR in the app.",
    "no_active_membership": "No active membership.",
    "membership_frozen": "The membership is frozen.",
    "payment_overdue": "Payment is overdue.",
    "outside_access_hours": "The plan does not allow entry at this time.",
    "already_checked_in": "Already checked in.",
}


class CheckInError(DomainError):
    """A front-desk request that cannot be carried out. Nothing was changed."""
