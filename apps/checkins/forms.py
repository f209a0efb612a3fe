"""Forms of the front desk: the scan box (a QR token from a scanner or camera, or a
name / phone typed by hand), the live search, and a manager's override. They validate
input only; the check-in rules live in `services`."""

from __future__ import annotations

from django import forms

from .errors import REFUSALS

TOKEN_MIN_LENGTH = 40
"""Text longer than this with no space in it is a scanned token, never a name."""
MAX_SCAN_LENGTH = 512
"""`qr.qr_identify` refuses anything longer; so does the form."""
OVERRIDABLE_CODES = ("no_active_membership", "membership_frozen", "payment_overdue", "outside_access_hours")
"""Refusals a manager may override (membership rules). `unknown_code` names nobody and
`already_checked_in` is anti-passback, which an override does not lift."""


def looks_like_token(text: str) -> bool:
    """True when `text` is a scanned QR token rather than a name or phone search: no
    whitespace, and longer than 40 characters or holding a `:` (every
    `django.core.signing` token does; names, phones and emails do not)."""
    text = text.strip()
    if not text or any(ch.isspace() for ch in text):
        return False
    return len(text) > TOKEN_MIN_LENGTH or ":" in text


class DeskScanForm(forms.Form):
    """`POST /check-in/scan/`: what the scanner (or the receptionist) typed, then Enter."""

    q = forms.CharField(
        max_length=MAX_SCAN_LENGTH,
        label="Scan a QR code or type a name or phone",
        error_messages={
            "required": "Scan a QR code or type a member's name or phone.",
            "max_length": "That is too long for a QR code or a name.",
        },
    )

    def is_token(self) -> bool:
        """True when the cleaned text is a QR token (see `looks_like_token`)."""
        return looks_like_token(self.cleaned_data["q"])


class DeskSearchForm(forms.Form):
    """`GET /check-in/?q=`: the live name / phone search under the scan box."""

    q = forms.CharField(required=False, max_length=100)

    def query(self) -> str:
        """The search words, or "" for none, bad input or a scanned token (a scanner
        types faster than the search debounce, but never search for a token)."""
        if not self.is_bound or not self.is_valid():
            return ""
        text = str(self.cleaned_data["q"]).strip()
        return "" if looks_like_token(text) else text


class OverrideForm(forms.Form):
    """A manager lets a refused member in anyway; the reason is kept with the check-in.
    `code` is the refusal shown on the panel (only used to redraw it on an error; the
    service records the code it actually overrode)."""

    reason = forms.CharField(
        max_length=255,
        label="Reason for the override",
        help_text="Kept with the check-in, e.g. “paid cash at the desk”.",
        error_messages={"required": "Give a reason for letting this member in."},
    )

    def refusal_code(self) -> str:
        """The refusal the panel showed, if it is one that can be overridden, else ""."""
        code = self.data.get("code", "")
        return code if code in OVERRIDABLE_CODES and code in REFUSALS else ""
