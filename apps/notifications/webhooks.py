"""Twilio's inbound message webhook on the gym's host: members' STOP / START replies.

Twilio POSTs every SMS or WhatsApp message sent to the gym's number to
`/notifications/twilio/inbound/` (set as the number's "A message comes in" webhook), form
encoded (`From`, `To`, `Body`, `AccountSid`, `MessageSid`..., and `OptOutType` when the
gym's Messaging Service has Advanced Opt-Out;
https://www.twilio.com/docs/messaging/guides/webhook-request).

The request is authentic only with a valid `X-Twilio-Signature`: HMAC-SHA1 of the full URL
Twilio called and the sorted POST parameters, keyed with the gym's auth token
(https://www.twilio.com/docs/usage/security#validating-requests), checked with the library's
`RequestValidator`. Otherwise, and when the gym has no Twilio credentials, the answer is 403.

Keywords follow Twilio's default opt-out handling (https://help.twilio.com/articles/223134027):
the whole message, trimmed and in any case, is one of STOP, STOPALL, UNSUBSCRIBE, CANCEL,
END, QUIT (opt out) or START, YES, UNSTOP (opt back in). Twilio blocks further SMS to an
opted-out number itself (error 21610); we record the opt-out on every member of this gym with
that phone so the send pipeline suppresses the channel instead of failing. WhatsApp has no
carrier-level STOP, so the same keywords from a `whatsapp:` sender set the WhatsApp opt-out.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from apps.members.models import Member

from .models import MessagingSettings, NotificationPreference

logger = logging.getLogger(__name__)

# Twilio's default keywords (https://help.twilio.com/articles/223134027).
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
WHATSAPP_PREFIX = "whatsapp:"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@transaction.atomic
def sms_opt_out_apply(*, sender: str, keyword: str, now: dt.datetime) -> int:
    """Record a STOP / START reply from `sender` on every member of the current gym whose
    `phone` is that number.

    `sender` is Twilio's `From`: an E.164 number ("+27821234567") for SMS, which sets or
    clears `NotificationPreference.sms_opted_out_at`, or "whatsapp:+27821234567", which
    sets or clears `whatsapp_opted_out_at`. `keyword` is the message body (trimmed,
    compared case-insensitively): an opt-out keyword sets the time to `now` (aware) where
    it was not set, creating the member's preference row if missing; an opt-in keyword
    clears it; anything else changes nothing. Returns how many members changed.
    """
    word = keyword.strip().upper()
    if word not in OPT_OUT_KEYWORDS and word not in OPT_IN_KEYWORDS:
        return 0
    if sender.startswith(WHATSAPP_PREFIX):
        field, number = "whatsapp_opted_out_at", sender.removeprefix(WHATSAPP_PREFIX)
    else:
        field, number = "sms_opted_out_at", sender
    if not number.startswith("+"):  # short codes and sender ids are nobody's phone
        return 0
    member_ids = list(Member.objects.filter(phone=number).values_list("pk", flat=True))
    if not member_ids:
        return 0
    preferences = NotificationPreference.objects.filter(member_id__in=member_ids)
    if word in OPT_IN_KEYWORDS:
        return preferences.filter(**{f"{field}__isnull": False}).update(**{field: None, "updated_at": now})
    changed = preferences.filter(**{f"{field}__isnull": True}).update(**{field: now, "updated_at": now})
    with_row = set(preferences.values_list("member_id", flat=True))
    for member_id in member_ids:
        if member_id not in with_row:
            _, created = NotificationPreference.objects.get_or_create(member_id=member_id, defaults={field: now})
            changed += int(created)
    return changed


def _keyword(request: HttpRequest) -> str:
    """The keyword of the message: Twilio's own classification (`OptOutType`, STOP or
    START, sent with Advanced Opt-Out, which allows custom keywords) or else the body."""
    opt_out_type = request.POST.get("OptOutType", "").strip().upper()
    if opt_out_type in ("STOP", "START"):
        return opt_out_type
    return request.POST.get("Body", "")


@csrf_exempt
@require_POST
def twilio_inbound_view(request: HttpRequest) -> HttpResponse:
    """Twilio's inbound message webhook: 403 unless signed with this gym's auth token (and,
    when given, for this gym's account); applies STOP / START replies
    (`sms_opt_out_apply`) and answers 200 with empty TwiML (no reply message; Twilio
    sends its own opt-out confirmation for SMS)."""
    config = MessagingSettings.objects.first()
    signature = request.headers.get("X-Twilio-Signature", "")
    if config is None or not config.twilio_auth_token or not signature:
        return HttpResponseForbidden("Twilio signature required.")
    # build_absolute_uri() gives the URL Twilio called: https behind the proxy through
    # SECURE_PROXY_SSL_HEADER (X-Forwarded-Proto), the query string included.
    if not RequestValidator(config.twilio_auth_token).validate(request.build_absolute_uri(), request.POST, signature):
        return HttpResponseForbidden("Invalid Twilio signature.")
    account = request.POST.get("AccountSid", "")
    if account and config.twilio_account_sid and account != config.twilio_account_sid:
        return HttpResponseForbidden("Another Twilio account.")
    sender = request.POST.get("From", "")
    changed = sms_opt_out_apply(sender=sender, keyword=_keyword(request), now=timezone.now())
    if changed:
        logger.info("Twilio inbound %s: opt-out changed for %d member(s)", request.POST.get("MessageSid", ""), changed)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


urlpatterns: list[URLPattern] = [
    path("twilio/inbound/", twilio_inbound_view, name="twilio-inbound"),
]
