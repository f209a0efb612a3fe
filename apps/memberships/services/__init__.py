"""Writes to memberships: assign, freeze, unfreeze, cancel, renew, change plan, and the
daily expiry job (`membership_expire_due`).

The package, by module (import from `apps.memberships.services`, which re-exports
every public name below):
- `lifecycle`: `membership_assign`, `membership_renew`, `membership_freeze`,
  `membership_unfreeze`, `membership_cancel`, and `MAX_FREEZE_DAYS`;
- `proration`: `ProrationQuote`, `membership_change_plan_quote`,
  `membership_change_plan`;
- `expiry`: `membership_expire_due`, the daily job;
- `_common`: what they share: `money`, `billing_period_delta`, `CENT`, the row lock,
  event writing and membership creation.

Conventions, for every service here:
- Dates are gym-local `datetime.date`s. `today` defaults to `timezone.localdate()`,
  the timezone activated for the request or task, which is the gym's (DESIGN.md 6).
- Money is `Decimal` in the gym's currency, quantized to 0.01 (the minor unit of the
  currencies we support) with ROUND_HALF_UP.
- A service locks the membership row (`SELECT ... FOR UPDATE`) before it reads the
  state it checks, so concurrent changes to one membership run one after the other.
  It returns the updated membership as a fresh instance; the instance passed in is
  left as it was, so use the return value.
- A broken rule raises `MembershipError` (errors.py) before anything is written.
- Every change writes a `MembershipEvent` with the actor (None for the daily job),
  the reason and the dates it moved: the audit trail the issue asks for.

Statuses and the transitions allowed (anything else is `transition_not_allowed`):

    active   -> frozen (freeze starting today, or the daily job on a scheduled start)
    frozen   -> active (unfreeze by hand, or the daily job after the freeze's last day)
    active, frozen, past_due -> cancelled (cancel immediately; change plan ends the old one)
    active, frozen, past_due -> expired (the daily job, after end_date)
    cancelled, expired: final. A member comes back through assign (or renew, for expired).
`past_due` is set by billing (issue 6), not here.
"""

from ._common import CENT, billing_period_delta, freeze_notices, money
from .expiry import membership_expire_due
from .lifecycle import (
    MAX_FREEZE_DAYS,
    membership_assign,
    membership_cancel,
    membership_freeze,
    membership_renew,
    membership_unfreeze,
)
from .proration import ProrationQuote, membership_change_plan, membership_change_plan_quote

__all__ = [
    "CENT",
    "MAX_FREEZE_DAYS",
    "ProrationQuote",
    "billing_period_delta",
    "freeze_notices",
    "membership_assign",
    "membership_cancel",
    "membership_change_plan",
    "membership_change_plan_quote",
    "membership_expire_due",
    "membership_freeze",
    "membership_renew",
    "membership_unfreeze",
    "money",
]
