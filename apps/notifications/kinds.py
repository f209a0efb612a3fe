"""Every kind of notification FitFlow sends: its category and how it is triggered.

Immediate kinds are recorded by the service that made the change, in its transaction
(`notification_record`), and sent once it commits. Scheduled kinds are recorded by the
beat dispatchers in `apps.notifications.schedules`, per gym, in the gym's timezone.
Templates live under `templates/notifications/<channel>/<kind>...` (see `rendering`).

Categories (what a member can switch off):
- transactional: about the member's account, bookings and money; cannot be switched
  off (falls back to email) and ignores quiet hours;
- reminders: helpful nudges; on by default, can be switched off;
- marketing: opt-in (off by default). Birthday greetings are reminders (a greeting,
  not an offer); re-engagement ("we miss you") is marketing, as Mindbody and Glofox
  class win-back campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Category


@dataclass(frozen=True)
class Kind:
    """A notification kind: its `category` and whether it is `scheduled` (by beat) or
    sent as soon as the change that caused it commits. `stale_after_minutes`: a
    scheduled message held back by quiet hours is suppressed (reason `stale`) instead
    when that long has passed since it was due (a class reminder after the class)."""

    name: str
    category: str
    scheduled: bool = False
    stale_after_minutes: int | None = None


KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        # immediate
        Kind("welcome", Category.TRANSACTIONAL),
        Kind("app_invite", Category.TRANSACTIONAL),
        Kind("booking_confirmed", Category.TRANSACTIONAL),
        Kind("booking_cancelled", Category.TRANSACTIONAL),
        Kind("waitlist_joined", Category.TRANSACTIONAL),
        Kind("waitlist_promoted", Category.TRANSACTIONAL),
        Kind("waitlist_removed", Category.TRANSACTIONAL),
        Kind("session_cancelled", Category.TRANSACTIONAL),
        Kind("invoice_issued", Category.TRANSACTIONAL),
        Kind("payment_received", Category.TRANSACTIONAL),
        Kind("payment_failed", Category.TRANSACTIONAL),
        Kind("invoice_overdue", Category.TRANSACTIONAL),
        Kind("membership_frozen", Category.TRANSACTIONAL),
        Kind("membership_unfrozen", Category.TRANSACTIONAL),
        # scheduled
        Kind("class_reminder", Category.REMINDERS, scheduled=True, stale_after_minutes=0),
        Kind("membership_expiring", Category.REMINDERS, scheduled=True),
        Kind("renewal_upcoming", Category.REMINDERS, scheduled=True),
        Kind("invoice_overdue_reminder", Category.TRANSACTIONAL, scheduled=True),
        Kind("birthday", Category.REMINDERS, scheduled=True, stale_after_minutes=12 * 60),
        Kind("re_engagement", Category.MARKETING, scheduled=True),
    ]
}


def kind_category(kind: str) -> str:
    """The category of `kind`; unknown kinds are transactional (never silently dropped)."""
    found = KINDS.get(kind)
    return found.category if found else Category.TRANSACTIONAL
