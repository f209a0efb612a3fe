"""`/api/v1/members/`: the gym's member records, for staff (receptionist and up).

Medical notes follow one rule on every member payload: owners, managers and
trainers read and write `medical_notes`; for a receptionist the key is absent
from responses, and a request that sends it is refused with 403
`field_forbidden` (nothing is saved), so a client never believes it wrote a
field it cannot see (`apps.members.access`).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_serializer
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_errors import domain_error, error_responses, field_forbidden
from apps.core.api_input import CALENDAR_HELP, StrictJsonSerializer, within_calendar
from apps.core.pagination import ApiPagination
from apps.members.access import MEDICAL_FIELD, request_sees_medical_notes
from apps.memberships.selectors import membership_pick_current
from apps.staff.access import GymRolePermission
from apps.staff.roles import Role
from apps.tenants.selectors import gym_phone_region

from .errors import MemberError
from .models import Member
from .selectors import SORTS, member_list
from .services import member_create, member_update

# --- members -----------------------------------------------------------------------------

# Statuses staff may set here; erasure goes through the GDPR flow (apps.members.privacy).
WRITABLE_STATUSES = [Member.Status.ACTIVE, Member.Status.INACTIVE]


def _member_or_404(pk: int) -> Member:
    member = member_list().filter(pk=pk).first()
    if member is None:
        raise Http404
    return member


class MedicalNotesMixin:
    """Leaves `medical_notes` out of a serializer's output and input unless
    `context["medical_notes"]` is true (safe by default: no context, no notes), and
    reads phones in the gym's region (`context["region"]`). The field stays declared,
    so the OpenAPI schema documents it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        region = (kwargs.get("context") or {}).get("region")
        if region:
            for field in self.fields.values():  # type: ignore[attr-defined]
                if isinstance(field, PhoneNumberField):
                    field.region = region

    def to_representation(self, instance: Any) -> Any:
        data = super().to_representation(instance)  # type: ignore[misc]
        if not self.context.get("medical_notes"):  # type: ignore[attr-defined]
            data.pop(MEDICAL_FIELD, None)
        return data

    def to_internal_value(self, data: Any) -> Any:
        values = super().to_internal_value(data)  # type: ignore[misc]
        if not self.context.get("medical_notes"):  # type: ignore[attr-defined]
            values.pop(MEDICAL_FIELD, None)  # the views answer 403 before this; never write it
        return values


def _sends_medical_notes(request: Request) -> bool:
    """Whether the body (a JSON object; anything else is refused by the serializer) has
    `medical_notes`."""
    return isinstance(request.data, dict) and MEDICAL_FIELD in request.data


def _serializer_context(request: Request) -> dict[str, Any]:
    return {
        "medical_notes": request_sees_medical_notes(request),
        "region": gym_phone_region(gym=getattr(request, "tenant", None)),
    }


CURRENT_MEMBERSHIP_EXAMPLE = {
    "id": 5120,
    "status": "active",
    "plan_id": 12,
    "plan_name": "Unlimited monthly",
    "start_date": "2026-01-31",
    "end_date": None,
}
MEMBER_EXAMPLE: dict[str, Any] = {
    "id": 311,
    "first_name": "Mia",
    "last_name": "Moss",
    "full_name": "Mia Moss",
    "email": "mia@example.com",
    "phone": "+447700900123",
    "date_of_birth": "1994-05-17",
    "gender": "female",
    "photo": None,
    "address": "12 Canal Street, Manchester",
    "emergency_contact_name": "Sam Moss",
    "emergency_contact_phone": "+447700900456",
    "medical_notes": "Asthma; carries an inhaler.",
    "tags": ["morning", "student"],
    "source": "walk_in",
    "status": "active",
    "joined_on": "2026-01-31",
    "staff_notes": "Prefers the 7am classes.",
    "has_app_login": True,
    "current_membership": CURRENT_MEMBERSHIP_EXAMPLE,
    "created_at": "2026-01-31T10:15:00Z",
    "updated_at": "2026-04-02T08:40:11Z",
}
MEMBER_LIST_KEYS = (
    "id",
    "first_name",
    "last_name",
    "full_name",
    "email",
    "phone",
    "status",
    "tags",
    "source",
    "joined_on",
    "medical_notes",
    "current_membership",
)


@extend_schema_serializer(component_name="MemberCurrentMembership")
class CurrentMembershipSerializer(serializers.Serializer):
    """The member's current (active, frozen or past-due) membership, in short."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    plan_id = serializers.IntegerField()
    plan_name = serializers.CharField(source="plan.name")
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)


def _current_membership(member: Member) -> dict[str, Any] | None:
    """`CurrentMembershipSerializer`'s output for the member's current membership, picked
    by `membership_pick_current` from the prefetched `current_memberships` (None when
    they were not prefetched), built as a plain dict: a nested serializer per row costs
    more than the database does on a page of 50 (bench/members.py)."""
    current = getattr(member, "current_memberships", None)
    m = membership_pick_current(current, today=timezone.localdate()) if current else None
    if m is None:
        return None
    return {
        "id": m.pk,
        "status": m.status,
        "plan_id": m.plan_id,
        "plan_name": m.plan.name,
        "start_date": m.start_date.isoformat(),
        "end_date": m.end_date.isoformat() if m.end_date else None,
    }


@extend_schema_serializer(
    component_name="MemberInput",
    examples=[
        OpenApiExample(
            "A new member",
            value={
                "first_name": "Mia",
                "last_name": "Moss",
                "email": "mia@example.com",
                "phone": "+447700900123",
                "date_of_birth": "1994-05-17",
                "gender": "female",
                "tags": ["morning"],
                "source": "walk_in",
            },
            request_only=True,
        )
    ],
)
class MemberInputSerializer(MedicalNotesMixin, StrictJsonSerializer):
    first_name = serializers.CharField(max_length=80)
    last_name = serializers.CharField(max_length=80, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = PhoneNumberField(required=False, allow_blank=True)
    date_of_birth = serializers.DateField(
        required=False, allow_null=True, validators=[within_calendar], help_text=CALENDAR_HELP
    )
    gender = serializers.ChoiceField(choices=Member.Gender.choices, required=False, allow_blank=True)
    address = serializers.CharField(required=False, allow_blank=True)
    emergency_contact_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    emergency_contact_phone = PhoneNumberField(required=False, allow_blank=True)
    medical_notes = serializers.CharField(
        required=False, allow_blank=True, help_text="Owner, manager and trainer only (403 otherwise)."
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    source = serializers.ChoiceField(choices=Member.Source.choices, required=False)  # type: ignore[assignment]
    status = serializers.ChoiceField(choices=[(s.value, s.label) for s in WRITABLE_STATUSES], required=False)
    joined_on = serializers.DateField(required=False, validators=[within_calendar], help_text=CALENDAR_HELP)
    staff_notes = serializers.CharField(required=False, allow_blank=True)


@extend_schema_serializer(
    component_name="MemberDetail",
    examples=[OpenApiExample("A member", value=MEMBER_EXAMPLE, response_only=True)],
)
class MemberDetailSerializer(MedicalNotesMixin, serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    full_name = serializers.CharField()
    email = serializers.CharField(help_text="Empty when the gym has none.")
    phone = serializers.CharField()
    date_of_birth = serializers.DateField(allow_null=True)
    gender = serializers.CharField()
    photo = serializers.SerializerMethodField()
    address = serializers.CharField()
    emergency_contact_name = serializers.CharField()
    emergency_contact_phone = serializers.CharField()
    medical_notes = serializers.CharField(required=False, help_text="Only for owner, manager and trainer.")
    tags = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField()  # type: ignore[assignment]
    status = serializers.CharField()
    joined_on = serializers.DateField()
    staff_notes = serializers.CharField()
    has_app_login = serializers.SerializerMethodField()
    current_membership = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_photo(self, member: Member) -> str | None:
        return member.photo.url if member.photo else None

    def get_has_app_login(self, member: Member) -> bool:
        return member.user_id is not None

    @extend_schema_field(CurrentMembershipSerializer(allow_null=True))
    def get_current_membership(self, member: Member) -> dict[str, Any] | None:
        return _current_membership(member)


class MemberListApi(APIView):
    """`GET members/`: search, filter, sort and page the gym's members (receptionist+).
    `POST members/`: create a member (receptionist+; `medical_notes` trainer+)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.RECEPTIONIST
    pagination_class = ApiPagination

    @extend_schema_serializer(component_name="MemberListFilter")
    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(
            required=False, allow_blank=True, max_length=100, help_text="Words matched against name, email and phone."
        )
        status = serializers.ChoiceField(choices=Member.Status.choices, required=False)
        plan = serializers.IntegerField(required=False, min_value=1, help_text="Current plan id.")
        tag = serializers.CharField(required=False, allow_blank=True, max_length=40)
        ordering = serializers.ChoiceField(choices=list(SORTS), required=False, default="name")

    @extend_schema_serializer(
        component_name="MemberListItem",
        examples=[
            OpenApiExample("A member", value={key: MEMBER_EXAMPLE[key] for key in MEMBER_LIST_KEYS}, response_only=True)
        ],
    )
    class OutputSerializer(MedicalNotesMixin, serializers.Serializer):
        id = serializers.IntegerField()
        first_name = serializers.CharField()
        last_name = serializers.CharField()
        full_name = serializers.CharField()
        email = serializers.CharField(help_text="Empty when the gym has none.")
        phone = serializers.CharField()
        status = serializers.CharField()
        tags = serializers.ListField(child=serializers.CharField())
        source = serializers.CharField()  # type: ignore[assignment]
        joined_on = serializers.DateField()
        medical_notes = serializers.CharField(required=False, help_text="Only for owner, manager and trainer.")
        current_membership = serializers.SerializerMethodField()

        @extend_schema_field(CurrentMembershipSerializer(allow_null=True))
        def get_current_membership(self, member: Member) -> dict[str, Any] | None:
            return _current_membership(member)

    InputSerializer = MemberInputSerializer

    @extend_schema(
        operation_id="members_list",
        tags=["members"],
        summary="List members (receptionist+)",
        description=(
            "Search `q` over name, email and phone; filter by status, current plan and tag; sort with "
            "`ordering`. Paged with `page`/`page_size`. `medical_notes` only for owner, manager and trainer."
        ),
        parameters=[FilterSerializer],
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        members = member_list(
            query=f.get("q", ""),
            status=f.get("status", ""),
            plan_id=f.get("plan"),
            tag=f.get("tag", ""),
            sort=f["ordering"],
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(members, request, view=self)
        data = self.OutputSerializer(page, many=True, context=_serializer_context(request)).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="members_create",
        tags=["members"],
        summary="Create a member (receptionist+)",
        description=(
            "Creates a member record (no app login: invite them from the dashboard). Phones are read in the "
            "gym's country. 201 with the member. A receptionist who sends `medical_notes` gets 403 "
            "`field_forbidden` and nothing is saved."
        ),
        request=InputSerializer,
        responses={
            201: MemberDetailSerializer,
            **error_responses(
                "email_taken", "field_forbidden", field_forbidden="A receptionist sent `medical_notes`; nothing saved."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        context = _serializer_context(request)
        if _sends_medical_notes(request) and not context["medical_notes"]:
            return field_forbidden([MEDICAL_FIELD])
        data = self.InputSerializer(data=request.data, context=context)
        data.is_valid(raise_exception=True)
        try:
            member = member_create(**data.validated_data)
        except MemberError as exc:
            return domain_error(exc)
        member = _member_or_404(member.pk)
        return Response(MemberDetailSerializer(member, context=context).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    """`GET members/{id}/`: one member's profile (receptionist+).
    `PATCH members/{id}/`: change some profile fields (receptionist+; `medical_notes` trainer+)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.RECEPTIONIST

    OutputSerializer = MemberDetailSerializer
    InputSerializer = MemberInputSerializer

    @extend_schema(
        operation_id="members_retrieve",
        tags=["members"],
        summary="Read a member (receptionist+)",
        description=(
            "The member's profile with their current membership. `medical_notes` only for owner, manager and "
            "trainer (absent otherwise). An id of another gym is 404."
        ),
        responses={200: OutputSerializer},
    )
    def get(self, request: Request, pk: int) -> Response:
        member = _member_or_404(pk)
        return Response(self.OutputSerializer(member, context=_serializer_context(request)).data)

    @extend_schema(
        operation_id="members_partial_update",
        tags=["members"],
        summary="Change a member (receptionist+)",
        description=(
            "Only the given fields change. 200 with the member. A receptionist who sends `medical_notes` gets "
            "403 `field_forbidden` and nothing is saved."
        ),
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **error_responses(
                "email_taken",
                "member_erased",
                "field_forbidden",
                field_forbidden="A receptionist sent `medical_notes`; nothing saved.",
            ),
        },
    )
    def patch(self, request: Request, pk: int) -> Response:
        member = _member_or_404(pk)
        context = _serializer_context(request)
        if _sends_medical_notes(request) and not context["medical_notes"]:
            return field_forbidden([MEDICAL_FIELD])
        data = self.InputSerializer(data=request.data, context=context, partial=True)
        data.is_valid(raise_exception=True)
        try:
            member_update(member=member, **data.validated_data)
        except MemberError as exc:
            return domain_error(exc)
        return Response(self.OutputSerializer(_member_or_404(pk), context=context).data)
