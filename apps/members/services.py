"""Writes to member profiles. Import lives in the `imports` package, export in `exports.py`, GDPR in `privacy.py`."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.notifications.services import notification_record

from .errors import MemberError
from .models import Member

# The profile fields staff may set through forms, the API and imports.
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "gender",
    "address",
    "emergency_contact_name",
    "emergency_contact_phone",
    "medical_notes",
    "tags",
    "source",
    "status",
    "joined_on",
    "staff_notes",
)


def normalise_tags(tags: list[str] | None) -> list[str]:
    """Tags trimmed, lowercased, de-duplicated, in first-seen order."""
    seen: dict[str, None] = {}
    for tag in tags or []:
        tag = tag.strip().lower()
        if tag:
            seen.setdefault(tag[:40], None)
    return list(seen)


def _check_email_free(email: str, *, exclude_pk: int | None = None) -> None:
    others = Member.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    if email and others.exists():
        raise MemberError("email_taken", "Another member of this gym already uses this email.", field="email")


@transaction.atomic
def member_create(**fields: Any) -> Member:
    """Create a member in the current gym from keyword profile fields (see PROFILE_FIELDS,
    plus `photo` and `user`). Returns the saved `Member`.
    Records the member's `welcome` notification (sent after the commit). Members
    brought in by a CSV import get none: a gym moving from another system does not
    want its whole list greeted.
    Raises `MemberError("email_taken")` when the email (case-insensitive) is in use."""
    unknown = set(fields) - set(PROFILE_FIELDS) - {"photo", "user", "import_fingerprint"}
    if unknown:
        raise TypeError(f"unknown member fields: {sorted(unknown)}")
    fields["email"] = (fields.get("email") or "").strip().lower()
    fields["tags"] = normalise_tags(fields.get("tags"))
    _check_email_free(fields["email"])
    try:
        member = Member.objects.create(**fields)
    except IntegrityError as exc:  # a concurrent create took the email
        raise MemberError("email_taken", "Another member of this gym already uses this email.", field="email") from exc
    notification_record(member=member, kind="welcome", idempotency_key=f"welcome:member:{member.pk}")
    return member


@transaction.atomic
def member_update(*, member: Member, **fields: Any) -> Member:
    """Change profile fields of `member`. Only the given fields change.
    Raises `MemberError("email_taken")` or `MemberError("member_erased")`."""
    if member.status == Member.Status.ERASED:
        raise MemberError("member_erased", "This member was erased and can no longer be edited.")
    unknown = set(fields) - set(PROFILE_FIELDS) - {"photo", "user"}
    if unknown:
        raise TypeError(f"unknown member fields: {sorted(unknown)}")
    if "email" in fields:
        fields["email"] = (fields["email"] or "").strip().lower()
        _check_email_free(fields["email"], exclude_pk=member.pk)
    if "tags" in fields:
        fields["tags"] = normalise_tags(fields["tags"])
    for name, value in fields.items():
        setattr(member, name, value)
    member.save()
    return member


@transaction.atomic
def member_bulk_tag(*, member_ids: list[int], tag: str) -> int:
    """Add `tag` to every listed member of the current gym. Returns how many changed."""
    tag = (normalise_tags([tag]) or [""])[0]
    if not tag:
        raise MemberError("tag_required", "Give a tag to add.", field="tag")
    changed = 0
    for member in Member.objects.select_for_update().filter(pk__in=member_ids).exclude(tags__contains=[tag]):
        member.tags = [*member.tags, tag]
        member.save(update_fields=["tags", "updated_at"])
        changed += 1
    return changed


@transaction.atomic
def member_app_invite(*, member: Member) -> Member:
    """Give `member` a login for the gym's app and send the invitation (the
    `app_invite` notification, transactional): the global user with the member's email
    (case-insensitive) is linked to the member, created without a usable password when
    there is none. The email carries a link to choose a password (the allauth
    password-reset-from-key page on the gym's host, made when it is sent), or, for a
    user who already has one (a FitFlow login from another gym), the gym's login page.
    Inviting again sends a new invitation. Returns the member (`user` set).

    Members get the `member` role here through the link (`apps.staff.selectors`).
    Raises `MemberError`: `member_erased`, `email_required` (no email to send to), or
    `login_in_use` (that login already belongs to another member of this gym)."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status == Member.Status.ERASED:
        raise MemberError("member_erased", "This member was erased and can no longer be invited.")
    if not member.email:
        raise MemberError(
            "email_required", "Add the member's email first: the invitation is sent there.", field="email"
        )
    user = member.user if member.user_id else User.objects.filter(email__iexact=member.email).first()
    if user is None:
        user = User.objects.create_user(
            email=member.email, password=None, first_name=member.first_name, last_name=member.last_name
        )
    if Member.objects.filter(user_id=user.pk).exclude(pk=member.pk).exists():
        raise MemberError("login_in_use", f"The login {user.email} already belongs to another member of this gym.")
    if member.user_id != user.pk:
        member.user = user
        member.save(update_fields=["user", "updated_at"])
    notification_record(
        member=member,
        kind="app_invite",
        idempotency_key=f"app_invite:member:{member.pk}:{timezone.now().isoformat()}",
        data={"user_id": user.pk},
    )
    return member
