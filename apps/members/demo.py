"""Demo data for `make run`: about 300 realistic members, the six usual plans and
memberships in every status. Deterministic (seeded), and skipped when the gym already
has members. Dev-only: it uses Faker, which ships with the test requirements."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.memberships.models import Freeze, Membership, MembershipEvent
from apps.plans.models import Plan

from .models import Member

DEMO_PLANS: list[dict[str, Any]] = [
    dict(
        name="Monthly Unlimited",
        kind="recurring",
        price="650.00",
        signup_fee="250.00",
        billing_period="monthly",
        description="Unlimited gym access and classes, billed monthly.",
    ),
    dict(
        name="Annual Unlimited",
        kind="recurring",
        price="6500.00",
        billing_period="yearly",
        description="Twelve months for the price of ten.",
    ),
    dict(
        name="Off-Peak",
        kind="recurring",
        price="450.00",
        billing_period="monthly",
        class_credits=8,
        description="Weekdays 09:00-16:00 and weekends; 8 classes a month.",
        access_hours=[
            {"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "16:00"},
            {"weekdays": [5, 6], "start": "07:00", "end": "18:00"},
        ],
    ),
    dict(
        name="Student",
        kind="recurring",
        price="400.00",
        billing_period="monthly",
        class_credits=12,
        description="For full-time students with a valid student card.",
    ),
    dict(
        name="10-Class Pack",
        kind="class_pack",
        price="900.00",
        class_credits=10,
        pack_expiry_days=90,
        description="Ten classes, valid for 90 days.",
    ),
    dict(
        name="Drop-in",
        kind="one_off",
        price="120.00",
        duration_days=1,
        class_credits=1,
        description="One class or one day of gym access.",
    ),
]
TAGS = ["student", "personal-training", "corporate", "referral", "early-bird", "yoga", "hiit", "senior"]
# Share of members per membership outcome; the rest have no membership (leads/lapsed).
STATUS_MIX = [
    (Membership.Status.ACTIVE, 0.62),
    (Membership.Status.FROZEN, 0.05),
    (Membership.Status.PAST_DUE, 0.04),
    (Membership.Status.CANCELLED, 0.08),
    (Membership.Status.EXPIRED, 0.11),
]


def _plans() -> list[Plan]:
    plans = []
    for spec in DEMO_PLANS:
        fields = dict(spec)
        for money in ("price", "signup_fee"):
            if money in fields:
                fields[money] = Decimal(fields[money])
        plan, _ = Plan.objects.get_or_create(name=fields.pop("name"), defaults={**fields, "tax_rate": Decimal("15.00")})
        plans.append(plan)
    return plans


@transaction.atomic
def demo_members_seed(*, count: int = 300, seed: int = 2026) -> int:
    """Create the demo plans and `count` members with memberships in the current gym.
    Returns how many members were created (0 when the gym already has members)."""
    from faker import Faker

    plans = _plans()
    if Member.objects.exists():
        return 0
    fake = Faker("en_GB")
    Faker.seed(seed)
    rng = random.Random(seed)  # noqa: S311 (demo data, not security)
    today = timezone.localdate()
    members = []
    for i in range(count):
        first, last = fake.first_name(), fake.last_name()
        joined = today - datetime.timedelta(days=int(rng.triangular(0, 1500, 200)))
        members.append(
            Member(
                first_name=first,
                last_name=last,
                email=f"{first}.{last}{i}@example.com".lower().replace(" ", "").replace("'", ""),
                phone=f"+2782{rng.randrange(1000000, 9999999)}",
                date_of_birth=fake.date_of_birth(minimum_age=16, maximum_age=75),
                gender=rng.choice(["female", "male", "female", "male", "non_binary", ""]),
                address=fake.address().replace("\n", ", "),
                emergency_contact_name=fake.name(),
                emergency_contact_phone=f"+2783{rng.randrange(1000000, 9999999)}",
                medical_notes=rng.choice(
                    ["", "", "", "", "Asthma: carries an inhaler.", "Knee surgery 2024.", "Diabetic."]
                ),
                tags=rng.sample(TAGS, k=rng.choice([0, 0, 1, 1, 2])),
                source=rng.choice(["walk_in", "referral", "web", "web", "walk_in"]),
                joined_on=joined,
            )
        )
    Member.objects.bulk_create(members)
    recurring = [p for p in plans if p.kind == Plan.Kind.RECURRING]
    memberships, freezes = [], []
    for member in members:
        roll, status = rng.random(), None
        for candidate, share in STATUS_MIX:
            if roll < share:
                status = candidate
                break
            roll -= share
        if status is None:
            member.status = Member.Status.INACTIVE
            continue
        plan = rng.choice(recurring if status != Membership.Status.EXPIRED else plans)
        start = max(member.joined_on, today - datetime.timedelta(days=rng.randrange(20, 700)))
        end = next_billing = None
        if status in (Membership.Status.CANCELLED, Membership.Status.EXPIRED):
            end = today - datetime.timedelta(days=rng.randrange(1, 120))
            start = min(start, end - datetime.timedelta(days=30))
            member.status = Member.Status.INACTIVE
        else:
            next_billing = today + datetime.timedelta(days=rng.randrange(1, 29))
            if status == Membership.Status.PAST_DUE:
                next_billing = today - datetime.timedelta(days=rng.randrange(1, 10))
        memberships.append(
            Membership(
                member=member,
                plan=plan,
                status=status,
                start_date=start,
                end_date=end,
                next_billing_date=next_billing,
                past_due_since=next_billing if status == Membership.Status.PAST_DUE else None,
                price=plan.price,
                billing_period=plan.billing_period,
                billing_interval=plan.billing_interval,
                class_credits=plan.class_credits,
                cancelled_on=end if status == Membership.Status.CANCELLED else None,
                cancel_reason="Moved away" if status == Membership.Status.CANCELLED else "",
            )
        )
    Member.objects.bulk_update([m for m in members if m.status == Member.Status.INACTIVE], ["status"])
    Membership.objects.bulk_create(memberships)
    for membership in memberships:
        if membership.status == Membership.Status.FROZEN:
            start = today - datetime.timedelta(days=rng.randrange(1, 10))
            freezes.append(
                Freeze(
                    membership=membership,
                    start_date=start,
                    end_date=start + datetime.timedelta(days=30),
                    reason=rng.choice(["Travelling", "Injury", "Exams"]),
                )
            )
    Freeze.objects.bulk_create(freezes)
    MembershipEvent.objects.bulk_create(
        [MembershipEvent(membership=m, kind=MembershipEvent.Kind.CREATED, reason="Demo data") for m in memberships]
    )
    return len(members)
