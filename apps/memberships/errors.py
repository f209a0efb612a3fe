"""Errors raised by membership services. `code` is stable (the API returns it as
`error.code`); `message` is a sentence for staff; `field` names the input when the
error belongs to one.

Codes:
- `plan_archived`: the plan is no longer sold (assign, renew, change plan).
- `member_erased`: the member was erased (GDPR/POPIA) and gets no new contracts.
- `already_has_membership`: a second current recurring membership would overlap the first.
- `transition_not_allowed`: the membership's status does not allow this change
  (e.g. freezing a cancelled membership).
- `freeze_in_past`, `freeze_dates_invalid`, `freeze_too_long`, `freeze_overlaps`,
  `freeze_after_end`: a freeze's dates break a rule.
- `not_frozen`: unfreeze of a membership with no freeze in effect or scheduled.
- `already_renewed`: this term was already renewed.
- `plan_change_invalid`: the new plan cannot replace the current one (same plan,
  not recurring).
- `freeze_scheduled`: a plan change while a freeze is scheduled (call it off first).
"""

from apps.core.errors import DomainError


class MembershipError(DomainError):
    """A membership rule was broken. Nothing was changed when it is raised."""
