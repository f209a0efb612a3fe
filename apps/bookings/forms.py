"""Forms of the desk's booking actions on a session roster: find a member, book them
(or put them on the waitlist), cancel a booking with a reason, mark attendance. They
validate input only; the booking rules live in `services`."""

from __future__ import annotations

from django import forms

from apps.members.models import Member


class MemberSearchForm(forms.Form):
    """The roster's "book a member" search box (`?q=`)."""

    q = forms.CharField(required=False, max_length=100, label="Find a member")

    def query(self) -> str:
        """The cleaned search words ("" for none or bad input)."""
        if not self.is_bound or not self.is_valid():
            return ""
        return str(self.cleaned_data["q"]).strip()


class BookMemberForm(forms.Form):
    """Book a member into the session; `join_waitlist` when the desk saw it full."""

    member = forms.ModelChoiceField(
        queryset=Member.objects.exclude(status=Member.Status.ERASED),
        error_messages={"invalid_choice": "Choose a member from the search results."},
    )
    join_waitlist = forms.BooleanField(required=False)
    q = forms.CharField(required=False, max_length=100)


class BookingCancelForm(forms.Form):
    reason = forms.CharField(max_length=255, label="Reason", help_text="Kept with the booking, e.g. “called the desk”.")


class AttendanceForm(forms.Form):
    """`attended=1` for attended, `attended=0` for a no-show."""

    attended = forms.TypedChoiceField(
        choices=[("1", "Attended"), ("0", "No-show")],
        coerce=lambda value: value == "1",
        error_messages={"invalid_choice": "Choose attended or no-show."},
    )
