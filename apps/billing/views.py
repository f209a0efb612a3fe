"""Stripe webhook endpoints on the public host (DESIGN.md 7).

- `POST /stripe/webhook/`: the platform account's events (FitFlow billing gyms), signed
  with `settings.STRIPE_WEBHOOK_SECRET`.
- `POST /stripe/connect-webhook/`: events of gyms' connected accounts (each carries
  `account`), signed with `settings.STRIPE_CONNECT_WEBHOOK_SECRET`.

The signature is checked with Stripe's own scheme before anything is read or stored: a
missing, forged, stale or wrong-secret signature gets 400 and leaves no trace. A verified
event is handed to `apps.billing.services.stripe_webhook_receive` and answered 200 (also
for a repeat, or an account no gym has, so Stripe stops retrying); 503 asks Stripe to
deliver it again when part of it could not be finished now.
"""

from __future__ import annotations

import json
import logging

import stripe
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from apps.core.api_errors import error_body

from .errors import WebhookHandoffFailed
from .models import StripeWebhookEvent
from .services import stripe_webhook_receive

logger = logging.getLogger(__name__)


def _verify(payload: bytes, sig_header: str, secret: str) -> None:
    """Stripe's signature check (HMAC-SHA256 of "t.payload", at most 5 minutes old), through
    the Stripe gateway. Raises `stripe.SignatureVerificationError` or ValueError."""
    from apps.invoices.stripe_api import webhook_event_construct

    webhook_event_construct(payload=payload, sig_header=sig_header, secret=secret)


@method_decorator(csrf_exempt, name="dispatch")
class StripeWebhookView(View):
    """Receives one Stripe webhook delivery (see the module docstring). Answers JSON:
    200 `{"id", "outcome", "duplicate"}`; 400 `{"error": {"code": "invalid_signature" |
    "invalid_payload"}}`; 503 `{"error": {"code": "retry_later" | "queue_unavailable"}}`."""

    endpoint: str = StripeWebhookEvent.Endpoint.PLATFORM
    secret_setting: str = "STRIPE_WEBHOOK_SECRET"
    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> JsonResponse:
        secret = getattr(settings, self.secret_setting, "")
        sig_header = request.headers.get("Stripe-Signature", "")
        if not secret:
            logger.error("%s is not set: Stripe webhook refused", self.secret_setting)
            return JsonResponse(error_body("invalid_signature", "This endpoint has no signing secret."), status=400)
        try:
            _verify(request.body, sig_header, secret)
            # The event as Stripe sent it, in plain JSON types (the stripe library's object
            # would turn `*_decimal` strings into Decimal, which neither dj-stripe's JSON
            # columns nor Celery's JSON messages take).
            event = json.loads(request.body)
        except stripe.SignatureVerificationError:
            return JsonResponse(error_body("invalid_signature", "The Stripe signature does not verify."), status=400)
        except ValueError:
            return JsonResponse(error_body("invalid_payload", "The body is not a Stripe event."), status=400)
        if not isinstance(event, dict) or not event.get("id") or not event.get("created"):
            return JsonResponse(error_body("invalid_payload", "The body is not a Stripe event."), status=400)
        try:
            receipt = stripe_webhook_receive(event=event, endpoint=self.endpoint)
        except WebhookHandoffFailed as exc:
            return JsonResponse(error_body(exc.code, exc.message), status=503)
        if receipt.retry:
            return JsonResponse(
                error_body("retry_later", f"Event {receipt.event_id} is recorded but not finished; deliver it again."),
                status=503,
            )
        return JsonResponse({"id": receipt.event_id, "outcome": receipt.outcome, "duplicate": receipt.duplicate})


class StripeConnectWebhookView(StripeWebhookView):
    """Receives Connect events (gyms' accounts), signed with the Connect endpoint's secret."""

    endpoint = StripeWebhookEvent.Endpoint.CONNECT
    secret_setting = "STRIPE_CONNECT_WEBHOOK_SECRET"
