"""Notifications in the gym's own `/admin/` (`gym_admin_site`: owners and managers).

The log of messages is a record of what was sent, so it is read-only here: notifications
are recorded by the services that cause them and sent by the pipeline
(`apps.notifications.services`). Preferences, devices and the messaging settings are
not listed (members choose in the app; credentials never show in the admin; the gym's
settings page is `/notifications/settings/`). The changelist joins the member, so a
page costs the same few queries however many rows it lists.
"""

from __future__ import annotations

from django.contrib import admin

from apps.staff.admin import ReadOnlyAdmin, gym_admin_site

from .models import Notification


@admin.register(Notification, site=gym_admin_site)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "member", "kind", "category", "channel", "status", "reason", "sent_at", "failed_at"]
    list_filter = ["status", "channel", "category", "reason", "kind"]
    search_fields = ["member__first_name", "member__last_name", "member__email", "kind", "idempotency_key"]
    list_select_related = ["member"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    list_per_page = 100
    show_full_result_count = False
    fields = readonly_fields = (
        "member",
        "kind",
        "category",
        "idempotency_key",
        "data",
        "channel",
        "recipient",
        "subject",
        "status",
        "reason",
        "error",
        "attempts",
        "provider_id",
        "scheduled_for",
        "created_at",
        "sent_at",
        "failed_at",
        "read_at",
    )
