"""Front-desk pages (`/check-in/`): the desk the receptionist keeps open all day, and
members' printed QR cards.

The desk: one scan box that a USB/Bluetooth scanner types into (or the tablet camera
fills), a live name / phone search with one-click check-in, a big green or red result
panel, and the live occupancy with the latest check-ins (kept current by
`static/checkins/desk.js` over `/ws/check-ins/`, polling `/check-in/occupancy/` while
the socket is down). Every view parses input, calls a service or selector and renders;
each renders the whole desk, or with htmx only the region it changes (partials of
`checkins/desk.html`), so the desk also works without JavaScript.

Roles: receptionist and up; a manual override needs a manager or owner. A refused
check-in is not an HTTP error (200, red panel); bad input re-renders with field errors
(400); another gym's ids are 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from apps.bookings.models import Booking
from apps.core.qrcodes import qr_svg_data_uri
from apps.members.models import Member
from apps.members.selectors import member_list_current_first
from apps.memberships.models import Membership
from apps.staff.access import require_gym_role
from apps.staff.roles import Role

from .errors import CheckInError
from .forms import OVERRIDABLE_CODES, DeskScanForm, DeskSearchForm, OverrideForm
from .models import CheckIn, MemberCard
from .qr import member_card_qr_token
from .selectors import Occupancy, checkin_feed, desk_member_search, occupancy_now
from .services import CheckInResult, checkin_check_out, checkin_create, member_card_issue, member_card_revoke

FEED_SIZE = 12
SEARCH_LIMIT = 8
GREEN_CLEARS_AFTER_MS = 6_000
RED_CLEARS_AFTER_MS = 10_000
NOTICE_CLEARS_AFTER_MS = 8_000
CHANGED_EVENT = "desk:changed"
"""htmx event on responses that changed check-ins: a desk whose socket is down refreshes
its occupancy and feed at once instead of at the next 15 s poll."""

REFUSAL_TITLES = {
    "unknown_code": "Unknown code",
    "no_active_membership": "No active membership",
    "membership_frozen": "Membership frozen",
    "payment_overdue": "Payment overdue",
    "outside_access_hours": "Outside access hours",
    "already_checked_in": "Already checked in",
}
LEVEL_LABELS = {"quiet": "Quiet", "busy": "Busy", "very_busy": "Nearly full", "full": "Full"}


@dataclass
class DeskPanel:
    """What the result panel shows. `tone` is green (let in), red (refused or an
    error) or neutral (a list of matches, a check-out); `clear_after_ms` is when the
    desk clears it for the next scan (None: it waits, e.g. a form with an error)."""

    tone: str
    title: str
    message: str = ""
    code: str = ""
    member: Member | None = None
    membership: Membership | None = None
    warnings: list[str] = field(default_factory=list)
    booking: Booking | None = None
    check_in: CheckIn | None = None
    can_override: bool = False
    override_form: OverrideForm | None = None
    matches: list[Member] | None = None
    query: str = ""
    clear_after_ms: int | None = None


def _partial(request: HttpRequest) -> bool:
    """True for an htmx swap (not for htmx's full-page history restore)."""
    htmx = request.htmx  # type: ignore[attr-defined]
    return bool(htmx) and not htmx.history_restore_request


def _is_manager(request: HttpRequest) -> bool:
    return bool(request.gym_role.at_least(Role.MANAGER))  # type: ignore[attr-defined]


def _member_or_404(member_id: int) -> Member:
    return get_object_or_404(Member.objects.exclude(status=Member.Status.ERASED), pk=member_id)


def _result_panel(request: HttpRequest, result: CheckInResult) -> DeskPanel:
    """The panel for a `checkin_create` answer."""
    if result.allowed:
        return DeskPanel(
            tone="green",
            title="Checked in by override" if result.check_in and result.check_in.overridden_code else "Checked in",
            message=result.message,
            code=result.code,
            member=result.member,
            membership=result.membership,
            warnings=result.warnings,
            booking=result.booking,
            check_in=result.check_in,
            clear_after_ms=GREEN_CLEARS_AFTER_MS,
        )
    can_override = result.member is not None and result.code in OVERRIDABLE_CODES and _is_manager(request)
    return DeskPanel(
        tone="red",
        title=REFUSAL_TITLES.get(result.code, "Refused"),
        message=result.message,
        code=result.code,
        member=result.member,
        membership=result.membership,
        check_in=result.check_in,
        can_override=can_override,
        override_form=OverrideForm(initial={"code": result.code}) if can_override else None,
        clear_after_ms=RED_CLEARS_AFTER_MS,
    )


def _live_context(request: HttpRequest) -> dict[str, Any]:
    """Occupancy and the latest check-ins: two queries."""
    occupancy: Occupancy = occupancy_now(gym=request.tenant)  # type: ignore[attr-defined]
    return {
        "occupancy": occupancy,
        "occupancy_bar": min(occupancy.percent, 100),
        "level_label": LEVEL_LABELS.get(occupancy.level, occupancy.level),
        "feed": checkin_feed(limit=FEED_SIZE),
        "method_labels": dict(CheckIn.Method.choices),
    }


def _search_context(query: str) -> dict[str, Any]:
    found = desk_member_search(query=query, limit=SEARCH_LIMIT) if query else []
    return {
        "search_query": query,
        "found": member_list_current_first(members=found, today=timezone.localdate()),
        "search_limit": SEARCH_LIMIT,
    }


def _desk_page(
    request: HttpRequest,
    *,
    panel: DeskPanel | None = None,
    query: str = "",
    scan_form: DeskScanForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "panel": panel,
        "scan_form": scan_form or DeskScanForm(),
        "feed_size": FEED_SIZE,
        "level_labels": LEVEL_LABELS,
        "is_manager": _is_manager(request),
        **_search_context(query),
        **_live_context(request),
    }
    return render(request, "checkins/desk.html", context, status=status)


def _panel_response(
    request: HttpRequest, panel: DeskPanel, *, status: int = 200, changed: bool = False, scan_form: Any = None
) -> HttpResponse:
    """The result panel alone for htmx, else the whole desk with it."""
    if _partial(request):
        response = render(request, "checkins/desk.html#result", {"panel": panel}, status=status)
    else:
        response = _desk_page(request, panel=panel, scan_form=scan_form, status=status)
    if changed:
        trigger_client_event(response, CHANGED_EVENT)
    return response


def _check_in(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    try:
        result = checkin_create(actor=request.user, **kwargs)  # type: ignore[arg-type]  # require_gym_role: logged in
    except CheckInError as exc:
        panel = DeskPanel(tone="red", title="Not checked in", message=exc.message, code=exc.code)
        return _panel_response(request, panel, status=400)
    return _panel_response(request, _result_panel(request, result), changed=result.allowed)


# --- the desk ------------------------------------------------------------------------------


@require_GET
@never_cache
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def desk_view(request: HttpRequest) -> HttpResponse:
    """`/check-in/?q=`: the desk. With htmx, only the search results for `q` (the scan
    box searches as the receptionist types)."""
    query = DeskSearchForm(request.GET).query()
    if _partial(request):
        return render(request, "checkins/desk.html#search-results", _search_context(query))
    return _desk_page(request, query=query)


@require_GET
@never_cache
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def occupancy_view(request: HttpRequest) -> HttpResponse:
    """`/check-in/occupancy/`: the occupancy counter and the latest check-ins (htmx
    partial; the desk polls it every 15 s while its websocket is down)."""
    if _partial(request):
        return render(request, "checkins/desk.html#live", _live_context(request))
    return _desk_page(request)


@require_POST
@require_gym_role(Role.RECEPTIONIST)
def scan_view(request: HttpRequest) -> HttpResponse:
    """`POST /check-in/scan/` (`q`): a scanned token is checked in; typed text is a
    name / phone search that checks in the one member it matches, or lists them."""
    form = DeskScanForm(request.POST)
    if not form.is_valid():
        panel = DeskPanel(tone="red", title="Nothing to check in", message=" ".join(str(e) for e in form.errors["q"]))
        return _panel_response(request, panel, status=400, scan_form=form)
    text = form.cleaned_data["q"]
    if form.is_token():
        return _check_in(request, qr=text)
    found = desk_member_search(query=text, limit=SEARCH_LIMIT)
    if len(found) == 1:
        return _check_in(request, member=found[0], method=CheckIn.Method.SEARCH)
    if not found:
        message = (
            "Type at least two letters of the name, or scan the QR code."
            if len(text) < 2
            else f"No member matches “{text}”. Check the spelling, or search by phone or email."
        )
        panel = DeskPanel(tone="red", title="No member found", message=message, code="no_match", query=text)
        panel.clear_after_ms = RED_CLEARS_AFTER_MS
        return _panel_response(request, panel)
    panel = DeskPanel(
        tone="neutral",
        title=f"{len(found)}{'+' if len(found) == SEARCH_LIMIT else ''} members match “{text}”",
        message="Pick the member to check in.",
        matches=member_list_current_first(members=found, today=timezone.localdate()),
        query=text,
    )
    return _panel_response(request, panel)


@require_POST
@require_gym_role(Role.RECEPTIONIST)
def member_check_in_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """`POST /check-in/members/<id>/`: check in a member picked from the search."""
    return _check_in(request, member=_member_or_404(member_id), method=CheckIn.Method.SEARCH)


@require_POST
@require_gym_role(Role.MANAGER)
def member_override_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """`POST /check-in/members/<id>/override/` (`reason`): a manager lets a refused
    member in; an empty reason re-renders the panel with the field error."""
    member = _member_or_404(member_id)
    form = OverrideForm(request.POST)
    if not form.is_valid():
        code = form.refusal_code()
        panel = DeskPanel(
            tone="red",
            title=REFUSAL_TITLES.get(code, "Override"),
            message="Nothing was written: an override needs a reason.",
            code=code,
            member=member,
            can_override=True,
            override_form=form,
        )
        return _panel_response(request, panel, status=400)
    return _check_in(request, member=member, override_reason=form.cleaned_data["reason"])


@require_POST
@require_gym_role(Role.RECEPTIONIST)
def check_out_view(request: HttpRequest, check_in_id: int) -> HttpResponse:
    """`POST /check-in/<id>/check-out/`: the member leaves; occupancy drops."""
    check_in = get_object_or_404(CheckIn.objects.select_related("member"), pk=check_in_id)
    try:
        check_in = checkin_check_out(check_in=check_in, actor=request.user)  # type: ignore[arg-type]
    except CheckInError as exc:
        panel = DeskPanel(
            tone="red", title="Not checked out", message=exc.message, code=exc.code, member=check_in.member
        )
        return _panel_response(request, panel, status=400)
    panel = DeskPanel(
        tone="neutral",
        title="Checked out",
        member=check_in.member,
        check_in=check_in,
        clear_after_ms=NOTICE_CLEARS_AFTER_MS,
    )
    return _panel_response(request, panel, changed=True)


# --- printed QR cards ----------------------------------------------------------------------


@require_GET
@require_gym_role(Role.RECEPTIONIST)
def member_card_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """`/check-in/members/<id>/card/`: the member's printed QR card, print-friendly,
    with issue (a new card revokes the old one) and revoke; earlier cards below."""
    member = get_object_or_404(Member, pk=member_id)
    cards = list(MemberCard.objects.filter(member=member).order_by("-issued_at", "-id"))
    card = next((c for c in cards if c.revoked_at is None), None)
    context = {
        "member": member,
        "card": card,
        "earlier_cards": [c for c in cards if c is not card],
        "qr_data_uri": qr_svg_data_uri(member_card_qr_token(card=card)) if card else "",
        "can_issue": member.status != Member.Status.ERASED,
    }
    return render(request, "checkins/card.html", context)


@require_POST
@require_gym_role(Role.RECEPTIONIST)
def member_card_issue_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """`POST /check-in/members/<id>/card/issue/`: a new card; the old one stops working."""
    member = _member_or_404(member_id)
    had_card = MemberCard.objects.filter(member=member, revoked_at__isnull=True).exists()
    try:
        member_card_issue(member=member, actor=request.user)  # type: ignore[arg-type]
    except CheckInError as exc:
        messages.error(request, exc.message)
    else:
        note = " The previous card no longer works." if had_card else ""
        messages.success(request, f"A new QR card was issued to {member.full_name}.{note} Print it below.")
    return redirect("checkins:member-card", member_id=member.pk)


@require_POST
@require_gym_role(Role.RECEPTIONIST)
def member_card_revoke_view(request: HttpRequest, card_id: int) -> HttpResponse:
    """`POST /check-in/cards/<id>/revoke/`: the card (lost or stolen) stops working."""
    card = get_object_or_404(MemberCard.objects.select_related("member"), pk=card_id)
    member_card_revoke(card=card, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, f"Card {card.pk} of {card.member.full_name} was revoked: its QR no longer works.")
    return redirect("checkins:member-card", member_id=card.member_id)
