"""Forms of the public site (signup, find my gym) and the gym settings page."""

from __future__ import annotations

import zoneinfo
from decimal import Decimal
from typing import Any

from babel.numbers import get_currency_name, list_currencies
from django import forms
from django.contrib.auth.password_validation import validate_password
from django.http import QueryDict
from django_countries import countries

from .errors import GymError
from .models import Gym
from .services import FRONT_DESK_LIMITS, gym_validate_subdomain

COMMON_CURRENCIES = ["USD", "EUR", "GBP", "ZAR", "AUD", "CAD", "NZD", "INR", "KES", "NGN", "BRL", "MXN"]


def timezone_choices() -> list[tuple[str, str]]:
    """Every IANA timezone, sorted, as form choices."""
    return [(tz, tz.replace("_", " ")) for tz in sorted(zoneinfo.available_timezones()) if "/" in tz or tz == "UTC"]


def currency_choices() -> list[tuple[str, str]]:
    """ISO 4217 currencies, the common ones first, labelled "ZAR — South African Rand"."""
    rest = sorted(set(list_currencies()) - set(COMMON_CURRENCIES))
    return [(c, f"{c} — {get_currency_name(c, locale='en')}") for c in COMMON_CURRENCIES + rest]


class GymSignupForm(forms.Form):
    """ "Create your gym": the gym, its subdomain and its owner's login."""

    name = forms.CharField(label="Gym name", max_length=120)
    slug = forms.CharField(label="Subdomain", max_length=40, help_text="Letters, digits and hyphens.")
    owner_email = forms.EmailField(label="Your email")
    password = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    timezone = forms.ChoiceField(label="Timezone", choices=timezone_choices, initial="UTC")
    currency = forms.ChoiceField(label="Currency", choices=currency_choices, initial="USD")

    def clean_slug(self) -> str:
        try:
            return gym_validate_subdomain(slug=self.cleaned_data["slug"])
        except GymError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if password:
            try:
                validate_password(password)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned

    def add_gym_error(self, exc: GymError) -> None:
        """Show a service error on its field (or the whole form)."""
        self.add_error(
            exc.field if exc.field in self.fields else None, forms.ValidationError(exc.message, code=exc.code)
        )


class FindGymForm(forms.Form):
    """ "Find my gym": a search over open gyms by name or subdomain."""

    q = forms.CharField(label="Gym name", required=False, max_length=80)


def _front_desk_field(name: str, label: str, help_text: str) -> forms.IntegerField:
    low, high = FRONT_DESK_LIMITS[name]
    return forms.IntegerField(label=label, min_value=low, max_value=high, help_text=help_text)


class GymSettingsForm(forms.Form):
    """The gym's own settings page: name, timezone, currency, country and logo, the
    front desk (capacity, repeat-scan window, automatic check-out, payment grace), and
    billing (legal details, default tax, invoice prefix and due days, dunning retries
    and final action, billing hour and email; `BILLING_FIELDS`).

    A plain form (not a ModelForm) so an invalid post never touches `request.tenant`.
    A post that leaves a front-desk field out keeps its current value (the initial), and
    so does a post without the billing section (`BILLING_MARKER`) for every billing
    field; one that sends it empty or out of range gets a field error.
    """

    name = forms.CharField(label="Gym name", max_length=120)
    timezone = forms.ChoiceField(choices=timezone_choices)
    currency = forms.ChoiceField(choices=currency_choices)
    country = forms.ChoiceField(choices=lambda: [("", "—"), *list(countries)], required=False)
    logo = forms.ImageField(required=False, help_text="PNG or JPEG, up to 2 MB.")
    remove_logo = forms.BooleanField(required=False, label="Remove the current logo")
    occupancy_capacity = _front_desk_field(
        "occupancy_capacity",
        "Capacity (people)",
        "How many people the gym floor holds. The desk counter turns amber above 85%.",
    )
    checkin_repeat_minutes = _front_desk_field(
        "checkin_repeat_minutes",
        "Repeat scan window (minutes)",
        "A second scan this soon after a check-in is refused as already checked in. 0 turns it off.",
    )
    auto_checkout_hours = _front_desk_field(
        "auto_checkout_hours",
        "Automatic check-out (hours)",
        "Members who leave without checking out are checked out after this many hours.",
    )
    payment_grace_days = _front_desk_field(
        "payment_grace_days",
        "Payment grace (days)",
        "Days a membership with an overdue payment still gets in before check-in is refused.",
    )

    # Billing (issue 6): what invoices print, default tax, numbering and dunning.
    legal_name = forms.CharField(
        label="Legal name", max_length=200, required=False, help_text="Printed on invoices; the gym's name if empty."
    )
    address = forms.CharField(
        label="Address", required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Printed on invoices."
    )
    tax_number = forms.CharField(label="Tax number", max_length=40, required=False, help_text="VAT / GST number.")
    tax_rate = forms.DecimalField(
        label="Default tax rate (%)",
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        help_text="For manual items; each plan has its own rate.",
    )
    prices_include_tax = forms.BooleanField(label="Manual item prices include tax", required=False)
    invoice_prefix = forms.CharField(
        label="Invoice prefix", max_length=12, help_text="Invoice numbers read PREFIX-YEAR-000123."
    )
    invoice_due_days = forms.IntegerField(
        label="Invoice due after (days)",
        min_value=0,
        max_value=365,
        help_text="For invoices paid by hand; card payments are taken on the day.",
    )
    dunning_retry_days = forms.CharField(
        label="Retry a failed card after (days)",
        max_length=40,
        help_text="Days after the first failure, ascending, at most 5, e.g. 1,3,5.",
    )
    dunning_final_action = forms.ChoiceField(label="After the last retry fails", choices=Gym.DunningFinalAction.choices)
    billing_hour = forms.IntegerField(
        label="Billing hour", min_value=0, max_value=23, help_text="Local hour (0-23) the daily billing run starts."
    )
    billing_email = forms.EmailField(
        label="Billing email", required=False, help_text="Where FitFlow sends your gym's own bills."
    )

    MAX_LOGO_BYTES = 2 * 1024 * 1024
    FRONT_DESK_FIELDS = tuple(FRONT_DESK_LIMITS)
    BILLING_FIELDS = (
        "legal_name",
        "address",
        "tax_number",
        "tax_rate",
        "prices_include_tax",
        "invoice_prefix",
        "invoice_due_days",
        "dunning_retry_days",
        "dunning_final_action",
        "billing_hour",
        "billing_email",
    )
    BILLING_MARKER = "billing_section"
    """Posted by the page's Billing section; a post without it keeps the billing settings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        missing = [n for n in self.FRONT_DESK_FIELDS if self.is_bound and n not in self.data and n in self.initial]
        keep_billing = self.is_bound and self.BILLING_MARKER not in self.data
        if keep_billing:
            missing += [n for n in self.BILLING_FIELDS if n not in self.data and n in self.initial]
        if missing:
            data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
            for name in missing:
                value = self.initial[name]
                if isinstance(value, bool):
                    if value:
                        data[name] = "on"
                    continue
                data[name] = str(value)
            self.data = data

    def clean_dunning_retry_days(self) -> str:
        from apps.invoices.services.gym_billing import dunning_retry_days_parse

        try:
            days = dunning_retry_days_parse(self.cleaned_data["dunning_retry_days"])
        except GymError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
        return ",".join(str(d) for d in days)

    def clean_invoice_prefix(self) -> str:
        from apps.invoices.services.gym_billing import invoice_prefix_clean

        try:
            return invoice_prefix_clean(self.cleaned_data["invoice_prefix"])
        except GymError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc

    def clean_logo(self) -> Any:
        logo = self.cleaned_data.get("logo")
        if logo and logo.size > self.MAX_LOGO_BYTES:
            raise forms.ValidationError("The logo must be 2 MB or smaller.")
        return logo

    @classmethod
    def initial_for(cls, gym: Gym) -> dict[str, Any]:
        return {
            "name": gym.name,
            "timezone": gym.timezone,
            "currency": gym.currency,
            "country": str(gym.country or ""),
            **{name: getattr(gym, name) for name in cls.FRONT_DESK_FIELDS},
            **{name: getattr(gym, name) for name in cls.BILLING_FIELDS},
        }

    def front_desk_fields(self) -> list[forms.BoundField]:
        """The front-desk section's fields, for the template."""
        return [self[name] for name in self.FRONT_DESK_FIELDS]

    def billing_fields(self) -> list[forms.BoundField]:
        """The billing section's fields, for the template."""
        return [self[name] for name in self.BILLING_FIELDS]
