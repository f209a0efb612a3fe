"""`/api/v1/` routes of the memberships app."""

from django.urls import path

from . import apis

urlpatterns = [
    path("memberships/", apis.MembershipListApi.as_view(), name="membership-list"),
    path("memberships/<int:pk>/", apis.MembershipDetailApi.as_view(), name="membership-detail"),
    path("memberships/<int:pk>/freeze/", apis.MembershipFreezeApi.as_view(), name="membership-freeze"),
    path("memberships/<int:pk>/unfreeze/", apis.MembershipUnfreezeApi.as_view(), name="membership-unfreeze"),
    path("memberships/<int:pk>/cancel/", apis.MembershipCancelApi.as_view(), name="membership-cancel"),
    path("memberships/<int:pk>/renew/", apis.MembershipRenewApi.as_view(), name="membership-renew"),
    path("memberships/<int:pk>/change-plan/", apis.MembershipChangePlanApi.as_view(), name="membership-change-plan"),
]
