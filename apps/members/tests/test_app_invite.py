"""Inviting a member to the gym's app: the login is linked (created without a password,
or an existing FitFlow login), the invitation email carries a working set-password
link on the gym's host, the member then logs in through the API; roles, errors and
another gym's members."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.conftest import host_of
from apps.members.errors import MemberError
from apps.members.models import Member
from apps.members.services import member_app_invite, member_update
from apps.members.tests.factories import MemberFactory
from apps.notifications.models import Channel, MessagingSettings, Notification
from apps.notifications.rendering import notification_render
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def _rendered_invite(gym: Gym, member: Member) -> tuple[str, str]:
    """(subject, text) of the member's latest app_invite notification, as emailed."""
    notification = Notification.objects.filter(member=member, kind="app_invite").latest("pk")
    rendered = notification_render(
        notification, member=member, gym=gym, config=MessagingSettings(), channel=Channel.EMAIL
    )
    return rendered.subject, rendered.text


def test_a_new_login_gets_a_set_password_link_that_works_and_then_the_api_logs_in(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(first_name="Lerato", last_name="Dlamini", email="Lerato@Example.com")
        member_app_invite(member=member)
        member.refresh_from_db()
        user = User.objects.get(pk=member.user_id)
        assert user.email == "lerato@example.com" and not user.has_usable_password()
        assert (user.first_name, user.last_name) == ("Lerato", "Dlamini")
        subject, text = _rendered_invite(gym_a, member)
    assert gym_a.name in subject
    link = re.search(r"(http://\S+/accounts/password/reset/key/\S+)", text)
    assert link, text
    assert link.group(1).startswith(f"http://{host_of(gym_a)}")

    browser = Client(HTTP_HOST=host_of(gym_a))
    path = link.group(1).split(host_of(gym_a), 1)[1]
    set_page = browser.get(path, follow=True)
    assert set_page.status_code == 200 and b"password1" in set_page.content
    done = browser.post(
        set_page.redirect_chain[-1][0] if set_page.redirect_chain else path,
        {"password1": "a-long-unusual-passphrase", "password2": "a-long-unusual-passphrase"},
    )
    assert done.status_code == 302

    api = Client(HTTP_HOST=host_of(gym_a))
    response = api.post(
        "/api/v1/auth/login/",
        {"email": "lerato@example.com", "password": "a-long-unusual-passphrase"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    me = api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}").json()
    assert (me["role"], me["member"]["id"]) == ("member", member.pk)


def test_an_existing_login_is_linked_and_told_to_log_in(gym_a: Gym) -> None:
    user = UserFactory(email="sipho@example.com")
    assert user.has_usable_password()
    with tenant_context(gym_a):
        member = MemberFactory(email="sipho@example.com")
        member_app_invite(member=member)
        member.refresh_from_db()
        assert member.user_id == user.pk
        _, text = _rendered_invite(gym_a, member)
    assert "/accounts/password/reset/key/" not in text
    assert f"http://{host_of(gym_a)}/accounts/login/" in text


def test_errors_no_email_erased_and_a_login_used_by_another_member(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        with pytest.raises(MemberError) as no_email:
            member_app_invite(member=MemberFactory(email=""))
        assert no_email.value.code == "email_required"
        with pytest.raises(MemberError) as erased:
            member_app_invite(member=MemberFactory(status=Member.Status.ERASED))
        assert erased.value.code == "member_erased"
        # Invited as twin@, then their email changed: the login keeps twin@, and a new
        # member with twin@ cannot take it.
        first = member_app_invite(member=MemberFactory(email="twin@example.com"))
        member_update(member=first, email="moved@example.com")
        second = MemberFactory(email="twin@example.com")
        with pytest.raises(MemberError) as in_use:
            member_app_invite(member=second)
        assert in_use.value.code == "login_in_use"
        assert Member.objects.get(pk=second.pk).user_id is None


def test_the_page_button_invites_and_reinvites_for_receptionists_up(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(email="nomsa@example.com")
    desk = Client(HTTP_HOST=host_of(gym_a))
    desk.force_login(make_staff(gym_a, Role.RECEPTIONIST))
    page = desk.get(f"/members/{member.pk}/")
    assert b"Invite to the app" in page.content
    response = desk.post(f"/members/{member.pk}/invite/")
    assert response.status_code == 302 and response["Location"] == f"/members/{member.pk}/"
    assert b"Send the app invitation again" in desk.get(f"/members/{member.pk}/").content
    desk.post(f"/members/{member.pk}/invite/")
    with tenant_context(gym_a):
        assert Notification.objects.filter(member=member, kind="app_invite").count() == 2

    # Another gym's staff cannot invite gym A's member (their page is 404 or 403 there).
    other = Client(HTTP_HOST=host_of(gym_b))
    other.force_login(make_staff(gym_b, Role.OWNER))
    assert other.post(f"/members/{member.pk}/invite/").status_code == 404
    outsider = Client(HTTP_HOST=host_of(gym_a))
    outsider.force_login(make_staff(gym_b, Role.OWNER))
    assert outsider.post(f"/members/{member.pk}/invite/").status_code == 403
    assert desk.get(f"/members/{member.pk}/invite/").status_code == 405
