"""The public schema's side of Stripe (DESIGN.md 7): the log of webhook deliveries (by
event id, so each event is handled once), each gym's Stripe standing as last reported by
Stripe, and the gym as dj-stripe's subscriber for FitFlow's own billing.

No member data is kept here: a Connect event is only routed to its gym's schema, where
`apps.invoices` applies it (and records it again, by id, in the gym's `StripeEvent`).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.tenants.models import Gym


class GymSubscriber(Gym):
    """A gym as dj-stripe's subscriber (`DJSTRIPE_SUBSCRIBER_MODEL`): FitFlow bills it
    for its tier on the platform account.

    A proxy (no table of its own): dj-stripe requires its subscriber model to have an
    `email`, which for a gym is where FitFlow sends its bills. `djstripe.Customer.subscriber`
    points at the gym's row in `tenants_gym`.
    """

    class Meta:
        proxy = True
        verbose_name = _("gym (FitFlow subscriber)")
        verbose_name_plural = _("gyms (FitFlow subscribers)")

    @property
    def email(self) -> str:
        """The gym's billing address, else "" (Stripe then has no email for the customer)."""
        return self.billing_email


class StripeWebhookEvent(models.Model):
    """One Stripe event received by a webhook, by event id (evt_...).

    Written in the same transaction as the event's effect, so a delivery repeated by
    Stripe (it retries for up to 3 days) or replayed finds the row and changes nothing.
    `processed_at` is set once the event is fully handled here: applied in public, or
    handed to the gym's task queue (after commit). A row without it is handled again on
    the next delivery; `error` says why the last attempt did not finish.

    Times are Stripe's (`created`) and ours (`received_at`, `processed_at`), UTC.
    The payload is not kept: a Connect event carries a gym's member data, which belongs
    in that gym's schema only.
    """

    class Endpoint(models.TextChoices):
        PLATFORM = "platform", _("Platform")
        CONNECT = "connect", _("Connect")

    class Outcome(models.TextChoices):
        RECEIVED = "received", _("Received")
        ROUTED = "routed", _("Routed to the gym")
        APPLIED = "applied", _("Applied")
        STALE = "stale", _("Older than what is known (ignored)")
        IGNORED = "ignored", _("Not used by FitFlow")
        UNKNOWN_ACCOUNT = "unknown_account", _("No gym has this Stripe account")
        UNKNOWN_CUSTOMER = "unknown_customer", _("No gym is this Stripe customer")

    id = models.CharField(max_length=255, primary_key=True)
    endpoint = models.CharField(max_length=10, choices=Endpoint.choices)
    type = models.CharField(max_length=250)
    account = models.CharField(max_length=255, blank=True, help_text=_("Connected account (acct_...), if any."))
    livemode = models.BooleanField(default=False)
    created = models.DateTimeField(help_text=_("When Stripe created the event."))
    gym = models.ForeignKey(Gym, null=True, blank=True, on_delete=models.SET_NULL, related_name="stripe_webhook_events")
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RECEIVED)
    deliveries = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["account", "-created"], name="billing_webhook_account_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class GymStripeState(models.Model):
    """What Stripe last told the platform about one gym, and as of when.

    - FitFlow's own billing of the gym: `subscription_id` and its Stripe status
      (trialing, active, past_due, unpaid, canceled, incomplete, incomplete_expired,
      paused), and `billing_as_of`, the Stripe `created` time of the newest event (or
      sync) applied. An older event arriving later (Stripe does not keep order) changes
      nothing.
    - The gym's Connect account: `account_as_of`, the same for `account.updated`, which
      sets `Gym.stripe_charges_enabled`.

    The gym's unpaid date and status live on `Gym` (`platform_unpaid_since`, `status`).
    """

    gym = models.OneToOneField(Gym, primary_key=True, on_delete=models.CASCADE, related_name="stripe_state")
    subscription_id = models.CharField(max_length=255, blank=True)
    subscription_status = models.CharField(max_length=20, blank=True)
    billing_as_of = models.DateTimeField(null=True, blank=True)
    account_as_of = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("gym Stripe state")

    def __str__(self) -> str:
        return f"{self.gym_id}: {self.subscription_status or 'no subscription'}"
