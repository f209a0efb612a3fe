"""The desk's booking actions, used from a session's roster (`/schedule/sessions/<id>/`):
book a member (or put them on the waitlist when the session is full), cancel a booking
with a reason, and mark attendance (one click per row with htmx).

Every action works without JavaScript (a POST, then back to the roster). A refused
booking or cancellation shows the engine's own message with status 400 and changes
nothing. Roles: receptionist and above.
"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from apps.accounts.models import User
from apps.classes.models import ClassSession
from apps.classes.views import roster_page, roster_url
from apps.staff.access import require_gym_role
from apps.staff.roles import Role

from .errors import BookingError
from .forms import AttendanceForm, BookingCancelForm, BookMemberForm
from .models import Booking
from .services import booking_cancel, booking_create, booking_mark_attendance


def _partial(request: HttpRequest) -> bool:
    htmx = request.htmx  # type: ignore[attr-defined]
    return bool(htmx) and not htmx.history_restore_request


def _actor(request: HttpRequest) -> User:
    """The staff user acting (`require_gym_role` has let only logged-in users through)."""
    return cast(User, request.user)


def _booking(booking_id: int) -> Booking:
    return get_object_or_404(Booking.objects.select_related("member", "session__gym_class"), pk=booking_id)


@require_POST
@require_gym_role(Role.RECEPTIONIST)
def booking_create_view(request: HttpRequest, session_id: int) -> HttpResponse:
    """`/bookings/sessions/<id>/book/`: the desk books a member found by search."""
    session = get_object_or_404(ClassSession, pk=session_id)
    form = BookMemberForm(request.POST)
    query = str(request.POST.get("q", ""))[:100]
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return roster_page(request, session.pk, query=query, book_error=error, status=400)
    member = form.cleaned_data["member"]
    try:
        booking = booking_create(
            member=member,
            session=session,
            join_waitlist=form.cleaned_data["join_waitlist"],
            actor=_actor(request),
        )
    except BookingError as exc:
        return roster_page(
            request, session.pk, query=query, book_error=f"{member.full_name}: {exc.message}", status=400
        )
    if booking.status == Booking.Status.WAITLISTED:
        messages.success(request, f"{member.full_name} is on the waitlist, position {booking.waitlist_position}.")
    else:
        messages.success(request, f"{member.full_name} is booked.")
    return redirect(roster_url(session.pk))


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def booking_cancel_view(request: HttpRequest, booking_id: int) -> HttpResponse:
    """`/bookings/<id>/cancel/`: cancel a booking (or a waitlist place) with a reason.
    Inside the cancellation window it becomes a late cancel (the gym's policy)."""
    booking = _booking(booking_id)
    form = BookingCancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            booking_cancel(booking=booking, reason=form.cleaned_data["reason"], actor=_actor(request))
        except BookingError as exc:
            form.add_error(None, exc.message)
        else:
            booking.refresh_from_db()
            if booking.status == Booking.Status.LATE_CANCELLED:
                what = "late-cancelled (inside the cancellation window)"
            else:
                what = "cancelled"
            messages.success(request, f"{booking.member.full_name}'s booking was {what}.")
            return redirect(roster_url(booking.session_id))
    context = {"booking": booking, "form": form, "back_url": roster_url(booking.session_id), "post_url": request.path}
    template = "bookings/cancel.html#form" if _partial(request) else "bookings/cancel.html"
    return render(request, template, context, status=400 if form.errors else 200)


@require_POST
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def booking_attendance_view(request: HttpRequest, booking_id: int) -> HttpResponse:
    """`/bookings/<id>/attendance/`: mark attended (`attended=1`) or no-show (`0`). With
    htmx the roster row is swapped in place; without, back to the roster."""
    booking = _booking(booking_id)
    form = AttendanceForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "Choose attended or no-show."
    else:
        try:
            booking_mark_attendance(booking=booking, attended=form.cleaned_data["attended"], actor=_actor(request))
        except BookingError as exc:
            error = exc.message
        booking = _booking(booking.pk)
    if _partial(request):
        context = {"b": booking, "row_error": error, "attendance_open": True}
        return render(request, "classes/roster.html#booked-row", context, status=400 if error else 200)
    if error:
        messages.error(request, f"{booking.member.full_name}: {error}")
    else:
        messages.success(request, f"{booking.member.full_name}: {booking.get_status_display().lower()}.")
    return redirect(roster_url(booking.session_id))
