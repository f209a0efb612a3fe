"""Forms of the notification pages: the log's search and filters, and the gym's
messaging settings.

The settings form applies the same checks as `preferences.messaging_settings_update`
(`*_check`), field by field, so every bad field shows its error at once; the service
checks again. Credentials (the Twilio auth token and the FCM service-account key) are
write-only: their inputs are always rendered empty, a blank input keeps the stored
value and a "remove" box clears it; the page shows only whether one is stored and how
it ends (`credential_hints`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms

from apps.core.errors import DomainError
from apps.core.forms import DateRangeForm

from . import preferences
from .errors import NotificationError
from .models import Category, Channel, MessagingSettings, Notification
from .selectors import notification_kind_choices

PAGE_SIZE = 50
"""Rows per page of the notification log."""
MEMBER_TAB_PAGE_SIZE = 25
"""Rows per page of the member page's Notifications tab."""


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _ends_in(secret: str) -> str:
    return f"…{secret[-4:]}" if len(secret) > 8 else "…"


class ServiceErrorMixin:
    """`add_service_error(exc)`: show a service's `DomainError` on its field (or the form)."""

    def add_service_error(self, exc: DomainError) -> None:
        """Put `exc.message` on `exc.field` when the form has that field, else on the form."""
        fields = self.fields  # type: ignore[attr-defined]
        target = exc.field if exc.field in fields else None
        self.add_error(target, forms.ValidationError(exc.message, code=exc.code))  # type: ignore[attr-defined]


class NotificationFilterForm(DateRangeForm):
    """The log's search and filters (all optional, from the query string). A bad value
    is shown on its field and that filter alone is left out."""

    q = forms.CharField(
        required=False,
        max_length=100,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Member name or email, or kind"}),
    )
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Notification.Status.choices], label="Status"
    )
    channel = forms.ChoiceField(required=False, choices=[("", "Any channel"), *Channel.choices], label="Channel")
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind")], label="Kind")
    category = forms.ChoiceField(required=False, choices=[("", "Any category"), *Category.choices], label="Category")
    created_from = forms.DateField(required=False, label="From", widget=_date_widget())
    created_to = forms.DateField(required=False, label="To", widget=_date_widget())
    member = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput, label="Member id")
    date_range = ("created_from", "created_to")
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "Any kind"), *notification_kind_choices()]  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `selectors.notification_log` (bad fields left out)."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "query": data.get("q") or "",
            "status": data.get("status") or "",
            "channel": data.get("channel") or "",
            "kind": data.get("kind") or "",
            "category": data.get("category") or "",
            "created_from": data.get("created_from"),
            "created_to": data.get("created_to"),
            "member_id": data.get("member"),
        }

    def page_number(self) -> int:
        """The page asked for (1 when absent or bad)."""
        self.is_valid()
        return self.cleaned_data.get("page") or 1

    def is_filtered(self) -> bool:
        """True when any filter is on."""
        return any(self.filters().values())


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value (not even the one just posted): for secrets."""

    def format_value(self, value: Any) -> None:
        return None


def _checked(check: Callable[[Any], Any], value: Any) -> Any:
    """`check(value)`, its `NotificationError` turned into the field's ValidationError."""
    try:
        return check(value)
    except NotificationError as exc:
        raise forms.ValidationError(exc.message, code=exc.code) from exc


class MessagingSettingsForm(ServiceErrorMixin, forms.Form):
    """The gym's messaging settings (`MessagingSettings`): the email sender's name and
    reply-to address, the class reminder lead time (minutes), Twilio (account SID,
    auth token, SMS and WhatsApp senders, WhatsApp templates as JSON) and FCM (project
    id, service-account JSON key)."""

    CREDENTIALS = ("twilio_auth_token", "fcm_service_account")

    sender_name = forms.CharField(
        label="Sender name",
        max_length=80,
        required=False,
        help_text="Shown as the sender of emails. Empty: the gym's name.",
    )
    reply_to = forms.EmailField(
        label="Reply-to address", required=False, help_text="Where members' replies to emails go."
    )
    class_reminder_minutes = forms.IntegerField(
        label="Class reminder (minutes before)",
        widget=forms.NumberInput(
            attrs={"min": preferences.REMINDER_MINUTES_MIN, "max": preferences.REMINDER_MINUTES_MAX, "step": 5}
        ),
        help_text=f"Between {preferences.REMINDER_MINUTES_MIN} minutes and "
        f"{preferences.REMINDER_MINUTES_MAX // 60} hours (e.g. 120 = two hours before the class).",
    )
    twilio_account_sid = forms.CharField(
        label="Twilio account SID", max_length=64, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    twilio_auth_token = forms.CharField(
        label="Twilio auth token",
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave blank to keep the stored token.",
    )
    clear_twilio_auth_token = forms.BooleanField(label="Remove the stored auth token", required=False)
    sms_from = forms.CharField(
        label="SMS sender",
        max_length=32,
        required=False,
        help_text="A Twilio number (+14155238886) or a sender name of up to 11 letters and digits.",
    )
    whatsapp_from = forms.CharField(
        label="WhatsApp sender",
        max_length=40,
        required=False,
        help_text="The WhatsApp number in Twilio (+14155238886).",
    )
    whatsapp_templates = forms.CharField(
        label="WhatsApp templates",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text='JSON: notification kind to approved Content SID, e.g. {"class_reminder": "HX…"}.',
    )
    fcm_project_id = forms.CharField(
        label="Firebase project id", max_length=120, required=False, help_text="Empty: taken from the key file."
    )
    fcm_service_account = forms.CharField(
        label="Firebase service-account key (JSON)",
        required=False,
        widget=WriteOnlyTextarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Paste the whole key file. Leave blank to keep the stored key.",
    )
    clear_fcm_service_account = forms.BooleanField(label="Remove the stored key", required=False)

    @staticmethod
    def initial_for(settings: MessagingSettings) -> dict[str, Any]:
        """The form's initial values from `settings`, credentials left out."""
        return {
            "sender_name": settings.sender_name,
            "reply_to": settings.reply_to,
            "class_reminder_minutes": settings.class_reminder_minutes,
            "twilio_account_sid": settings.twilio_account_sid,
            "sms_from": settings.sms_from,
            "whatsapp_from": settings.whatsapp_from,
            "whatsapp_templates": json.dumps(settings.whatsapp_templates, indent=2, sort_keys=True)
            if settings.whatsapp_templates
            else "",
            "fcm_project_id": settings.fcm_project_id,
        }

    @staticmethod
    def credential_hints(settings: MessagingSettings) -> dict[str, str]:
        """What the page says of each stored credential, never the value: "Set, ends in
        …abcd" or "Not set" (the key file: its service account's email and the last
        characters of its key id)."""
        hints = {"twilio_auth_token": "Not set", "fcm_service_account": "Not set"}
        if settings.twilio_auth_token:
            hints["twilio_auth_token"] = f"Set, ends in {_ends_in(settings.twilio_auth_token)}"
        if settings.fcm_service_account:
            try:
                info = json.loads(settings.fcm_service_account)
            except ValueError:
                info = {}
            email = info.get("client_email", "") if isinstance(info, dict) else ""
            key_id = info.get("private_key_id", "") if isinstance(info, dict) else ""
            hints["fcm_service_account"] = (
                "Set" + (f" for {email}" if email else "") + (f", key id ends in {_ends_in(key_id)}" if key_id else "")
            )
        return hints

    def clean_class_reminder_minutes(self) -> int:
        return int(_checked(preferences.reminder_minutes_check, self.cleaned_data["class_reminder_minutes"]))

    def clean_twilio_account_sid(self) -> str:
        return str(_checked(preferences.twilio_account_sid_check, self.cleaned_data["twilio_account_sid"]))

    def clean_sms_from(self) -> str:
        return str(_checked(preferences.sms_sender_check, self.cleaned_data["sms_from"]))

    def clean_whatsapp_from(self) -> str:
        return str(_checked(preferences.whatsapp_sender_check, self.cleaned_data["whatsapp_from"]))

    def clean_whatsapp_templates(self) -> dict[str, str]:
        text = self.cleaned_data["whatsapp_templates"].strip()
        if not text:
            return {}
        try:
            templates = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError("This is not valid JSON.", code="invalid_setting") from exc
        return dict(_checked(preferences.whatsapp_templates_check, templates))

    def clean_fcm_service_account(self) -> str:
        text = self.cleaned_data["fcm_service_account"].strip()
        if text:
            _checked(preferences.service_account_check, text)
        return str(text)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in self.CREDENTIALS:
            if cleaned.get(f"clear_{name}") and cleaned.get(name):
                self.add_error(f"clear_{name}", "Enter a new value or remove the stored one, not both.")
        return cleaned

    def service_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `preferences.messaging_settings_update`: each credential
        None (keep; left blank), "" (remove) or its new value."""
        data = self.cleaned_data
        kwargs = {
            name: data[name]
            for name in (
                "sender_name",
                "reply_to",
                "class_reminder_minutes",
                "twilio_account_sid",
                "sms_from",
                "whatsapp_from",
                "whatsapp_templates",
                "fcm_project_id",
            )
        }
        for name in self.CREDENTIALS:
            kwargs[name] = "" if data.get(f"clear_{name}") else (data.get(name) or None)
        return kwargs
