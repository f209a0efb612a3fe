"""GDPR / POPIA: give a member everything the gym holds about them, and erase them.

Erasure anonymises the member row instead of deleting it: memberships (the
financial records) keep their owner, and a `MemberErasure` row logs who erased the
member, when and why.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Prefetch
from django.utils import timezone

from apps.accounts.models import User
from apps.memberships.models import CURRENT_STATUSES, Freeze, Membership, MembershipEvent

from .errors import MemberError
from .models import Member, MemberErasure

DATA_EXPORT_FORMAT = "fitflow.member_data_export.v1"
ERASED_FIRST_NAME = "Erased"
ERASED_LAST_NAME = "member"


def member_data_export(*, member: Member) -> dict[str, Any]:
    """Everything the current gym holds about `member`, as a JSON-serialisable dict
    (dates and times ISO 8601, money as decimal strings in `gym.currency`):

    - `gym`: name, country, currency (the controller of the data);
    - `member`: every profile field, medical and staff notes included, the photo's
      storage name and URL, the linked login (`user`: id and email) and the import
      fingerprint;
    - `memberships`: each with its plan, contract terms, `freezes` and `events`
      (the audit trail);
    - `erasures`: the erasure log;
    - `bookings`, `check_ins`, `invoices`: empty lists until those features exist.

    Queries: a constant handful, however many memberships.
    """
    gym = connection.tenant  # type: ignore[attr-defined]
    memberships = (
        Membership.objects.filter(member=member)
        .select_related("plan")
        .prefetch_related(
            Prefetch("freezes", queryset=Freeze.objects.order_by("start_date", "id")),
            Prefetch("events", queryset=MembershipEvent.objects.order_by("at", "id")),
        )
        .order_by("start_date", "id")
    )
    currency = getattr(gym, "currency", "")
    return {
        "format": DATA_EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "gym": {
            "name": getattr(gym, "name", ""),
            "country": str(getattr(gym, "country", "") or ""),
            "currency": currency,
        },
        "member": _profile(member),
        "memberships": [_membership(m, currency) for m in memberships],
        "erasures": [
            {"erased_at": _iso(e.erased_at), "erased_by_id": e.erased_by_id, "reason": e.reason}
            for e in MemberErasure.objects.filter(member=member).order_by("erased_at", "id")
        ],
        "bookings": [],
        "check_ins": [],
        "invoices": [],
    }


@transaction.atomic
def member_erase(*, member: Member, actor: User | None, reason: str) -> Member:
    """Erase a member of the current gym (GDPR / POPIA right to erasure).

    Anonymises the profile: names become "Erased" / "member"; email, phones,
    address, emergency contact, medical and staff notes, tags, gender, date of
    birth, photo (the file is deleted once the transaction commits), import
    fingerprint and the link to a login are cleared; status becomes "erased".
    Memberships, freezes and their events stay (financial records). Writes a
    `MemberErasure` row (`actor`, `reason`). Updates and returns `member` itself.

    Raises `MemberError("member_erased")` when the member was already erased, and
    `MemberError("membership_current")` while a membership is active, frozen or
    past due (cancel it first, so billing stops with a proper audit trail).
    """
    # Lock the row (a second erasure waits, then sees "erased"); DoesNotExist if the
    # member is not in the current gym.
    Member.objects.select_for_update().filter(pk=member.pk).values("pk").get()
    member.refresh_from_db()
    if member.status == Member.Status.ERASED:
        raise MemberError("member_erased", "This member was already erased.")
    if Membership.objects.filter(member=member, status__in=CURRENT_STATUSES).exists():
        raise MemberError(
            "membership_current",
            "This member has a current membership. Cancel it before erasing the member.",
        )
    photo_name = member.photo.name if member.photo else ""
    storage = member.photo.storage
    member.first_name = ERASED_FIRST_NAME
    member.last_name = ERASED_LAST_NAME
    member.email = ""
    member.phone = ""  # type: ignore[assignment]
    member.date_of_birth = None
    member.gender = ""
    member.photo = ""  # type: ignore[assignment]
    member.address = ""
    member.emergency_contact_name = ""
    member.emergency_contact_phone = ""  # type: ignore[assignment]
    member.medical_notes = ""
    member.staff_notes = ""
    member.tags = []
    member.user = None
    member.import_fingerprint = ""
    member.status = Member.Status.ERASED
    member.save()
    MemberErasure.objects.create(member=member, erased_by=actor, reason=(reason or "").strip()[:255])
    if photo_name:
        transaction.on_commit(lambda: storage.delete(photo_name))
    return member


# --- the parts of the data export ---------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _profile(member: Member) -> dict[str, Any]:
    user = User.objects.filter(pk=member.user_id).values("id", "email").first() if member.user_id else None
    return {
        "id": member.pk,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "email": member.email,
        "phone": member.phone.as_e164 if member.phone else "",
        "date_of_birth": _iso(member.date_of_birth),
        "gender": member.gender,
        "photo": {"name": member.photo.name, "url": member.photo.url} if member.photo else None,
        "address": member.address,
        "emergency_contact_name": member.emergency_contact_name,
        "emergency_contact_phone": member.emergency_contact_phone.as_e164 if member.emergency_contact_phone else "",
        "medical_notes": member.medical_notes,
        "tags": list(member.tags),
        "source": member.source,
        "status": member.status,
        "joined_on": _iso(member.joined_on),
        "staff_notes": member.staff_notes,
        "user": user,
        "import_fingerprint": member.import_fingerprint,
        "created_at": _iso(member.created_at),
        "updated_at": _iso(member.updated_at),
    }


def _membership(membership: Membership, currency: str) -> dict[str, Any]:
    return {
        "id": membership.pk,
        "plan": {"id": membership.plan_id, "name": membership.plan.name, "kind": membership.plan.kind},
        "status": membership.status,
        "start_date": _iso(membership.start_date),
        "end_date": _iso(membership.end_date),
        "next_billing_date": _iso(membership.next_billing_date),
        "price": _money(membership.price),
        "currency": currency,
        "billing_period": membership.billing_period,
        "billing_interval": membership.billing_interval,
        "class_credits": membership.class_credits,
        "cancel_at_period_end": membership.cancel_at_period_end,
        "cancelled_on": _iso(membership.cancelled_on),
        "cancel_reason": membership.cancel_reason,
        "created_at": _iso(membership.created_at),
        "updated_at": _iso(membership.updated_at),
        "freezes": [
            {
                "start_date": _iso(f.start_date),
                "end_date": _iso(f.end_date),
                "ended_on": _iso(f.ended_on),
                "reason": f.reason,
                "created_by_id": f.created_by_id,
                "created_at": _iso(f.created_at),
            }
            for f in membership.freezes.all()
        ],
        "events": [
            {
                "kind": e.kind,
                "at": _iso(e.at),
                "actor_id": e.actor_id,
                "reason": e.reason,
                "data": e.data,
            }
            for e in membership.events.all()
        ],
    }
