"""The gym's own billing settings, and connecting its Stripe account (Connect Standard).

Settings (all on `Gym`, in the public schema): the legal details printed on invoices,
the default tax, the invoice prefix and due days, the dunning retries and final action,
the billing hour and the billing email. `gym_billing_settings_update` checks them all
before writing any (the settings form calls `dunning_retry_days_parse` for its field
error too), and raises `GymError` on the field that is wrong.

Stripe Connect (Standard accounts: the gym owns its Stripe account, its customers and
its cards; DESIGN.md 7): `gym_stripe_connect_link` creates the gym's account once
(stored on `Gym.stripe_account_id`) and returns a one-time Stripe onboarding URL;
`gym_stripe_connect_refresh` reads the account back when the owner returns and stores
`Gym.stripe_charges_enabled` (the `account.updated` webhook keeps it current later).
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal

from apps.tenants.errors import GymError
from apps.tenants.models import Gym

from .. import stripe_api

DUNNING_MAX_RETRIES = 5
"""At most this many card retries after the first failed charge."""
DUNNING_MAX_DAY = 60
"""A retry is at most this many days after the first failure."""
BILLING_LIMITS: dict[str, tuple[int, int]] = {
    "invoice_due_days": (0, 365),  # days after issue
    "billing_hour": (0, 23),  # gym-local hour
}
"""Ranges (inclusive) of the whole-number billing settings."""
PREFIX_RE = re.compile(r"^[A-Z0-9]{1,12}$")
RESERVED_PREFIXES = frozenset({"CN"})
"""Credit notes are numbered `CN-<year>-<n>`; an invoice prefix must not look like one."""


def dunning_retry_days_parse(text: str) -> list[int]:
    """Parse the dunning retry days, e.g. "1,3,5" -> [1, 3, 5]: days after the first
    failed charge on which the card is tried again. They must be whole numbers from 1 to
    `DUNNING_MAX_DAY`, strictly ascending, one to `DUNNING_MAX_RETRIES` of them (Stripe's
    Smart Retries make up to 8 attempts within 2 months; Glofox and Mindbody retry a few
    times within the first week). Spaces are ignored.

    Raises `GymError("invalid_dunning_days", field="dunning_retry_days")`.
    """
    parts = [p.strip() for p in (text or "").split(",")]
    if parts == [""]:
        raise GymError("invalid_dunning_days", "Enter at least one retry day, e.g. 1,3,5.", "dunning_retry_days")
    days: list[int] = []
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= DUNNING_MAX_DAY:
            raise GymError(
                "invalid_dunning_days",
                f"“{part}” is not a day from 1 to {DUNNING_MAX_DAY}. Enter days like 1,3,5.",
                "dunning_retry_days",
            )
        days.append(int(part))
    if len(days) > DUNNING_MAX_RETRIES:
        raise GymError(
            "invalid_dunning_days",
            f"At most {DUNNING_MAX_RETRIES} retries (you entered {len(days)}).",
            "dunning_retry_days",
        )
    if any(b <= a for a, b in itertools.pairwise(days)):
        raise GymError(
            "invalid_dunning_days",
            "Put the retry days in ascending order, each once, e.g. 1,3,5.",
            "dunning_retry_days",
        )
    return days


def invoice_prefix_clean(prefix: str) -> str:
    """The invoice number prefix upper-cased: 1-12 letters or digits, not "CN" (credit
    notes). Raises `GymError("invalid_prefix", field="invoice_prefix")`."""
    prefix = (prefix or "").strip().upper()
    if not PREFIX_RE.match(prefix):
        raise GymError("invalid_prefix", "Use 1 to 12 letters or digits, e.g. INV.", "invoice_prefix")
    if prefix in RESERVED_PREFIXES:
        raise GymError("invalid_prefix", f"“{prefix}” is used for credit notes; choose another.", "invoice_prefix")
    return prefix


def gym_billing_settings_update(
    *,
    gym: Gym,
    legal_name: str,
    address: str,
    tax_number: str,
    tax_rate: Decimal,
    prices_include_tax: bool,
    invoice_prefix: str,
    invoice_due_days: int,
    dunning_retry_days: str,
    dunning_final_action: str,
    billing_hour: int,
    billing_email: str,
) -> Gym:
    """Save the gym's billing settings.

    - `legal_name`, `address`, `tax_number`: printed on new invoices (issued invoices keep
      their snapshot);
    - `tax_rate` (percent, 0-100, two places) and `prices_include_tax`: the default for
      items without a plan's own rate;
    - `invoice_prefix` (see `invoice_prefix_clean`): numbers read PREFIX-YEAR-000123; the
      sequence goes on across a change of prefix, so numbers stay gapless;
    - `invoice_due_days` (0-365): days after issue an invoice paid by hand falls due;
    - `dunning_retry_days` (see `dunning_retry_days_parse`), stored normalised ("1,3,5");
    - `dunning_final_action`: `Gym.DunningFinalAction` (cancel or freeze);
    - `billing_hour` (0-23, gym-local): when the daily billing run starts;
    - `billing_email`: where FitFlow sends the gym's own bills.

    Raises `GymError` (codes `out_of_range`, `invalid_prefix`, `invalid_dunning_days`,
    `invalid_choice`, each on its field); nothing is saved then. Returns the gym.
    """
    days = dunning_retry_days_parse(dunning_retry_days)
    prefix = invoice_prefix_clean(invoice_prefix)
    if not Decimal("0") <= tax_rate <= Decimal("100"):
        raise GymError("out_of_range", "Enter a rate from 0 to 100 percent.", "tax_rate")
    for name, value in (("invoice_due_days", invoice_due_days), ("billing_hour", billing_hour)):
        low, high = BILLING_LIMITS[name]
        if not low <= value <= high:
            raise GymError("out_of_range", f"Enter a whole number from {low} to {high}.", name)
    if dunning_final_action not in Gym.DunningFinalAction.values:
        raise GymError("invalid_choice", "Choose cancel or freeze.", "dunning_final_action")
    changes: dict[str, object] = {
        "legal_name": legal_name.strip(),
        "address": address.strip(),
        "tax_number": tax_number.strip(),
        "tax_rate": tax_rate.quantize(Decimal("0.01")),
        "prices_include_tax": prices_include_tax,
        "invoice_prefix": prefix,
        "invoice_due_days": invoice_due_days,
        "dunning_retry_days": ",".join(str(d) for d in days),
        "dunning_final_action": dunning_final_action,
        "billing_hour": billing_hour,
        "billing_email": billing_email.strip(),
    }
    for name, new in changes.items():
        setattr(gym, name, new)
    gym.save(update_fields=list(changes))
    return gym


def gym_stripe_connect_link(*, gym: Gym, email: str, refresh_url: str, return_url: str) -> str:
    """The Stripe onboarding URL for the gym's Connect Standard account (Stripe-hosted;
    one-time, valid for a few minutes; Stripe sends the owner to `refresh_url` when it
    has expired and to `return_url` when they are done).

    The account is created on first use with the gym's `country` and `email` (the
    owner's, or the billing email), under the idempotency key `<schema>-connect-account`:
    two clicks at once get the same account from Stripe. Its id is stored on
    `Gym.stripe_account_id` only while that is empty, so an account once stored is never
    replaced.

    Raises `GymError`: `country_required` (Stripe needs the gym's country; field
    `country`), `stripe_unavailable` (Stripe could not be reached; nothing changed).
    """
    if not gym.stripe_account_id:
        if not gym.country:
            raise GymError("country_required", "Set the gym's country first: Stripe needs it.", "country")
        try:
            account = stripe_api.account_create_standard(
                email=email, country=str(gym.country), idempotency_key=f"{gym.schema_name}-connect-account"
            )
        except stripe_api.StripeUnavailable as exc:
            raise GymError("stripe_unavailable", "Stripe could not be reached. Try again in a minute.") from exc
        Gym.objects.filter(pk=gym.pk, stripe_account_id="").update(stripe_account_id=account)
        gym.stripe_account_id = Gym.objects.values_list("stripe_account_id", flat=True).get(pk=gym.pk)
    try:
        return stripe_api.account_link_create(
            account=gym.stripe_account_id, refresh_url=refresh_url, return_url=return_url
        )
    except stripe_api.StripeUnavailable as exc:
        raise GymError("stripe_unavailable", "Stripe could not be reached. Try again in a minute.") from exc


def gym_stripe_connect_refresh(*, gym: Gym) -> dict[str, bool]:
    """Read the gym's Stripe account and store whether it may take charges
    (`Gym.stripe_charges_enabled`), e.g. when the owner comes back from onboarding.
    Returns {"charges_enabled", "details_submitted"}.

    Raises `GymError`: `stripe_not_connected` (no account yet), `stripe_unavailable`.
    """
    from django.utils import timezone

    from apps.billing.services import gym_connect_account_refresh

    if not gym.stripe_account_id:
        raise GymError("stripe_not_connected", "Connect Stripe first.")
    try:
        # The same write as the account.updated webhook, with its out-of-order guard.
        account = gym_connect_account_refresh(gym=gym, now=timezone.now())
    except stripe_api.StripeUnavailable as exc:
        raise GymError("stripe_unavailable", "Stripe could not be reached. Try again in a minute.") from exc
    return {"charges_enabled": gym.stripe_charges_enabled, "details_submitted": bool(account["details_submitted"])}
