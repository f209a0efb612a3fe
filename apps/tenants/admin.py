"""Platform super-admin for gyms (public /admin/): list, search, filter, suspend,
reactivate, change tier, see domains."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

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


@admin.register(Gym)
class GymAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status", "tier", "timezone", "currency", "country", "primary_domain", "created_at"]
    list_filter = ["status", "tier", "country", "marketplace_enabled"]
    search_fields = ["name", "slug", "domains__domain"]
    readonly_fields = ["schema_name", "created_at"]
    inlines = [DomainInline]
    actions = ["suspend", "reactivate"] + [_tier_action(t) for t in Gym.Tier.values]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Gym]:
        return super().get_queryset(request).prefetch_related("domains")

    @admin.display(description="Domain")
    def primary_domain(self, gym: Gym) -> str:
        return next((d.domain for d in gym.domains.all() if d.is_primary), "")

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

    def has_delete_permission(self, request: HttpRequest, obj: Gym | None = None) -> bool:
        # Deleting drops nothing here; gyms are cancelled, never deleted from the admin.
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Gyms are created through signup (schema cloning), not as bare rows.
        return False
