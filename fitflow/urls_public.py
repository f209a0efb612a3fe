"""The public host (FITFLOW_BASE_DOMAIN): marketing site, gym signup, "find my gym",
the platform super-admin, gym discovery API and the Stripe webhooks (apps.billing.urls:
/stripe/webhook/ for the platform account, /stripe/connect-webhook/ for gyms' Connect accounts)."""

from django.contrib import admin
from django.urls import include, path

from apps.tenants import apis as tenant_apis
from apps.tenants import views as tenant_views

from .urls_common import common_urlpatterns, handler403, handler404, handler500  # noqa: F401

urlpatterns = [
    path("", tenant_views.landing_view, name="landing"),
    path("signup/", tenant_views.gym_signup_view, name="gym-signup"),
    path("find/", tenant_views.find_gym_view, name="find-gym"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/gyms/", tenant_apis.GymListApi.as_view(), name="api-gym-list"),
    path("stripe/", include("apps.billing.urls")),
    *common_urlpatterns,
]
