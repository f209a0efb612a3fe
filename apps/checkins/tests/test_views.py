"""The front-desk pages: the desk (scan box, live search, green/red result panel,
manager override, check-out), the occupancy partial the desk polls, printed QR cards;
roles, bad input, cross-gym isolation by host and by id, and query counts."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.accounts.tests.factories import UserFactory
from apps.bookings.models import Booking
from apps.bookings.services import booking_create
from apps.bookings.tests.factories import session_at
from apps.checkins.models import CheckIn, MemberCard
from apps.checkins.qr import MEMBER_QR_SALT, member_card_qr_token, member_rotating_qr_token
from apps.checkins.services import checkin_create, member_card_issue
from apps.conftest import host_of
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.services import membership_freeze
from apps.staff.roles import Role
from apps.tenants.models import Gym

from .factories import active_member

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def today() -> datetime.date:
    return timezone.localdate()


def member_on_plan(first: str, last: str, **member_fields) -> Member:
    """A member on an active monthly membership since last week (gym-local today)."""
    member = MemberFactory(first_name=first, last_name=last, **member_fields)
    active_member(member=member, start=today() - datetime.timedelta(days=7), name="Monthly unlimited")
    return member


def frozen_member(first: str, last: str) -> Member:
    member = member_on_plan(first, last)
    membership = Membership.objects.get(member=member)
    membership_freeze(
        membership=membership,
        start_date=today(),
        end_date=today() + datetime.timedelta(days=14),
        today=today(),
        reason="Travel",
    )
    return member


@pytest.fixture
def login(gym_a: Gym, make_staff) -> Callable[..., Client]:
    """`login(role, gym)` -> a client on `gym`'s host (gym A by default) logged in as new staff."""

    def make(role: Role = Role.RECEPTIONIST, gym: Gym | None = None) -> Client:
        gym = gym or gym_a
        client = Client(HTTP_HOST=host_of(gym))
        client.force_login(make_staff(gym, role))
        return client

    return make


@pytest.fixture
def in_a(gym_a: Gym):
    with tenant_context(gym_a):
        yield gym_a


def panel(response) -> str:
    """The result panel's HTML in a response (a partial or the whole desk)."""
    html = response.content.decode()
    match = re.search(r'<div class="desk-panel.*', html, re.S)
    assert match, f"no result panel in: {html[:400]}"
    return match.group(0)


# --- roles -----------------------------------------------------------------------------------


def _desk_urls(member_id: int, check_in_id: int, card_id: int) -> list[tuple[str, str, dict]]:
    return [
        ("get", "/check-in/", {}),
        ("get", "/check-in/occupancy/", {}),
        ("post", "/check-in/scan/", {"q": "Zanele"}),
        ("post", f"/check-in/members/{member_id}/", {}),
        ("post", f"/check-in/members/{member_id}/override/", {"reason": "paid cash"}),
        ("post", f"/check-in/{check_in_id}/check-out/", {}),
        ("get", f"/check-in/members/{member_id}/card/", {}),
        ("post", f"/check-in/members/{member_id}/card/issue/", {}),
        ("post", f"/check-in/cards/{card_id}/revoke/", {}),
    ]


def test_anonymous_members_and_strangers_are_kept_out(gym_a: Gym, client_a: Client) -> None:
    with tenant_context(gym_a):
        member = frozen_member("Zanele", "Mokoena")
        other = member_on_plan("Lindiwe", "Sithole")
        check_in = checkin_create(member=other).check_in
        card = member_card_issue(member=other)
        member_user = UserFactory()
        MemberFactory(user=member_user, first_name="Mia", last_name="Member")
    stranger = UserFactory()  # a global user with no role at gym A
    urls = _desk_urls(member.pk, check_in.pk, card.pk)

    for method, url, data in urls:
        response = getattr(client_a, method)(url, data)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url

    for user in (member_user, stranger):
        client = Client(HTTP_HOST=host_of(gym_a))
        client.force_login(user)
        for method, url, data in urls:
            assert getattr(client, method)(url, data).status_code == 403, (user, url)

    with tenant_context(gym_a):
        assert list(CheckIn.objects.values_list("pk", "checked_out_at")) == [(check_in.pk, None)]
        assert list(MemberCard.objects.values_list("pk", "revoked_at")) == [(card.pk, None)]


def test_receptionist_gets_every_desk_page_but_not_the_override(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = frozen_member("Zanele", "Mokoena")
    client = login(Role.RECEPTIONIST)

    assert client.get("/check-in/").status_code == 200
    assert client.get("/check-in/occupancy/", **HX).status_code == 200
    red = client.post("/check-in/scan/", {"q": "Zanele Mokoena"}, **HX)
    assert red.status_code == 200 and "Membership frozen" in panel(red)
    assert "Override" not in panel(red)  # receptionists are not offered it ...
    refused = client.post(f"/check-in/members/{member.pk}/override/", {"reason": "paid cash"}, **HX)
    assert refused.status_code == 403  # ... nor allowed it
    with tenant_context(gym_a):
        assert not CheckIn.objects.exists()


def test_nav_links_to_the_desk_and_the_member_page_to_the_card(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
    client = login()
    html = client.get("/check-in/").content.decode()
    assert '<a href="/check-in/" aria-current="page">Check-in</a>' in html
    assert 'Check-in <span class="badge">soon</span>' not in html
    detail = client.get(f"/members/{member.pk}/").content.decode()
    assert f'href="/check-in/members/{member.pk}/card/"' in detail
    assert '<a href="/check-in/" >Check-in</a>' in detail


# --- the desk page ---------------------------------------------------------------------------------


def test_desk_page_has_the_focused_scan_box_live_regions_and_socket_hooks(gym_a: Gym, login) -> None:
    html = login().get("/check-in/").content.decode()
    box = re.search(r'<input id="desk-q"[^>]*>', html, re.S)
    assert box and "autofocus" in box.group(0)
    assert 'hx-trigger="input changed delay:250ms"' in box.group(0)
    assert 'hx-post="/check-in/scan/"' in html and 'action="/check-in/scan/"' in html  # works without JS
    assert 'id="desk-result" class="desk-result" aria-live="assertive"' in html
    assert 'data-ws-path="/ws/check-ins/"' in html and 'data-live-url="/check-in/occupancy/"' in html
    assert "checkins/desk.js" in html and "vendor/html5-qrcode.min.js" in html
    assert '0</span> <span class="occ-label">in the gym now' in html
    assert "of <span data-capacity>60</span>" in html


def test_scanning_a_rotating_member_qr_checks_in_green(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
        token = member_rotating_qr_token(member=member)
    client = login()

    response = client.post("/check-in/scan/", {"q": token}, **HX)

    assert response.status_code == 200
    html = panel(response)
    assert "<html" not in response.content.decode()
    assert "tone-green" in html and "Checked in" in html and "Zanele Mokoena" in html
    assert "Monthly unlimited" in html and 'data-clear-after="6000"' in html
    assert ">ZM</span>" in html  # no photo: initials
    assert response["HX-Trigger"] == '{"desk:changed": {}}'
    with tenant_context(gym_a):
        check_in = CheckIn.objects.get()
        assert (check_in.member_id, check_in.method, check_in.checked_out_at) == (member.pk, "member_qr", None)
        assert check_in.checked_in_by is not None


def test_green_panel_names_the_class_marked_attended_and_the_warnings(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
        start = (timezone.now() + datetime.timedelta(minutes=30)).replace(second=0, microsecond=0)
        session = session_at(start, minutes=45)
        session.gym_class.name = "Lunch Spin"
        session.gym_class.save(update_fields=["name"])
        booking = booking_create(member=member, session=session)
        # since booking: the payment failed today (inside the grace days), and the
        # membership ends in three days
        Membership.objects.filter(member=member).update(
            status=Membership.Status.PAST_DUE,
            past_due_since=today(),
            end_date=today() + datetime.timedelta(days=3),
        )
        token = member_rotating_qr_token(member=member)

    response = login().post("/check-in/scan/", {"q": token}, **HX)

    html = panel(response)
    assert "tone-green" in html
    assert f"Class: <strong>Lunch Spin</strong> at {timezone.localtime(start):%H:%M}, marked attended." in html
    assert "Payment overdue: entry is refused after" in html
    ends = today() + datetime.timedelta(days=3)
    assert f"Membership ends on {ends:%a %d %b}." in html and f"until {ends:%a} {ends.day} {ends:%b %Y}" in html
    with tenant_context(gym_a):
        booking.refresh_from_db()
        assert booking.status == Booking.Status.ATTENDED
        assert CheckIn.objects.get().booking_id == booking.pk


def test_a_member_photo_is_shown(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
        Member.objects.filter(pk=member.pk).update(photo=f"{gym_a.schema_name}/members/photos/zanele.jpg")
    html = panel(login().post("/check-in/scan/", {"q": "Zanele Mokoena"}, **HX))
    assert f'<img src="/media/{gym_a.schema_name}/members/photos/zanele.jpg" alt="">' in html


def test_scan_without_javascript_renders_the_whole_desk_with_the_panel(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
        token = member_rotating_qr_token(member=member)
    response = login().post("/check-in/scan/", {"q": token})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert "tone-green" in panel(response)
    # the feed beside it already shows the visit, and the counter counts it
    assert re.search(r'class="feed-name"[^>]*>Zanele Mokoena<', html)
    assert '<span class="occ-count" data-count>1</span>' in html


def test_a_forged_token_is_red_unknown_code_and_writes_nothing(gym_a: Gym, login) -> None:
    forged = signing.dumps({"g": gym_a.schema_name, "m": 1, "t": int(timezone.now().timestamp())}, salt="forged")
    response = login().post("/check-in/scan/", {"q": forged}, **HX)
    html = panel(response)
    assert response.status_code == 200
    assert "tone-red" in html and "Unknown code" in html and "<code>unknown_code</code>" in html
    assert 'data-clear-after="10000"' in html
    assert "Override" not in html  # names nobody: nothing to override, even for a manager
    with tenant_context(gym_a):
        assert not CheckIn.objects.exists()


def test_an_expired_rotating_token_is_refused(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
        token = signing.dumps(
            {"g": gym_a.schema_name, "m": member.pk, "t": int(timezone.now().timestamp()) - 120},
            salt=MEMBER_QR_SALT,
            compress=False,
        )
    html = panel(login().post("/check-in/scan/", {"q": token}, **HX))
    assert "tone-red" in html and "expired" in html


def test_typing_a_name_that_matches_one_member_checks_them_in(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
        member_on_plan("Thabo", "Nkosi")
    response = login().post("/check-in/scan/", {"q": "zanele mok"}, **HX)
    html = panel(response)
    assert "tone-green" in html and "Zanele Mokoena" in html
    with tenant_context(gym_a):
        assert list(CheckIn.objects.values_list("member_id", "method")) == [(member.pk, "search")]


def test_a_name_with_several_matches_lists_them_and_checks_in_nobody(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        first = member_on_plan("Sipho", "Dlamini")
        second = member_on_plan("Nandi", "Dlamini")
        member_on_plan("Thabo", "Nkosi")
    client = login()

    response = client.post("/check-in/scan/", {"q": "dlamini"}, **HX)

    html = panel(response)
    assert "tone-neutral" in html and "2 members match" in html
    assert 'aria-label="Check in Sipho Dlamini"' in html and 'aria-label="Check in Nandi Dlamini"' in html
    assert "Thabo" not in html
    assert f'hx-post="/check-in/members/{first.pk}/"' in html
    with tenant_context(gym_a):
        assert not CheckIn.objects.exists()

    # then one click on a match checks that member in
    picked = client.post(f"/check-in/members/{second.pk}/", **HX)
    assert "tone-green" in panel(picked) and "Nandi Dlamini" in panel(picked)
    with tenant_context(gym_a):
        assert list(CheckIn.objects.values_list("member_id", "method")) == [(second.pk, "search")]


def test_a_name_matching_nobody_and_an_empty_box(gym_a: Gym, login) -> None:
    client = login()
    nobody = client.post("/check-in/scan/", {"q": "Nobody Here"}, **HX)
    assert nobody.status_code == 200 and "No member found" in panel(nobody)
    assert "No member matches “Nobody Here”" in panel(nobody)
    empty = client.post("/check-in/scan/", {"q": "  "}, **HX)
    assert empty.status_code == 400
    assert "Scan a QR code or type a member&#x27;s name or phone." in panel(empty)
    too_long = client.post("/check-in/scan/", {"q": "x" * 600}, **HX)
    assert too_long.status_code == 400
    with tenant_context(gym_a):
        assert not CheckIn.objects.exists()


def test_live_search_as_the_receptionist_types(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member_on_plan("Zanele", "Mokoena", phone="+447700900123")
        frozen_member("Zandile", "Khumalo")
        member_on_plan("Thabo", "Nkosi")
        erased = MemberFactory(first_name="Zack", last_name="Erased", status=Member.Status.ERASED)
    client = login()

    partial = client.get("/check-in/?q=zan", **HX)
    html = partial.content.decode()
    assert "<html" not in html
    assert 'aria-label="Check in Zanele Mokoena"' in html and 'aria-label="Check in Zandile Khumalo"' in html
    assert "Frozen" in html  # the plan line says the membership is frozen before the click
    assert "Thabo" not in html and erased.full_name not in html
    by_phone = client.get("/check-in/?q=0900123", **HX).content.decode()
    assert "Zanele Mokoena" in by_phone and "Zandile" not in by_phone
    # a token typed by a scanner is never searched; nor is a single letter
    token_like = "x" * 41
    assert "desk-picks" not in client.get(f"/check-in/?q={token_like}", **HX).content.decode()
    assert "desk-picks" not in client.get("/check-in/?q=z", **HX).content.decode()
    # without JavaScript the same URL is the whole desk with the results
    full = client.get("/check-in/?q=zan").content.decode()
    assert "<html" in full and 'aria-label="Check in Zanele Mokoena"' in full


def test_already_checked_in_is_red_with_the_time_and_a_check_out_button(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
        first = checkin_create(member=member).check_in
        at = timezone.localtime(first.checked_in_at).strftime("%H:%M")
    client = login()

    response = client.post("/check-in/scan/", {"q": "Zanele Mokoena"}, **HX)

    html = panel(response)
    assert "tone-red" in html and f"Already checked in at {at}." in html
    assert f'hx-post="/check-in/{first.pk}/check-out/"' in html and "Check out Zanele" in html
    with tenant_context(gym_a):
        assert CheckIn.objects.count() == 1

    out = client.post(f"/check-in/{first.pk}/check-out/", **HX)
    assert out.status_code == 200 and "Checked out" in panel(out)
    assert out["HX-Trigger"] == '{"desk:changed": {}}'
    with tenant_context(gym_a):
        first.refresh_from_db()
        assert first.checked_out_at is not None and first.check_out_kind == CheckIn.CheckOutKind.MANUAL
        assert first.checked_out_by is not None

    again = client.post(f"/check-in/{first.pk}/check-out/", **HX)
    assert again.status_code == 400 and "Already checked out" in panel(again)


def test_check_out_needs_post(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        check_in = checkin_create(member=member_on_plan("Zanele", "Mokoena")).check_in
    assert login().get(f"/check-in/{check_in.pk}/check-out/").status_code == 405
    with tenant_context(gym_a):
        check_in.refresh_from_db()
        assert check_in.checked_out_at is None


# --- override -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.MANAGER, Role.OWNER])
def test_a_manager_overrides_a_refusal_with_a_reason(gym_a: Gym, login, role: Role) -> None:
    with tenant_context(gym_a):
        member = frozen_member("Zanele", "Mokoena")
    client = login(role)

    red = client.post("/check-in/scan/", {"q": "Zanele Mokoena"}, **HX)
    html = panel(red)
    assert "Membership frozen" in html and "The membership is frozen" in html
    assert f'hx-post="/check-in/members/{member.pk}/override/"' in html
    assert 'name="code" value="membership_frozen"' in html

    # an empty reason: the panel comes back with the field error, nothing is written
    empty = client.post(f"/check-in/members/{member.pk}/override/", {"reason": " ", "code": "membership_frozen"}, **HX)
    assert empty.status_code == 400
    html = panel(empty)
    assert "Give a reason for letting this member in." in html and "data-autofocus" in html
    assert "Membership frozen" in html and '<details class="override" open>' in html
    with tenant_context(gym_a):
        assert not CheckIn.objects.exists()

    done = client.post(
        f"/check-in/members/{member.pk}/override/", {"reason": "Paid cash at the desk", "code": "x"}, **HX
    )
    assert done.status_code == 200
    assert "tone-green" in panel(done) and "Checked in by override" in panel(done)
    with tenant_context(gym_a):
        check_in = CheckIn.objects.get()
        assert (check_in.method, check_in.override_reason, check_in.overridden_code) == (
            "override",
            "Paid cash at the desk",
            "membership_frozen",
        )


def test_override_without_javascript_re_renders_the_desk_with_the_error(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = frozen_member("Zanele", "Mokoena")
    response = login(Role.MANAGER).post(f"/check-in/members/{member.pk}/override/", {"reason": ""})
    assert response.status_code == 400 and "<html" in response.content.decode()
    assert "Give a reason for letting this member in." in panel(response)
    with tenant_context(gym_a):
        assert not CheckIn.objects.exists()


# --- the occupancy partial ------------------------------------------------------------------------


def test_occupancy_partial_has_the_counter_and_the_feed(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        gym_a.occupancy_capacity = 3
        gym_a.save(update_fields=["occupancy_capacity"])
        people = [member_on_plan(first, "Walker") for first in ("Amy", "Ben", "Cara", "Dan")]
        visits = [checkin_create(member=m).check_in for m in people]
        CheckIn.objects.filter(pk=visits[0].pk).update(checked_out_at=timezone.now())
    client = login()

    response = client.get("/check-in/occupancy/", **HX)

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert '<span class="occ-count" data-count>3</span>' in html and "of <span data-capacity>3</span>" in html
    assert "occupancy level-full" in html and ">Full</span>" in html and 'style="width: 100%"' in html
    assert re.search(r'data-as-of="\d{4}-\d\d-\d\dT', html)
    for m in people:
        assert m.full_name in html
    assert html.count('aria-label="Check out ') == 3  # the one who left has no button
    assert "Left " in html
    assert response["Cache-Control"].startswith("max-age=0")
    # without htmx it is the whole desk
    assert "<html" in client.get("/check-in/occupancy/").content.decode()


# --- printed QR cards -------------------------------------------------------------------------------


def test_issue_print_scan_reissue_and_revoke_a_card(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
    client = login()

    empty = client.get(f"/check-in/members/{member.pk}/card/").content.decode()
    assert "has no printed card" in empty and "Issue a card" in empty

    issued = client.post(f"/check-in/members/{member.pk}/card/issue/")
    assert issued.status_code == 302 and issued["Location"] == f"/check-in/members/{member.pk}/card/"
    with tenant_context(gym_a):
        card = MemberCard.objects.get(member=member, revoked_at__isnull=True)
        token = member_card_qr_token(card=card)
    page = client.get(f"/check-in/members/{member.pk}/card/").content.decode()
    assert "Gym A" in page and "Zanele Mokoena" in page and f"Member card no. {card.pk}" in page
    assert 'class="mc-qr" src="data:image/svg+xml;base64,' in page and "Print card" in page
    assert token not in page  # only the picture of the token

    green = client.post("/check-in/scan/", {"q": token}, **HX)
    assert "tone-green" in panel(green)
    with tenant_context(gym_a):
        assert CheckIn.objects.get().method == "card_qr"
        CheckIn.objects.all().delete()

    # a new card revokes the old one
    client.post(f"/check-in/members/{member.pk}/card/issue/")
    with tenant_context(gym_a):
        card.refresh_from_db()
        new_card = MemberCard.objects.get(member=member, revoked_at__isnull=True)
    assert card.revoked_at is not None and new_card.pk != card.pk
    old = client.post("/check-in/scan/", {"q": token}, **HX)
    assert "unknown_code" in panel(old) and "revoked" in panel(old)
    assert f"No. {card.pk}" in client.get(f"/check-in/members/{member.pk}/card/").content.decode()

    revoked = client.post(f"/check-in/cards/{new_card.pk}/revoke/")
    assert revoked.status_code == 302
    with tenant_context(gym_a):
        new_card.refresh_from_db()
        assert new_card.revoked_at is not None and new_card.revoked_by is not None
        assert not CheckIn.objects.exists()
    assert client.get(f"/check-in/cards/{new_card.pk}/revoke/").status_code == 405


def test_an_erased_member_gets_no_card(gym_a: Gym, login) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(status=Member.Status.ERASED)
    client = login()
    assert "no card can be issued" in client.get(f"/check-in/members/{member.pk}/card/").content.decode()
    assert client.post(f"/check-in/members/{member.pk}/card/issue/").status_code == 404
    with tenant_context(gym_a):
        assert not MemberCard.objects.exists()


# --- tenant isolation -------------------------------------------------------------------------------


def test_gym_b_staff_cannot_use_gym_a_desk(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
        token = member_rotating_qr_token(member=member)
        check_in = checkin_create(member=member_on_plan("Thabo", "Nkosi")).check_in
        card = member_card_issue(member=member)
    b_owner = make_staff(gym_b, Role.OWNER)
    on_a = Client(HTTP_HOST=host_of(gym_a))
    on_a.force_login(b_owner)

    for method, url, data in [*_desk_urls(member.pk, check_in.pk, card.pk), ("post", "/check-in/scan/", {"q": token})]:
        assert getattr(on_a, method)(url, data).status_code == 403, url

    with tenant_context(gym_a):
        assert list(CheckIn.objects.values_list("pk", "checked_out_at")) == [(check_in.pk, None)]
        assert list(MemberCard.objects.values_list("pk", "revoked_at")) == [(card.pk, None)]


def test_gym_a_ids_and_codes_on_gym_b_host_are_not_found(gym_a: Gym, gym_b: Gym, login) -> None:
    with tenant_context(gym_a):
        member = member_on_plan("Zanele", "Mokoena")
        token = member_rotating_qr_token(member=member)
        check_in = checkin_create(member=member_on_plan("Thabo", "Nkosi")).check_in
        card = member_card_issue(member=member)
        card_token = member_card_qr_token(card=card)
    with tenant_context(gym_b):
        # gym B has rows of its own, so an id that leaked through would find something
        while MemberFactory().pk <= max(member.pk, check_in.member_id):
            pass
        b_member = member_on_plan("Busi", "Bee")
    on_b = login(Role.OWNER, gym=gym_b)

    for url in (
        f"/check-in/members/{member.pk + 10_000}/",
        f"/check-in/members/{member.pk + 10_000}/override/",
        f"/check-in/{check_in.pk}/check-out/",
        f"/check-in/members/{member.pk + 10_000}/card/issue/",
        f"/check-in/cards/{card.pk}/revoke/",
    ):
        assert on_b.post(url, {"reason": "x"}, **HX).status_code == 404, url
    assert on_b.get(f"/check-in/members/{member.pk + 10_000}/card/").status_code == 404

    # gym A's codes name nobody at gym B
    for code in (token, card_token):
        html = panel(on_b.post("/check-in/scan/", {"q": code}, **HX))
        assert "unknown_code" in html and "another gym" in html and "Zanele" not in html
    # and gym A's members are not found by name at gym B
    assert "No member found" in panel(on_b.post("/check-in/scan/", {"q": "Zanele Mokoena"}, **HX))
    feed = on_b.get("/check-in/occupancy/", **HX).content.decode()
    assert "Thabo" not in feed and '<span class="occ-count" data-count>0</span>' in feed

    with tenant_context(gym_a):
        assert list(CheckIn.objects.values_list("pk", "checked_out_at")) == [(check_in.pk, None)]
        assert list(MemberCard.objects.values_list("pk", "revoked_at")) == [(card.pk, None)]
    with tenant_context(gym_b):
        assert not CheckIn.objects.exists() and not MemberCard.objects.exists()
        assert b_member.pk


# --- query counts ---------------------------------------------------------------------------------


@pytest.fixture
def busy_gym(gym_a: Gym) -> Gym:
    """A realistic morning: 60 members on plans, 40 visits (every third one has left),
    a quarter of the members with photos."""
    with tenant_context(gym_a):
        members = [member_on_plan(f"Member{i:02d}", f"Surname{i:02d}") for i in range(60)]
        Member.objects.filter(pk__in=[m.pk for m in members[::4]]).update(photo="gym_gym_a/members/photos/x.jpg")
        for member in members[:40]:
            checkin_create(member=member)
        CheckIn.objects.filter(member__in=members[:40:3]).update(checked_out_at=timezone.now())
    return gym_a


def feed_rows(html: str) -> int:
    return len(re.findall(r'<li class="feed-row[^"]*" data-check-in="\d+">', html))


def test_desk_page_query_count(busy_gym: Gym, login, django_assert_max_num_queries) -> None:
    client = login()
    # domain, session, user, role, occupancy count, feed (each after a SET search_path)
    with django_assert_max_num_queries(12):
        response = client.get("/check-in/")
    html = response.content.decode()
    with tenant_context(busy_gym):
        inside = CheckIn.objects.filter(checked_out_at__isnull=True).count()
    assert feed_rows(html) == 12 and f'<span class="occ-count" data-count>{inside}</span>' in html


def test_occupancy_partial_query_count(busy_gym: Gym, login, django_assert_max_num_queries) -> None:
    client = login()
    with django_assert_max_num_queries(12):
        response = client.get("/check-in/occupancy/", **HX)
    html = response.content.decode()
    assert feed_rows(html) == 12 and "<img src=" in html and "Left " in html


def test_search_partial_query_count(busy_gym: Gym, login, django_assert_max_num_queries) -> None:
    client = login()
    # domain, session, user, role, members, their current memberships and plans
    with django_assert_max_num_queries(12):
        response = client.get("/check-in/?q=member", **HX)
    assert response.content.decode().count('class="btn small desk-pick"') == 8
