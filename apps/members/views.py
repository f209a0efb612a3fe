"""Members pages: the list (search, filters, sort, pages, bulk actions), the profile
forms, the member's page with its tabs, CSV import and export, and GDPR export/erase.

Views parse input, call a service or selector and render. Any staff role may use the
list, profiles and forms; medical notes are for owner, manager and trainer only;
import, GDPR export and erasure are for owner and manager.
"""

from __future__ import annotations

import datetime
import json
import secrets
from typing import Any
from urllib.parse import parse_qsl

from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.bookings.selectors import credit_ledger, member_bookings
from apps.bookings.services import credits_summary
from apps.checkins.selectors import member_check_ins, member_visit_count
from apps.invoices.views import member_invoices_tab_context
from apps.memberships.selectors import membership_history
from apps.notifications.views import member_notifications_tab_context
from apps.staff.access import require_gym_role
from apps.staff.roles import Role
from apps.tenants.selectors import gym_phone_region

from .access import request_sees_medical_notes
from .errors import MemberError
from .exports import member_export_csv
from .forms import (
    PAGE_SIZE,
    MemberBulkTagForm,
    MemberEraseForm,
    MemberFilterForm,
    MemberForm,
    MemberImportConfirmForm,
    MemberImportUploadForm,
    MemberSelectionForm,
)
from .imports import ImportPreview, MemberImportError, member_import_commit, member_import_preview
from .models import Member
from .privacy import member_data_export, member_erase
from .selectors import member_list, member_list_current_first
from .services import member_app_invite, member_bulk_tag, member_create, member_update

THIRTY_DAYS = datetime.timedelta(days=30)

TABS = [
    ("profile", "Profile"),
    ("memberships", "Membership history"),
    ("bookings", "Bookings"),
    ("checkins", "Check-ins"),
    ("invoices", "Invoices"),
    ("notifications", "Notifications"),
]


def _partial(request: HttpRequest) -> bool:
    """True for an htmx swap (not for htmx's full-page history restore)."""
    htmx = request.htmx  # type: ignore[attr-defined]
    return bool(htmx) and not htmx.history_restore_request


@require_GET
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def member_list_view(request: HttpRequest) -> HttpResponse:
    """`/members/`: search, filter by status, plan and tag, sort, 50 a page."""
    filters_form = MemberFilterForm(request.GET)
    filters = filters_form.filters()
    page = Paginator(member_list(**filters), PAGE_SIZE).get_page(filters_form.page_number())
    page.object_list = member_list_current_first(members=page.object_list, today=timezone.localdate())
    query = {k: v for k in MemberFilterForm.base_fields if k != "page" and (v := request.GET.get(k, ""))}
    context = {
        "filters_form": filters_form,
        "filters": filters,
        "page": page,
        "query": urlencode(query),
        "query_without_sort": urlencode({k: v for k, v in query.items() if k != "sort"}),
        "sort": filters["sort"],
        "is_filtered": filters_form.is_filtered(),
        "bulk_form": MemberBulkTagForm(),
    }
    template = "members/list.html#results" if _partial(request) else "members/list.html"
    return render(request, template, context)


@require_POST
@require_gym_role(Role.RECEPTIONIST)
def member_bulk_tag_view(request: HttpRequest) -> HttpResponse:
    """Bulk action: add a tag to the checked members, then back to the same list view."""
    form = MemberBulkTagForm(request.POST)
    back = reverse("members:list")
    query = request.POST.get("query", "")
    if query:
        back = f"{back}?{urlencode(dict(_safe_query(query)))}"
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(back)
    try:
        changed = member_bulk_tag(member_ids=form.cleaned_data["ids"], tag=form.cleaned_data["tag"])
    except MemberError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Tagged {changed} member{'s' if changed != 1 else ''} “{form.cleaned_data['tag']}”.")
    return redirect(back)


def _safe_query(query: str) -> list[tuple[str, str]]:
    """The list's own filter parameters from an echoed query string (nothing else)."""
    allowed = set(MemberFilterForm.base_fields)
    return [(k, v) for k, v in parse_qsl(query) if k in allowed]


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.RECEPTIONIST)
def member_create_view(request: HttpRequest) -> HttpResponse:
    """`/members/new/`: a new member's profile."""
    form = MemberForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        region=gym_phone_region(gym=getattr(request, "tenant", None)),
        can_see_medical=request_sees_medical_notes(request),
        initial={"joined_on": timezone.localdate()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            member = member_create(**form.service_fields())
        except MemberError as exc:
            form.add_member_error(exc)
        else:
            messages.success(request, f"{member.full_name} was added.")
            return redirect("members:detail", member_id=member.pk)
    status = 400 if form.errors else 200
    return render(request, "members/form.html", {"form": form, "member": None}, status=status)


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.RECEPTIONIST)
def member_edit_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """`/members/<id>/edit/`: change a member's profile."""
    member = get_object_or_404(Member, pk=member_id)
    if member.status == Member.Status.ERASED:
        messages.error(request, "This member was erased and can no longer be edited.")
        return redirect("members:detail", member_id=member.pk)
    form = MemberForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        region=gym_phone_region(gym=getattr(request, "tenant", None)),
        can_see_medical=request_sees_medical_notes(request),
        initial=MemberForm.initial_for(member),
    )
    if request.method == "POST" and form.is_valid():
        try:
            member_update(member=member, **form.service_fields())
        except MemberError as exc:
            form.add_member_error(exc)
        else:
            messages.success(request, "Profile saved.")
            return redirect("members:detail", member_id=member.pk)
    status = 400 if form.errors else 200
    return render(request, "members/form.html", {"form": form, "member": member}, status=status)


@require_GET
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def member_detail_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """`/members/<id>/?tab=…`: the member's page; the tabs swap in with htmx."""
    member = get_object_or_404(Member, pk=member_id)
    tab = request.GET.get("tab", "profile")
    if tab not in dict(TABS):
        tab = "profile"
    context: dict[str, Any] = {
        "member": member,
        "tab": tab,
        "tabs": TABS,
        "sees_medical": request_sees_medical_notes(request),
        "is_manager": request.gym_role.at_least(Role.MANAGER),  # type: ignore[attr-defined]
    }
    if tab == "memberships":
        context["memberships"] = membership_history(member=member)
    elif tab == "bookings":
        now = timezone.now()
        bookings = member_bookings(member=member)
        context["upcoming_bookings"] = bookings.filter(session__starts_at__gte=now)
        context["past_bookings"] = bookings.filter(session__starts_at__lt=now).reverse()[:100]
        # Brings lazily-due ledger rows (period grants, expiries) up to date first.
        context["credits"] = credits_summary(member=member)
        context["ledger"] = credit_ledger(member=member)
    elif tab == "checkins":
        context["check_ins"] = member_check_ins(member=member)
        context["visits_30_days"] = member_visit_count(member=member, since=timezone.now() - THIRTY_DAYS)
    elif tab == "invoices":
        context.update(member_invoices_tab_context(request, member))
    elif tab == "notifications":
        context.update(member_notifications_tab_context(request, member))
    template = "members/detail.html#tabs" if _partial(request) else "members/detail.html"
    return render(request, template, context)


@require_POST
@require_gym_role(Role.RECEPTIONIST)
def member_app_invite_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """`POST /members/<id>/invite/`: give the member a login for the gym's app and email
    them the invitation (`member_app_invite`); back to the member's page with a message."""
    member = get_object_or_404(Member, pk=member_id)
    try:
        member_app_invite(member=member)
    except MemberError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"{member.full_name} is invited to the app: an email is on its way to {member.email}."
        )
    return redirect("members:detail", member_id=member.pk)


def _csv_response(rows: Any, filename: str) -> HttpResponse:
    # Built in memory, not streamed: a streamed body would be read after the view
    # returns, when (under ASGI's shared sync thread) another request may have moved
    # the connection to another gym's schema. A few MB at 10,000 members.
    response = HttpResponse("".join(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.RECEPTIONIST)
def member_export_view(request: HttpRequest) -> HttpResponse:
    """CSV export. GET: every member matching the list's filters (all of them with none).
    POST: the members checked on the list. Medical notes only for owner/manager/trainer."""
    if request.method == "POST":
        selection = MemberSelectionForm(request.POST)
        if not selection.is_valid():
            messages.error(request, "Select at least one member to export.")
            query = request.POST.get("query", "")
            return redirect(reverse("members:list") + (f"?{urlencode(_safe_query(query))}" if query else ""))
        members = member_list().filter(pk__in=selection.cleaned_data["ids"])
    else:
        members = member_list(**MemberFilterForm(request.GET).filters())
    slug = request.tenant.slug  # type: ignore[attr-defined]
    filename = f"members-{slug}-{timezone.localdate():%Y-%m-%d}.csv"
    return _csv_response(
        member_export_csv(members=members, include_medical=request_sees_medical_notes(request)), filename
    )


@require_GET
@require_gym_role(Role.MANAGER)
def member_data_export_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """GDPR/POPIA: everything the gym holds about one member, as a JSON download."""
    member = get_object_or_404(Member, pk=member_id)
    body = json.dumps(member_data_export(member=member), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="member-{member.pk}-data.json"'
    return response


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.MANAGER)
def member_erase_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """GDPR/POPIA erasure: anonymise the member's personal data (financial records stay)."""
    member = get_object_or_404(Member, pk=member_id)
    if member.status == Member.Status.ERASED:
        messages.error(request, "This member was already erased.")
        return redirect("members:detail", member_id=member.pk)
    form = MemberEraseForm(request.POST if request.method == "POST" else None, member=member)
    if request.method == "POST" and form.is_valid():
        try:
            member_erase(member=member, actor=request.user, reason=form.cleaned_data["reason"])  # type: ignore[arg-type]
        except MemberError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "The member's personal data was erased. Their financial records are kept.")
            return redirect("members:detail", member_id=member.pk)
    return render(request, "members/erase.html", {"form": form, "member": member}, status=400 if form.errors else 200)


IMPORT_TTL_S = 60 * 60
IMPORT_ERRORS_SHOWN = 500


def _import_key(request: HttpRequest, token: str) -> str:
    # The cache's key function adds the gym's schema, so tokens never cross gyms.
    return f"member-import:{request.user.pk}:{token}"


def _import_preview_page(request: HttpRequest, preview: ImportPreview, token: str, status: int = 200) -> HttpResponse:
    row_errors = [e for e in preview.errors if e.row is not None]
    context = {
        "preview": preview,
        "confirm_form": MemberImportConfirmForm(initial={"token": token}),
        "row_errors": row_errors[:IMPORT_ERRORS_SHOWN],
        "more_errors": max(len(row_errors) - IMPORT_ERRORS_SHOWN, 0),
        "mapped": [c for c in preview.columns if c.field],
        "ignored": preview.ignored_headers,
        "sees_medical": request_sees_medical_notes(request),
        "nothing_new": preview.is_valid and preview.valid_count == 0,
    }
    return render(request, "members/import.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.MANAGER)
def member_import_view(request: HttpRequest) -> HttpResponse:
    """`/members/import/`: upload a CSV and see the preview (per-row errors and counts),
    then confirm to import every row or none. The uploaded bytes wait in the gym's cache
    for an hour between the two steps; a re-upload of an imported file creates nothing."""
    region = gym_phone_region(gym=getattr(request, "tenant", None))
    if request.method == "POST" and "token" in request.POST:
        confirm = MemberImportConfirmForm(request.POST)
        data = cache.get(_import_key(request, confirm.data["token"])) if confirm.is_valid() else None
        if data is None:
            context = {
                "form": MemberImportUploadForm(),
                "upload_error": "That upload has expired. Upload the file again.",
            }
            return render(request, "members/import.html", context, status=400)
        token = confirm.cleaned_data["token"]
        try:
            result = member_import_commit(data=data, region=region, actor=request.user)  # type: ignore[arg-type]  # require_gym_role: logged in
        except MemberImportError as exc:
            return _import_preview_page(request, exc.preview, token, status=400)
        except MemberError as exc:
            messages.error(request, exc.message)
            return _import_preview_page(request, member_import_preview(data=data, region=region), token, status=409)
        cache.delete(_import_key(request, token))
        skipped = (
            f" {result.already_imported_count} already imported row(s) skipped."
            if result.already_imported_count
            else ""
        )
        messages.success(
            request, f"Imported {result.created_count} member{'s' if result.created_count != 1 else ''}.{skipped}"
        )
        return redirect(reverse("members:list") + "?sort=-joined")
    form = MemberImportUploadForm(request.POST if request.method == "POST" else None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data["file"]
        preview = member_import_preview(data=data, region=region)
        token = secrets.token_urlsafe(24)
        cache.set(_import_key(request, token), data, IMPORT_TTL_S)
        return _import_preview_page(request, preview, token)
    status = 400 if form.errors else 200
    return render(request, "members/import.html", {"form": form}, status=status)
