"""Schedule pages: the weekly timetable, a session's roster (with editing and cancelling
the session), and class management with recurring schedules built from a preview.

Views parse input, call a service or selector and render; every page works without
JavaScript, and htmx swaps the same template's partials. Roles: the timetable and the
roster are for receptionists and above; managing classes and editing or cancelling
sessions need a manager or owner. A broken rule shows the service's message (400) and
changes nothing.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from apps.bookings.forms import MemberSearchForm
from apps.bookings.selectors import session_roster
from apps.bookings.services import ATTENDANCE_OPENS_BEFORE
from apps.members.selectors import member_list
from apps.staff.access import require_gym_role
from apps.staff.roles import Role

from .errors import ClassError
from .forms import GymClassForm, ScheduleForm, SessionCancelForm, SessionEditForm, TimetableFilterForm, safe_colour
from .models import ClassSession, GymClass
from .selectors import sessions_with_counts, timetable_week
from .services import class_create, class_update, schedule_create, schedule_preview, session_cancel, session_update

SEARCH_RESULTS = 8


def _partial(request: HttpRequest) -> bool:
    """True for an htmx swap (not for htmx's full-page history restore)."""
    htmx = request.htmx  # type: ignore[attr-defined]
    return bool(htmx) and not htmx.history_restore_request


def _gym_zone(request: HttpRequest) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(request.tenant.timezone or "UTC")  # type: ignore[attr-defined]


def _when(start: datetime.datetime, zone: zoneinfo.ZoneInfo) -> str:
    local = start.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y} at {local:%H:%M}"


# --- the timetable ----------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def timetable_view(request: HttpRequest) -> HttpResponse:
    """`/schedule/?week=YYYY-MM-DD&instructor=&type=`: the gym-local week, Monday to
    Sunday, each session a block in its class's colour."""
    zone = _gym_zone(request)
    now = timezone.now()
    today = now.astimezone(zone).date()
    filters_form = TimetableFilterForm(request.GET)
    monday = filters_form.week_start(today)
    filters = filters_form.filters()
    sessions = timetable_week(week_start=monday, tz=str(zone), **filters)
    days: list[dict[str, Any]] = [{"date": monday + datetime.timedelta(days=i), "sessions": []} for i in range(7)]
    for session in sessions:
        local_start = session.starts_at.astimezone(zone)
        index = (local_start.date() - monday).days
        if not 0 <= index < 7:
            continue
        session.local_start = local_start  # type: ignore[attr-defined]
        session.local_end = session.ends_at.astimezone(zone)  # type: ignore[attr-defined]
        session.colour = safe_colour(session.gym_class.colour)  # type: ignore[attr-defined]
        session.teacher = session.instructor or session.gym_class.default_instructor  # type: ignore[attr-defined]
        session.is_full = session.booked_count >= session.capacity  # type: ignore[attr-defined]
        session.is_past = session.ends_at <= now  # type: ignore[attr-defined]
        days[index]["sessions"].append(session)
    kept = {
        k: v for k, v in (("instructor", request.GET.get("instructor", "")), ("type", request.GET.get("type", ""))) if v
    }
    if filters["instructor_id"] is None:
        kept.pop("instructor", None)
    if not filters["class_type"]:
        kept.pop("type", None)

    def week_url(day: datetime.date) -> str:
        return "?" + urlencode({"week": day.isoformat(), **kept})

    context = {
        "filters_form": filters_form,
        "days": days,
        "today": today,
        "monday": monday,
        "sunday": monday + datetime.timedelta(days=6),
        "session_count": len(sessions),
        "prev_url": week_url(monday - datetime.timedelta(days=7)),
        "next_url": week_url(monday + datetime.timedelta(days=7)),
        "this_week_url": "?" + urlencode(kept) if kept else reverse("classes:timetable"),
        "is_this_week": monday <= today <= monday + datetime.timedelta(days=6),
        "is_filtered": bool(kept),
        "zone": str(zone),
        "can_manage": request.gym_role.at_least(Role.MANAGER),  # type: ignore[attr-defined]
    }
    template = "classes/timetable.html#week" if _partial(request) else "classes/timetable.html"
    return render(request, template, context)


# --- a session's roster -----------------------------------------------------------------


def _session(session_id: int) -> ClassSession:
    return get_object_or_404(
        sessions_with_counts(ClassSession.objects.filter(pk=session_id)),
        pk=session_id,
    )


def _session_facts(request: HttpRequest, session: ClassSession) -> None:
    zone = _gym_zone(request)
    session.local_start = session.starts_at.astimezone(zone)  # type: ignore[attr-defined]
    session.local_end = session.ends_at.astimezone(zone)  # type: ignore[attr-defined]
    session.colour = safe_colour(session.gym_class.colour)  # type: ignore[attr-defined]
    session.teacher = session.instructor or session.gym_class.default_instructor  # type: ignore[attr-defined]
    session.is_full = session.booked_count >= session.capacity  # type: ignore[attr-defined]
    session.spots_left = max(session.capacity - session.booked_count, 0)  # type: ignore[attr-defined]


def roster_url(session_id: int) -> str:
    return reverse("classes:session", args=[session_id])


@require_GET
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def session_roster_view(request: HttpRequest, session_id: int) -> HttpResponse:
    """`/schedule/sessions/<id>/?q=`: who is booked (with attendance marking), the
    waitlist in order, the cancelled; book a member found by search."""
    search_form = MemberSearchForm(request.GET)
    part = "search-results" if _partial(request) and request.GET.get("part") == "search-results" else ""
    return roster_page(request, session_id, query=search_form.query(), part=part)


def roster_page(
    request: HttpRequest, session_id: int, *, query: str = "", book_error: str = "", part: str = "", status: int = 200
) -> HttpResponse:
    """The roster page (or one of its partials); the booking views re-render it with
    the engine's message when a booking is refused."""
    session = _session(session_id)
    _session_facts(request, session)
    found = list(member_list(query=query).exclude(status="erased")[:SEARCH_RESULTS]) if query else []
    roster = session_roster(session=session)
    active = {b.member_id: b for b in [*roster.booked, *roster.waitlist]}
    for member in found:
        member.existing = active.get(member.pk)  # type: ignore[attr-defined]
    now = timezone.now()
    context = {
        "session": session,
        "roster": roster,
        "search_form": MemberSearchForm(initial={"q": query}),
        "query": query,
        "found": found,
        "search_limit": SEARCH_RESULTS,
        "book_error": book_error,
        "bookable": session.status == ClassSession.Status.SCHEDULED and session.starts_at > now,
        "attendance_open": session.status != ClassSession.Status.CANCELLED
        and now >= session.starts_at - ATTENDANCE_OPENS_BEFORE,
        "can_manage": request.gym_role.at_least(Role.MANAGER),  # type: ignore[attr-defined]
        "back_url": reverse("classes:timetable") + f"?week={session.local_start.date().isoformat()}",  # type: ignore[attr-defined]
    }
    template = f"classes/roster.html#{part}" if part else "classes/roster.html"
    return render(request, template, context, status=status)


def _session_action_page(
    request: HttpRequest, session: ClassSession, form: Any, *, action: str, title: str, button: str
) -> HttpResponse:
    _session_facts(request, session)
    context = {
        "session": session,
        "form": form,
        "action": action,
        "title": title,
        "button": button,
        "post_url": request.path,
        "back_url": roster_url(session.pk),
        "in_series": session.schedule_id is not None,
    }
    template = "classes/session_action.html#form" if _partial(request) else "classes/session_action.html"
    return render(request, template, context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.MANAGER)
def session_edit_view(request: HttpRequest, session_id: int) -> HttpResponse:
    """`/schedule/sessions/<id>/edit/`: time, length, instructor, capacity, notes; for
    this session only or this and the following ones of its schedule."""
    session = _session(session_id)
    form = SessionEditForm(
        request.POST if request.method == "POST" else None, initial=SessionEditForm.initial_for(session)
    )
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        if not changes:
            messages.info(request, "Nothing was changed.")
            return redirect(roster_url(session.pk))
        try:
            changed = session_update(session=session, scope=form.cleaned_data["scope"], **changes)
        except ClassError as exc:
            form.add_class_error(exc)
        else:
            n = len(changed)
            messages.success(request, f"Saved {n} session{'s' if n != 1 else ''}.")
            return redirect(roster_url(session.pk))
    return _session_action_page(request, session, form, action="edit", title="Edit session", button="Save")


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.MANAGER)
def session_cancel_view(request: HttpRequest, session_id: int) -> HttpResponse:
    """`/schedule/sessions/<id>/cancel/`: cancel this session (or this and the following
    ones); their bookings are cancelled, credits refunded and members notified."""
    session = _session(session_id)
    form = SessionCancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            cancelled = session_cancel(
                session=session,
                scope=form.cleaned_data["scope"],
                reason=form.cleaned_data["reason"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except ClassError as exc:
            form.add_class_error(exc)
        else:
            n = len(cancelled)
            messages.success(
                request,
                f"Cancelled {n} session{'s' if n != 1 else ''}. Booked members were notified and their credits refunded.",
            )
            return redirect(roster_url(session.pk))
    return _session_action_page(
        request, session, form, action="cancel", title="Cancel session", button="Cancel session"
    )


# --- classes and recurring schedules ------------------------------------------------------


@require_GET
@require_gym_role(Role.MANAGER)
def class_list_view(request: HttpRequest) -> HttpResponse:
    """`/schedule/classes/`: active classes, then inactive ones."""
    classes = list(
        GymClass.objects.select_related("default_instructor")
        .prefetch_related("allowed_plans")
        .order_by("-is_active", "name")
    )
    for gym_class in classes:
        gym_class.safe_colour = safe_colour(gym_class.colour)  # type: ignore[attr-defined]
    return render(request, "classes/class_list.html", {"classes": classes})


def _class_form_page(request: HttpRequest, gym_class: GymClass | None) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    initial = GymClassForm.initial_for(gym_class) if gym_class else None
    form = GymClassForm(data, initial=initial)
    if data is not None and form.is_valid():
        try:
            if gym_class is None:
                saved = class_create(**form.service_fields())
            else:
                saved = class_update(gym_class=gym_class, **form.service_fields())
        except ClassError as exc:
            form.add_class_error(exc)
        else:
            if gym_class is None:
                messages.success(request, f"Class “{saved.name}” created. Now add its recurring schedule.")
                return redirect("classes:schedule-create", class_id=saved.pk)
            messages.success(request, f"Class “{saved.name}” saved.")
            return redirect("classes:classes")
    status = 400 if form.errors else 200
    return render(request, "classes/class_form.html", {"form": form, "gym_class": gym_class}, status=status)


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.MANAGER)
def class_create_view(request: HttpRequest) -> HttpResponse:
    """`/schedule/classes/new/`: a new class template."""
    return _class_form_page(request, None)


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.MANAGER)
def class_edit_view(request: HttpRequest, class_id: int) -> HttpResponse:
    """`/schedule/classes/<id>/edit/`: change a class template."""
    return _class_form_page(request, get_object_or_404(GymClass, pk=class_id))


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.MANAGER)
def schedule_create_view(request: HttpRequest, class_id: int) -> HttpResponse:
    """`/schedule/classes/<id>/schedule/`: a recurring schedule in two steps. Fill the
    rule and see the local dates and times ("preview"; htmx refreshes it as the rule
    changes), then confirm to create exactly those sessions. A confirm whose rule no
    longer matches the previewed one shows the new dates again instead of creating."""
    gym_class = get_object_or_404(GymClass, pk=class_id)
    zone = _gym_zone(request)
    form = ScheduleForm(request.POST if request.method == "POST" else None)
    dates: list[datetime.datetime] = []
    stale = False
    if request.method == "POST" and form.is_valid():
        wants_create = request.POST.get("action") == "create"
        try:
            if wants_create and form.matches_preview():
                _, sessions = schedule_create(
                    gym_class=gym_class,
                    instructor=form.cleaned_data["instructor"],
                    capacity_override=form.cleaned_data["capacity_override"],
                    **form.rule(),
                )
                return _schedule_created(request, gym_class, sessions, zone)
            dates = schedule_preview(**form.rule(), tz=zone)
            stale = wants_create
        except ClassError as exc:
            form.add_class_error(exc)
            dates = []
    context = {
        "gym_class": gym_class,
        "form": form,
        "dates": dates,
        "fingerprint": form.fingerprint() if dates else "",
        "stale": stale,
        "now": timezone.now(),
        "zone": str(zone),
        "post_url": request.path,
    }
    status = 400 if form.errors else 200
    template = "classes/schedule_form.html#preview" if _partial(request) else "classes/schedule_form.html"
    return render(request, template, context, status=status)


def _schedule_created(
    request: HttpRequest, gym_class: GymClass, sessions: list[ClassSession], zone: zoneinfo.ZoneInfo
) -> HttpResponse:
    """After creating: a message, then the timetable's week of the first new session."""
    n = len(sessions)
    if not sessions:
        messages.info(request, "The rule gave no dates, so no sessions were created.")
        return redirect("classes:classes")
    first = sessions[0].starts_at
    messages.success(
        request, f"Created {n} session{'s' if n != 1 else ''} of {gym_class.name}, the first on {_when(first, zone)}."
    )
    return redirect(reverse("classes:timetable") + f"?week={first.astimezone(zone).date().isoformat()}")
