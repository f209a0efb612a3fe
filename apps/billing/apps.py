from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "apps.billing"
    label = "billing"

    def ready(self) -> None:
        from .djstripe_wiring import stripe_globals_configure

        # dj-stripe calls Stripe through the stripe library's module globals; point them
        # at settings (the fake server in tests) from the start.
        stripe_globals_configure()
