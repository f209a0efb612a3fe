"""`/api/v1/` routes of the members app."""

from django.urls import path

from . import apis

urlpatterns = [
    path("members/", apis.MemberListApi.as_view(), name="member-list"),
    path("members/<int:pk>/", apis.MemberDetailApi.as_view(), name="member-detail"),
]
