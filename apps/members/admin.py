"""Members in the gym's own `/admin/` (`gym_admin_site`).

Writes go through the member services. Medical notes follow the same rule as the
pages and the API: only owner, manager and trainer see them. The gym admin itself
admits owners and managers only today, so the rule is enforced per request
(`apps.members.access`) and holds if the admin is ever opened to more roles.
Erased members are read-only (erasure and its log belong to `apps.members.privacy`),
and members are never deleted here: their financial records keep them.

`ServiceCheckedForm` is shared with the plans and memberships admins.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Field as ModelField
from django.http import HttpRequest

from apps.staff.admin import GymRoleAdminMixin, gym_admin_site

from .access import MEDICAL_FIELD, request_sees_medical_notes
from .errors import MemberError
from .models import Member
from .services import PROFILE_FIELDS, member_create, member_update


class _DryRun(Exception):
    """Raised inside a savepoint to roll back a service call made only to validate."""


class ServiceCheckedForm(forms.ModelForm):
    """A ModelForm that validates by running the admin's service call in a savepoint
    that is always rolled back, so a broken domain rule shows as a form error (on its
    field when the error names one) instead of a server error on save. The admin's
    `save_model` then makes the same call for real.

    Subclasses set `service_errors` (the domain error classes) and the admin sets
    `run_service` (a callable taking the form) through `ModelAdmin.get_form`."""

    service_errors: tuple[type[Exception], ...] = ()
    run_service: Any = None

    def _post_clean(self) -> None:
        # The service first: its errors name the field (e.g. `email_taken` on email), and
        # the model's own constraint checks then skip the fields that already failed.
        if not self.errors and self.run_service is not None:
            try:
                with transaction.atomic():
                    type(self).run_service(self)
                    raise _DryRun
            except _DryRun:
                pass
            except self.service_errors as exc:
                field = getattr(exc, "field", None)
                message = ValidationError(getattr(exc, "message", str(exc)), code=getattr(exc, "code", None))
                self.add_error(field if field in self.fields else None, message)
        super()._post_clean()  # type: ignore[misc]


class MemberAdminForm(ServiceCheckedForm):
    service_errors = (MemberError,)

    class Meta:
        model = Member
        fields = [*PROFILE_FIELDS, "photo"]


def _member_fields(form: forms.ModelForm, *, with_photo: bool = True) -> dict[str, Any]:
    """The profile fields the form edits, as keyword arguments for the services
    (a cleared photo, `False` in the form, becomes an empty file name)."""
    names = [*PROFILE_FIELDS, "photo"] if with_photo else list(PROFILE_FIELDS)
    fields = {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}
    if fields.get("photo") is False:
        fields["photo"] = ""
    return fields


def _member_save(form: forms.ModelForm, *, with_photo: bool = True) -> Member:
    fields = _member_fields(form, with_photo=with_photo)
    if form.instance.pk:
        current = Member.objects.get(pk=form.instance.pk)
        changed = {name: value for name, value in fields.items() if name in form.changed_data}
        return member_update(member=current, **changed)
    return member_create(**fields)


def _member_check(form: forms.ModelForm) -> None:
    """The dry run: the same service call, without storing an uploaded photo."""
    _member_save(form, with_photo=False)


@admin.register(Member, site=gym_admin_site)
class MemberAdmin(GymRoleAdminMixin, admin.ModelAdmin):
    form = MemberAdminForm
    list_display = ["full_name", "email", "phone", "status", "joined_on", "source", "tag_list"]
    list_filter = ["status", "source", "gender", "joined_on"]
    search_fields = ["first_name", "last_name", "email", "phone"]
    ordering = ["last_name", "first_name", "id"]
    date_hierarchy = "joined_on"
    list_per_page = 50
    show_full_result_count = False
    readonly_fields = ["user", "import_fingerprint", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["first_name", "last_name", "email", "phone", "date_of_birth", "gender", "photo"]}),
        ("Contact", {"fields": ["address", "emergency_contact_name", "emergency_contact_phone"]}),
        ("Health", {"fields": [MEDICAL_FIELD]}),
        ("Gym", {"fields": ["status", "source", "joined_on", "tags", "staff_notes"]}),
        ("Record", {"fields": ["user", "import_fingerprint", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Tags")
    def tag_list(self, member: Member) -> str:
        return ", ".join(member.tags)

    # --- medical notes: owner, manager and trainer only ---

    def get_fieldsets(self, request: HttpRequest, obj: Member | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if request_sees_medical_notes(request):
            return fieldsets
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != MEDICAL_FIELD]})
            for name, opts in fieldsets
            if [f for f in opts["fields"] if f != MEDICAL_FIELD]
        ]

    def get_exclude(self, request: HttpRequest, obj: Member | None = None) -> Any:
        exclude = list(super().get_exclude(request, obj) or [])
        return exclude if request_sees_medical_notes(request) else [*exclude, MEDICAL_FIELD]

    def get_list_display(self, request: HttpRequest) -> Any:
        fields = list(super().get_list_display(request))
        return fields if request_sees_medical_notes(request) else [f for f in fields if f != MEDICAL_FIELD]

    def get_search_fields(self, request: HttpRequest) -> Any:
        fields = list(super().get_search_fields(request))
        return fields if request_sees_medical_notes(request) else [f for f in fields if MEDICAL_FIELD not in f]

    # --- writes through the services ---

    def get_form(self, request: HttpRequest, obj: Member | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.run_service = staticmethod(_member_check)  # type: ignore[attr-defined]
        return form

    def formfield_for_choice_field(self, db_field: ModelField, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "status":  # erasure has its own flow and log (apps.members.privacy)
            kwargs["choices"] = [(s.value, s.label) for s in (Member.Status.ACTIVE, Member.Status.INACTIVE)]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Member, form: Any, change: bool) -> None:
        obj.pk = _member_save(form).pk
        obj.refresh_from_db()  # the admin's log entry and redirect use the saved row
        obj._state.adding = False

    def has_change_permission(self, request: HttpRequest, obj: Member | None = None) -> bool:
        if obj is not None and obj.status == Member.Status.ERASED:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Member | None = None) -> bool:
        return False
