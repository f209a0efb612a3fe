"""Members: a person's profile at one gym (lives in the gym's schema)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import connection, models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField


def member_photo_upload_to(instance: Member, filename: str) -> str:
    """`<schema>/members/<member id or new>/<filename>`: uploads never cross gyms."""
    return f"{connection.schema_name}/members/photos/{filename}"  # type: ignore[attr-defined]


class Member(models.Model):
    """A person's profile at this gym. May link a global `accounts.User` (the member's
    app login). Email is unique per gym, compared case-insensitively; phones are E.164.
    `medical_notes` is visible to owner, manager and trainer only.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")
        ERASED = "erased", _("Erased")

    class Source(models.TextChoices):
        WALK_IN = "walk_in", _("Walk-in")
        REFERRAL = "referral", _("Referral")
        WEB = "web", _("Web")
        IMPORT = "import", _("Import")

    class Gender(models.TextChoices):
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        NON_BINARY = "non_binary", _("Non-binary")
        OTHER = "other", _("Other")
        UNDISCLOSED = "undisclosed", _("Prefer not to say")

    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80, blank=True)
    email = models.EmailField(blank=True)
    phone = PhoneNumberField(blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=12, choices=Gender.choices, blank=True)
    photo = models.ImageField(upload_to=member_photo_upload_to, blank=True)
    address = models.TextField(blank=True)
    emergency_contact_name = models.CharField(max_length=120, blank=True)
    emergency_contact_phone = PhoneNumberField(blank=True)
    medical_notes = models.TextField(blank=True)
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WALK_IN)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    joined_on = models.DateField(default=timezone.localdate)
    staff_notes = models.TextField(blank=True)
    # DO_NOTHING: the user lives in public; see apps.staff.models.StaffRole.user.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    # Set by CSV import: a hash of the source row, so a re-upload creates no duplicates.
    import_fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=~models.Q(email=""), name="members_member_email_ci_unique"
            ),
        ]
        indexes = [
            GinIndex(fields=["tags"], name="members_member_tags_gin"),
            models.Index(Lower("last_name"), Lower("first_name"), name="members_member_name_ci"),
            models.Index(fields=["joined_on"], name="members_member_joined_on"),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}".strip()


class MemberErasure(models.Model):
    """The log of a GDPR/POPIA erasure: who erased which member, when and why.
    The member row stays (anonymised) so financial records keep their owner."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="erasures")
    erased_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, related_name="+")
    erased_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"Erasure of member {self.member_id} at {self.erased_at:%Y-%m-%d %H:%M}"
