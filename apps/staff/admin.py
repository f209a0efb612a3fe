"""The gym's own `/admin/` (owners and managers only) and its staff-role admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .access import request_gym_role
from .errors import GymAccessDenied
from .models import StaffRole
from .roles import Role


class GymAdminSite(admin.AdminSite):
    """`/admin/` on a gym host. Entry needs the owner or manager role at *this* gym
    (not Django's is_staff, which is the platform super-admin's flag)."""

    site_header = "FitFlow gym admin"
    site_title = "Gym admin"
    index_title = "Your gym's records"

    def has_permission(self, request: HttpRequest) -> bool:
        if not (request.user.is_active and request.user.is_authenticated):
            return False
        try:
            request_gym_role(request, minimum=Role.MANAGER)
        except GymAccessDenied:
            return False
        return True


gym_admin_site = GymAdminSite(name="gym_admin")


class GymRoleAdminMixin:
    """Model permissions in the gym admin follow the gym role (owner/manager), not
    Django's per-model permission rows."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return gym_admin_site.has_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return gym_admin_site.has_permission(request)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


class ReadOnlyAdmin(GymRoleAdminMixin, admin.ModelAdmin):
    """Viewable by whoever may use the gym admin; nobody adds, changes or deletes (records
    such as check-ins and money documents change only through their services)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """An inline anyone who may use the gym admin can read, and nobody can change."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return gym_admin_site.has_permission(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StaffRole, site=gym_admin_site)
class StaffRoleAdmin(GymRoleAdminMixin, admin.ModelAdmin):
    list_display = ["user", "role", "is_active", "created_at"]
    list_filter = ["role", "is_active"]
    search_fields = ["user__email", "user__first_name", "user__last_name"]
    raw_id_fields = ["user"]
    list_select_related = ["user"]
