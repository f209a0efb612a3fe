"""Template context every page needs."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def fitflow(request: HttpRequest) -> dict[str, Any]:
    """`gym` (None on the public site), `gym_role`, the base domain and URL scheme."""
    gym = getattr(request, "tenant", None)
    if gym is not None and gym.schema_name == "public":
        gym = None
    return {
        "gym": gym,
        "gym_role": getattr(request, "gym_role", None),
        "base_domain": settings.FITFLOW_BASE_DOMAIN,
        "url_scheme": settings.FITFLOW_URL_SCHEME,
    }
