"""Reads of gyms and their domains (public schema)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from .models import Domain, Gym

OPEN_STATUSES = [Gym.Status.TRIAL, Gym.Status.ACTIVE]


def gym_search(*, query: str = "", limit: int = 50) -> QuerySet[Gym]:
    """Open (trial or active) gyms whose name or subdomain contains `query`,
    with their domains prefetched. Suspended, cancelled and the public row are left out."""
    gyms = Gym.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).filter(status__in=OPEN_STATUSES)
    query = query.strip()
    if query:
        gyms = gyms.filter(Q(name__icontains=query) | Q(slug__icontains=query.lower()))
    return gyms.prefetch_related("domains").order_by("name")[:limit]


def gym_primary_domain(*, gym: Gym) -> str:
    """The gym's primary host name, from prefetched domains when present."""
    domains = list(gym.domains.all())
    for domain in domains:
        if domain.is_primary:
            return domain.domain
    return domains[0].domain if domains else f"{gym.slug}.{settings.FITFLOW_BASE_DOMAIN}"


def gym_base_url(*, gym: Gym, request: HttpRequest | None = None) -> str:
    """Absolute root URL of a gym, e.g. `http://demo.localhost:8000`.

    The port is the current request's; without a request (a Celery task's email: the
    set-password, card-update, pay and unsubscribe links) it is
    `settings.FITFLOW_URL_PORT` when set (`make run`'s :8000), else the scheme's default.
    """
    host = gym_primary_domain(gym=gym)
    scheme = settings.FITFLOW_URL_SCHEME
    configured_port = str(settings.FITFLOW_URL_PORT or "")
    port = f":{configured_port}" if configured_port else ""
    if request is not None:
        port = ""
        scheme = "https" if request.is_secure() else scheme
        request_host = request.get_host()
        if ":" in request_host:
            port = ":" + request_host.rsplit(":", 1)[1]
    return f"{scheme}://{host}{port}"


def domain_exists(*, domain: str) -> bool:
    """True when the host name is taken by any gym."""
    return Domain.objects.filter(domain=domain).exists()


def current_schema_name() -> str:
    """The schema the database connection is on: a gym's, or `public`."""
    return str(connection.schema_name)  # type: ignore[attr-defined]


def current_gym() -> Gym:
    """The gym whose schema the connection is on (`tenant_context` / the request's
    tenant), so services keep the signatures their callers use and a task needs
    nothing but the tenant context. Raises RuntimeError on the public schema."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Gym) and tenant.schema_name != settings.PUBLIC_SCHEMA_NAME:
        return tenant
    schema = current_schema_name()
    if schema == settings.PUBLIC_SCHEMA_NAME:
        raise RuntimeError("gym services run inside a gym: use tenant_context(gym)")
    return Gym.objects.get(schema_name=schema)


def gym_phone_region(*, gym: Gym | None) -> str | None:
    """The gym's country (ISO 3166-1 alpha-2), the region local phone numbers are read in."""
    country = getattr(gym, "country", None)
    return str(country.code) if country and country.code else None
