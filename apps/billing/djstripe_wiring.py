"""Where dj-stripe's calls to Stripe go.

dj-stripe (public schema, the platform's own billing) calls Stripe through the stripe
library's module-level client, whose base URL is `stripe.api_base`. dj-stripe only sets it
from `STRIPE_API_HOST`, once, when it is imported; ours is `settings.STRIPE_API_BASE`, which
tests change at run time to point at the fake Stripe server. So it is copied into the
library on start-up and again right before every dj-stripe operation we start.
(Member payments on gyms' Connect accounts go through `apps.invoices.stripe_api`, which has
its own client and reads the settings on each call.)
"""

from __future__ import annotations

import stripe
from django.conf import settings

DEFAULT_API_BASE = "https://api.stripe.com"


def stripe_globals_configure() -> None:
    """Copy `settings.STRIPE_API_BASE` and `settings.STRIPE_SECRET_KEY` into the stripe
    library's globals (`stripe.api_base`, `stripe.api_key`), which dj-stripe's calls use.
    No automatic network retries: a failed webhook is retried by Stripe itself."""
    stripe.api_base = getattr(settings, "STRIPE_API_BASE", "") or DEFAULT_API_BASE
    stripe.api_key = getattr(settings, "STRIPE_SECRET_KEY", "") or None
    stripe.max_network_retries = 0
