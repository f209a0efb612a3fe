"""Writes to gyms: signup, provisioning, suspension, tier and settings.

Provisioning copies the migrated template schema (`settings.TENANT_BASE_SCHEMA`,
see `apps.tenants.cloning`) instead of migrating each new schema;
`bench/provision.py` measures both.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache

from babel.numbers import list_currencies
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django_tenants.utils import schema_exists, tenant_context

from apps.accounts.models import User
from apps.staff.roles import Role
from apps.staff.services import staff_role_assign

from .cloning import forget_template_plans, quote_name, template_clone
from .errors import GymError
from .models import Domain, Gym

# A DNS label: lowercase letters, digits and inner hyphens, 3 to 40 characters.
SUBDOMAIN_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$")


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def gym_schema_name(*, slug: str) -> str:
    """The PostgreSQL schema for a subdomain: `gym_<slug>` with hyphens as underscores."""
    return "gym_" + slug.replace("-", "_")


def gym_validate_subdomain(*, slug: str) -> str:
    """Normalise and check a requested subdomain; return it lowercased.

    Raises `GymError` (field `slug`) with code `subdomain_invalid` (characters or
    length), `subdomain_reserved` (ours, e.g. www, api, admin) or
    `subdomain_taken` (another gym has it).
    """
    slug = (slug or "").strip().lower()
    if not SUBDOMAIN_RE.match(slug) or "--" in slug:
        raise GymError(
            "subdomain_invalid",
            "Use 3-40 lowercase letters, digits or hyphens, starting and ending with a letter or digit.",
            field="slug",
        )
    if slug in settings.FITFLOW_RESERVED_SUBDOMAINS or slug.startswith(("pg-", "xn--")):
        raise GymError("subdomain_reserved", f"“{slug}” is reserved. Please choose another subdomain.", field="slug")
    host = f"{slug}.{settings.FITFLOW_BASE_DOMAIN}"
    if (
        Gym.objects.filter(slug=slug).exists()
        or Domain.objects.filter(domain=host).exists()
        or schema_exists(gym_schema_name(slug=slug))
    ):
        raise GymError("subdomain_taken", f"“{slug}” is already taken by another gym.", field="slug")
    return slug


def gym_validate_locale(*, timezone: str, currency: str) -> tuple[str, str]:
    """Check an IANA timezone and an ISO 4217 currency code; return them (currency uppercased).

    Raises `GymError` with code `timezone_invalid` or `currency_invalid`.
    """
    if timezone not in _timezones():
        raise GymError("timezone_invalid", f"“{timezone}” is not a known timezone.", field="timezone")
    currency = (currency or "").strip().upper()
    if currency not in _currencies():
        raise GymError("currency_invalid", f"“{currency}” is not an ISO 4217 currency code.", field="currency")
    return timezone, currency


def gym_provision(
    *,
    name: str,
    slug: str,
    timezone: str = "UTC",
    currency: str = "USD",
    country: str = "",
    status: str = Gym.Status.TRIAL,
) -> Gym:
    """Create a gym: its row, its schema (cloned from the template) and its domain.

    Args: `slug` becomes `<slug>.<FITFLOW_BASE_DOMAIN>` and schema `gym_<slug>`.
    Returns the saved `Gym`. Raises `GymError` for a bad subdomain, timezone or
    currency. Runs in one transaction: PostgreSQL DDL is transactional, so a
    failure leaves no schema, gym or domain behind.
    """
    slug = gym_validate_subdomain(slug=slug)
    timezone, currency = gym_validate_locale(timezone=timezone, currency=currency)
    with transaction.atomic():
        provisioning_lock()
        try:
            gym = Gym.objects.create(
                name=name.strip(),
                slug=slug,
                schema_name=gym_schema_name(slug=slug),
                timezone=timezone,
                currency=currency,
                country=country,
                status=status,
            )
        except IntegrityError as exc:  # a concurrent signup took the slug
            raise GymError("subdomain_taken", f"“{slug}” is already taken by another gym.", field="slug") from exc
        gym_create_schema(gym=gym)
        Domain.objects.create(domain=f"{slug}.{settings.FITFLOW_BASE_DOMAIN}", tenant=gym, is_primary=True)
    return gym


PROVISIONING_LOCK_ID = 7_302_115  # any constant; names the advisory lock below


def provisioning_lock() -> None:
    """Serialise gym creation for the rest of the current transaction.

    Copying the template adds foreign keys to public tables (e.g. accounts_user),
    which takes a SHARE ROW EXCLUSIVE lock on them; two signups that each inserted
    a user first would wait on each other and deadlock. One gym takes ~20 ms to
    create (bench/provision.py), so queueing signups costs nothing noticeable.
    PostgreSQL advisory transaction locks are re-entrant within a session.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PROVISIONING_LOCK_ID])


def gym_create_schema(*, gym: Gym) -> None:
    """Create the gym's schema: a copy of the migrated template (`apps.tenants.cloning`),
    or, when the template is missing or behind, by running the migrations.
    The caller's transaction covers it."""
    if not template_clone(schema_name=gym.schema_name):
        gym_migrate_schema(gym=gym)
    connection.set_schema_to_public()  # type: ignore[attr-defined]


def gym_migrate_schema(*, gym: Gym) -> None:
    """Create the gym's schema by running every migration (slow; the fallback path)."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {quote_name(gym.schema_name)}")
    call_command("migrate_schemas", tenant=True, schema_name=gym.schema_name, interactive=False, verbosity=0)
    connection.set_schema_to_public()  # type: ignore[attr-defined]


@transaction.atomic
def gym_signup(
    *,
    name: str,
    slug: str,
    owner_email: str,
    owner_password: str,
    timezone: str,
    currency: str,
    country: str = "",
) -> tuple[Gym, User]:
    """The public "create your gym" flow: gym, schema, domain and owner, all or nothing.

    A new email gets a new global user; an existing one must give that account's
    password (then the gym is added to their identity). Returns `(gym, owner)`.
    Raises `GymError` (codes from `gym_validate_subdomain`, `gym_validate_locale`,
    or `email_taken` when an existing account's password does not match).
    """
    provisioning_lock()  # before the owner's row: see provisioning_lock
    email = User.objects.normalize_email(owner_email).lower()
    owner = User.objects.filter(email__iexact=email).first()
    if owner is None:
        owner = User.objects.create_user(email=email, password=owner_password)
    elif not owner.check_password(owner_password):
        raise GymError(
            "email_taken",
            "An account with this email exists. Enter its password to add a gym to it.",
            field="owner_email",
        )
    gym = gym_provision(name=name, slug=slug, timezone=timezone, currency=currency, country=country)
    with tenant_context(gym):
        staff_role_assign(user=owner, role=Role.OWNER)
    return gym, owner


def gym_suspend(*, gym: Gym, reason: str = "") -> Gym:
    """Suspend a gym: its pages show the suspended page and its API answers 403
    `gym_suspended`. Raises `GymError("public_gym")` for the platform row."""
    if gym.is_public:
        raise GymError("public_gym", "The platform itself cannot be suspended.")
    gym.status = Gym.Status.SUSPENDED
    gym.suspended_reason = reason[:255]
    gym.save(update_fields=["status", "suspended_reason"])
    return gym


def gym_reactivate(*, gym: Gym) -> Gym:
    """Lift a suspension: the gym becomes active again."""
    gym.status = Gym.Status.ACTIVE
    gym.suspended_reason = ""
    gym.save(update_fields=["status", "suspended_reason"])
    return gym


def gym_change_tier(*, gym: Gym, tier: str) -> Gym:
    """Move a gym to another FitFlow tier. Raises `GymError("tier_invalid")`."""
    if tier not in Gym.Tier.values:
        raise GymError("tier_invalid", f"“{tier}” is not a tier.", field="tier")
    gym.tier = tier
    gym.save(update_fields=["tier"])
    return gym


FRONT_DESK_LIMITS: dict[str, tuple[int, int]] = {
    "occupancy_capacity": (1, 10000),  # people
    "checkin_repeat_minutes": (0, 1440),  # minutes; 0: a second scan always checks in again
    "auto_checkout_hours": (1, 24),  # hours
    "payment_grace_days": (0, 60),  # days
}
"""The front-desk settings and their allowed ranges (inclusive)."""


def gym_update_settings(
    *,
    gym: Gym,
    name: str,
    timezone: str,
    currency: str,
    country: str = "",
    logo: UploadedFile | bool | None = None,
    occupancy_capacity: int | None = None,
    checkin_repeat_minutes: int | None = None,
    auto_checkout_hours: int | None = None,
    payment_grace_days: int | None = None,
) -> Gym:
    """Edit the gym's name, timezone, currency, country and logo, and its front-desk
    settings.

    `logo`: an upload to replace it, `False` to remove it, `None` to keep it. The
    file is stored at `<schema>/branding/<name>`. The front-desk settings
    (`FRONT_DESK_LIMITS`): `occupancy_capacity` (people), `checkin_repeat_minutes`,
    `auto_checkout_hours` and `payment_grace_days`; `None` keeps the current value.
    Raises `GymError` for a bad timezone or currency, an empty name, or a front-desk
    setting outside its range (code `out_of_range`, on that field); nothing is saved then.
    """
    timezone, currency = gym_validate_locale(timezone=timezone, currency=currency)
    if not name.strip():
        raise GymError("name_required", "The gym needs a name.", field="name")
    front_desk = {
        "occupancy_capacity": occupancy_capacity,
        "checkin_repeat_minutes": checkin_repeat_minutes,
        "auto_checkout_hours": auto_checkout_hours,
        "payment_grace_days": payment_grace_days,
    }
    changed = {field: value for field, value in front_desk.items() if value is not None}
    for field, value in changed.items():
        low, high = FRONT_DESK_LIMITS[field]
        if not low <= value <= high:
            raise GymError("out_of_range", f"Enter a whole number from {low} to {high}.", field=field)
    gym.name = name.strip()
    gym.timezone = timezone
    gym.currency = currency
    gym.country = country
    for field, value in changed.items():
        setattr(gym, field, value)
    if logo is False:
        gym.logo = None  # type: ignore[assignment]
    elif isinstance(logo, UploadedFile):
        gym.logo.save(logo.name or "logo", logo, save=False)
    gym.save(update_fields=["name", "timezone", "currency", "country", "logo", *changed])
    return gym


def template_schema_migrate(*, verbosity: int = 0) -> None:
    """Create (if needed) and migrate the template schema new gyms are cloned from."""
    base = settings.TENANT_BASE_SCHEMA
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{base}"')
    call_command("migrate_schemas", schema_name=base, tenant=True, interactive=False, verbosity=verbosity)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    forget_template_plans()


def public_gym_ensure(*, domains: list[str]) -> Gym:
    """The public tenant row (schema `public`) with the given host names, created if missing."""
    public, _ = Gym.objects.get_or_create(
        schema_name=settings.PUBLIC_SCHEMA_NAME,
        defaults={"name": "FitFlow", "slug": "public", "status": Gym.Status.ACTIVE},
    )
    for i, host in enumerate(domains):
        Domain.objects.get_or_create(domain=host, defaults={"tenant": public, "is_primary": i == 0})
    return public
