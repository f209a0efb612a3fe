"""The notification pages: the log (search, filters, pages, htmx partials, links to the
member), the gym's messaging settings (write-only credentials, field errors, roles)
and the member page's Notifications tab; query counts with 200 notifications."""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Callable, Iterator

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.accounts.tests.factories import UserFactory
from apps.conftest import host_of
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

from ..models import MessagingSettings, Notification, NotificationPreference
from ..preferences import messaging_settings, messaging_settings_update
from .test_preferences import ACCOUNT_SID, CONTENT_SID, notify, service_account_json, settings_input

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
LOG = "/notifications/"
SETTINGS = "/notifications/settings/"
STAFF = [Role.OWNER, Role.MANAGER, Role.TRAINER, Role.RECEPTIONIST]


@pytest.fixture
def in_a(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


@pytest.fixture
def login(gym_a: Gym, make_staff) -> Callable[..., Client]:
    """`login(role, gym)` -> a client on `gym`'s host (gym A by default) logged in as new staff."""

    def make(role: Role = Role.OWNER, gym: Gym | None = None) -> Client:
        gym = gym or gym_a
        client = Client(HTTP_HOST=host_of(gym))
        client.force_login(make_staff(gym, role))
        return client

    return make


def row_ids(response) -> list[int]:
    """The notification ids listed, in order."""
    assert response.status_code == 200, response.content
    return [int(i) for i in re.findall(r'<tr id="notification-(\d+)"', response.content.decode())]


def many_notifications(count: int = 200) -> list[Member]:
    """`count` notifications of 20 members over the last days, in every status and channel."""
    members = [MemberFactory() for _ in range(20)]
    now = timezone.now()
    statuses = ["sent", "sent", "failed", "suppressed", "pending"]
    channels = ["email", "sms", "whatsapp", "push"]
    kinds = ["booking_confirmed", "class_reminder", "invoice_issued", "payment_failed", "re_engagement"]
    for i in range(count):
        status = statuses[i % 5]
        notify(
            members[i % 20],
            kinds[i % 5],
            status=status,
            channel=channels[i % 4],
            reason="opted_out" if status == "suppressed" else "",
            error="Twilio 21610: unsubscribed recipient" if status == "failed" else "",
            sent_at=now if status == "sent" else None,
            failed_at=now if status == "failed" else None,
            created_at=now - datetime.timedelta(minutes=i),
        )
    return members


# --- the log ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", STAFF)
def test_every_staff_role_reads_the_log(login, in_a: Gym, role: Role) -> None:
    member = MemberFactory(first_name="Thandi", last_name="Nkosi")
    sent = notify(member, "booking_confirmed", status="sent", channel="email", sent_at=timezone.now())

    response = login(role).get(LOG)

    html = response.content.decode()
    assert row_ids(response) == [sent.pk]
    assert "Thandi Nkosi" in html and f'href="/members/{member.pk}/?tab=notifications"' in html
    assert "booking_confirmed" in html and "Account and bookings" in html and "Sent" in html
    assert ("Messaging settings" in html) == role.at_least(Role.MANAGER)


def test_the_log_shows_why_a_message_failed_or_was_held_back(login, in_a: Gym) -> None:
    member = MemberFactory()
    failed = notify(
        member,
        "payment_failed",
        status="failed",
        channel="sms",
        error="Twilio 21211: invalid 'To' phone number",
        attempts=3,
        failed_at=timezone.now(),
    )
    held = notify(member, "re_engagement", status="suppressed", reason="opted_out")

    html = login(Role.RECEPTIONIST).get(LOG).content.decode()

    failed_row = re.search(rf'<tr id="notification-{failed.pk}">(.*?)</tr>', html, re.S).group(1)
    held_row = re.search(rf'<tr id="notification-{held.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "invalid &#x27;To&#x27; phone number" in failed_row and "3 attempts" in failed_row
    assert "Failed" in failed_row and "SMS" in failed_row
    assert "Opted out" in held_row and "Suppressed" in held_row and "News and offers" in held_row


def test_search_and_filters(login, in_a: Gym) -> None:
    ayanda = MemberFactory(first_name="Ayanda", last_name="Dube", email="ayanda@example.test")
    ben = MemberFactory(first_name="Ben", last_name="Smit", email="ben@example.test")
    now = timezone.now()
    a_sent = notify(ayanda, "booking_confirmed", status="sent", channel="email", created_at=now)
    a_old = notify(
        ayanda, "class_reminder", status="sent", channel="push", created_at=now - datetime.timedelta(days=10)
    )
    b_failed = notify(
        ben, "payment_failed", status="failed", channel="sms", created_at=now - datetime.timedelta(days=1)
    )
    b_held = notify(ben, "re_engagement", status="suppressed", reason="opted_out", created_at=now)
    client = login(Role.RECEPTIONIST)
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(in_a.timezone)).date()  # the gym's day

    assert row_ids(client.get(LOG)) == [b_held.pk, a_sent.pk, b_failed.pk, a_old.pk]
    assert row_ids(client.get(LOG, {"q": "ayanda"})) == [a_sent.pk, a_old.pk]
    assert row_ids(client.get(LOG, {"q": "ben@example"})) == [b_held.pk, b_failed.pk]
    assert row_ids(client.get(LOG, {"q": "reminder"})) == [a_old.pk]
    assert row_ids(client.get(LOG, {"q": "smit payment"})) == [b_failed.pk]
    assert row_ids(client.get(LOG, {"status": "failed"})) == [b_failed.pk]
    assert row_ids(client.get(LOG, {"channel": "push"})) == [a_old.pk]
    assert row_ids(client.get(LOG, {"kind": "booking_confirmed"})) == [a_sent.pk]
    assert row_ids(client.get(LOG, {"category": "marketing"})) == [b_held.pk]
    assert row_ids(client.get(LOG, {"category": "reminders"})) == [a_old.pk]
    week = {"created_from": (today - datetime.timedelta(days=7)).isoformat(), "created_to": today.isoformat()}
    assert row_ids(client.get(LOG, week)) == [b_held.pk, a_sent.pk, b_failed.pk]
    assert row_ids(client.get(LOG, {"member": ben.pk})) == [b_held.pk, b_failed.pk]
    # A bad date is shown on its field and that filter alone is left out.
    response = client.get(
        LOG, {"created_from": (today - datetime.timedelta(days=3)).isoformat(), "created_to": "2020-01-01", "q": "ben"}
    )
    assert "The end date is before the start date." in response.content.decode()
    assert row_ids(response) == [b_held.pk, b_failed.pk]
    # An unknown choice is ignored the same way.
    assert row_ids(client.get(LOG, {"status": "exploded", "q": "ayanda"})) == [a_sent.pk, a_old.pk]


def test_htmx_gets_the_results_alone_with_hrefs_beside_hx_get(login, in_a: Gym) -> None:
    many_notifications(60)
    client = login(Role.MANAGER)

    full = client.get(LOG).content.decode()
    partial = client.get(LOG, {"channel": "sms"}, **HX)

    assert 'hx-get="/notifications/"' in full and 'hx-push-url="true"' in full and "<html" in full
    body = partial.content.decode()
    assert partial.status_code == 200 and "<html" not in body and 'id="notification-filters"' not in body
    assert "15 notifications match" in body
    assert partial.headers["Vary"].count("HX-Request") == 1
    # 60 rows: two pages of 50; the pager's links keep the filters and work without htmx.
    pager = re.search(r'<a class="btn secondary small" rel="next" href="([^"]+)" hx-get="([^"]+)"', full)
    assert pager and pager.group(1) == pager.group(2) == "?page=2"
    assert len(row_ids(client.get(LOG, {"page": 2}))) == 10
    filtered = client.get(LOG, {"status": "sent", "page": 1}).content.decode()
    assert "24 notifications match" in filtered and 'rel="next"' not in filtered
    assert len(row_ids(client.get(LOG, {"page": "nonsense"}))) == 50


def test_log_query_count_with_200_notifications(login, in_a: Gym, django_assert_max_num_queries) -> None:
    members = many_notifications(200)
    client = login(Role.RECEPTIONIST)
    client.get(LOG)  # warm up the session and content types

    # Four queries of request overhead (domain, session, user, staff role), plus the log's
    # count and rows; the member tab's member, count, rows and preference. Each query may
    # follow a SET search_path.
    for url, most in [
        (LOG, 6),
        (f"{LOG}?q=a&status=sent&channel=email&category=transactional&page=2", 6),
        (f"{LOG}?member={members[3].pk}&created_from=2020-01-01", 6),
        (f"/members/{members[0].pk}/?tab=notifications", 8),
        (f"/members/{members[0].pk}/?tab=notifications&page=2", 8),
    ]:
        with django_assert_max_num_queries(2 * most) as captured:
            response = client.get(url)
        assert response.status_code == 200
        real = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
        assert len(real) <= most, (url, real)
    assert len(row_ids(client.get(LOG))) == 50


def test_a_member_login_and_anonymous_are_refused(in_a: Gym, client_a: Client) -> None:
    user = UserFactory()
    MemberFactory(user=user)

    anonymous = client_a.get(LOG)
    client_a.force_login(user)
    as_member = [client_a.get(url) for url in (LOG, SETTINGS)]

    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert [r.status_code for r in as_member] == [403, 403]


# --- the messaging settings -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.TRAINER, Role.RECEPTIONIST])
def test_settings_are_for_owner_and_manager(login, in_a: Gym, role: Role) -> None:
    client = login(role)

    assert client.get(SETTINGS).status_code == 403
    assert client.post(SETTINGS, {"sender_name": "Hacked", "class_reminder_minutes": 60}).status_code == 403
    assert messaging_settings().sender_name == ""


def form_data(**overrides: object) -> dict[str, object]:
    """A complete settings form post (credentials blank: keep)."""
    return {
        "sender_name": "Gym A",
        "reply_to": "hello@gym-a.example",
        "class_reminder_minutes": "60",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": "",
        "sms_from": "+14155238886",
        "whatsapp_from": "",
        "whatsapp_templates": "",
        "fcm_project_id": "",
        "fcm_service_account": "",
    } | overrides


def test_settings_save_and_never_show_credentials_back(login, in_a: Gym) -> None:
    client = login(Role.MANAGER)
    token = "c0ffee00c0ffee00c0ffee00c0ffabcd"
    key = service_account_json()

    saved = client.post(
        SETTINGS,
        form_data(
            twilio_auth_token=token,
            fcm_service_account=key,
            whatsapp_templates=f'{{"class_reminder": "{CONTENT_SID}"}}',
        ),
    )

    assert saved.status_code == 302 and saved["Location"] == SETTINGS
    stored = MessagingSettings.objects.get()
    assert stored.twilio_auth_token == token and stored.fcm_project_id == "fitflow-gym-a"
    assert stored.class_reminder_minutes == 60 and stored.whatsapp_templates == {"class_reminder": CONTENT_SID}
    page = client.get(SETTINGS).content.decode()
    assert token not in page and token[:-4] not in page and "PRIVATE KEY" not in page
    assert re.search(r'id="hint-twilio_auth_token">Stored auth token: <strong>Set, ends in …abcd</strong>', page)
    assert "Set for firebase-adminsdk@fitflow-gym-a.iam.gserviceaccount.com, key id ends in …1234" in page
    assert CONTENT_SID in page and ACCOUNT_SID in page  # not secrets: shown for editing
    assert "Messaging settings saved." in page

    # Blank keeps; "remove" clears.
    client.post(SETTINGS, form_data(sender_name="Gym A Desk"))
    assert MessagingSettings.objects.get().twilio_auth_token == token
    client.post(SETTINGS, form_data(clear_twilio_auth_token="on", clear_fcm_service_account="on"))
    stored = MessagingSettings.objects.get()
    assert not stored.twilio_auth_token and not stored.fcm_service_account
    assert "Stored auth token: <strong>Not set</strong>" in client.get(SETTINGS).content.decode()


def test_settings_errors_are_on_their_fields_and_save_nothing(login, in_a: Gym) -> None:
    messaging_settings_update(**settings_input(twilio_auth_token="oldtoken-oldtoken-9876"))
    client = login(Role.OWNER)
    secret = "brand-new-token-0000"

    response = client.post(
        SETTINGS,
        form_data(
            class_reminder_minutes="5",
            whatsapp_templates='{"class_reminder": "HX1", "pizza_party": "HX2"}',
            fcm_service_account='{"type": "service_account"}',
            twilio_auth_token=secret,
            clear_twilio_auth_token="on",
        ),
    )

    html = response.content.decode()
    assert response.status_code == 400
    for field, words in [
        ("class_reminder_minutes", "between 15 minutes and 48 hours"),
        ("whatsapp_templates", "Unknown notification kinds: pizza_party."),
        ("fcm_service_account", "The key file misses: project_id, private_key, client_email, token_uri."),
        ("clear_twilio_auth_token", "Enter a new value or remove the stored one, not both."),
    ]:
        errors = re.search(rf'id="id_{field}_errors">(.*?)</ul>', html, re.S)
        assert errors and words in errors.group(1), field
    assert secret not in html and '{"type": "service_account"}' not in html  # credentials never echoed
    assert MessagingSettings.objects.get().twilio_auth_token == "oldtoken-oldtoken-9876"
    assert MessagingSettings.objects.get().class_reminder_minutes == 90
    # Not JSON at all, and htmx gets the form alone.
    partial = client.post(SETTINGS, form_data(whatsapp_templates="{oops"), **HX)
    body = partial.content.decode()
    assert partial.status_code == 400 and "<html" not in body and 'id="messaging-settings-form"' in body
    assert "This is not valid JSON." in body


def test_settings_page_works_without_javascript(login, in_a: Gym) -> None:
    html = login(Role.OWNER).get(SETTINGS).content.decode()

    form = re.search(r'<form id="messaging-settings-form" method="post" action="/notifications/settings/"', html)
    assert form and 'hx-post="/notifications/settings/"' in html
    assert 'name="twilio_auth_token"' in html and 'type="password"' in html
    assert "Remove the stored auth token" not in html  # nothing stored yet
    assert 'value="120"' in html  # the default reminder lead time


# --- the member page's Notifications tab ------------------------------------------------------------------


def test_member_tab_lists_their_notifications_and_channels(login, in_a: Gym) -> None:
    member = MemberFactory()
    now = timezone.now()
    mine = [
        notify(member, "booking_confirmed", status="sent", channel="push", created_at=now - datetime.timedelta(hours=i))
        for i in range(30)
    ]
    notify(member, "invoice_issued", status="pending", read_at=None)
    other = notify(MemberFactory(), "booking_confirmed")
    NotificationPreference.objects.create(
        member=member, transactional="sms", reminders="push", marketing="none", sms_opted_out_at=now
    )
    client = login(Role.RECEPTIONIST)

    first = client.get(f"/members/{member.pk}/", {"tab": "notifications"}, **HX)
    second = client.get(f"/members/{member.pk}/", {"tab": "notifications", "page": 2}, **HX)

    html = first.content.decode()
    assert "<html" not in html and 'aria-current="page">Notifications</a>' in html
    assert other.pk not in row_ids(first) + row_ids(second)
    assert len(row_ids(first)) == 25 and len(row_ids(second)) == 6
    assert row_ids(first)[1:] == [n.pk for n in mine[:24]]  # the pending one is newest
    assert re.search(r'id="channel-transactional">SMS<', html) and re.search(r'id="channel-reminders">Push', html)
    assert re.search(r'id="channel-marketing">Off<', html) and "SMS since" in html
    assert 'href="?tab=notifications&amp;page=2" hx-get="?tab=notifications&amp;page=2"' in html
    assert f'href="/notifications/?member={member.pk}"' in html


def test_member_tab_shows_the_defaults_and_an_empty_list(login, in_a: Gym) -> None:
    member = MemberFactory()

    html = login(Role.TRAINER).get(f"/members/{member.pk}/?tab=notifications").content.decode()

    assert re.search(r'id="channel-transactional">Email<', html) and re.search(r'id="channel-marketing">Off<', html)
    assert "Defaults: the member has not chosen" in html and "No notifications yet." in html
    assert not Notification.objects.filter(member=member).exists()


# --- the gym admin ----------------------------------------------------------------------------------------


def test_gym_admin_lists_notifications_read_only(login, in_a: Gym, django_assert_max_num_queries) -> None:
    many_notifications(120)
    failed = Notification.objects.filter(status="failed").first()
    client = login(Role.MANAGER)
    client.get("/admin/notifications/notification/")  # warm up

    with django_assert_max_num_queries(30) as captured:
        listed = client.get("/admin/notifications/notification/", {"status__exact": "failed"})
    change = client.get(f"/admin/notifications/notification/{failed.pk}/change/")
    add = client.get("/admin/notifications/notification/add/")
    delete = client.post(f"/admin/notifications/notification/{failed.pk}/delete/", {"post": "yes"})

    assert listed.status_code == 200 and failed.member.full_name in listed.content.decode()
    real = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
    assert not any("members_member" in sql and "notification" not in sql for sql in real), real  # joined
    assert change.status_code == 200 and "Twilio 21610" in change.content.decode()
    assert 'name="_save"' not in change.content.decode()
    assert add.status_code == 403 and delete.status_code == 403
    assert Notification.objects.filter(pk=failed.pk).exists()
    assert login(Role.RECEPTIONIST).get("/admin/notifications/notification/").status_code == 302
