"""Notification pages on a gym's host (`/notifications/`): the log of every message and
the gym's messaging settings; and the member page's Notifications tab
(`member_notifications_tab_context`, rendered by `apps.members.views`).

Views parse input, call a selector or service and render; with htmx the log's results
and the settings form swap in place (STYLE.md rule 13), and both work without
JavaScript.

Roles (apps/staff/roles.py):
- the log and the member tab: every staff role (receptionist and up): the front desk
  answers "did you send me my receipt?";
- the messaging settings: owner and manager (they hold the gym's Twilio and Firebase
  credentials, like the other gym settings).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from apps.members.models import Member
from apps.staff.access import require_gym_role
from apps.staff.roles import Role

from .errors import NotificationError
from .forms import MEMBER_TAB_PAGE_SIZE, PAGE_SIZE, MessagingSettingsForm, NotificationFilterForm
from .preferences import messaging_settings_update
from .selectors import member_notifications, member_preferences, messaging_settings, notification_log


def _partial(request: HttpRequest) -> bool:
    """True for an htmx swap (not for htmx's full-page history restore)."""
    htmx = request.htmx  # type: ignore[attr-defined]
    return bool(htmx) and not htmx.history_restore_request


@require_GET
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def notification_log_view(request: HttpRequest) -> HttpResponse:
    """`/notifications/`: every notification, newest first, 50 a page: member, kind,
    category, channel, status, why it was suppressed or failed, and when it was
    recorded, sent or failed. Search by member name or email or kind; filter by
    status, channel, kind, category and gym-local dates. Four queries besides the
    request's own (count, page)."""
    filters_form = NotificationFilterForm(request.GET)
    filters = filters_form.filters()
    page = Paginator(notification_log(**filters), PAGE_SIZE).get_page(filters_form.page_number())
    query = {k: v for k in NotificationFilterForm.base_fields if k != "page" and (v := request.GET.get(k, ""))}
    context = {
        "filters_form": filters_form,
        "page": page,
        "query": urlencode(query),
        "is_filtered": filters_form.is_filtered(),
    }
    template = "notifications/log/list.html#results" if _partial(request) else "notifications/log/list.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.MANAGER)
def messaging_settings_view(request: HttpRequest) -> HttpResponse:
    """`/notifications/settings/`: the gym's messaging settings (owner and manager). A
    bad post re-renders with field errors (400) and saves nothing; credentials are never
    shown back (see `MessagingSettingsForm`)."""
    stored = messaging_settings()
    post = request.POST if request.method == "POST" else None
    form = MessagingSettingsForm(post, initial=MessagingSettingsForm.initial_for(stored))
    if post is not None and form.is_valid():
        try:
            messaging_settings_update(**form.service_kwargs())
        except NotificationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, "Messaging settings saved.")
            return redirect("notifications:settings")
    context = {
        "form": form,
        "hints": MessagingSettingsForm.credential_hints(stored),
        "stored": stored,
    }
    template = "notifications/settings/form.html#form" if post is not None and _partial(request) else None
    return render(
        request,
        template or "notifications/settings/form.html",
        context,
        status=400 if form.errors else 200,
    )


def member_notifications_tab_context(request: HttpRequest, member: Member) -> dict[str, Any]:
    """Context of the member page's Notifications tab
    (`templates/notifications/log/_member_tab.html`): `notifications_page` (the member's
    notifications, newest first, 25 a page, `?page=`) and `notification_preference`
    (their channels and opt-outs, or the defaults). Three queries."""
    page_number = request.GET.get("page", "")
    page = Paginator(member_notifications(member=member), MEMBER_TAB_PAGE_SIZE).get_page(
        int(page_number) if page_number.isdigit() else 1
    )
    return {"notifications_page": page, "notification_preference": member_preferences(member=member)}


urlpatterns: list[URLPattern] = [
    path("", notification_log_view, name="log"),
    path("settings/", messaging_settings_view, name="settings"),
]
