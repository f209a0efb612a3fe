"""`/api/v1/` routes of the plans app."""

from django.urls import path

from . import apis

urlpatterns = [
    path("plans/", apis.PlanListApi.as_view(), name="plan-list"),
    path("plans/<int:pk>/", apis.PlanDetailApi.as_view(), name="plan-detail"),
    path("plans/<int:pk>/archive/", apis.PlanArchiveApi.as_view(), name="plan-archive"),
]
