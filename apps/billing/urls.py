"""Stripe webhooks on the public host (mounted at /stripe/ by fitflow.urls_public)."""

from django.urls import path

from . import views

app_name = "billing"

urlpatterns = [
    path("webhook/", views.StripeWebhookView.as_view(), name="stripe-webhook"),
    path("connect-webhook/", views.StripeConnectWebhookView.as_view(), name="stripe-connect-webhook"),
]
