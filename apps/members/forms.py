"""Forms of the members pages: the list's filters and bulk actions, the profile form,
CSV import and erasure. They validate input only; services do the writing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from phonenumber_field.formfields import PhoneNumberField

from apps.plans.models import Plan

from .errors import MemberError
from .models import Member
from .selectors import SORTS

PAGE_SIZE = 50


class DateInput(forms.DateInput):
    """A native date picker (the value is ISO `YYYY-MM-DD`)."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class IdListField(forms.Field):
    """Many `name=` values (checked checkboxes) as a list of distinct positive ints."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        try:
            ids = [int(v) for v in value]
        except (TypeError, ValueError) as exc:
            raise ValidationError("Select members from the list.", code="invalid") from exc
        if any(i <= 0 for i in ids):
            raise ValidationError("Select members from the list.", code="invalid")
        return list(dict.fromkeys(ids))


class MemberFilterForm(forms.Form):
    """The members list's search, filters, sort and page (all optional, from the query string)."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Member.Status.choices], label="Status")
    plan = forms.ModelChoiceField(
        required=False, queryset=Plan.objects.order_by("-is_active", "name"), empty_label="Any plan", label="Plan"
    )
    tag = forms.CharField(required=False, max_length=40, label="Tag")
    sort = forms.ChoiceField(required=False, choices=[(s, s) for s in SORTS])
    page = forms.IntegerField(required=False, min_value=1)

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `member_list` (bad values fall back to no filter)."""
        data = self.cleaned_data if self.is_valid() else {}
        plan = data.get("plan")
        return {
            "query": data.get("q") or "",
            "status": data.get("status") or "",
            "plan_id": plan.pk if plan else None,
            "tag": data.get("tag") or "",
            "sort": data.get("sort") or "name",
        }

    def page_number(self) -> int:
        return (self.cleaned_data.get("page") if self.is_valid() else None) or 1

    def is_filtered(self) -> bool:
        filters = self.filters()
        return bool(filters["query"] or filters["status"] or filters["plan_id"] or filters["tag"])


class MemberSelectionForm(forms.Form):
    """The checked rows of the members list (bulk export)."""

    ids = IdListField(required=False)

    def clean_ids(self) -> list[int]:
        ids = self.cleaned_data["ids"]
        if not ids:
            raise ValidationError("Select at least one member.", code="required")
        return ids


class MemberBulkTagForm(MemberSelectionForm):
    """Bulk action: add one tag to the checked members."""

    tag = forms.CharField(max_length=40, label="Tag")


class MemberForm(forms.Form):
    """A member's profile, for create and edit.

    Phones are parsed with the gym's country as the region, so local numbers work.
    `medical_notes` exists only when the user may see it (owner, manager, trainer):
    for anyone else the field is removed, so a posted value is ignored.
    """

    first_name = forms.CharField(max_length=80)
    last_name = forms.CharField(max_length=80, required=False)
    email = forms.EmailField(required=False)
    phone = PhoneNumberField(required=False)
    date_of_birth = forms.DateField(required=False, widget=DateInput, label="Date of birth")
    gender = forms.ChoiceField(required=False, choices=[("", "—"), *Member.Gender.choices])
    address = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    emergency_contact_name = forms.CharField(max_length=120, required=False, label="Emergency contact")
    emergency_contact_phone = PhoneNumberField(required=False, label="Emergency contact phone")
    medical_notes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Medical notes",
        help_text="Seen only by owners, managers and trainers.",
    )
    tags = forms.CharField(
        required=False, max_length=500, help_text="Comma-separated, e.g. student, morning, referral-2026."
    )
    source = forms.ChoiceField(choices=Member.Source.choices, initial=Member.Source.WALK_IN)
    status = forms.ChoiceField(
        choices=[(Member.Status.ACTIVE, "Active"), (Member.Status.INACTIVE, "Inactive")],
        initial=Member.Status.ACTIVE,
    )
    joined_on = forms.DateField(widget=DateInput, label="Joined on")
    staff_notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Staff notes")
    photo = forms.ImageField(required=False, help_text="JPEG or PNG, up to 5 MB. Stored in this gym's own folder.")

    MAX_PHOTO_BYTES = 5 * 1024 * 1024

    def __init__(self, *args: Any, region: str | None, can_see_medical: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        region = region or None
        for name in ("phone", "emergency_contact_phone"):
            label = self.fields[name].label
            self.fields[name] = PhoneNumberField(required=False, region=region, label=label)
            if region:
                self.fields[name].help_text = f"Local ({region}) or international (+…) format."
        if not can_see_medical:
            del self.fields["medical_notes"]

    @classmethod
    def initial_for(cls, member: Member) -> dict[str, Any]:
        """The form's initial values from a saved member."""
        initial = {name: getattr(member, name) for name in cls.base_fields if name != "tags"}
        initial["tags"] = ", ".join(member.tags)
        return initial

    def clean_tags(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        tags = [t.strip() for t in raw.split(",") if t.strip()]
        too_long = [t for t in tags if len(t) > 40]
        if too_long:
            raise ValidationError(f"Tags are at most 40 characters: {too_long[0][:40]}…", code="max_length")
        return tags

    def service_fields(self) -> dict[str, Any]:
        """The cleaned values as keyword arguments for `member_create` / `member_update`."""
        data = dict(self.cleaned_data)
        for name in ("phone", "emergency_contact_phone"):
            data[name] = data.get(name) or ""
        if not data.get("photo"):
            data.pop("photo", None)  # no new upload: keep the current photo
        return data

    def clean_photo(self) -> Any:
        photo = self.cleaned_data.get("photo")
        if photo and photo.size > self.MAX_PHOTO_BYTES:
            raise ValidationError("The photo must be 5 MB or smaller.")
        return photo

    def add_member_error(self, exc: MemberError) -> None:
        """Show a service error on its field, or on the whole form."""
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, ValidationError(exc.message, code=exc.code))


class MemberImportUploadForm(forms.Form):
    """Step 1 of the CSV import: the file."""

    file = forms.FileField(label="CSV file", help_text="UTF-8 CSV with a header row; up to 10 MB.")

    MAX_BYTES = 10 * 1024 * 1024

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise ValidationError("The file is larger than 10 MB.", code="too_large")
        return upload.read()


class MemberImportConfirmForm(forms.Form):
    """Step 2 of the CSV import: the token of the previewed upload."""

    token = forms.RegexField(regex=r"^[A-Za-z0-9_-]{16,64}$", widget=forms.HiddenInput)


class MemberEraseForm(forms.Form):
    """GDPR/POPIA erasure: a reason, and typing the member's name back to confirm."""

    reason = forms.CharField(max_length=255, widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.CharField(max_length=200, label="Type the member's full name to confirm")

    def __init__(self, *args: Any, member: Member, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.member = member

    def clean_confirm(self) -> str:
        typed = " ".join(self.cleaned_data["confirm"].split()).casefold()
        if typed != " ".join(self.member.full_name.split()).casefold():
            raise ValidationError("That is not this member's full name.", code="mismatch")
        return typed
