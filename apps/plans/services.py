"""Writes to plans: create, edit, archive. A plan in use is archived, never deleted."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction

from .errors import PlanError
from .models import Plan

PLAN_FIELDS = (
    "name",
    "description",
    "kind",
    "price",
    "signup_fee",
    "tax_rate",
    "price_includes_tax",
    "billing_period",
    "billing_interval",
    "duration_days",
    "class_credits",
    "pack_expiry_days",
    "access_hours",
    "trial_days",
    "is_active",
    "show_in_app",
)


def plan_validate_access_hours(windows: Any) -> list[dict[str, Any]]:
    """Check access-hour windows: a list of `{"weekdays": [0-6], "start": "HH:MM", "end": "HH:MM"}`
    with start before end (gym-local, Monday=0). Returns them normalised.
    Raises `PlanError("invalid_access_hours")`."""
    if not windows:
        return []
    if not isinstance(windows, list):
        raise PlanError("invalid_access_hours", "Access hours must be a list of windows.", field="access_hours")
    clean = []
    for window in windows:
        try:
            weekdays = sorted({int(d) for d in window["weekdays"]})
            start = datetime.time.fromisoformat(window["start"])
            end = datetime.time.fromisoformat(window["end"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(
                "invalid_access_hours", "Each window needs weekdays (0-6), start and end (HH:MM).", field="access_hours"
            ) from exc
        if not weekdays or any(d < 0 or d > 6 for d in weekdays) or start >= end:
            raise PlanError(
                "invalid_access_hours", "Weekdays are 0 (Monday) to 6; start must be before end.", field="access_hours"
            )
        clean.append({"weekdays": weekdays, "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")})
    return clean


def _validate(fields: dict[str, Any]) -> dict[str, Any]:
    kind = fields.get("kind", Plan.Kind.RECURRING)
    if kind == Plan.Kind.RECURRING and not fields.get("billing_period"):
        raise PlanError("billing_period_required", "A recurring plan needs a billing period.", field="billing_period")
    if kind != Plan.Kind.RECURRING:
        fields["billing_period"] = ""
    if kind == Plan.Kind.ONE_OFF and not fields.get("duration_days"):
        raise PlanError("duration_required", "A one-off plan needs a duration in days.", field="duration_days")
    if kind == Plan.Kind.CLASS_PACK and not fields.get("class_credits"):
        raise PlanError("credits_required", "A class pack needs a number of credits.", field="class_credits")
    if "access_hours" in fields:
        fields["access_hours"] = plan_validate_access_hours(fields["access_hours"])
    return fields


@transaction.atomic
def plan_create(**fields: Any) -> Plan:
    """Create a plan in the current gym from keyword fields (PLAN_FIELDS).
    Raises `PlanError` for a recurring plan without a period, a one-off without a
    duration, a class pack without credits, or bad access hours."""
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise TypeError(f"unknown plan fields: {sorted(unknown)}")
    return Plan.objects.create(**_validate(dict(fields)))


@transaction.atomic
def plan_update(*, plan: Plan, **fields: Any) -> Plan:
    """Edit a plan. Existing memberships keep the price and terms they were sold with."""
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise TypeError(f"unknown plan fields: {sorted(unknown)}")
    merged = {name: getattr(plan, name) for name in PLAN_FIELDS} | fields
    for name, value in _validate(merged).items():
        setattr(plan, name, value)
    plan.save()
    return plan


def plan_archive(*, plan: Plan) -> Plan:
    """Stop selling a plan (it stays on existing memberships)."""
    plan.is_active = False
    plan.save(update_fields=["is_active", "updated_at"])
    return plan


def plan_delete(*, plan: Plan) -> None:
    """Delete a plan nobody has ever been on. Raises `PlanError("plan_in_use")` otherwise
    (archive it instead)."""
    if plan.memberships.exists():
        raise PlanError("plan_in_use", "This plan has memberships, so it can only be archived.")
    plan.delete()
