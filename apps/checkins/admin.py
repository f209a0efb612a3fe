"""Check-ins and printed member cards in the gym's own `/admin/` (`gym_admin_site`).

Both are records of what happened at the front desk, so they are read-only here:
check-ins are written and checked out at the desk (`services.checkin_create`,
`services.checkin_check_out`) and by the automatic check-out; cards are issued at
the desk (`services.member_card_issue`). The one write is the "Revoke" action on
cards (a lost or stolen card), which goes through `services.member_card_revoke`.
Nothing is deleted here. The changelists join what they show (member, plan, class,
staff) so a page costs the same few queries however many rows it lists.
"""

from __future__ import annotations

import datetime
from typing import cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts.models import User
from apps.staff.admin import ReadOnlyAdmin, gym_admin_site

from .models import CheckIn, MemberCard
from .services import member_card_revoke


@admin.register(CheckIn, site=gym_admin_site)
class CheckInAdmin(ReadOnlyAdmin):
    list_display = [
        "checked_in_at",
        "member",
        "plan",
        "method",
        "class_booked",
        "checked_out_at",
        "check_out_kind",
        "minutes_in",
        "checked_in_by",
    ]
    list_filter = [
        "method",
        "check_out_kind",
        ("checked_out_at", admin.EmptyFieldListFilter),
        ("booking", admin.EmptyFieldListFilter),
    ]
    search_fields = ["member__first_name", "member__last_name", "member__email", "override_reason"]
    list_select_related = ["member", "membership__plan", "booking__session__gym_class", "checked_in_by"]
    date_hierarchy = "checked_in_at"
    ordering = ["-checked_in_at", "-id"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "member",
        "membership",
        "booking",
        "method",
        "checked_in_at",
        "checked_in_by",
        "checked_out_at",
        "check_out_kind",
        "checked_out_by",
        "override_reason",
        "overridden_code",
    ]

    @admin.display(description="Plan", ordering="membership__plan__name")
    def plan(self, check_in: CheckIn) -> str:
        return check_in.membership.plan.name if check_in.membership else "—"

    @admin.display(description="Class")
    def class_booked(self, check_in: CheckIn) -> str:
        if check_in.booking is None:
            return "—"
        return check_in.booking.session.gym_class.name

    @admin.display(description="Minutes")
    def minutes_in(self, check_in: CheckIn) -> str:
        if check_in.checked_out_at is None:
            return "in now"
        return str(int((check_in.checked_out_at - check_in.checked_in_at) / datetime.timedelta(minutes=1)))


@admin.register(MemberCard, site=gym_admin_site)
class MemberCardAdmin(ReadOnlyAdmin):
    list_display = ["id", "member", "issued_at", "issued_by", "state", "revoked_at", "revoked_by"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["member__first_name", "member__last_name", "member__email"]
    list_select_related = ["member", "issued_by", "revoked_by"]
    date_hierarchy = "issued_at"
    ordering = ["-issued_at", "-id"]
    show_full_result_count = False
    fields = ["member", "issued_at", "issued_by", "revoked_at", "revoked_by"]
    actions = ["revoke"]

    @admin.display(description="State", ordering="revoked_at")
    def state(self, card: MemberCard) -> str:
        return "revoked" if card.revoked_at else "live"

    @admin.action(description="Revoke (lost or stolen: the card's QR stops working)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[MemberCard]) -> None:
        actor = cast(User, request.user)
        live = list(queryset.filter(revoked_at__isnull=True))
        for card in live:
            member_card_revoke(card=card, actor=actor)
        self.message_user(request, f"{len(live)} card(s) revoked.", messages.SUCCESS)
