"""A gym's host (`<slug>.<FITFLOW_BASE_DOMAIN>`): dashboard pages, `/api/v1/`, the
gym admin, login and `/health/`."""

from django.urls import URLPattern, URLResolver, include, path, re_path

from apps.accounts import apis as account_apis
from apps.accounts import views as account_views
from apps.core.views import gym_media_view
from apps.staff.admin import gym_admin_site

from .urls_common import common_urlpatterns, handler403, handler404, handler500  # noqa: F401

api_v1: list[URLPattern | URLResolver] = [
    path("auth/login/", account_apis.AuthLoginApi.as_view(), name="auth-login"),
    path("auth/refresh/", account_apis.AuthRefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout/", account_apis.AuthLogoutApi.as_view(), name="auth-logout"),
    path("me/", account_apis.MeApi.as_view(), name="me"),
    path("", include("apps.members.api_urls")),
    path("", include("apps.plans.api_urls")),
    path("", include("apps.memberships.api_urls")),
    path("", include("apps.classes.api_urls")),
    path("", include("apps.bookings.api_urls")),
    path("", include("apps.checkins.api_urls")),
    path("", include("apps.invoices.api_urls")),
    path("", include("apps.notifications.api_urls")),
]

urlpatterns = [
    path("", include("apps.dashboard.urls")),
    path("members/", include("apps.members.urls")),
    path("plans/", include("apps.plans.urls")),
    path("memberships/", include("apps.memberships.urls")),
    path("schedule/", include("apps.classes.urls")),
    path("bookings/", include("apps.bookings.urls")),
    path("check-in/", include("apps.checkins.urls")),
    path("billing/", include("apps.invoices.urls")),
    path("notifications/", include("apps.notifications.urls")),
    path("accounts/welcome/", account_views.handoff_login_view, name="account-handoff"),
    path("accounts/", include("allauth.urls")),
    path("admin/", gym_admin_site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    re_path(r"^media/(?P<path>.+)$", gym_media_view, name="gym-media"),
    *common_urlpatterns,
]
