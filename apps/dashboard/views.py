"""The gym dashboard shell: home and the gym settings page."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from apps.checkins.selectors import occupancy_now
from apps.classes.models import ClassSession
from apps.classes.selectors import sessions_today
from apps.invoices.pdf import Formatter, document_locale
from apps.invoices.services.gym_billing import gym_billing_settings_update
from apps.members.models import Member
from apps.memberships.selectors import membership_mrr, membership_statuses_counts
from apps.staff.access import require_gym_role
from apps.staff.errors import StaffError
from apps.staff.forms import StaffInviteForm
from apps.staff.roles import Role
from apps.staff.selectors import staff_role_list
from apps.staff.services import staff_invite
from apps.tenants.errors import GymError
from apps.tenants.forms import GymSettingsForm
from apps.tenants.services import gym_update_settings


@require_gym_role(Role.RECEPTIONIST)
def home_view(request: HttpRequest) -> HttpResponse:
    """`/`: the dashboard home for any staff role: how many are in the gym now (with
    a link to the check-in desk), member and membership counts, today's classes (booked
    spots against capacity, the next one to start), MRR (`membership_mrr`, in the gym's
    currency and locale), the team."""
    gym = request.tenant  # type: ignore[attr-defined]
    now = timezone.now()
    today = [s for s in sessions_today(now=now, tz=gym.timezone) if s.status != ClassSession.Status.CANCELLED]
    formatter = Formatter(currency=gym.currency, locale=document_locale(gym=gym))
    context = {
        "staff": staff_role_list()[:20],
        "members_count": Member.objects.exclude(status=Member.Status.ERASED).count(),
        "membership_counts": membership_statuses_counts(),
        "occupancy": occupancy_now(gym=gym),
        "classes_today": {
            "count": len(today),
            "booked": sum(s.booked_count for s in today),  # type: ignore[attr-defined]
            "capacity": sum(s.capacity for s in today),
            "next": next((s for s in today if s.starts_at >= now), None),
        },
        "mrr": formatter.money(membership_mrr()),
    }
    return render(request, "dashboard/home.html", context)


@require_gym_role(Role.MANAGER)
def settings_view(request: HttpRequest) -> HttpResponse:
    """`/settings/`: name, timezone, currency, country and logo, the front desk
    (capacity, repeat-scan window, automatic check-out, payment grace) and billing
    (legal details, tax, invoice prefix and due days, dunning, billing hour and email;
    the Stripe Connect button posts to `invoices:stripe-connect`, owner only); owner and
    manager. A bad post re-renders with field errors (400) and saves nothing."""
    gym = request.tenant  # type: ignore[attr-defined]
    form = GymSettingsForm(request.POST or None, request.FILES or None, initial=GymSettingsForm.initial_for(gym))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        logo = False if data["remove_logo"] else data["logo"]
        try:
            with transaction.atomic():
                gym_update_settings(
                    gym=gym,
                    name=data["name"],
                    timezone=data["timezone"],
                    currency=data["currency"],
                    country=data["country"],
                    logo=logo,
                    **{name: data[name] for name in GymSettingsForm.FRONT_DESK_FIELDS},
                )
                gym_billing_settings_update(gym=gym, **{name: data[name] for name in GymSettingsForm.BILLING_FIELDS})
        except GymError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(request, "Settings saved.")
            return redirect("dashboard:settings")
    status = 400 if form.errors else 200
    partial = request.htmx and request.method == "POST"  # type: ignore[attr-defined]
    template = "dashboard/settings.html#form" if partial else "dashboard/settings.html"
    return render(request, template, {"form": form}, status=status)


@require_gym_role(Role.MANAGER)
def team_view(request: HttpRequest) -> HttpResponse:
    """`/team/`: the gym's staff, and inviting someone (owner and manager; a manager
    offers roles up to manager). The invitation email lets them choose a password on
    this gym's site (`staff_invite`). A bad post re-renders with errors (400)."""
    inviter = request.gym_role  # type: ignore[attr-defined]
    form = StaffInviteForm(request.POST or None, inviter=inviter)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            staff_role = staff_invite(
                email=data["email"], role=Role(data["role"]), first_name=data["first_name"], last_name=data["last_name"]
            )
        except StaffError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                f"{staff_role.user.email} is on the team as {staff_role.get_role_display()}: "
                "an invitation email is on its way.",
            )
            return redirect("dashboard:team")
    status = 400 if form.errors else 200
    return render(request, "dashboard/team.html", {"form": form, "staff": staff_role_list()}, status=status)
