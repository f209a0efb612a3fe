"""Platform super-admin for gyms (public /admin/): list, search, filter, suspend,
reactivate, change tier, see domains, and FitFlow's own billing of each gym (tier
subscription status, unpaid since, Connect charges) with a sync from Stripe and the
unpaid-gym suspension sweep."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from .errors import GymError
from .models import Domain, Gym
from .services import gym_change_tier, gym_reactivate, gym_suspend


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ["domain", "is_primary"]


def _tier_action(tier: str):  # type: ignore[no-untyped-def]
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Gym]) -> None:
        for gym in queryset.exclude(schema_name="public"):
            gym_change_tier(gym=gym, tier=tier)
        modeladmin.message_user(request, f"Tier changed to {tier}.", messages.SUCCESS)

    action.__name__ = f"set_tier_{tier}"
    action.short_description = f"Change tier to {Gym.Tier(tier).label}"  # type: ignore[attr-defined]
    return action


class PlatformBillingFilter(admin.SimpleListFilter):
    """Gyms by their FitFlow subscription: paid, unpaid (with an unpaid date), suspended
    for non-payment, or without a subscription."""

    title = "FitFlow billing"
    parameter_name = "platform_billing"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("paid", "Paid"),
            ("unpaid", "Unpaid"),
            ("suspended_unpaid", "Suspended for non-payment"),
            ("none", "No subscription"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Gym]) -> QuerySet[Gym]:
        from apps.billing.services import PAID_STATUSES, UNPAID_REASON_PREFIX

        value = self.value()
        if value == "paid":
            return queryset.filter(
                platform_unpaid_since__isnull=True, stripe_state__subscription_status__in=PAID_STATUSES
            )
        if value == "unpaid":
            return queryset.filter(platform_unpaid_since__isnull=False)
        if value == "suspended_unpaid":
            return queryset.filter(status=Gym.Status.SUSPENDED, suspended_reason__startswith=UNPAID_REASON_PREFIX)
        if value == "none":
            return queryset.filter(Q(stripe_state__isnull=True) | Q(stripe_state__subscription_id=""))
        return queryset


@admin.register(Gym)
class GymAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "status",
        "tier",
        "platform_subscription_status",
        "platform_unpaid_since",
        "stripe_charges_enabled",
        "timezone",
        "currency",
        "country",
        "primary_domain",
        "created_at",
    ]
    list_filter = ["status", "tier", PlatformBillingFilter, "stripe_charges_enabled", "country", "marketplace_enabled"]
    search_fields = ["name", "slug", "domains__domain", "stripe_account_id"]
    readonly_fields = [
        "schema_name",
        "created_at",
        "platform_subscription_status",
        "platform_subscription_id",
        "platform_billing_as_of",
        "stripe_charges_enabled",  # Stripe's truth, from account.updated
    ]
    inlines = [DomainInline]
    actions = [
        "suspend",
        "reactivate",
        "platform_subscribe",
        "platform_billing_sync",
        "platform_unpaid_sweep",
        "connect_account_refresh",
    ] + [_tier_action(t) for t in Gym.Tier.values]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Gym]:
        return super().get_queryset(request).select_related("stripe_state").prefetch_related("domains")

    @admin.display(description="Domain")
    def primary_domain(self, gym: Gym) -> str:
        return next((d.domain for d in gym.domains.all() if d.is_primary), "")

    @admin.display(description="FitFlow subscription")
    def platform_subscription_status(self, gym: Gym) -> str:
        state = getattr(gym, "stripe_state", None)
        return (state.subscription_status if state is not None else "") or "—"

    @admin.display(description="FitFlow subscription id")
    def platform_subscription_id(self, gym: Gym) -> str:
        state = getattr(gym, "stripe_state", None)
        return (state.subscription_id if state is not None else "") or "—"

    @admin.display(description="Billing status as of (Stripe time)")
    def platform_billing_as_of(self, gym: Gym) -> str:
        state = getattr(gym, "stripe_state", None)
        return str(state.billing_as_of) if state is not None and state.billing_as_of else "—"

    @admin.action(description="Suspend selected gyms")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Gym]) -> None:
        for gym in queryset:
            try:
                gym_suspend(gym=gym, reason=f"Suspended by {request.user}")
            except GymError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        self.message_user(request, "Suspension applied.", messages.SUCCESS)

    @admin.action(description="Reactivate selected gyms")
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Gym]) -> None:
        for gym in queryset.exclude(schema_name="public"):
            gym_reactivate(gym=gym)
        self.message_user(request, "Gyms reactivated.", messages.SUCCESS)

    @admin.action(description="Start the FitFlow subscription for the gym's tier")
    def platform_subscribe(self, request: HttpRequest, queryset: QuerySet[Gym]) -> None:
        import stripe

        from apps.billing.errors import BillingError
        from apps.billing.services import gym_platform_subscribe

        for gym in queryset.exclude(schema_name="public"):
            try:
                subscription_id = gym_platform_subscribe(gym=gym, today=timezone.now().date())
            except BillingError as exc:
                self.message_user(request, f"{gym.name}: {exc.message}", messages.ERROR)
            except stripe.StripeError as exc:
                self.message_user(request, f"{gym.name}: Stripe refused ({exc}).", messages.ERROR)
            else:
                self.message_user(request, f"{gym.name}: subscription {subscription_id} started.", messages.SUCCESS)

    @admin.action(description="Sync FitFlow billing from Stripe")
    def platform_billing_sync(self, request: HttpRequest, queryset: QuerySet[Gym]) -> None:
        import stripe

        from apps.billing.services import gym_platform_billing_sync

        synced = 0
        for gym in queryset.exclude(schema_name="public"):
            try:
                gym_platform_billing_sync(gym=gym, now=timezone.now())
            except stripe.StripeError as exc:
                self.message_user(request, f"{gym.name}: Stripe could not be read ({exc}).", messages.ERROR)
            else:
                synced += 1
        self.message_user(request, f"FitFlow billing synced for {synced} gym(s).", messages.SUCCESS)

    @admin.action(description="Suspend selected gyms unpaid past the grace (sweep now)")
    def platform_unpaid_sweep(self, request: HttpRequest, queryset: QuerySet[Gym]) -> None:
        from apps.billing.services import gyms_suspend_unpaid

        suspended = gyms_suspend_unpaid(today=timezone.now().date(), gyms=queryset)
        names = ", ".join(gym.name for gym in suspended) or "none"
        self.message_user(request, f"Suspended for non-payment: {names}.", messages.SUCCESS)

    @admin.action(description="Refresh Stripe Connect status (charges enabled)")
    def connect_account_refresh(self, request: HttpRequest, queryset: QuerySet[Gym]) -> None:
        from apps.billing.services import gym_connect_account_refresh
        from apps.invoices.stripe_api import StripeUnavailable

        for gym in queryset.exclude(schema_name="public").exclude(stripe_account_id=""):
            try:
                gym_connect_account_refresh(gym=gym, now=timezone.now())
            except StripeUnavailable as exc:
                self.message_user(request, f"{gym.name}: {exc}", messages.ERROR)
            else:
                state = "enabled" if gym.stripe_charges_enabled else "not enabled"
                self.message_user(request, f"{gym.name}: Stripe charges {state}.", messages.SUCCESS)

    def has_delete_permission(self, request: HttpRequest, obj: Gym | None = None) -> bool:
        # Deleting drops nothing here; gyms are cancelled, never deleted from the admin.
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Gyms are created through signup (schema cloning), not as bare rows.
        return False
